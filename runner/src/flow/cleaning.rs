//! The backfill's cleaning stage, on a thread of its own between the CSV reader thread and
//! the spill, so reading, cleaning and spilling run at once: each raw batch is cleaned by
//! the dataset's program, deduplicated and split by partition.
//!
//! `dedupe: first` drops a key's later rows here. `dedupe: last` cannot know yet which
//! row of a key is the last: it records each row's key and line in [`LastRows`] and
//! appends the line to the row (the [`LINE_COLUMN`]), for the write phase to check.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use arrow_array::{BooleanArray, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field as ArrowField, FieldRef, Schema, SchemaRef};

use super::csv_source::{ReadAhead, SourceReject};
use super::dedupe::{FirstRows, LastRows, key_hash};
use super::partition::Partitioner;
use crate::clean::{Program, Reject};
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
    /// Rows dropped as repeated keys (`dedupe: first`).
    pub deduplicated: u64,
    /// The accepted rows by partition (with the line column under `dedupe: last`).
    pub parts: Vec<(String, RecordBatch)>,
}

/// What the stage sends: a batch, or the end with the keys' last lines (`dedupe: last`).
pub enum Message {
    /// A cleaned batch.
    Batch(Staged),
    /// The input is read whole.
    End(Option<LastRows>),
}

/// How the stage cleans: the program, the partitioning and the dedupe.
pub struct Rules {
    /// The dataset's compiled rules.
    pub program: Program,
    /// The layout's partitioning.
    pub partitioner: Partitioner,
    /// The dataset's dedupe.
    pub dedupe: Dedupe,
    /// The key's output columns.
    pub key_columns: Vec<usize>,
    /// The schema of the rows handed on (see [`spill_schema`]).
    pub schema: SchemaRef,
}

/// The schema of the rows the stage hands on: the program's, with the line column under
/// `dedupe: last`.
pub fn spill_schema(program: &Program, dedupe: Dedupe) -> SchemaRef {
    let schema = program.schema();
    if dedupe != Dedupe::Last {
        return schema;
    }
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(ArrowField::new(
        LINE_COLUMN,
        DataType::UInt64,
        false,
    )));
    Arc::new(Schema::new(fields))
}

/// The cleaning thread's output.
pub struct Stage {
    receiver: Receiver<Result<Message, String>>,
}

impl Stage {
    /// Starts cleaning `reader`'s batches by `rules` on a new thread; `last` records the
    /// keys under `dedupe: last`.
    pub fn start(mut reader: ReadAhead, rules: Rules, mut last: Option<LastRows>) -> Stage {
        let (sender, receiver) = sync_channel(QUEUE);
        std::thread::spawn(move || {
            let mut first = FirstRows::default();
            loop {
                let message = match reader.next_batch() {
                    Ok(Some((raw, bytes))) => {
                        clean(&rules, raw, bytes, &mut first, last.as_mut()).map(Message::Batch)
                    }
                    Ok(None) => match last.as_mut().map(LastRows::finish).transpose() {
                        Ok(_) => Ok(Message::End(last.take())),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                let more = matches!(message, Ok(Message::Batch(_)));
                // A closed channel means the consumer stopped early: nothing to do.
                if sender.send(message).is_err() || !more {
                    return;
                }
            }
        });
        Stage { receiver }
    }

    /// The next message; an error when the input or the cleaning failed.
    pub fn next_message(&self) -> Result<Message, String> {
        self.receiver
            .recv()
            .map_err(|_| "the cleaning thread stopped unexpectedly".to_owned())?
    }
}

/// Cleans, deduplicates and partitions one raw batch.
fn clean(
    rules: &Rules,
    raw: super::csv_source::RawBatch,
    bytes: u64,
    first: &mut FirstRows,
    last: Option<&mut LastRows>,
) -> Result<Staged, String> {
    let read = (raw.batch.num_rows() + raw.rejects.len()) as u64;
    let cleaned = rules.program.apply(&raw.batch)?;
    let rejects = cleaned
        .rejects
        .into_iter()
        .map(|r| (raw.lines[r.row], r))
        .collect();
    let keys = &rules.key_columns;
    let mut deduplicated = 0;
    let batch = match (rules.dedupe, last) {
        (Dedupe::Last, Some(last)) => {
            let lines: Vec<u64> = cleaned
                .rows
                .iter()
                .map(|&row| raw.lines[row as usize])
                .collect();
            for (i, &line) in lines.iter().enumerate() {
                last.record(key_hash(&cleaned.batch, keys, i), line)?;
            }
            let mut columns = cleaned.batch.columns().to_vec();
            columns.push(Arc::new(UInt64Array::from(lines)));
            RecordBatch::try_new(Arc::clone(&rules.schema), columns).map_err(|e| e.to_string())?
        }
        (Dedupe::First, _) => {
            let keep: Vec<bool> = (0..cleaned.batch.num_rows())
                .map(|i| first.keep(key_hash(&cleaned.batch, keys, i)))
                .collect();
            let (kept, dropped) = keep_rows(&cleaned.batch, keep)?;
            deduplicated = dropped;
            kept
        }
        _ => cleaned.batch,
    };
    let parts = rules
        .partitioner
        .group(&batch)?
        .into_iter()
        .map(|(partition, rows)| {
            let indices = arrow_array::UInt32Array::from(rows);
            arrow_select::take::take_record_batch(&batch, &indices)
                .map(|part| (partition, part))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    Ok(Staged {
        read,
        bytes,
        unreadable: raw.rejects,
        rejects,
        deduplicated,
        parts,
    })
}

/// `batch` without the rows `keep` says false for, and how many those were.
pub fn keep_rows(batch: &RecordBatch, keep: Vec<bool>) -> Result<(RecordBatch, u64), String> {
    let dropped = keep.iter().filter(|k| !**k).count() as u64;
    if dropped == 0 {
        return Ok((batch.clone(), 0));
    }
    arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep))
        .map(|kept| (kept, dropped))
        .map_err(|e| e.to_string())
}
