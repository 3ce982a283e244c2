//! `runner query` with the embedded engine on the local target: answers checked against the
//! source CSV counted independently, Hive partition columns, the incremental (JSON lines)
//! table, the three output formats, and the failures a user meets.

use std::collections::HashMap;

use serde_json::Value;

use crate::plan::Scratch;
use crate::util::{root, stdout};

/// A scratch state with the Seattle history backfilled; the pipeline file's path.
pub fn backfilled(name: &str) -> (Scratch, String) {
    let s = Scratch::new(name);
    let p = s.pipeline("seattle.yaml", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = s.run(&["run", "backfill", &p]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    (s, p)
}

/// The answer of `runner query ARGS --format json`, which must succeed.
pub fn answer(s: &Scratch, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let output = s.run(&all);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout(&output)).expect("a JSON array")
}

/// Offenses per parent group counted straight from the CSV the backfill read.
fn groups_in_csv() -> HashMap<String, u64> {
    let path = root().join("data/spd_crime_data_2023_formatted.csv");
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let column = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "offense_parent_group")
        .expect("column");
    let mut counts = HashMap::new();
    for record in reader.records() {
        let group = record.expect("row")[column].trim().to_uppercase();
        *counts.entry(group).or_insert(0) += 1;
    }
    counts
}

#[test]
fn named_queries_answer_what_the_source_holds() {
    let (s, p) = backfilled("query-named");
    let total = answer(&s, &["total_offenses", &p]);
    assert_eq!(total, vec![serde_json::json!({ "offenses": 12_885 })]);

    let expected = groups_in_csv();
    let by_category = answer(&s, &["by_category", &p]);
    assert_eq!(by_category.len(), 15, "LIMIT 15");
    let mut previous = u64::MAX;
    for row in &by_category {
        let group = row["offense_parent_group"].as_str().expect("group");
        let n = row["n"].as_u64().expect("count");
        assert_eq!(Some(&n), expected.get(group), "{group}");
        assert!(n <= previous, "largest first");
        previous = n;
    }

    // Months come from instants in UTC; together they hold every row.
    let by_month = answer(&s, &["by_month", &p]);
    let months: Vec<&str> = by_month
        .iter()
        .map(|r| r["month"].as_str().unwrap())
        .collect();
    assert_eq!(
        months,
        [
            "2023-12-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
            "2024-03-01T00:00:00Z"
        ]
    );
    let sum: u64 = by_month.iter().map(|r| r["n"].as_u64().unwrap()).sum();
    assert_eq!(sum, 12_885);
}

#[test]
fn partition_columns_and_free_sql_work_and_output_formats_agree() {
    let (s, p) = backfilled("query-sql");
    // The Hive partition keys are columns, typed as the catalog says (int).
    let sql = "SELECT year, month, count(*) AS n FROM {{ table('offenses') }} \
               WHERE year = 2024 GROUP BY 1, 2 ORDER BY 2";
    let rows = answer(&s, &["--sql", sql, &p]);
    let months: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r["year"].as_i64().unwrap(), r["month"].as_i64().unwrap()))
        .collect();
    assert_eq!(months, [(2024, 1), (2024, 2), (2024, 3)]);

    let csv = s.run(&["query", "by_precinct", &p, "--format", "csv"]);
    assert_eq!(csv.status.code(), Some(0));
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("precinct,crime_against_category,n"));
    let json = answer(&s, &["by_precinct", &p]);
    assert_eq!(lines.count(), json.len());

    let table = s.run(&["query", "total_offenses", &p]);
    let text = stdout(&table);
    assert!(
        text.contains("| offenses |") && text.contains("| 12885    |"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("(1 row)"), "{text}");
}

#[test]
fn a_table_with_no_files_yet_is_empty_not_an_error() {
    let s = Scratch::new("query-empty");
    let p = s.pipeline("seattle.yaml", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let rows = answer(
        &s,
        &[
            "--sql",
            "SELECT count(*) AS n FROM {{ table('offenses_incremental') }}",
            &p,
        ],
    );
    assert_eq!(rows, vec![serde_json::json!({ "n": 0 })]);
    // A query reads; it leaves no folder behind.
    assert!(!s.state().join("s3/seattle-911/incremental_data").exists());
}

#[test]
fn query_failures_say_what_and_where() {
    let (s, p) = backfilled("query-bad");
    let unknown = s.run(&["query", "by_categry", &p]);
    assert_eq!(unknown.status.code(), Some(2));
    let text = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        text.contains("no pipeline has a query named 'by_categry'"),
        "{text}"
    );

    let bad_column = s.run(&[
        "query",
        "--sql",
        "SELECT nope FROM {{ table('offenses') }}",
        &p,
    ]);
    assert_eq!(bad_column.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad_column.stderr);
    assert!(
        text.contains("seattle.yaml") && text.contains("nope"),
        "{text}"
    );

    let bad_table = s.run(&["query", "--sql", "SELECT 1 FROM {{ table('offense') }}", &p]);
    assert_eq!(bad_table.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad_table.stderr);
    assert!(
        text.contains("table('offense') names no catalog table"),
        "{text}"
    );

    let no_athena = s.run(&["query", "total_offenses", &p, "--engine", "athena"]);
    assert_eq!(no_athena.status.code(), Some(1));
    let text = String::from_utf8_lossy(&no_athena.stderr);
    assert!(text.contains("has no Athena"), "{text}");

    let listed = s.run(&["query", &p]);
    assert_eq!(listed.status.code(), Some(0));
    assert!(
        stdout(&listed).contains("by_category"),
        "{}",
        stdout(&listed)
    );
}

#[test]
fn a_query_before_apply_says_to_apply() {
    let s = Scratch::new("query-unapplied");
    let p = s.pipeline("seattle.yaml", &[]);
    let output = s.run(&["query", "total_offenses", &p]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains(
            "catalog table seattle_911.offenses does not exist: run `runner apply` first"
        ),
        "{text}"
    );
}

#[test]
fn data_checks_pass_warn_and_fail_with_counts_and_examples() {
    let (s, p) = backfilled("data-checks");
    let output = s.run(&["check", &p, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let by_name: HashMap<&str, &Value> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["check"].as_str().unwrap_or(""), c))
        .collect();
    assert_eq!(by_name["unique(offense_id)"]["passed"], true);
    // 21 offenses of the history were reported before they started (counted in Python
    // from the source CSV, as tests/queries/expected.py cleans it): a warning, shown with
    // five of them.
    let early = by_name["reported before it started"];
    assert_eq!(
        (early["passed"].as_bool(), early["failing"].as_u64()),
        (Some(false), Some(21))
    );
    assert_eq!(early["examples"].as_array().map(Vec::len), Some(5));

    // A tighter rule fails the command: 10 located offenses lie south of 47.5.
    let tight = s.pipeline(
        "tight.yaml",
        &[(
            "range: { column: latitude, min: 47.4, max: 47.8 }",
            "range: { column: latitude, min: 47.5, max: 47.8 }",
        )],
    );
    let failed = s.run(&["check", &tight, "--table", "offenses"]);
    let text = stdout(&failed);
    assert_eq!(failed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("offenses: range(latitude) ... FAILED: 10 failing"),
        "{text}"
    );
    assert!(text.contains("6 checks: 5 passed, 1 failed."), "{text}");

    // A table that has no checks is a usage error that names it.
    let none = s.run(&["check", &p, "--table", "offences"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no catalog table 'offences' has checks"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}
