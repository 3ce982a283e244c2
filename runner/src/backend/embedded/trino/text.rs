//! Trino's string and regular-expression functions where DataFusion's differ: `split`
//! (an array, with Trino's `limit`), `split_part` (NULL past the last field),
//! `regexp_extract` (NULL without a match) and `regexp_replace` (every match, `$1` for a
//! group, as Java's).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use regex::Regex;

use super::{FunctionSpec, Memo, function, integers, invalid, is_integer, is_text, strings};

/// The functions of this module.
pub(super) const FUNCTIONS: &[FunctionSpec] = &[
    function("split", &[], split_type, split),
    function("split_part", &[], split_part_type, split_part),
    function("regexp_extract", &[], regexp_extract_type, regexp_extract),
    function("regexp_replace", &[], regexp_replace_type, regexp_replace),
];

fn split_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [s, d] if is_text(s) && is_text(d) => Ok(text_list()),
        [s, d, n] if is_text(s) && is_text(d) && is_integer(n) => Ok(text_list()),
        _ => Err(()),
    }
}

/// An array of text, as `split` returns.
fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// `split(string, delimiter[, limit])`: the parts of `string` between delimiters; with a
/// limit, the last part holds the rest of the string.
fn split(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let delimiters = strings(&args[1])?;
    let limits = args.get(2).map(integers).transpose()?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..texts.len() {
        let limit = match &limits {
            Some(l) if l.is_null(i) => None,
            Some(l) => Some(l.value(i)),
            None => Some(i64::MAX),
        };
        let (Some(limit), true, true) = (limit, texts.is_valid(i), delimiters.is_valid(i)) else {
            out.append_null();
            continue;
        };
        if limit <= 0 {
            return Err(invalid("Limit must be positive"));
        }
        let delimiter = delimiters.value(i);
        if delimiter.is_empty() {
            return Err(invalid("The delimiter may not be the empty string"));
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        for part in texts.value(i).splitn(limit, delimiter) {
            out.values().append_value(part);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn split_part_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [s, d, n] if is_text(s) && is_text(d) && is_integer(n) => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// `split_part(string, delimiter, index)`: field `index` (from 1) of `string` split on
/// `delimiter`, NULL past the last field.
fn split_part(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let delimiters = strings(&args[1])?;
    let indexes = integers(&args[2])?;
    let mut out = StringBuilder::new();
    for i in 0..texts.len() {
        if texts.is_null(i) || delimiters.is_null(i) || indexes.is_null(i) {
            out.append_null();
            continue;
        }
        let index = indexes.value(i);
        if index <= 0 {
            return Err(invalid("Index must be greater than zero"));
        }
        let (text, delimiter) = (texts.value(i), delimiters.value(i));
        let part = if delimiter.is_empty() {
            text.chars().nth((index - 1) as usize).map(String::from)
        } else {
            text.split(delimiter)
                .nth((index - 1) as usize)
                .map(str::to_owned)
        };
        out.append_option(part);
    }
    Ok(Arc::new(out.finish()))
}

/// `pattern` compiled; a bad pattern is an error naming it.
fn compile(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| invalid(format!("invalid regular expression '{pattern}': {e}")))
}

fn regexp_extract_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [s, p] if is_text(s) && is_text(p) => Ok(DataType::Utf8),
        [s, p, g] if is_text(s) && is_text(p) && is_integer(g) => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// `regexp_extract(string, pattern[, group])`: the first match (or its group), NULL when
/// nothing matches.
fn regexp_extract(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let patterns = strings(&args[1])?;
    let groups = args.get(2).map(integers).transpose()?;
    let mut compiled = Memo::new();
    let mut out = StringBuilder::new();
    for i in 0..texts.len() {
        let group = match &groups {
            Some(g) if g.is_null(i) => None,
            Some(g) => Some(g.value(i)),
            None => Some(0),
        };
        let (Some(group), true, true) = (group, texts.is_valid(i), patterns.is_valid(i)) else {
            out.append_null();
            continue;
        };
        let regex = compiled.get(patterns.value(i), compile)?;
        let group = usize::try_from(group)
            .ok()
            .filter(|g| *g < regex.captures_len())
            .ok_or_else(|| {
                invalid(format!(
                    "Pattern has {} groups. Cannot access group {group}",
                    regex.captures_len() - 1
                ))
            })?;
        let found = regex
            .captures(texts.value(i))
            .and_then(|c| c.get(group))
            .map(|m| m.as_str());
        out.append_option(found);
    }
    Ok(Arc::new(out.finish()))
}

fn regexp_replace_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [s, p] if is_text(s) && is_text(p) => Ok(DataType::Utf8),
        [s, p, r] if is_text(s) && is_text(p) && is_text(r) => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// `regexp_replace(string, pattern[, replacement])`: every match replaced (removed without
/// a replacement); `$1` and `${name}` in the replacement are groups, `\$` a dollar sign.
fn regexp_replace(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let patterns = strings(&args[1])?;
    let replacements = match args.get(2) {
        Some(r) => strings(r)?,
        None => Arc::new(StringArray::from(vec![""; texts.len()])),
    };
    let mut compiled = Memo::new();
    let mut out = StringBuilder::new();
    for i in 0..texts.len() {
        if texts.is_null(i) || patterns.is_null(i) || replacements.is_null(i) {
            out.append_null();
            continue;
        }
        let regex = compiled.get(patterns.value(i), compile)?;
        let replacement = java_replacement(replacements.value(i));
        out.append_value(regex.replace_all(texts.value(i), replacement.as_str()));
    }
    Ok(Arc::new(out.finish()))
}

/// A Java replacement string (`$1`, `${name}`, `\$`) in the regex crate's syntax (`${1}`,
/// `${name}`, `$$`).
fn java_replacement(java: &str) -> String {
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    out.push(d);
                }
                out.push('}');
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::value;

    #[tokio::test]
    async fn strings_and_regexps_answer_as_trino_documents() {
        for (expr, expected) in [
            // string.md: split_part is NULL past the last field (TestStringFunctions).
            ("split_part('abc-def-ghi', '-', 2)", "def"),
            ("split_part('abc-def-ghi', '-', 4)", "NULL"),
            ("split_part('a,b,c', ',', 5)", "NULL"),
            // split and its limit.
            ("split('a.b.c', '.')", "[a, b, c]"),
            ("split('a.b.c', '.', 2)", "[a, b.c]"),
            ("cardinality(split('a.b.c', '.'))", "3"),
            ("element_at(split('a.b.c', '.'), -1)", "c"),
            // regexp.md's examples.
            ("regexp_extract('1a 2b 14m', '\\d+')", "1"),
            ("regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)", "a"),
            ("regexp_extract('1a 2b 14m', 'x')", "NULL"),
            ("regexp_replace('1a 2b 14m', '\\d+[ab] ')", "14m"),
            (
                "regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ')",
                "3ca 3cb 14m",
            ),
            ("regexp_like('1a 2b 14m', '\\d+b')", "true"),
            // Functions DataFusion already answers as Trino does.
            ("strpos('high', 'ig')", "2"),
            ("length('hello')", "5"),
            ("lpad('hi', 5, 'xy')", "xyxhi"),
            ("rpad('hi', 5, 'xy')", "hixyx"),
            ("lpad('hello', 3, 'x')", "hel"),
        ] {
            assert_eq!(value(expr).await, expected, "{expr}");
        }
        assert!(
            value("split_part('a,b', ',', 0)")
                .await
                .contains("Index must be greater than zero")
        );
    }

    #[test]
    fn java_replacements_become_the_regex_crates() {
        assert_eq!(super::java_replacement("3c$2 "), "3c${2} ");
        assert_eq!(super::java_replacement("\\$1 ${name}"), "$$1 ${name}");
    }
}
