//! The embedded `local` target: everything under one state directory (`.runner/`, or
//! `RUNNER_STATE_DIR`), written atomically (a temporary file renamed into place). A name or
//! key that would lead outside that directory (`..`, an absolute path, a `/` inside a
//! bucket, database, table, topic or group name) is refused before any file is touched.
//!
//! ```text
//! .runner/s3/<bucket>/<key>            objects
//! .runner/s3-buckets/<bucket>.json     bucket region and tags
//! .runner/glue/<database>/_database.json
//! .runner/glue/<database>/<table>.json
//! .runner/kafka/<topic>/_topic.json    partitions, replication factor, configs
//! ```

mod catalog;
mod files;
pub mod group;
mod log;
mod objects;
pub mod topic_files;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use serde_json::Value;

use self::files::*;
use self::topic_files::TopicFiles;
use crate::backend::Result;

/// The state directory: `RUNNER_STATE_DIR`, or `.runner` in the current directory.
pub fn state_dir() -> PathBuf {
    std::env::var_os("RUNNER_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".runner"))
}

/// The local backends, rooted at one directory.
#[derive(Clone, Debug)]
pub struct Local {
    root: PathBuf,
    next_unkeyed: std::sync::Arc<AtomicU64>,
}

impl Local {
    /// Backends under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Local {
            root: root.into(),
            next_unkeyed: std::sync::Arc::default(),
        }
    }

    /// The directory `root/area/name` of a `what` named `name`, refused when the name is
    /// not one path segment.
    fn named_dir(&self, area: &str, what: &str, name: &str) -> Result<PathBuf> {
        check_segment(what, name)?;
        Ok(self.root.join(area).join(name))
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf> {
        self.named_dir("s3", "bucket", bucket)
    }

    fn bucket_meta(&self, bucket: &str) -> Result<PathBuf> {
        check_segment("bucket", bucket)?;
        Ok(self.root.join("s3-buckets").join(format!("{bucket}.json")))
    }

    fn object(&self, bucket: &str, key: &str) -> Result<PathBuf> {
        check_key(bucket, key)?;
        Ok(self.bucket_dir(bucket)?.join(key))
    }

    fn require_bucket(&self, bucket: &str) -> Result<()> {
        if self.bucket_meta(bucket)?.exists() {
            Ok(())
        } else {
            Err(failure(format!("bucket '{bucket}' does not exist")))
        }
    }

    fn database_dir(&self, name: &str) -> Result<PathBuf> {
        self.named_dir("glue", "database", name)
    }

    fn database_file(&self, name: &str) -> Result<PathBuf> {
        Ok(self.database_dir(name)?.join("_database.json"))
    }

    fn table_file(&self, database: &str, name: &str) -> Result<PathBuf> {
        check_segment("table", name)?;
        Ok(self.database_dir(database)?.join(format!("{name}.json")))
    }

    fn partitions_file(&self, database: &str, table: &str) -> Result<PathBuf> {
        check_segment("table", table)?;
        Ok(self
            .database_dir(database)?
            .join("_partitions")
            .join(format!("{table}.json")))
    }

    fn topic_dir(&self, name: &str) -> Result<PathBuf> {
        self.named_dir("kafka", "topic", name)
    }

    fn topic_file(&self, name: &str) -> Result<PathBuf> {
        Ok(self.topic_dir(name)?.join("_topic.json"))
    }

    fn topic_files(&self, name: &str) -> Result<TopicFiles> {
        Ok(TopicFiles::new(self.topic_dir(name)?))
    }

    /// A topic's partition count; an error when it does not exist.
    fn partition_count(&self, topic: &str) -> Result<u32> {
        let attrs = read_json(&self.topic_file(topic)?)?
            .ok_or_else(|| failure(format!("topic '{topic}' does not exist")))?;
        let count = attrs.get("partitions").and_then(Value::as_u64).unwrap_or(0);
        u32::try_from(count)
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| failure(format!("topic '{topic}' has no partitions")))
    }
}

/// A local store in a temporary folder with an empty bucket `b`, for unit tests.
#[cfg(test)]
pub(crate) async fn scratch_store() -> (tempfile::TempDir, Local) {
    use crate::backend::ObjectStore;

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Local::new(dir.path());
    store
        .create_bucket("b", "us-east-1", &serde_json::Map::new())
        .await
        .expect("bucket");
    (dir, store)
}
