//! The workers of one deliver flow share its topic's partitions. Each running worker keeps a
//! member object in the target's store, `_runner/groups/<pipeline>/<flow>/<member>.json`,
//! rewritten every [`HEARTBEAT`]. A member whose last beat is older than [`SESSION`], or
//! whose process on this same host has died, is gone (killed); one that stops cleanly
//! deletes its object. The live members, sorted by
//! id, split the partitions round robin, so every worker that sees the same members agrees
//! on who reads what. When a worker joins or goes, the others see it within a heartbeat
//! and hand over or take up partitions.
//!
//! The split only spreads the work: it is not what keeps a partition from being delivered
//! twice. Deliver's per-partition state is written with compare-and-swap, so while two
//! workers briefly both think they own a partition, only one of them moves it on.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backend::ObjectStore;

/// How often a worker beats and looks at the other members.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long after its last beat a member is taken for gone.
pub const SESSION: Duration = Duration::from_secs(10);

/// What a member object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Beat {
    /// The worker's host.
    host: String,
    /// The worker's process id.
    pid: u32,
    /// When it beat last, in milliseconds since the Unix epoch.
    at_ms: u64,
}

impl Beat {
    /// Whether the member beat within the session and is not a process of this host that
    /// has died (a worker killed and started again here need not wait for its session).
    fn live(&self, horizon: u64, here: &str) -> bool {
        let dead_here = self.host == here && process_gone(self.pid);
        self.at_ms >= horizon && !dead_here
    }
}

/// Whether process `pid` of this host is gone: no longer there, or a zombie (killed, its
/// exit not yet collected by its parent). `false` where `/proc` cannot tell.
fn process_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return false;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        // The state follows the command name, which is in parentheses and may hold any
        // character: it is the first field after the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// This worker's membership in a flow's group.
pub struct Member<'a> {
    objects: &'a dyn ObjectStore,
    bucket: &'a str,
    /// `_runner/groups/<pipeline>/<flow>/`.
    prefix: String,
    /// This worker's id: start time, host and pid; unique, and sorted by age.
    id: String,
    /// This worker's host.
    host: String,
    last_beat: Option<Instant>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<'a> Member<'a> {
    /// A new member of `flow`'s group; it joins with its first [`Member::beat`].
    pub fn new(objects: &'a dyn ObjectStore, bucket: &'a str, pipeline: &str, flow: &str) -> Self {
        let host = hostname();
        Member {
            objects,
            bucket,
            prefix: format!("_runner/groups/{pipeline}/{flow}/"),
            id: format!("{}-{host}-{}", now_ms(), std::process::id()),
            host,
            last_beat: None,
        }
    }

    /// Whether it is time for the next beat.
    pub fn due(&self) -> bool {
        self.last_beat.is_none_or(|at| at.elapsed() >= HEARTBEAT)
    }

    /// Beats, then the partitions of `0..partitions` this worker reads: its share among the
    /// live members.
    pub async fn beat(&mut self, partitions: u32) -> Result<BTreeSet<u32>, String> {
        let beat = Beat {
            host: self.host.clone(),
            pid: std::process::id(),
            at_ms: now_ms(),
        };
        let body = serde_json::to_vec(&beat).map_err(|e| e.to_string())?;
        self.objects
            .put(self.bucket, &self.key(), body)
            .await
            .map_err(|e| e.to_string())?;
        self.last_beat = Some(Instant::now());
        let live = self.live().await?;
        let index = live.iter().position(|m| *m == self.id).unwrap_or(0);
        let share = (0..partitions)
            .filter(|p| *p as usize % live.len().max(1) == index)
            .collect();
        Ok(share)
    }

    /// Leaves the group: the others take up its partitions at their next beat.
    pub async fn leave(&self) {
        if let Err(e) = self.objects.delete(self.bucket, &self.key()).await {
            tracing::warn!(error = %e, "could not leave the deliver group; the others wait for its session to end");
        }
    }

    fn key(&self) -> String {
        format!("{}{}.json", self.prefix, self.id)
    }

    /// The ids of the members that beat within the session, sorted; this one among them.
    async fn live(&self) -> Result<Vec<String>, String> {
        let keys = self
            .objects
            .list(self.bucket, &self.prefix)
            .await
            .map_err(|e| e.to_string())?;
        let horizon = now_ms().saturating_sub(SESSION.as_millis() as u64);
        let mut live = vec![self.id.clone()];
        for key in keys {
            let Some(id) = key
                .strip_prefix(&self.prefix)
                .and_then(|k| k.strip_suffix(".json"))
            else {
                continue;
            };
            if id == self.id {
                continue;
            }
            let beat = self
                .objects
                .get(self.bucket, &key)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|body| serde_json::from_slice::<Beat>(&body).ok());
            match beat {
                Some(beat) if beat.live(horizon, &self.host) => live.push(id.to_owned()),
                // Gone: its session ended. Should it come back, its next beat writes its
                // object again.
                _ => {
                    tracing::info!(member = id, "a deliver worker's session ended");
                    self.objects
                        .delete(self.bucket, &key)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        live.sort();
        Ok(live)
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::scratch_store as store;

    #[tokio::test]
    async fn live_members_split_the_partitions_and_gone_ones_are_dropped() {
        let (_dir, store) = store().await;
        let mut first = Member::new(&store, "b", "p", "deliver");
        assert_eq!(
            first.beat(3).await.expect("beat"),
            BTreeSet::from([0, 1, 2]),
            "alone, it reads everything"
        );
        let mut second = Member::new(&store, "b", "p", "deliver");
        second.id = format!("{}~", first.id); // sorted after the first
        assert_eq!(second.beat(3).await.expect("beat"), BTreeSet::from([1]));
        assert_eq!(first.beat(3).await.expect("beat"), BTreeSet::from([0, 2]));

        // A member whose session ended, and one whose process on this host is gone.
        let stale = Beat {
            host: "elsewhere".into(),
            pid: 1,
            at_ms: now_ms() - SESSION.as_millis() as u64 - 1,
        };
        let dead = Beat {
            host: hostname(),
            pid: u32::MAX,
            at_ms: now_ms(),
        };
        for (id, beat) in [("0-stale", stale), ("0-dead", dead)] {
            let body = serde_json::to_vec(&beat).expect("json");
            store
                .put("b", &format!("_runner/groups/p/deliver/{id}.json"), body)
                .await
                .expect("put");
        }
        assert_eq!(first.beat(3).await.expect("beat"), BTreeSet::from([0, 2]));
        let left = store
            .list("b", "_runner/groups/p/deliver/")
            .await
            .expect("list");
        assert_eq!(left.len(), 2, "gone members are removed: {left:?}");

        // A member whose process was killed but not yet collected by its parent.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("sleep starts");
        assert!(!process_gone(child.id()), "a running process is there");
        child.kill().expect("kill");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !process_gone(child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(process_gone(child.id()), "a zombie is gone");
        child.wait().expect("collected");
        assert!(process_gone(child.id()), "a collected process is gone");

        // A member that leaves hands its partitions to the others at their next beat.
        second.leave().await;
        assert_eq!(
            first.beat(3).await.expect("beat"),
            BTreeSet::from([0, 1, 2])
        );
    }
}
