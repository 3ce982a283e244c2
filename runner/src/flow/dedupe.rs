//! Dedupe on the dataset key within a run: rows are identified by a 64-bit hash of their
//! cleaned key values (8 bytes of memory per distinct key, whatever the row size).
//!
//! `first` keeps the first row of each key in one pass. `last` needs to know a key's last
//! row before writing any, so [`LastRows`] is filled by a first pass over the keys alone.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

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

/// The last line of each key, filled by a first pass.
#[derive(Default)]
pub struct LastRows {
    last: HashMap<u64, u64>,
}

impl LastRows {
    /// Records that a row of `key` is on `line` (later lines win).
    pub fn record(&mut self, key: u64, line: u64) {
        self.last.insert(key, line);
    }

    /// Whether the row of `key` on `line` is its key's last.
    pub fn keep(&self, key: u64, line: u64) -> bool {
        self.last.get(&key).is_none_or(|&last| last == line)
    }
}
