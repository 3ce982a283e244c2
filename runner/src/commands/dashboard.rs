//! `runner dashboard -o DIR`: runs each dashboard's queries and writes its page.

use std::collections::HashMap;
use std::io::Write;

use super::pipelines::load_valid;
use super::query::connect_engine;
use super::{CommandError, Outcome};
use crate::backend::Answer;
use crate::check::Validated;
use crate::cli::DashboardArgs;
use crate::dashboard::{self, Provenance, Shown};
use crate::query;
use crate::stop::Stop;

/// Runs `runner dashboard`.
pub async fn run(
    args: &DashboardArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.pipelines.paths, Some(&args.pipelines.target), err)?;
    let with_dashboard: Vec<&Validated> = pipelines
        .iter()
        .filter(|p| p.pipeline.dashboard.is_some())
        .collect();
    if with_dashboard.is_empty() {
        writeln!(
            err,
            "error: no pipeline in {:?} has a dashboard:",
            args.pipelines.paths
        )?;
        return Ok(Outcome::Usage);
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        writeln!(err, "error: {}: {e}", args.out.display())?;
        return Ok(Outcome::Usage);
    }
    let mut outcome = Outcome::Success;
    for validated in with_dashboard {
        if write_page(validated, args, out, err).await? != Outcome::Success {
            outcome = Outcome::Findings;
        }
    }
    Ok(outcome)
}

/// Runs one pipeline's dashboard queries and writes its page (also when a panel failed:
/// the panel then says why, and the outcome is an error).
async fn write_page(
    validated: &Validated,
    args: &DashboardArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipeline = &validated.pipeline;
    let Some(board) = &pipeline.dashboard else {
        return Ok(Outcome::Success);
    };
    let stop = Stop::on_signals();
    let engine = connect_engine(validated, &args.pipelines.target, args.engine, &stop, err).await?;
    let read_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Each query runs once, however many panels show it.
    let mut answers: HashMap<&str, Result<Answer, String>> = HashMap::new();
    for panel in &board.panels {
        if answers.contains_key(panel.query.as_str()) {
            continue;
        }
        let template = &pipeline.queries[&panel.query].sql;
        let answer = match query::render(template, engine.as_ref(), pipeline) {
            Ok(sql) => engine.query(&sql).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = &answer {
            writeln!(
                err,
                "error: {}: query '{}': {e}",
                validated.file, panel.query
            )?;
        }
        answers.insert(&panel.query, answer);
    }
    let failed = answers.values().any(Result::is_err);
    let shown: Vec<Shown<'_>> = board
        .panels
        .iter()
        .map(|panel| Shown {
            panel,
            answer: answers[panel.query.as_str()].clone(),
        })
        .collect();
    let provenance = Provenance {
        pipeline: pipeline.pipeline.clone(),
        source: format!("target {}, {} engine", args.pipelines.target, engine.name()),
        read_at,
    };
    let html = dashboard::page(board, &shown, &provenance);
    let path = args.out.join(format!("{}.html", pipeline.pipeline));
    let temp = args.out.join(format!(".{}.html.tmp", pipeline.pipeline));
    if let Err(e) = std::fs::write(&temp, html).and_then(|()| std::fs::rename(&temp, &path)) {
        writeln!(err, "error: {}: {e}", path.display())?;
        return Ok(Outcome::Findings);
    }
    writeln!(
        out,
        "{}: {} panels -> {}",
        pipeline.pipeline,
        board.panels.len(),
        path.display()
    )?;
    Ok(if failed {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}
