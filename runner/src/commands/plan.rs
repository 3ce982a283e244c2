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

/// What the cleaning rules in the file do to the first `rows` rows of each backfill's local
/// CSV source (or of `sample_file`, for the backfills whose dataset reads its columns),
/// against the rules last applied on the target.
async fn sample_effects(
    validated: &Validated,
    backends: &crate::backend::Backends,
    rows: usize,
    sample_file: Option<&std::path::Path>,
) -> Result<Vec<plan::sample::DataEffect>, String> {
    let pipeline = &validated.pipeline;
    let applied = plan::applied::load(backends.objects.as_ref(), pipeline)
        .await
        .map_err(|e| e.to_string())?;
    let mut effects = Vec::new();
    for name in pipeline.flows.keys() {
        let Ok(crate::spec::resolve::Resolved::Backfill(flow)) = pipeline.resolve(name) else {
            continue;
        };
        let path = match sample_file {
            Some(file) => file.to_path_buf(),
            None if std::path::Path::new(&flow.source.path).is_file() => {
                flow.source.path.clone().into()
            }
            None => continue,
        };
        let input = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name_shown = path.display().to_string();
        let mut reader = crate::flow::backfill::csv_source::CsvReader::open(
            &name_shown,
            Box::new(input),
            flow.source,
            rows.max(1),
        )
        .map_err(|e| e.to_string())?;
        let Some(sample) = reader.next_batch().map_err(|e| e.to_string())? else {
            continue;
        };
        let old = applied
            .as_ref()
            .and_then(|datasets| datasets.get(&flow.flow.clean));
        let effect = plan::sample::effect(
            flow.name,
            &flow.flow.clean,
            old,
            flow.dataset,
            crate::spec::SourceKind::Csv,
            &sample.batch,
        );
        match (effect, sample_file) {
            (Ok(effect), _) => effects.push(effect),
            // A sample file serves the backfills whose dataset reads its columns.
            (Err(_), Some(_)) => {}
            (Err(e), None) => return Err(e),
        }
    }
    if let (Some(file), true) = (sample_file, effects.is_empty()) {
        return Err(format!(
            "{} has the columns of no backfill's dataset",
            file.display()
        ));
    }
    Ok(effects)
}

/// Runs `runner plan`.
pub async fn run(
    args: &PlanArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.pipelines.paths, Some(&args.pipelines.target), err)?;
    let mut plans = Vec::new();
    let mut data = Vec::new();
    for pipeline in &pipelines {
        let backends = match make_plan(pipeline, &args.pipelines.target, args.prune, false).await {
            Ok((made, backends)) => {
                plans.push(made);
                backends
            }
            Err(e) => {
                writeln!(err, "error: {}: {e}", pipeline.file)?;
                return Ok(Outcome::Findings);
            }
        };
        if let Some(rows) = args.sample {
            match sample_effects(pipeline, &backends, rows, args.sample_file.as_deref()).await {
                Ok(effects) => data.extend(effects),
                Err(e) => {
                    writeln!(err, "error: {}: --sample: {e}", pipeline.file)?;
                    return Ok(Outcome::Findings);
                }
            }
        }
    }
    let mut file = PlanFile::new(plans);
    file.data = data;
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
            for effect in &file.data {
                write!(out, "{}", render::data_effect(effect))?;
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
