//! `runner query` on the `aws` target against moto: the embedded engine reading the Parquet
//! the backfill wrote to S3, and Athena (moto runs no SQL, so the test presets the results
//! Athena returns) with polling, typed columns, and Ctrl-C cancelling the query.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::remote::{Remote, text};
use crate::util::{root, stdout};

/// Posts `body` to moto's own API at `path`.
fn moto(aws: &str, path: &str, body: Value) {
    let response = ureq::post(&format!("{aws}{path}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("moto {path}: {e}"));
    assert!(
        response.status().is_success(),
        "moto {path}: {}",
        response.status()
    );
}

/// Makes Athena executions advance one state every `times` GetQueryExecution calls.
fn athena_advances_every(aws: &str, times: u32) {
    moto(
        aws,
        "/moto-api/state-manager/set-transition",
        json!({ "model_name": "athena::execution",
                "transition": { "progression": "manual", "times": times } }),
    );
}

#[test]
fn queries_run_on_s3_with_the_embedded_engine_and_on_athena() {
    let Some(r) = Remote::new("athena") else {
        return;
    };
    let p = r.pipeline.as_str();
    let csv = root().join("data/spd_crime_data_2023_formatted.csv");
    let changed = std::fs::read_to_string(p).expect("pipeline").replace(
        "path: ${SPD_HISTORY_CSV:-data/spd_crime_data_2023_formatted.csv}",
        &format!("path: {}", csv.display()),
    );
    std::fs::write(p, changed).expect("write");
    let results = format!("s3://{}/athena-results/", r.bucket);
    let run = |args: &[&str]| r.run_env(args, &r.aws, &[("ATHENA_OUTPUT_LOCATION", &results)]);
    assert_eq!(run(&["apply", p, "--target", "aws"]).status.code(), Some(0));
    let backfill = run(&["run", "backfill", p, "--target", "aws"]);
    assert_eq!(backfill.status.code(), Some(0), "{}", text(&backfill));

    // The embedded engine reads the very objects on S3, with the catalog's partitions.
    let embedded = run(&[
        "query",
        "--sql",
        "SELECT year, count(*) AS n FROM {{ table('offenses') }} GROUP BY 1 ORDER BY 1",
        p,
        "--target",
        "aws",
        "--engine",
        "embedded",
        "--format",
        "json",
    ]);
    assert_eq!(embedded.status.code(), Some(0), "{}", text(&embedded));
    let years: Value = serde_json::from_str(&stdout(&embedded)).expect("JSON");
    assert_eq!(
        years,
        json!([{ "year": 2023, "n": 73 }, { "year": 2024, "n": 12_812 }])
    );

    // Athena: the answer as Athena pages it (a header row first), typed by column info.
    let column = |name: &str, kind: &str| json!({ "Name": name, "Label": name, "Type": kind });
    let cell = |v: &str| json!({ "VarCharValue": v });
    moto(
        &r.aws,
        "/moto-api/static/athena/query-results",
        json!({ "region": "us-west-2", "results": [{
            "column_info": [column("offense_parent_group", "varchar"), column("n", "bigint")],
            "rows": [
                { "Data": [cell("offense_parent_group"), cell("n")] },
                { "Data": [cell("LARCENY-THEFT"), cell("4044")] },
                { "Data": [cell("ASSAULT OFFENSES"), cell("1908")] },
                { "Data": [{}, cell("7")] }
            ]
        }]}),
    );
    athena_advances_every(&r.aws, 2);
    let athena = run(&[
        "query",
        "by_category",
        p,
        "--target",
        "aws",
        "--format",
        "json",
    ]);
    assert_eq!(athena.status.code(), Some(0), "{}", text(&athena));
    let rows: Value = serde_json::from_str(&stdout(&athena)).expect("JSON");
    assert_eq!(
        rows,
        json!([
            { "offense_parent_group": "LARCENY-THEFT", "n": 4044 },
            { "offense_parent_group": "ASSAULT OFFENSES", "n": 1908 },
            { "offense_parent_group": null, "n": 7 }
        ])
    );

    // A query that never finishes is cancelled on Athena by Ctrl-C.
    athena_advances_every(&r.aws, 100_000);
    let child = r
        .command(
            &["query", "total_offenses", p, "--target", "aws"],
            &r.aws,
            &[("ATHENA_OUTPUT_LOCATION", &results)],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runner starts");
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on the child's pid, which has not been waited for yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let cancelled = child.wait_with_output().expect("runner ends");
    moto(
        &r.aws,
        "/moto-api/state-manager/unset-transition",
        json!({ "model_name": "athena::execution" }),
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped promptly"
    );
    assert_eq!(cancelled.status.code(), Some(1), "{}", text(&cancelled));
    let message = String::from_utf8_lossy(&cancelled.stderr);
    assert!(
        message.contains("seattle.yaml") && message.contains("cancelled on request"),
        "{message}"
    );
}
