//! The invalid-file corpus: every file in tests/corpus/invalid/ states, in `# expect:` lines,
//! each error `runner validate` must report (`LINE:COLUMN: message`). The test checks each
//! one is reported at that position with that message, that no other error is, and that
//! the exit code is 1.

use std::path::PathBuf;

use serde_json::Value;

use crate::util::{root, runner, stdout};

/// One expected finding.
#[derive(Debug)]
struct Expected {
    line: u64,
    column: u64,
    message: String,
}

fn expectations(bytes: &[u8]) -> Vec<Expected> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let mut parts = rest.splitn(3, ':');
            let line = parts.next().and_then(|p| p.trim().parse().ok());
            let column = parts.next().and_then(|p| p.trim().parse().ok());
            let message = parts.next().map(|m| m.trim().to_owned());
            match (line, column, message) {
                (Some(line), Some(column), Some(message)) => Expected {
                    line,
                    column,
                    message,
                },
                _ => panic!("malformed expectation: {rest}"),
            }
        })
        .collect()
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = root().join("tests/corpus/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the corpus directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_corpus_is_big_enough() {
    let files = corpus_files();
    assert!(files.len() >= 30, "only {} corpus files", files.len());
    for file in &files {
        let bytes = std::fs::read(file).expect("readable");
        assert!(
            !expectations(&bytes).is_empty(),
            "{} states no `# expect:` line",
            file.display()
        );
    }
}

#[test]
fn every_corpus_file_reports_its_errors_at_the_right_place() {
    let mut failures = Vec::new();
    for file in corpus_files() {
        let relative = file.strip_prefix(root()).expect("inside the project");
        let relative = relative.to_str().expect("UTF-8 path");
        let expected = expectations(&std::fs::read(&file).expect("readable"));
        let output = runner(&["validate", relative, "--format", "json"]);
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{relative}: exit {:?}, expected 1",
                output.status.code()
            ));
        }
        let report: Value = match serde_json::from_str(&stdout(&output)) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{relative}: output is not JSON ({e})"));
                continue;
            }
        };
        let errors: Vec<&Value> = report["findings"]
            .as_array()
            .expect("findings array")
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        for want in &expected {
            let found = errors.iter().any(|f| {
                f["line"] == want.line
                    && f["column"] == want.column
                    && f["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&want.message))
                    && f["file"] == relative
            });
            if !found {
                failures.push(format!(
                    "{relative}: expected {}:{}: {} — got {}",
                    want.line,
                    want.column,
                    want.message,
                    serde_json::to_string(&errors).unwrap_or_default()
                ));
            }
        }
        if errors.len() != expected.len() {
            failures.push(format!(
                "{relative}: {} errors reported, {} expected",
                errors.len(),
                expected.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn human_output_shows_location_source_line_caret_path_and_hint() {
    let output = runner(&["validate", "tests/corpus/invalid/unknown_topic_key.yaml"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(text.contains("error: unknown key 'partitons'"), "{text}");
    assert!(
        text.contains("tests/corpus/invalid/unknown_topic_key.yaml:20:12"),
        "{text}"
    );
    assert!(
        text.contains("calls: { partitons: 3, replication_factor: 1 }"),
        "{text}"
    );
    assert!(text.contains("^^^^^^^^^"), "{text}");
    assert!(text.contains("in topics.calls"), "{text}");
    assert!(text.contains("did you mean 'partitions'?"), "{text}");
    assert!(text.contains("1 file: 2 errors, 0 warnings."), "{text}");
}
