//! A [`Node`] tree -> a JSON value plus a [`SpanIndex`] from document paths to spans, and
//! the scalars that took values from the environment.
//!
//! Plain scalars are resolved by the YAML 1.2 core schema (`3` is a number, `"3"` is
//! text), after `${VAR}` interpolation, so `partitions: ${PARTS:-3}` is a number.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::env::{EnvProblem, FromEnv, interpolate};
use super::yaml::{Node, NodeValue};
use crate::diag::{Pos, Span};

/// Where a value (and its key, when it has one) sits in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    /// The span of the value.
    pub value: Span,
    /// The span of the mapping key naming it, if any.
    pub key: Option<Span>,
    /// The human path, e.g. `datasets.offenses.key[0]`.
    pub path: String,
}

/// JSON Pointer (`/topics/t/partitions`) -> location.
#[derive(Clone, Debug, Default)]
pub struct SpanIndex {
    entries: HashMap<String, Located>,
}

impl SpanIndex {
    /// The location of the value at `pointer`, or of its nearest ancestor.
    pub fn find(&self, pointer: &str) -> &Located {
        let mut p = pointer;
        loop {
            if let Some(found) = self.entries.get(p) {
                return found;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.entries.get("").unwrap_or(&ROOT),
            }
        }
    }

    /// The span to point at for `pointer`: the key when `prefer_key` and it has one.
    pub fn span(&self, pointer: &str, prefer_key: bool) -> Span {
        let located = self.find(pointer);
        match (prefer_key, located.key) {
            (true, Some(key)) => key,
            _ => located.value,
        }
    }
}

static ROOT: Located = Located {
    value: Span {
        start: Pos { line: 1, column: 1 },
        end: Pos { line: 1, column: 1 },
    },
    key: None,
    path: String::new(),
};

/// A problem met while converting (duplicate keys, bad keys, environment references).
#[derive(Clone, Debug, PartialEq)]
pub struct TreeProblem {
    /// Where.
    pub span: Span,
    /// The human path.
    pub path: String,
    /// What.
    pub problem: TreeProblemKind,
}

/// The kinds of [`TreeProblem`].
#[derive(Clone, Debug, PartialEq)]
pub enum TreeProblemKind {
    /// A key appears twice in one mapping; the first was on this line.
    DuplicateKey(String, u32),
    /// A key that is not a plain string (a sequence, a mapping).
    ComplexKey,
    /// An environment reference problem, and whether it must be reported now.
    Env(EnvProblem),
}

/// A scalar whose text took values from the environment.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvScalar {
    /// Its JSON Pointer, e.g. `/catalog/tables/t/description`.
    pub pointer: String,
    /// The text as written in the file, e.g. `s3://${BUCKET}/x`.
    pub written: String,
    /// The text after interpolation.
    pub resolved: String,
    /// The variables whose values it took.
    pub from_env: Vec<FromEnv>,
}

/// What [`Convert::run`] makes of a document.
#[derive(Debug)]
pub struct Converted {
    /// The document as JSON.
    pub value: Value,
    /// Where each value sits.
    pub index: SpanIndex,
    /// The problems met.
    pub problems: Vec<TreeProblem>,
    /// The scalars that took values from the environment, in document order.
    pub env: Vec<EnvScalar>,
}

/// Settings of the conversion.
pub struct Convert<'a> {
    /// Looks up environment variables.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The target whose `targets.<name>` section must resolve its variables now; other
    /// targets are checked for syntax only.
    pub target: Option<&'a str>,
}

impl Convert<'_> {
    /// Converts `root` into a JSON value, its span index, the problems met and the scalars
    /// that took values from the environment.
    pub fn run(&self, root: &Node) -> Converted {
        let mut out = Converted {
            value: Value::Null,
            index: SpanIndex::default(),
            problems: Vec::new(),
            env: Vec::new(),
        };
        out.value = self.node(root, &mut Vec::new(), None, &mut out);
        out
    }

    fn node(
        &self,
        node: &Node,
        path: &mut Vec<Segment>,
        key: Option<Span>,
        out: &mut Converted,
    ) -> Value {
        out.index.entries.insert(
            pointer(path),
            Located {
                value: node.span,
                key,
                path: human(path),
            },
        );
        match &node.value {
            NodeValue::Scalar { text, plain, tag } => {
                let interpolated = text.contains('$');
                let (text, env) = if interpolated {
                    let done = interpolate(text, self.lookup);
                    if !done.from_env.is_empty() {
                        out.env.push(EnvScalar {
                            pointer: pointer(path),
                            written: text.clone(),
                            resolved: done.text.clone(),
                            from_env: done.from_env,
                        });
                    }
                    (done.text, done.problems)
                } else {
                    (text.clone(), Vec::new())
                };
                for problem in env {
                    if self.reports(path, &problem) {
                        out.problems.push(TreeProblem {
                            span: node.span,
                            path: human(path),
                            problem: TreeProblemKind::Env(problem),
                        });
                    }
                }
                // An empty result of `${VAR:-}` is empty text, not null.
                let plain = *plain && !(interpolated && text.is_empty());
                resolve_scalar(text, plain, tag.as_deref())
            }
            NodeValue::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        path.push(Segment::Index(i));
                        let v = self.node(item, path, None, out);
                        path.pop();
                        v
                    })
                    .collect(),
            ),
            NodeValue::Map(entries) => {
                let mut map = Map::new();
                let mut first_line: HashMap<&str, u32> = HashMap::new();
                for (k, v) in entries {
                    let NodeValue::Scalar { text: name, .. } = &k.value else {
                        out.problems.push(TreeProblem {
                            span: k.span,
                            path: human(path),
                            problem: TreeProblemKind::ComplexKey,
                        });
                        continue;
                    };
                    if let Some(line) = first_line.get(name.as_str()) {
                        out.problems.push(TreeProblem {
                            span: k.span,
                            path: human(path),
                            problem: TreeProblemKind::DuplicateKey(name.clone(), *line),
                        });
                        continue;
                    }
                    first_line.insert(name, k.span.start.line);
                    path.push(Segment::Key(name.clone()));
                    let value = self.node(v, path, Some(k.span), out);
                    path.pop();
                    map.insert(name.clone(), value);
                }
                Value::Object(map)
            }
        }
    }

    /// Whether an environment problem at `path` is reported now: syntax always; unset
    /// variables everywhere except in the sections of targets other than the chosen one.
    fn reports(&self, path: &[Segment], problem: &EnvProblem) -> bool {
        if matches!(problem, EnvProblem::Syntax { .. }) {
            return true;
        }
        match path {
            [Segment::Key(section), Segment::Key(name), ..] if section == "targets" => {
                self.target == Some(name.as_str())
            }
            _ => true,
        }
    }
}

/// One step of a document path.
#[derive(Clone, Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The JSON Pointer of `path` (RFC 6901 escaping).
fn pointer(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        out.push('/');
        match segment {
            Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Segment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// The human form of `path`: `a.b[0].c`.
fn human(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Resolves a scalar by the YAML 1.2 core schema (plain scalars) or its tag.
fn resolve_scalar(text: String, plain: bool, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text),
        Some("null") => return Value::Null,
        Some("bool" | "int" | "float") => return core_value(&text).unwrap_or(Value::String(text)),
        _ => {}
    }
    if !plain {
        return Value::String(text);
    }
    core_value(&text).unwrap_or(Value::String(text))
}

/// The core-schema meaning of a plain scalar, if it is not text.
fn core_value(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .map(|i| Value::Number(i.into()))
            .or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            });
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16)
            .ok()
            .map(|i| Value::Number(i.into()));
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8)
            .ok()
            .map(|i| Value::Number(i.into()));
    }
    let is_float = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if is_float {
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::yaml::parse;

    fn convert(doc: &str) -> (Value, SpanIndex, Vec<TreeProblem>) {
        let c = converted(doc);
        (c.value, c.index, c.problems)
    }

    fn converted(doc: &str) -> Converted {
        let lookup = |name: &str| (name == "PARTS").then(|| "6".to_owned());
        let root = parse(doc).unwrap().unwrap();
        Convert {
            lookup: &lookup,
            target: None,
        }
        .run(&root)
    }

    #[test]
    fn core_schema_resolution() {
        let (v, _, _) =
            convert("a: 3\nb: '3'\nc: 1.5\nd: true\ne: ~\nf: 1e3\ng: 2023-01-01\nh: .5\n");
        assert_eq!(v["a"], Value::from(3));
        assert_eq!(v["b"], Value::from("3"));
        assert_eq!(v["c"], Value::from(1.5));
        assert_eq!(v["d"], Value::from(true));
        assert_eq!(v["e"], Value::Null);
        assert_eq!(v["f"], Value::from(1000.0));
        assert_eq!(v["g"], Value::from("2023-01-01"));
        assert_eq!(v["h"], Value::from(0.5));
    }

    #[test]
    fn interpolated_plain_scalars_are_typed() {
        let (v, _, p) = convert("n: ${PARTS:-3}\nm: \"${PARTS}\"\n");
        assert_eq!(v["n"], Value::from(6));
        assert_eq!(v["m"], Value::from("6"));
        assert!(p.is_empty());
    }

    #[test]
    fn scalars_with_values_from_the_environment_are_listed() {
        let c = converted("a: x${PARTS}y\nb: ${NOPE:-d}\nc: [\"${PARTS:-1}\"]\n");
        let listed: Vec<(&str, &str, &str)> = c
            .env
            .iter()
            .map(|e| (e.pointer.as_str(), e.written.as_str(), e.resolved.as_str()))
            .collect();
        assert_eq!(
            listed,
            [("/a", "x${PARTS}y", "x6y"), ("/c/0", "${PARTS:-1}", "6")]
        );
        assert_eq!(c.env[0].from_env[0].name, "PARTS");
    }

    #[test]
    fn unset_variables_in_other_targets_wait_until_used() {
        let (_, _, p) = convert("a: ${NOPE}\ntargets:\n  aws:\n    region: ${NOPE}\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "a");
    }

    #[test]
    fn duplicate_keys_and_index_paths() {
        let (_, index, p) = convert("a:\n  - x: 1\n  - x: 2\n    x: 3\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].problem, TreeProblemKind::DuplicateKey("x".into(), 3));
        assert_eq!(p[0].span.start, Pos { line: 4, column: 5 });
        let located = index.find("/a/1/x");
        assert_eq!(located.path, "a[1].x");
        assert_eq!(located.value.start, Pos { line: 3, column: 8 });
    }
}
