//! Crash points for the crash tests: `RUNNER_CRASH_AT=NAME` (or `NAME:N`, the Nth time the
//! point is reached) makes the process kill itself with SIGKILL at that point, exactly as
//! `kill -9` would, with no chance to clean up. Unset, a crash point costs one relaxed
//! atomic load.
//!
//! The points: `ingest-after-produce` (records acknowledged by the log, watermark not yet
//! saved), `deliver-after-pending` (batch range recorded, nothing written),
//! `deliver-mid-write` (after the batch's first object), `deliver-after-write` (objects
//! written, offset not yet committed).
//!
//! `RUNNER_PANIC_AT=NAME` (or `NAME:N`) makes the code panic at a point instead, as a bug
//! there would: `deliver-prepare` (while a batch is made ready to write, on its blocking
//! thread).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A point named by an environment variable, and the hits counted at it.
struct Point {
    /// The configured point and after how many hits it fires.
    target: OnceLock<Option<(String, u64)>>,
    hits: AtomicU64,
}

impl Point {
    const fn new() -> Point {
        Point {
            target: OnceLock::new(),
            hits: AtomicU64::new(0),
        }
    }

    /// Whether `variable` names point `name` and this is its Nth hit.
    fn fires(&self, variable: &str, name: &str) -> bool {
        let target = self.target.get_or_init(|| {
            let value = std::env::var(variable).ok()?;
            let (name, nth) = match value.split_once(':') {
                Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
                None => (value, 1),
            };
            Some((name, nth))
        });
        let Some((wanted, nth)) = target else {
            return false;
        };
        wanted == name && self.hits.fetch_add(1, Ordering::Relaxed) + 1 == *nth
    }
}

static CRASH: Point = Point::new();
static PANIC: Point = Point::new();

/// Kills the process with SIGKILL if `RUNNER_CRASH_AT` names this point (and this is the
/// Nth hit).
pub fn hit(name: &str) {
    if !CRASH.fires("RUNNER_CRASH_AT", name) {
        return;
    }
    eprintln!("crash point {name}: killing the process (RUNNER_CRASH_AT)");
    // SAFETY: getpid and kill have no preconditions; SIGKILL ends the process at once.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

/// Panics if `RUNNER_PANIC_AT` names this point (and this is the Nth hit).
pub fn panic_here(name: &str) {
    if PANIC.fires("RUNNER_PANIC_AT", name) {
        panic!("panic point {name} (RUNNER_PANIC_AT)");
    }
}
