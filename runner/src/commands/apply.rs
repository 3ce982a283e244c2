//! `runner apply`: plans (or loads a saved plan), checks it may be applied, then converges
//! the target through the backends and reports what happened.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::apply_view;
use super::pipelines::load_valid;
use super::plan::make_plan;
use super::{CommandError, Outcome};
use crate::apply::{Report, apply};
use crate::backend::target::LOCAL;
use crate::cli::ApplyArgs;
use crate::plan::file::PlanFile;
use crate::plan::{Action, Plan, Summary};
use crate::resource::Address;

/// What `runner apply` did, pipeline by pipeline: the report its views render.
#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// One result per pipeline applied, in the order applied.
    pub results: Vec<PipelineResult>,
}

/// What happened to one pipeline.
#[derive(Debug, Serialize)]
pub struct PipelineResult {
    /// The pipeline's name.
    pub pipeline: String,
    /// The target applied to.
    pub target: String,
    /// The plan's counts: resources to add, change and destroy.
    pub planned: Summary,
    /// Changes made, in order, with what was done.
    pub applied: Vec<Applied>,
    /// The change that failed and why, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
    /// Changes not attempted because an earlier one failed.
    pub not_attempted: Vec<Address>,
}

/// One change made.
#[derive(Debug, Serialize)]
pub struct Applied {
    /// The resource.
    pub address: Address,
    /// What was done to it.
    pub action: Action,
}

/// The change that failed.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// The resource.
    pub address: Address,
    /// Why, as the service said.
    pub error: String,
}

impl PipelineResult {
    /// The result of applying `plan` as `done` reports.
    fn new(plan: &Plan, done: Report) -> Self {
        let action = |address: &Address| {
            plan.changes
                .iter()
                .find(|c| &c.address == address)
                .map_or(Action::NoOp, |c| c.action)
        };
        PipelineResult {
            pipeline: plan.pipeline.clone(),
            target: plan.target.clone(),
            planned: plan.summary,
            applied: done
                .applied
                .into_iter()
                .map(|address| Applied {
                    action: action(&address),
                    address,
                })
                .collect(),
            failed: done
                .failed
                .map(|(address, error)| Failure { address, error }),
            not_attempted: done.not_attempted,
        }
    }
}

/// Runs `runner apply`: applies each pipeline, then prints what was done (also when a
/// later pipeline was refused: the report holds the pipelines applied before it).
pub async fn run(
    args: &ApplyArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let mut report = ApplyReport::default();
    let outcome = apply_each(args, &mut report, err).await?;
    super::print(out, args.format, &report, apply_view::human)?;
    Ok(outcome)
}

/// Plans and applies each pipeline into `report`; refusals and failures are written to
/// `err` as they are found.
async fn apply_each(
    args: &ApplyArgs,
    report: &mut ApplyReport,
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
            keep_applied_rules(&backends, &pipeline.pipeline, err).await?;
            report
                .results
                .push(PipelineResult::new(&plan, Report::default()));
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
        let done = match lock.as_mut() {
            None => apply(&plan, &backends).await,
            Some(held) => tokio::select! {
                done = apply(&plan, &backends) => done,
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
        if done.failed.is_some() {
            outcome = Outcome::Findings;
        } else {
            keep_applied_rules(&backends, &pipeline.pipeline, err).await?;
        }
        report.results.push(PipelineResult::new(&plan, done));
    }
    Ok(outcome)
}

/// Keeps the pipeline's cleaning rules as the applied ones, for `plan --sample` to compare
/// with; a failure is a warning (the resources are applied).
async fn keep_applied_rules(
    backends: &crate::backend::Backends,
    pipeline: &crate::spec::Pipeline,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    if let Err(e) = crate::plan::applied::save(backends.objects.as_ref(), pipeline).await {
        writeln!(
            err,
            "warning: could not keep the applied cleaning rules: {e}"
        )?;
    }
    Ok(())
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
