//! Crash points for the crash tests: `RUNNER_CRASH_AT=NAME` (or `NAME:N`, the Nth time the
//! point is reached) makes the process kill itself with SIGKILL at that point, exactly as
//! `kill -9` would, with no chance to clean up. Unset, a crash point costs one relaxed
//! atomic load.
//!
//! The points: `ingest-after-produce` (records acknowledged by the log, watermark not yet
//! saved), `deliver-after-pending` (batch range recorded, nothing written),
//! `deliver-mid-write` (after the batch's first object), `deliver-after-write` (objects
//! written, offset not yet committed).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The configured point and after how many hits it fires.
static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn target() -> &'static Option<(String, u64)> {
    TARGET.get_or_init(|| {
        let value = std::env::var("RUNNER_CRASH_AT").ok()?;
        let (name, nth) = match value.split_once(':') {
            Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
            None => (value, 1),
        };
        Some((name, nth))
    })
}

/// Kills the process with SIGKILL if `RUNNER_CRASH_AT` names this point (and this is the
/// Nth hit).
pub fn hit(name: &str) {
    let Some((wanted, nth)) = target() else {
        return;
    };
    if wanted != name || HITS.fetch_add(1, Ordering::Relaxed) + 1 != *nth {
        return;
    }
    eprintln!("crash point {name}: killing the process (RUNNER_CRASH_AT)");
    // SAFETY: getpid and kill have no preconditions; SIGKILL ends the process at once.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}
