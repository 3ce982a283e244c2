//! `runner apply`: plans (or loads a saved plan), checks it may be applied, then converges
//! the target through the backends and reports what happened.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::pipelines::load_valid;
use super::plan::make_plan;
use super::{CommandError, Outcome};
use crate::apply::{Report, apply};
use crate::backend::target::LOCAL;
use crate::cli::{ApplyArgs, Format};
use crate::plan::file::PlanFile;
use crate::plan::{Action, Plan, render};

/// The JSON report of `--format json`.
#[derive(Serialize)]
struct ApplyOutput<'a> {
    /// Version of this report's shape.
    format_version: u32,
    /// One result per pipeline.
    results: &'a [PipelineResult],
}

/// What happened to one pipeline.
#[derive(Serialize)]
struct PipelineResult {
    pipeline: String,
    target: String,
    #[serde(flatten)]
    report: Report,
}

/// Runs `runner apply`.
pub async fn run(
    args: &ApplyArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let saved = if args.paths.first().is_some_and(|p| PlanFile::is_named(p)) {
        match PlanFile::read(&args.paths[0]) {
            Ok(file) => Some(file),
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(Outcome::Usage);
            }
        }
    } else {
        None
    };
    // After a saved plan come the pipeline files that declare its targets (default pipelines/).
    let pipeline_paths = match (&saved, &args.paths[..]) {
        (Some(_), [_, rest @ ..]) if !rest.is_empty() => rest.to_vec(),
        (Some(_), _) => vec![PathBuf::from("pipelines")],
        (None, _) => args.paths.clone(),
    };
    let pipelines = load_valid(&pipeline_paths, Some(&args.target), err)?;
    let mut results = Vec::new();
    let mut outcome = Outcome::Success;
    for pipeline in &pipelines {
        let name = &pipeline.pipeline.pipeline;
        let saved_plan = match &saved {
            Some(file) => match file.plans.iter().find(|p| &p.pipeline == name) {
                Some(p) if p.target != args.target => {
                    writeln!(
                        err,
                        "error: the saved plan of '{name}' is for target '{}', not '{}'",
                        p.target, args.target
                    )?;
                    return Ok(Outcome::Findings);
                }
                Some(p) => Some(p.clone()),
                None => continue,
            },
            None => None,
        };
        let prune = args.prune
            || saved_plan
                .as_ref()
                .is_some_and(|p| p.changes.iter().any(|c| c.action == Action::Delete));
        let (fresh, backends) = match make_plan(pipeline, &args.target, prune, true).await {
            Ok(made) => made,
            Err(e) => {
                writeln!(err, "error: {}: {e}", pipeline.file)?;
                return Ok(Outcome::Findings);
            }
        };
        let plan: Plan = match saved_plan {
            Some(old) if old.fingerprint != fresh.fingerprint => {
                writeln!(
                    err,
                    "error: the actual state of '{name}' on '{}' changed since the plan was made; run `runner plan` again",
                    args.target
                )?;
                return Ok(Outcome::Findings);
            }
            Some(old) => old,
            None => fresh,
        };
        if let Some(refusal) = refuse(&plan, args) {
            writeln!(err, "error: {refusal}")?;
            return Ok(Outcome::Findings);
        }
        if !plan.has_changes() {
            if args.format == Format::Human {
                writeln!(out, "{name}: {}", render::summary_line(&plan))?;
            }
            results.push(PipelineResult {
                pipeline: name.clone(),
                target: args.target.clone(),
                report: Report::default(),
            });
            continue;
        }
        let bucket = pipeline.pipeline.storage.as_ref().map(|s| s.bucket.clone());
        let mut lock = match (&bucket, args.target.as_str()) {
            (Some(bucket), target)
                if target != LOCAL
                    && backends
                        .objects
                        .bucket(bucket)
                        .await
                        .ok()
                        .flatten()
                        .is_some() =>
            {
                match crate::lock::acquire(
                    backends.objects.as_ref(),
                    bucket,
                    name,
                    args.lock_timeout.0,
                )
                .await
                {
                    Ok(lock) => Some(lock),
                    Err(e) => {
                        writeln!(err, "error: {e}")?;
                        return Ok(Outcome::Findings);
                    }
                }
            }
            _ => None,
        };
        // The lease is renewed while apply runs; a lock taken over meanwhile stops it.
        let report = match lock.as_mut() {
            None => apply(&plan, &backends).await,
            Some(held) => tokio::select! {
                report = apply(&plan, &backends) => report,
                lost = held.keep(backends.objects.as_ref()) => {
                    writeln!(err, "error: {lost}")?;
                    return Ok(Outcome::Findings);
                }
            },
        };
        if let Some(lock) = lock
            && let Err(e) = lock.release(backends.objects.as_ref()).await
        {
            writeln!(err, "warning: could not release the apply lock: {e}")?;
        }
        if args.format == Format::Human {
            print_report(out, name, &plan, &report)?;
        }
        if report.failed.is_some() {
            outcome = Outcome::Findings;
        }
        results.push(PipelineResult {
            pipeline: name.clone(),
            target: args.target.clone(),
            report,
        });
    }
    if args.format == Format::Json {
        serde_json::to_writer_pretty(
            &mut *out,
            &ApplyOutput {
                format_version: crate::plan::FORMAT_VERSION,
                results: &results,
            },
        )?;
        writeln!(out)?;
    }
    Ok(outcome)
}

/// Why `plan` may not be applied with these flags, if it may not.
fn refuse(plan: &Plan, args: &ApplyArgs) -> Option<String> {
    let impossible: Vec<String> = plan
        .errors()
        .map(|c| format!("{}: {}", c.address, c.error.as_deref().unwrap_or_default()))
        .collect();
    if !impossible.is_empty() {
        return Some(format!(
            "these changes cannot be made:\n  {}",
            impossible.join("\n  ")
        ));
    }
    let destructive: Vec<String> = plan.destructive().map(|c| c.address.to_string()).collect();
    if !destructive.is_empty() && !args.allow_destructive {
        return Some(format!(
            "destructive changes need --allow-destructive: {} (see `runner plan`)",
            destructive.join(", ")
        ));
    }
    None
}

fn print_report(
    out: &mut dyn Write,
    pipeline: &str,
    plan: &Plan,
    report: &Report,
) -> std::io::Result<()> {
    for address in &report.applied {
        let action = plan
            .changes
            .iter()
            .find(|c| &c.address == address)
            .map_or(Action::NoOp, |c| c.action);
        let verb = match action {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Replace => "replaced",
            Action::Delete => "deleted",
            Action::NoOp => "unchanged",
        };
        writeln!(out, "  {} {address}: {verb}", action.symbol())?;
    }
    match &report.failed {
        None => {
            let s = plan.summary;
            writeln!(
                out,
                "{pipeline}: apply complete: {} added, {} changed, {} destroyed.",
                s.add, s.change, s.destroy
            )
        }
        Some((address, error)) => {
            writeln!(out, "{pipeline}: apply FAILED at {address}: {error}")?;
            let applied: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
            let skipped: Vec<String> = report
                .not_attempted
                .iter()
                .map(ToString::to_string)
                .collect();
            writeln!(
                out,
                "  applied: {}",
                if applied.is_empty() {
                    "nothing".into()
                } else {
                    applied.join(", ")
                }
            )?;
            writeln!(
                out,
                "  not applied: {address}{}",
                skipped.iter().map(|s| format!(", {s}")).collect::<String>()
            )?;
            writeln!(
                out,
                "Run `runner apply` again once the cause is fixed; it continues from what was made."
            )
        }
    }
}
