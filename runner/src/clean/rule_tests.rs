//! Running the rule tests of a pipeline file: each raw row cleaned by its dataset's
//! compiled rules, exactly as the flows clean a batch, and the outcome compared with what
//! the test expects, field by field.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;

use super::{CleanError, Program};
use crate::spec::Dataset;
use crate::spec::rule_test::RuleTest;
use crate::spec::types::Scalar;

/// How one test went.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The test's name.
    pub test: String,
    /// Whether the outcome is the one expected.
    pub passed: bool,
    /// Each difference: what was expected and what the rules gave.
    pub differences: Vec<Difference>,
}

/// One difference between what a test expects and what the rules gave.
#[derive(Debug, PartialEq, Serialize)]
pub struct Difference {
    /// The field (or `row` for the row's fate).
    pub field: String,
    /// What the test expects.
    pub expected: String,
    /// What the rules gave.
    pub got: String,
}

/// Runs test `name` against `dataset`'s rules.
pub fn run(name: &str, test: &RuleTest, dataset: &Dataset) -> Result<Verdict, CleanError> {
    let columns = columns(test, dataset);
    let values: Vec<ArrayRef> = columns
        .iter()
        .map(|c| {
            let raw = test
                .input
                .get(c)
                .and_then(|v| v.as_ref())
                .map(Scalar::to_string);
            Arc::new(StringArray::from(vec![raw])) as ArrayRef
        })
        .collect();
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema, values)?;
    let program = Program::compile(dataset, test.source, &columns)?;
    let cleaned = program.apply(&batch)?;
    let mut differences = Vec::new();
    match (&test.expect.rejected, cleaned.rejects.first()) {
        (Some(expected), Some(got)) => {
            let reason_fits = expected
                .reason
                .as_ref()
                .is_none_or(|r| got.reason.contains(r.as_str()));
            if got.field != expected.field || !reason_fits {
                differences.push(Difference {
                    field: "row".into(),
                    expected: rejection(&expected.field, expected.reason.as_deref()),
                    got: rejection(&got.field, Some(&got.reason)),
                });
            }
        }
        (Some(expected), None) => differences.push(Difference {
            field: "row".into(),
            expected: rejection(&expected.field, expected.reason.as_deref()),
            got: "kept".into(),
        }),
        (None, Some(got)) => differences.push(Difference {
            field: "row".into(),
            expected: "kept".into(),
            got: rejection(&got.field, Some(&got.reason)),
        }),
        (None, None) => {
            for (field, expected) in test.expect.row.iter().flatten() {
                let got = value(&cleaned.batch, field)?;
                let expected = expected.as_ref().map(Scalar::to_string);
                if !same(expected.as_deref(), got.as_deref()) {
                    differences.push(Difference {
                        field: field.clone(),
                        expected: shown(expected.as_deref()),
                        got: shown(got.as_deref()),
                    });
                }
            }
        }
    }
    Ok(Verdict {
        test: name.to_owned(),
        passed: differences.is_empty(),
        differences,
    })
}

/// The source columns the test's row has: its input's, then those the dataset reads that it
/// leaves out (empty).
fn columns(test: &RuleTest, dataset: &Dataset) -> Vec<String> {
    let mut columns: Vec<String> = test.input.keys().cloned().collect();
    for (name, field) in &dataset.fields {
        let column = field
            .from
            .as_ref()
            .and_then(|f| f.for_kind(test.source))
            .unwrap_or(name);
        if !columns.iter().any(|c| c == column) {
            columns.push(column.to_owned());
        }
    }
    columns
}

/// Field `field` of the one cleaned row as text (RFC 3339 for instants), `None` for NULL.
fn value(batch: &RecordBatch, field: &str) -> Result<Option<String>, CleanError> {
    let Some(column) = batch.column_by_name(field) else {
        return Ok(None);
    };
    if column.is_null(0) {
        return Ok(None);
    }
    let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
    Ok(Some(formatter.value(0).to_string()))
}

/// Whether an expected value and the value the rules gave agree: as text, as numbers, or as
/// instants (`2024-03-10 10:30:00` and `2024-03-10T10:30:00Z` are one instant in UTC).
fn same(expected: Option<&str>, got: Option<&str>) -> bool {
    let (Some(expected), Some(got)) = (expected, got) else {
        return expected.is_none() && got.is_none();
    };
    if expected == got {
        return true;
    }
    if let (Ok(a), Ok(b)) = (expected.parse::<f64>(), got.parse::<f64>()) {
        return a == b;
    }
    let instant = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_micros())
            .ok()
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|t| t.and_utc().timestamp_micros())
                    .ok()
            })
    };
    matches!((instant(expected), instant(got)), (Some(a), Some(b)) if a == b)
}

/// A value for people: the text, or `null`.
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "null".into(), |v| format!("{v:?}"))
}

/// A rejection for people: `rejected by FIELD (REASON)`.
fn rejection(field: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("rejected by {field} ({reason})"),
        None => format!("rejected by {field}"),
    }
}
