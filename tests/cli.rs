//! The command line: exit codes, formats, the committed schema and the shipped pipelines.

use serde_json::Value;

use crate::util::{root, runner, stdout};

#[test]
fn the_committed_schema_is_what_runner_schema_prints() {
    let output = runner(&["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let committed = std::fs::read_to_string(root().join("schemas/pipeline.schema.json"))
        .expect("schemas/pipeline.schema.json is committed");
    assert!(
        stdout(&output) == committed,
        "schemas/pipeline.schema.json is stale: run `cargo run -- schema > schemas/pipeline.schema.json`"
    );
}

#[test]
fn the_committed_reference_is_what_runner_schema_markdown_prints() {
    let output = runner(&["schema", "--markdown"]);
    assert_eq!(output.status.code(), Some(0));
    let committed = std::fs::read_to_string(root().join("docs/reference.md"))
        .expect("docs/reference.md is committed");
    assert!(
        stdout(&output) == committed,
        "docs/reference.md is stale: run `cargo run -- schema --markdown > docs/reference.md`"
    );
    assert!(committed.contains("| `partitions` | integer | yes |"));
}

#[test]
fn shipped_pipelines_validate_clean_by_default() {
    let output = runner(&["validate", "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["warnings"], 0, "{report:#}");
    assert!(report["files"].as_u64().is_some_and(|n| n >= 1));
}

#[test]
fn every_pipeline_file_names_the_schema_for_editors() {
    let dir = root().join("pipelines");
    for entry in std::fs::read_dir(dir).expect("pipelines/ exists") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/pipeline.schema.json\n"),
            "{} does not start with the yaml-language-server line",
            path.display()
        );
    }
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let output = runner(&["validate", "no/such/pipeline.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no/such/pipeline.yaml"), "{err}");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let output = runner(&["validate", "--colour"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn validate_shows_each_finding_with_its_source_line_for_people_and_github() {
    let files = [
        "tests/corpus/invalid/unknown_topic_key.yaml",
        "tests/corpus/invalid/bad_bucket_name.yaml",
    ];
    let human = runner(&[&["validate"], &files[..]].concat());
    insta::assert_snapshot!("validate_human", crate::util::transcript(&human, &root()));
    let github = runner(&[&["validate"], &files[..], &["--format", "github"]].concat());
    insta::assert_snapshot!("validate_github", crate::util::transcript(&github, &root()));
}

#[test]
fn findings_across_files_are_sorted_by_file_and_position() {
    let output = runner(&[
        "validate",
        "tests/corpus/invalid/unknown_topic_key.yaml",
        "tests/corpus/invalid/bad_bucket_name.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    let keys: Vec<(String, u64, u64)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or_default().to_owned(),
                f["line"].as_u64().unwrap_or_default(),
                f["column"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 3, "{report:#}");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    for finding in report["findings"].as_array().expect("findings") {
        for field in ["file", "line", "column", "path", "severity", "message"] {
            assert!(!finding[field].is_null(), "{field} missing in {finding}");
        }
    }
}

#[test]
fn a_target_s_variables_are_required_only_when_it_is_named() {
    let pipeline = "pipelines/seattle_911_crime.yaml";
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
    command
        .args(["validate", pipeline, "--target", "aws", "--format", "json"])
        .current_dir(root())
        .env_remove("KAFKA_BOOTSTRAP_SERVERS");
    let output = command.output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("KAFKA_BOOTSTRAP_SERVERS is required"),
        "{text}"
    );

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["validate", pipeline, "--target", "aws"])
        .current_dir(root())
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn two_files_may_not_declare_one_pipeline() {
    let dir = std::env::temp_dir().join(format!("runner-dup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let minimal =
        std::fs::read_to_string(root().join("tests/fixtures/minimal.yaml")).expect("fixture");
    std::fs::write(dir.join("a.yaml"), &minimal).expect("write");
    std::fs::write(dir.join("b.yaml"), &minimal).expect("write");
    let dir_arg = dir.to_str().expect("UTF-8 temp path");
    let output = runner(&["validate", dir_arg, "--format", "json"]);
    let text = stdout(&output);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("pipeline 'demo' is also declared in"),
        "{text}"
    );
}

#[test]
fn help_teaches_the_exit_codes() {
    let output = runner(&["validate", "--help"]);
    let text = stdout(&output);
    assert!(text.contains("Exit status: 0 valid"), "{text}");
    assert!(text.contains("--format"), "{text}");
    let run = stdout(&runner(&["run", "--help"]));
    assert!(
        run.contains("3 deliver finished but could not keep its guarantee"),
        "{run}"
    );
}

#[test]
fn a_secret_s_value_never_appears_in_findings() {
    let dir = std::env::temp_dir().join(format!("runner-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let minimal = std::fs::read_to_string(root().join("tests/fixtures/minimal.yaml"))
        .expect("fixture")
        .replace(
            "    watermark: at\n",
            "    watermark: at\n    app_token: ${RUNNER_SECRET_TOKEN}\n    page_size: ${RUNNER_SECRET_TOKEN}\n",
        );
    let file = dir.join("secret.yaml");
    std::fs::write(&file, minimal).expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args([
            "validate",
            file.to_str().expect("UTF-8"),
            "--format",
            "json",
        ])
        .env("RUNNER_SECRET_TOKEN", "987654321")
        .output()
        .expect("runs");
    std::fs::remove_dir_all(&dir).ok();
    let text = stdout(&output);
    // The token is a valid secret; the same value in a non-secret number field is an error
    // about that field, and the token text may show there only because it is not a secret.
    assert_eq!(output.status.code(), Some(1), "{text}");
    let report: Value = serde_json::from_str(&text).expect("JSON");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{report:#}");
    assert!(
        findings[0]["path"] == "sources.live.page_size",
        "{report:#}"
    );
}

#[test]
fn validate_annotates_each_finding_for_github_actions() {
    let file = "tests/corpus/invalid/bad_duration.yaml";
    let json = runner(&["validate", file, "--format", "json"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "the corpus file has findings");

    let github = runner(&["validate", file, "--format", "github"]);
    assert_eq!(
        github.status.code(),
        Some(1),
        "errors exit 1 in every format"
    );
    let text = stdout(&github);
    let commands: Vec<&str> = text.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(commands.len(), findings.len(), "{text}");
    for (command, finding) in commands.iter().zip(findings) {
        let start = format!(
            "::{} file={},line={},col={},",
            finding["severity"].as_str().expect("severity"),
            finding["file"].as_str().expect("file"),
            finding["line"],
            finding["column"]
        );
        assert!(
            command.starts_with(&start),
            "{command} should start {start}"
        );
        let message = finding["message"].as_str().expect("message");
        assert!(
            command.contains(&format!(
                "::{}",
                message.replace('%', "%25").lines().next().unwrap_or("")
            )),
            "{command} should carry the message {message}"
        );
    }
    assert!(text.trim_end().ends_with('.'), "the summary closes: {text}");
}

#[test]
fn runner_test_passes_the_shipped_rule_tests() {
    let output = runner(&["test", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["failed"], 0, "{report:#}");
    let pipelines: Vec<&str> = report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| t["pipeline"].as_str().unwrap_or(""))
        .collect();
    for pipeline in ["seattle-911-crime", "seattle-fire-911"] {
        assert!(
            pipelines.iter().filter(|p| **p == pipeline).count() >= 4,
            "{pipeline} carries its tests: {report:#}"
        );
    }
}

#[test]
fn a_rule_test_that_fails_shows_each_difference_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("runner-rule-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(root().join("pipelines/seattle_911_crime.yaml"))
        .expect("pipeline")
        // The rule under test changes: precinct codes are no longer upper-cased.
        .replacen(
            "precinct: { type: string, case: upper, null_if: [UNKNOWN, OOJ, \"-\"] }",
            "precinct: { type: string, null_if: [UNKNOWN, OOJ, \"-\"] }",
            1,
        )
        // And a test expects a rejection the rules do not make.
        .replacen(
            "rejected: { field: report_number, reason: does not match }",
            "rejected: { field: offense_id }",
            1,
        );
    let file = dir.join("seattle.yaml");
    std::fs::write(&file, text).expect("write");
    let output = runner(&["test", file.to_str().expect("UTF-8")]);
    std::fs::remove_dir_all(&dir).ok();
    insta::assert_snapshot!(
        "rule_test_failures",
        crate::util::transcript(&output, &dir)
            .lines()
            .filter(|l| !l.ends_with(" ... ok"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
