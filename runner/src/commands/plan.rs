//! `runner plan`: desired vs actual for every pipeline, printed or saved.

use std::io::Write;

use super::pipelines::load_valid;
use super::{CommandError, Outcome};
use crate::backend::target;
use crate::check::Validated;
use crate::cli::{Format, PlanArgs};
use crate::plan::file::PlanFile;
use crate::plan::{self, Plan, render};
use crate::resource::desired::desired;

/// Plans `pipeline` against `target_name`: connects, reads the actual state, diffs.
/// `to_apply` keeps the Kafka admin client for the changes that follow.
pub async fn make_plan(
    pipeline: &Validated,
    target_name: &str,
    prune: bool,
    to_apply: bool,
) -> Result<(Plan, crate::backend::Backends), String> {
    let p = &pipeline.pipeline;
    let backends = target::connect(p, target_name).await?;
    let wanted = desired(p, &backends.region);
    let actual = plan::actual::read(&backends, &p.pipeline, &wanted, !to_apply)
        .await
        .map_err(|e| format!("reading target '{target_name}': {e}"))?;
    let made = plan::diff::diff(&p.pipeline, target_name, &wanted, &actual, prune);
    Ok((made, backends))
}

/// Runs `runner plan`.
pub async fn run(
    args: &PlanArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.pipelines.paths, Some(&args.pipelines.target), err)?;
    let mut plans = Vec::new();
    for pipeline in &pipelines {
        match make_plan(pipeline, &args.pipelines.target, args.prune, false).await {
            Ok((made, _)) => plans.push(made),
            Err(e) => {
                writeln!(err, "error: {}: {e}", pipeline.file)?;
                return Ok(Outcome::Findings);
            }
        }
    }
    let file = PlanFile::new(plans);
    if let Some(path) = &args.out {
        file.write(path)?;
    }
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &file)?;
            writeln!(out)?;
        }
        Format::Human => {
            for made in &file.plans {
                write!(out, "{}", render::human(made))?;
            }
            if let Some(path) = &args.out {
                writeln!(
                    out,
                    "Saved the plan to {}; apply it with `runner apply {} --target {}`.",
                    path.display(),
                    path.display(),
                    args.pipelines.target
                )?;
            }
        }
    }
    let impossible: Vec<String> = file
        .plans
        .iter()
        .flat_map(Plan::errors)
        .map(|c| c.address.to_string())
        .collect();
    if !impossible.is_empty() {
        writeln!(
            err,
            "error: the plan holds changes that cannot be made: {}",
            impossible.join(", ")
        )?;
        return Ok(Outcome::Findings);
    }
    let changes = file.plans.iter().any(Plan::has_changes);
    Ok(if args.detailed_exitcode && changes {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
