//! `runner validate`: loads and checks pipeline files and prints every finding.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::pipelines::load_and_check;
use super::{CommandError, Outcome};
use crate::cli::{ValidateArgs, ValidateFormat};
use crate::diag::{Diagnostic, Severity};

/// The JSON report of `--format json`.
#[derive(Serialize)]
struct Report<'a> {
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
) -> Result<Outcome, CommandError> {
    let checked = load_and_check(&args.paths, args.target.as_deref(), err)?;
    let findings = &checked.findings;
    let docs = &checked.docs;
    let errors = findings
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    match args.format {
        ValidateFormat::Json => {
            let report = Report {
                files: docs.len(),
                errors,
                warnings,
                findings,
            };
            super::write_json(out, &report)?;
        }
        ValidateFormat::Human => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            checked.render(out, color)?;
            writeln!(out, "{}", summary(docs.len(), errors, warnings))?;
        }
        ValidateFormat::Github => {
            for finding in findings {
                writeln!(out, "{}", github_command(finding))?;
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

/// A finding as a GitHub Actions workflow command, which annotates the file and line in the
/// pull request: `::error file=F,line=L,col=C,endLine=…,endColumn=…,title=PATH::MESSAGE`.
fn github_command(finding: &Diagnostic) -> String {
    let level = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = finding.message.clone();
    if let Some(hint) = &finding.hint {
        message.push_str("\nhint: ");
        message.push_str(hint);
    }
    format!(
        "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
        github_property(&finding.file),
        finding.pos.line,
        finding.pos.column,
        finding.end.line.max(finding.pos.line),
        finding.end.column,
        github_property(&finding.path),
        github_data(&message),
    )
}

/// A workflow command's message, escaped as GitHub's runner reads it.
fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped as GitHub's runner reads it.
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_commands_escape_what_would_end_a_property_or_the_message() {
        assert_eq!(github_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(github_property("C:\\a,b.yaml"), "C%3A\\a%2Cb.yaml");
    }
}
