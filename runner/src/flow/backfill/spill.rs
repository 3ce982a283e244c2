//! Rows grouped by partition on local disk. The backfill's first pass appends each
//! partition's rows to Arrow IPC files of its own, in input order; the second pass reads
//! the partitions back one at a time. So a single Parquet writer is open at once, with
//! full row groups, however many partitions the input interleaves, and memory does not
//! grow with the number of rows (only a little with the number of partitions: a name, a
//! list of segment files and, when open, a write buffer each).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use crate::flow::error::FlowError;
use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;
use arrow_select::coalesce::BatchCoalescer;

/// Spill files open for writing at once; past it the least recently written is finished
/// and its partition continues in a new segment file (so thousands of partitions do not
/// exhaust file descriptors).
const MAX_OPEN: usize = 256;

/// Write buffer of each open spill file.
const WRITE_BUFFER: usize = 32 << 10;

/// The rows of every partition seen so far, spilled to `dir`.
pub struct PartitionSpill {
    dir: PathBuf,
    schema: SchemaRef,
    partitions: BTreeMap<String, Spilled>,
    /// Spill files created, for their names.
    created: u64,
    /// Appends so far, the clock of least recently written.
    clock: u64,
    open: usize,
}

/// One partition's segment files and the writer of its last one, while open.
struct Spilled {
    segments: Vec<PathBuf>,
    writer: Option<StreamWriter<BufWriter<File>>>,
    last_write: u64,
}

impl PartitionSpill {
    /// An empty spill writing files of `schema` batches under `dir`.
    pub fn new(dir: &Path, schema: SchemaRef) -> Self {
        PartitionSpill {
            dir: dir.to_owned(),
            schema,
            partitions: BTreeMap::new(),
            created: 0,
            clock: 0,
            open: 0,
        }
    }

    /// Appends `batch`'s rows to `partition`.
    pub fn append(&mut self, partition: &str, batch: &RecordBatch) -> Result<(), FlowError> {
        self.clock += 1;
        let needs_writer = self
            .partitions
            .get(partition)
            .is_none_or(|p| p.writer.is_none());
        if needs_writer {
            if self.open >= MAX_OPEN {
                self.finish_least_recent()?;
            }
            let path = self.dir.join(format!("partition-{}.arrows", self.created));
            self.created += 1;
            let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let writer =
                StreamWriter::try_new(BufWriter::with_capacity(WRITE_BUFFER, file), &self.schema)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            let spilled = self
                .partitions
                .entry(partition.to_owned())
                .or_insert_with(|| Spilled {
                    segments: Vec::new(),
                    writer: None,
                    last_write: 0,
                });
            spilled.segments.push(path);
            spilled.writer = Some(writer);
            self.open += 1;
        }
        let spilled = self
            .partitions
            .get_mut(partition)
            .expect("the partition was just added");
        spilled.last_write = self.clock;
        if let Some(writer) = spilled.writer.as_mut() {
            writer
                .write(batch)
                .map_err(|e| format!("spill of partition {partition}: {e}"))?;
        }
        Ok(())
    }

    fn finish_least_recent(&mut self) -> Result<(), FlowError> {
        let oldest = self
            .partitions
            .values_mut()
            .filter(|p| p.writer.is_some())
            .min_by_key(|p| p.last_write);
        if let Some(spilled) = oldest {
            finish_writer(spilled)?;
            self.open -= 1;
        }
        Ok(())
    }

    /// Ends the appends: every partition, in name order, with the reader of its rows.
    pub fn finish(mut self) -> Result<Vec<(String, PartitionRows)>, FlowError> {
        let schema = self.schema.clone();
        let mut partitions = Vec::new();
        for (name, mut spilled) in std::mem::take(&mut self.partitions) {
            finish_writer(&mut spilled)?;
            partitions.push((
                name,
                PartitionRows {
                    segments: spilled.segments.into_iter().rev().collect(),
                    reader: None,
                    coalescer: BatchCoalescer::new(schema.clone(), super::csv_source::BATCH_ROWS),
                    done: false,
                },
            ));
        }
        Ok(partitions)
    }
}

fn finish_writer(spilled: &mut Spilled) -> Result<(), FlowError> {
    if let Some(mut writer) = spilled.writer.take() {
        let name = spilled
            .segments
            .last()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        writer
            .finish()
            .and_then(|()| writer.into_inner().map(drop))
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// One partition's spilled rows, read back in input order in batches of about
/// [`super::csv_source::BATCH_ROWS`] rows; each segment file is deleted once read.
pub struct PartitionRows {
    /// Segments not opened yet, the next one last.
    segments: Vec<PathBuf>,
    reader: Option<(PathBuf, StreamReader<BufReader<File>>)>,
    coalescer: BatchCoalescer,
    done: bool,
}

impl PartitionRows {
    /// The next batch of rows, or `None` at the end of the partition.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, FlowError> {
        loop {
            if let Some(batch) = self.coalescer.next_completed_batch() {
                return Ok(Some(batch));
            }
            if self.done {
                return Ok(None);
            }
            let Some((path, reader)) = self.reader.as_mut() else {
                match self.segments.pop() {
                    Some(path) => {
                        let file =
                            File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                        let reader = StreamReader::try_new_buffered(file, None)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        self.reader = Some((path, reader));
                    }
                    None => {
                        self.coalescer.finish_buffered_batch()?;
                        self.done = true;
                    }
                }
                continue;
            };
            match reader.next() {
                Some(batch) => {
                    let batch = batch.map_err(|e| format!("{}: {e}", path.display()))?;
                    self.coalescer.push_batch(batch)?;
                }
                None => {
                    std::fs::remove_file(&*path).map_err(|e| format!("{}: {e}", path.display()))?;
                    self.reader = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    use super::{MAX_OPEN, PartitionSpill};

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    fn values(batch: &RecordBatch) -> Vec<i64> {
        let column = batch.column(0).as_any().downcast_ref::<Int64Array>();
        column.unwrap().values().to_vec()
    }

    #[test]
    fn each_partition_reads_back_its_rows_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = PartitionSpill::new(dir.path(), batch(&[]).schema());
        // More partitions than open files: early partitions continue in new segments.
        let partitions: Vec<String> = (0..MAX_OPEN + 3).map(|p| format!("p{p:04}/")).collect();
        for round in 0..3i64 {
            for (p, name) in partitions.iter().enumerate() {
                let first = round * 10_000 + p as i64 * 2;
                spill.append(name, &batch(&[first, first + 1])).unwrap();
            }
        }
        let read = spill.finish().unwrap();
        assert_eq!(read.len(), partitions.len());
        for (p, (name, mut rows)) in read.into_iter().enumerate() {
            assert_eq!(name, partitions[p]);
            let mut got = Vec::new();
            while let Some(b) = rows.next_batch().unwrap() {
                got.extend(values(&b));
            }
            let p = p as i64 * 2;
            let want = vec![p, p + 1, 10_000 + p, 10_001 + p, 20_000 + p, 20_001 + p];
            assert_eq!(got, want, "partition {name}");
        }
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 0, "every spill file is deleted once read");
    }
}
