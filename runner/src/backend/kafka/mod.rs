//! Topics on a Kafka cluster through `rdkafka` (bundled librdkafka): the admin client for
//! topics and configs, the idempotent producer, and consumers for reads and group offsets.
//!
//! Configs are changed with IncrementalAlterConfigs (only the named configs change), which
//! rdkafka does not wrap yet, so that one call goes through librdkafka's C API.

pub mod acks;
pub mod batches;
pub mod clients;
pub mod group;
pub mod settings;

use std::ffi::{CStr, CString};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use serde_json::{Map, Value, json};

use self::batches::{Batches, Taken};
use self::clients::{Closing, Made, Producer, metadata_client};
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

/// A consumer assigned to one partition, the queue its records are taken from, and the
/// offset its next record has.
struct Reader {
    consumer: Arc<Closing>,
    batches: Batches,
    next: u64,
}

/// Closes a reader on a blocking thread: closing a consumer waits for librdkafka (up to
/// [`Closing`]'s patience while the broker is away), which must not hold up the runtime's
/// thread and every request of the run with it. A fetch that fails drops its reader on the
/// blocking thread it ran on.
fn close_aside(reader: Reader) {
    drop(tokio::task::spawn_blocking(move || drop(reader)));
}

/// What one fetch of a partition took so far, and whether it goes on.
struct Fetching<'a> {
    topic: &'a str,
    partition: u32,
    /// Whether the broker was last found unreachable (shared by the client's fetches).
    unreachable: &'a AtomicBool,
    deadline: std::time::Instant,
    out: Gathered,
    /// `false` once the broker was found unreachable past the deadline.
    timely: bool,
    /// The error that ends the fetch.
    failed: Option<KafkaError>,
}

impl Fetching<'_> {
    /// Takes in a record, or an error the partition's queue reported.
    fn accept(&mut self, taken: Taken<'_>) {
        match taken {
            Taken::Record { offset, key, value } => self.out.push(offset as u64, key, value),
            Taken::Error(code) => self.failure(KafkaError::MessageConsumption(code)),
        }
    }

    /// Serves the events waiting on the consumer's own queue (see
    /// [`Batches::events_waiting`]), while there is room for `max` records: the errors it
    /// reports (a broker that went away), and the records fetched before the partition's
    /// were split from it, which come before any of the partition's queue.
    fn serve(&mut self, consumer: &BaseConsumer, batches: &Batches, max: usize) {
        for _ in 0..batches.events_waiting() {
            if self.out.records.len() >= max {
                break;
            }
            match consumer.poll(Duration::ZERO) {
                Some(Ok(m)) => {
                    self.out
                        .push(m.offset() as u64, m.key(), m.payload().unwrap_or_default())
                }
                Some(Err(e)) => self.failure(e),
                None => {}
            }
        }
    }

    /// Takes in an error. librdkafka reconnects by itself: a broker that went away (a
    /// restart) is waited for until the deadline, not reported as a failure.
    fn failure(&mut self, e: KafkaError) {
        if !passing(&e) {
            self.failed.get_or_insert(e);
            return;
        }
        if !self.unreachable.swap(true, Ordering::Relaxed) {
            let (topic, partition) = (self.topic, self.partition);
            tracing::warn!(topic, partition, error = %e, "the broker is unreachable; waiting");
        }
        self.timely = std::time::Instant::now() < self.deadline;
    }
}

/// The records of one fetch, copied as they are taken into buffers of 64 KiB, then twice
/// that each up to [`GATHER_BUFFER`] bytes (a larger record gets one of its own): a few
/// allocations per fetch rather than two per record, no buffer grows by copying what it
/// holds, and a fetch of a few records holds little memory. Values and keys have
/// buffers of their own, and each value is followed by a line break, so the values of
/// records fetched one after the other are one JSON-lines slice of their buffer (see
/// [`Message::buffer`]).
#[derive(Default)]
struct Gathered {
    /// The values, each followed by a line break.
    values: Buffers,
    /// The keys.
    keys: Buffers,
    /// Where each record is.
    records: Vec<Placed>,
}

/// Where a gathered record is: its key and value, each as a buffer (an index into
/// [`Buffers::full`], where the buffer being filled goes last) and a range of it.
struct Placed {
    offset: u64,
    key: Option<(usize, Range<usize>)>,
    value: (usize, Range<usize>),
}

/// Buffers filled one after the other.
#[derive(Default)]
struct Buffers {
    /// The buffers filled.
    full: Vec<Vec<u8>>,
    /// The buffer being filled.
    current: Vec<u8>,
}

/// The size of [`Gathered`]'s largest buffers.
const GATHER_BUFFER: usize = 1 << 20;

/// The size of [`Gathered`]'s first buffer.
const FIRST_BUFFER: usize = 64 << 10;

impl Buffers {
    /// Appends `part` and then `end` in the buffer being filled, or in a new one when they
    /// do not fit: the buffer and the range `part` has there.
    fn append(&mut self, part: &[u8], end: &[u8]) -> (usize, Range<usize>) {
        let size = part.len() + end.len();
        if self.current.len() + size > self.current.capacity() {
            let doubled = FIRST_BUFFER << self.full.len().min(4);
            let next = Vec::with_capacity(size.max(doubled.min(GATHER_BUFFER)));
            let filled = std::mem::replace(&mut self.current, next);
            // Only a part of no bytes can point into an empty buffer, and an empty range
            // of the next one is the same.
            if !filled.is_empty() {
                self.full.push(filled);
            }
        }
        let start = self.current.len();
        self.current.extend_from_slice(part);
        let range = start..self.current.len();
        self.current.extend_from_slice(end);
        (self.full.len(), range)
    }

    /// The buffers, frozen.
    fn into_bytes(mut self) -> Vec<Bytes> {
        self.full.push(self.current);
        self.full.into_iter().map(Bytes::from).collect()
    }
}

impl Gathered {
    fn push(&mut self, offset: u64, key: Option<&[u8]>, value: &[u8]) {
        let key = key.map(|key| self.keys.append(key, b""));
        let value = self.values.append(value, b"\n");
        self.records.push(Placed { offset, key, value });
    }

    /// The records as messages whose bytes are slices of the buffers.
    fn into_messages(self) -> Vec<Message> {
        let (values, keys) = (self.values.into_bytes(), self.keys.into_bytes());
        self.records
            .into_iter()
            .map(|placed| {
                let (buffer, range) = placed.value;
                let buffer = &values[buffer];
                Message {
                    offset: placed.offset,
                    key: placed.key.map(|(buffer, range)| keys[buffer].slice(range)),
                    value: buffer.slice(range),
                    buffer: Some(buffer.clone()),
                }
            })
            .collect()
    }
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

    /// A produce call's failure `e` (the first record failure reported).
    fn produce_failure(&self, topic: &str, e: acks::Failure) -> BackendError {
        let e = match e {
            acks::Failure::TimedOut => format!(
                "no acknowledgement within message.timeout.ms ({} ms); {}",
                self.message_timeout.map_or(0, |t| t.as_millis()),
                reachable(&self.config)
            ),
            acks::Failure::Other(e) => e,
        };
        failure(format!("Produce to {topic}: {e}"))
    }

    fn admin(&self) -> Result<Arc<AdminClient<DefaultClientContext>>> {
        self.admin.get(|| {
            self.config
                .create::<AdminClient<DefaultClientContext>>()
                .map_err(|e| failure(format!("cannot create the Kafka admin client: {e}")))
        })
    }

    /// The idempotent producer: no duplicates from its own retries; by default the same
    /// key partitioning as Kafka's Java clients (murmur2).
    fn producer(&self) -> Result<Arc<Producer>> {
        self.producer.get(|| {
            Producer::new(&self.producer_config)
                .map_err(|e| failure(format!("cannot create the Kafka producer: {e}")))
        })
    }

    /// The consumer that reads `group`'s committed offsets and the partitions' ends, made
    /// on first use and kept, so each is one request, not a new connection. It never joins
    /// the group (the worker's member does: [`self::group`]), and its periodic
    /// metadata refresh is off (see [`Kafka::reader_consumer`]).
    fn consumer(&self, group: &str) -> Result<Arc<Closing>> {
        let mut groups = self
            .groups
            .lock()
            .map_err(|_| failure("the group table is poisoned"))?;
        if let Some(consumer) = groups.get(group) {
            return Ok(Arc::clone(consumer));
        }
        let consumer = Self::create_consumer(
            self.consumer_config(group)
                .set("session.timeout.ms", "6000")
                .set("topic.metadata.refresh.interval.ms", "-1"),
        )?;
        groups.insert(group.to_owned(), Arc::clone(&consumer));
        Ok(consumer)
    }

    /// The settings of every consumer: in `group`, never committing or storing offsets by
    /// itself, starting at the earliest record.
    fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.config.clone();
        // A static member's id is the group member's alone (see `kafka_group`): a reader
        // or offset consumer with it would fence that member.
        config.remove("group.instance.id");
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        config
    }

    fn create_consumer(config: &ClientConfig) -> Result<Arc<Closing>> {
        config
            .create::<BaseConsumer>()
            .map(|consumer| Arc::new(Closing(consumer)))
            .map_err(|e| failure(format!("cannot create a Kafka consumer: {e}")))
    }

    /// A consumer for reading one partition. Periodic metadata refresh is off: an assigned
    /// reader does not need it, and an idle consumer's refresh crashed in librdkafka's
    /// metadata cache against tansu 0.6 (a topic without a name in the answer).
    fn reader_consumer(&self) -> Result<Arc<Closing>> {
        let group = format!("runner-reader-{}", std::process::id());
        Self::create_consumer(
            self.consumer_config(&group)
                .set("topic.metadata.refresh.interval.ms", "-1"),
        )
    }

    fn options() -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(TIMEOUT))
            .operation_timeout(Some(TIMEOUT))
    }

    /// Partition and replica counts, or `None` when the topic does not exist.
    async fn layout(&self, name: &str) -> Result<Option<(usize, usize)>> {
        let config = self.config.clone();
        let topic = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = metadata_client(&config)
                .and_then(|client| client.fetch_metadata(Some(&topic), TIMEOUT))
                .map_err(|e| {
                    let e = match e.rdkafka_error_code() {
                        Some(
                            RDKafkaErrorCode::BrokerTransportFailure
                            | RDKafkaErrorCode::OperationTimedOut
                            | RDKafkaErrorCode::AllBrokersDown,
                        ) => format!(
                            "no broker answered within {} s ({e}); {}",
                            TIMEOUT.as_secs(),
                            reachable(&config)
                        ),
                        _ => e.to_string(),
                    };
                    failure(format!("metadata of topic '{topic}': {e}"))
                })?;
            let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                return Ok(None);
            };
            match found.error() {
                None => {}
                Some(code)
                    if RDKafkaErrorCode::from(code)
                        == RDKafkaErrorCode::UnknownTopicOrPartition =>
                {
                    return Ok(None);
                }
                Some(code) => {
                    return Err(failure(format!(
                        "metadata of topic '{topic}': {}",
                        RDKafkaErrorCode::from(code)
                    )));
                }
            }
            let partitions = found.partitions();
            let replicas = partitions.first().map_or(0, |p| p.replicas().len());
            Ok(Some((partitions.len(), replicas)))
        })
        .await
        .map_err(|e| failure(e.to_string()))?
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
        let Some((partitions, replicas)) = self.layout(name).await? else {
            return Ok(None);
        };
        let described = self
            .admin()?
            .describe_configs(&[ResourceSpecifier::Topic(name)], &Self::options())
            .await
            .map_err(|e| failure(format!("DescribeConfigs {name}: {e}")))?;
        let mut config = Map::new();
        for resource in described {
            let resource = resource.map_err(|e| failure(format!("DescribeConfigs {name}: {e}")))?;
            for entry in resource.entries {
                if let Some(value) = entry.value {
                    config.insert(entry.name, json!(value));
                }
            }
        }
        Ok(Some(
            [
                ("partitions".to_owned(), json!(partitions)),
                ("replication_factor".to_owned(), json!(replicas)),
                ("config".to_owned(), Value::Object(config)),
            ]
            .into_iter()
            .collect(),
        ))
    }

    fn release_admin(&self) {
        // The admin client's teardown waits up to 100 ms for its polling thread: it goes on
        // while the command does the rest of its work.
        if let Some(admin) = self.admin.take() {
            clients::drop_later(admin);
        }
    }

    async fn partition_count(&self, name: &str) -> Result<Option<u32>> {
        // The metadata alone, without the topic's configs.
        Ok(self
            .layout(name)
            .await?
            .map(|(partitions, _)| u32::try_from(partitions).unwrap_or(u32::MAX)))
    }

    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        config: &Map<String, Value>,
    ) -> Result<()> {
        let values: Vec<(String, String)> =
            config.iter().map(|(k, v)| (k.clone(), plain(v))).collect();
        let mut topic = NewTopic::new(
            name,
            i32::try_from(partitions).unwrap_or(i32::MAX),
            TopicReplication::Fixed(i32::from(replication_factor)),
        );
        for (key, value) in &values {
            topic = topic.set(key, value);
        }
        let results = self
            .admin()?
            .create_topics(&[topic], &Self::options())
            .await
            .map_err(|e| failure(format!("CreateTopics {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("CreateTopics {topic}: {code}")))?;
        }
        Ok(())
    }

    async fn set_topic_config(&self, name: &str, config: &Map<String, Value>) -> Result<()> {
        let admin = self.admin()?;
        let topic = name.to_owned();
        let values: Vec<(String, String)> =
            config.iter().map(|(k, v)| (k.clone(), plain(v))).collect();
        tokio::task::spawn_blocking(move || incremental_alter_configs(&admin, &topic, &values))
            .await
            .map_err(|e| failure(e.to_string()))?
    }

    async fn add_partitions(&self, name: &str, total: u32) -> Result<()> {
        let request = NewPartitions::new(name, usize::try_from(total).unwrap_or(usize::MAX));
        let results = self
            .admin()?
            .create_partitions(&[request], &Self::options())
            .await
            .map_err(|e| failure(format!("CreatePartitions {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("CreatePartitions {topic}: {code}")))?;
        }
        Ok(())
    }

    fn prepare(&self, topic: &str) {
        // Every metadata answer makes the idempotent producer ask for its id if it has
        // none. The first answer comes over the bootstrap connection, before the broker it
        // names is up, so the producer would retry only on its 500 ms timer; a second
        // request, answered over the broker's own connection, gets the id at once
        // (measured against tansu 0.6: 0.06 s instead of 0.5 s).
        // A thread of its own, no runtime needed; it holds the producer, so the process
        // waits for it before it exits, which the short timeout keeps short.
        let producer = match self.producer() {
            Ok(producer) => producer,
            Err(e) => {
                tracing::warn!(topic, error = %e, "the producer was not made ahead");
                return;
            }
        };
        let topic = topic.to_owned();
        clients::spawn_tracked("kafka-warm-up", move || {
            for _ in 0..2 {
                if let Err(e) = producer
                    .client()
                    .fetch_metadata(Some(&topic), WARM_UP_TIMEOUT)
                {
                    tracing::warn!(topic, error = %e, "the broker did not answer a metadata request within {} s", WARM_UP_TIMEOUT.as_secs());
                    return;
                }
            }
        });
    }

    async fn produce(&self, topic: &str, records: &[Record<'_>]) -> Result<Vec<(u32, u64)>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Every record is queued at once (librdkafka batches them); only then are the
        // acknowledgements awaited. A full queue is tried again as acknowledgements free it,
        // unless a record of the call failed meanwhile.
        let producer = self.producer()?;
        let mut registered = producer.context().register(records.len());
        for (index, record) in records.iter().enumerate() {
            let mut message =
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, registered.ticket(index))
                    .payload(record.value);
            if let Some(key) = record.key {
                message = message.key(key);
            }
            loop {
                match producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        if let Some(e) = registered.failure() {
                            return Err(self.produce_failure(topic, e));
                        }
                        message = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => return Err(failure(format!("Produce to {topic}: {e}"))),
                }
            }
        }
        let outcome = match self.message_timeout {
            Some(timeout) => tokio::time::timeout(timeout + ACK_MARGIN, &mut registered.outcome)
                .await
                .map_err(|_| {
                    failure(format!(
                        "Produce to {topic}: librdkafka reported nothing within {} s",
                        (timeout + ACK_MARGIN).as_secs()
                    ))
                })?,
            // The pipeline lets librdkafka try for ever (`message.timeout.ms: 0`).
            None => (&mut registered.outcome).await,
        };
        outcome
            .map_err(|_| failure(format!("Produce to {topic}: the producer went away")))?
            .map_err(|e| self.produce_failure(topic, e))
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Message>> {
        // Continue the partition's reader when it stands at `offset`; otherwise assign a
        // new one there. Continuing keeps what librdkafka already fetched, and never asks
        // the broker for an offset inside a record batch it already passed.
        let key = (topic.to_owned(), partition);
        // Where the partition ends is what this fetch's answer says, or unknown: an older
        // answer may be out of date (another worker read on meanwhile).
        self.ends
            .lock()
            .map_err(|_| failure("the end table is poisoned"))?
            .remove(&key);
        let cached = self
            .readers
            .lock()
            .map_err(|_| failure("the reader table is poisoned"))?
            .remove(&key);
        let (reading, batches) = match cached {
            Some(reader) if reader.next == offset => (reader.consumer, Some(reader.batches)),
            stale => {
                if let Some(stale) = stale {
                    close_aside(stale);
                }
                (self.reader_consumer()?, None)
            }
        };
        let assign = batches.is_none();
        let topic = topic.to_owned();
        let unreachable = Arc::clone(&self.unreachable);
        let out = tokio::task::spawn_blocking(move || {
            let mut batches = match batches {
                Some(batches) => batches,
                None => {
                    let mut assignment = TopicPartitionList::new();
                    assignment
                        .add_partition_offset(
                            &topic,
                            partition as i32,
                            Offset::Offset(offset as i64),
                        )
                        .map_err(|e| failure(format!("Fetch {topic}/{partition}: {e}")))?;
                    reading
                        .assign(&assignment)
                        .map_err(|e| failure(format!("Fetch {topic}/{partition}: {e}")))?;
                    Batches::split(&reading, &topic, partition as i32).ok_or_else(|| {
                        failure(format!(
                            "Fetch {topic}/{partition}: no queue for the partition"
                        ))
                    })?
                }
            };
            let mut fetching = Fetching {
                topic: &topic,
                partition,
                unreachable: &unreachable,
                deadline: std::time::Instant::now() + wait,
                out: Gathered::default(),
                timely: true,
                failed: None,
            };
            loop {
                fetching.serve(&reading, &batches, max);
                let room = max.saturating_sub(fetching.out.records.len());
                if room == 0 || !fetching.timely || fetching.failed.is_some() {
                    break;
                }
                // Records already buffered are taken without looking at the clock.
                if batches.take(room, Duration::ZERO, |taken| fetching.accept(taken)) > 0 {
                    continue;
                }
                // With records in hand, stop where the broker's latest answer said the
                // partition ends rather than wait for more.
                let next = fetching.out.records.last().map(|placed| placed.offset + 1);
                let end = cached_high_watermark(&reading, &topic, partition as i32);
                if next.zip(end).is_some_and(|(next, end)| next >= end) {
                    break;
                }
                let left = fetching
                    .deadline
                    .saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                // The wait is for the partition's records: what the consumer reports
                // meanwhile (a broker gone) is seen when it ends. Such errors are waited
                // out until the deadline anyway; one that fails the fetch fails it up to
                // `wait` later.
                if batches.take(1, left, |taken| fetching.accept(taken)) == 0 {
                    // What the consumer reported while this fetch waited.
                    fetching.serve(&reading, &batches, max);
                    break;
                }
            }
            let Fetching { out, failed, .. } = fetching;
            if let Some(e) = failed {
                return Err(failure(format!("Fetch {topic}/{partition}: {e}")));
            }
            // The high watermark of the last fetch response (none before one came).
            let end = cached_high_watermark(&reading, &topic, partition as i32);
            if end.is_some() && unreachable.swap(false, Ordering::Relaxed) {
                tracing::info!(topic, partition, "the broker answers again");
            }
            Ok((out.into_messages(), end, reading, batches))
        })
        .await
        .map_err(|e| failure(e.to_string()))??;
        let (out, end, consumer, batches) = out;
        if let Some(end) = end {
            self.ends
                .lock()
                .map_err(|_| failure("the end table is poisoned"))?
                .insert(key.clone(), end);
        }
        // A reader is kept to be continued while it brings records, and when it is new (a
        // new connection may not have answered within `wait`). One that came back empty
        // again is closed, so no idle consumer lingers (idle ones crashed against tansu 0.6,
        // see `reader_consumer`).
        let reader = Reader {
            consumer,
            batches,
            next: out.last().map_or(offset, |m| m.offset + 1),
        };
        if !out.is_empty() || assign {
            self.readers
                .lock()
                .map_err(|_| failure("the reader table is poisoned"))?
                .insert(key, reader);
        } else {
            close_aside(reader);
        }
        Ok(out)
    }

    fn fetched_end(&self, topic: &str, partition: u32) -> Option<u64> {
        let ends = self.ends.lock().ok()?;
        ends.get(&(topic.to_owned(), partition)).copied()
    }

    async fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        let consumer = self.consumer(group)?;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition(&topic, partition as i32);
            let found = consumer
                .committed_offsets(wanted, TIMEOUT)
                .map_err(|e| failure(format!("OffsetFetch {topic}/{partition}: {e}")))?;
            Ok(found
                .find_partition(&topic, partition as i32)
                .and_then(|p| match p.offset() {
                    Offset::Offset(n) if n >= 0 => Some(n as u64),
                    _ => None,
                }))
        })
        .await
        .map_err(|e| failure(e.to_string()))?
    }

    async fn end_offset(&self, group: &str, topic: &str, partition: u32) -> Result<u64> {
        let consumer = self.consumer(group)?;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition as i32, TIMEOUT)
                .map_err(|e| failure(format!("ListOffsets {topic}/{partition}: {e}")))?;
            Ok(u64::try_from(high).unwrap_or(0))
        })
        .await
        .map_err(|e| failure(e.to_string()))?
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
        // This client's consumers go first: one that knew the topic asks for its metadata
        // again, and tansu 0.6's answer for a deleted topic crashes librdkafka's metadata
        // cache.
        self.readers
            .lock()
            .map_err(|_| failure("the reader table is poisoned"))?
            .retain(|(topic, _), _| topic != name);
        self.groups
            .lock()
            .map_err(|_| failure("the group table is poisoned"))?
            .clear();
        let results = self
            .admin()?
            .delete_topics(&[name], &Self::options())
            .await
            .map_err(|e| failure(format!("DeleteTopics {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("DeleteTopics {topic}: {code}")))?;
        }
        Ok(())
    }
}

/// Whether a consumer error passes once the broker is back: it went away, is restarting,
/// or is slow to answer.
fn passing(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::OperationTimedOut
                | Code::RequestTimedOut
                | Code::NetworkException
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
                | Code::CoordinatorNotAvailable
        )
    )
}

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The high watermark librdkafka cached from the last fetch response of a partition the
/// consumer reads (`rd_kafka_get_watermark_offsets`, which asks no broker and which
/// rust-rdkafka does not wrap); `None` before a fetch response came.
fn cached_high_watermark(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<u64> {
    use rdkafka::bindings as rd;

    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer lives as long as `consumer`, the topic is a CString that
    // outlives the call, and `low` and `high` are valid places for the two answers.
    let error = unsafe {
        rd::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    if error != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    u64::try_from(high).ok()
}

/// Text owned by librdkafka, copied.
///
/// # Safety
/// `ptr` is null or a NUL-terminated string that lives for the call.
unsafe fn c_text(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller passes a NUL-terminated string from librdkafka.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Sets `values` on topic `name` with IncrementalAlterConfigs (operation SET), blocking
/// until the broker answers or [`TIMEOUT`] passes.
fn incremental_alter_configs(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    values: &[(String, String)],
) -> Result<()> {
    use rdkafka::bindings as rd;

    let c = |s: &str| CString::new(s).map_err(|_| failure(format!("'{s}' holds a NUL byte")));
    let topic = c(name)?;
    let pairs: Vec<(CString, CString)> = values
        .iter()
        .map(|(k, v)| Ok((c(k)?, c(v)?)))
        .collect::<Result<_>>()?;
    let rk = admin.inner().native_ptr();
    // SAFETY: every pointer passed below is created here from librdkafka's own constructors
    // or from CStrings that outlive the calls, and each object is destroyed exactly once.
    unsafe {
        let mut resource = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            topic.as_ptr(),
        );
        let mut outcome = Ok(());
        for (key, value) in &pairs {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource,
                key.as_ptr(),
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value.as_ptr(),
            );
            if !error.is_null() {
                outcome = Err(failure(format!(
                    "IncrementalAlterConfigs {name}: {}",
                    c_text(rd::rd_kafka_error_string(error))
                )));
                rd::rd_kafka_error_destroy(error);
            }
        }
        if outcome.is_ok() {
            let options = rd::rd_kafka_AdminOptions_new(
                rk,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            );
            let mut errstr = [0 as std::os::raw::c_char; 256];
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options,
                TIMEOUT.as_millis() as i32,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            let queue = rd::rd_kafka_queue_new(rk);
            rd::rd_kafka_IncrementalAlterConfigs(rk, &mut resource, 1, options, queue);
            let event = rd::rd_kafka_queue_poll(queue, (TIMEOUT.as_millis() + 1000) as i32);
            outcome = if event.is_null() {
                Err(failure(format!(
                    "IncrementalAlterConfigs {name}: no answer within {TIMEOUT:?}"
                )))
            } else if rd::rd_kafka_event_error(event)
                != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                Err(failure(format!(
                    "IncrementalAlterConfigs {name}: {}",
                    c_text(rd::rd_kafka_event_error_string(event))
                )))
            } else {
                let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
                let mut count = 0usize;
                let resources =
                    rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
                let mut found = Ok(());
                for i in 0..count {
                    let item = *resources.add(i);
                    if rd::rd_kafka_ConfigResource_error(item)
                        != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                    {
                        found = Err(failure(format!(
                            "IncrementalAlterConfigs {name}: {}",
                            c_text(rd::rd_kafka_ConfigResource_error_string(item))
                        )));
                    }
                }
                found
            };
            if !event.is_null() {
                rd::rd_kafka_event_destroy(event);
            }
            rd::rd_kafka_queue_destroy(queue);
            rd::rd_kafka_AdminOptions_destroy(options);
        }
        rd::rd_kafka_ConfigResource_destroy(resource);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_records_come_back_as_messages_with_their_own_bytes() {
        let mut gathered = Gathered::default();
        gathered.push(5, Some(b"k1"), b"{\"a\":1}");
        gathered.push(6, None, b"");
        gathered.push(9, Some(b""), b"{\"a\":3}");
        // Past the first buffer: one record larger than a buffer, then one after it.
        let large: &'static [u8] = Box::leak(vec![b'x'; GATHER_BUFFER + 3].into_boxed_slice());
        gathered.push(10, Some(b"big"), large);
        gathered.push(11, Some(b"k2"), b"{}");
        let message = |offset, key: Option<&'static [u8]>, value: &'static [u8]| Message {
            offset,
            key: key.map(Bytes::from_static),
            value: Bytes::from_static(value),
            buffer: None,
        };
        let messages = gathered.into_messages();
        assert_eq!(
            messages,
            vec![
                message(5, Some(b"k1"), b"{\"a\":1}"),
                message(6, None, b""),
                message(9, Some(b""), b"{\"a\":3}"),
                message(10, Some(b"big"), large),
                message(11, Some(b"k2"), b"{}"),
            ]
        );
        // Each value lies in its buffer followed by a line break; those of one buffer
        // one after the other.
        let place = |m: &Message| {
            let buffer = m.buffer.as_ref().expect("a buffer");
            let start = m.value.as_ptr() as usize - buffer.as_ptr() as usize;
            assert_eq!(&buffer[start..start + m.value.len()], &m.value[..]);
            assert_eq!(buffer[start + m.value.len()], b'\n');
            (buffer.as_ptr(), start..start + m.value.len() + 1)
        };
        let places: Vec<_> = messages.iter().map(place).collect();
        assert_eq!(places[0].1, 0..8);
        for pair in [&places[0..2], &places[1..3]] {
            assert_eq!(pair[0].0, pair[1].0, "one buffer");
            assert_eq!(pair[0].1.end, pair[1].1.start, "one after the other");
        }
        assert_ne!(
            places[2].0, places[3].0,
            "the large value has a buffer of its own"
        );
        assert_ne!(places[3].0, places[4].0, "and the next one another");
    }
}
