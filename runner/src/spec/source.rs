//! `sources`: where records come from — CSV files and the Socrata (SODA) API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::{Duration, Secret, Size};

/// A place records are read from. `kind` says which.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A CSV file, a glob of files, an http(s) URL or an `s3://` URL.
    Csv(CsvSource),
    /// A Socrata (SODA 2) dataset polled incrementally by a watermark field.
    Socrata(SocrataSource),
}

impl Source {
    /// The source kind as written in the file (`csv`, `socrata`).
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Csv(_) => SourceKind::Csv,
            Source::Socrata(_) => SourceKind::Socrata,
        }
    }
}

/// The kinds of source, used to pick per-source column names in a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// `kind: csv`.
    Csv,
    /// `kind: socrata`.
    Socrata,
}

impl SourceKind {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Csv => "csv",
            SourceKind::Socrata => "socrata",
        }
    }
}

/// A CSV source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSource {
    /// A local path or glob (relative to the directory runner runs in, normally the project
    /// root), an `http://` / `https://` URL, or an `s3://bucket/key` URL.
    pub path: String,
    /// The field delimiter: one ASCII character.
    #[serde(default = "default_delimiter")]
    #[schemars(length(min = 1, max = 1))]
    pub delimiter: String,
    /// Whether the first row holds column names. Without a header, columns are named by
    /// position: `column_1`, `column_2`, ...
    #[serde(default = "default_true")]
    pub header: bool,
    /// The text encoding of the file. A UTF-8 byte-order mark is always skipped.
    #[serde(default)]
    pub encoding: Encoding,
    /// Compression of the file; `auto` recognises gzip by its magic bytes.
    #[serde(default)]
    pub compression: Compression,
    /// The most bytes one record (row) may take, quoted line breaks included. A longer
    /// record stops the run with an error naming the file and the line it starts on: most
    /// often a quote left open swallows the rest of the file.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: Size,
    /// For an `http(s)://` or `s3://` input: how long its body may send nothing before the
    /// read fails, naming the input (a server that stalls mid-body would otherwise hold the
    /// run for good).
    #[serde(default = "default_read_timeout")]
    pub read_timeout: Duration,
}

fn default_read_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(60))
}

/// Text encodings a CSV source may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8 (the default).
    #[default]
    Utf8,
    /// ISO-8859-1 / Latin-1.
    Latin1,
    /// Windows-1252, as spreadsheet exports often are.
    Windows1252,
}

/// Compression of a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Detect gzip by its magic bytes (the default).
    #[default]
    Auto,
    /// Always gzip.
    Gzip,
    /// Never compressed.
    None,
}

/// A Socrata (SODA 2) dataset, polled with `$where`/`$order`/`$limit`/`$offset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SocrataSource {
    /// The dataset's resource URL, e.g. `https://data.seattle.gov/resource/tazs-3rd5.json`.
    pub url: String,
    /// The application token, sent as the `X-App-Token` header. Optional but recommended:
    /// requests without one share a throttled pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_token: Option<Secret>,
    /// The API field used as the watermark (a floating timestamp such as `report_datetime`).
    pub watermark: String,
    /// Rows per request (`$limit`), 1 to 50000.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 50000))]
    pub page_size: u32,
    /// How often to poll when running continuously.
    #[serde(default = "default_poll_every")]
    pub poll_every: Duration,
    /// How far before the watermark each poll re-reads, because the feed publishes rows late.
    #[serde(default = "default_overlap")]
    pub overlap: Duration,
    /// An extra SoQL `$where` condition ANDed with the watermark condition.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The timeout of one HTTP request.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
}

fn default_delimiter() -> String {
    ",".to_owned()
}

fn default_max_record_bytes() -> Size {
    Size(1 << 20)
}

fn default_true() -> bool {
    true
}

fn default_page_size() -> u32 {
    1000
}

fn default_poll_every() -> Duration {
    Duration(std::time::Duration::from_secs(60))
}

fn default_overlap() -> Duration {
    Duration(std::time::Duration::from_secs(3600))
}

fn default_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}
