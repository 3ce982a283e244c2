//! The deliver flow: a topic's records written to the layout as
//! `<prefix><partition path><topic>+<partition>+<start offset>.<ext>` objects, batch by batch
//! per topic partition, rotated by records, bytes or age.
//!
//! Each topic partition has a state object in the target's store
//! (`_runner/checkpoints/<pipeline>/<flow>/<topic>-<partition>.json`) with the next offset,
//! the batch in flight, and the objects beside it that hold the hashes of the records
//! delivered lately ([`window`]). A batch is delivered in three steps: its offset
//! range is recorded as pending; its objects are written (each whole); the state moves past
//! it and the consumer group's offset is committed. After a crash, a pending batch is
//! delivered again over exactly the same offsets, so it rewrites the same objects with the
//! same rows. Records whose key and bytes were delivered within the flow's dedupe window
//! (default [`DEDUPE_WINDOW`]) are dropped, which absorbs what an ingest crash produced
//! twice. A record that is not a JSON object of the dataset's fields goes to
//! `<prefix>_rejects/<flow>/` with its offset.
//!
//! Several deliver processes of one flow share the partitions through the flow's consumer
//! group ([`crate::backend::Membership`]: Kafka's group protocol, or the local log's). The state
//! object is written with compare-and-swap, so of two workers that both think they own a
//! partition, only one moves it on; the other starts again from what the first stored.

mod batch;
mod claim;
pub mod record_check;
pub mod window;
mod work;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use self::batch::Preparer;
use self::window::Window;
use crate::backend::{Backends, Catalog, Log, Membership, Message, ObjectStore};
use crate::flow::error::FlowError;
use crate::spec::resolve::{Deliver, Sink};
use crate::stop::Stop;

/// How long the hashes of delivered records are kept for dropping duplicates, unless the
/// flow says (`dedupe_window`).
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Records fetched per request.
const FETCH_MAX: usize = 5000;
/// How long a fetch waits for records of an idle partition.
const FETCH_WAIT: Duration = Duration::from_millis(200);
/// How long the records of an interrupted batch are waited for from a log that does not
/// answer.
const REFETCH_PATIENCE: Duration = Duration::from_secs(60);
/// How many records a partition's buffer makes room for when its batch starts, at most.
const BATCH_RESERVE: usize = 100_000;
/// How many objects of a batch are written at once.
const PUTS_AT_ONCE: usize = 16;
/// How many times a partition is taken up again when other workers keep moving it on.
const CLAIM_TRIES: usize = 10;

/// What a deliver run did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The flow.
    pub flow: String,
    /// Records read from the topic.
    pub read: u64,
    /// Records written to the layout.
    pub written: u64,
    /// Records dropped as already delivered (same key and bytes).
    pub duplicates: u64,
    /// Records quarantined as undecodable.
    pub poison: u64,
    /// Batches delivered.
    pub batches: u64,
    /// Objects written.
    pub objects: Vec<String>,
    /// Events of the run that may mean lost or repeated records.
    pub risks: Risks,
    /// Partition folders written that the partition projection of a catalog table over the
    /// layout does not enumerate: Athena does not read their rows.
    pub unprojected: Vec<String>,
    /// With `--once`: the partitions not delivered up to where the topic ended when the run
    /// started, because other live workers still held them when the run's patience ran
    /// out. Empty when every partition was delivered that far.
    pub behind: Vec<Behind>,
}

impl Summary {
    /// Adds what another part of the run did.
    fn add(&mut self, other: Summary) {
        self.read += other.read;
        self.written += other.written;
        self.duplicates += other.duplicates;
        self.poison += other.poison;
        self.batches += other.batches;
        self.objects.extend(other.objects);
        self.risks.add(&other.risks);
    }
}

/// Events of a deliver run that may mean lost or repeated records, each also logged as a
/// warning when it happens.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Risks {
    /// Records of a batch a crash interrupted that the log no longer held when the batch
    /// was delivered again (a broker that lost acknowledged records): lost.
    pub lost_from_log: u64,
    /// Times the log ended below what was delivered (a broker that lost records, or the
    /// topic created again), so its partition was read again from its start.
    pub log_rewinds: u64,
    /// Objects of the dedupe window that were missing when a partition was taken up: the
    /// records they covered are no longer dropped as duplicates.
    pub dedupe_gaps: u64,
    /// Offsets the log skipped between what was delivered and the records read next: no
    /// record came back for them (removed by retention before they were delivered, or a
    /// broker that lost or would not serve them). Counted as lost.
    pub offsets_skipped: u64,
}

impl Risks {
    fn add(&mut self, other: &Risks) {
        self.lost_from_log += other.lost_from_log;
        self.log_rewinds += other.log_rewinds;
        self.dedupe_gaps += other.dedupe_gaps;
        self.offsets_skipped += other.offsets_skipped;
    }

    /// Whether the run kept its guarantee: no record lost, none let through twice.
    pub fn kept(&self) -> bool {
        self.lost_from_log == 0 && self.dedupe_gaps == 0 && self.offsets_skipped == 0
    }
}

/// A partition a `--once` run left behind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Behind {
    /// The partition.
    pub partition: u32,
    /// The first offset not delivered.
    pub delivered_to: u64,
    /// Where the topic ended when the run started.
    pub end: u64,
}

/// One topic partition's state in the object store.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The first offset not yet delivered.
    next_offset: u64,
    /// The batch being delivered: `[start, end)` offsets.
    pending: Option<(u64, u64)>,
    /// The objects that hold the hashes of the records delivered within the dedupe window.
    #[serde(default)]
    recent: Vec<window::Listed>,
    /// How many times the log went back below `next_offset` (a broker that lost records
    /// it had acknowledged, a topic deleted and created again). The offsets it hands out
    /// next were used before, so objects of a later epoch carry it in their names and
    /// never replace earlier ones.
    #[serde(default)]
    epoch: u32,
}

/// Records of one partition waiting to be written.
#[derive(Default)]
struct Buffer {
    messages: Vec<Message>,
    bytes: u64,
    since: Option<Instant>,
}

/// How a partition folder's registration with the catalog ended, once it has.
type Registration = Option<Result<(), String>>;

/// Runs deliver flow `name` as one worker of the flow's consumer group (see [`Membership`]):
/// until `stop` is set, or with `once` (its patience), until every partition of the topic
/// is delivered up to where it ended when the run started. Partitions other live workers
/// hold are waited for, and taken up when their holder's session ends; those still behind
/// when the patience runs out are listed in the summary's `behind`. Batches buffered when
/// it stops are delivered first.
pub async fn run(
    flow: &Deliver<'_>,
    backends: &Backends,
    once: Option<Duration>,
    stop: Stop,
) -> Result<Summary, FlowError> {
    let (name, spec, sink) = (flow.name, flow.flow, &flow.sink);
    let log = backends.log()?;
    let schema = crate::clean::output_schema(flow.dataset);
    let partitions = log
        .partition_count(&spec.from_topic)
        .await?
        .ok_or_else(|| {
            format!(
                "topic '{}' does not exist: run `runner apply` first",
                spec.from_topic
            )
        })?;
    let rotate = sink.layout.rotate.clone().unwrap_or_default();
    let preparer = Preparer::new(schema, sink.layout, &spec.from_topic, name)?;
    let job = Job {
        pipeline: flow.pipeline,
        name,
        sink,
        topic: &spec.from_topic,
        group: &spec.group,
        preparer: Arc::new(preparer),
        log,
        objects: backends.objects.as_ref(),
        catalog: backends.catalog.as_ref(),
        bucket: sink.bucket,
        max_records: rotate.max_records.unwrap_or(10_000).max(1) as usize,
        max_bytes: rotate.max_bytes.map_or(64 << 20, |s| s.0),
        max_age: rotate.max_age.map_or(Duration::from_secs(60), |d| d.0),
        dedupe_window: spec.dedupe_window.map_or(DEDUPE_WINDOW, |d| d.0),
        registered: Mutex::new(HashMap::new()),
        dedupe_gaps: std::sync::atomic::AtomicU64::new(0),
        member: log.join(&spec.group, &spec.from_topic, partitions).await?,
    };
    let mut summary = Summary {
        flow: name.to_owned(),
        ..Summary::default()
    };
    let result = job.work(partitions, once, &stop, &mut summary).await;
    job.member.leave().await;
    result?;
    summary.risks.dedupe_gaps += job.dedupe_gaps.into_inner();
    summary.objects.sort();
    summary.objects.dedup();
    summary.unprojected = crate::flow::register::unprojected(sink, flow.dataset, &summary.objects);
    Ok(summary)
}

/// A topic partition this worker reads: its state as stored (and the state object's
/// version, for compare and swap), the hashes its state's dedupe window holds, the records
/// buffered, and the next offset to fetch.
struct Slot {
    state: State,
    version: Option<String>,
    window: Window,
    buffer: Buffer,
    position: u64,
}

/// What one run of the flow works with.
struct Job<'a> {
    pipeline: &'a str,
    name: &'a str,
    /// Where the flow writes, and the catalog tables it registers partitions with.
    sink: &'a Sink<'a>,
    topic: &'a str,
    group: &'a str,
    /// What turns a batch into the bodies of its objects.
    preparer: Arc<Preparer>,
    log: &'a dyn Log,
    objects: &'a dyn ObjectStore,
    catalog: &'a dyn Catalog,
    bucket: &'a str,
    max_records: usize,
    max_bytes: u64,
    max_age: Duration,
    dedupe_window: Duration,
    /// The partition folders this run registers with the catalog, each with the outcome
    /// of its registration once known, shared by the batches delivered side by side. A
    /// failed registration stays failed for the run: any batch's error ends the run, and
    /// the next one starts with none.
    registered: Mutex<HashMap<String, watch::Receiver<Registration>>>,
    /// Objects of the dedupe window found missing when partitions were taken up.
    dedupe_gaps: std::sync::atomic::AtomicU64,
    /// This worker's membership in the flow's consumer group, which assigns its
    /// partitions and takes its committed offsets.
    member: Box<dyn Membership>,
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
