//! `catalog`: the Glue database and the tables that describe the written files.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Glue database and its tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The Glue database name (lowercase letters, digits and `_`).
    #[schemars(extend("x-runner-public" = true))]
    pub database: String,
    /// Tables by name (lowercase letters, digits and `_`).
    #[serde(default)]
    pub tables: IndexMap<String, Table>,
}

/// A Glue table over one layout, with the columns of one dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The dataset whose fields are the table's columns.
    pub dataset: String,
    /// The layout whose files the table reads.
    pub layout: String,
    /// Use Athena partition projection instead of registering partitions.
    #[serde(default)]
    pub projection: bool,
    /// A description stored with the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Data checks on the table's rows (`runner check`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<super::check::DataCheck>,
}
