//! Trino's `json_extract_scalar` and `json_extract` over JSON text, with its JSONPath
//! subset: `$`, `.key`, `["key"]`, `[key]` and `[index]` (0-based; a number after a dot
//! indexes arrays too).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use serde_json::Value;

use super::{FunctionSpec, Memo, function, invalid, is_text, strings};

/// The functions of this module.
pub(super) const FUNCTIONS: &[FunctionSpec] = &[
    function("json_extract_scalar", &[], text_pair, json_extract_scalar),
    function("json_extract", &[], text_pair, json_extract),
];

fn text_pair(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [json, path] if is_text(json) && is_text(path) => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// The steps of `path` (member names, or array indexes as text); a path that is not of Trino's subset is an error naming it.
fn parse_path(path: &str) -> Result<Vec<String>> {
    let bad = || invalid(format!("Invalid JSON path: '{path}'"));
    let rest = path.trim().strip_prefix('$').ok_or_else(bad)?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(k) = chars.next_if(|k| *k != '.' && *k != '[') {
                    key.push(k);
                }
                if key.is_empty() {
                    return Err(bad());
                }
                steps.push(key);
            }
            '[' => {
                let mut key = String::new();
                let quoted = chars.next_if(|q| *q == '"');
                loop {
                    match chars.next() {
                        Some('"') if quoted.is_some() => {
                            if chars.next() != Some(']') {
                                return Err(bad());
                            }
                            break;
                        }
                        Some(']') if quoted.is_none() => break,
                        Some(k) => key.push(k),
                        None => return Err(bad()),
                    }
                }
                steps.push(key);
            }
            _ => return Err(bad()),
        }
    }
    Ok(steps)
}

/// The value at `steps` in `json`, if there is one.
fn find<'a>(json: &'a Value, steps: &[String]) -> Option<&'a Value> {
    steps.iter().try_fold(json, |at, key| match at {
        Value::Object(members) => members.get(key),
        Value::Array(elements) => elements.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Applies `answer` to each row's value at its path; text that is not JSON is NULL.
fn extract(args: &[ArrayRef], answer: fn(&Value) -> Option<String>) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let paths = strings(&args[1])?;
    let mut parsed = Memo::new();
    let mut out = StringBuilder::new();
    for i in 0..texts.len() {
        if texts.is_null(i) || paths.is_null(i) {
            out.append_null();
            continue;
        }
        let steps = parsed.get(paths.value(i), parse_path)?;
        let value = serde_json::from_str::<Value>(texts.value(i)).ok();
        out.append_option(value.as_ref().and_then(|v| find(v, steps)).and_then(answer));
    }
    Ok(Arc::new(out.finish()))
}

/// `json_extract_scalar(json, path)`: the scalar at `path` as text (a string without its
/// quotes); NULL for an object, an array, a JSON null or nothing there.
fn json_extract_scalar(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    extract(args, |value| match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    })
}

/// `json_extract(json, path)`: the value at `path` as JSON text; NULL for nothing there.
fn json_extract(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    extract(args, |value| Some(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::value;

    #[tokio::test]
    async fn json_paths_answer_as_trinos_tests_state() {
        // TestJsonExtract.testFullScalarExtract and testFullJsonExtract.
        for (expr, expected) in [
            (r#"json_extract_scalar('{}', '$')"#, "NULL"),
            (
                r#"json_extract_scalar('{"fuu": {"bar": 1}}', '$.fuu')"#,
                "NULL",
            ),
            (r#"json_extract_scalar('{"fuu": 1}', '$.fuu')"#, "1"),
            (r#"json_extract_scalar('{"fuu": 1}', '$[fuu]')"#, "1"),
            (r#"json_extract_scalar('{"fuu": 1}', '$["fuu"]')"#, "1"),
            (r#"json_extract_scalar('{"fuu": null}', '$.fuu')"#, "NULL"),
            (r#"json_extract_scalar('{"fuu": 1}', '$.bar')"#, "NULL"),
            (
                r#"json_extract_scalar('{"fuu": 1, "bar": "abc"}', '$.bar')"#,
                "abc",
            ),
            (
                r#"json_extract_scalar('{"fuu": [0.1, 1, 2]}', '$.fuu[0]')"#,
                "0.1",
            ),
            (
                r#"json_extract_scalar('{"fuu": [0, [100, 101], 2]}', '$.fuu[1][1]')"#,
                "101",
            ),
            (r#"json_extract_scalar('[0, 1, 2]', '$[0]')"#, "0"),
            (r#"json_extract_scalar('"abc"', '$')"#, "abc"),
            (r#"json_extract_scalar('[0, 1, 2]', '$.1')"#, "1"),
            // json.md's example.
            (r#"json_extract_scalar('[1, 2, 3]', '$[2]')"#, "3"),
            (r#"json_extract('{}', '$')"#, "{}"),
            (
                r#"json_extract('{"fuu": {"bar": 1}}', '$.fuu')"#,
                r#"{"bar":1}"#,
            ),
            (r#"json_extract('{"fuu": null}', '$.fuu')"#, "null"),
            (r#"json_extract('{"fuu": 1}', '$.bar')"#, "NULL"),
            (
                r#"json_extract('{"fuu": 1, "bar": "abc"}', '$.bar')"#,
                r#""abc""#,
            ),
            (
                r#"json_extract('{"fuu": [0, [100, 101], 2]}', '$.fuu[1]')"#,
                "[100,101]",
            ),
        ] {
            assert_eq!(value(expr).await, expected, "{expr}");
        }
        assert!(
            value("json_extract('{}', 'fuu')")
                .await
                .contains("Invalid JSON path: 'fuu'")
        );
    }
}
