//! `queries` and `dashboard`: SQL templates and the panels that show their results.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A named SQL query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// The SQL, as a minijinja template: `{{ table('offenses') }}` names a catalog table the
    /// right way for the engine that runs it (Athena or the embedded engine).
    pub sql: String,
    /// What the query answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The dashboard: one HTML page of panels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// The page title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The panels, in page order.
    #[schemars(length(min = 1))]
    pub panels: Vec<Panel>,
}

/// One chart, table or number on the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// The panel title.
    pub title: String,
    /// The query whose result the panel shows.
    pub query: String,
    /// How the result is drawn.
    pub chart: Chart,
    /// The column on the x axis (`bar`, `line`) or of the value (`number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The column on the y axis (`bar`, `line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The latitude column (`map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<String>,
    /// The longitude column (`map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<String>,
}

/// Chart kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// Bars: `x` categories, `y` values.
    Bar,
    /// A line or time series: `x` ordered, `y` values.
    Line,
    /// Points on a latitude/longitude plane: `lat`, `lon`.
    Map,
    /// The result as a table.
    Table,
    /// One big number: the first row's `x` column (or its first column).
    Number,
}

impl Chart {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Chart::Bar => "bar",
            Chart::Line => "line",
            Chart::Map => "map",
            Chart::Table => "table",
            Chart::Number => "number",
        }
    }
}
