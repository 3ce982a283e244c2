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
pub mod record_check;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use self::batch::{Prepared, Preparer};
use self::window::Window;
use crate::backend::{Backends, Catalog, Log, Membership, Message, ObjectStore};
use crate::spec::Pipeline;
use crate::spec::flow::Flow;
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
    pipeline: &Pipeline,
    name: &str,
    backends: &Backends,
    once: Option<Duration>,
    stop: Stop,
) -> Result<Summary, String> {
    let Some(Flow::Deliver(flow)) = pipeline.flows.get(name) else {
        return Err(format!("'{name}' is not a deliver flow"));
    };
    let log = backends.log().map_err(|e| e.to_string())?;
    let storage = pipeline
        .storage
        .as_ref()
        .ok_or("the pipeline has no storage")?;
    let layout = &storage.layouts[&flow.to];
    let dataset_name = flow
        .dataset
        .clone()
        .or_else(|| {
            pipeline.flows.values().find_map(|f| match f {
                Flow::Ingest(i) if i.to_topic == flow.from_topic => Some(i.clean.clone()),
                _ => None,
            })
        })
        .ok_or_else(|| {
            format!(
                "flow '{name}': no ingest flow writes topic '{}'; name the records' dataset with `dataset:`",
                flow.from_topic
            )
        })?;
    let schema = crate::clean::output_schema(&pipeline.datasets[&dataset_name]);
    let partitions = log
        .partition_count(&flow.from_topic)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "topic '{}' does not exist: run `runner apply` first",
                flow.from_topic
            )
        })?;
    let rotate = layout.rotate.clone().unwrap_or_default();
    let preparer = Preparer::new(schema, layout, &flow.from_topic, name)?;
    let job = Job {
        pipeline,
        name,
        layout_name: &flow.to,
        topic: &flow.from_topic,
        group: &flow.group,
        preparer: Arc::new(preparer),
        log,
        objects: backends.objects.as_ref(),
        catalog: backends.catalog.as_ref(),
        bucket: &storage.bucket,
        max_records: rotate.max_records.unwrap_or(10_000).max(1) as usize,
        max_bytes: rotate.max_bytes.map_or(64 << 20, |s| s.0),
        max_age: rotate.max_age.map_or(Duration::from_secs(60), |d| d.0),
        dedupe_window: flow.dedupe_window.map_or(DEDUPE_WINDOW, |d| d.0),
        registered: Mutex::new(HashMap::new()),
        dedupe_gaps: std::sync::atomic::AtomicU64::new(0),
        member: log
            .join(&flow.group, &flow.from_topic, partitions)
            .await
            .map_err(|e| e.to_string())?,
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
    pipeline: &'a Pipeline,
    name: &'a str,
    layout_name: &'a str,
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

impl Job<'_> {
    /// Reads the partitions the group assigns this worker until `stop` is set or,
    /// with `once` (its patience), until every partition is delivered up to where the
    /// topic ended at the start (see [`run`]). Batches buffered when it stops, or of a
    /// partition handed to another worker, are delivered first.
    async fn work(
        &self,
        partitions: u32,
        once: Option<Duration>,
        stop: &Stop,
        summary: &mut Summary,
    ) -> Result<(), String> {
        let log = self.log;
        let ends = match once {
            Some(_) => self.ends(partitions).await?,
            None => Vec::new(),
        };
        let started = Instant::now();
        let mut slots: BTreeMap<u32, Slot> = BTreeMap::new();
        let mut idle_passes = 0;
        let mut joined = false;
        loop {
            // Until it has joined, or when the group fails to answer, the worker keeps the
            // partitions it has.
            let share = match self.member.assignment().await {
                Ok(share) => share,
                Err(e) => {
                    tracing::warn!(flow = self.name, error = %e, "the group heartbeat failed");
                    None
                }
            };
            joined |= share.is_some();
            if let Some(share) = share {
                let handed: Vec<u32> = slots
                    .keys()
                    .filter(|p| !share.contains(p))
                    .copied()
                    .collect();
                // What the partitions handed over have buffered is delivered side by side
                // first; one another worker already moved on is simply let go.
                self.flush_side_by_side(&mut slots, &handed, summary)
                    .await?;
                for partition in handed {
                    slots.remove(&partition);
                    tracing::info!(
                        flow = self.name,
                        partition,
                        "partition handed to another worker"
                    );
                }
                // The states of the partitions taken up are read side by side.
                let new: Vec<u32> = share
                    .into_iter()
                    .filter(|p| !slots.contains_key(p))
                    .collect();
                let loaded =
                    futures_util::future::join_all(new.iter().map(|&p| self.load(p))).await;
                for (partition, slot) in new.into_iter().zip(loaded) {
                    slots.insert(
                        partition,
                        self.claim(partition, Some(slot?), summary).await?,
                    );
                    tracing::info!(flow = self.name, partition, "partition taken up");
                }
            }
            // A one-shot run confirms an idle pass with a patient one before it stops.
            let wait = if idle_passes == 0 {
                FETCH_WAIT
            } else {
                log.idle_wait()
            };
            // Every partition is read at once; the batches are then handled in order. A
            // one-shot run does not wait on a partition standing right where the topic
            // ended when it started (one below it may have been created again: its fetch
            // shows that).
            let fetches = slots.iter().map(|(&partition, slot)| {
                let room = self.max_records - slot.buffer.messages.len();
                let done = once.is_some() && ends.get(partition as usize) == Some(&slot.position);
                let position = slot.position;
                async move {
                    if done {
                        return Ok(Vec::new());
                    }
                    log.fetch(self.topic, partition, position, room.min(FETCH_MAX), wait)
                        .await
                }
            });
            let fetched_all = futures_util::future::join_all(fetches).await;
            // A worker the group gave no partition (yet) waits as a fetch would.
            if slots.is_empty() {
                tokio::time::sleep(wait).await;
            }
            let mut idle = true;
            let mut lost = Vec::new();
            let mut due = Vec::new();
            for ((&partition, slot), fetched) in slots.iter_mut().zip(fetched_all) {
                let mut fetched = fetched.map_err(|e| e.to_string())?;
                if let Some(end) = log.fetched_end(self.topic, partition)
                    && end < slot.position
                    && !self.rewind(partition, slot, end, summary).await?
                {
                    lost.push(partition);
                    continue;
                }
                // Records below the position were delivered already (a log that went back
                // starts its answers at its beginning).
                fetched.retain(|m| m.offset >= slot.position);
                tracing::debug!(
                    partition,
                    from = slot.position,
                    got = fetched.len(),
                    "fetched"
                );
                let buffer = &mut slot.buffer;
                if let Some(last) = fetched.last() {
                    idle = false;
                    slot.position = last.offset + 1;
                    summary.read += fetched.len() as u64;
                    buffer.since.get_or_insert_with(Instant::now);
                    buffer.bytes += fetched.iter().map(|m| m.value.len() as u64).sum::<u64>();
                    // Room for the whole batch at once: growing a batch of tens of thousands
                    // of records by doubling copies it several times into new memory.
                    if buffer.messages.is_empty() {
                        buffer.messages.reserve(self.max_records.min(BATCH_RESERVE));
                    }
                    buffer.messages.extend(fetched);
                }
                let full =
                    buffer.messages.len() >= self.max_records || buffer.bytes >= self.max_bytes;
                let old = buffer.since.is_some_and(|s| s.elapsed() >= self.max_age);
                if full || old {
                    due.push(partition);
                }
            }
            lost.extend(self.flush_side_by_side(&mut slots, &due, summary).await?);
            // Another worker moved a partition on meanwhile: start again from its state.
            for partition in lost {
                slots.insert(partition, self.claim(partition, None, summary).await?);
            }
            idle_passes = if idle { idle_passes + 1 } else { 0 };
            // A one-shot run stops at once where its partitions are read up to where the
            // topic ended when it started, or where the log's fetch answers said they end;
            // otherwise after an idle pass confirmed by a patient one.
            let at_ends = || {
                slots.iter().all(|(&partition, slot)| {
                    let at_start = ends.get(partition as usize).copied();
                    at_start.is_some_and(|end| slot.position >= end)
                        || log
                            .fetched_end(self.topic, partition)
                            .is_some_and(|end| slot.position >= end)
                })
            };
            // Caught up only once the group has said which partitions are this worker's.
            let caught_up = joined && (idle_passes >= 2 || at_ends());
            if stop.is_set() || (once.is_some() && caught_up) {
                let all: Vec<u32> = slots.keys().copied().collect();
                lost = self.flush_side_by_side(&mut slots, &all, summary).await?;
                let Some(patience) = once.filter(|_| !stop.is_set()) else {
                    return Ok(());
                };
                // This worker's share is done; the others' may not be.
                summary.behind = self.behind(&ends, &slots).await?;
                if summary.behind.is_empty() || started.elapsed() >= patience {
                    return Ok(());
                }
                for partition in lost {
                    slots.insert(partition, self.claim(partition, None, summary).await?);
                }
                tracing::info!(
                    flow = self.name,
                    behind = ?summary.behind.iter().map(|b| b.partition).collect::<Vec<_>>(),
                    "waiting for partitions other workers hold"
                );
            }
        }
    }

    /// Takes up a partition: its state from the store (`loaded`, when the caller read it
    /// already; the first time, the consumer group's committed offset), and a batch a crash
    /// interrupted delivered again. When another worker moves the state on meanwhile, it
    /// starts again from what that one stored, a few times at most.
    async fn claim(
        &self,
        partition: u32,
        mut loaded: Option<Slot>,
        summary: &mut Summary,
    ) -> Result<Slot, String> {
        for _ in 0..CLAIM_TRIES {
            let mut slot = match loaded.take() {
                Some(slot) => slot,
                None => self.load(partition).await?,
            };
            let Some((start, end)) = slot.state.pending else {
                return Ok(slot);
            };
            tracing::warn!(
                partition,
                start,
                end,
                "delivering the batch a crash interrupted again"
            );
            let messages = self.refetch(partition, start, end).await?;
            summary.risks.lost_from_log += (end - start).saturating_sub(messages.len() as u64);
            let done = if messages.is_empty() {
                // The log lost the whole batch: nothing can be delivered again.
                slot.state.pending = None;
                slot.state.next_offset = slot.state.next_offset.max(end);
                self.save(partition, &mut slot).await?
            } else {
                self.deliver(partition, &mut slot, messages, summary)
                    .await?
            };
            if done {
                slot.position = slot.state.next_offset;
                return Ok(slot);
            }
        }
        Err(format!(
            "partition {partition}: its state changed under this worker {CLAIM_TRIES} times in a row; \
             is another deliver of this flow running with another object store view?"
        ))
    }

    /// A partition's state as stored, with its version; a partition without one starts at
    /// the consumer group's committed offset (else at the beginning).
    async fn load(&self, partition: u32) -> Result<Slot, String> {
        let mut tries = 0;
        let (state, version, window) = loop {
            tries += 1;
            let (state, version) = self.stored_state(partition).await?;
            let (window, missing) = Window::load(
                self.objects,
                self.bucket,
                &self.hashes_folder(),
                &state.recent,
                self.horizon(),
            )
            .await?;
            // A hashes object is deleted only once a state that no longer lists it is
            // stored: one missing means another worker replaced this state meanwhile, and
            // a window read in part would let through records it dropped. Read it again.
            if missing.is_empty() || tries == CLAIM_TRIES {
                if !missing.is_empty() {
                    self.dedupe_gaps
                        .fetch_add(missing.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        flow = self.name,
                        partition,
                        ?missing,
                        "hashes objects of the dedupe window are not there; their records \
                         are no longer dropped as duplicates"
                    );
                }
                break (state, version, window);
            }
        };
        Ok(Slot {
            position: state.next_offset,
            state,
            version,
            window,
            buffer: Buffer::default(),
        })
    }

    /// The log now ends at `end`, below this worker's position: it lost records this worker
    /// had read and will hand their offsets to new records, or it is a new topic of the
    /// same name whose records below `end` are all new. Offsets cannot tell the two apart,
    /// so after delivering what is buffered, the partition is read again from its start in
    /// a new epoch, and the dedupe window drops the records delivered before. `false` when
    /// another worker moved the partition on meanwhile.
    async fn rewind(
        &self,
        partition: u32,
        slot: &mut Slot,
        end: u64,
        summary: &mut Summary,
    ) -> Result<bool, String> {
        if !self.flush(partition, slot, summary).await? {
            return Ok(false);
        }
        tracing::warn!(
            flow = self.name,
            partition,
            end,
            position = slot.position,
            "the log now ends below what was delivered: the broker lost records or the topic \
             was created again; reading it again from its start, in a new epoch"
        );
        summary.risks.log_rewinds += 1;
        slot.state.epoch += 1;
        slot.state.next_offset = 0;
        slot.position = 0;
        self.save(partition, slot).await
    }

    /// Delivers what the `partitions` have buffered, side by side; the partitions another
    /// worker moved on meanwhile (see [`Job::deliver`]).
    async fn flush_side_by_side(
        &self,
        slots: &mut BTreeMap<u32, Slot>,
        partitions: &[u32],
        summary: &mut Summary,
    ) -> Result<Vec<u32>, String> {
        let flushes = slots
            .iter_mut()
            .filter(|(partition, _)| partitions.contains(partition))
            .map(|(&partition, slot)| async move {
                let mut part = Summary::default();
                let done = self.flush(partition, slot, &mut part).await;
                (partition, done, part)
            });
        let mut lost = Vec::new();
        for (partition, done, part) in futures_util::future::join_all(flushes).await {
            summary.add(part);
            if !done? {
                lost.push(partition);
            }
        }
        Ok(lost)
    }

    /// Delivers what a partition has buffered, as [`Job::deliver`] does.
    async fn flush(
        &self,
        partition: u32,
        slot: &mut Slot,
        summary: &mut Summary,
    ) -> Result<bool, String> {
        let messages = std::mem::take(&mut slot.buffer).messages;
        self.deliver(partition, slot, messages, summary).await
    }

    /// Where each partition of the topic ends now (its next offset).
    async fn ends(&self, partitions: u32) -> Result<Vec<u64>, String> {
        let asks = (0..partitions).map(|p| self.log.end_offset(self.group, self.topic, p));
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .map(|end| end.map_err(|e| e.to_string()))
            .collect()
    }

    /// The partitions not yet delivered up to `ends`: this worker's as its `slots` hold
    /// them, the others' as their stored state (or the group's committed offset) says.
    async fn behind(
        &self,
        ends: &[u64],
        slots: &BTreeMap<u32, Slot>,
    ) -> Result<Vec<Behind>, String> {
        let mut behind = Vec::new();
        for (partition, &end) in (0u32..).zip(ends) {
            let delivered_to = match slots.get(&partition) {
                Some(slot) => slot.state.next_offset,
                None => self.delivered_to(partition).await?,
            };
            if delivered_to < end {
                behind.push(Behind {
                    partition,
                    delivered_to,
                    end,
                });
            }
        }
        Ok(behind)
    }

    /// The first offset of a partition not delivered (see [`Job::stored_state`]), without
    /// taking it up.
    async fn delivered_to(&self, partition: u32) -> Result<u64, String> {
        Ok(self.stored_state(partition).await?.0.next_offset)
    }

    /// A partition's state as stored, with its version; a partition without one starts at
    /// the consumer group's committed offset (else at the beginning), with no version.
    async fn stored_state(&self, partition: u32) -> Result<(State, Option<String>), String> {
        let stored = self
            .objects
            .get_versioned(self.bucket, &self.state_key(partition))
            .await
            .map_err(|e| e.to_string())?;
        if let Some((body, version)) = stored {
            let state = serde_json::from_slice::<State>(&body)
                .map_err(|e| format!("{}: {e}", self.state_key(partition)))?;
            return Ok((state, Some(version)));
        }
        let committed = self
            .log
            .committed(self.group, self.topic, partition)
            .await
            .map_err(|e| e.to_string())?;
        let state = State {
            next_offset: committed.unwrap_or(0),
            ..State::default()
        };
        Ok((state, None))
    }

    /// Writes a partition's state if no other worker wrote it since this one read it;
    /// `false` when one did (and nothing was written).
    async fn save(&self, partition: u32, slot: &mut Slot) -> Result<bool, String> {
        let body = serde_json::to_vec(&slot.state).map_err(|e| e.to_string())?;
        self.store_state(partition, body, &mut slot.version).await
    }

    /// Writes state `body` of a partition if the stored state is still at `version`, and
    /// moves `version` on; `false` when another worker wrote it meanwhile.
    async fn store_state(
        &self,
        partition: u32,
        body: Vec<u8>,
        version: &mut Option<String>,
    ) -> Result<bool, String> {
        let written = self
            .objects
            .put_if_version(
                self.bucket,
                &self.state_key(partition),
                body,
                version.as_deref(),
            )
            .await
            .map_err(|e| e.to_string())?;
        match written {
            Some(new) => {
                *version = Some(new);
                Ok(true)
            }
            None => {
                tracing::warn!(
                    flow = self.name,
                    partition,
                    "another worker moved this partition on; its batch is left to it"
                );
                Ok(false)
            }
        }
    }

    /// Registers the catalog partitions of a batch's data `objects` (key, body, records)
    /// while its `others` (its quarantine and hashes objects) are written, then writes the
    /// data objects. The data objects' keys and how many records they hold.
    async fn write(
        &self,
        objects: Vec<(String, Vec<bytes::Bytes>, u64)>,
        others: Vec<(String, Vec<u8>)>,
    ) -> Result<(Vec<String>, u64), String> {
        // Each partition folder is registered once per run, not with every batch: by the
        // first batch with records in it. Another batch with records there waits for that
        // registration and fails with it, so no batch moves on with a folder unregistered
        // (it stays pending, and registers the folder when it is delivered again).
        let (outcome, known) = watch::channel(None);
        let mut unregistered = Vec::new();
        let mut awaited = Vec::new();
        {
            let mut registered = self.registered.lock().map_err(|e| e.to_string())?;
            for (key, _, _) in &objects {
                let folder = &key[..key.rfind('/').map_or(0, |i| i + 1)];
                match registered.get(folder) {
                    Some(theirs) => awaited.push(theirs.clone()),
                    None => {
                        registered.insert(folder.to_owned(), known.clone());
                        // One object of each folder names it.
                        unregistered.push(key.clone());
                    }
                }
            }
        }
        // The catalog partitions are registered while the quarantined records and the
        // hashes are written, and the data objects go in once every folder they lie in is
        // registered: an object that exists has its folder in the catalog, whatever then
        // becomes of the batch or of its records in the log. Each object is whole or absent,
        // and until the partition's state moves past the batch, a crash delivers it again
        // into the same objects. A catalog partition registered before its objects are
        // there shows no rows meanwhile.
        let registering = async {
            if !unregistered.is_empty() {
                let registered = crate::flow::register::partitions(
                    self.pipeline,
                    self.layout_name,
                    self.bucket,
                    &unregistered,
                    self.catalog,
                )
                .await;
                outcome.send_replace(Some(registered.clone()));
                registered?;
            }
            // Another batch's failure is this one's too, with its reason.
            for mut theirs in awaited {
                match theirs.wait_for(Option::is_some).await.as_deref() {
                    Ok(Some(Ok(()))) => {}
                    Ok(Some(Err(e))) => return Err(e.clone()),
                    // Only a batch whose writing was dropped from outside leaves no word.
                    Ok(None) | Err(_) => {
                        return Err("a partition folder of this batch is not in the catalog: \
                                    the batch registering it stopped"
                            .to_owned());
                    }
                }
            }
            Ok(())
        };
        let (store, bucket) = (self.objects, self.bucket);
        let writing = async {
            registering.await?;
            let mut puts = futures_util::stream::iter(objects.into_iter().map(
                |(object, body, rows)| async move {
                    store
                        .put_parts(bucket, &object, body)
                        .await
                        .map(|()| (object, rows))
                },
            ))
            .buffer_unordered(PUTS_AT_ONCE);
            let mut written = Vec::new();
            let mut rows_written = 0;
            while let Some(put) = puts.next().await {
                let (object, rows) = put.map_err(|e| e.to_string())?;
                if written.is_empty() {
                    crate::crashpoint::hit("deliver-mid-write");
                }
                rows_written += rows;
                written.push(object);
            }
            Ok::<_, String>((written, rows_written))
        };
        let writing_others =
            futures_util::future::try_join_all(others.into_iter().map(|(key, body)| async move {
                store
                    .put(bucket, &key, body)
                    .await
                    .map_err(|e| e.to_string())
            }));
        let written = futures_util::future::try_join(writing, writing_others).await;
        // A batch that failed before it registered its folders hands its reason to the
        // batches waiting for them.
        if let Err(e) = &written {
            outcome.send_if_modified(|known| {
                let unknown = known.is_none();
                if unknown {
                    *known = Some(Err(e.clone()));
                }
                unknown
            });
        }
        let ((objects, rows), _) = written?;
        Ok((objects, rows))
    }

    fn state_key(&self, partition: u32) -> String {
        format!(
            "_runner/checkpoints/{}/{}/{}-{partition}.json",
            self.pipeline.pipeline, self.name, self.topic
        )
    }

    /// The time before which delivered records leave the dedupe window (Unix seconds).
    fn horizon(&self) -> u64 {
        now_seconds().saturating_sub(self.dedupe_window.as_secs())
    }

    /// Where the hashes of delivered batches are kept.
    fn hashes_folder(&self) -> String {
        format!(
            "_runner/checkpoints/{}/{}/delivered/",
            self.pipeline.pipeline, self.name
        )
    }

    /// The records `[start, end)` of a partition again, for a batch a crash interrupted. If
    /// the log answers that it no longer has some (a broker that lost acknowledged
    /// records), the batch is what it still has; a log that does not answer (a broker
    /// restarting) is waited for up to [`REFETCH_PATIENCE`], then it is an error, so no
    /// record is given up for a broker that was only slow.
    async fn refetch(&self, partition: u32, start: u64, end: u64) -> Result<Vec<Message>, String> {
        let mut messages = Vec::new();
        let mut next = start;
        let mut empty = 0;
        let deadline = Instant::now() + REFETCH_PATIENCE;
        while next < end {
            let fetched = self
                .log
                .fetch(
                    self.topic,
                    partition,
                    next,
                    (end - next) as usize,
                    Duration::from_millis(500),
                )
                .await
                .map_err(|e| e.to_string())?;
            match fetched.last() {
                Some(last) => {
                    next = last.offset + 1;
                    messages.extend(
                        fetched
                            .into_iter()
                            .filter(|m| (start..end).contains(&m.offset)),
                    );
                }
                None => {
                    empty += 1;
                    // Where the log says where it ends, believe it; the local log, which
                    // never says, always answers at once.
                    let gone = match self.log.fetched_end(self.topic, partition) {
                        Some(log_end) => log_end <= next,
                        None => empty >= 10,
                    };
                    if gone {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "partition {partition}: the log did not serve the interrupted batch \
                             [{start}, {end}) within {} s; run deliver again when the broker answers",
                            REFETCH_PATIENCE.as_secs()
                        ));
                    }
                }
            }
        }
        if next < end {
            tracing::warn!(
                partition,
                start,
                end,
                got = messages.len(),
                "the log no longer holds the whole interrupted batch"
            );
        }
        Ok(messages)
    }

    /// Delivers one batch of a partition: pending recorded, objects written, state moved
    /// past the batch, group offset committed. `false` when another worker moved the
    /// partition's state on meanwhile: this worker no longer delivers it from here, and
    /// what it wrote of the batch is counted by that worker, not in `summary`.
    async fn deliver(
        &self,
        partition: u32,
        slot: &mut Slot,
        messages: Vec<Message>,
        summary: &mut Summary,
    ) -> Result<bool, String> {
        let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
            return Ok(true);
        };
        // A batch already pending is delivered again under its own range (and so its own
        // object names), whatever part of it the log still has. A new one is recorded as
        // pending while its objects are made: nothing is written before that record is.
        // Offsets from where the partition was delivered to up to this batch's end that
        // hold no record read: with no transactions or compaction on the topic, records
        // the log no longer serves. (A partition never delivered before starts wherever
        // the log now begins.)
        let skipped = match (slot.state.pending, &slot.version) {
            (Some(_), _) | (None, None) => 0,
            (None, Some(_)) => offsets_skipped(
                slot.state.next_offset,
                first.offset,
                last.offset,
                messages.len(),
            ),
        };
        let (pending, (start, end)) = match slot.state.pending {
            Some(range) => (None, range),
            None => {
                let range = (first.offset, last.offset + 1);
                slot.state.pending = Some(range);
                let body = serde_json::to_vec(&slot.state).map_err(|e| e.to_string())?;
                (Some(body), range)
            }
        };
        let mut expired = slot.window.expire(&mut slot.state.recent, self.horizon());
        let file = match slot.state.epoch {
            0 => format!("{}+{partition}+{start}", self.topic),
            epoch => format!("{}+{partition}+{start}+e{epoch}", self.topic),
        };
        // Making the objects' bodies is a batch's heaviest work: it runs on a thread of its
        // own, so the batches of several partitions are made side by side while this
        // thread writes. The window comes back whatever happens to the batch's work.
        let window = std::mem::take(&mut slot.window);
        let (preparer, file_name) = (Arc::clone(&self.preparer), file.clone());
        let preparing = tokio::task::spawn_blocking(move || {
            let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::crashpoint::panic_here("deliver-prepare");
                preparer.prepare(&window, messages, partition, &file_name)
            }));
            (window, prepared)
        });
        let version = &mut slot.version;
        let recorded = async {
            match pending {
                Some(body) => self.store_state(partition, body, version).await,
                None => Ok(true),
            }
        };
        let (recorded, made) = futures_util::future::join(recorded, preparing).await;
        let (window, prepared) = made.map_err(|e| e.to_string())?;
        slot.window = window;
        if !recorded? {
            return Ok(false);
        }
        crate::crashpoint::hit("deliver-after-pending");
        let Prepared {
            duplicates,
            hashes,
            quarantine,
            objects,
        } = prepared
            .map_err(|_| format!("partition {partition}: preparing the batch failed"))??;
        // What this batch did, added to `summary` once its state is stored.
        let mut done = Summary {
            duplicates,
            ..Summary::default()
        };
        if skipped > 0 {
            tracing::warn!(
                flow = self.name,
                partition,
                delivered_to = slot.state.next_offset,
                first = start,
                end,
                skipped,
                "the log served no record for some offsets; counted as lost"
            );
            done.risks.offsets_skipped = skipped;
        }
        let mut others = Vec::new();
        if let Some((key, body, poison)) = quarantine {
            done.poison = poison;
            done.objects.push(key.clone());
            others.push((key, body));
        }
        // The batch's hashes, stored before the state that lists them.
        if !hashes.is_empty() {
            let (name, body, replaced) =
                slot.window
                    .record(&mut slot.state.recent, &file, &hashes, now_seconds());
            expired.extend(replaced);
            others.push((window::key(&self.hashes_folder(), &name), body));
        }
        let (written, rows) = self.write(objects, others).await?;
        crate::crashpoint::hit("deliver-after-write");
        done.written = rows;
        slot.state.next_offset = end;
        slot.state.pending = None;
        // Losing here is harmless: the worker that moved the state on delivered this same
        // range into the same objects with the same rows.
        if !self.save(partition, slot).await? {
            return Ok(false);
        }
        // Hashes no stored state lists any more (one left by a crash here is never read) are
        // deleted while the group offset is committed. That offset is for lag tools, so a
        // broker that cannot take it now gets it with the next batch.
        let hashes_folder = self.hashes_folder();
        let deleting = futures_util::stream::iter(expired.iter().map(|listed| {
            let key = window::key(&hashes_folder, &listed.name);
            async move {
                if let Err(e) = self.objects.delete(self.bucket, &key).await {
                    tracing::warn!(flow = self.name, object = key, error = %e, "an expired hashes object was not deleted");
                }
            }
        }))
        .buffer_unordered(PUTS_AT_ONCE)
        .collect::<()>();
        let committing = async {
            if let Err(e) = self.member.commit(partition, end).await {
                tracing::warn!(flow = self.name, partition, end, error = %e, "the group offset was not committed");
            }
        };
        futures_util::future::join(deleting, committing).await;
        done.batches = 1;
        done.objects.extend(written);
        summary.add(done);
        tracing::info!(flow = self.name, partition, start, end, "batch delivered");
        Ok(true)
    }
}

/// How many offsets from `delivered_to` through `last` held no record, when `count`
/// records were read from `first` through `last`.
fn offsets_skipped(delivered_to: u64, first: u64, last: u64, count: usize) -> u64 {
    (last + 1)
        .saturating_sub(delivered_to.min(first))
        .saturating_sub(count as u64)
}

#[cfg(test)]
mod tests {
    use super::offsets_skipped;

    #[test]
    fn offsets_the_log_skipped_are_counted_before_and_inside_a_batch() {
        // Delivered to 100; records 100..=109 read: nothing skipped.
        assert_eq!(offsets_skipped(100, 100, 109, 10), 0);
        // Delivered to 100, but the log served from 137 (a fetch answered past a batch).
        assert_eq!(offsets_skipped(100, 137, 146, 10), 37);
        // Records 100..=109 read but two of them missing inside the range.
        assert_eq!(offsets_skipped(100, 100, 111, 10), 2);
        // Both.
        assert_eq!(offsets_skipped(100, 105, 116, 10), 7);
        // A batch that starts below what was delivered (never expected) counts from its
        // first record.
        assert_eq!(offsets_skipped(120, 100, 109, 10), 0);
    }
}
