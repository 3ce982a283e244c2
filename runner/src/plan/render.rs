//! The plan for people: one block per changed resource with `+ ~ -/+ -` markers and
//! attribute diffs, then the summary line. Rendered from the same [`Plan`] as the JSON.

use std::fmt::Write;

use serde_json::Value;

use super::{Action, Change, Plan, Risk};

/// The plan as text.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    let changed: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if !changed.is_empty() {
        let _ = writeln!(
            out,
            "Pipeline '{}' on target '{}' needs these changes:\n",
            plan.pipeline, plan.target
        );
    }
    for change in changed {
        let risk = match change.risk {
            Risk::Safe => String::new(),
            other => format!("  [{}]", risk_name(other)),
        };
        let _ = writeln!(out, "  {} {}{risk}", change.action.symbol(), change.address);
        if let Some(error) = &change.error {
            let _ = writeln!(out, "      ! cannot apply: {error}");
        }
        match change.action {
            Action::Create => {
                for (name, value) in change.after.iter().flatten() {
                    let _ = writeln!(out, "      + {name} = {}", short(value));
                }
            }
            Action::Delete => {}
            _ => {
                for attr in &change.attributes {
                    let line = match (&attr.before, &attr.after) {
                        (None, Some(after)) => format!("+ {} = {}", attr.name, short(after)),
                        (Some(before), None) => format!("- {} = {}", attr.name, short(before)),
                        (Some(before), Some(after)) => {
                            format!("~ {}: {} -> {}", attr.name, short(before), short(after))
                        }
                        (None, None) => continue,
                    };
                    let note = match (&attr.note, attr.risk) {
                        (Some(note), risk) => format!("  ({}: {note})", risk_name(risk)),
                        (None, Risk::Safe) => String::new(),
                        (None, risk) => format!("  ({})", risk_name(risk)),
                    };
                    let _ = writeln!(out, "      {line}{note}");
                }
            }
        }
        out.push('\n');
    }
    if !plan.unmanaged_leftovers.is_empty() {
        let names: Vec<String> = plan
            .unmanaged_leftovers
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "Not in the pipeline any more, kept (apply --prune deletes them): {}\n",
            names.join(", ")
        );
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

/// `Plan: 3 to add, 1 to change, 0 to destroy.` or `No changes.`
pub fn summary_line(plan: &Plan) -> String {
    if !plan.has_changes() {
        return "No changes. The actual resources match the pipeline.".to_owned();
    }
    let s = plan.summary;
    format!(
        "Plan: {} to add, {} to change, {} to destroy.",
        s.add, s.change, s.destroy
    )
}

/// The data effect of the rules on a sample, for people: counts before and after, then per
/// field what changes, with examples.
pub fn data_effect(effect: &super::sample::DataEffect) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let after = effect.after;
    let _ = writeln!(
        text,
        "\nData: flow '{}', dataset '{}', on the first {} rows of its source:",
        effect.flow, effect.dataset, effect.rows
    );
    match effect.before {
        Some(before) => {
            let _ = writeln!(
                text,
                "  kept {} -> {}, rejected {} -> {}",
                before.kept, after.kept, before.rejected, after.rejected
            );
        }
        None => {
            let _ = writeln!(
                text,
                "  kept {}, rejected {} (no rules applied yet to compare with)",
                after.kept, after.rejected
            );
        }
    }
    let over = if effect.reject_ratio > effect.max_reject_ratio {
        ": OVER the limit, a backfill would fail"
    } else {
        ""
    };
    let _ = writeln!(
        text,
        "  rejects {:.2}% of the sample; max_reject_ratio {:.2}%{over}",
        effect.reject_ratio * 100.0,
        effect.max_reject_ratio * 100.0
    );
    for (field, f) in &effect.fields {
        let _ = writeln!(
            text,
            "  ~ {field}: {} changed, {} became null, {} newly rejected",
            f.changed, f.became_null, f.newly_rejected
        );
        for e in &f.examples {
            let _ = writeln!(text, "      row {}: {} -> {}", e.row, e.before, e.after);
        }
    }
    if effect.before.is_some() && effect.fields.is_empty() {
        let _ = writeln!(text, "  no row of the sample changes.");
    }
    text
}

fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::Safe => "safe",
        Risk::Disruptive => "disruptive",
        Risk::Destructive => "destructive",
    }
}

/// A value on one line, cut at 100 characters (after hiding environment values, which a
/// cut could leave unrecognisable).
fn short(value: &Value) -> String {
    let text = crate::redact::text(&value.to_string());
    if text.chars().count() > 100 {
        let cut: String = text.chars().take(97).collect();
        format!("{cut}...")
    } else {
        text
    }
}
