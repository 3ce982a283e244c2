//! The apply lock on remote targets: an object written with an S3 conditional write
//! (`If-None-Match: *`), holding who took it and until when.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backend::ObjectStore;

/// How long a lock stays valid if its holder dies without releasing it.
const LEASE: Duration = Duration::from_secs(15 * 60);

/// What the lock object holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    /// `user@host (pid N)`.
    pub who: String,
    /// Seconds since the Unix epoch when the lock expires.
    pub until: u64,
}

/// A held lock; [`Lock::release`] deletes the object.
pub struct Lock {
    bucket: String,
    key: String,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The lock key of a pipeline.
pub fn key(pipeline: &str) -> String {
    format!("_runner/locks/{pipeline}.lock")
}

fn me() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{user}@{host} (pid {})", std::process::id())
}

/// Takes the lock of `pipeline` in `bucket`, waiting up to `wait` while another holder has
/// it. An expired lock is taken over.
pub async fn acquire(
    objects: &dyn ObjectStore,
    bucket: &str,
    pipeline: &str,
    wait: Duration,
) -> Result<Lock, String> {
    let key = key(pipeline);
    let started = std::time::Instant::now();
    loop {
        let holder = Holder {
            who: me(),
            until: now() + LEASE.as_secs(),
        };
        let body = serde_json::to_vec(&holder).map_err(|e| e.to_string())?;
        if objects
            .put_if_absent(bucket, &key, body)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Lock {
                bucket: bucket.to_owned(),
                key,
            });
        }
        let current: Option<Holder> = objects
            .get(bucket, &key)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        match current {
            Some(h) if h.until > now() => {
                if started.elapsed() >= wait {
                    return Err(format!(
                        "another apply holds the lock: {} until {} (unix time; s3://{bucket}/{key}); wait with --lock-timeout, or delete that object if the run is gone",
                        h.who, h.until
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => {
                tracing::warn!(key = %key, "taking over an expired or unreadable lock");
                objects
                    .delete(bucket, &key)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
}

impl Lock {
    /// Releases the lock.
    pub async fn release(self, objects: &dyn ObjectStore) -> Result<(), String> {
        objects
            .delete(&self.bucket, &self.key)
            .await
            .map_err(|e| e.to_string())
    }
}
