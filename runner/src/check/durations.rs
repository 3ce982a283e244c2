//! Durations that may not be zero: where `0s` would make a flow spin (poll the API without
//! pause), fail every request at once, or write an object per fetch.

use super::{Ctx, ptr};
use crate::spec::source::Source;
use crate::spec::types::Duration;

/// Reports every zero duration that would make a flow spin or fail.
pub(super) fn check_durations(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let mut zero = |pointer: String, why: &str, d: Option<&Duration>| {
        if d.is_some_and(|d| d.0.is_zero()) {
            ctx.error(
                &pointer,
                false,
                format!("0s {why}: give a duration above zero"),
            );
        }
    };
    for (name, source) in &p.sources {
        if let Source::Csv(s) = source {
            zero(
                ptr(&["sources", name, "read_timeout"]),
                "would fail every read over the network at once",
                Some(&s.read_timeout),
            );
        }
        if let Source::Socrata(s) = source {
            zero(
                ptr(&["sources", name, "poll_every"]),
                "would poll the API without pause",
                Some(&s.poll_every),
            );
            zero(
                ptr(&["sources", name, "timeout"]),
                "would fail every request at once",
                Some(&s.timeout),
            );
        }
    }
    for (name, layout) in p.storage.iter().flat_map(|s| &s.layouts) {
        zero(
            ptr(&["storage/layouts", name, "rotate", "max_age"]),
            "would write an object for every fetch",
            layout.rotate.as_ref().and_then(|r| r.max_age.as_ref()),
        );
    }
}
