//! `runner check`: runs the data checks of the catalog tables and reports each.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use super::pipelines::load_valid;
use super::query::connect_engine;
use super::{CommandError, Outcome};
use crate::cli::CheckArgs;
use crate::query::checks::{self, CheckResult};
use crate::spec::check::CheckSeverity;
use crate::stop::Stop;

/// What `runner check` found: the report its views render.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed (or could not run).
    pub failed: usize,
    /// Each check, by table, in file order.
    pub checks: Vec<CheckResult>,
}

/// Runs `runner check`.
pub async fn run(
    args: &CheckArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.pipelines.paths, Some(&args.pipelines.target), err)?;
    let mut report = CheckReport::default();
    let stop = Stop::on_signals();
    for validated in &pipelines {
        let pipeline = &validated.pipeline;
        let Some(catalog) = &pipeline.catalog else {
            continue;
        };
        let tables: Vec<_> = catalog
            .tables
            .iter()
            .filter(|(name, table)| {
                !table.checks.is_empty() && args.table.as_ref().is_none_or(|t| t == *name)
            })
            .collect();
        if tables.is_empty() {
            continue;
        }
        let engine =
            connect_engine(validated, &args.pipelines.target, args.engine, &stop, err).await?;
        for (name, table) in tables {
            for check in &table.checks {
                let result = checks::run(engine.as_ref(), pipeline, name, check).await;
                if result.passed || result.severity == CheckSeverity::Warn && result.error.is_none()
                {
                    report.passed += 1;
                } else {
                    report.failed += 1;
                }
                report.checks.push(result);
            }
        }
    }
    if let Some(table) = &args.table
        && report.checks.is_empty()
    {
        writeln!(err, "error: no catalog table '{table}' has checks")?;
        return Ok(Outcome::Usage);
    }
    super::print(out, args.format, &report, human)?;
    Ok(super::failed_if(report.failed))
}

/// The human view: a line per check, a failing one's count and example rows below it, then
/// the count.
fn human(report: &CheckReport) -> String {
    let mut text = String::new();
    for c in &report.checks {
        let status = match (&c.error, c.passed, c.severity) {
            (Some(e), _, _) => format!("ERROR: {e}"),
            (None, true, _) => "ok".into(),
            (None, false, CheckSeverity::Warn) => format!("warning: {} failing", c.failing),
            (None, false, CheckSeverity::Error) => format!("FAILED: {} failing", c.failing),
        };
        let _ = writeln!(text, "{}: {} ... {status}", c.table, c.check);
        for example in &c.examples {
            let _ = writeln!(text, "    {example}");
        }
    }
    let _ = writeln!(
        text,
        "{}",
        super::tally("checks", report.passed, report.failed)
    );
    text
}
