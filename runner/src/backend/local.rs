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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::local_log::{TopicFiles, partition_for};
use super::{
    BackendError, Catalog, Log, Message, ObjectInfo, ObjectStore, Partition, Record, Result,
};
use crate::resource::Attrs;

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

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn failure(message: impl Into<String>) -> BackendError {
    BackendError::Service {
        service: "local",
        message: message.into(),
    }
}

/// A temporary path beside `path`, hidden from listings.
fn temp_beside(path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    hidden_beside(path, &format!("{}-{n}", std::process::id()))
}

/// A hidden file beside `path`, `.<name>.tmp-<tag>`, which listings leave out.
fn hidden_beside(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    path.with_file_name(format!(".{name}.tmp-{tag}"))
}

/// A local object's version for compare and swap: a hash of its content.
fn content_version(bytes: &[u8]) -> String {
    format!("{:016x}", crate::hash::hash_of(bytes))
}

fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Writes `bytes` to `path` so readers see the old file or the whole new one.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_parts_atomic(path, &[bytes])
}

/// [`write_atomic`] of a file made of `parts`, one after the other.
fn write_parts_atomic(path: &Path, parts: &[impl AsRef<[u8]>]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let temp = temp_beside(path);
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        parts
            .iter()
            .try_for_each(|part| file.write_all(part.as_ref()))?;
        file.sync_all()
    });
    written.map_err(io(&temp))?;
    rename_durably(&temp, path)
}

/// Renames `temp` (its data already on disk) to `path`, then flushes the folder, so after
/// a crash of the machine `path` holds the old content or the whole new one, never an
/// empty or partial file.
fn rename_durably(temp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(temp, path).map_err(io(path))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io(parent))?;
    }
    Ok(())
}

/// Reads a JSON state file; `None` when there is no file at that path (including when a
/// parent is not a directory).
fn read_json(path: &Path) -> Result<Option<Attrs>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| failure(format!("{}: {e}", path.display()))),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io(path)(e)),
    }
}

fn write_json(path: &Path, attrs: &Attrs) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(attrs).map_err(|e| failure(e.to_string()))?;
    write_atomic(path, &bytes)
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Refuses a `what` name (bucket, database, table, topic, consumer group) that is not one
/// plain path segment: empty, `.`, `..`, holding `/`, `\` or a control character. Joined
/// to a directory, such a name would leave it (or, absolute, replace the whole path).
pub(super) fn check_segment(what: &str, name: &str) -> Result<()> {
    let plain = !matches!(name, "" | "." | "..")
        && !name
            .chars()
            .any(|c| matches!(c, '/' | '\\') || c.is_control());
    if !plain {
        return Err(failure(format!(
            "{what} name '{}' would leave the local target's state directory: it must be one \
             path segment, not empty, '.' or '..', without '/', '\\' or control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// Refuses an object key that would not name a file inside its bucket's directory: empty,
/// absolute (a leading `/`), or with an empty, `.` or `..` segment (a `\` separates
/// segments too, as it does on Windows).
fn check_key(bucket: &str, key: &str) -> Result<()> {
    let inside = !key.is_empty()
        && key
            .split(['/', '\\'])
            .all(|segment| !matches!(segment, "" | "." | ".."));
    if !inside {
        return Err(failure(format!(
            "object key '{}' would leave bucket '{bucket}' in the local target's state \
             directory: a key may not be empty, start with '/', or hold an empty, '.' or '..' \
             segment",
            key.escape_debug()
        )));
    }
    Ok(())
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

#[async_trait]
impl Catalog for Local {
    async fn database(&self, name: &str) -> Result<Option<Attrs>> {
        read_json(&self.database_file(name)?)
    }

    async fn create_database(&self, name: &str, attrs: &Attrs) -> Result<()> {
        if self.database_file(name)?.exists() {
            return Err(failure(format!("database '{name}' already exists")));
        }
        write_json(&self.database_file(name)?, attrs)
    }

    async fn update_database(&self, name: &str, attrs: &Attrs) -> Result<()> {
        if !self.database_file(name)?.exists() {
            return Err(failure(format!("database '{name}' does not exist")));
        }
        write_json(&self.database_file(name)?, attrs)
    }

    async fn delete_database(&self, name: &str) -> Result<()> {
        let dir = self.database_dir(name)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    async fn table(&self, database: &str, name: &str) -> Result<Option<Attrs>> {
        read_json(&self.table_file(database, name)?)
    }

    async fn tables(&self, database: &str) -> Result<Vec<(String, Attrs)>> {
        let dir = self.database_dir(database)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(table) = name.strip_suffix(".json") else {
                continue;
            };
            if table == "_database" || is_temp(name) {
                continue;
            }
            if let Some(attrs) = read_json(&path)? {
                out.push((table.to_owned(), attrs));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn create_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()> {
        if !self.database_file(database)?.exists() {
            return Err(failure(format!("database '{database}' does not exist")));
        }
        if self.table_file(database, name)?.exists() {
            return Err(failure(format!("table '{database}.{name}' already exists")));
        }
        write_json(&self.table_file(database, name)?, attrs)
    }

    async fn update_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()> {
        if !self.table_file(database, name)?.exists() {
            return Err(failure(format!("table '{database}.{name}' does not exist")));
        }
        write_json(&self.table_file(database, name)?, attrs)
    }

    async fn delete_table(&self, database: &str, name: &str) -> Result<()> {
        remove(&self.table_file(database, name)?)?;
        remove(&self.partitions_file(database, name)?)
    }

    async fn add_partitions(
        &self,
        database: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<()> {
        if !self.table_file(database, table)?.exists() {
            return Err(failure(format!(
                "table '{database}.{table}' does not exist"
            )));
        }
        let mut all = Catalog::partitions(self, database, table).await?;
        for partition in partitions {
            if !all.iter().any(|p| p.values == partition.values) {
                all.push(partition.clone());
            }
        }
        all.sort();
        let bytes = serde_json::to_vec_pretty(&all).map_err(|e| failure(e.to_string()))?;
        write_atomic(&self.partitions_file(database, table)?, &bytes)
    }

    async fn partitions(&self, database: &str, table: &str) -> Result<Vec<Partition>> {
        let path = self.partitions_file(database, table)?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| failure(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

#[async_trait]
impl Log for Local {
    async fn topic(&self, name: &str) -> Result<Option<Attrs>> {
        read_json(&self.topic_file(name)?)
    }

    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        config: &Map<String, Value>,
    ) -> Result<()> {
        if self.topic_file(name)?.exists() {
            return Err(failure(format!("topic '{name}' already exists")));
        }
        if partitions == 0 || replication_factor == 0 {
            return Err(failure(
                "partitions and replication factor must be positive",
            ));
        }
        let attrs: Attrs = [
            ("partitions".to_owned(), json!(partitions)),
            ("replication_factor".to_owned(), json!(replication_factor)),
            ("config".to_owned(), Value::Object(config.clone())),
        ]
        .into_iter()
        .collect();
        write_json(&self.topic_file(name)?, &attrs)
    }

    async fn set_topic_config(&self, name: &str, config: &Map<String, Value>) -> Result<()> {
        let file = self.topic_file(name)?;
        let mut attrs =
            read_json(&file)?.ok_or_else(|| failure(format!("topic '{name}' does not exist")))?;
        let mut current = attrs
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        current.extend(config.clone());
        attrs.insert("config".into(), Value::Object(current));
        write_json(&file, &attrs)
    }

    async fn add_partitions(&self, name: &str, total: u32) -> Result<()> {
        let file = self.topic_file(name)?;
        let mut attrs =
            read_json(&file)?.ok_or_else(|| failure(format!("topic '{name}' does not exist")))?;
        let now = attrs.get("partitions").and_then(Value::as_u64).unwrap_or(0);
        if u64::from(total) <= now {
            return Err(failure(format!(
                "topic '{name}' has {now} partitions; it can only grow"
            )));
        }
        attrs.insert("partitions".into(), json!(total));
        write_json(&file, &attrs)
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let dir = self.topic_dir(name)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    async fn produce(&self, topic: &str, records: &[Record<'_>]) -> Result<Vec<(u32, u64)>> {
        let partitions = self.partition_count(topic)?;
        let mut by_partition: Vec<Vec<(usize, &Record)>> = vec![Vec::new(); partitions as usize];
        for (i, record) in records.iter().enumerate() {
            let partition = match &record.key {
                Some(key) => partition_for(key, partitions),
                None => {
                    (self.next_unkeyed.fetch_add(1, Ordering::Relaxed) % u64::from(partitions))
                        as u32
                }
            };
            by_partition[partition as usize].push((i, record));
        }
        let files = self.topic_files(topic)?;
        let mut out = vec![(0, 0); records.len()];
        for (partition, batch) in by_partition.iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let refs: Vec<&Record> = batch.iter().map(|(_, r)| *r).collect();
            let offsets = files.append(partition as u32, &refs)?;
            for ((i, _), offset) in batch.iter().zip(offsets) {
                out[*i] = (partition as u32, offset);
            }
        }
        Ok(out)
    }

    fn idle_wait(&self) -> std::time::Duration {
        // Appended records are in the files at once.
        std::time::Duration::from_millis(200)
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<Message>> {
        if partition >= self.partition_count(topic)? {
            return Err(failure(format!(
                "topic '{topic}' has no partition {partition}"
            )));
        }
        let files = self.topic_files(topic)?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let messages = files.read(partition, offset, max)?;
            if !messages.is_empty() || std::time::Instant::now() >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.partition_count(topic)?;
        self.topic_files(topic)?.committed(group, partition)
    }

    async fn end_offset(&self, _group: &str, topic: &str, partition: u32) -> Result<u64> {
        self.partition_count(topic)?;
        self.topic_files(topic)?.end_offset(partition)
    }

    async fn join(
        &self,
        group: &str,
        topic: &str,
        partitions: u32,
    ) -> Result<Box<dyn super::Membership>> {
        self.partition_count(topic)?;
        let member =
            super::local_group::LocalMember::new(self.topic_files(topic)?, group, partitions)?;
        Ok(Box::new(member))
    }
}

/// A local store in a temporary folder with an empty bucket `b`, for unit tests.
#[cfg(test)]
pub(crate) async fn scratch_store() -> (tempfile::TempDir, Local) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Local::new(dir.path());
    store
        .create_bucket("b", "us-east-1", &serde_json::Map::new())
        .await
        .expect("bucket");
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state directory inside a scratch directory, so anything written beside the state
    /// directory (outside it) can be seen.
    fn scratch(name: &str) -> (PathBuf, Local) {
        let outer =
            std::env::temp_dir().join(format!("runner-local-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&outer);
        std::fs::create_dir_all(&outer).expect("scratch directory");
        let local = Local::new(outer.join("state"));
        (outer, local)
    }

    /// Every file and directory under `dir` that is not under `dir/state`.
    fn outside_state(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|n| n == "state") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path.clone());
                }
                found.push(path);
            }
        }
        found
    }

    #[tokio::test]
    async fn names_and_keys_that_would_leave_the_state_directory_are_refused() {
        let (dir, local) = scratch("escape");
        let tags = Map::new();
        local
            .create_bucket("b", "local", &tags)
            .await
            .expect("a plain bucket");
        let absolute = dir.join("abs").display().to_string();
        for bucket in ["../outside", "..", "a/b", absolute.as_str()] {
            let error = local
                .create_bucket(bucket, "local", &tags)
                .await
                .expect_err(bucket)
                .to_string();
            assert!(
                error.starts_with(&format!(
                    "local: bucket name '{bucket}' would leave the local target's state directory"
                )),
                "{error}"
            );
        }
        for key in [
            "../../outside.json",
            "/etc/passwd",
            "a/../../x",
            "a//b",
            "a\\..\\..\\x",
            "",
        ] {
            let error = local
                .put("b", key, b"x".to_vec())
                .await
                .expect_err(key)
                .to_string();
            assert_eq!(
                error,
                format!(
                    "local: object key '{}' would leave bucket 'b' in the local target's state \
                     directory: a key may not be empty, start with '/', or hold an empty, '.' or \
                     '..' segment",
                    key.escape_debug()
                )
            );
        }
        let error = local
            .get("b", "/etc/passwd")
            .await
            .expect_err("an absolute key")
            .to_string();
        assert!(error.contains("would leave bucket 'b'"), "{error}");
        let attrs = Attrs::new();
        let error = local
            .create_database("../db", &attrs)
            .await
            .expect_err("database")
            .to_string();
        assert!(
            error.starts_with("local: database name '../db' would leave"),
            "{error}"
        );
        local
            .create_database("db", &attrs)
            .await
            .expect("a plain database");
        let error = local
            .create_table("db", "../../t", &attrs)
            .await
            .expect_err("table")
            .to_string();
        assert!(
            error.starts_with("local: table name '../../t' would leave"),
            "{error}"
        );
        let error = local
            .create_topic("../t", 1, 1, &tags)
            .await
            .expect_err("topic")
            .to_string();
        assert!(
            error.starts_with("local: topic name '../t' would leave"),
            "{error}"
        );
        local
            .create_topic("t", 1, 1, &tags)
            .await
            .expect("a plain topic");
        for group in ["../../../../g", "a/b", "..", "g\n"] {
            let error = match local.join(group, "t", 1).await {
                Ok(_) => panic!("{group}: joined"),
                Err(e) => e.to_string(),
            };
            assert!(
                error.starts_with(&format!(
                    "local: consumer group name '{}' would leave",
                    group.escape_debug()
                )),
                "{error}"
            );
        }
        assert_eq!(outside_state(&dir), Vec::<PathBuf>::new());
        let _ = std::fs::remove_dir_all(dir);
    }
}
