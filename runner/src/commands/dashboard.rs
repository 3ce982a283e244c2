//! `runner dashboard -o DIR`: runs each dashboard's queries, writes its page and reports
//! the pages written.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::pipelines::load_valid;
use super::query::connect_engine;
use super::{CommandError, Outcome};
use crate::backend::Answer;
use crate::check::Validated;
use crate::cli::DashboardArgs;
use crate::dashboard::{self, Provenance, Shown};
use crate::query;
use crate::stop::Stop;

/// The pages `runner dashboard` wrote: the report its views render.
#[derive(Debug, Default, Serialize)]
pub struct DashboardReport {
    /// One page per pipeline with a dashboard, in the order written.
    pub pages: Vec<Page>,
}

/// One page written.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The pipeline whose dashboard it shows.
    pub pipeline: String,
    /// The HTML file.
    pub file: PathBuf,
    /// How many panels it shows.
    pub panels: usize,
    /// The queries that failed (their panels say why), by name.
    pub failed_queries: Vec<FailedQuery>,
}

/// A dashboard query that failed.
#[derive(Debug, Serialize)]
pub struct FailedQuery {
    /// The query's name.
    pub query: String,
    /// Why, as the engine said.
    pub error: String,
}

/// The human view: a line per page.
fn human(report: &DashboardReport) -> String {
    report
        .pages
        .iter()
        .map(|page| {
            format!(
                "{}: {} panels -> {}\n",
                page.pipeline,
                page.panels,
                page.file.display()
            )
        })
        .collect()
}

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
    let mut report = DashboardReport::default();
    for validated in with_dashboard {
        match write_page(validated, args, err).await? {
            Some(page) => {
                if !page.failed_queries.is_empty() {
                    outcome = Outcome::Findings;
                }
                report.pages.push(page);
            }
            None => outcome = Outcome::Findings,
        }
    }
    super::print(out, args.format, &report, human)?;
    Ok(outcome)
}

/// Runs one pipeline's dashboard queries and writes its page (also when a panel failed:
/// the panel then says why, and the page lists the query); `None` when the page could not
/// be written (the error is on `err`).
async fn write_page(
    validated: &Validated,
    args: &DashboardArgs,
    err: &mut dyn Write,
) -> Result<Option<Page>, CommandError> {
    let pipeline = &validated.pipeline;
    let Some(board) = &pipeline.dashboard else {
        return Ok(None);
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
    let mut failed_queries: Vec<FailedQuery> = answers
        .iter()
        .filter_map(|(query, answer)| {
            answer.as_ref().err().map(|error| FailedQuery {
                query: (*query).to_owned(),
                error: error.clone(),
            })
        })
        .collect();
    failed_queries.sort_by(|a, b| a.query.cmp(&b.query));
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
        return Ok(None);
    }
    Ok(Some(Page {
        pipeline: pipeline.pipeline.clone(),
        file: path,
        panels: board.panels.len(),
        failed_queries,
    }))
}
