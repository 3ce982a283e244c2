//! One module per subcommand; the only code that prints.

pub mod apply;
pub mod apply_view;
pub mod check;
pub mod dashboard;
pub mod pipelines;
pub mod plan;
pub mod query;
pub mod reference;
pub mod run;
pub mod run_view;
pub mod schema;
pub mod test;
pub mod validate;

/// How a command ended, as a process exit status CI can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything went fine (exit 0).
    Success,
    /// The command ran and found errors (exit 1).
    Findings,
    /// Usage or I/O error (exit 2).
    Usage,
    /// `plan --detailed-exitcode` found changes (exit 2).
    Changes,
    /// A run finished but could not keep its guarantee: rows may be lost or repeated, or
    /// left undelivered (exit 3); its summary says which.
    Incomplete,
}

/// How a command stopped short. Findings and usage errors are written to stderr where
/// they are found; the variant carries the exit status.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command found errors and reported them (exit 1).
    #[error("the command found errors")]
    Findings,
    /// A usage error, reported (exit 2).
    #[error("usage error")]
    Usage,
    /// Writing the output failed (exit 2, or 0 when the reader went away: a broken pipe).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<serde_json::Error> for CommandError {
    /// A JSON report that could not be written: its writer's error.
    fn from(e: serde_json::Error) -> Self {
        CommandError::Io(e.into())
    }
}

/// The version of every command report's JSON shape (`format_version`), raised when a key
/// is removed or changes meaning; new keys may appear without it.
pub const FORMAT_VERSION: u32 = 1;

/// A command's JSON report: `format_version` first, then the report's own keys.
#[derive(serde::Serialize)]
struct Versioned<'a, T> {
    /// [`FORMAT_VERSION`].
    format_version: u32,
    /// The report.
    #[serde(flatten)]
    report: &'a T,
}

/// Writes `report` to `out` as pretty JSON with its `format_version`, and a newline.
pub fn write_json<T: serde::Serialize>(
    out: &mut dyn std::io::Write,
    report: &T,
) -> Result<(), CommandError> {
    let versioned = Versioned {
        format_version: FORMAT_VERSION,
        report,
    };
    serde_json::to_writer_pretty(&mut *out, &versioned)?;
    writeln!(out)?;
    Ok(())
}

/// Prints `report` as JSON (with its `format_version`) or through its human view.
pub fn print<T: serde::Serialize>(
    out: &mut dyn std::io::Write,
    format: crate::cli::Format,
    report: &T,
    human: fn(&T) -> String,
) -> Result<(), CommandError> {
    match format {
        crate::cli::Format::Json => write_json(out, report)?,
        crate::cli::Format::Human => write!(out, "{}", human(report))?,
    }
    Ok(())
}

/// The closing line of a report of things that pass or fail: `14 tests: 13 passed, 1 failed.`
pub fn tally(things: &str, passed: usize, failed: usize) -> String {
    format!(
        "{} {things}: {passed} passed, {failed} failed.",
        passed + failed
    )
}

/// Exit 1 when anything failed, else 0.
pub fn failed_if(failed: usize) -> Outcome {
    if failed > 0 {
        Outcome::Findings
    } else {
        Outcome::Success
    }
}

impl Outcome {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Findings => 1,
            Outcome::Usage | Outcome::Changes => 2,
            Outcome::Incomplete => 3,
        }
    }
}
