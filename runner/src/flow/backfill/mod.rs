//! The backfill flow: a CSV source through the dataset's cleaning rules into the layout's
//! Hive-partitioned Parquet files, with every row accounted for: written, or quarantined
//! under `<prefix>_rejects/` with the file, line, field, raw value and reason.
//!
//! Object names derive from the input file and a sequence, so a re-run replaces the same
//! objects instead of adding duplicates. Memory stays bounded whatever the input: the
//! input is read, cleaned and spilled to local disk grouped by partition
//! ([`PartitionSpill`]) on three threads at once (reader, [`cleaning`], this one),
//! then the partitions are written as Parquet files ([`write_files`]), one file
//! open per writer thread, with row groups of up to
//! [`ROW_GROUP_ROWS`](crate::parquet_settings::ROW_GROUP_ROWS) rows or a share of
//! [`ROW_GROUP_BUDGET`] bytes. Files are written
//! to a local spool directory and then stored whole (renamed into place locally, a
//! multipart upload on S3), so a half-written object is never visible.

use crate::flow::error::FlowError;

pub mod checkpoint;
pub mod cleaning;
pub mod csv_source;
pub mod input;
pub mod key_dedupe;
pub mod spill;
pub mod summary;
pub mod write_files;

pub use summary::Summary;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::checkpoint::Checkpoint;
use self::cleaning::{Splitter, Stage};
use self::csv_source::CsvReader;
use self::input::Input;
use self::key_dedupe::LastRows;
use self::spill::{PartitionRows, PartitionSpill};
use self::write_files::{FileRules, Writers, Written};
use crate::backend::{Backends, ObjectStore};
use crate::clean::Program;
use crate::flow::partition::Partitioner;
use crate::parquet_settings::parquet_properties;
use crate::spec::dataset::{Dataset, Dedupe, OnError};
use crate::spec::resolve::Backfill;
use crate::spec::source::{CsvSource, SourceKind};

/// Batches the CSV reader thread keeps ready ahead of cleaning.
const READ_AHEAD: usize = 2;

/// Bytes the Parquet files being written may buffer in memory, together, before a row
/// group is flushed early.
pub const ROW_GROUP_BUDGET: usize = 64 << 20;

/// Threads writing Parquet files at most.
const MAX_WRITERS: usize = 4;

/// How far a run is, reported after each batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Rows read so far.
    pub rows: u64,
    /// Input bytes read so far (decompressed).
    pub bytes: u64,
    /// The input file's size on disk (compressed, for gzip).
    pub total_bytes: u64,
    /// Whether the input is compressed (then `bytes` and `total_bytes` do not compare).
    pub compressed: bool,
    /// Rows written to Parquet files so far: files are written once the whole input is
    /// read and grouped by partition.
    pub written: u64,
}

/// Runs backfill flow `name` of `pipeline` on a target's backends: every input file of the
/// source (a path or a glob), each checkpointed when finished. With `restart`, earlier
/// checkpoints are forgotten and every input done again. `progress` is called after every
/// batch. Partitions are registered with the catalog tables over the layout that do not
/// use projection.
pub async fn run(
    flow: &Backfill<'_>,
    backends: &Backends,
    restart: bool,
    progress: &dyn Fn(Progress),
) -> Result<Summary, FlowError> {
    let objects = backends.objects.as_ref();
    let catalog = backends.catalog.as_ref();
    let (name, sink) = (flow.name, &flow.sink);
    if objects.bucket(sink.bucket).await?.is_none() {
        return Err(format!(
            "bucket '{}' does not exist: run `runner apply` first",
            sink.bucket
        )
        .into());
    }
    let job = Job {
        name,
        source: flow.source,
        dataset: flow.dataset,
        layout: sink.layout,
        bucket: sink.bucket,
        objects,
        progress,
    };
    let checkpoint_key = crate::flow::state_key(flow.pipeline, name);
    // What earlier runs recorded, also under `restart` (where an unreadable checkpoint is
    // simply forgotten): the objects each input's last run wrote are what its new run
    // replaces.
    let recorded = match checkpoint::load(objects, sink.bucket, &checkpoint_key).await {
        Ok(recorded) => recorded.unwrap_or_default(),
        Err(_) if restart => Checkpoint::default(),
        Err(e) => return Err(e),
    };
    let mut done = if restart {
        checkpoint::clear(objects, sink.bucket, &checkpoint_key).await?;
        Checkpoint::default()
    } else {
        recorded.clone()
    };
    let mut total = Summary {
        flow: name.to_owned(),
        ..Summary::default()
    };
    let files = Input::list(&flow.source.path, objects).await?;
    let mut skipped = 0;
    for input in &files {
        let id = input.identity(objects).await?;
        let summary = match done.finished(&id) {
            Some(earlier) => {
                skipped += 1;
                earlier.clone()
            }
            None => {
                let earlier = recorded.earlier(&id.path);
                let summary = run_file(&job, input, id.size, earlier).await?;
                done.record(id, summary.clone());
                checkpoint::save(objects, sink.bucket, &checkpoint_key, &done).await?;
                summary
            }
        };
        total.add(&summary);
    }
    total.already_done = skipped == files.len();
    total.objects.sort();
    crate::flow::register::partitions(sink, &total.objects, catalog).await?;
    total.unprojected = crate::flow::register::unprojected(sink, flow.dataset, &total.objects);
    Ok(total)
}

/// What one input file's run needs.
struct Job<'a> {
    name: &'a str,
    source: &'a CsvSource,
    dataset: &'a Dataset,
    layout: &'a crate::spec::Layout,
    bucket: &'a str,
    objects: &'a dyn ObjectStore,
    progress: &'a dyn Fn(Progress),
}

/// Backfills one input of `size` bytes (for progress), in three steps: read, cleaned and
/// spilled by partition ([`spill_input`]); written as Parquet files ([`write_files`]);
/// then what an earlier run of the input left (`earlier`, the summary its checkpoint
/// recorded for the input before it changed) and its quarantine put in order
/// ([`tidy_input`]).
async fn run_file(
    job: &Job<'_>,
    input: &Input,
    size: u64,
    earlier: Option<&Summary>,
) -> Result<Summary, FlowError> {
    let file_name = input.name();
    let stem = input.output_stem();
    let spool_dir = tempfile::Builder::new()
        .prefix("runner-spool-")
        .tempdir()
        .map_err(|e| format!("spool directory: {e}"))?;
    let reader = CsvReader::open(
        &file_name,
        input.open(job.objects, job.source.read_timeout.0).await?,
        job.source,
        csv_source::BATCH_ROWS,
    )?;
    let program = Program::compile(job.dataset, SourceKind::Csv, reader.columns())
        .map_err(|e| format!("{file_name}: {e}"))?;
    let mut summary = Summary {
        flow: job.name.to_owned(),
        ..Summary::default()
    };
    let mut reported = Progress {
        total_bytes: size,
        compressed: reader.compressed(),
        ..Progress::default()
    };
    let schema = program.schema();
    let spilled = spill_input(
        job,
        &file_name,
        reader,
        program,
        spool_dir.path(),
        &mut summary,
        &mut reported,
    )?;
    let rules = FileRules {
        prefix: job.layout.prefix.clone(),
        stem: stem.clone(),
        properties: parquet_properties(job.layout.compression, &schema),
        schema,
        max_records: job
            .layout
            .rotate
            .as_ref()
            .and_then(|r| r.max_records)
            .unwrap_or(u64::MAX),
        max_bytes: job
            .layout
            .rotate
            .as_ref()
            .and_then(|r| r.max_bytes)
            .map_or(u64::MAX, |size| size.0),
        budget: ROW_GROUP_BUDGET,
        last: spilled.last_rows.map(Arc::new),
    };
    write_files(
        job,
        spilled.partitions,
        rules,
        spool_dir.path(),
        &mut summary,
        &mut reported,
    )
    .await?;
    tidy_input(job, &stem, earlier, spilled.quarantine, &mut summary).await?;
    summary.objects.sort();
    Ok(summary)
}

/// An input read, cleaned and spilled to local disk.
struct Spilled {
    /// Each partition's rows, spilled.
    partitions: Vec<(String, PartitionRows)>,
    /// Under `dedupe: last`, every key's last line.
    last_rows: Option<LastRows>,
    /// The rows rejected.
    quarantine: Quarantine,
}

/// Reads `reader`'s input through `program` (the dataset's cleaning) and spills the rows
/// kept by partition in `spool`, the rejects to the quarantine; counts into `summary`.
/// Reading, cleaning and spilling run on three threads at once.
fn spill_input(
    job: &Job<'_>,
    file_name: &str,
    reader: CsvReader,
    program: Program,
    spool: &Path,
    summary: &mut Summary,
    reported: &mut Progress,
) -> Result<Spilled, FlowError> {
    let dataset = job.dataset;
    let partitioner = Partitioner::compile(&job.layout.partition_by, &program.schema())?;
    let mut splitter = Splitter::new(
        partitioner,
        dataset.dedupe,
        program.key_columns(&dataset.key),
        &program,
        (dataset.dedupe == Dedupe::Last).then(|| LastRows::new(spool)),
    );
    let mut spill = PartitionSpill::new(spool, splitter.schema());
    let mut quarantine = Quarantine::create(spool.join("rejects.jsonl"))?;
    let stage = Stage::start(reader.read_ahead(READ_AHEAD), program);
    while let Some(staged) = stage.next_batch()? {
        summary.read += staged.read;
        reported.rows = summary.read;
        reported.bytes = staged.bytes;
        (job.progress)(*reported);
        for reject in &staged.unreadable {
            *summary.rejected.entry("unreadable row".into()).or_default() += 1;
            quarantine.push(&serde_json::json!({
                "file": file_name, "line": reject.line, "field": null, "raw": reject.raw, "reason": reject.reason,
            }))?;
        }
        for (line, reject) in &staged.rejects {
            *summary.rejected.entry(reject.field.clone()).or_default() += 1;
            quarantine.push(&serde_json::json!({
                "file": file_name, "line": line, "field": reject.field, "raw": reject.raw, "reason": reject.reason,
            }))?;
        }
        if dataset.on_error == OnError::Fail
            && (!staged.unreadable.is_empty() || !staged.rejects.is_empty())
        {
            let first = quarantine.first.clone().unwrap_or_default();
            return Err(
                format!("a row was rejected and the dataset says on_error: fail: {first}").into(),
            );
        }
        let (parts, deduplicated) = splitter.split(staged.batch, staged.lines)?;
        summary.deduplicated += deduplicated;
        for (partition, part) in &parts {
            spill.append(partition, part)?;
        }
    }
    Ok(Spilled {
        last_rows: splitter.finish()?,
        partitions: spill.finish()?,
        quarantine,
    })
}

/// Writes the spilled `partitions` as the layout's Parquet files by `rules`, on as many
/// threads as there are cores, each with its share of the row-group budget, and stores
/// each file whole once written; counts into `summary`.
async fn write_files(
    job: &Job<'_>,
    partitions: Vec<(String, PartitionRows)>,
    mut rules: FileRules,
    spool: &Path,
    summary: &mut Summary,
    reported: &mut Progress,
) -> Result<(), FlowError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WRITERS));
    rules.budget /= threads;
    let mut writers = Writers::start(partitions, rules, spool.to_owned(), threads);
    while let Some(written) = writers.next_report()? {
        match written {
            Written::Rows {
                written,
                deduplicated,
            } => {
                summary.written += written;
                summary.deduplicated += deduplicated;
                reported.written = summary.written;
                (job.progress)(*reported);
            }
            Written::File { key, spool } => {
                job.objects.put_file(job.bucket, &key, &spool).await?;
                std::fs::remove_file(&spool).map_err(|e| format!("{}: {e}", spool.display()))?;
                summary.objects.push(key);
            }
        }
    }
    Ok(())
}

/// Deletes what earlier runs of the input wrote that this run did not write again: the
/// files named by its `stem` (an interrupted run's too), and the objects its `earlier`
/// finished run recorded (which may bear older names); then stores the input's
/// `quarantine` (or deletes an earlier one). Only the input's own objects are touched:
/// another input's stem never starts with this one's.
async fn tidy_input(
    job: &Job<'_>,
    stem: &str,
    earlier: Option<&Summary>,
    quarantine: Quarantine,
    summary: &mut Summary,
) -> Result<(), FlowError> {
    let (objects, bucket) = (job.objects, job.bucket);
    let ours = format!("part-{stem}-");
    let listed = objects.list(bucket, &job.layout.prefix).await?;
    let named = listed.into_iter().filter(|key| {
        let file_name = key.rsplit('/').next().unwrap_or_default();
        file_name.starts_with(&ours)
    });
    let recorded = earlier.into_iter().flat_map(|e| e.objects.iter().cloned());
    let mut stale: Vec<String> = named
        .chain(recorded)
        .filter(|key| !summary.objects.contains(key))
        .collect();
    stale.sort();
    stale.dedup();
    for key in stale {
        objects.delete(bucket, &key).await?;
    }
    let quarantine_key = format!("{}_rejects/{}/{stem}.jsonl", job.layout.prefix, job.name);
    match quarantine.finish()? {
        None => objects.delete(bucket, &quarantine_key).await?,
        Some(path) => {
            objects.put_file(bucket, &quarantine_key, &path).await?;
            summary.objects.push(quarantine_key);
        }
    }
    Ok(())
}

/// The quarantine of one input, spooled as JSON lines.
struct Quarantine {
    path: PathBuf,
    out: BufWriter<File>,
    /// The first rejected row, for the error of `on_error: fail`.
    first: Option<serde_json::Value>,
}

impl Quarantine {
    fn create(path: PathBuf) -> Result<Quarantine, FlowError> {
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Quarantine {
            path,
            out: BufWriter::new(file),
            first: None,
        })
    }

    fn push(&mut self, reject: &serde_json::Value) -> Result<(), FlowError> {
        serde_json::to_writer(&mut self.out, reject)
            .map_err(|e| e.to_string())
            .and_then(|()| self.out.write_all(b"\n").map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if self.first.is_none() {
            self.first = Some(reject.clone());
        }
        Ok(())
    }

    /// The spooled file when a row was quarantined.
    fn finish(mut self) -> Result<Option<PathBuf>, FlowError> {
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(self.first.map(|_| self.path))
    }
}
