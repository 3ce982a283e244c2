//! The Athena query corpus (tests/queries/): 47 queries written as an Athena user writes them
//! (CTEs, window functions, CAST and TRY_CAST, CASE, interval arithmetic, subqueries, and
//! Trino's date, string, regex, array and aggregate functions) run on the embedded engine over
//! the backfilled Seattle history, each answer compared with the one
//! tests/queries/expected.py computes in plain Python from the source CSV.

use std::path::PathBuf;

use crate::query::backfilled;
use crate::util::{root, stdout};

/// Every query of the corpus, sorted: its name and its SQL.
fn corpus() -> Vec<(String, String)> {
    let dir = root().join("tests/queries");
    let mut queries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/queries exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    queries.sort();
    queries
        .iter()
        .map(|p| {
            let name = p.file_stem().and_then(|s| s.to_str()).expect("name");
            (
                name.to_owned(),
                std::fs::read_to_string(p).expect("readable"),
            )
        })
        .collect()
}

#[test]
fn the_expected_answers_are_the_independent_computations() {
    let check = std::process::Command::new("python3")
        .arg(root().join("tests/queries/expected.py"))
        .arg("--check")
        .output()
        .expect("python3 runs (a prerequisite in the README)");
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn every_athena_query_answers_on_the_embedded_engine_as_computed_from_the_csv() {
    let queries = corpus();
    assert!(queries.len() >= 40, "only {} queries", queries.len());
    let (s, p) = backfilled("athena-sql");
    let mut wrong = Vec::new();
    for (name, sql) in &queries {
        let expected = std::fs::read_to_string(root().join(format!("tests/queries/{name}.csv")))
            .expect("each query has its answer");
        let output = s.run(&["query", &p, "--sql", sql, "--format", "csv"]);
        let got = format!(
            "{}{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() || got != expected {
            wrong.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        queries.len(),
        wrong.join("\n")
    );
}
