//! The apply lock on remote targets: an object holding who took it and until when, written
//! with compare-and-swap (S3 conditional writes): taken with `If-None-Match: *`, taken over
//! from an expired holder with `If-Match` on the version read, and renewed by its holder
//! the same way while apply runs, so two takers never both hold it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backend::ObjectStore;

/// How long a lock stays valid if its holder dies without releasing it.
const LEASE: Duration = Duration::from_secs(15 * 60);

/// How often a holder renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(5 * 60);

/// What the lock object holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    /// `user@host (pid N)`.
    pub who: String,
    /// Seconds since the Unix epoch when the lock expires.
    pub until: u64,
}

/// A held lock: [`Lock::keep`] renews it, [`Lock::release`] deletes the object.
pub struct Lock {
    bucket: String,
    key: String,
    /// The version of the lock object this holder wrote last.
    version: String,
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

/// A fresh lease for this process.
fn lease() -> Result<Vec<u8>, String> {
    let holder = Holder {
        who: me(),
        until: now() + LEASE.as_secs(),
    };
    serde_json::to_vec(&holder).map_err(|e| e.to_string())
}

/// Writes a fresh lease over the lock object at `version` (`None`: only if there is none);
/// the new version, or `None` when the object changed meanwhile and nothing was written.
async fn write_lease(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Option<String>, String> {
    objects
        .put_if_version(bucket, key, lease()?, version)
        .await
        .map_err(|e| e.to_string())
}

/// Takes the lock of `pipeline` in `bucket`, waiting up to `wait` while another holder has
/// it. An expired (or unreadable) lock is taken over by compare-and-swap on the version
/// read, so of two takers only one gets it.
pub async fn acquire(
    objects: &dyn ObjectStore,
    bucket: &str,
    pipeline: &str,
    wait: Duration,
) -> Result<Lock, String> {
    let key = key(pipeline);
    let started = std::time::Instant::now();
    loop {
        let seen = match objects
            .get_versioned(bucket, &key)
            .await
            .map_err(|e| e.to_string())?
        {
            None => write_lease(objects, bucket, &key, None).await?,
            Some((bytes, version)) => match serde_json::from_slice::<Holder>(&bytes) {
                Ok(h) if h.until > now() => {
                    if started.elapsed() >= wait {
                        return Err(format!(
                            "another apply holds the lock: {} until {} (unix time; s3://{bucket}/{key}); wait with --lock-timeout, or delete that object if the run is gone",
                            h.who, h.until
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                _ => {
                    tracing::warn!(key = %key, "taking over an expired or unreadable lock");
                    write_lease(objects, bucket, &key, Some(&version)).await?
                }
            },
        };
        // `None`: another taker wrote first; look again.
        if let Some(version) = seen {
            return Ok(Lock {
                bucket: bucket.to_owned(),
                key,
                version,
            });
        }
    }
}

/// Why a lease was not extended.
#[derive(Debug)]
pub enum NotRenewed {
    /// Another holder took the lock over (this holder's lease had run out); the message
    /// names it.
    TakenOver(String),
    /// The store did not answer (the lease may still hold).
    Store(String),
}

impl Lock {
    /// Extends the lease, if the lock is still this holder's.
    pub async fn renew(&mut self, objects: &dyn ObjectStore) -> Result<(), NotRenewed> {
        let written = write_lease(objects, &self.bucket, &self.key, Some(&self.version))
            .await
            .map_err(NotRenewed::Store)?;
        match written {
            Some(version) => {
                self.version = version;
                Ok(())
            }
            None => {
                let holder = objects
                    .get(&self.bucket, &self.key)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|bytes| serde_json::from_slice::<Holder>(&bytes).ok())
                    .map_or_else(|| "nobody".to_owned(), |h| h.who);
                Err(NotRenewed::TakenOver(format!(
                    "the apply lock s3://{}/{} was taken over by {holder} while this apply ran; stopping",
                    self.bucket, self.key
                )))
            }
        }
    }

    /// Renews the lease every [`RENEW_EVERY`] for as long as it is awaited (run it beside
    /// the work the lock guards); returns only when the lock was lost. A renewal that fails
    /// for another reason (the store did not answer) is tried again at the next turn: the
    /// lease still has two turns to run.
    pub async fn keep(&mut self, objects: &dyn ObjectStore) -> String {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.renew(objects).await {
                Ok(()) => {}
                Err(NotRenewed::TakenOver(message)) => return message,
                Err(NotRenewed::Store(e)) => {
                    tracing::warn!(error = %e, "the apply lock was not renewed; trying again");
                }
            }
        }
    }

    /// Releases the lock, if it is still this holder's.
    pub async fn release(self, objects: &dyn ObjectStore) -> Result<(), String> {
        let current = objects
            .get_versioned(&self.bucket, &self.key)
            .await
            .map_err(|e| e.to_string())?;
        if current.is_some_and(|(_, version)| version == self.version) {
            objects
                .delete(&self.bucket, &self.key)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::scratch_store as store;

    fn expired() -> Vec<u8> {
        let holder = Holder {
            who: "gone@elsewhere (pid 1)".into(),
            until: now() - 1,
        };
        serde_json::to_vec(&holder).expect("json")
    }

    #[tokio::test]
    async fn of_two_takers_of_an_expired_lock_only_one_holds_it() {
        let (_dir, store) = store().await;
        store
            .put("b", &key("p"), expired())
            .await
            .expect("expired lock");
        let (stale, version) = store
            .get_versioned("b", &key("p"))
            .await
            .expect("get")
            .expect("there");
        assert_eq!(stale, expired());
        // The first taker takes it over.
        let first = acquire(&store, "b", "p", Duration::ZERO)
            .await
            .expect("taken over");
        // A second taker that read the same expired lock writes nothing over the first.
        let second = write_lease(&store, "b", &key("p"), Some(&version))
            .await
            .expect("written or not");
        assert_eq!(second, None, "the second takeover must fail");
        // And a new acquire sees the first holder's live lease.
        let refused = acquire(&store, "b", "p", Duration::ZERO).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("another apply holds the lock")),
            "{:?}",
            refused.err()
        );
        first.release(&store).await.expect("released");
        assert!(store.get("b", &key("p")).await.expect("get").is_none());
    }

    #[tokio::test]
    async fn a_holder_renews_its_lease_and_learns_when_it_was_taken_over() {
        let (_dir, store) = store().await;
        let mut lock = acquire(&store, "b", "p", Duration::ZERO)
            .await
            .expect("taken");
        lock.renew(&store).await.expect("renewed");
        lock.renew(&store)
            .await
            .expect("renewed again, on its own version");
        // Someone else takes the lock over (its lease had run out, say).
        let other = Holder {
            who: "other@host (pid 2)".into(),
            until: now() + 60,
        };
        store
            .put("b", &key("p"), serde_json::to_vec(&other).expect("json"))
            .await
            .expect("put");
        let lost = lock.renew(&store).await;
        assert!(
            matches!(&lost, Err(NotRenewed::TakenOver(m)) if m.contains("taken over by other@host (pid 2)")),
            "{lost:?}"
        );
        // Releasing a lock that is no longer ours leaves the new holder's alone.
        lock.release(&store).await.expect("release");
        assert!(store.get("b", &key("p")).await.expect("get").is_some());
    }
}
