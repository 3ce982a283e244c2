//! `topics`: the Kafka topics a pipeline owns.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::Scalar;

/// A Kafka topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// Number of partitions. Kafka can add partitions but never remove them.
    #[schemars(range(min = 1, max = 100000))]
    pub partitions: u32,
    /// Copies of each partition (1 on a single test broker, usually 3 in production).
    #[serde(default = "default_replication")]
    #[schemars(range(min = 1, max = 32767))]
    pub replication_factor: u16,
    /// Topic configs (e.g. `retention.ms`, `cleanup.policy`). Only the configs listed here are
    /// managed; broker defaults are left alone.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub config: IndexMap<String, Scalar>,
}

fn default_replication() -> u16 {
    1
}
