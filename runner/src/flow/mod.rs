//! The data path: sources read into Arrow batches, the cleaning engine, writers.

pub mod csv_source;

#[cfg(test)]
mod tests;
