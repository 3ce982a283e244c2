//! A deliver flow's dedupe window: the hashes of the records each topic partition delivered
//! lately, so that a record produced twice (an ingest killed between the log's
//! acknowledgement and its watermark save) is written once.
//!
//! Each delivered batch stores its own hashes as one object (8 bytes a record, little
//! endian) before the partition state that lists it is written; the state lists the
//! batches of the window with the time they were delivered ([`Batch`]). So a batch's state
//! writes cost the same whatever the window holds, and a worker that takes up a partition
//! reads the window back from the batches listed. A batch's hashes object is deleted once
//! a state that no longer lists it is stored.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::backend::ObjectStore;

/// How many hashes objects are read at once when a partition is taken up.
const READS_AT_ONCE: usize = 16;

/// One delivered batch of the window, as the partition state lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The batch's name (that of its objects, `<topic>+<partition>+<start>`), which names
    /// its hashes object.
    pub name: String,
    /// When it was delivered (Unix seconds).
    pub at: u64,
}

/// The hashes of a partition's lately delivered records, in memory.
#[derive(Debug, Default)]
pub struct Window {
    /// Hash -> when its record was delivered (Unix seconds).
    hashes: HashMap<u64, u64>,
}

impl Window {
    /// Reads the hashes of `batches` from their objects under `folder`. An object that is
    /// not there is left out with a warning: a state read just before another worker moved
    /// the partition on may list a batch that worker has since expired.
    pub async fn load(
        store: &dyn ObjectStore,
        bucket: &str,
        folder: &str,
        batches: &[Batch],
    ) -> Result<Window, String> {
        let mut reads = futures_util::stream::iter(batches.iter().map(|batch| async move {
            let key = key(folder, &batch.name);
            let body = store.get(bucket, &key).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((key, body, batch.at))
        }))
        .buffer_unordered(READS_AT_ONCE);
        let mut window = Window::default();
        while let Some(read) = reads.next().await {
            let (key, body, at) = read?;
            let Some(body) = body else {
                tracing::warn!(
                    object = key,
                    "a batch of the dedupe window has no hashes object"
                );
                continue;
            };
            window.add(&decode(&key, &body)?, at);
        }
        Ok(window)
    }

    /// Whether a record of this hash was delivered within the window.
    pub fn contains(&self, hash: u64) -> bool {
        self.hashes.contains_key(&hash)
    }

    /// Adds the hashes of a batch delivered at `at`.
    pub fn add(&mut self, hashes: &[u64], at: u64) {
        self.hashes.extend(hashes.iter().map(|&h| (h, at)));
    }

    /// Forgets the hashes of records delivered before `horizon`.
    pub fn expire(&mut self, horizon: u64) {
        self.hashes.retain(|_, at| *at >= horizon);
    }
}

/// The key of batch `name`'s hashes object under `folder`.
pub fn key(folder: &str, name: &str) -> String {
    format!("{folder}{name}.hashes")
}

/// A batch's hashes as the body of its object.
pub fn encode(hashes: &[u64]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// The hashes in the body of object `key`.
fn decode(key: &str, body: &[u8]) -> Result<Vec<u64>, String> {
    let chunks = body.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return Err(format!(
            "{key}: {} bytes is not a whole number of 8-byte hashes",
            body.len()
        ));
    }
    Ok(chunks
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::Local;

    #[tokio::test]
    async fn a_window_is_read_back_from_its_batches_and_expires_by_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Local::new(dir.path());
        store
            .create_bucket("b", "us-west-2", &Default::default())
            .await
            .expect("bucket");
        let folder = "_runner/checkpoints/p/deliver/delivered/";
        for (name, hashes) in [("t+0+0", [1u64, 2]), ("t+0+2", [u64::MAX, 4])] {
            store
                .put("b", &key(folder, name), encode(&hashes))
                .await
                .expect("put");
        }
        let batches = [
            Batch {
                name: "t+0+0".into(),
                at: 100,
            },
            Batch {
                name: "t+0+2".into(),
                at: 200,
            },
            // Expired by another worker after this state was read: left out.
            Batch {
                name: "t+0+4".into(),
                at: 300,
            },
        ];
        let mut window = Window::load(&store, "b", folder, &batches)
            .await
            .expect("load");
        assert!([1, 2, u64::MAX, 4].iter().all(|&h| window.contains(h)));
        assert!(!window.contains(3));
        window.expire(150);
        assert!(!window.contains(1) && !window.contains(2));
        assert!(window.contains(u64::MAX) && window.contains(4));

        store
            .put("b", &key(folder, "t+0+6"), vec![0; 12])
            .await
            .expect("put");
        let torn = Batch {
            name: "t+0+6".into(),
            at: 1,
        };
        let error = Window::load(&store, "b", folder, &[torn])
            .await
            .expect_err("12 bytes");
        assert!(error.contains("t+0+6.hashes: 12 bytes"), "{error}");
    }
}
