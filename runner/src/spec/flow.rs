//! `flows`: the data movements runner runs — backfill, ingest and deliver.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::Duration;

/// A data flow. `kind` says which.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Flow {
    /// Batch: a CSV source through a dataset's cleaning rules into a layout.
    Backfill(BackfillFlow),
    /// Streaming: a source through a dataset's cleaning rules into a Kafka topic.
    Ingest(IngestFlow),
    /// Streaming: a Kafka topic into a layout, as a consumer group.
    Deliver(DeliverFlow),
}

/// `kind: backfill`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillFlow {
    /// The source to read (a `csv` source).
    pub from: String,
    /// The dataset whose rules clean the records.
    pub clean: String,
    /// The layout to write.
    pub to: String,
}

/// `kind: ingest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestFlow {
    /// The source to poll (usually `socrata`).
    pub from: String,
    /// The dataset whose rules clean the records.
    pub clean: String,
    /// The topic to produce to, keyed by the dataset key.
    pub to_topic: String,
}

/// `kind: deliver`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverFlow {
    /// The topic to consume.
    pub from_topic: String,
    /// The consumer group; several workers in one group share the partitions.
    pub group: String,
    /// The layout to write.
    pub to: String,
    /// The dataset of the topic's records. Defaults to the dataset of the ingest flow that
    /// produces to the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// How long a delivered record is remembered (by a hash of its key and bytes), so that
    /// the same record produced again is dropped rather than written twice. Default `7d`.
    /// Keep it at least the topic's `retention.ms`: a record read again after a longer time
    /// (the topic created again and read from its start) is written a second time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_window: Option<Duration>,
}
