//! The backfill's cleaning stage, on a thread of its own between the CSV reader thread and
//! the spill, so reading, cleaning and spilling run at once: each raw batch is cleaned by
//! the dataset's program ([`Stage`]); the spilling thread then deduplicates the rows and
//! splits them by partition ([`Splitter`]).
//!
//! `dedupe: first` drops a key's later rows there. `dedupe: last` cannot know yet which
//! row of a key is the last: it records each row's key and line in [`LastRows`] and
//! appends the line to the row (the [`LINE_COLUMN`]), for the write phase to check.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use arrow_array::{BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field as ArrowField, FieldRef, Schema, SchemaRef};

use super::csv_source::{RawBatch, ReadAhead, SourceReject};
use super::key_dedupe::{FirstRows, LastRows, key_hash};
use crate::clean::{Program, Reject};
use crate::flow::error::FlowError;
use crate::flow::partition::Partitioner;
use crate::spec::dataset::Dedupe;

/// The spilled rows' extra column under `dedupe: last`: each row's input line.
pub const LINE_COLUMN: &str = "__line";

/// Cleaned batches waiting for the spill.
const QUEUE: usize = 2;

/// One raw batch, cleaned.
pub struct Staged {
    /// Rows read, readable or not.
    pub read: u64,
    /// Input bytes read so far (decompressed).
    pub bytes: u64,
    /// Rows the source could not read.
    pub unreadable: Vec<SourceReject>,
    /// Rows the rules rejected, each with its input line.
    pub rejects: Vec<(u64, Reject)>,
    /// The accepted rows, typed.
    pub batch: RecordBatch,
    /// The input line of each accepted row.
    pub lines: Vec<u64>,
}

/// The cleaning thread's output.
pub struct Stage {
    receiver: Receiver<Result<Option<Staged>, FlowError>>,
}

impl Stage {
    /// Starts cleaning `reader`'s batches by `program` on a new thread.
    pub fn start(mut reader: ReadAhead, program: Program) -> Stage {
        let (sender, receiver) = sync_channel(QUEUE);
        std::thread::spawn(move || {
            loop {
                let message = match reader.next_batch() {
                    Ok(Some((raw, bytes))) => clean(&program, raw, bytes).map(Some),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                let more = matches!(message, Ok(Some(_)));
                // A closed channel means the consumer stopped early: nothing to do.
                if sender.send(message).is_err() || !more {
                    return;
                }
            }
        });
        Stage { receiver }
    }

    /// The next cleaned batch, or `None` at the end of the input; an error when the
    /// input or the cleaning failed.
    pub fn next_batch(&self) -> Result<Option<Staged>, FlowError> {
        self.receiver
            .recv()
            .map_err(|_| "the cleaning thread stopped unexpectedly".to_owned())?
    }
}

/// Cleans one raw batch.
fn clean(program: &Program, raw: RawBatch, bytes: u64) -> Result<Staged, FlowError> {
    let read = (raw.batch.num_rows() + raw.rejects.len()) as u64;
    let cleaned = program.apply(&raw.batch)?;
    Ok(Staged {
        read,
        bytes,
        unreadable: raw.rejects,
        rejects: cleaned
            .rejects
            .into_iter()
            .map(|r| (raw.lines[r.row], r))
            .collect(),
        lines: cleaned
            .rows
            .iter()
            .map(|&row| raw.lines[row as usize])
            .collect(),
        batch: cleaned.batch,
    })
}

/// Deduplicates cleaned rows and splits them by partition, in input order.
pub struct Splitter {
    partitioner: Partitioner,
    dedupe: Dedupe,
    key_columns: Vec<usize>,
    schema: SchemaRef,
    first: FirstRows,
    last: Option<LastRows>,
}

impl Splitter {
    /// A splitter by `partitioner` of `program`'s rows, deduplicated by `dedupe` on the
    /// key's `key_columns`; `dedupe: last` records its keys in `last`.
    pub fn new(
        partitioner: Partitioner,
        dedupe: Dedupe,
        key_columns: Vec<usize>,
        program: &Program,
        last: Option<LastRows>,
    ) -> Splitter {
        let mut schema = program.schema();
        if dedupe == Dedupe::Last {
            let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
            fields.push(Arc::new(ArrowField::new(
                LINE_COLUMN,
                DataType::UInt64,
                false,
            )));
            schema = Arc::new(Schema::new(fields));
        }
        Splitter {
            partitioner,
            dedupe,
            key_columns,
            schema,
            first: FirstRows::default(),
            last,
        }
    }

    /// The schema of the rows handed on: the program's, with the line column under
    /// `dedupe: last`.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// `batch`'s rows (on input `lines`) by partition, without the repeated keys of
    /// `dedupe: first` (counted in the second value).
    pub fn split(
        &mut self,
        batch: RecordBatch,
        lines: Vec<u64>,
    ) -> Result<(Vec<(String, RecordBatch)>, u64), FlowError> {
        let keys = &self.key_columns;
        let mut deduplicated = 0;
        let batch = match (self.dedupe, self.last.as_mut()) {
            (Dedupe::Last, Some(last)) => {
                for (i, &line) in lines.iter().enumerate() {
                    last.record(key_hash(&batch, keys, i), line)?;
                }
                let mut columns = batch.columns().to_vec();
                columns.push(Arc::new(UInt64Array::from(lines)));
                RecordBatch::try_new(self.schema(), columns)?
            }
            (Dedupe::First, _) => {
                let keep: Vec<bool> = (0..batch.num_rows())
                    .map(|i| self.first.keep(key_hash(&batch, keys, i)))
                    .collect();
                let (kept, dropped) = keep_rows(&batch, keep)?;
                deduplicated = dropped;
                kept
            }
            _ => batch,
        };
        // The rows are put in partition order with one take; each partition is a slice.
        let groups = self.partitioner.group(&batch)?;
        let order: Vec<u32> = groups.iter().flat_map(|(_, rows)| rows).copied().collect();
        let sorted = arrow_select::take::take_record_batch(&batch, &UInt32Array::from(order))?;
        let mut start = 0;
        let parts = groups
            .into_iter()
            .map(|(partition, rows)| {
                let part = sorted.slice(start, rows.len());
                start += rows.len();
                (partition, part)
            })
            .collect();
        Ok((parts, deduplicated))
    }

    /// The end of the input: under `dedupe: last`, every key's last line.
    pub fn finish(self) -> Result<Option<LastRows>, FlowError> {
        let mut last = self.last;
        if let Some(last) = last.as_mut() {
            last.finish()?;
        }
        Ok(last)
    }
}

/// `batch` without the rows `keep` says false for, and how many those were.
pub fn keep_rows(batch: &RecordBatch, keep: Vec<bool>) -> Result<(RecordBatch, u64), FlowError> {
    let dropped = keep.iter().filter(|k| !**k).count() as u64;
    if dropped == 0 {
        return Ok((batch.clone(), 0));
    }
    arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep))
        .map(|kept| (kept, dropped))
        .map_err(FlowError::from)
}
