//! The data path: sources read into Arrow batches, the cleaning engine, writers.

pub mod backfill;
pub mod checkpoint;
pub mod csv_source;
pub mod dedupe;
pub mod deliver;
pub mod ingest;
pub mod input;
pub mod partition;
pub mod register;
pub mod socrata;
pub mod stop;

#[cfg(test)]
mod tests;
