//! Dedupe on the dataset key within a run: rows are identified by a 64-bit hash of their
//! cleaned key values (8 bytes of memory per distinct key, whatever the row size).
//!
//! `first` keeps the first row of each key in one pass. `last` needs to know a key's last
//! row before writing any, so [`LastRows`] is filled by a first pass over the keys alone:
//! it collects `(key hash, line)` pairs (16 bytes a row), then keeps only the keys that
//! occur more than once, so the second pass holds memory for duplicated keys alone.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

/// A 64-bit hash of any value (the same value gives the same hash in every run of the
/// same build, so hashes can be kept in state objects).
pub fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The hash of row `row`'s key columns (`columns` are indices into `batch`).
pub fn key_hash(batch: &RecordBatch, columns: &[usize], row: usize) -> u64 {
    let mut hasher = DefaultHasher::new();
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

/// Keeps the first row of each key.
#[derive(Default)]
pub struct FirstRows {
    seen: HashSet<u64>,
}

impl FirstRows {
    /// Whether the row with this key hash is the first of its key.
    pub fn keep(&mut self, key: u64) -> bool {
        self.seen.insert(key)
    }
}

/// The last line of each duplicated key, filled by a first pass.
#[derive(Default)]
pub struct LastRows {
    /// Every `(key hash, line)` while the first pass records them.
    rows: Vec<(u64, u64)>,
    /// After [`LastRows::finish`]: the last line of each key that occurs more than once.
    last: HashMap<u64, u64>,
}

impl LastRows {
    /// Records that a row of `key` is on `line` (lines come in increasing order).
    pub fn record(&mut self, key: u64, line: u64) {
        self.rows.push((key, line));
    }

    /// Ends the first pass: keeps the last line of every duplicated key, frees the rest.
    pub fn finish(&mut self) {
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_unstable();
        for run in rows.chunk_by(|a, b| a.0 == b.0) {
            if let [_, .., (key, line)] = run {
                self.last.insert(*key, *line);
            }
        }
    }

    /// Whether the row of `key` on `line` is its key's last.
    pub fn keep(&self, key: u64, line: u64) -> bool {
        self.last.get(&key).is_none_or(|&last| last == line)
    }
}

#[cfg(test)]
mod tests {
    use super::LastRows;

    #[test]
    fn only_the_last_row_of_a_duplicated_key_is_kept() {
        let mut last = LastRows::default();
        for (key, line) in [(7, 2), (9, 3), (7, 4), (5, 5), (7, 6)] {
            last.record(key, line);
        }
        last.finish();
        assert_eq!(last.last.len(), 1, "only duplicated keys are remembered");
        assert!(!last.keep(7, 2) && !last.keep(7, 4) && last.keep(7, 6));
        assert!(last.keep(9, 3) && last.keep(5, 5));
    }
}
