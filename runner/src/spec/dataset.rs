//! `datasets`: the cleaning rules that turn raw source records into typed rows.
//!
//! A dataset's fields, in order, are its output schema: the same list drives the
//! Parquet files, the Glue table columns and the fields templates may use.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::source::SourceKind;
use super::types::Scalar;

/// A dataset: key, typed fields and what to do with rows that break the rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// The fields that identify a record (used for dedupe and as the Kafka message key).
    #[schemars(length(min = 1))]
    pub key: Vec<String>,
    /// The output fields, in column order, each with its cleaning rules.
    #[schemars(extend("minProperties" = 1))]
    pub fields: IndexMap<String, Field>,
    /// How rows sharing a key are deduplicated within a run.
    #[serde(default)]
    pub dedupe: Dedupe,
    /// What happens to a row that a rule rejects.
    #[serde(default)]
    pub on_error: OnError,
    /// The largest share of rejected rows (0 to 1) a run accepts before it fails.
    #[serde(default = "default_max_reject_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_reject_ratio: f64,
}

/// How duplicate keys are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dedupe {
    /// Keep the first row seen for a key (the default).
    #[default]
    First,
    /// Keep the last row seen for a key.
    Last,
    /// Keep every row.
    None,
}

/// What happens to a rejected row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Write it to the layout's `_rejects/` quarantine with the reason (the default).
    #[default]
    Quarantine,
    /// Stop the run at the first rejected row.
    Fail,
}

/// One output field and its cleaning rules, applied in this order: trim, null tokens,
/// case, value map, parse, checks (required, range, allowed, pattern), default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The output type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The source column: one name for every source, or a name per source kind. Defaults to
    /// the field's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ColumnName>,
    /// Parse formats (chrono strftime syntax) for `date` and `timestamp`, tried in order.
    /// ISO 8601 is always tried last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formats: Vec<String>,
    /// The IANA timezone of local timestamps (e.g. `America/Los_Angeles`); values are stored
    /// in UTC. Without it, timestamps without an offset are taken as UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Trim surrounding whitespace before anything else.
    #[serde(default = "default_true")]
    pub trim: bool,
    /// Change the case of text values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<Case>,
    /// Raw values that mean "no value" (compared after trimming). Empty text is always null.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub null_if: Vec<String>,
    /// Replace raw values before parsing (e.g. `{ "UNKNOWN": "" }` or code -> label).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub map: IndexMap<String, String>,
    /// A null value rejects the row.
    #[serde(default)]
    pub required: bool,
    /// Inclusive numeric bounds `[min, max]` for `int` and `double` fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    /// The only values allowed (compared after case and map).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// A regular expression (Rust `regex` syntax) the whole text value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The value used when the source value is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
    /// What an invalid value does: become null, or reject the whole row.
    #[serde(default)]
    pub on_invalid: OnInvalid,
}

/// The type of an output field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// A 64-bit signed integer.
    Int,
    /// A 64-bit float.
    Double,
    /// `true`/`false` (also accepts `yes`/`no`, `1`/`0`, `y`/`n`).
    Bool,
    /// A calendar date.
    Date,
    /// An instant, stored in UTC with microsecond precision.
    Timestamp,
    /// A latitude/longitude pair, from `(lat, lon)` text, `POINT (lon lat)` or a GeoJSON point.
    GeoPoint,
}

impl FieldType {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::Timestamp => "timestamp",
            FieldType::GeoPoint => "geo_point",
        }
    }

    /// Whether values of this type have a calendar (year, month, day, ...).
    pub fn is_temporal(self) -> bool {
        matches!(self, FieldType::Date | FieldType::Timestamp)
    }
}

/// Where a field's raw value comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ColumnName {
    /// The same column name in every source.
    Same(String),
    /// A column name per source kind; a kind left out uses the field's name.
    PerKind(PerKindColumn),
}

impl ColumnName {
    /// The column to read for `kind`, or `None` to use the field's own name.
    pub fn for_kind(&self, kind: SourceKind) -> Option<&str> {
        match self {
            ColumnName::Same(name) => Some(name),
            ColumnName::PerKind(per) => match kind {
                SourceKind::Csv => per.csv.as_deref(),
                SourceKind::Socrata => per.socrata.as_deref(),
            },
        }
    }
}

/// Column names per source kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerKindColumn {
    /// The CSV header name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// The Socrata API field name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socrata: Option<String>,
}

/// A change of letter case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// UPPER CASE.
    Upper,
    /// lower case.
    Lower,
    /// Title Case.
    Title,
}

/// What an invalid value does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Reject the whole row (the default); it goes to quarantine with the reason.
    #[default]
    Reject,
    /// Store null instead and keep the row.
    Null,
}

fn default_true() -> bool {
    true
}

fn default_max_reject_ratio() -> f64 {
    0.01
}
