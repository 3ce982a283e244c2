//! Validates a document against the generated JSON Schema and turns every violation into a
//! [`Diagnostic`] that points at the offending key or value.
//!
//! The schema is the one `runner schema` prints, so editors and `runner validate` agree.
//! `oneOf`/`anyOf` failures (tagged `kind` sections, optional sections) are narrowed to the
//! branch the document meant, so the message is about the actual mistake.

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::Value;

use super::tree::SpanIndex;
use crate::diag::Diagnostic;
use crate::spec::types::{DURATION_PATTERN, SIZE_PATTERN};
use crate::suggest::did_you_mean;

/// The schema keyword marking a field whose values may be printed even when they come
/// from the environment (`"x-runner-public": true`).
pub const PUBLIC: &str = "x-runner-public";

/// A compiled pipeline schema.
pub struct SchemaChecker {
    root: Value,
    validator: Validator,
}

impl SchemaChecker {
    /// Compiles the pipeline schema.
    pub fn new() -> Self {
        let root = crate::spec::json_schema();
        let validator = compile(&root);
        SchemaChecker { root, validator }
    }

    /// Every schema violation of `instance`, located through `index`.
    pub fn check(&self, file: &str, instance: &Value, index: &SpanIndex) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let ctx = Ctx {
            checker: self,
            file,
            instance,
            index,
        };
        for error in self.validator.iter_errors(instance) {
            ctx.report(&error, &Scope::ROOT, &mut out);
        }
        out
    }

    /// Whether the field at `pointer` of `instance` is marked safe to show
    /// ([`PUBLIC`] in its schema), so values from the environment are printed there.
    pub fn is_public(&self, instance: &Value, pointer: &str) -> bool {
        let Some((parent, key)) = pointer.rsplit_once('/') else {
            return false;
        };
        let key = key.replace("~1", "/").replace("~0", "~");
        let Some(parent) = self.schema_at(instance, parent, true) else {
            return false;
        };
        let field = parent
            .get("properties")
            .and_then(|p| p.get(&key))
            .or_else(|| parent.get("additionalProperties"));
        field.is_some_and(|f| {
            f.get(PUBLIC) == Some(&Value::Bool(true))
                || self.resolve(f).get(PUBLIC) == Some(&Value::Bool(true))
        })
    }

    /// Follows a local `$ref`, and a lone `allOf: [{$ref}]` (how schemars attaches a
    /// description to a referenced type).
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        for _ in 0..16 {
            if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
                match r.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                    Some(target) => schema = target,
                    None => break,
                }
            } else if let Some([only]) = schema
                .get("allOf")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                schema = only;
            } else {
                break;
            }
        }
        schema
    }

    /// The schema that applies to the value at `pointer` of `instance`; with `narrow_last`,
    /// a `oneOf`/`anyOf` there is narrowed to the branch the value was meant for.
    fn schema_at<'a>(
        &'a self,
        instance: &Value,
        pointer: &str,
        narrow_last: bool,
    ) -> Option<&'a Value> {
        let mut schema = self.resolve(&self.root);
        let mut value = instance;
        for segment in pointer.split('/').skip(1) {
            schema = self.narrow(schema, value).ok()?;
            let key = segment.replace("~1", "/").replace("~0", "~");
            let next = match value {
                Value::Object(map) => {
                    value = map.get(&key).unwrap_or(&Value::Null);
                    schema
                        .get("properties")
                        .and_then(|p| p.get(&key))
                        .or_else(|| schema.get("additionalProperties"))?
                }
                Value::Array(items) => {
                    value = items.get(key.parse::<usize>().ok()?)?;
                    schema.get("items")?
                }
                _ => return None,
            };
            schema = self.resolve(next);
        }
        if narrow_last {
            self.narrow(schema, value).ok()
        } else {
            Some(schema)
        }
    }

    /// For a `oneOf`/`anyOf` schema, the branch `value` was meant for: by its `kind` when
    /// the branches are tagged, otherwise by JSON type. Other schemas are returned as is.
    fn narrow<'a>(&'a self, schema: &'a Value, value: &Value) -> Result<&'a Value, Narrowed> {
        let schema = self.resolve(schema);
        let Some(branches) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        else {
            return Ok(schema);
        };
        let branches: Vec<&Value> = branches.iter().map(|b| self.resolve(b)).collect();
        let kinds: Vec<&str> = branches.iter().filter_map(|b| tag_of(b)).collect();
        if kinds.len() == branches.len() && value.is_object() {
            let Some(kind) = value.get("kind") else {
                return Err(Narrowed::MissingKind(kinds.join(", ")));
            };
            let Some(kind) = kind.as_str() else {
                return Err(Narrowed::BadKind(kind.to_string(), kinds.join(", "), None));
            };
            return match branches.iter().position(|b| tag_of(b) == Some(kind)) {
                Some(i) => Ok(branches[i]),
                None => Err(Narrowed::BadKind(
                    format!("'{kind}'"),
                    kinds.join(", "),
                    did_you_mean(kind, kinds.iter().copied()),
                )),
            };
        }
        let constants: Vec<&Value> = branches.iter().filter_map(|b| b.get("const")).collect();
        if constants.len() == branches.len() {
            let names: Vec<String> = constants
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
                .collect();
            return Err(Narrowed::NotOneOf(names));
        }
        let fitting: Vec<&&Value> = branches
            .iter()
            .filter(|b| type_fits(b, value) != Some(false))
            .collect();
        match fitting.as_slice() {
            [one] => self.narrow(one, value),
            [] => {
                let mut names: Vec<&str> = branches.iter().flat_map(|b| type_names(b)).collect();
                names.dedup();
                Err(Narrowed::WrongType(names.join(" or ")))
            }
            _ => Ok(schema),
        }
    }
}

impl Default for SchemaChecker {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a `oneOf`/`anyOf` could not be narrowed to one branch.
enum Narrowed {
    /// Tagged branches, no `kind` key; the allowed kinds.
    MissingKind(String),
    /// Tagged branches, an unknown kind; the kind, the allowed kinds, a suggestion.
    BadKind(String, String, Option<String>),
    /// No branch takes this JSON type; the types that would do.
    WrongType(String),
    /// The branches are the constants of an enum; their values.
    NotOneOf(Vec<String>),
}

fn compile(schema: &Value) -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .build(schema)
        .unwrap_or_else(|e| panic!("the generated pipeline schema does not compile: {e}"))
}

/// The `kind` constant of a tagged branch.
fn tag_of(branch: &Value) -> Option<&str> {
    let kind = branch.get("properties")?.get("kind")?;
    kind.get("const")
        .or_else(|| kind.get("enum").and_then(|e| e.get(0)))
        .and_then(Value::as_str)
}

/// The JSON type names a branch declares.
fn type_names(branch: &Value) -> Vec<&str> {
    match branch.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `value` has one of the branch's declared types (`None`: the branch declares none).
fn type_fits(branch: &Value, value: &Value) -> Option<bool> {
    let names = type_names(branch);
    if names.is_empty() {
        return None;
    }
    Some(names.iter().any(|t| json_type_matches(t, value)))
}

fn json_type_matches(name: &str, value: &Value) -> bool {
    match (name, value) {
        ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) => true,
        ("object", Value::Object(_)) | ("array", Value::Array(_)) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// A description of a value for messages: its type, and the value when short.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("text '{s}'"),
        Value::String(_) => "text".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn article(type_name: &str) -> &'static str {
    match type_name {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "nothing",
        _ => "a value",
    }
}

/// How deep `oneOf`/`anyOf` narrowing may nest before the raw message is used.
const MAX_BRANCH_DEPTH: usize = 8;

/// Where an error was found: the document pointer of the validated value and, inside a
/// narrowed branch, that branch's schema.
struct Scope<'a> {
    base: &'a str,
    branch: Option<&'a Value>,
    depth: usize,
}

impl Scope<'_> {
    const ROOT: Scope<'static> = Scope {
        base: "",
        branch: None,
        depth: 0,
    };
}

/// What the checker needs while reporting one document.
struct Ctx<'a> {
    checker: &'a SchemaChecker,
    file: &'a str,
    instance: &'a Value,
    index: &'a SpanIndex,
}

impl Ctx<'_> {
    fn diag(&self, pointer: &str, on_key: bool, message: String) -> Diagnostic {
        let span = self.index.span(pointer, on_key);
        let path = &self.index.find(pointer).path;
        Diagnostic::error(self.file, span, path, message)
    }

    /// Reports `error`, found while validating the value at `scope.base`.
    fn report(&self, error: &ValidationError<'_>, scope: &Scope<'_>, out: &mut Vec<Diagnostic>) {
        let relative = error.instance_path().to_string();
        let pointer = format!("{}{relative}", scope.base);
        let value = error.instance();
        let d = match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed: Vec<String> = self
                    .checker
                    .schema_at(self.instance, &pointer, true)
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                for key in unexpected {
                    let key_pointer =
                        format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    let mut d = self.diag(&key_pointer, true, format!("unknown key '{key}'"));
                    d.path = self.index.find(&pointer).path.clone();
                    d.hint = did_you_mean(key, allowed.iter().map(String::as_str)).or_else(|| {
                        (!allowed.is_empty())
                            .then(|| format!("allowed keys here: {}", allowed.join(", ")))
                    });
                    out.push(d);
                }
                return;
            }
            ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
                // Inside a branch, the failing schema at the branch's own root is the branch.
                let schema = match scope.branch {
                    Some(branch) if relative.is_empty() => Some(branch),
                    _ => self.checker.schema_at(self.instance, &pointer, false),
                };
                let Some(schema) = schema else {
                    out.push(self.diag(&pointer, false, error.to_string()));
                    return;
                };
                match self.checker.narrow(schema, value) {
                    Ok(branch)
                        if !std::ptr::eq(branch, schema) && scope.depth < MAX_BRANCH_DEPTH =>
                    {
                        let inner = Scope {
                            base: &pointer,
                            branch: Some(branch),
                            depth: scope.depth + 1,
                        };
                        self.report_branch(value, &inner, out);
                        return;
                    }
                    Ok(_) => self.diag(&pointer, false, error.to_string()),
                    Err(Narrowed::MissingKind(kinds)) => self
                        .diag(&pointer, true, "missing required key 'kind'".into())
                        .with_hint(format!("add `kind:` with one of: {kinds}")),
                    Err(Narrowed::BadKind(kind, kinds, suggestion)) => {
                        let d = self.diag(
                            &format!("{pointer}/kind"),
                            false,
                            format!("unknown kind {kind}; expected one of: {kinds}"),
                        );
                        match suggestion {
                            Some(s) => d.with_hint(s),
                            None => d,
                        }
                    }
                    Err(Narrowed::NotOneOf(names)) => self.not_one_of(&pointer, value, &names),
                    Err(Narrowed::WrongType(types)) => {
                        let expected: Vec<&str> = types.split(" or ").map(article).collect();
                        self.diag(
                            &pointer,
                            false,
                            format!(
                                "expected {}, found {}",
                                expected.join(" or "),
                                describe(value)
                            ),
                        )
                    }
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let d = self.diag(&pointer, true, format!("missing required key '{name}'"));
                match self
                    .checker
                    .schema_at(self.instance, &format!("{pointer}/{name}"), true)
                {
                    Some(s) => match s.get("description").and_then(Value::as_str) {
                        Some(desc) => d.with_hint(format!("'{name}': {}", first_sentence(desc))),
                        None => d,
                    },
                    None => d,
                }
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    jsonschema::error::TypeKind::Single(t) => article(&t.to_string()).to_owned(),
                    jsonschema::error::TypeKind::Multiple(ts) => ts
                        .iter()
                        .filter(|t| t.to_string() != "null")
                        .map(|t| article(&t.to_string()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                self.diag(
                    &pointer,
                    false,
                    format!("expected {expected}, found {}", describe(value)),
                )
            }
            ValidationErrorKind::Enum { options } => {
                let names: Vec<String> = options
                    .as_array()
                    .map(|o| {
                        o.iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                self.not_one_of(&pointer, value, &names)
            }
            ValidationErrorKind::Pattern { pattern } => {
                let message = if pattern == DURATION_PATTERN {
                    format!("{} is not a duration", describe(value))
                } else if pattern == SIZE_PATTERN {
                    format!("{} is not a size", describe(value))
                } else {
                    format!("{} does not match the pattern {pattern}", describe(value))
                };
                let d = self.diag(&pointer, false, message);
                if pattern == DURATION_PATTERN {
                    d.with_hint("write a number and a unit (ms, s, m, h, d), e.g. 60s, 5m, 1h")
                } else if pattern == SIZE_PATTERN {
                    d.with_hint("write bytes or a number and a unit, e.g. 64MiB, 1GB")
                } else {
                    d
                }
            }
            ValidationErrorKind::Minimum { limit }
            | ValidationErrorKind::ExclusiveMinimum { limit } => self.diag(
                &pointer,
                false,
                format!("must be at least {limit}, found {}", describe(value)),
            ),
            ValidationErrorKind::Maximum { limit }
            | ValidationErrorKind::ExclusiveMaximum { limit } => self.diag(
                &pointer,
                false,
                format!("must be at most {limit}, found {}", describe(value)),
            ),
            ValidationErrorKind::MinItems { limit }
            | ValidationErrorKind::MinProperties { limit } => {
                let what = if value.is_object() {
                    "entries"
                } else {
                    "items"
                };
                let message = match limit {
                    1 => "must not be empty".to_owned(),
                    n => format!("needs at least {n} {what}"),
                };
                self.diag(&pointer, false, message)
            }
            ValidationErrorKind::MaxItems { limit } => {
                self.diag(&pointer, false, format!("takes at most {limit} items"))
            }
            ValidationErrorKind::MinLength { limit } => self.diag(
                &pointer,
                false,
                format!(
                    "must be at least {limit} character(s) long, found {}",
                    describe(value)
                ),
            ),
            ValidationErrorKind::MaxLength { limit } => self.diag(
                &pointer,
                false,
                format!(
                    "must be at most {limit} character(s) long, found {}",
                    describe(value)
                ),
            ),
            _ => self.diag(&pointer, false, error.to_string()),
        };
        out.push(d);
    }

    /// "`value` is not one of `names`", with a suggestion.
    fn not_one_of(&self, pointer: &str, value: &Value, names: &[String]) -> Diagnostic {
        let d = self.diag(
            pointer,
            false,
            format!("{} is not one of: {}", describe(value), names.join(", ")),
        );
        match value
            .as_str()
            .and_then(|v| did_you_mean(v, names.iter().map(String::as_str)))
        {
            Some(h) => d.with_hint(h),
            None => d,
        }
    }

    /// Validates `value` against `scope.branch` and reports its errors.
    fn report_branch(&self, value: &Value, scope: &Scope<'_>, out: &mut Vec<Diagnostic>) {
        let mut schema = scope.branch.cloned().unwrap_or(Value::Bool(true));
        if let (Some(obj), Some(defs)) =
            (schema.as_object_mut(), self.checker.root.get("definitions"))
        {
            obj.insert("definitions".into(), defs.clone());
        }
        let validator = compile(&schema);
        let before = out.len();
        for error in validator.iter_errors(value) {
            self.report(&error, scope, out);
        }
        if out.len() == before {
            out.push(self.diag(
                scope.base,
                false,
                format!("invalid value: {}", describe(value)),
            ));
        }
    }
}

/// The first sentence of a description, on one line.
fn first_sentence(text: &str) -> String {
    let text = text.replace('\n', " ");
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    text[..end].trim_end_matches('.').trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_generated_schema_compiles_and_is_draft_07() {
        let checker = SchemaChecker::new();
        assert_eq!(
            checker.root["$schema"],
            json!("http://json-schema.org/draft-07/schema#")
        );
        assert!(checker.validator.is_valid(&json!({"pipeline": "p"})));
        assert!(
            !checker
                .validator
                .is_valid(&json!({"pipeline": "p", "bogus": 1}))
        );
    }

    #[test]
    fn public_fields_are_the_marked_ones() {
        let checker = SchemaChecker::new();
        let doc = json!({
            "pipeline": "p",
            "description": "d",
            "storage": { "bucket": "b", "layouts": {} },
            "targets": { "aws": { "region": "r", "kafka": { "bootstrap": "k:9092" } } },
            "sources": { "s": { "kind": "csv", "path": "x.csv" } }
        });
        for public in [
            "/pipeline",
            "/storage/bucket",
            "/targets/aws/region",
            "/targets/aws/kafka/bootstrap",
        ] {
            assert!(checker.is_public(&doc, public), "{public}");
        }
        for private in [
            "/description",
            "/sources/s/path",
            "/targets/aws",
            "",
            "/nope",
        ] {
            assert!(!checker.is_public(&doc, private), "{private}");
        }
    }
}
