//! The backfill flow: a CSV source through the dataset's cleaning rules into the layout's
//! Hive-partitioned Parquet files, with every row accounted for: written, or quarantined
//! under `<prefix>_rejects/` with the file, line, field, raw value and reason.
//!
//! Object names derive from the input file and a sequence, so a re-run replaces the same
//! objects instead of adding duplicates. Memory stays bounded whatever the input: the
//! cleaned rows are first spilled to local disk grouped by partition ([`PartitionSpill`]),
//! then each partition is written in turn, one Parquet file open at a time, with row
//! groups of up to [`ROW_GROUP_ROWS`] rows or [`ROW_GROUP_BUDGET`] bytes. Files are written
//! to a local spool directory and then stored whole (renamed into place locally, a
//! multipart upload on S3), so a half-written object is never visible.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{BooleanArray, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field as ArrowField, FieldRef, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression as ParquetCompression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint};
use super::csv_source::CsvReader;
use super::dedupe::{FirstRows, LastRows, key_hash};
use super::input::Input;
use super::partition::Partitioner;
use super::spill::PartitionSpill;
use crate::backend::{Backends, ObjectStore};
use crate::clean::Program;
use crate::spec::Pipeline;
use crate::spec::dataset::{Dataset, Dedupe, OnError};
use crate::spec::flow::Flow;
use crate::spec::source::{CsvSource, Source, SourceKind};
use crate::spec::storage::{Codec, Format};

/// Rows per batch read from the source.
pub const BATCH_ROWS: usize = 8192;

/// Batches the CSV reader thread keeps ready ahead of cleaning.
const READ_AHEAD: usize = 4;

/// The spill's extra column under `dedupe: last`: each row's input line.
const LINE_COLUMN: &str = "__line";

/// Rows of a Parquet row group at most.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Bytes a Parquet file may buffer in memory before its row group is flushed early.
pub const ROW_GROUP_BUDGET: usize = 64 << 20;

/// What a backfill did; the counts reconcile: `read = written + deduplicated + rejected`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The flow.
    pub flow: String,
    /// True when the input was already finished by an earlier run (its checkpoint matched)
    /// and nothing was done; the counts are that run's.
    #[serde(default)]
    pub already_done: bool,
    /// Rows read from the source.
    pub read: u64,
    /// Rows written to the layout.
    pub written: u64,
    /// Rows dropped because another row has the same key (the dataset's `dedupe`).
    pub deduplicated: u64,
    /// Rows quarantined, by reason kind (`field: reason` shortened to the field, or the
    /// source problem).
    pub rejected: BTreeMap<String, u64>,
    /// Objects written (data files and the quarantine).
    pub objects: Vec<String>,
}

impl Summary {
    /// Adds another input's counts and objects to these.
    pub fn add(&mut self, other: &Summary) {
        self.read += other.read;
        self.written += other.written;
        self.deduplicated += other.deduplicated;
        for (reason, count) in &other.rejected {
            *self.rejected.entry(reason.clone()).or_default() += count;
        }
        self.objects.extend(other.objects.iter().cloned());
    }

    /// Total rejected rows.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// One open Parquet file of a partition, written to a spool file.
struct OpenFile {
    key: String,
    spool: PathBuf,
    writer: ArrowWriter<File>,
    rows: u64,
    /// The rows' size before compression (in Arrow form), for `rotate.max_bytes`.
    bytes: u64,
}

impl OpenFile {
    /// A file that will be stored as `key`, written to `spool` meanwhile.
    fn create(
        key: String,
        spool: &Path,
        program: &Program,
        properties: &WriterProperties,
    ) -> Result<OpenFile, String> {
        let sink =
            File::create(spool).map_err(|e| format!("spool file {}: {e}", spool.display()))?;
        let writer = ArrowWriter::try_new(sink, program.schema(), Some(properties.clone()))
            .map_err(|e| e.to_string())?;
        Ok(OpenFile {
            key,
            spool: spool.to_owned(),
            writer,
            rows: 0,
            bytes: 0,
        })
    }
}

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
    pipeline: &Pipeline,
    name: &str,
    backends: &Backends,
    restart: bool,
    progress: &dyn Fn(Progress),
) -> Result<Summary, String> {
    let objects = backends.objects.as_ref();
    let catalog = backends.catalog.as_ref();
    let Some(Flow::Backfill(flow)) = pipeline.flows.get(name) else {
        return Err(format!(
            "'{name}' is not a backfill flow of pipeline '{}'",
            pipeline.pipeline
        ));
    };
    let Some(Source::Csv(source)) = pipeline.sources.get(&flow.from) else {
        return Err(format!("source '{}' is not a csv source", flow.from));
    };
    let storage = pipeline
        .storage
        .as_ref()
        .ok_or("the pipeline has no storage")?;
    let layout = &storage.layouts[&flow.to];
    if layout.format != Format::Parquet {
        return Err(format!(
            "backfill writes parquet layouts; '{}' is {}",
            flow.to,
            layout.format.as_str()
        ));
    }
    if objects
        .bucket(&storage.bucket)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!(
            "bucket '{}' does not exist: run `runner apply` first",
            storage.bucket
        ));
    }
    let job = Job {
        name,
        source,
        dataset: &pipeline.datasets[&flow.clean],
        layout,
        bucket: &storage.bucket,
        objects,
        progress,
    };
    let checkpoint_key = checkpoint::key(&pipeline.pipeline, name);
    let mut done = if restart {
        checkpoint::clear(objects, &storage.bucket, &checkpoint_key).await?;
        Checkpoint::default()
    } else {
        checkpoint::load(objects, &storage.bucket, &checkpoint_key)
            .await?
            .unwrap_or_default()
    };
    let mut total = Summary {
        flow: name.to_owned(),
        ..Summary::default()
    };
    let files = Input::list(&source.path, objects).await?;
    let mut skipped = 0;
    for input in &files {
        let id = input.identity(objects).await?;
        let summary = match done.finished(&id) {
            Some(earlier) => {
                skipped += 1;
                earlier.clone()
            }
            None => {
                let summary = run_file(&job, input, id.size).await?;
                done.record(id, summary.clone());
                checkpoint::save(objects, &storage.bucket, &checkpoint_key, &done).await?;
                summary
            }
        };
        total.add(&summary);
    }
    total.already_done = skipped == files.len();
    total.objects.sort();
    super::register::partitions(pipeline, &flow.to, &storage.bucket, &total.objects, catalog)
        .await?;
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

/// Backfills one input of `size` bytes (for progress).
async fn run_file(job: &Job<'_>, input: &Input, size: u64) -> Result<Summary, String> {
    let Job {
        name,
        source,
        dataset,
        layout,
        bucket,
        objects,
        progress,
    } = *job;
    let file_name = input.name();
    let stem = input.file_name().replace('.', "_");
    let spool_dir = tempfile::Builder::new()
        .prefix("runner-spool-")
        .tempdir()
        .map_err(|e| format!("spool directory: {e}"))?;
    let reader = CsvReader::open(&file_name, input.open(objects).await?, source, BATCH_ROWS)?;
    let program = Program::compile(dataset, SourceKind::Csv, reader.columns())
        .map_err(|e| format!("{file_name}: {e}"))?;
    let partitioner = Partitioner::compile(&layout.partition_by, &program.schema())?;
    let codec = match layout.compression.unwrap_or(Codec::Snappy) {
        Codec::None => ParquetCompression::UNCOMPRESSED,
        Codec::Gzip => ParquetCompression::GZIP(Default::default()),
        Codec::Zstd => ParquetCompression::ZSTD(Default::default()),
        Codec::Snappy => ParquetCompression::SNAPPY,
    };
    let properties = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let max_records = layout
        .rotate
        .as_ref()
        .and_then(|r| r.max_records)
        .unwrap_or(u64::MAX);
    let max_bytes = layout
        .rotate
        .as_ref()
        .and_then(|r| r.max_bytes)
        .map_or(u64::MAX, |size| size.0);

    let mut summary = Summary {
        flow: name.to_owned(),
        ..Summary::default()
    };
    let key_columns: Vec<usize> = program.key_columns(&dataset.key);
    let mut first_rows = FirstRows::default();
    // `dedupe: last` needs every key's last line before a row is written: the rows are
    // spilled with their line, which the write phase checks against the keys' last lines.
    let mut last_rows = (dataset.dedupe == Dedupe::Last).then(|| LastRows::new(spool_dir.path()));
    let spill_schema = match last_rows {
        Some(_) => with_line_column(&program.schema()),
        None => program.schema(),
    };
    let mut spill = PartitionSpill::new(spool_dir.path(), spill_schema);
    let mut reported = Progress::default();
    let mut quarantine = Quarantine::create(spool_dir.path().join("rejects.jsonl"))?;
    let mut reader = reader.read_ahead(READ_AHEAD);
    while let Some((raw, bytes)) = reader.next_batch()? {
        summary.read += (raw.batch.num_rows() + raw.rejects.len()) as u64;
        reported = Progress {
            rows: summary.read,
            bytes,
            total_bytes: size,
            compressed: reader.compressed(),
            written: 0,
        };
        progress(reported);
        for reject in &raw.rejects {
            *summary.rejected.entry("unreadable row".into()).or_default() += 1;
            quarantine.push(&serde_json::json!({
                "file": file_name, "line": reject.line, "field": null, "raw": reject.raw, "reason": reject.reason,
            }))?;
        }
        let cleaned = program.apply(&raw.batch)?;
        for reject in &cleaned.rejects {
            *summary.rejected.entry(reject.field.clone()).or_default() += 1;
            quarantine.push(&serde_json::json!({
                "file": file_name, "line": raw.lines[reject.row], "field": reject.field, "raw": reject.raw, "reason": reject.reason,
            }))?;
        }
        if dataset.on_error == OnError::Fail
            && (!raw.rejects.is_empty() || !cleaned.rejects.is_empty())
        {
            let first = quarantine.first.clone().unwrap_or_default();
            return Err(format!(
                "a row was rejected and the dataset says on_error: fail: {first}"
            ));
        }
        let batch = match (dataset.dedupe, &mut last_rows) {
            (Dedupe::Last, Some(last)) => {
                let lines: Vec<u64> = cleaned
                    .rows
                    .iter()
                    .map(|&row| raw.lines[row as usize])
                    .collect();
                for (i, &line) in lines.iter().enumerate() {
                    last.record(key_hash(&cleaned.batch, &key_columns, i), line)?;
                }
                let mut columns = cleaned.batch.columns().to_vec();
                columns.push(Arc::new(UInt64Array::from(lines)));
                RecordBatch::try_new(spill.schema(), columns).map_err(|e| e.to_string())?
            }
            (Dedupe::First, _) => {
                let keep: Vec<bool> = (0..cleaned.batch.num_rows())
                    .map(|i| first_rows.keep(key_hash(&cleaned.batch, &key_columns, i)))
                    .collect();
                drop_rows(&cleaned.batch, keep, &mut summary)?
            }
            _ => cleaned.batch,
        };
        for (partition, rows) in partitioner.group(&batch)? {
            let indices = arrow_array::UInt32Array::from(rows);
            let part: RecordBatch = arrow_select::take::take_record_batch(&batch, &indices)
                .map_err(|e| e.to_string())?;
            spill.append(&partition, &part)?;
        }
    }
    if let Some(last) = &mut last_rows {
        last.finish()?;
    }
    // One file is open at a time, so one spool path serves them all.
    let spool = spool_dir.path().join("part.parquet");
    for (partition, mut rows) in spill.finish()? {
        let mut sequence = 0u32;
        let mut file: Option<OpenFile> = None;
        while let Some(spilled) = rows.next_batch()? {
            let mut batch = match &last_rows {
                Some(last) => last_of_their_keys(spilled, last, &key_columns, &mut summary)?,
                None => spilled,
            };
            summary.written += batch.num_rows() as u64;
            // Bytes before compression: the rows' size in Arrow form.
            let batch_bytes: usize = batch
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size())
                .sum::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let row_bytes = (batch_bytes / batch.num_rows().max(1)).max(1);
            while batch.num_rows() > 0 {
                let open = match &mut file {
                    Some(open) => open,
                    None => {
                        let key = format!(
                            "{}{partition}part-{stem}-{sequence:05}.parquet",
                            layout.prefix
                        );
                        sequence += 1;
                        file.insert(OpenFile::create(key, &spool, &program, &properties)?)
                    }
                };
                // At least one row a file, whatever the limits say.
                let room = (max_records - open.rows)
                    .min((max_bytes - open.bytes).div_ceil(row_bytes as u64))
                    .min(batch.num_rows() as u64)
                    .max(1) as usize;
                open.writer
                    .write(&batch.slice(0, room))
                    .map_err(|e| e.to_string())?;
                open.rows += room as u64;
                open.bytes += (room * row_bytes) as u64;
                batch = batch.slice(room, batch.num_rows() - room);
                reported.written += room as u64;
                progress(reported);
                if open.writer.memory_size() > ROW_GROUP_BUDGET {
                    open.writer.flush().map_err(|e| e.to_string())?;
                }
                if (open.rows >= max_records || open.bytes >= max_bytes)
                    && let Some(full) = file.take()
                {
                    close(full, objects, bucket, &mut summary).await?;
                }
            }
        }
        if let Some(last) = file {
            close(last, objects, bucket, &mut summary).await?;
        }
    }
    // Files of an earlier run of this input that this run did not write again.
    let ours = format!("part-{stem}-");
    for key in objects
        .list(bucket, &layout.prefix)
        .await
        .map_err(|e| e.to_string())?
    {
        let file_name = key.rsplit('/').next().unwrap_or_default();
        if file_name.starts_with(&ours) && !summary.objects.contains(&key) {
            objects
                .delete(bucket, &key)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let quarantine_key = format!("{}_rejects/{name}/{stem}.jsonl", layout.prefix);
    match quarantine.finish()? {
        None => objects
            .delete(bucket, &quarantine_key)
            .await
            .map_err(|e| e.to_string())?,
        Some(path) => {
            objects
                .put_file(bucket, &quarantine_key, &path)
                .await
                .map_err(|e| e.to_string())?;
            summary.objects.push(quarantine_key);
        }
    }
    summary.objects.sort();
    Ok(summary)
}

/// The quarantine of one input, spooled as JSON lines.
struct Quarantine {
    path: PathBuf,
    out: BufWriter<File>,
    /// The first rejected row, for the error of `on_error: fail`.
    first: Option<serde_json::Value>,
}

impl Quarantine {
    fn create(path: PathBuf) -> Result<Quarantine, String> {
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Quarantine {
            path,
            out: BufWriter::new(file),
            first: None,
        })
    }

    fn push(&mut self, reject: &serde_json::Value) -> Result<(), String> {
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
    fn finish(mut self) -> Result<Option<PathBuf>, String> {
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(self.first.map(|_| self.path))
    }
}

/// The spill schema of `dedupe: last`: the cleaned columns, then each row's input line.
fn with_line_column(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(ArrowField::new(
        LINE_COLUMN,
        DataType::UInt64,
        false,
    )));
    Arc::new(Schema::new(fields))
}

/// A spilled batch of `dedupe: last` without the rows that are not their key's last, and
/// without the line column.
fn last_of_their_keys(
    spilled: RecordBatch,
    last: &LastRows,
    key_columns: &[usize],
    summary: &mut Summary,
) -> Result<RecordBatch, String> {
    let width = spilled.num_columns() - 1;
    let lines = spilled.column(width).as_primitive::<UInt64Type>();
    let keep: Vec<bool> = (0..spilled.num_rows())
        .map(|i| last.keep(key_hash(&spilled, key_columns, i), lines.value(i)))
        .collect();
    let cleaned = spilled.project(&(0..width).collect::<Vec<_>>());
    drop_rows(&cleaned.map_err(|e| e.to_string())?, keep, summary)
}

/// `batch` without the rows `keep` says false for, counted as deduplicated.
fn drop_rows(
    batch: &RecordBatch,
    keep: Vec<bool>,
    summary: &mut Summary,
) -> Result<RecordBatch, String> {
    let dropped = keep.iter().filter(|k| !**k).count();
    if dropped == 0 {
        return Ok(batch.clone());
    }
    summary.deduplicated += dropped as u64;
    arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep))
        .map_err(|e| e.to_string())
}

async fn close(
    file: OpenFile,
    objects: &dyn ObjectStore,
    bucket: &str,
    summary: &mut Summary,
) -> Result<(), String> {
    file.writer.close().map_err(|e| e.to_string())?;
    objects
        .put_file(bucket, &file.key, &file.spool)
        .await
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(&file.spool).map_err(|e| format!("{}: {e}", file.spool.display()))?;
    summary.objects.push(file.key);
    Ok(())
}
