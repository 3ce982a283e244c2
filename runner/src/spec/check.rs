//! Data checks on a catalog table (`checks:`), run by `runner check` on the embedded engine
//! or Athena: each finds the rows that break it, and passes when there are none.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::Duration;

/// One data check: exactly one of its kinds, with an optional name and severity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataCheck {
    /// The check's name in reports (default: its kind and columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `error` (the default) fails `runner check`; `warn` reports and passes.
    #[serde(default)]
    pub severity: CheckSeverity,
    /// These columns are never NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null: Option<Vec<String>>,
    /// No two rows share these columns' values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<Vec<String>>,
    /// A column holds only these values (or NULL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_values: Option<AcceptedValues>,
    /// A column's values lie within bounds (NULL passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeCheck>,
    /// The table's row count lies within bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<RowCount>,
    /// The newest value of a timestamp column is at most this old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<Freshness>,
    /// A query (a template, as `queries:`) that returns the rows breaking the check: none
    /// means it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// Whether a failing check fails `runner check`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckSeverity {
    /// It fails the command (exit 1).
    #[default]
    Error,
    /// It is reported, and the command still passes.
    Warn,
}

/// `accepted_values`: a column and the values it may hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    /// The column.
    pub column: String,
    /// The values it may hold.
    pub values: Vec<String>,
}

/// `range`: a column's bounds, inclusive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeCheck {
    /// The column.
    pub column: String,
    /// The smallest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// `row_count`: bounds on the table's rows, inclusive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowCount {
    /// The fewest rows allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// The most rows allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// `freshness`: how old the newest value of a timestamp column may be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// The timestamp column.
    pub column: String,
    /// The most its newest value may lag behind now (`26h`, `7d`).
    pub within: Duration,
}

impl DataCheck {
    /// The check's name: its own, or its kind and columns (`not_null(offense_id)`).
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        if let Some(columns) = &self.not_null {
            return format!("not_null({})", columns.join(", "));
        }
        if let Some(columns) = &self.unique {
            return format!("unique({})", columns.join(", "));
        }
        if let Some(a) = &self.accepted_values {
            return format!("accepted_values({})", a.column);
        }
        if let Some(r) = &self.range {
            return format!("range({})", r.column);
        }
        if self.row_count.is_some() {
            return "row_count".into();
        }
        if let Some(f) = &self.freshness {
            return format!("freshness({})", f.column);
        }
        "sql".into()
    }

    /// How many kinds the check gives (one is right).
    pub fn kinds(&self) -> usize {
        [
            self.not_null.is_some(),
            self.unique.is_some(),
            self.accepted_values.is_some(),
            self.range.is_some(),
            self.row_count.is_some(),
            self.freshness.is_some(),
            self.sql.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count()
    }

    /// The columns the check names.
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for list in [&self.not_null, &self.unique].into_iter().flatten() {
            out.extend(list.iter().map(String::as_str));
        }
        out.extend(self.accepted_values.iter().map(|a| a.column.as_str()));
        out.extend(self.range.iter().map(|r| r.column.as_str()));
        out.extend(self.freshness.iter().map(|f| f.column.as_str()));
        out
    }
}
