//! `runner validate`: loads and checks pipeline files and prints every finding.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::Outcome;
use super::pipelines::load_and_check;
use crate::cli::{Format, ValidateArgs};
use crate::diag::{Diagnostic, Severity};

/// The JSON report of `--format json`.
#[derive(Serialize)]
struct Report<'a> {
    /// Version of this report's shape.
    version: u32,
    /// Files checked.
    files: usize,
    /// Number of errors.
    errors: usize,
    /// Number of warnings.
    warnings: usize,
    /// Every finding, sorted by file and position.
    findings: &'a [Diagnostic],
}

/// Runs `runner validate`. Usage and I/O errors go to `err`.
pub fn run(
    args: &ValidateArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Outcome> {
    let checked = match load_and_check(&args.paths, args.target.as_deref(), err)? {
        Ok(checked) => checked,
        Err(outcome) => return Ok(outcome),
    };
    let findings = &checked.findings;
    let docs = &checked.docs;
    let errors = findings
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    match args.format {
        Format::Json => {
            let report = Report {
                version: 1,
                files: docs.len(),
                errors,
                warnings,
                findings,
            };
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        Format::Human => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            checked.render(out, color)?;
            writeln!(out, "{}", summary(docs.len(), errors, warnings))?;
        }
    }
    Ok(if errors > 0 {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}

/// The closing line: `3 files: valid.` or `2 files: 3 errors, 1 warning.`
fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let files = plural(files, "file");
    match (errors, warnings) {
        (0, 0) => format!("{files}: valid."),
        (0, w) => format!("{files}: valid, {}.", plural(w, "warning")),
        (e, w) => format!("{files}: {}, {}.", plural(e, "error"), plural(w, "warning")),
    }
}
