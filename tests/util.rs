//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (the workspace directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// Runs the `runner` binary in the project root with `args`, with no `RUNNER_TEST_*`
/// variables set, and returns its output.
pub fn runner(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("RUNNER_TEST_") {
            command.env_remove(name);
        }
    }
    command.output().expect("the runner binary runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command's whole output as one text for a snapshot (insta): its exit code, stdout and
/// stderr, with `scratch` (the test's temporary directory) shown as `[SCRATCH]` so the text
/// is the same on every machine and every run.
pub fn transcript(output: &Output, scratch: &Path) -> String {
    let text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or("signal".into(), |c| c.to_string()),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    text.replace(&scratch.display().to_string(), "[SCRATCH]")
}

/// The files under `dir` whose extension is `ext`, sorted; quarantine folders
/// (`_rejects`) are left out.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("_rejects") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == ext) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Answers each connection to `listener` on a thread of its own, with `handle` and the
/// server's `shared` state, for as long as the test runs (the test servers).
pub fn serve<S: Send + Sync + 'static>(
    listener: std::net::TcpListener,
    shared: &std::sync::Arc<S>,
    handle: fn(std::net::TcpStream, &S) -> std::io::Result<()>,
) {
    let shared = std::sync::Arc::clone(shared);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let shared = std::sync::Arc::clone(&shared);
            std::thread::spawn(move || {
                let _ = handle(stream, &shared);
            });
        }
    });
}

/// An HTTP request's head: its request line and its headers (names in lower case, values
/// trimmed).
pub type Head = (String, Vec<(String, String)>);

/// The head of the next HTTP request read from `reader`; `None` when the connection ended
/// first (the test servers).
pub fn read_head(reader: &mut impl std::io::BufRead) -> std::io::Result<Option<Head>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok(Some((request_line, headers)))
}
