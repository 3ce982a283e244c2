//! The rules last applied: `runner apply` keeps each pipeline's datasets in its bucket
//! (`_runner/applied/<pipeline>.json`), so a later `runner plan --sample` can show what the
//! edited rules do to rows the applied ones cleaned.

use indexmap::IndexMap;

use crate::backend::{BackendError, ObjectStore};
use crate::spec::{Dataset, Pipeline};

/// Where the applied datasets of `pipeline` are kept in its bucket.
fn key(pipeline: &str) -> String {
    format!("_runner/applied/{pipeline}.json")
}

/// Keeps `pipeline`'s datasets as the applied ones; nothing without storage.
pub async fn save(objects: &dyn ObjectStore, pipeline: &Pipeline) -> Result<(), BackendError> {
    let Some(storage) = &pipeline.storage else {
        return Ok(());
    };
    let body = serde_json::to_vec_pretty(&pipeline.datasets).unwrap_or_default();
    objects
        .put(&storage.bucket, &key(&pipeline.pipeline), body)
        .await
}

/// The datasets last applied for `pipeline`, if any were kept (and still read).
pub async fn load(
    objects: &dyn ObjectStore,
    pipeline: &Pipeline,
) -> Result<Option<IndexMap<String, Dataset>>, BackendError> {
    let Some(storage) = &pipeline.storage else {
        return Ok(None);
    };
    if objects.bucket(&storage.bucket).await?.is_none() {
        return Ok(None);
    }
    let Some(body) = objects
        .get(&storage.bucket, &key(&pipeline.pipeline))
        .await?
    else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&body).ok())
}
