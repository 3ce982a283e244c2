//! What a backfill run did, per input and in total; also what a checkpoint records of
//! each finished input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// Partition folders written that the partition projection of a catalog table over the
    /// layout does not enumerate: Athena does not read their rows.
    #[serde(default)]
    pub unprojected: Vec<String>,
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
