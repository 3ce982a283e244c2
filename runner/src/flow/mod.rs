//! The data path: sources read into Arrow batches, the cleaning engine, writers.

use crate::flow::error::FlowError;

pub mod backfill;
pub mod deliver;
pub mod error;
pub mod ingest;
pub mod partition;
pub mod register;
pub mod text;

/// The key of flow `flow`'s state object in the target's object store: a backfill's
/// checkpoint, an ingest's watermark.
pub fn state_key(pipeline: &str, flow: &str) -> String {
    format!("_runner/checkpoints/{pipeline}/{flow}.json")
}

/// Hands all of `bytes` to arrow-json's `decoder`, however many calls that takes (it stops
/// taking bytes when its batch is full).
pub fn feed_json(decoder: &mut arrow_json::reader::Decoder, bytes: &[u8]) -> Result<(), FlowError> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let used = decoder.decode(rest)?;
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }
    Ok(())
}

/// The share of `read` rows that were `rejected` (0 when none were read), which a
/// dataset's `max_reject_ratio` bounds.
pub fn reject_ratio(rejected: u64, read: u64) -> f64 {
    if read == 0 {
        0.0
    } else {
        rejected as f64 / read as f64
    }
}

/// JSON values as one JSON-lines body (a quarantine object).
pub fn jsonl_body(values: impl IntoIterator<Item = serde_json::Value>) -> Vec<u8> {
    let mut body = Vec::new();
    for value in values {
        body.extend_from_slice(value.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}
