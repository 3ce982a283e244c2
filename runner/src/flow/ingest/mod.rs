//! The ingest flow: a Socrata dataset polled by its watermark, every page cleaned by the
//! dataset's rules and produced to the topic keyed by the dataset key.
//!
//! Each poll re-reads from `watermark - overlap` (the feed publishes rows late), so the flow
//! remembers, per key, a hash of the row it last produced within that window and produces a
//! row only when it is new or changed. After each page the log has acknowledged, the
//! watermark (the largest watermark value seen) and those hashes are saved in the target's
//! object store, by compare-and-swap: a run that finds another run's state saved since it
//! read its own merges the two ([`State::merge`]). A crash between the acknowledgement and
//! the save makes the next run produce that page again: the same bytes under the same key,
//! which `deliver` drops as a duplicate (see docs/streaming.md for the whole guarantee).

pub mod socrata;
pub mod socrata_rows;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use arrow_array::{Array, RecordBatch};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use self::socrata::{Client, FLOATING, Page};
use crate::backend::{Backends, Log, ObjectStore, Record};
use crate::clean::parse::Formats;
use crate::clean::{Cleaned, Program};
use crate::flow::error::FlowError;
use crate::hash::hash_of;
use crate::spec::dataset::Dataset;
use crate::spec::resolve::Ingest;
use crate::spec::source::SourceKind;
use crate::stop::Stop;

/// What an ingest run did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The flow.
    pub flow: String,
    /// Poll cycles run.
    pub polls: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Rows read from the API.
    pub read: u64,
    /// Rows produced to the topic.
    pub produced: u64,
    /// Rows re-read in the overlap and left alone, because the same row was produced, or
    /// the same row quarantined, before.
    pub unchanged: u64,
    /// Rows quarantined, by field; each row once, however often the overlap re-reads it.
    pub rejected: BTreeMap<String, u64>,
    /// The first poll whose share of rejected rows was above the dataset's
    /// `max_reject_ratio`: the run stopped after it.
    pub over_reject_limit: Option<PollCounts>,
    /// Times another run of the flow had stored its state meanwhile and the two were
    /// merged: runs that overlap may produce a row twice (which deliver drops).
    pub state_merges: u64,
    /// The watermark after the run (the largest watermark value seen, by this run or by one
    /// that saved its state meanwhile; API text).
    pub watermark: Option<String>,
    /// Quarantine objects written.
    pub objects: Vec<String>,
}

impl Summary {
    /// Total rejected rows.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// What one poll read and rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollCounts {
    /// The poll's number in the run, from 1.
    pub poll: u64,
    /// Rows it read.
    pub read: u64,
    /// Rows it newly quarantined.
    pub rejected: u64,
}

impl PollCounts {
    /// The share of the poll's rows it rejected.
    pub fn ratio(&self) -> f64 {
        crate::flow::reject_ratio(self.rejected, self.read)
    }
}

/// The flow's state in the object store.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The largest watermark value produced so far (floating timestamp text).
    watermark: Option<String>,
    /// Key hash -> (row hash, watermark in µs) of the rows produced within the overlap.
    produced: HashMap<u64, (u64, i64)>,
    /// Hash of a rejected row's raw values -> its watermark in µs (the flow's watermark
    /// then, when its own does not parse), for the rejects within the overlap: a row
    /// re-read there is not quarantined or counted again.
    #[serde(default)]
    rejected: HashMap<u64, i64>,
    /// The version of the stored state this one follows (`None`: there was none), for a
    /// compare-and-swap write.
    #[serde(skip)]
    version: Option<String>,
}

/// How many times a state write meets another run's write before ingest gives up.
const SAVE_TRIES: usize = 10;

impl State {
    /// The stored state and its version, or an empty one when none is stored.
    async fn load(objects: &dyn ObjectStore, bucket: &str, key: &str) -> Result<State, FlowError> {
        let stored = objects.get_versioned(bucket, key).await?;
        let Some((bytes, version)) = stored else {
            return Ok(State::default());
        };
        let state: State = serde_json::from_slice(&bytes).map_err(|e| {
            format!("ingest state s3://{bucket}/{key} is unreadable ({e}); delete it to start over")
        })?;
        Ok(State {
            version: Some(version),
            ..state
        })
    }

    /// Takes in the state another run of the flow stored since this one was read: the
    /// larger watermark, and the rows either produced. A key the two produced different
    /// rows for is forgotten, since which of them the topic holds last is not known here:
    /// the next poll that reads the key produces its current row again, either a copy of
    /// the last one (which deliver drops) or the newer one, which then comes last. Kept,
    /// an older row could stay last for good.
    fn merge(&mut self, theirs: State) {
        if theirs.watermark > self.watermark {
            self.watermark = theirs.watermark;
        }
        self.rejected.extend(theirs.rejected);
        for (key, (row, at)) in theirs.produced {
            match self.produced.get(&key) {
                None => {
                    self.produced.insert(key, (row, at));
                }
                Some(&(ours, _)) if ours != row => {
                    self.produced.remove(&key);
                }
                Some(_) => {}
            }
        }
        self.version = theirs.version;
    }

    /// Stores the state where it was read from, unless another run of the flow stored its
    /// own meanwhile: then the two are merged ([`State::merge`]) and stored, so a run that
    /// read less never moves the watermark back. How many merges that took.
    async fn save(
        &mut self,
        objects: &dyn ObjectStore,
        bucket: &str,
        key: &str,
    ) -> Result<u64, FlowError> {
        for merges in 0..SAVE_TRIES as u64 {
            let body = serde_json::to_vec(self)?;
            let stored = objects
                .put_if_version(bucket, key, body, self.version.as_deref())
                .await?;
            if let Some(version) = stored {
                self.version = Some(version);
                return Ok(merges);
            }
            tracing::warn!(
                state = key,
                "another run of this ingest flow stored its state meanwhile; merging the two"
            );
            self.merge(State::load(objects, bucket, key).await?);
        }
        Err(format!(
            "ingest state s3://{bucket}/{key}: other runs of the flow stored theirs {SAVE_TRIES} times in a row while this one tried"
        ).into())
    }
}

/// Runs ingest flow `name`: one poll cycle with `once`, otherwise a cycle every
/// `poll_every` until `stop` is set.
pub async fn run(
    flow: &Ingest<'_>,
    backends: &Backends,
    once: bool,
    mut stop: Stop,
) -> Result<Summary, FlowError> {
    let name = flow.name;
    let log = backends.log()?;
    let topic = &flow.flow.to_topic;
    log.prepare(topic);
    let objects = backends.objects.as_ref();
    let dataset = flow.dataset;
    let columns = source_columns(dataset);
    let program = Arc::new(Program::compile(dataset, SourceKind::Socrata, &columns)?);
    let client = Client::new(flow.source, columns);
    let key_columns: Arc<[usize]> = program.key_columns(&dataset.key).into();
    let job = Job {
        name,
        client: &client,
        program,
        key_columns,
        topic,
        overlap: flow.source.overlap.0,
        log,
        objects,
        bucket: flow.bucket,
        state_key: crate::flow::state_key(flow.pipeline, name),
        rejects_prefix: format!("{}_rejects/{name}/", flow.rejects_prefix),
    };
    let mut state = State::load(objects, job.bucket, &job.state_key).await?;
    let mut summary = Summary {
        flow: name.to_owned(),
        ..Summary::default()
    };
    loop {
        let before = (summary.read, summary.rejected_total());
        job.cycle(&mut state, &mut summary, &stop).await?;
        summary.polls += 1;
        let poll = PollCounts {
            poll: summary.polls,
            read: summary.read - before.0,
            rejected: summary.rejected_total() - before.1,
        };
        // Checked per poll, so a feed gone bad stops a long-running ingest at once.
        if poll.ratio() > dataset.max_reject_ratio {
            tracing::warn!(
                flow = name,
                poll = poll.poll,
                read = poll.read,
                rejected = poll.rejected,
                "the poll rejected more rows than the dataset allows; stopping"
            );
            summary.over_reject_limit = Some(poll);
            break;
        }
        if once || stop.is_set() || stop.sleep(flow.source.poll_every.0).await {
            break;
        }
    }
    summary.watermark = state.watermark;
    Ok(summary)
}

/// The API columns the dataset reads from a Socrata source.
fn source_columns(dataset: &Dataset) -> Vec<String> {
    dataset
        .fields
        .iter()
        .map(|(name, field)| {
            field
                .from
                .as_ref()
                .and_then(|f| f.for_kind(SourceKind::Socrata))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// A page cleaned and encoded: the records to produce, each row's key, and the rejects.
struct Ready {
    page: Page,
    cleaned: Cleaned,
    lines: Texts,
    keys: Texts,
}

/// What one run of the flow works with.
struct Job<'a> {
    name: &'a str,
    client: &'a Client,
    program: Arc<Program>,
    key_columns: Arc<[usize]>,
    topic: &'a str,
    overlap: std::time::Duration,
    log: &'a dyn Log,
    objects: &'a dyn ObjectStore,
    bucket: &'a str,
    state_key: String,
    rejects_prefix: String,
}

/// The Socrata API's floating timestamps (any number of fraction digits), compiled once.
static FLOATING_TEXT: LazyLock<Formats> =
    LazyLock::new(|| Formats::compile(&["%Y-%m-%dT%H:%M:%S%.f"]).expect("a valid format"));

/// A floating timestamp as microseconds (of the same floating clock), if it parses.
fn micros(floating: &str) -> Option<i64> {
    FLOATING_TEXT
        .naive(floating)
        .map(|t| t.and_utc().timestamp_micros())
}

impl Job<'_> {
    /// One poll: every page from `watermark - overlap` on, until a short page.
    async fn cycle(
        &self,
        state: &mut State,
        summary: &mut Summary,
        stop: &Stop,
    ) -> Result<(), FlowError> {
        let since = state.watermark.as_deref().and_then(micros).map(|w| {
            let overlap = i64::try_from(self.overlap.as_micros()).unwrap_or(i64::MAX);
            chrono::DateTime::from_timestamp_micros(w.saturating_sub(overlap))
                .unwrap_or_default()
                .naive_utc()
                .format(FLOATING)
                .to_string()
        });
        let mut pages = cleaned_pages(
            self.client.pages(since.clone()),
            Arc::clone(&self.program),
            Arc::clone(&self.key_columns),
        );
        let mut offset = 0;
        let mut current = receive(&mut pages).await?;
        loop {
            let rows = current.page.batch.num_rows() as u64;
            summary.pages += 1;
            summary.read += rows;
            let cleaned = &current.cleaned;
            let fresh = fresh_rejects(&current.page, &cleaned.rejects, state, summary)?;
            self.quarantine(&current.page, &fresh, since.as_deref(), offset, summary)
                .await?;
            let (lines, keys) = (&current.lines, &current.keys);
            let mut records = Vec::with_capacity(lines.len());
            let mut accepted = Vec::with_capacity(lines.len());
            for i in 0..lines.len() {
                let key = hash_of(keys.get(i));
                let row = hash_of(lines.get(i));
                if state.produced.get(&key).is_some_and(|&(h, _)| h == row) {
                    summary.unchanged += 1;
                    continue;
                }
                let watermarks = &current.page.watermarks;
                let source_row = cleaned.rows[i] as usize;
                let at = watermarks
                    .is_valid(source_row)
                    .then(|| watermarks.value(source_row))
                    .and_then(micros)
                    .unwrap_or(i64::MAX);
                accepted.push((key, row, at));
                records.push(Record {
                    key: Some(keys.get(i)),
                    value: lines.get(i),
                });
            }
            // The next pages are fetched and cleaned while the log acknowledges this one.
            let last = current.page.last || stop.is_set();
            let produce = async {
                if !records.is_empty() {
                    self.log.produce(self.topic, &records).await?;
                }
                Ok::<_, FlowError>(())
            };
            let upcoming = async {
                match last {
                    true => Ok(None),
                    false => receive(&mut pages).await.map(Some),
                }
            };
            let (produced, upcoming) = tokio::join!(produce, upcoming);
            produced?;
            summary.produced += records.len() as u64;
            crate::crashpoint::hit("ingest-after-produce");
            for (key, row, at) in accepted {
                state.produced.insert(key, (row, at));
            }
            // Only values that parse move the watermark: one that does not would make every
            // poll read the whole dataset again.
            let page_max = current
                .page
                .watermarks
                .iter()
                .flatten()
                .filter_map(|w| micros(w).map(|at| (at, w)))
                .max();
            let current_at = state.watermark.as_deref().and_then(micros);
            if let Some((at, max)) = page_max
                && current_at.is_none_or(|w| at > w)
            {
                state.watermark = Some(max.to_owned());
            }
            // Rows older than the next poll's window cannot be re-read: forget them.
            if let Some(w) = state.watermark.as_deref().and_then(micros) {
                let horizon =
                    w.saturating_sub(i64::try_from(self.overlap.as_micros()).unwrap_or(0));
                state.produced.retain(|_, &mut (_, at)| at >= horizon);
                state.rejected.retain(|_, &mut at| at >= horizon);
            }
            // Saved before a failure of the next page is reported: this page is done.
            summary.state_merges += state
                .save(self.objects, self.bucket, &self.state_key)
                .await?;
            tracing::info!(flow = self.name, offset, rows, produced = summary.produced, watermark = ?state.watermark, "page ingested");
            offset += rows;
            match upcoming? {
                Some(next) if !stop.is_set() => current = next,
                _ => return Ok(()),
            }
        }
    }

    /// Writes a page's rejected rows that are new (see [`fresh_rejects`]) to
    /// `<prefix>_rejects/<flow>/<since>+<offset>-<hash of the rows>.jsonl`: a name a re-read
    /// of the same rows replaces, and that rows rejected later never take.
    async fn quarantine(
        &self,
        page: &Page,
        rejects: &Fresh<'_>,
        since: Option<&str>,
        offset: u64,
        summary: &mut Summary,
    ) -> Result<(), FlowError> {
        if rejects.rows.is_empty() {
            return Ok(());
        }
        let body = crate::flow::jsonl_body(rejects.rows.iter().map(|reject| {
            *summary.rejected.entry(reject.field.clone()).or_default() += 1;
            serde_json::json!({
                "source": page.url, "position": offset + reject.row as u64,
                "field": reject.field, "raw": reject.raw, "reason": reject.reason,
            })
        }));
        let stamp = since.unwrap_or("start").replace(':', "");
        let key = format!(
            "{}{stamp}+{offset}-{:016x}.jsonl",
            self.rejects_prefix,
            hash_of(&rejects.hashes)
        );
        self.objects.put(self.bucket, &key, body).await?;
        summary.objects.push(key);
        Ok(())
    }
}

/// A page's rejected rows not quarantined before, and the hashes of their raw values.
struct Fresh<'a> {
    rows: Vec<&'a crate::clean::Reject>,
    hashes: Vec<u64>,
}

/// The page's rejects not quarantined before (by the hash of the row's raw values),
/// recorded in `state` as they are; the others count as unchanged.
fn fresh_rejects<'r>(
    page: &Page,
    rejects: &'r [crate::clean::Reject],
    state: &mut State,
    summary: &mut Summary,
) -> Result<Fresh<'r>, FlowError> {
    let mut fresh = Fresh {
        rows: Vec::new(),
        hashes: Vec::new(),
    };
    if rejects.is_empty() {
        return Ok(fresh);
    }
    let options = arrow_cast::display::FormatOptions::default().with_null("\0");
    let columns = page
        .batch
        .columns()
        .iter()
        .map(|c| arrow_cast::display::ArrayFormatter::try_new(c, &options))
        .collect::<Result<Vec<_>, _>>()?;
    let now = state.watermark.as_deref().and_then(micros).unwrap_or(0);
    for reject in rejects {
        let values: Vec<String> = columns
            .iter()
            .map(|c| c.value(reject.row).to_string())
            .collect();
        let at = (page.watermarks.is_valid(reject.row))
            .then(|| page.watermarks.value(reject.row))
            .and_then(micros)
            .unwrap_or(now);
        let hash = hash_of(&values);
        if state.rejected.insert(hash, at).is_some() {
            summary.unchanged += 1;
        } else {
            fresh.rows.push(reject);
            fresh.hashes.push(hash);
        }
    }
    Ok(fresh)
}

/// The next page, cleaned and encoded (see [`cleaned_pages`]).
async fn receive(pages: &mut mpsc::Receiver<Result<Ready, FlowError>>) -> Result<Ready, FlowError> {
    pages
        .recv()
        .await
        .ok_or("the page cleaning thread stopped before the last page")?
}

/// The pages of `pages` cleaned by `program` and encoded (records and keys), on a thread of
/// their own, so fetching, cleaning and producing run at once. Besides the page being
/// produced and the next one, cleaned, one cleaned page waits in the channel and one more
/// in this thread; with the page reader's two, at most six pages are in memory. The
/// thread stops after the last page, after an error, or when the receiver is dropped.
fn cleaned_pages(
    mut pages: mpsc::Receiver<Result<Page, FlowError>>,
    program: Arc<Program>,
    key_columns: Arc<[usize]>,
) -> mpsc::Receiver<Result<Ready, FlowError>> {
    let (sender, receiver) = mpsc::channel(1);
    std::thread::spawn(move || {
        while let Some(page) = pages.blocking_recv() {
            // Stopped meanwhile: nothing more is wanted.
            if sender.is_closed() {
                return;
            }
            let ready = page.and_then(|page| {
                let cleaned = program.apply(&page.batch)?;
                let lines = json_lines(&cleaned.batch)?;
                let keys = key_texts(&cleaned.batch, &key_columns)?;
                Ok(Ready {
                    page,
                    cleaned,
                    lines,
                    keys,
                })
            });
            let last = ready.as_ref().map_or(true, |r| r.page.last);
            if sender.blocking_send(ready).is_err() || last {
                return;
            }
        }
    });
    receiver
}

/// Byte strings kept in one buffer, each followed by a newline (one allocation for a
/// whole page).
struct Texts {
    bytes: Vec<u8>,
    /// Where each one ends (where its newline is).
    ends: Vec<usize>,
}

impl Texts {
    /// How many there are.
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The `i`th, without its newline.
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.bytes[start..self.ends[i]]
    }
}

/// Each row of a cleaned batch as one JSON object (nulls left out), in row order.
fn json_lines(batch: &RecordBatch) -> Result<Texts, FlowError> {
    let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    // Every row is one line: a newline inside a string is escaped.
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', &bytes).collect();
    if ends.len() != batch.num_rows() {
        return Err(format!(
            "{} rows encoded as {} JSON lines",
            batch.num_rows(),
            ends.len()
        )
        .into());
    }
    Ok(Texts { bytes, ends })
}

/// Each row's key as text (key fields joined by `|`), the Kafka record key.
fn key_texts(batch: &RecordBatch, columns: &[usize]) -> Result<Texts, FlowError> {
    use std::io::Write;
    let options = arrow_cast::display::FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|&c| arrow_cast::display::ArrayFormatter::try_new(batch.column(c), &options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys = Texts {
        bytes: Vec::with_capacity(batch.num_rows() * 16),
        ends: Vec::with_capacity(batch.num_rows()),
    };
    for row in 0..batch.num_rows() {
        for (i, formatter) in formatters.iter().enumerate() {
            if i > 0 {
                keys.bytes.push(b'|');
            }
            write!(keys.bytes, "{}", formatter.value(row))?;
        }
        keys.ends.push(keys.bytes.len());
        keys.bytes.push(b'\n');
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    #[test]
    fn a_merged_state_has_the_later_watermark_and_forgets_keys_produced_differently() {
        let state = |watermark: Option<&str>, produced: &[(u64, u64, i64)], version: &str| State {
            watermark: watermark.map(str::to_owned),
            produced: produced.iter().map(|&(k, r, at)| (k, (r, at))).collect(),
            rejected: HashMap::new(),
            version: Some(version.to_owned()),
        };
        // Theirs is later: its watermark and version win; keys of either are kept, the
        // same row of key 2 once, key 3 (two different rows) forgotten.
        let mut ours = state(
            Some("2024-03-12T10:55:56.000"),
            &[(1, 10, 5), (2, 20, 6), (3, 30, 7)],
            "v1",
        );
        let theirs = state(
            Some("2024-03-13T19:51:00.000"),
            &[(2, 20, 6), (3, 31, 9), (4, 40, 8)],
            "v2",
        );
        ours.merge(theirs);
        assert_eq!(ours.watermark.as_deref(), Some("2024-03-13T19:51:00.000"));
        assert_eq!(ours.version.as_deref(), Some("v2"));
        let mut kept: Vec<_> = ours.produced.into_iter().collect();
        kept.sort_unstable();
        assert_eq!(kept, [(1, (10, 5)), (2, (20, 6)), (4, (40, 8))]);
        // Theirs is older, or has none: ours stays.
        for older in [Some("2024-03-01T00:00:00.000"), None] {
            let mut ours = state(Some("2024-03-12T10:55:56.000"), &[], "v1");
            ours.merge(state(older, &[], "v3"));
            assert_eq!(ours.watermark.as_deref(), Some("2024-03-12T10:55:56.000"));
        }
    }

    #[test]
    fn each_row_is_one_record_and_one_key_whatever_its_text_holds() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("note", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("two\nlines"), None, Some("")])),
            ],
        )
        .expect("a batch");
        let lines = json_lines(&batch).expect("encodes");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.get(0), br#"{"id":1,"note":"two\nlines"}"#);
        assert_eq!(lines.get(1), br#"{"id":2}"#);
        assert_eq!(lines.get(2), br#"{"id":3,"note":""}"#);
        let keys = key_texts(&batch, &[1, 0]).expect("keys");
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.get(0), b"two\nlines|1");
        assert_eq!(keys.get(1), b"|2");
        assert_eq!(keys.get(2), b"|3");
    }
}
