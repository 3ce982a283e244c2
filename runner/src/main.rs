//! The `runner` binary: parse the command line, dispatch, map the outcome to an exit code.
//! Everything it prints (stdout, stderr, logs, panics) goes through a redacting writer, so
//! values from the environment show as their `${VAR}` references (see `runner::redact`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use runner::cli::{Cli, Command};
use runner::commands::{self, CommandError, Outcome};
use runner::redact::Redacting;

/// Runs an async command on a single-threaded runtime.
fn block_on<F: std::future::Future<Output = Result<Outcome, CommandError>>>(
    future: F,
) -> Result<Outcome, CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn main() -> ExitCode {
    // Dropped last: waits for the Kafka clients still being torn down.
    let _teardown = runner::backend::kafka::clients::Teardown::start();
    let cli = Cli::parse();
    // Warnings show by default: each one may mean lost or repeated rows. RUST_LOG
    // chooses otherwise (`RUST_LOG=info`, `RUST_LOG=error`). librdkafka's own log lines
    // (target `librdkafka`, with the `debug` Kafka property for its debug contexts) show
    // only when RUST_LOG asks: its connection errors repeat what the runner reports.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => directives,
        _ => "warn,librdkafka=off".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::builder().parse_lossy(filter);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting::new(std::io::stderr()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    std::panic::set_hook(Box::new(report_panic));
    // Unlocked handles: a lock held for the whole run would block every other thread that
    // logs (blocking tasks, librdkafka callbacks) until the command ends.
    let mut out = Redacting::new(std::io::stdout());
    let mut err = Redacting::new(std::io::stderr());
    let result = match &cli.command {
        Command::Validate(args) => commands::validate::run(args, &mut out, &mut err),
        Command::Test(args) => commands::test::run(args, &mut out, &mut err),
        Command::Schema(args) => commands::schema::run(args, &mut out),
        Command::Plan(args) => block_on(commands::plan::run(args, &mut out, &mut err)),
        Command::Apply(args) => block_on(commands::apply::run(args, &mut out, &mut err)),
        Command::Run(args) => block_on(commands::run::run(args, &mut out, &mut err)),
        Command::Query(args) => block_on(commands::query::run(args, &mut out, &mut err)),
        Command::Check(args) => block_on(commands::check::run(args, &mut out, &mut err)),
        Command::Dashboard(args) => block_on(commands::dashboard::run(args, &mut out, &mut err)),
    };
    let result = result.and_then(|o| out.flush().map(|()| o).map_err(CommandError::from));
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(CommandError::Findings) => Outcome::Findings,
        Err(CommandError::Usage) => Outcome::Usage,
        Err(CommandError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Outcome::Success,
        Err(CommandError::Io(e)) => {
            let _ = writeln!(err, "error: {e}");
            Outcome::Usage
        }
    };
    let _ = err.flush();
    ExitCode::from(outcome.code())
}

/// Prints a panic as the default hook does, through the redacting writer (a panic message
/// may quote a value from the environment).
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    let mut err = Redacting::new(std::io::stderr());
    let _ = writeln!(err, "thread '{name}' {info}");
    let backtrace = std::backtrace::Backtrace::capture();
    let _ = match backtrace.status() {
        std::backtrace::BacktraceStatus::Captured => writeln!(err, "stack backtrace:\n{backtrace}"),
        _ => writeln!(
            err,
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
        ),
    };
}
