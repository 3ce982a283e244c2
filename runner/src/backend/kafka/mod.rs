//! Topics on a Kafka cluster through `rdkafka` (bundled librdkafka): the admin client for
//! topics and configs, the idempotent producer, and consumers for reads and group offsets.
//!
//! Configs are changed with IncrementalAlterConfigs (only the named configs change), which
//! rdkafka does not wrap yet, so that call goes through librdkafka's C API.
//!
//! This file holds the client and its [`Log`] implementation, which hands each call to the
//! file that owns it: `admin` (topics), `produce`, `fetch` (reads and group offsets) and
//! `ffi` (the C calls); `clients`, `acks` and `batches` keep the librdkafka clients, the
//! produce acknowledgements and the fetched batches; `group` is a deliver worker's
//! consumer-group membership and `settings` the properties runner sets or refuses.

pub mod acks;
mod admin;
pub mod batches;
pub mod clients;
mod fetch;
mod ffi;
pub mod group;
mod produce;
pub mod settings;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::{Map, Value};

use self::clients::{Closing, Made, Producer, metadata_client};
use self::fetch::Reader;
use super::{BackendError, Log, Message, Record, Result};
use crate::resource::Attrs;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a metadata request made ahead of the first produce may take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer than the producer's `message.timeout.ms` a produce call waits for its
/// last acknowledgement once its records are queued: librdkafka reports every record
/// within that time, so past it, its reports stopped coming.
const ACK_MARGIN: Duration = Duration::from_secs(15);

/// A Kafka cluster's topics.
pub struct Kafka {
    config: ClientConfig,
    /// The producer's settings (see [`settings::producer`]).
    producer_config: ClientConfig,
    /// How long the producer tries to deliver a record (`None`: for ever), from its
    /// settings.
    message_timeout: Option<Duration>,
    /// The admin client, made on first use (a deliver or ingest run needs none).
    admin: Made<AdminClient<DefaultClientContext>>,
    /// The idempotent producer, made on first use; its context holds the produce calls
    /// waiting for their acknowledgements.
    producer: Made<Producer>,
    /// One consumer per topic partition read, with the offset it will return next, so a
    /// sequential read continues where the last one stopped (no new assignment).
    readers: std::sync::Mutex<std::collections::HashMap<(String, u32), Reader>>,
    /// Each partition's end as the last fetch response from it said (its high watermark,
    /// which tansu reports right in Fetch though not in ListOffsets).
    ends: std::sync::Mutex<std::collections::HashMap<(String, u32), u64>>,
    /// Whether the last fetches found the broker unreachable (said once, not per fetch).
    unreachable: Arc<AtomicBool>,
    /// The offset consumer of each consumer group used (see [`Kafka::consumer`]).
    groups: std::sync::Mutex<std::collections::HashMap<String, Arc<Closing>>>,
}

fn failure(message: impl Into<String>) -> BackendError {
    BackendError::Service {
        service: "kafka",
        message: message.into(),
    }
}

/// The question to ask when the brokers of `config` do not answer.
fn reachable(config: &ClientConfig) -> String {
    let servers = config.get("bootstrap.servers").unwrap_or_default();
    format!("is the broker at {servers} up and reachable?")
}

impl Kafka {
    /// A cluster reached with `config` (bootstrap servers and librdkafka properties); the
    /// clients are made as they are first needed.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        // librdkafka checks the properties as a client is made: one now reports a bad one
        // here rather than at the first request.
        metadata_client(config)
            .map_err(|e| failure(format!("cannot create the Kafka client: {e}")))?;
        let producer_config = settings::producer(config);
        let message_timeout = settings::message_timeout(&producer_config);
        Ok(Kafka {
            config: config.clone(),
            producer_config,
            message_timeout,
            admin: Made::default(),
            producer: Made::default(),
            readers: std::sync::Mutex::default(),
            ends: std::sync::Mutex::default(),
            unreachable: Arc::default(),
            groups: std::sync::Mutex::default(),
        })
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.release_admin();
    }
}

#[async_trait]
impl Log for Kafka {
    async fn topic(&self, name: &str) -> Result<Option<Attrs>> {
        self.describe_topic(name).await
    }

    fn release_admin(&self) {
        self.drop_admin()
    }

    async fn partition_count(&self, name: &str) -> Result<Option<u32>> {
        self.count_partitions(name).await
    }

    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        config: &Map<String, Value>,
    ) -> Result<()> {
        self.make_topic(name, partitions, replication_factor, config)
            .await
    }

    async fn set_topic_config(&self, name: &str, config: &Map<String, Value>) -> Result<()> {
        self.alter_topic_config(name, config).await
    }

    async fn add_partitions(&self, name: &str, total: u32) -> Result<()> {
        self.grow_partitions(name, total).await
    }

    fn prepare(&self, topic: &str) {
        self.warm_up(topic)
    }

    async fn produce(&self, topic: &str, records: &[Record<'_>]) -> Result<Vec<(u32, u64)>> {
        self.produce_acknowledged(topic, records).await
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Message>> {
        self.read(topic, partition, offset, max, wait).await
    }

    fn fetched_end(&self, topic: &str, partition: u32) -> Option<u64> {
        self.last_fetched_end(topic, partition)
    }

    async fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.committed_offset(group, topic, partition).await
    }

    async fn end_offset(&self, group: &str, topic: &str, partition: u32) -> Result<u64> {
        self.group_end_offset(group, topic, partition).await
    }

    async fn join(
        &self,
        group: &str,
        topic: &str,
        _partitions: u32,
    ) -> Result<Box<dyn super::Membership>> {
        let member = self::group::KafkaMember::join(&self.config, group, topic)?;
        Ok(Box::new(member))
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        self.remove_topic(name).await
    }
}
