//! Checkpoints of finished work, kept in the target's object store beside the data
//! (`_runner/checkpoints/<pipeline>/<flow>.json`), so a later run skips an input it already
//! finished and `--restart` starts over.

use serde::{Deserialize, Serialize};

use super::summary::Summary;
use crate::backend::ObjectStore;
use crate::flow::error::FlowError;

/// What identifies an input's content: its name, size and a version (modification time,
/// or a hash of the validators a server or object store gives); see
/// [`super::input::Input::identity`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputId {
    /// The path as the source names it.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, in nanoseconds since the Unix epoch.
    pub modified: u128,
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

    /// The summary recorded for the input at `path` when it was finished, whatever it was
    /// then (its objects are what a new run of a changed input replaces).
    pub fn earlier(&self, path: &str) -> Option<&Summary> {
        self.files
            .iter()
            .find(|f| f.input.path == path)
            .map(|f| &f.summary)
    }

    /// Records `input` as finished, replacing an older record of the same path.
    pub fn record(&mut self, input: InputId, summary: Summary) {
        self.files.retain(|f| f.input.path != input.path);
        self.files.push(Finished { input, summary });
    }
}

/// The flow's checkpoint, if one was written.
pub async fn load(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
) -> Result<Option<Checkpoint>, FlowError> {
    match objects.get(bucket, key).await? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            FlowError::Invalid(format!(
                "checkpoint s3://{bucket}/{key} is unreadable ({e}); run with --restart"
            ))
        }),
        None => Ok(None),
    }
}

/// Records a finished input (the checkpoint written whole: readers see the old or the new
/// one).
pub async fn save(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    checkpoint: &Checkpoint,
) -> Result<(), FlowError> {
    let body = serde_json::to_vec(checkpoint)?;
    objects
        .put(bucket, key, body)
        .await
        .map_err(FlowError::from)
}

/// Forgets the flow's finished work.
pub async fn clear(objects: &dyn ObjectStore, bucket: &str, key: &str) -> Result<(), FlowError> {
    objects.delete(bucket, key).await.map_err(FlowError::from)
}
