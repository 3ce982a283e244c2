//! The data path: sources read into Arrow batches, the cleaning engine, writers.

pub mod backfill;
pub mod checkpoint;
pub mod csv_source;
pub mod dedupe;
pub mod input;
pub mod partition;

#[cfg(test)]
mod tests;
