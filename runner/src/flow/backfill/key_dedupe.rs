//! Dedupe on the dataset key within a run: rows are identified by a 64-bit hash of their
//! cleaned key values (8 bytes of memory per distinct key, whatever the row size).
//!
//! `first` keeps the first row of each key as rows come. `last` needs to know a key's last
//! row before writing any, so [`LastRows`] is filled while the rows are read and spilled:
//! it collects `(key hash, line)` pairs (16 bytes a row; past [`IN_MEMORY_PAIRS`] they are
//! spilled to [`BUCKETS`] files by hash), then keeps only the lines of the rows a later
//! row of their key replaces, so the write phase, which checks each spilled row's line,
//! holds memory for duplicates alone and hashes no key again.

use std::fs::File;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::flow::error::FlowError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

/// The hash of row `row`'s key columns (`columns` are indices into `batch`), for
/// comparing keys within one run (a fast hash, not kept in state).
pub fn key_hash(batch: &RecordBatch, columns: &[usize], row: usize) -> u64 {
    let mut hasher = KEY_HASH.build_hasher();
    for &column in columns {
        let array = batch.column(column);
        if array.is_null(row) {
            hasher.write_u8(0);
            continue;
        }
        hasher.write_u8(1);
        match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().value(row).hash(&mut hasher),
            DataType::Int64 => array
                .as_primitive::<Int64Type>()
                .value(row)
                .hash(&mut hasher),
            DataType::Float64 => array
                .as_primitive::<Float64Type>()
                .value(row)
                .to_bits()
                .hash(&mut hasher),
            DataType::Boolean => array.as_boolean().value(row).hash(&mut hasher),
            DataType::Date32 => array
                .as_primitive::<Date32Type>()
                .value(row)
                .hash(&mut hasher),
            DataType::Timestamp(_, _) => array
                .as_primitive::<TimestampMicrosecondType>()
                .value(row)
                .hash(&mut hasher),
            // `runner validate` allows no other key types (no geo points).
            _ => {}
        }
    }
    hasher.finish()
}

/// The hasher of [`key_hash`], with a fixed seed.
const KEY_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5eed);

/// Keeps the first row of each key.
#[derive(Default)]
pub struct FirstRows {
    seen: foldhash::HashSet<u64>,
}

impl FirstRows {
    /// Whether the row with this key hash is the first of its key.
    pub fn keep(&mut self, key: u64) -> bool {
        self.seen.insert(key)
    }
}

/// `(key hash, line)` pairs [`LastRows`] holds in memory before spilling them (16 MiB).
pub const IN_MEMORY_PAIRS: usize = 1 << 20;

/// Spill files of [`LastRows`], chosen by a key hash's top byte, so each holds about
/// 1/256 of the pairs and is read back alone.
pub const BUCKETS: usize = 256;

/// The lines of the rows a later row of their key replaces, filled as the rows are read.
pub struct LastRows {
    /// `(key hash, line)` pairs recorded and not spilled yet.
    rows: Vec<(u64, u64)>,
    /// Pairs kept in memory before a spill.
    limit: usize,
    spill_dir: PathBuf,
    /// The bucket files, once the first spill created them.
    buckets: Vec<(PathBuf, BufWriter<File>)>,
    /// After [`LastRows::finish`]: the lines of the rows that are not their key's last.
    replaced: foldhash::HashSet<u64>,
}

impl LastRows {
    /// An empty record that spills to `spill_dir` past [`IN_MEMORY_PAIRS`] rows.
    pub fn new(spill_dir: &Path) -> Self {
        Self::with_limit(spill_dir, IN_MEMORY_PAIRS)
    }

    fn with_limit(spill_dir: &Path, limit: usize) -> Self {
        LastRows {
            rows: Vec::new(),
            limit,
            spill_dir: spill_dir.to_owned(),
            buckets: Vec::new(),
            replaced: foldhash::HashSet::default(),
        }
    }

    /// Records that a row of `key` is on `line` (lines come in increasing order).
    pub fn record(&mut self, key: u64, line: u64) -> Result<(), FlowError> {
        self.rows.push((key, line));
        if self.rows.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Appends the pairs in memory to their bucket files.
    fn spill(&mut self) -> Result<(), FlowError> {
        if self.buckets.is_empty() {
            for bucket in 0..BUCKETS {
                let path = self.spill_dir.join(format!("keys-{bucket:03}.bin"));
                let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                self.buckets.push((path, BufWriter::new(file)));
            }
        }
        for &(key, line) in &self.rows {
            let (path, out) = &mut self.buckets[(key >> 56) as usize];
            out.write_all(&key.to_le_bytes())
                .and_then(|()| out.write_all(&line.to_le_bytes()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        self.rows.clear();
        Ok(())
    }

    /// Ends the recording: keeps the lines of the replaced rows, frees the rest.
    pub fn finish(&mut self) -> Result<(), FlowError> {
        if self.buckets.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            self.keep_replaced(rows);
            return Ok(());
        }
        self.spill()?;
        self.rows = Vec::new();
        for (path, out) in std::mem::take(&mut self.buckets) {
            let rows = out
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|file| {
                    drop(file);
                    read_pairs(&path)
                })
                .map_err(|e| format!("{}: {e}", path.display()))?;
            self.keep_replaced(rows);
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Adds the lines of the rows in `rows` that a later row of their key replaces.
    fn keep_replaced(&mut self, mut rows: Vec<(u64, u64)>) {
        rows.sort_unstable();
        for run in rows.chunk_by(|a, b| a.0 == b.0) {
            // Sorted by line within a key: every row but the last is replaced.
            if let [replaced @ .., _] = run {
                self.replaced.extend(replaced.iter().map(|&(_, line)| line));
            }
        }
    }

    /// Whether the row on `line` is its key's last.
    pub fn keep(&self, line: u64) -> bool {
        !self.replaced.contains(&line)
    }
}

/// The `(key, line)` pairs of a bucket file, read into a vector of exactly their size.
fn read_pairs(path: &Path) -> std::io::Result<Vec<(u64, u64)>> {
    let file = File::open(path)?;
    let pairs = file.metadata()?.len() as usize / 16;
    let mut input = std::io::BufReader::new(file);
    let mut rows = Vec::with_capacity(pairs);
    let mut pair = [0u8; 16];
    for _ in 0..pairs {
        input.read_exact(&mut pair)?;
        let (key, line) = pair.split_at(8);
        rows.push((
            u64::from_le_bytes(key.try_into().expect("8 bytes")),
            u64::from_le_bytes(line.try_into().expect("8 bytes")),
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::LastRows;

    #[test]
    fn only_the_last_row_of_a_duplicated_key_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut last = LastRows::new(dir.path());
        for (key, line) in [(7, 2), (9, 3), (7, 4), (5, 5), (7, 6)] {
            last.record(key, line).unwrap();
        }
        last.finish().unwrap();
        assert_eq!(last.replaced.len(), 2, "only replaced rows are remembered");
        assert!(!last.keep(2) && !last.keep(4) && last.keep(6));
        assert!(last.keep(3) && last.keep(5));
    }

    #[test]
    fn a_spilled_record_finds_the_same_last_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut last = LastRows::with_limit(dir.path(), 7);
        // Keys spread over the buckets (top byte), each duplicated key's rows in
        // different spills.
        let key = |k: u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for line in 0..100u64 {
            last.record(key(line % 40), line).unwrap();
        }
        assert!(!last.buckets.is_empty(), "the pairs were spilled");
        last.finish().unwrap();
        assert_eq!(last.replaced.len(), 60);
        for line in 0..100u64 {
            assert_eq!(last.keep(line), line >= 60, "line {line}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
