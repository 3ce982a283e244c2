//! Tests of a dataset's cleaning rules, in the pipeline file (`tests:`): one raw row and what
//! the rules must make of it, run offline by `runner test`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SourceKind;
use super::types::Scalar;

/// One raw input row and what the dataset's rules must make of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// What the case shows, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The dataset whose rules clean the row.
    pub dataset: String,
    /// The kind of source the row comes from, which picks the column names of the fields'
    /// `from:` (default `csv`).
    #[serde(default = "csv")]
    pub source: SourceKind,
    /// The raw row: each source column's value as the source gives it (a column left out
    /// is empty).
    pub input: IndexMap<String, Option<Scalar>>,
    /// What the rules must make of the row: `row` (it is kept, with these values) or
    /// `rejected` (it is quarantined, by this field).
    pub expect: Expectation,
}

/// The source kind a test reads when it names none.
fn csv() -> SourceKind {
    SourceKind::Csv
}

/// What a rule test expects: exactly one of `row` and `rejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The cleaned row's values by field; the fields left out are not checked. Timestamps
    /// are RFC 3339 in UTC (`2024-03-10T10:30:00Z`), dates `YYYY-MM-DD`, NULL is `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<IndexMap<String, Option<Scalar>>>,
    /// The row is rejected by this field's rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<ExpectedReject>,
}

/// A rejection a rule test expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedReject {
    /// The field whose rule rejects the row.
    pub field: String,
    /// Text the reason must contain (any reason when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
