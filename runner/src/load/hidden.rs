//! Which values of a document must not be printed: those taken from the environment
//! through fields the schema does not mark public.

use serde_json::Value;

use super::SchemaChecker;
use super::tree::EnvScalar;
use crate::redact::Hidden;

/// The values of `env` (scalars of `instance` that took values from the environment) to
/// hide, each with the text to print instead: the whole scalar as written, and each
/// variable's value as `${NAME}` (for text made from it, such as a path joined onto it).
pub fn hidden(env: &[EnvScalar], instance: &Value, checker: &SchemaChecker) -> Vec<Hidden> {
    let mut out = Vec::new();
    for scalar in env {
        if checker.is_public(instance, &scalar.pointer) {
            continue;
        }
        out.push(Hidden {
            value: scalar.resolved.clone(),
            reference: scalar.written.clone(),
        });
        out.extend(scalar.from_env.iter().map(|var| Hidden {
            value: var.value.clone(),
            reference: format!("${{{}}}", var.name),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::env::FromEnv;

    fn scalar(pointer: &str, written: &str, resolved: &str, value: &str) -> EnvScalar {
        EnvScalar {
            pointer: pointer.into(),
            written: written.into(),
            resolved: resolved.into(),
            from_env: vec![FromEnv {
                name: "V".into(),
                value: value.into(),
            }],
        }
    }

    #[test]
    fn values_in_public_fields_are_shown_others_hidden() {
        let instance = serde_json::json!({
            "pipeline": "p",
            "description": "a-b",
            "storage": { "bucket": "bucket-b", "layouts": {} }
        });
        let env = [
            scalar("/description", "a-${V}", "a-b", "b"),
            scalar("/storage/bucket", "bucket-${V}", "bucket-b", "b"),
        ];
        let got = hidden(&env, &instance, &SchemaChecker::new());
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|h| (h.value.as_str(), h.reference.as_str()))
            .collect();
        assert_eq!(pairs, [("a-b", "a-${V}"), ("b", "${V}")]);
    }
}
