//! Consumer groups of the local log: the local target's stand-in for Kafka's group
//! coordinator, for one or more workers on one machine. Each member keeps a file
//! `<topic>/_members/<group>/<member>.json`, rewritten every [`HEARTBEAT`] when the worker
//! asks for its assignment. A member whose last beat is older than [`SESSION`], or whose
//! process has died (gone, or a zombie its parent has not collected), is gone; one that
//! leaves deletes its file. The live members, sorted by id (oldest first), split the
//! partitions round robin, so every worker that sees the same members agrees on who reads
//! what.
//!
//! Remote targets use Kafka's own group protocol instead ([`crate::backend::kafka::group`]). Either
//! way the split only spreads the work: deliver's per-partition state, written with
//! compare-and-swap, is what keeps a partition from being delivered twice while two
//! workers briefly both think they own it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::topic_files::TopicFiles;
use crate::backend::{BackendError, Membership, Result};

/// How often a member beats and looks at the others.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long after its last beat a member is taken for gone.
pub const SESSION: Duration = Duration::from_secs(10);

/// What a member file holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Beat {
    /// The worker's process id.
    pub pid: u32,
    /// When it beat last, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Beat {
    /// Whether the member beat within the session and its process is still there (the
    /// local log lives on this machine, so its members do too).
    fn live(&self, horizon: u64) -> bool {
        self.at_ms >= horizon && !process_gone(self.pid)
    }
}

/// Whether process `pid` is gone: no longer there, or a zombie (killed, its exit not yet
/// collected by its parent). `false` where `/proc` cannot tell.
fn process_gone(pid: u32) -> bool {
    let proc = Path::new("/proc");
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |e| BackendError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// One worker's membership in a group of the local log.
pub struct LocalMember {
    files: TopicFiles,
    group: String,
    partitions: u32,
    /// `<topic>/_members/<group>/`.
    dir: PathBuf,
    /// This worker's id: start time and pid; unique, and sorted by age.
    id: String,
    /// When it beat last, and the share it computed then.
    last: Mutex<Option<(Instant, BTreeSet<u32>)>>,
}

impl LocalMember {
    /// A new member of `group` reading the `partitions` of the topic in `files`; it joins
    /// with its first [`Membership::assignment`].
    pub fn new(files: TopicFiles, group: &str, partitions: u32) -> Result<Self> {
        let dir = files.members(group)?;
        Ok(LocalMember {
            files,
            group: group.to_owned(),
            partitions,
            dir,
            id: format!("{:013}-{}", now_ms(), std::process::id()),
            last: Mutex::new(None),
        })
    }

    fn file(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.id))
    }

    /// Beats, then this worker's share among the live members (dropping the gone ones'
    /// files).
    fn beat(&self) -> Result<BTreeSet<u32>> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let beat = Beat {
            pid: std::process::id(),
            at_ms: now_ms(),
        };
        let body = serde_json::to_vec(&beat).map_err(|e| BackendError::Service {
            service: "local",
            message: e.to_string(),
        })?;
        super::files::write_atomic(&self.file(), &body)?;
        let horizon = now_ms().saturating_sub(SESSION.as_millis() as u64);
        let mut live = vec![self.id.clone()];
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if id == self.id {
                continue;
            }
            let beat = std::fs::read(&path)
                .ok()
                .and_then(|body| serde_json::from_slice::<Beat>(&body).ok());
            match beat {
                Some(beat) if beat.live(horizon) => live.push(id.to_owned()),
                // Gone: its session ended or its process died. Should it come back, its
                // next beat writes its file again.
                _ => {
                    tracing::info!(member = id, "a deliver worker's session ended");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        live.sort();
        let index = live.iter().position(|m| *m == self.id).unwrap_or(0);
        Ok((0..self.partitions)
            .filter(|p| *p as usize % live.len() == index)
            .collect())
    }
}

#[async_trait]
impl Membership for LocalMember {
    async fn assignment(&self) -> Result<Option<BTreeSet<u32>>> {
        let mut last = self.last.lock().map_err(|_| BackendError::Service {
            service: "local",
            message: "the member's state is poisoned".into(),
        })?;
        match &*last {
            Some((at, share)) if at.elapsed() < HEARTBEAT => Ok(Some(share.clone())),
            _ => {
                let share = self.beat()?;
                *last = Some((Instant::now(), share.clone()));
                Ok(Some(share))
            }
        }
    }

    async fn commit(&self, partition: u32, next_offset: u64) -> Result<()> {
        self.files.commit(&self.group, partition, next_offset)
    }

    async fn leave(&self) {
        if let Err(e) = std::fs::remove_file(self.file()) {
            tracing::warn!(error = %e, "could not leave the deliver group; the others wait for its session to end");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(dir: &Path, id: &str) -> LocalMember {
        let mut member = LocalMember::new(TopicFiles::new(dir.to_owned()), "g", 3).expect("member");
        member.id = id.to_owned();
        member
    }

    fn write_beat(dir: &Path, id: &str, beat: &Beat) {
        let members = dir.join("_members/g");
        std::fs::create_dir_all(&members).expect("dir");
        std::fs::write(
            members.join(format!("{id}.json")),
            serde_json::to_vec(beat).expect("json"),
        )
        .expect("write");
    }

    #[tokio::test]
    async fn live_members_split_the_partitions_and_gone_ones_are_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = member(dir.path(), "1-first");
        assert_eq!(
            first.beat().expect("beat"),
            BTreeSet::from([0, 1, 2]),
            "alone, it reads everything"
        );
        let second = member(dir.path(), "2-second");
        assert_eq!(second.beat().expect("beat"), BTreeSet::from([1]));
        assert_eq!(first.beat().expect("beat"), BTreeSet::from([0, 2]));

        // A member whose session ended, and one whose process is gone.
        let stale = Beat {
            pid: std::process::id(),
            at_ms: now_ms() - SESSION.as_millis() as u64 - 1,
        };
        let dead = Beat {
            pid: u32::MAX,
            at_ms: now_ms(),
        };
        write_beat(dir.path(), "0-stale", &stale);
        write_beat(dir.path(), "0-dead", &dead);
        assert_eq!(first.beat().expect("beat"), BTreeSet::from([0, 2]));
        let left = std::fs::read_dir(dir.path().join("_members/g"))
            .expect("dir")
            .count();
        assert_eq!(left, 2, "gone members are removed");

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
        assert_eq!(first.beat().expect("beat"), BTreeSet::from([0, 1, 2]));
        // Commits go to the group's offsets of the local log.
        first.commit(1, 7).await.expect("commit");
        assert_eq!(
            TopicFiles::new(dir.path().to_owned())
                .committed("g", 1)
                .expect("committed"),
            Some(7)
        );
    }
}
