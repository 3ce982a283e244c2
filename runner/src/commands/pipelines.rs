//! Loading and checking the pipeline files a command names, shared by every command that
//! reads pipelines.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::CommandError;
use crate::backend::{Backends, target};
use crate::check::{self, Validated};
use crate::diag::{Diagnostic, Severity, render_human};
use crate::load::{self, Document, LoadOptions, SchemaChecker};

/// Every file loaded and checked, with all findings sorted.
pub struct Checked {
    /// The files, as loaded.
    pub docs: Vec<Document>,
    /// Every finding, sorted by file and position.
    pub findings: Vec<Diagnostic>,
    /// The pipelines without errors.
    pub valid: Vec<Validated>,
}

impl Checked {
    /// Number of error findings.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Renders findings for people; `color` for a terminal.
    pub fn render(&self, out: &mut dyn Write, color: bool) -> std::io::Result<()> {
        for d in &self.findings {
            let source = self
                .docs
                .iter()
                .find(|doc| doc.file == d.file)
                .map(|doc| doc.source.as_str());
            writeln!(out, "{}\n", render_human(d, source, color))?;
        }
        Ok(())
    }
}

/// Loads and checks the files under `paths`. Usage and I/O errors are written to `err`
/// and returned as `Err(Outcome::Usage)`.
pub fn load_and_check(
    paths: &[PathBuf],
    target: Option<&str>,
    err: &mut dyn Write,
) -> Result<Checked, CommandError> {
    let files = match load::expand_paths(paths) {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => {
            writeln!(err, "error: no pipeline files (*.yaml, *.yml) in {paths:?}")?;
            return Err(CommandError::Usage);
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Err(CommandError::Usage);
        }
    };
    let lookup = |name: &str| std::env::var(name).ok();
    let options = LoadOptions {
        lookup: &lookup,
        target,
    };
    let checker = SchemaChecker::new();
    let mut checked = Checked {
        docs: Vec::new(),
        findings: Vec::new(),
        valid: Vec::new(),
    };
    for file in &files {
        let (doc, diags) = match load::load_file(file, &options, &checker) {
            Ok(loaded) => loaded,
            Err(e) => {
                writeln!(err, "error: {}: {e}", file.display())?;
                return Err(CommandError::Usage);
            }
        };
        // Before anything about the file is printed: its environment values stay hidden.
        crate::redact::hide(&doc.hidden);
        checked.findings.extend(diags);
        let (valid, diags) = check::check(&doc);
        checked.findings.extend(diags);
        checked.valid.extend(valid);
        tracing::debug!(file = %doc.file, "checked");
        checked.docs.push(doc);
    }
    checked.findings.extend(check::check_across(&checked.docs));
    checked
        .findings
        .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    checked.findings.dedup();
    Ok(checked)
}

/// Loads pipelines for a command that needs them valid: prints any errors to `err` and
/// returns the outcome to exit with, or the valid pipelines.
pub fn load_valid(
    paths: &[PathBuf],
    target: Option<&str>,
    err: &mut dyn Write,
) -> Result<Vec<Validated>, CommandError> {
    let checked = load_and_check(paths, target, err)?;
    if checked.errors() > 0 {
        checked.render(err, std::io::stderr().is_terminal())?;
        writeln!(
            err,
            "error: the pipeline has errors; fix them first (runner validate)"
        )?;
        return Err(CommandError::Findings);
    }
    Ok(checked.valid)
}

/// The one pipeline among `pipelines` for which `has` holds (e.g. "has a flow named X");
/// otherwise writes to `err` that none or several do, naming `what`, and returns the
/// usage outcome.
pub fn the_one<'a>(
    pipelines: &'a [Validated],
    has: impl Fn(&Validated) -> bool,
    what: &str,
    err: &mut dyn Write,
) -> Result<&'a Validated, CommandError> {
    let owners: Vec<&Validated> = pipelines.iter().filter(|p| has(p)).collect();
    match owners.as_slice() {
        [one] => Ok(*one),
        [] => {
            writeln!(err, "error: no pipeline has {what}")?;
            Err(CommandError::Usage)
        }
        many => {
            let files: Vec<&str> = many.iter().map(|p| p.file.as_str()).collect();
            writeln!(
                err,
                "error: several pipelines have {what}: {}; name the file",
                files.join(", ")
            )?;
            Err(CommandError::Usage)
        }
    }
}

/// The backends of `target` for `validated`'s pipeline; a target that cannot be used (not
/// declared, credentials or endpoints missing) is written to `err` and returned as the
/// outcome to exit with.
pub async fn connect(
    validated: &Validated,
    target: &str,
    err: &mut dyn Write,
) -> Result<Backends, CommandError> {
    match target::connect(&validated.pipeline, target).await {
        Ok(backends) => Ok(backends),
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Err(CommandError::Findings)
        }
    }
}
