//! The inputs a source path names — a local file or glob, an http(s) URL, or an `s3://`
//! object or glob read from the target's object store — each opened as a stream and
//! identified for checkpoints.

use std::io::Read;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use super::checkpoint::InputId;
use crate::backend::ObjectStore;
use crate::flow::error::FlowError;
use crate::hash::hash_of;

/// One input file of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A local file.
    File(PathBuf),
    /// An http(s) URL.
    Url(String),
    /// An object of the target's object store (`s3://bucket/key`; on the local target, the
    /// local store's directory).
    Object {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
}

/// Whether a path holds glob characters.
fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

impl Input {
    /// The inputs `path` names, in name order: the file, URL or object itself, or a glob's
    /// matches (a glob must match at least one).
    pub async fn list(path: &str, objects: &dyn ObjectStore) -> Result<Vec<Input>, FlowError> {
        if path.starts_with("http://") || path.starts_with("https://") {
            return Ok(vec![Input::Url(path.to_owned())]);
        }
        if let Some(rest) = path.strip_prefix("s3://") {
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| format!("{path}: an s3:// source is s3://BUCKET/KEY"))?;
            if !is_glob(key) {
                return Ok(vec![Input::Object {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }]);
            }
            let pattern = glob::Pattern::new(key).map_err(|e| format!("{path}: {e}"))?;
            let prefix = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
            let keys = objects.list(bucket, prefix).await?;
            let matched: Vec<Input> = keys
                .into_iter()
                .filter(|k| pattern.matches(k))
                .map(|key| Input::Object {
                    bucket: bucket.to_owned(),
                    key,
                })
                .collect();
            if matched.is_empty() {
                return Err(format!("{path}: no object matches").into());
            }
            return Ok(matched);
        }
        if !is_glob(path) {
            return Ok(vec![Input::File(PathBuf::from(path))]);
        }
        let mut files: Vec<PathBuf> = glob::glob(path)
            .map_err(|e| format!("{path}: {e}"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("{path}: no file matches").into());
        }
        Ok(files.into_iter().map(Input::File).collect())
    }

    /// The input as a source path names it (for messages and the quarantine).
    pub fn name(&self) -> String {
        match self {
            Input::File(path) => path.display().to_string(),
            Input::Url(url) => url.clone(),
            Input::Object { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }

    /// The input's part of output object names: its last segment (dots made `_`, so a
    /// reader sees which file the objects came from) and a hash of its whole name, so two
    /// inputs with the same last segment (`a/export.csv`, `b/export.csv`) never share or
    /// tidy away each other's objects. The hash has a fixed length, so no input's stem is
    /// the start of another's (`x` and `x-y`).
    pub fn output_stem(&self) -> String {
        format!(
            "{}-{:016x}",
            self.file_name().replace('.', "_"),
            hash_of(&self.name())
        )
    }

    /// The last segment of the name.
    pub fn file_name(&self) -> String {
        let name = self.name();
        let last = name
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let last = last.split(['?', '#']).next().unwrap_or_default();
        if last.is_empty() {
            "input".to_owned()
        } else {
            last.to_owned()
        }
    }

    /// The input's body as a stream; one read over the network fails after `read_timeout`
    /// without a byte (see [`crate::backend::stall_guard`]).
    pub async fn open(
        &self,
        objects: &dyn ObjectStore,
        read_timeout: std::time::Duration,
    ) -> Result<Box<dyn Read + Send>, FlowError> {
        let body = match self {
            Input::File(path) => {
                return std::fs::File::open(path)
                    .map(|f| Box::new(f) as Box<dyn Read + Send>)
                    .map_err(|e| format!("{}: {e}", path.display()).into());
            }
            Input::Url(url) => open_url(url)?,
            Input::Object { bucket, key } => objects.open(bucket, key).await?,
        };
        let guarded = crate::backend::stall_guard::guard(self.name(), body, read_timeout)
            .map_err(|e| format!("{}: {e}", self.name()))?;
        Ok(Box::new(guarded))
    }

    /// What identifies the input's content now: size and modification time for a file;
    /// `Content-Length` and a hash of `ETag` and `Last-Modified` for a URL (one with
    /// neither never counts as done); size and ETag for an object.
    pub async fn identity(&self, objects: &dyn ObjectStore) -> Result<InputId, FlowError> {
        let (size, modified) = match self {
            Input::File(path) => {
                let meta =
                    std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                (meta.len(), modified)
            }
            Input::Url(url) => url_identity(url)?,
            Input::Object { bucket, key } => {
                let info = objects
                    .head(bucket, key)
                    .await?
                    .ok_or_else(|| format!("s3://{bucket}/{key}: no such object"))?;
                (info.size, u128::from(hash_of(&info.version)))
            }
        };
        Ok(InputId {
            path: self.name(),
            size,
            modified,
        })
    }
}

/// The body of a GET of `url`, streamed as it arrives (never downloaded whole first).
fn open_url(url: &str) -> Result<Box<dyn Read + Send>, FlowError> {
    match crate::backend::http_agent().get(url).call() {
        Ok(response) => Ok(Box::new(response.into_body().into_reader())),
        Err(ureq::Error::StatusCode(code)) => Err(format!("GET {url}: HTTP {code}").into()),
        Err(e) => Err(format!("GET {url}: {e}").into()),
    }
}

/// A URL's size and validators, from a HEAD request.
fn url_identity(url: &str) -> Result<(u64, u128), FlowError> {
    let response = match crate::backend::http_agent().head(url).call() {
        Ok(response) => response,
        Err(ureq::Error::StatusCode(code)) => return Err(format!("HEAD {url}: HTTP {code}").into()),
        Err(e) => return Err(format!("HEAD {url}: {e}").into()),
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
        found => u128::from(hash_of(found)),
    };
    let size = header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    Ok((size, modified))
}
