//! The human view of `runner apply`'s report; `--format json` prints the report itself.
//! Refusals go to stderr from `commands::apply` as they are found.

use std::fmt::Write as _;

use super::apply::{ApplyReport, PipelineResult};
use crate::plan::Action;

/// Every pipeline's result, in the order applied.
pub fn human(report: &ApplyReport) -> String {
    let mut text = String::new();
    for result in &report.results {
        pipeline(&mut text, result);
    }
    text
}

/// One pipeline: each change made, then the closing line; after a failure, what was and
/// was not applied and what to do next.
fn pipeline(text: &mut String, result: &PipelineResult) {
    let name = &result.pipeline;
    if result.applied.is_empty() && result.failed.is_none() {
        let _ = writeln!(
            text,
            "{name}: No changes. The actual resources match the pipeline."
        );
        return;
    }
    for applied in &result.applied {
        let verb = match applied.action {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Replace => "replaced",
            Action::Delete => "deleted",
            Action::NoOp => "unchanged",
        };
        let _ = writeln!(
            text,
            "  {} {}: {verb}",
            applied.action.symbol(),
            applied.address
        );
    }
    let Some(failed) = &result.failed else {
        let s = result.planned;
        let _ = writeln!(
            text,
            "{name}: apply complete: {} added, {} changed, {} destroyed.",
            s.add, s.change, s.destroy
        );
        return;
    };
    let _ = writeln!(
        text,
        "{name}: apply FAILED at {}: {}",
        failed.address, failed.error
    );
    let applied: Vec<String> = result
        .applied
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    let _ = writeln!(
        text,
        "  applied: {}",
        if applied.is_empty() {
            "nothing".into()
        } else {
            applied.join(", ")
        }
    );
    let _ = writeln!(
        text,
        "  not applied: {}{}",
        failed.address,
        result
            .not_attempted
            .iter()
            .map(|a| format!(", {a}"))
            .collect::<String>()
    );
    let _ = writeln!(
        text,
        "Run `runner apply` again once the cause is fixed; it continues from what was made."
    );
}
