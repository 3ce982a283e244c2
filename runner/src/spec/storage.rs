//! `storage`: the bucket and the named layouts files are written in.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::{Duration, Size};

/// The object store bucket and its layouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The S3 bucket name (3-63 lowercase letters, digits, `.` and `-`). On the local target
    /// it is a directory under the state directory.
    #[schemars(extend("x-runner-public" = true))]
    pub bucket: String,
    /// Named layouts: where and how a flow writes its files.
    #[schemars(extend("minProperties" = 1))]
    pub layouts: IndexMap<String, Layout>,
}

/// Where and how files are written under the bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The key prefix, ending in `/` (e.g. `historical/`).
    pub prefix: String,
    /// The file format.
    pub format: Format,
    /// The compression codec. Defaults to `snappy` for Parquet and `none` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Codec>,
    /// Hive-style partition path segments, each `name={{ template }}` (minijinja) over the
    /// dataset's fields, e.g. `year={{ report_datetime.year }}`. Date and timestamp fields
    /// offer `.year`, `.month`, `.day`, `.hour` and `.date`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<String>,
    /// When an open file is closed and a new one started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<Rotate>,
}

/// File formats a layout can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// One JSON object per line, uncompressed.
    Jsonl,
}

impl Format {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Compression codecs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// No compression.
    None,
    /// Snappy (Parquet only).
    Snappy,
    /// Zstandard (Parquet only).
    Zstd,
    /// Gzip (Parquet only).
    Gzip,
}

impl Codec {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Snappy => "snappy",
            Codec::Zstd => "zstd",
            Codec::Gzip => "gzip",
        }
    }
}

/// File rotation: a file is closed when any limit is reached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// Records per file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_records: Option<u64>,
    /// Bytes per file (before compression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<Size>,
    /// Age of the oldest record in an open file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
}
