//! `runner plan` / `runner apply` on the embedded local target: create, idempotence, drift,
//! saved plans, the destructive guard, impossible changes, prune and partial failure.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{root, stdout, transcript};

/// A scratch state directory and pipeline files, removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("runner-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Writes the Seattle pipeline with `edits` applied, returns its path.
    pub fn pipeline(&self, file: &str, edits: &[(&str, &str)]) -> String {
        let mut text = std::fs::read_to_string(root().join("pipelines/seattle_911_crime.yaml"))
            .expect("pipeline");
        for (from, to) in edits {
            assert!(
                text.contains(from),
                "edit target {from:?} not in the pipeline"
            );
            text = text.replacen(from, to, 1);
        }
        let path = self.dir.join(file);
        std::fs::write(&path, text).expect("write pipeline");
        path.to_str().expect("UTF-8").to_owned()
    }

    /// Writes the Seattle pipeline with its `history` source reading `input` (a path, glob
    /// or URL) and `edits` applied, returns its path.
    pub fn pipeline_reading(&self, file: &str, input: &str, edits: &[(&str, &str)]) -> String {
        let source = format!("path: {input}");
        let mut all = vec![(
            "path: ${SPD_HISTORY_CSV:-data/spd_crime_data_2023_formatted.csv}",
            source.as_str(),
        )];
        all.extend_from_slice(edits);
        self.pipeline(file, &all)
    }

    /// runner with `args` on this scratch state directory, from the project's root.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
        command
            .args(args)
            .current_dir(root())
            .env("RUNNER_STATE_DIR", self.state())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs runner with this scratch state directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("runner runs")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value =
        serde_json::from_slice(&std::fs::read(path).expect("state file")).expect("JSON");
    edit(&mut value);
    std::fs::write(path, serde_json::to_vec_pretty(&value).expect("JSON")).expect("write");
}

#[test]
fn plan_apply_then_no_changes_on_the_seattle_pipeline() {
    let s = Scratch::new("plan-apply");
    let p = s.pipeline("seattle.yaml", &[]);

    let first = s.run(&["plan", &p, "--detailed-exitcode"]);
    insta::assert_snapshot!("plan_creates", transcript(&first, &s.dir));

    let applied = s.run(&["apply", &p]);
    insta::assert_snapshot!("apply_creates", transcript(&applied, &s.dir));

    let second = s.run(&["plan", &p, "--detailed-exitcode"]);
    insta::assert_snapshot!("plan_no_changes", transcript(&second, &s.dir));
    let again = s.run(&["apply", &p]);
    insta::assert_snapshot!("apply_no_changes", transcript(&again, &s.dir));

    // What apply made is what the spec says: read the catalog back.
    let table: Value = serde_json::from_slice(
        &std::fs::read(s.state().join("glue/seattle_911/offenses.json")).expect("table file"),
    )
    .expect("JSON");
    assert_eq!(table["location"], "s3://seattle-911/historical/");
    assert_eq!(table["parameters"]["projection.month.range"], "1,12");
    assert_eq!(table["parameters"]["managed-by"], "runner");
    let topic: Value = serde_json::from_slice(
        &std::fs::read(s.state().join("kafka/seattle_911_crime/_topic.json")).expect("topic file"),
    )
    .expect("JSON");
    assert_eq!(topic["partitions"], 3);
    assert_eq!(topic["config"]["retention.ms"], "604800000");
}

#[test]
fn drift_behind_runner_s_back_shows_in_the_next_plan_and_apply_repairs_it() {
    let s = Scratch::new("drift");
    let p = s.pipeline("seattle.yaml", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));

    edit_json(
        &s.state().join("kafka/seattle_911_crime/_topic.json"),
        |t| {
            t["config"]["retention.ms"] = "1000".into();
            t["config"]["segment.bytes"] = "1024".into();
        },
    );
    edit_json(&s.state().join("glue/seattle_911/offenses.json"), |t| {
        t["columns"][1]["type"] = "string".into();
        t["parameters"]["added_by_aws"] = "yes".into();
    });
    let plan = s.run(&["plan", &p, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    let file: Value = serde_json::from_str(&stdout(&plan)).expect("JSON plan");
    assert_eq!(file["format_version"], 1);
    let changes = file["plans"][0]["changes"].as_array().expect("changes");
    let changed: Vec<(&str, &str)> = changes
        .iter()
        .filter(|c| c["action"] != "no_op")
        .flat_map(|c| {
            c["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| {
                    (
                        c["address"]["name"].as_str().unwrap_or(""),
                        a["name"].as_str().unwrap_or(""),
                    )
                })
        })
        .collect();
    // Only what the pipeline sets shows; segment.bytes and the extra parameter do not.
    assert_eq!(
        changed,
        [
            ("seattle_911.offenses", "columns.offense_id"),
            ("seattle_911_crime", "config.retention.ms")
        ]
    );

    let refused = s.run(&["apply", &p]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains(
            "destructive changes need --allow-destructive: glue_table.seattle_911.offenses"
        )
    );

    let fixed = s.run(&["apply", &p, "--allow-destructive"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed));
    let after = s.run(&["plan", &p, "--detailed-exitcode"]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    // The parameter AWS added is kept by the update.
    let table: Value = serde_json::from_slice(
        &std::fs::read(s.state().join("glue/seattle_911/offenses.json")).expect("table"),
    )
    .expect("JSON");
    assert_eq!(table["parameters"]["added_by_aws"], "yes");
}

#[test]
fn a_saved_plan_is_refused_when_the_state_changed() {
    let s = Scratch::new("stale");
    let p = s.pipeline("seattle.yaml", &[]);
    let plan_file = s.dir.join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8");
    let planned = s.run(&["plan", &p, "--out", plan_path]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));

    // Someone creates the topic in between.
    let other = s.pipeline("other.yaml", &[]);
    assert_eq!(s.run(&["apply", &other]).status.code(), Some(0));

    let stale = s.run(&["apply", plan_path, &p]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(
        text(&stale).contains("changed since the plan was made"),
        "{}",
        text(&stale)
    );

    // A fresh saved plan applies, and a plan file that is not a plan is a usage error.
    let fresh = s.run(&["plan", &p, "--out", plan_path]);
    assert_eq!(fresh.status.code(), Some(0));
    let applied = s.run(&["apply", plan_path, &p]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    std::fs::write(&plan_file, "{}").expect("write");
    let bad = s.run(&["apply", plan_path, &p]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("not a runner plan"), "{}", text(&bad));
}

#[test]
fn fewer_partitions_is_an_error_and_more_partitions_grow_the_local_log() {
    // The test broker (tansu 0.6) answers CreatePartitions with "unsupported", so the
    // partition-increase path is tested here, on the local log.
    let s = Scratch::new("partitions");
    let p = s.pipeline("seattle.yaml", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));

    let fewer = s.pipeline("fewer.yaml", &[("    partitions: 3", "    partitions: 2")]);
    let plan = s.run(&["plan", &fewer]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(
        text(&plan).contains("Kafka cannot remove partitions (3 -> 2)"),
        "{}",
        text(&plan)
    );
    let apply = s.run(&["apply", &fewer, "--allow-destructive"]);
    assert_eq!(apply.status.code(), Some(1));
    assert!(text(&apply).contains("cannot be made"), "{}", text(&apply));

    let more = s.pipeline("more.yaml", &[("    partitions: 3", "    partitions: 6")]);
    let plan = s.run(&["plan", &more]);
    assert!(
        text(&plan).contains("~ partitions: 3 -> 6  (disruptive"),
        "{}",
        text(&plan)
    );
    assert_eq!(s.run(&["apply", &more]).status.code(), Some(0));
    let topic: Value = serde_json::from_slice(
        &std::fs::read(s.state().join("kafka/seattle_911_crime/_topic.json")).expect("topic"),
    )
    .expect("JSON");
    assert_eq!(topic["partitions"], 6);
}

#[test]
fn prune_deletes_only_marked_leftovers_and_only_when_asked() {
    let s = Scratch::new("prune");
    let p = s.pipeline("seattle.yaml", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    // A table someone else made in the same database carries no marker.
    std::fs::write(
        s.state().join("glue/seattle_911/theirs.json"),
        r#"{"parameters": {}}"#,
    )
    .expect("write");

    // The table leaves the pipeline, and its two queries read the other table instead (by
    // day of its own timestamp: validate plans the SQL, and `report_date` is a partition
    // key of the incremental table only).
    let reads_it = "table('offenses_incremental')";
    let without = s.pipeline(
        "without.yaml",
        &[
            (
                "    offenses_incremental:\n      dataset: offenses\n      layout: incremental\n      description: SPD crime reports delivered from the live feed through Kafka.\n      checks:\n        - unique: [offense_id]\n        - name: the live feed is flowing\n          severity: warn\n          freshness: { column: report_datetime, within: 2d }\n",
                "",
            ),
            (reads_it, "table('offenses')"),
            (reads_it, "table('offenses')"),
            (
                "SELECT report_date, count(*) AS n",
                "SELECT CAST(report_datetime AS DATE) AS report_date, count(*) AS n",
            ),
        ],
    );
    let plan = s.run(&["plan", &without, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        text(&plan).contains(
            "kept (apply --prune deletes them): glue_table.seattle_911.offenses_incremental"
        ),
        "{}",
        text(&plan)
    );

    let pruned_plan = s.run(&["plan", &without, "--prune"]);
    assert!(
        text(&pruned_plan).contains("- glue_table.seattle_911.offenses_incremental"),
        "{}",
        text(&pruned_plan)
    );
    assert!(!text(&pruned_plan).contains("theirs"));
    let refused = s.run(&["apply", &without, "--prune"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let pruned = s.run(&["apply", &without, "--prune", "--allow-destructive"]);
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned));
    assert!(
        !s.state()
            .join("glue/seattle_911/offenses_incremental.json")
            .exists()
    );
    assert!(s.state().join("glue/seattle_911/theirs.json").exists());
}

#[test]
fn a_failure_part_way_reports_what_was_applied_and_a_rerun_converges() {
    let s = Scratch::new("partial");
    let p = s.pipeline("seattle.yaml", &[]);
    // A file where the log's directory should be makes the topic step fail.
    std::fs::create_dir_all(s.state()).expect("state");
    std::fs::write(s.state().join("kafka"), "in the way").expect("write");
    let failed = s.run(&["apply", &p]);
    insta::assert_snapshot!("apply_fails_part_way", transcript(&failed, &s.dir));
    let json = s.run(&["apply", &p, "--format", "json"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    let result = &report["results"][0];
    assert_eq!(
        result["failed"]["address"],
        serde_json::json!({"kind": "kafka_topic", "name": "seattle_911_crime"})
    );
    assert_eq!(result["applied"], serde_json::json!([]), "{report:#}");
    assert_eq!(
        result["not_attempted"],
        serde_json::json!([]),
        "the topic was the last change: {report:#}"
    );

    std::fs::remove_file(s.state().join("kafka")).expect("remove");
    let plan = s.run(&["plan", &p]);
    assert!(
        text(&plan).contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{}",
        text(&plan)
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    assert_eq!(
        s.run(&["plan", &p, "--detailed-exitcode"]).status.code(),
        Some(0)
    );
}

#[test]
fn an_unknown_target_is_named_with_the_known_ones() {
    let s = Scratch::new("unknown-target");
    let p = s.pipeline("seattle.yaml", &[]);
    let out = s.run(&["plan", &p, "--target", "prod"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("has no target 'prod'; targets: local, aws"),
        "{}",
        text(&out)
    );
}

#[test]
fn validate_warns_when_a_projected_partition_key_may_be_null() {
    let s = Scratch::new("projected-nulls");
    // report_datetime, which the historical table's projected year and month come from,
    // becomes optional.
    let p = s.pipeline(
        "seattle.yaml",
        &[(
            "        timezone: America/Los_Angeles\n        required: true\n",
            "        timezone: America/Los_Angeles\n",
        )],
    );
    let output = s.run(&["validate", &p, "--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a warning: {}",
        text(&output)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let warnings: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        warnings,
        [
            (
                "catalog.tables.offenses.projection",
                "rows with no report_datetime are written to month=__HIVE_DEFAULT_PARTITION__, which the projection does not enumerate: Athena does not read them"
            ),
            (
                "catalog.tables.offenses.projection",
                "rows with no report_datetime are written to year=__HIVE_DEFAULT_PARTITION__, which the projection does not enumerate: Athena does not read them"
            ),
        ]
    );
}

#[test]
fn validate_warns_when_a_projected_partition_is_injected() {
    let s = Scratch::new("projected-injected");
    // The historical layout also splits by precinct, a text without `allowed` values.
    let p = s.pipeline(
        "seattle.yaml",
        &[(
            "        - \"month={{ report_datetime.month }}\"\n",
            "        - \"month={{ report_datetime.month }}\"\n        - \"area={{ precinct }}\"\n",
        )],
    );
    let output = s.run(&["validate", &p, "--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "warnings only: {}",
        text(&output)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let messages: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["path"] == "catalog.tables.offenses.projection")
        .map(|f| f["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        messages,
        [
            "partition 'area' is projected as injected: Athena answers only queries that filter it with `=` (the embedded engine answers the others)",
            "rows with no precinct are written to area=__HIVE_DEFAULT_PARTITION__, which the projection does not enumerate: Athena does not read them",
        ]
    );
}

#[test]
fn plan_sample_shows_the_rows_a_rule_change_rejects_or_nulls() {
    let s = Scratch::new("plan-sample");
    let p = s.pipeline("seattle.yaml", &[]);
    let first = s.run(&["plan", &p, "--sample", "500", "--format", "json"]);
    let plan: Value = serde_json::from_slice(&first.stdout).expect("JSON plan");
    assert!(
        plan["data"][0]["before"].is_null(),
        "nothing applied yet: {plan:#}"
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));

    // The rules change: offense codes must be digits, and SW is no longer a precinct.
    let edited = s.pipeline(
        "edited.yaml",
        &[
            (
                "      offense_code: { type: string }",
                "      offense_code: { type: string, pattern: \"^[0-9]+$\" }",
            ),
            (
                "null_if: [UNKNOWN, OOJ, \"-\"] }",
                "null_if: [UNKNOWN, OOJ, \"-\", SW] }",
            ),
        ],
    );
    let sampled = s.run(&["plan", &edited, "--sample", "500", "--format", "json"]);
    assert_eq!(sampled.status.code(), Some(0), "{}", text(&sampled));
    let plan: Value = serde_json::from_slice(&sampled.stdout).expect("JSON plan");
    let effect = &plan["data"][0];
    assert_eq!(effect["flow"], "backfill");
    // Counted from the first 500 rows of the CSV: 280 codes are not all digits (13A, 23H,
    // ...), and 35 of the rows still kept are in precinct SW.
    assert_eq!(
        effect["before"],
        serde_json::json!({"kept": 500, "rejected": 0})
    );
    assert_eq!(
        effect["after"],
        serde_json::json!({"kept": 220, "rejected": 280})
    );
    assert_eq!(effect["fields"]["offense_code"]["newly_rejected"], 280);
    assert_eq!(effect["fields"]["precinct"]["became_null"], 35);
    assert_eq!(effect["fields"]["precinct"]["examples"][0]["after"], "null");

    let human = text(&s.run(&["plan", &edited, "--sample", "500"]));
    assert!(
        human.contains("kept 500 -> 220, rejected 0 -> 280"),
        "{human}"
    );
    assert!(
        human.contains("OVER the limit, a backfill would fail"),
        "{human}"
    );
    // A sample file of the source's columns stands in for the source: the dirty fixture's
    // 6 readable rows.
    let dirty = root().join("tests/fixtures/spd_crime_dirty.csv");
    let from_file = s.run(&[
        "plan",
        &edited,
        "--sample",
        "100",
        "--sample-file",
        dirty.to_str().expect("UTF-8"),
        "--format",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&from_file.stdout).expect("JSON plan");
    assert_eq!(plan["data"].as_array().map(Vec::len), Some(1), "{plan:#}");
    assert_eq!(plan["data"][0]["rows"], 6, "{plan:#}");

    // A sample file no backfill's dataset reads is refused, naming it.
    let foreign = root().join("data/seattle_fire_911_calls_mva_2010_2015.csv");
    let refused = s.run(&[
        "plan",
        &edited,
        "--sample",
        "10",
        "--sample-file",
        foreign.to_str().expect("UTF-8"),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains(
            "seattle_fire_911_calls_mva_2010_2015.csv has the columns of no backfill's dataset"
        ),
        "{}",
        text(&refused)
    );

    // Nothing was written: the history's folder is still absent.
    assert!(!s.state().join("s3/seattle-911/historical").exists());
}
