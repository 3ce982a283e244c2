//! Values from the environment never reach the output unless their field is public: validate
//! diagnostics, plans (human and JSON) and run errors print the `${VAR}` reference instead.

use std::process::Output;

use serde_json::Value;

use crate::plan::Scratch;
use crate::util::stdout;

/// AWS's documented example secret key, three times: longer than a plan line shows.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Both streams as text.
fn both(output: &Output) -> String {
    format!(
        "{}{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that `value` was printed neither on stdout nor on stderr.
fn assert_absent(output: &Output, value: &str) {
    let text = both(output);
    assert!(!text.contains(value), "{value:?} was printed:\n{text}");
}

/// runner with `args` and the environment `vars`, logging at debug level.
fn run(s: &Scratch, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = s.command(args);
    command.env("RUST_LOG", "debug");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("runner runs")
}

#[test]
fn validate_does_not_quote_an_environment_value_in_a_type_error() {
    let s = Scratch::new("redact-validate");
    let p = s.pipeline(
        "seattle.yaml",
        &[("partitions: 3", "partitions: ${REDACT_PARTITIONS}")],
    );
    let value = "hunter2-but-longer-e5a1";
    let vars = [("REDACT_PARTITIONS", value)];

    let human = run(&s, &["validate", &p], &vars);
    assert_eq!(human.status.code(), Some(1), "{}", both(&human));
    assert!(
        stdout(&human).contains("found text '${REDACT_PARTITIONS}'"),
        "{}",
        both(&human)
    );
    assert_absent(&human, value);

    let json = run(&s, &["validate", &p, "--format", "json"], &vars);
    let report: Value = serde_json::from_str(&stdout(&json)).expect("JSON report");
    assert_eq!(report["errors"], 1, "{report:#}");
    assert_absent(&json, value);
}

#[test]
fn plan_shows_references_for_environment_values_and_values_of_public_fields() {
    let s = Scratch::new("redact-plan");
    let p = s.pipeline(
        "seattle.yaml",
        &[
            (
                "description: SPD crime reports, historical CSV plus the live Socrata feed, into S3 and Glue.",
                "description: ${REDACT_DESCRIPTION}",
            ),
            (
                "retention.ms: \"604800000\"",
                "retention.ms: \"${REDACT_RETENTION}\"",
            ),
            ("bucket: seattle-911", "bucket: ${REDACT_BUCKET}"),
        ],
    );
    let vars = [
        ("REDACT_DESCRIPTION", SECRET),
        ("REDACT_RETENTION", "604800123"),
        ("REDACT_BUCKET", "seattle-911-shown"),
    ];

    let human = run(&s, &["plan", &p], &vars);
    let out = both(&human);
    assert_eq!(human.status.code(), Some(0), "{out}");
    assert!(
        out.contains("description = \"${REDACT_DESCRIPTION}\""),
        "{out}"
    );
    assert!(
        out.contains("\"retention.ms\":\"${REDACT_RETENTION}\""),
        "{out}"
    );
    // The bucket is public: a reviewer sees which bucket the plan makes.
    assert!(out.contains("+ s3_bucket.seattle-911-shown"), "{out}");
    // Not even the part of it a long value is cut to.
    assert_absent(&human, &SECRET[..40]);
    assert_absent(&human, "604800123");

    let json = run(&s, &["plan", &p, "--format", "json"], &vars);
    assert_eq!(json.status.code(), Some(0), "{}", both(&json));
    let file: Value = serde_json::from_str(&stdout(&json)).expect("JSON plan");
    let changes = file["plans"][0]["changes"].as_array().expect("changes");
    let database = changes
        .iter()
        .find(|c| c["address"]["kind"] == "glue_database")
        .expect("the database");
    assert_eq!(database["after"]["description"], "${REDACT_DESCRIPTION}");
    assert!(
        changes
            .iter()
            .any(|c| c["address"]["name"] == "seattle-911-shown"),
        "{file:#}"
    );
    assert_absent(&json, &SECRET[..40]);
    assert_absent(&json, "604800123");
}

#[test]
fn a_run_error_quoting_an_environment_path_or_url_shows_the_reference() {
    let s = Scratch::new("redact-run");
    let p = s.pipeline(
        "seattle.yaml",
        &[(
            "path: ${SPD_HISTORY_CSV:-data/spd_crime_data_2023_formatted.csv}",
            "path: ${REDACT_INPUT}",
        )],
    );
    let missing = s.dir.join("secret-folder-4f1c/missing.csv");
    let applied = s.run(&["apply", &p]);
    assert_eq!(applied.status.code(), Some(0), "{}", both(&applied));
    for input in [
        missing.to_str().expect("UTF-8"),
        "http://127.0.0.1:1/secret-folder-4f1c/rows.csv",
    ] {
        let output = run(&s, &["run", "backfill", &p], &[("REDACT_INPUT", input)]);
        let text = both(&output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(text.contains("${REDACT_INPUT}"), "{text}");
        assert_absent(&output, input);
    }
}
