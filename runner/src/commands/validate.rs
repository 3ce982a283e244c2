//! `runner validate`: loads and checks pipeline files and prints every finding.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::Outcome;
use crate::check;
use crate::cli::{Format, ValidateArgs};
use crate::diag::{Diagnostic, Severity, render_human};
use crate::load::{self, Document, LoadOptions, SchemaChecker};

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
    let paths = match load::expand_paths(&args.paths) {
        Ok(paths) => paths,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Outcome::Usage);
        }
    };
    if paths.is_empty() {
        writeln!(
            err,
            "error: no pipeline files (*.yaml, *.yml) in {:?}",
            args.paths
        )?;
        return Ok(Outcome::Usage);
    }
    let lookup = |name: &str| std::env::var(name).ok();
    let options = LoadOptions {
        lookup: &lookup,
        target: args.target.as_deref(),
    };
    let checker = SchemaChecker::new();
    let mut docs: Vec<Document> = Vec::new();
    let mut findings: Vec<Diagnostic> = Vec::new();
    for path in &paths {
        let (doc, diags) = match load::load_file(path, &options, &checker) {
            Ok(loaded) => loaded,
            Err(e) => {
                writeln!(err, "error: {}: {e}", path.display())?;
                return Ok(Outcome::Usage);
            }
        };
        findings.extend(diags);
        findings.extend(check::check(&doc).1);
        tracing::debug!(file = %doc.file, "checked");
        docs.push(doc);
    }
    findings.extend(check::check_across(&docs));
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();

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
                findings: &findings,
            };
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        Format::Human => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            for d in &findings {
                let source = docs
                    .iter()
                    .find(|doc| doc.file == d.file)
                    .map(|doc| doc.source.as_str());
                writeln!(out, "{}\n", render_human(d, source, color))?;
            }
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
