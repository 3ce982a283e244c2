//! One module per subcommand; the only code that prints.

pub mod apply;
pub mod dashboard;
pub mod pipelines;
pub mod plan;
pub mod query;
pub mod reference;
pub mod run;
pub mod run_view;
pub mod schema;
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
