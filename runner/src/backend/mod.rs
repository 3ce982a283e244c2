//! The I/O seams: one trait per role, each with an embedded `local` implementation and a
//! real one. Nothing else talks to S3, Glue, Kafka or Athena.
//!
//! Attributes are exchanged in the shape [`crate::resource::desired`] produces, so plans
//! compare like with like.

pub mod athena;
pub mod embedded;
pub mod glue;
pub mod kafka;
pub mod local;
pub mod remote;
pub mod s3;
pub mod stall_guard;
pub mod target;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::resource::Attrs;

/// A backend failure, naming the service and what it said.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The service answered with an error.
    #[error("{service}: {message}")]
    Service {
        /// `s3`, `glue`, `kafka`, `athena`, `embedded` or `local`.
        service: &'static str,
        /// What happened.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// An AWS SDK error as a [`BackendError`]: the service's error code and message, or the
/// transport's reason (timeout, connection refused, ...).
pub(crate) fn sdk_failure<E, R>(
    service: &'static str,
    what: &str,
    error: aws_sdk_s3::error::SdkError<E, R>,
) -> BackendError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = match error.as_service_error() {
        Some(e) => format!(
            "{what}: {} {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or_default()
        ),
        None => format!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&error)),
    };
    BackendError::Service { service, message }
}

/// The HTTP client for plain GET and HEAD requests (presigned S3 reads, http(s) sources):
/// 10 s to connect, 60 s for the response to start; a body is then read as it arrives.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(10)))
        .timeout_recv_response(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

/// Results of backend calls.
pub type Result<T> = std::result::Result<T, BackendError>;

/// Buckets and objects (S3, or a directory on the local target).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// A bucket's `region` and `tags`, or `None` when it does not exist.
    async fn bucket(&self, bucket: &str) -> Result<Option<Attrs>>;
    /// Creates a bucket in `region` with `tags`.
    async fn create_bucket(
        &self,
        bucket: &str,
        region: &str,
        tags: &Map<String, Value>,
    ) -> Result<()>;
    /// Replaces a bucket's tags.
    async fn set_bucket_tags(&self, bucket: &str, tags: &Map<String, Value>) -> Result<()>;
    /// Deletes an empty bucket.
    async fn delete_bucket(&self, bucket: &str) -> Result<()>;
    /// Writes an object whole.
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()>;
    /// Writes an object whole, its body the `parts` one after the other (slices of other
    /// buffers, say), without copying them into one buffer first.
    async fn put_parts(&self, bucket: &str, key: &str, parts: Vec<Bytes>) -> Result<()>;
    /// Writes an object only if no object has that key; `false` when one exists.
    async fn put_if_absent(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<bool>;
    /// Reads an object, or `None` when it does not exist.
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>>;
    /// Reads an object with its version (the ETag on S3, a hash of the content locally),
    /// for a later [`ObjectStore::put_if_version`]; `None` when it does not exist.
    async fn get_versioned(&self, bucket: &str, key: &str) -> Result<Option<(Vec<u8>, String)>>;
    /// Compare and swap: writes an object only if its version is still `version` (with
    /// `None`, only if there is no such object). The new version, or `None` when another
    /// writer changed the object first and nothing was written.
    async fn put_if_version(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> Result<Option<String>>;
    /// Deletes an object (no error when it does not exist).
    async fn delete(&self, bucket: &str, key: &str) -> Result<()>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>>;
    /// An object's size and version (ETag, or modification time locally), or `None`.
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>>;
    /// An object's body as a blocking stream, read as it arrives (never downloaded whole
    /// first). Meant for a blocking reader such as the CSV source.
    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn std::io::Read + Send>>;
    /// Writes the local file at `path` as an object, in parts when it is large (S3 multipart
    /// upload), so memory stays bounded; the object appears only once it is whole.
    async fn put_file(&self, bucket: &str, key: &str, path: &std::path::Path) -> Result<()>;
}

/// What [`ObjectStore::head`] tells about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub size: u64,
    /// What changes when its content does: the ETag on S3, the modification time locally.
    pub version: String,
}

/// Databases and tables (Glue, or JSON files on the local target).
#[async_trait]
pub trait Catalog: Send + Sync {
    /// A database's `description` and `parameters`, or `None`.
    async fn database(&self, name: &str) -> Result<Option<Attrs>>;
    /// Creates a database.
    async fn create_database(&self, name: &str, attrs: &Attrs) -> Result<()>;
    /// Updates a database in place.
    async fn update_database(&self, name: &str, attrs: &Attrs) -> Result<()>;
    /// Deletes a database.
    async fn delete_database(&self, name: &str) -> Result<()>;
    /// A table's attributes, or `None`.
    async fn table(&self, database: &str, name: &str) -> Result<Option<Attrs>>;
    /// Every table of a database with its attributes.
    async fn tables(&self, database: &str) -> Result<Vec<(String, Attrs)>>;
    /// Creates a table.
    async fn create_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()>;
    /// Updates a table in place.
    async fn update_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()>;
    /// Deletes a table.
    async fn delete_table(&self, database: &str, name: &str) -> Result<()>;
    /// Registers partitions of a table; ones already registered are left as they are.
    async fn add_partitions(
        &self,
        database: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<()>;
    /// The registered partitions of a table, sorted by values.
    async fn partitions(&self, database: &str, table: &str) -> Result<Vec<Partition>>;
}

/// A registered partition: its values (in partition-key order) and where its files are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    /// The partition values, e.g. `["2024", "3"]`.
    pub values: Vec<String>,
    /// The location, e.g. `s3://seattle-911/historical/year=2024/month=3/`.
    pub location: String,
}

/// Topics (Kafka, or a file-backed log on the local target).
#[async_trait]
pub trait Log: Send + Sync {
    /// A topic's `partitions`, `replication_factor` and `config` (every config the system
    /// reports), or `None`.
    async fn topic(&self, name: &str) -> Result<Option<Attrs>>;
    /// How many partitions topic `name` has, or `None` when it does not exist.
    async fn partition_count(&self, name: &str) -> Result<Option<u32>> {
        Ok(self
            .topic(name)
            .await?
            .and_then(|t| t.get("partitions").and_then(Value::as_u64))
            .map(|p| u32::try_from(p).unwrap_or(u32::MAX)))
    }
    /// Creates a topic.
    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        config: &Map<String, Value>,
    ) -> Result<()>;
    /// Sets the given configs (others keep their values).
    async fn set_topic_config(&self, name: &str, config: &Map<String, Value>) -> Result<()>;
    /// Raises the partition count to `total`.
    async fn add_partitions(&self, name: &str, total: u32) -> Result<()>;
    /// Deletes a topic.
    async fn delete_topic(&self, name: &str) -> Result<()>;
    /// Starts getting ready to produce to `topic`, on a thread of its own: a remote client
    /// connects and learns the topic's partitions while the caller prepares its first
    /// records, rather than on the first produce, which reports any failure. Nothing to do
    /// for a local log.
    fn prepare(&self, _topic: &str) {}

    /// The caller needs no admin operation for a while: a client kept for them may be let
    /// go (its teardown then overlaps the caller's other work; a later operation makes a
    /// new one). Nothing to do for a local log.
    fn release_admin(&self) {}
    /// Appends `records` and returns once the log acknowledged every one, with the
    /// partition and offset each got. A record's partition is chosen from its key (the same
    /// key always lands in the same partition) or round-robin without a key.
    async fn produce(&self, topic: &str, records: &[Record<'_>]) -> Result<Vec<(u32, u64)>>;
    /// Up to `max` messages of one partition from `offset` on, in offset order; fewer (or
    /// none) when the partition has no more within `wait`.
    async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<Message>>;
    /// The position consumer group `group` committed in a partition, if any.
    async fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>>;
    /// Where a partition ends now (the offset its next record will get), asked of the log
    /// through `group`'s client (which joins no group for it).
    async fn end_offset(&self, group: &str, topic: &str, partition: u32) -> Result<u64>;
    /// Joins consumer group `group` as a reader of `topic` (of `partitions` partitions):
    /// from then on the group decides which partitions this worker reads (Kafka's group
    /// protocol with the cooperative-sticky assignor; on the local log, its member files).
    async fn join(&self, group: &str, topic: &str, partitions: u32) -> Result<Box<dyn Membership>>;
    /// How long a read should wait on a partition before a one-shot consumer counts it as
    /// drained: a remote broker can take seconds to serve records it holds (a new
    /// connection, or a restarted broker reading its log back from storage).
    fn idle_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
    /// Where a partition ended (its next offset) when this client last fetched from it, as
    /// the log said in that answer; `None` when no fetch told it. A one-shot consumer that
    /// stands there need not wait [`Log::idle_wait`].
    fn fetched_end(&self, _topic: &str, _partition: u32) -> Option<u64> {
        None
    }
}

/// A worker's membership in the consumer group that reads a topic: the group decides which
/// of the topic's partitions the worker reads, and takes its committed positions.
#[async_trait]
pub trait Membership: Send + Sync {
    /// The partitions this worker reads now, after serving what the group sent meanwhile (a
    /// rebalance, its heartbeats); `None` until the worker has joined the group. Call it
    /// about every second: it is also how the worker shows it is alive.
    async fn assignment(&self) -> Result<Option<std::collections::BTreeSet<u32>>>;
    /// Records `next_offset` as the group's position in `partition`, as a member.
    async fn commit(&self, partition: u32, next_offset: u64) -> Result<()>;
    /// Leaves the group at once: the others take up its partitions.
    async fn leave(&self);
}

/// A record to append to a topic, borrowed from the caller's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The key (the dataset key), which picks the partition.
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub value: &'a [u8],
}

/// A record read back from a partition. Its bytes may be slices of one buffer that a whole
/// fetch was read into, so reading allocates nothing per record.
#[derive(Clone)]
pub struct Message {
    /// Its offset in the partition.
    pub offset: u64,
    /// Its key.
    pub key: Option<Bytes>,
    /// Its payload.
    pub value: Bytes,
    /// The buffer `value` is a slice of, when that buffer holds a line break right after
    /// it and the values fetched next right after that (Kafka fetches): a JSON-lines
    /// object of records fetched one after the other is then a slice of the buffer, not
    /// a copy (deliver's). Not part of the record: equal messages may differ here.
    pub buffer: Option<Bytes>,
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        (self.offset, &self.key, &self.value) == (other.offset, &other.key, &other.value)
    }
}

impl Eq for Message {}

impl Message {
    /// Messages of `values` (offsets from 0, no keys, no buffers), for tests.
    #[cfg(test)]
    pub fn numbered<V: AsRef<[u8]>>(values: &[V]) -> Vec<Message> {
        values
            .iter()
            .enumerate()
            .map(|(i, value)| Message {
                offset: i as u64,
                key: None,
                value: Bytes::copy_from_slice(value.as_ref()),
                buffer: None,
            })
            .collect()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("offset", &self.offset)
            .field("key", &self.key)
            .field("value", &self.value)
            .field(
                "buffer",
                &self.buffer.as_ref().map(|b| format!("{} bytes", b.len())),
            )
            .finish()
    }
}

/// A query's answer: its columns and rows as Arrow batches.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The columns.
    pub schema: arrow_schema::SchemaRef,
    /// The rows.
    pub batches: Vec<arrow_array::RecordBatch>,
}

/// A query's answer as it is read: its columns, then its rows in Arrow batches, each read
/// when the one before has been taken.
pub struct AnswerStream {
    /// The columns.
    pub schema: arrow_schema::SchemaRef,
    /// The rows; an error ends them.
    pub batches: futures_util::stream::BoxStream<'static, Result<arrow_array::RecordBatch>>,
}

/// SQL over the catalog's tables (Athena, or the embedded engine on the same files).
#[async_trait]
pub trait QueryEngine: Send + Sync {
    /// `athena` or `embedded`.
    fn name(&self) -> &'static str;
    /// How a query names table `table` of `database` on this engine.
    fn table_ref(&self, database: &str, table: &str) -> String;
    /// Runs one statement; its rows are read as the answer's batches are taken.
    async fn query_stream(&self, sql: &str) -> Result<AnswerStream>;
    /// Runs one statement and returns its whole answer.
    async fn query(&self, sql: &str) -> Result<Answer> {
        use futures_util::TryStreamExt;
        let AnswerStream { schema, batches } = self.query_stream(sql).await?;
        let batches = batches.try_collect().await?;
        Ok(Answer { schema, batches })
    }
}

/// Athena as a target offers it: a client and the target's settings.
#[derive(Clone, Debug)]
pub struct AthenaAccess {
    /// The client.
    pub client: aws_sdk_athena::Client,
    /// Workgroup and output location.
    pub settings: crate::spec::target::Athena,
}

/// The three backends of one target.
pub struct Backends {
    /// The target's name (`local` or a `targets:` entry).
    pub target: String,
    /// The region buckets are created in.
    pub region: String,
    /// Buckets and objects.
    pub objects: Box<dyn ObjectStore>,
    /// Databases and tables.
    pub catalog: Box<dyn Catalog>,
    /// Topics; `None` on a remote target without a `kafka:` section (then the pipeline
    /// declares no topics).
    pub log: Option<Box<dyn Log>>,
    /// How an in-process query engine reads the bucket's files.
    pub files: embedded::FileAccess,
    /// Athena, on a remote target with an `athena:` section.
    pub athena: Option<AthenaAccess>,
}

impl Backends {
    /// The topic backend, or an error saying the target has none.
    pub fn log(&self) -> Result<&dyn Log> {
        self.log.as_deref().ok_or_else(|| BackendError::Service {
            service: "kafka",
            message: format!("target '{}' has no kafka: section", self.target),
        })
    }
}
