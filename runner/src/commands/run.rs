//! `runner run FLOW`: runs one data flow and prints its summary.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use super::Outcome;
use super::pipelines::load_valid;
use crate::cli::{Format, RunArgs};
use crate::flow::backfill;
use crate::spec::flow::Flow;
use crate::target;

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

/// Shows one progress report: on the bar, or every 100,000 rows in the log.
fn report_progress(bar: &ProgressBar, p: backfill::Progress) {
    if bar.is_hidden() {
        if p.rows % 100_000 < backfill::BATCH_ROWS as u64 {
            tracing::info!(rows = p.rows, bytes = p.bytes, "backfill progress");
        }
        return;
    }
    if !p.compressed {
        bar.set_length(p.total_bytes);
        bar.set_position(p.bytes);
    }
    bar.set_message(format!("{} rows", p.rows));
}

/// Runs `runner run`.
pub async fn run(
    args: &RunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Outcome> {
    let pipelines = match load_valid(&args.paths, Some(&args.target), err)? {
        Ok(p) => p,
        Err(outcome) => return Ok(outcome),
    };
    let owners: Vec<_> = pipelines
        .iter()
        .filter(|p| p.pipeline.flows.contains_key(&args.flow))
        .collect();
    let validated = match owners.as_slice() {
        [one] => *one,
        [] => {
            writeln!(err, "error: no pipeline has a flow named '{}'", args.flow)?;
            return Ok(Outcome::Usage);
        }
        many => {
            let files: Vec<&str> = many.iter().map(|p| p.file.as_str()).collect();
            writeln!(
                err,
                "error: several pipelines have a flow '{}': {}; name the file",
                args.flow,
                files.join(", ")
            )?;
            return Ok(Outcome::Usage);
        }
    };
    let pipeline = &validated.pipeline;
    let Flow::Backfill(flow) = &pipeline.flows[&args.flow] else {
        writeln!(
            err,
            "error: '{}' is an ingest or deliver flow; this runner runs backfill flows only so far",
            args.flow
        )?;
        return Ok(Outcome::Usage);
    };
    let dataset = &pipeline.datasets[&flow.clean];
    let backends = match target::connect(pipeline, &args.target).await {
        Ok(b) => b,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Outcome::Findings);
        }
    };
    tracing::info!(flow = %args.flow, target = %args.target, "backfill starting");
    let bar = progress_bar();
    let report = |p: backfill::Progress| report_progress(&bar, p);
    let result = backfill::run(pipeline, &args.flow, &backends, args.restart, &report).await;
    bar.finish_and_clear();
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            writeln!(err, "error: {}: flow '{}': {e}", validated.file, args.flow)?;
            return Ok(Outcome::Findings);
        }
    };
    let ratio = if summary.read == 0 {
        0.0
    } else {
        summary.rejected_total() as f64 / summary.read as f64
    };
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &summary)?;
            writeln!(out)?;
        }
        Format::Human => {
            if summary.already_done {
                writeln!(
                    out,
                    "{}: already done for this input (checkpoint); `--restart` does it again. That run:",
                    summary.flow
                )?;
            }
            writeln!(
                out,
                "{}: read {} rows, wrote {}, deduplicated {}, rejected {} ({:.2}%) into {} objects.",
                summary.flow,
                summary.read,
                summary.written,
                summary.deduplicated,
                summary.rejected_total(),
                ratio * 100.0,
                summary.objects.len()
            )?;
            for (reason, count) in &summary.rejected {
                writeln!(out, "  rejected by {reason}: {count}")?;
            }
        }
    }
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
