//! The local target's files: written atomically (a temporary file renamed into place and
//! synced), read as JSON, and the checks that keep every name and key inside the state
//! directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::{BackendError, Result};
use crate::resource::Attrs;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn failure(message: impl Into<String>) -> BackendError {
    BackendError::Service {
        service: "local",
        message: message.into(),
    }
}

/// A temporary path beside `path`, hidden from listings.
pub(super) fn temp_beside(path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    hidden_beside(path, &format!("{}-{n}", std::process::id()))
}

/// A hidden file beside `path`, `.<name>.tmp-<tag>`, which listings leave out.
pub(super) fn hidden_beside(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    path.with_file_name(format!(".{name}.tmp-{tag}"))
}

/// A local object's version for compare and swap: a hash of its content.
pub(super) fn content_version(bytes: &[u8]) -> String {
    format!("{:016x}", crate::hash::hash_of(bytes))
}

pub(super) fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Writes `bytes` to `path` so readers see the old file or the whole new one.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_parts_atomic(path, &[bytes])
}

/// [`write_atomic`] of a file made of `parts`, one after the other.
pub(super) fn write_parts_atomic(path: &Path, parts: &[impl AsRef<[u8]>]) -> Result<()> {
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
pub(super) fn rename_durably(temp: &Path, path: &Path) -> Result<()> {
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
pub(super) fn read_json(path: &Path) -> Result<Option<Attrs>> {
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

pub(super) fn write_json(path: &Path, attrs: &Attrs) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(attrs).map_err(|e| failure(e.to_string()))?;
    write_atomic(path, &bytes)
}

pub(super) fn remove(path: &Path) -> Result<()> {
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
pub(super) fn check_key(bucket: &str, key: &str) -> Result<()> {
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
