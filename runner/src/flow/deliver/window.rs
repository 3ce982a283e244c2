//! A deliver flow's dedupe window: the hashes of the records each topic partition delivered
//! lately, so that a record produced twice (an ingest killed between the log's
//! acknowledgement and its watermark save) is written once.
//!
//! Each delivered batch stores its own hashes as one object (16 bytes a record: the hash
//! and when it was delivered, little endian) before the partition state that lists it is
//! written; the state lists the objects of the window with the time of their newest record
//! ([`Listed`]). So a batch's state writes cost the same whatever the window holds, and a
//! worker that takes up a partition reads the window back from the objects listed. Past
//! [`MAX_LISTED`] objects, a batch stores the whole window in its object instead and the
//! state lists that one alone, so taking up a partition reads a bounded number of objects
//! however many batches the window spans. An object is deleted once a state that no longer
//! lists it is stored.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::backend::ObjectStore;
use crate::flow::error::FlowError;

/// How many hashes objects a partition state lists at most.
pub const MAX_LISTED: usize = 64;
/// How many hashes objects are read at once when a partition is taken up.
const READS_AT_ONCE: usize = 16;

/// A hashes object of the window, as the partition state lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    /// The object's name: that of the batch that wrote it (`<topic>+<partition>+<start>`,
    /// with `+window` when it holds the whole window).
    pub name: String,
    /// When its newest record was delivered (Unix seconds).
    pub at: u64,
}

/// The hashes of a partition's lately delivered records, in memory.
#[derive(Debug, Default)]
pub struct Window {
    /// Hash -> when its record was delivered (Unix seconds).
    hashes: foldhash::HashMap<u64, u64>,
}

impl Window {
    /// Reads the hashes delivered from `horizon` on from the `listed` objects under
    /// `folder`, with the keys of those that are not there (a state read just before
    /// another worker replaced it may list objects that worker has since deleted).
    pub async fn load(
        store: &dyn ObjectStore,
        bucket: &str,
        folder: &str,
        listed: &[Listed],
        horizon: u64,
    ) -> Result<(Window, Vec<String>), FlowError> {
        let mut reads = futures_util::stream::iter(listed.iter().map(|object| async move {
            let key = key(folder, &object.name);
            let body = store.get(bucket, &key).await?;
            Ok::<_, FlowError>((key, body))
        }))
        .buffer_unordered(READS_AT_ONCE);
        let mut window = Window::default();
        let mut missing = Vec::new();
        while let Some(read) = reads.next().await {
            let (key, body) = read?;
            let Some(body) = body else {
                missing.push(key);
                continue;
            };
            window.hashes.extend(
                decode(&key, &body)?
                    .into_iter()
                    .filter(|&(_, at)| at >= horizon),
            );
        }
        Ok((window, missing))
    }

    /// Whether a record of this hash was delivered within the window.
    pub fn contains(&self, hash: u64) -> bool {
        self.hashes.contains_key(&hash)
    }

    /// Forgets the hashes of records delivered before `horizon`, and takes the objects
    /// whose newest record is that old off `listed`. Returns those objects, to delete once
    /// a state without them is stored.
    pub fn expire(&mut self, listed: &mut Vec<Listed>, horizon: u64) -> Vec<Listed> {
        self.hashes.retain(|_, at| *at >= horizon);
        let (expired, kept) = std::mem::take(listed)
            .into_iter()
            .partition(|object| object.at < horizon);
        *listed = kept;
        expired
    }

    /// Adds the `hashes` of batch `name`, delivered at `at`, to the window and to the
    /// objects `listed`. Returns the name and body of the object to store before the state
    /// that lists it, and the objects the state stops listing (to delete once it is
    /// stored): none, or all the others when this one holds the whole window.
    pub fn record(
        &mut self,
        listed: &mut Vec<Listed>,
        name: &str,
        hashes: &[u64],
        at: u64,
    ) -> (String, Vec<u8>, Vec<Listed>) {
        self.hashes.extend(hashes.iter().map(|&h| (h, at)));
        let (name, body, replaced) = if listed.len() < MAX_LISTED {
            let body = encode(hashes.iter().map(|&h| (h, at)));
            (name.to_owned(), body, Vec::new())
        } else {
            let body = encode(self.hashes.iter().map(|(&h, &at)| (h, at)));
            (format!("{name}+window"), body, std::mem::take(listed))
        };
        listed.push(Listed {
            name: name.clone(),
            at,
        });
        (name, body, replaced)
    }
}

/// The key of hashes object `name` under `folder`.
pub fn key(folder: &str, name: &str) -> String {
    format!("{folder}{name}.hashes")
}

/// Hashes with their delivery times as an object's body.
fn encode(entries: impl Iterator<Item = (u64, u64)>) -> Vec<u8> {
    entries
        .flat_map(|(hash, at)| hash.to_le_bytes().into_iter().chain(at.to_le_bytes()))
        .collect()
}

/// The hashes and delivery times in the body of object `key`.
fn decode(key: &str, body: &[u8]) -> Result<Vec<(u64, u64)>, FlowError> {
    let entries = body.chunks_exact(16);
    if !entries.remainder().is_empty() {
        return Err(format!(
            "{key}: {} bytes is not a whole number of 16-byte entries",
            body.len()
        )
        .into());
    }
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    Ok(entries.map(|e| (word(&e[..8]), word(&e[8..]))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::Local;

    const FOLDER: &str = "_runner/checkpoints/p/deliver/delivered/";

    async fn store() -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Local::new(dir.path());
        store
            .create_bucket("b", "us-west-2", &Default::default())
            .await
            .expect("bucket");
        (dir, store)
    }

    /// Records batches as deliver does: each object stored, the replaced ones deleted.
    async fn deliver(
        store: &Local,
        window: &mut Window,
        listed: &mut Vec<Listed>,
        batches: impl IntoIterator<Item = (u64, Vec<u64>)>,
    ) {
        for (at, hashes) in batches {
            let name = format!("t+0+{at}");
            let (name, body, replaced) = window.record(listed, &name, &hashes, at);
            store
                .put("b", &key(FOLDER, &name), body)
                .await
                .expect("put");
            for old in replaced {
                store
                    .delete("b", &key(FOLDER, &old.name))
                    .await
                    .expect("delete");
            }
        }
    }

    #[tokio::test]
    async fn a_window_is_read_back_from_its_objects_and_expires_by_time() {
        let (_dir, store) = store().await;
        let (mut window, mut listed) = (Window::default(), Vec::new());
        deliver(
            &store,
            &mut window,
            &mut listed,
            [(100, vec![1, 2]), (200, vec![u64::MAX, 4])],
        )
        .await;
        assert_eq!(listed.len(), 2);
        let (window, missing) = Window::load(&store, "b", FOLDER, &listed, 0)
            .await
            .expect("load");
        assert!([1, 2, u64::MAX, 4].iter().all(|&h| window.contains(h)));
        assert!(!window.contains(3) && missing.is_empty());
        // Listed by a state read before another worker deleted it: named as missing.
        listed.push(Listed {
            name: "t+0+300".into(),
            at: 300,
        });
        let (mut later, missing) = Window::load(&store, "b", FOLDER, &listed, 150)
            .await
            .expect("load");
        assert_eq!(missing, [key(FOLDER, "t+0+300")]);
        assert!(!later.contains(1) && later.contains(4));
        let expired = later.expire(&mut listed, 201);
        assert!(!later.contains(4));
        let names = |l: &[Listed]| l.iter().map(|o| o.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&expired), ["t+0+100", "t+0+200"]);
        assert_eq!(names(&listed), ["t+0+300"]);

        store
            .put("b", &key(FOLDER, "t+0+6"), vec![0; 20])
            .await
            .expect("put");
        let torn = Listed {
            name: "t+0+6".into(),
            at: 1,
        };
        let error = Window::load(&store, "b", FOLDER, &[torn], 0)
            .await
            .expect_err("20 bytes")
            .to_string();
        assert!(error.contains("t+0+6.hashes: 20 bytes"), "{error}");
    }

    #[tokio::test]
    async fn past_the_listed_limit_one_object_holds_the_whole_window() {
        let (_dir, store) = store().await;
        let (mut window, mut listed) = (Window::default(), Vec::new());
        let batches = (0..3 * MAX_LISTED as u64).map(|b| (1000 + b, vec![b * 10, b * 10 + 1]));
        deliver(&store, &mut window, &mut listed, batches).await;
        assert!(listed.len() <= MAX_LISTED, "{}", listed.len());
        assert!(listed.iter().any(|l| l.name.ends_with("+window")));
        let stored = store.list("b", FOLDER).await.expect("list");
        assert_eq!(
            stored.len(),
            listed.len(),
            "the replaced objects are deleted"
        );
        // Every hash is read back, each with its own time.
        let (back, _) = Window::load(&store, "b", FOLDER, &listed, 0)
            .await
            .expect("load");
        for b in 0..3 * MAX_LISTED as u64 {
            assert!(
                back.contains(b * 10) && back.contains(b * 10 + 1),
                "batch {b}"
            );
        }
        let (recent, _) = Window::load(&store, "b", FOLDER, &listed, 1000 + 2 * MAX_LISTED as u64)
            .await
            .expect("load");
        assert!(!recent.contains(0) && recent.contains((3 * MAX_LISTED as u64 - 1) * 10));
    }
}
