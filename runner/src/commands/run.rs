//! `runner run FLOW`: runs one data flow and prints its summary.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use super::pipelines::{load_valid, the_one};
use super::run_view;
use super::{CommandError, Outcome};
use crate::cli::RunArgs;
use crate::flow::error::FlowError;
use crate::flow::{backfill, deliver, ingest};
use crate::spec::resolve::{Backfill, Resolved};
use crate::stop::Stop;

/// A progress bar on a terminal (rows, bytes, rate, ETA); hidden elsewhere, where progress
/// goes to the log instead.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Shows one progress report: on the bar, or in the log each time rows read plus rows
/// written pass another 100,000 (`logged` holds how many hundred thousands were logged).
fn report_progress(bar: &ProgressBar, logged: &std::cell::Cell<u64>, p: backfill::Progress) {
    if bar.is_hidden() {
        let step = (p.rows + p.written) / 100_000;
        if step > logged.get() {
            logged.set(step);
            tracing::info!(
                rows = p.rows,
                bytes = p.bytes,
                written = p.written,
                "backfill progress"
            );
        }
        return;
    }
    if !p.compressed {
        bar.set_length(p.total_bytes);
        bar.set_position(p.bytes);
    }
    bar.set_message(format!("{} rows read, {} written", p.rows, p.written));
}

/// Runs `runner run`.
pub async fn run(
    args: &RunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.pipelines.paths, Some(&args.pipelines.target), err)?;
    let what = format!("a flow named '{}'", args.flow);
    let has = |p: &crate::check::Validated| p.pipeline.flows.contains_key(&args.flow);
    let validated = the_one(&pipelines, has, &what, err)?;
    let resolved = match validated.pipeline.resolve(&args.flow) {
        Ok(resolved) => resolved,
        Err(e) => {
            writeln!(err, "error: {}: {e}", validated.file)?;
            return Ok(Outcome::Findings);
        }
    };
    let backends = super::pipelines::connect(validated, &args.pipelines.target, err).await?;
    match resolved {
        Resolved::Backfill(flow) => run_backfill(args, validated, &backends, &flow, out, err).await,
        Resolved::Ingest(flow) => {
            let result = ingest::run(&flow, &backends, args.once, Stop::on_signals());
            let Some(summary) = finished(result.await, validated, args, err)? else {
                return Ok(Outcome::Findings);
            };
            super::print(out, args.format, &summary, run_view::ingest)?;
            write!(err, "{}", run_view::ingest_notices(&summary, flow.dataset))?;
            if summary.over_reject_limit.is_some() {
                return Ok(Outcome::Findings);
            }
            check_ratio(summary.rejected_total(), summary.read, flow.dataset, err)
        }
        Resolved::Deliver(flow) => {
            let result = deliver::run(
                &flow,
                &backends,
                args.once.then_some(args.patience.0),
                Stop::on_signals(),
            );
            let Some(summary) = finished(result.await, validated, args, err)? else {
                return Ok(Outcome::Findings);
            };
            super::print(out, args.format, &summary, run_view::deliver)?;
            deliver_outcome(&summary, err)
        }
    }
}

/// A flow's summary, or `None` after printing why it stopped, with the file and flow.
fn finished<T>(
    result: Result<T, FlowError>,
    validated: &crate::check::Validated,
    args: &RunArgs,
    err: &mut dyn Write,
) -> std::io::Result<Option<T>> {
    match result {
        Ok(summary) => Ok(Some(summary)),
        Err(e) => {
            flow_failed(&e, validated, args, err)?;
            Ok(None)
        }
    }
}

/// Prints why a flow stopped, with the file and flow, and whether running it again may
/// help (a service's or a local file's failure may pass).
fn flow_failed(
    e: &FlowError,
    validated: &crate::check::Validated,
    args: &RunArgs,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(err, "error: {}: flow '{}': {e}", validated.file, args.flow)?;
    if e.retryable() {
        writeln!(
            err,
            "note: this failure may pass: run the flow again, and it resumes where it stopped"
        )?;
    }
    Ok(())
}

/// Exit 3, with the reasons on stderr, when a deliver run could not keep its guarantee:
/// records lost from the log, offsets the log skipped, a gap in the dedupe window, or
/// partitions left behind by a `--once` run; a log that went back is only a warning.
fn deliver_outcome(
    summary: &deliver::Summary,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    write!(err, "{}", run_view::deliver_notices(summary))?;
    if summary.risks.kept() && summary.behind.is_empty() {
        Ok(Outcome::Success)
    } else {
        Ok(Outcome::Incomplete)
    }
}

/// Exit 1 when more rows were rejected than the dataset allows.
fn check_ratio(
    rejected: u64,
    read: u64,
    dataset: &crate::spec::dataset::Dataset,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let ratio = crate::flow::reject_ratio(rejected, read);
    if ratio > dataset.max_reject_ratio {
        writeln!(
            err,
            "error: {:.2}% of rows were rejected; the dataset allows {:.2}% (max_reject_ratio)",
            ratio * 100.0,
            dataset.max_reject_ratio * 100.0
        )?;
        return Ok(Outcome::Findings);
    }
    Ok(Outcome::Success)
}

/// Runs a backfill flow with a progress bar and prints its summary.
async fn run_backfill(
    args: &RunArgs,
    validated: &crate::check::Validated,
    backends: &crate::backend::Backends,
    flow: &Backfill<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    tracing::info!(flow = %args.flow, target = %args.pipelines.target, "backfill starting");
    let bar = progress_bar();
    let logged = std::cell::Cell::new(0);
    let report = |p: backfill::Progress| report_progress(&bar, &logged, p);
    let result = backfill::run(flow, backends, args.restart, &report).await;
    bar.finish_and_clear();
    let Some(summary) = finished(result, validated, args, err)? else {
        return Ok(Outcome::Findings);
    };
    super::print(out, args.format, &summary, run_view::backfill)?;
    write!(
        err,
        "{}",
        run_view::unprojected_notice(&summary.unprojected)
    )?;
    check_ratio(summary.rejected_total(), summary.read, flow.dataset, err)
}
