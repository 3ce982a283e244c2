//! The backfill's write phase: the spilled partitions written as Parquet files in the
//! spool directory on several threads, and handed to the caller to store. A partition is
//! written whole by one thread, so its files and their names do not depend on the number
//! of threads. Under `dedupe: last`, the rows that are not their key's last are dropped
//! here, with the line column.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::cleaning::keep_rows;
use super::key_dedupe::LastRows;
use super::spill::PartitionRows;
use crate::flow::error::FlowError;

/// Messages waiting for the caller, per writer thread.
const QUEUE: usize = 4;

/// How partitions become files.
pub struct FileRules {
    /// The object key prefix of the layout.
    pub prefix: String,
    /// The input's name in object names (`part-<stem>-<sequence>.parquet`).
    pub stem: String,
    /// The schema of the files (the cleaned rows, without the line column).
    pub schema: SchemaRef,
    /// Compression, row group size.
    pub properties: WriterProperties,
    /// Rows a file holds at most.
    pub max_records: u64,
    /// Bytes (in Arrow form, before compression) a file holds at most.
    pub max_bytes: u64,
    /// Bytes one file may buffer before its row group is flushed early.
    pub budget: usize,
    /// Under `dedupe: last`: the lines of the rows a later row of their key replaces.
    pub last: Option<Arc<LastRows>>,
}

/// What the writer threads report.
pub enum Written {
    /// Rows written to files, and rows dropped as not their key's last, since the last
    /// report of that thread.
    Rows {
        /// Rows written.
        written: u64,
        /// Rows dropped.
        deduplicated: u64,
    },
    /// A finished file to store under `key`.
    File {
        /// The object key.
        key: String,
        /// The file in the spool directory; the caller deletes it once stored.
        spool: PathBuf,
    },
}

/// What a writer thread sends: a report, or that it has no partition left.
enum Report {
    Written(Written),
    Done,
}

/// The writer threads at work.
pub struct Writers {
    receiver: Receiver<Result<Report, FlowError>>,
    running: usize,
}

impl Writers {
    /// Starts `threads` threads writing `partitions` by `rules` into `spool_dir`.
    pub fn start(
        partitions: Vec<(String, PartitionRows)>,
        rules: FileRules,
        spool_dir: PathBuf,
        threads: usize,
    ) -> Writers {
        let threads = threads.clamp(1, partitions.len().max(1));
        let (sender, receiver) = sync_channel(QUEUE * threads);
        let queue = Arc::new(Mutex::new(VecDeque::from(partitions)));
        let rules = Arc::new(rules);
        for thread in 0..threads {
            let (queue, rules, sender) = (Arc::clone(&queue), Arc::clone(&rules), sender.clone());
            let spool_dir = spool_dir.clone();
            std::thread::spawn(move || {
                let mut files = 0u64;
                let mut spool = || {
                    files += 1;
                    spool_dir.join(format!("part-{thread}-{files}.parquet"))
                };
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).ok().flatten();
                    let Some((partition, rows)) = next else {
                        let _ = sender.send(Ok(Report::Done));
                        return;
                    };
                    if let Err(stop) =
                        write_partition(&partition, rows, &rules, &mut spool, &sender)
                    {
                        // A closed channel means the caller stopped: nothing to report.
                        let _ = sender.send(Err(stop));
                        return;
                    }
                }
            });
        }
        Writers {
            receiver,
            running: threads,
        }
    }

    /// The next report, or `None` once every thread is done.
    pub fn next_report(&mut self) -> Result<Option<Written>, FlowError> {
        while self.running > 0 {
            match self.receiver.recv() {
                Ok(Ok(Report::Done)) => self.running -= 1,
                Ok(Ok(Report::Written(written))) => return Ok(Some(written)),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("a Parquet writer thread stopped unexpectedly".into()),
            }
        }
        Ok(None)
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

/// Writes one partition's rows into files of at most `max_records` rows and `max_bytes`
/// bytes (at least one row each), each sent to the caller when closed.
fn write_partition(
    partition: &str,
    mut rows: PartitionRows,
    rules: &FileRules,
    spool: &mut dyn FnMut() -> PathBuf,
    out: &SyncSender<Result<Report, FlowError>>,
) -> Result<(), FlowError> {
    let send = |written: Written| {
        out.send(Ok(Report::Written(written)))
            .map_err(|_| "the backfill stopped".to_owned())
    };
    let mut sequence = 0u32;
    let mut file: Option<OpenFile> = None;
    while let Some(spilled) = rows.next_batch()? {
        let (mut batch, deduplicated) = match &rules.last {
            Some(last) => last_of_their_keys(spilled, last)?,
            None => (spilled, 0),
        };
        let written = batch.num_rows() as u64;
        // Bytes before compression: the rows' size in Arrow form.
        let batch_bytes: usize = batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size())
            .sum::<Result<_, _>>()?;
        let row_bytes = (batch_bytes / batch.num_rows().max(1)).max(1);
        while batch.num_rows() > 0 {
            let open = match &mut file {
                Some(open) => open,
                None => {
                    let key = format!(
                        "{}{partition}part-{}-{sequence:05}.parquet",
                        rules.prefix, rules.stem
                    );
                    sequence += 1;
                    let spool = spool();
                    let sink = File::create(&spool)
                        .map_err(|e| format!("spool file {}: {e}", spool.display()))?;
                    let writer = ArrowWriter::try_new(
                        sink,
                        SchemaRef::clone(&rules.schema),
                        Some(rules.properties.clone()),
                    )?;
                    file.insert(OpenFile {
                        key,
                        spool,
                        writer,
                        rows: 0,
                        bytes: 0,
                    })
                }
            };
            // At least one row a file, whatever the limits say.
            let room = (rules.max_records - open.rows)
                .min((rules.max_bytes - open.bytes).div_ceil(row_bytes as u64))
                .min(batch.num_rows() as u64)
                .max(1) as usize;
            open.writer.write(&batch.slice(0, room))?;
            open.rows += room as u64;
            open.bytes += (room * row_bytes) as u64;
            batch = batch.slice(room, batch.num_rows() - room);
            if open.writer.memory_size() > rules.budget {
                open.writer.flush()?;
            }
            if (open.rows >= rules.max_records || open.bytes >= rules.max_bytes)
                && let Some(full) = file.take()
            {
                send(close(full)?)?;
            }
        }
        send(Written::Rows {
            written,
            deduplicated,
        })?;
    }
    if let Some(last) = file {
        send(close(last)?)?;
    }
    Ok(())
}

/// Finishes a file: its footer written, it is ready to store.
fn close(file: OpenFile) -> Result<Written, FlowError> {
    file.writer.close()?;
    Ok(Written::File {
        key: file.key,
        spool: file.spool,
    })
}

/// A spilled batch of `dedupe: last` without the rows that are not their key's last (and
/// how many those were), and without the line column.
fn last_of_their_keys(
    spilled: RecordBatch,
    last: &LastRows,
) -> Result<(RecordBatch, u64), FlowError> {
    let width = spilled.num_columns() - 1;
    let lines = spilled.column(width).as_primitive::<UInt64Type>();
    let keep: Vec<bool> = lines.values().iter().map(|&line| last.keep(line)).collect();
    let cleaned = spilled.project(&(0..width).collect::<Vec<_>>())?;
    keep_rows(&cleaned, keep)
}
