//! Resources: the infrastructure a pipeline needs (S3 bucket, Glue database and tables,
//! Kafka topics), each as an address plus attributes.
//!
//! The desired attributes come from the spec ([`desired`]); the backends read the actual
//! attributes in the same shape, so [`crate::plan`] can compare them.

pub mod desired;
pub mod glue;
pub mod projection;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Attribute name -> value.
pub type Attrs = BTreeMap<String, Value>;

/// The tag / parameter key marking a resource as created by runner.
pub const MANAGED_BY: &str = "managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "runner";
/// The tag / parameter key naming the pipeline that owns a resource.
pub const PIPELINE_TAG: &str = "runner-pipeline";

/// The kinds of resource, in the order apply creates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An S3 bucket.
    S3Bucket,
    /// A Glue database.
    GlueDatabase,
    /// A Glue table.
    GlueTable,
    /// A Kafka topic.
    KafkaTopic,
}

impl Kind {
    /// The address prefix, e.g. `kafka_topic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::S3Bucket => "s3_bucket",
            Kind::GlueDatabase => "glue_database",
            Kind::GlueTable => "glue_table",
            Kind::KafkaTopic => "kafka_topic",
        }
    }
}

/// Where a resource is: its kind and name (`glue_table.seattle_911.offenses`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    /// The kind.
    pub kind: Kind,
    /// The name; for tables `database.table`.
    pub name: String,
}

impl Address {
    /// A new address.
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Address {
            kind,
            name: name.into(),
        }
    }

    /// For a table address, its database and table names.
    pub fn table_parts(&self) -> Option<(&str, &str)> {
        (self.kind == Kind::GlueTable)
            .then(|| self.name.split_once('.'))
            .flatten()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.as_str(), self.name)
    }
}

/// One resource with its attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Where it is.
    pub address: Address,
    /// What it should look like (desired) or looks like (observed).
    pub attrs: Attrs,
}

/// The markers runner puts on what it creates, as a JSON object.
pub fn markers(pipeline: &str) -> Value {
    serde_json::json!({ MANAGED_BY: MANAGED_BY_VALUE, PIPELINE_TAG: pipeline })
}

/// Whether observed attributes carry runner's marker for `pipeline` (in `tags` or
/// `parameters`).
pub fn is_managed_by(attrs: &Attrs, pipeline: &str) -> bool {
    ["tags", "parameters", "config"].iter().any(|key| {
        attrs.get(*key).is_some_and(|map| {
            map.get(MANAGED_BY).and_then(Value::as_str) == Some(MANAGED_BY_VALUE)
                && map.get(PIPELINE_TAG).and_then(Value::as_str) == Some(pipeline)
        })
    })
}
