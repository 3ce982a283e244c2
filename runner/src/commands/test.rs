//! `runner test`: runs the rule tests of pipeline files and reports each.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use super::pipelines::load_valid;
use super::{CommandError, Outcome};
use crate::clean::rule_tests::{self, Verdict};
use crate::cli::TestArgs;

/// What `runner test` found: the report its views render.
#[derive(Debug, Default, Serialize)]
pub struct TestReport {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Each test, by pipeline, in file order.
    pub tests: Vec<PipelineVerdict>,
}

/// One test's verdict, with its pipeline.
#[derive(Debug, Serialize)]
pub struct PipelineVerdict {
    /// The pipeline.
    pub pipeline: String,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Runs `runner test`.
pub fn run(
    args: &TestArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.paths, None, err)?;
    let mut report = TestReport::default();
    for validated in &pipelines {
        let pipeline = &validated.pipeline;
        for (name, test) in &pipeline.tests {
            // `runner validate` made sure the dataset exists.
            let Some(dataset) = pipeline.datasets.get(&test.dataset) else {
                continue;
            };
            let verdict = match rule_tests::run(name, test, dataset) {
                Ok(verdict) => verdict,
                Err(e) => {
                    writeln!(err, "error: {}: test '{name}': {e}", validated.file)?;
                    return Ok(Outcome::Findings);
                }
            };
            if verdict.passed {
                report.passed += 1;
            } else {
                report.failed += 1;
            }
            report.tests.push(PipelineVerdict {
                pipeline: pipeline.pipeline.clone(),
                verdict,
            });
        }
    }
    super::print(out, args.format, &report, human)?;
    Ok(super::failed_if(report.failed))
}

/// The human view: a line per test, each failure's differences below it, then the count.
fn human(report: &TestReport) -> String {
    let mut text = String::new();
    for PipelineVerdict { pipeline, verdict } in &report.tests {
        let status = if verdict.passed { "ok" } else { "FAILED" };
        let _ = writeln!(text, "{pipeline}: test {} ... {status}", verdict.test);
        for d in &verdict.differences {
            let _ = writeln!(
                text,
                "    {}: expected {}, got {}",
                d.field, d.expected, d.got
            );
        }
    }
    let _ = writeln!(
        text,
        "{}",
        super::tally("tests", report.passed, report.failed)
    );
    text
}
