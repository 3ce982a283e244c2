//! Checkpoints of finished work, kept in the target's object store beside the data
//! (`_runner/checkpoints/<pipeline>/<flow>.json`), so a later run skips an input it already
//! finished and `--restart` starts over.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::backfill::Summary;
use crate::backend::ObjectStore;

/// What identifies an input file's content: path, size and modification time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputId {
    /// The path as the source names it.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, in nanoseconds since the Unix epoch.
    pub modified: u128,
}

impl InputId {
    /// The identity of the file at `path`; for an http(s) URL, its `Content-Length` and a
    /// hash of its `ETag` and `Last-Modified` (a URL with neither never counts as done).
    pub fn of(path: &Path) -> Result<InputId, String> {
        if let Some(url) = super::csv_source::url_of(path) {
            return Self::of_url(url);
        }
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(InputId {
            path: path.display().to_string(),
            size: meta.len(),
            modified,
        })
    }

    fn of_url(url: &str) -> Result<InputId, String> {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let response = match ureq::head(url).call() {
            Ok(response) => response,
            Err(ureq::Error::StatusCode(code)) => return Err(format!("HEAD {url}: HTTP {code}")),
            Err(e) => return Err(format!("HEAD {url}: {e}")),
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = (header("etag"), header("last-modified"));
        let modified = match &validators {
            (None, None) => std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            found => {
                let mut hasher = DefaultHasher::new();
                found.hash(&mut hasher);
                u128::from(hasher.finish())
            }
        };
        Ok(InputId {
            path: url.to_owned(),
            size: header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
            modified,
        })
    }
}

/// The inputs a flow finished, each with what its run did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Finished inputs, in the order they finished.
    pub files: Vec<Finished>,
}

/// One finished input.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Finished {
    /// The input, as it was when it was finished.
    pub input: InputId,
    /// Its run's summary.
    pub summary: Summary,
}

impl Checkpoint {
    /// The summary of `input` if it was finished as it is now (same path, size, time).
    pub fn finished(&self, input: &InputId) -> Option<&Summary> {
        self.files
            .iter()
            .find(|f| &f.input == input)
            .map(|f| &f.summary)
    }

    /// Records `input` as finished, replacing an older record of the same path.
    pub fn record(&mut self, input: InputId, summary: Summary) {
        self.files.retain(|f| f.input.path != input.path);
        self.files.push(Finished { input, summary });
    }
}

/// The checkpoint key of a flow.
pub fn key(pipeline: &str, flow: &str) -> String {
    format!("_runner/checkpoints/{pipeline}/{flow}.json")
}

/// The flow's checkpoint, if one was written.
pub async fn load(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
) -> Result<Option<Checkpoint>, String> {
    match objects.get(bucket, key).await.map_err(|e| e.to_string())? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!("checkpoint s3://{bucket}/{key} is unreadable ({e}); run with --restart")
        }),
        None => Ok(None),
    }
}

/// Records a finished input.
pub async fn save(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    checkpoint: &Checkpoint,
) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(checkpoint).map_err(|e| e.to_string())?;
    objects
        .put(bucket, key, body)
        .await
        .map_err(|e| e.to_string())
}

/// Forgets the flow's finished work.
pub async fn clear(objects: &dyn ObjectStore, bucket: &str, key: &str) -> Result<(), String> {
    objects.delete(bucket, key).await.map_err(|e| e.to_string())
}
