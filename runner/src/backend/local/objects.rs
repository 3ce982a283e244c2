//! The local target's object store: `.runner/s3/<bucket>/<key>`.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::Local;
use super::files::*;
use crate::backend::{ObjectInfo, ObjectStore, Result};
use crate::resource::Attrs;

#[async_trait]
impl ObjectStore for Local {
    async fn bucket(&self, bucket: &str) -> Result<Option<Attrs>> {
        read_json(&self.bucket_meta(bucket)?)
    }

    async fn create_bucket(
        &self,
        bucket: &str,
        region: &str,
        tags: &Map<String, Value>,
    ) -> Result<()> {
        let meta = self.bucket_meta(bucket)?;
        if meta.exists() {
            return Err(failure(format!("bucket '{bucket}' already exists")));
        }
        let dir = self.bucket_dir(bucket)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let attrs: Attrs = [
            ("region".to_owned(), json!(region)),
            ("tags".to_owned(), Value::Object(tags.clone())),
        ]
        .into_iter()
        .collect();
        write_json(&meta, &attrs)
    }

    async fn set_bucket_tags(&self, bucket: &str, tags: &Map<String, Value>) -> Result<()> {
        let meta = self.bucket_meta(bucket)?;
        let mut attrs = read_json(&meta)?
            .ok_or_else(|| failure(format!("bucket '{bucket}' does not exist")))?;
        attrs.insert("tags".into(), Value::Object(tags.clone()));
        write_json(&meta, &attrs)
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        if !self.list(bucket, "").await?.is_empty() {
            return Err(failure(format!("bucket '{bucket}' is not empty")));
        }
        let dir = self.bucket_dir(bucket)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        remove(&self.bucket_meta(bucket)?)
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        self.require_bucket(bucket)?;
        write_atomic(&self.object(bucket, key)?, &body)
    }

    async fn put_parts(&self, bucket: &str, key: &str, parts: Vec<Bytes>) -> Result<()> {
        self.require_bucket(bucket)?;
        write_parts_atomic(&self.object(bucket, key)?, &parts)
    }

    async fn put_if_absent(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<bool> {
        self.require_bucket(bucket)?;
        let path = self.object(bucket, key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let temp = temp_beside(&path);
        std::fs::write(&temp, &body).map_err(io(&temp))?;
        // A hard link fails when the target exists, so the check and the write are one step.
        let linked = std::fs::hard_link(&temp, &path);
        remove(&temp)?;
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.require_bucket(bucket)?;
        let path = self.object(bucket, key)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn get_versioned(&self, bucket: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        Ok(self.get(bucket, key).await?.map(|bytes| {
            let version = content_version(&bytes);
            (bytes, version)
        }))
    }

    async fn put_if_version(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> Result<Option<String>> {
        self.require_bucket(bucket)?;
        let path = self.object(bucket, key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // Writers of one object take turns through an exclusive lock on a hidden file
        // beside it, so reading the version and writing are one step.
        let lock_path = hidden_beside(&path, "lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let current = match std::fs::read(&path) {
            Ok(bytes) => Some(content_version(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&path)(e)),
        };
        if current.as_deref() != version {
            return Ok(None);
        }
        let written = content_version(&body);
        write_atomic(&path, &body)?;
        Ok(Some(written))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.require_bucket(bucket)?;
        remove(&self.object(bucket, key)?)
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        self.require_bucket(bucket)?;
        let base = self.bucket_dir(bucket)?;
        let mut keys = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir)(e)),
            };
            for entry in entries {
                let path = entry.map_err(io(&dir))?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if is_temp(name) {
                    continue;
                }
                if let Ok(relative) = path.strip_prefix(&base) {
                    let key = relative
                        .to_string_lossy()
                        .replace(std::path::MAIN_SEPARATOR, "/");
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>> {
        self.require_bucket(bucket)?;
        let path = self.object(bucket, key)?;
        match std::fs::metadata(&path) {
            Ok(meta) => {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                Ok(Some(ObjectInfo {
                    size: meta.len(),
                    version: modified.to_string(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn std::io::Read + Send>> {
        self.require_bucket(bucket)?;
        let path = self.object(bucket, key)?;
        match std::fs::File::open(&path) {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(failure(format!("s3://{bucket}/{key}: no such object")))
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn put_file(&self, bucket: &str, key: &str, path: &Path) -> Result<()> {
        self.require_bucket(bucket)?;
        let target = self.object(bucket, key)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // A hard link when the file is on the same file system, a copy otherwise; then a
        // rename, so readers see the old object or the whole new one.
        let temp = temp_beside(&target);
        if std::fs::hard_link(path, &temp).is_err() {
            std::fs::copy(path, &temp).map_err(io(&temp))?;
        }
        std::fs::File::open(&temp)
            .and_then(|file| file.sync_all())
            .map_err(io(&temp))?;
        rename_durably(&temp, &target)
    }
}
