//! `runner plan` / `apply` against real services: moto (S3, Glue) and the tansu broker, with
//! the Seattle pipeline's `aws` target configured only from the environment.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use runner::backend::Log;
use runner::backend::kafka::Kafka;
use serde_json::json;

use crate::plan::Scratch;
use crate::services::{service, unique};
use crate::util::stdout;

pub struct Remote {
    pub scratch: Scratch,
    pub aws: String,
    pub kafka: String,
    pub pipeline: String,
    pub bucket: String,
    pub topic: String,
    /// The deliver flow's consumer group.
    pub group: String,
}

impl Remote {
    /// The Seattle pipeline with names unique to this test, or `None` when the services are
    /// not running (outside CI).
    pub fn new(name: &str) -> Option<Remote> {
        let aws = service("RUNNER_TEST_AWS")?;
        let kafka = service("RUNNER_TEST_KAFKA")?;
        let scratch = Scratch::new(name);
        let bucket = unique("seattle-911-");
        let topic = unique("seattle_911_crime_");
        let database = unique("seattle_911_");
        let group = unique("s3-sink-");
        let pipeline = scratch.pipeline(
            "seattle.yaml",
            &[
                (
                    "pipeline: seattle-911-crime",
                    &format!("pipeline: {}", unique("seattle-")),
                ),
                ("bucket: seattle-911", &format!("bucket: {bucket}")),
                (
                    "  seattle_911_crime:\n    partitions",
                    &format!("  {topic}:\n    partitions"),
                ),
                ("to_topic: seattle_911_crime", &format!("to_topic: {topic}")),
                (
                    "from_topic: seattle_911_crime",
                    &format!("from_topic: {topic}"),
                ),
                ("database: seattle_911", &format!("database: {database}")),
                // A group of its own: tests that run at once must not rebalance each
                // other's workers.
                ("group: s3-sink", &format!("group: {group}")),
                // tansu 0.6 cannot serve a fetch that starts inside a record batch: one
                // record per batch keeps every offset a batch start.
                (
                    "      bootstrap: ${KAFKA_BOOTSTRAP_SERVERS",
                    "      properties: { batch.num.messages: \"1\" }\n      bootstrap: ${KAFKA_BOOTSTRAP_SERVERS",
                ),
            ],
        );
        Some(Remote {
            scratch,
            aws,
            kafka,
            pipeline,
            bucket,
            topic,
            group,
        })
    }

    fn run_with(&self, args: &[&str], endpoint: &str) -> Output {
        self.run_env(args, endpoint, &[])
    }

    /// The runner command against `endpoint`, with extra environment variables.
    pub fn command(&self, args: &[&str], endpoint: &str, extra: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
        command
            .args(args)
            .envs(extra.iter().copied())
            .current_dir(&self.scratch.dir)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-west-2")
            .env("KAFKA_BOOTSTRAP_SERVERS", &self.kafka)
            .env_remove("AWS_PROFILE")
            .env("NO_COLOR", "1");
        command
    }

    /// Runs runner against `endpoint` with extra environment variables.
    pub fn run_env(&self, args: &[&str], endpoint: &str, extra: &[(&str, &str)]) -> Output {
        self.command(args, endpoint, extra)
            .output()
            .expect("runner runs")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &self.aws)
    }
}

/// A run's stdout and stderr, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn plan_apply_no_changes_and_drift_on_real_services() {
    let Some(r) = Remote::new("remote-apply") else {
        return;
    };
    let p = r.pipeline.as_str();
    let plan = r.run(&["plan", p, "--target", "aws", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(
        text(&plan).contains("Plan: 5 to add, 0 to change, 0 to destroy."),
        "{}",
        text(&plan)
    );

    let apply = r.run(&["apply", p, "--target", "aws"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    let again = r.run(&["plan", p, "--target", "aws", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(stdout(&again).contains("No changes."), "{}", text(&again));

    // Drift: a topic config changed behind runner's back.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = rdkafka::config::ClientConfig::new();
    config.set("bootstrap.servers", &r.kafka);
    let kafka = Kafka::new(&config).expect("client");
    let change = json!({"retention.ms": "1000"})
        .as_object()
        .cloned()
        .expect("object");
    runtime
        .block_on(kafka.set_topic_config(&r.topic, &change))
        .expect("alter");
    let drift = r.run(&["plan", p, "--target", "aws", "--detailed-exitcode"]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    assert!(
        text(&drift).contains(&format!("~ kafka_topic.{}", r.topic)),
        "{}",
        text(&drift)
    );
    assert!(
        text(&drift).contains("~ config.retention.ms: \"1000\" -> \"604800000\""),
        "{}",
        text(&drift)
    );
    let repair = r.run(&["apply", p, "--target", "aws"]);
    assert_eq!(repair.status.code(), Some(0), "{}", text(&repair));
    let clean = r.run(&["plan", p, "--target", "aws", "--detailed-exitcode"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
}

#[test]
fn a_held_lock_is_reported_with_its_holder() {
    let Some(r) = Remote::new("remote-lock") else {
        return;
    };
    let p = r.pipeline.as_str();
    // Create the bucket only, then hold the lock as another run would.
    assert_eq!(
        r.run(&["apply", p, "--target", "aws"]).status.code(),
        Some(0)
    );
    let pipeline_name = std::fs::read_to_string(p)
        .expect("pipeline")
        .lines()
        .find_map(|l| l.strip_prefix("pipeline: ").map(str::to_owned))
        .expect("name");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = crate::services::s3_client(&r.aws);
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 600;
    runtime
        .block_on(
            client
                .put_object()
                .bucket(&r.bucket)
                .key(runner::lock::key(&pipeline_name))
                .body(
                    format!(r#"{{"who":"ci@elsewhere (pid 1)","until":{until}}}"#)
                        .into_bytes()
                        .into(),
                )
                .send(),
        )
        .expect("lock object");
    let changed = std::fs::read_to_string(p)
        .expect("pipeline")
        .replace("retention.ms: \"604800000\"", "retention.ms: \"86400000\"");
    std::fs::write(p, changed).expect("write");
    let blocked = r.run(&["apply", p, "--target", "aws", "--lock-timeout", "1s"]);
    assert_eq!(blocked.status.code(), Some(1), "{}", text(&blocked));
    assert!(
        text(&blocked).contains("another apply holds the lock: ci@elsewhere (pid 1)"),
        "{}",
        text(&blocked)
    );
}

#[test]
fn an_unreachable_endpoint_fails_fast_with_a_clear_error() {
    let Some(r) = Remote::new("remote-unreachable") else {
        return;
    };
    let started = Instant::now();
    let out = r.run_with(
        &["plan", &r.pipeline, "--target", "aws"],
        "http://127.0.0.1:9",
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("reading target 'aws'"),
        "{}",
        text(&out)
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn backfill_writes_parquet_to_s3() {
    let Some(r) = Remote::new("remote-backfill") else {
        return;
    };
    let p = r.pipeline.as_str();
    assert_eq!(
        r.run(&["apply", p, "--target", "aws"]).status.code(),
        Some(0)
    );
    // The history is read from the bucket itself, through an s3:// glob.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = runner::backend::s3::S3::new(crate::services::s3_client(&r.aws));
    let data = std::fs::read(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
        .expect("data");
    runtime
        .block_on(runner::backend::ObjectStore::put(
            &store,
            &r.bucket,
            "raw/spd_2023.csv",
            data,
        ))
        .expect("upload the export");
    let changed = std::fs::read_to_string(p).expect("pipeline").replace(
        "path: ${SPD_HISTORY_CSV:-data/spd_crime_data_2023_formatted.csv}",
        &format!("path: s3://{}/raw/*.csv", r.bucket),
    );
    std::fs::write(p, changed).expect("write");
    let run = r.run(&["run", "backfill", p, "--target", "aws", "--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&run)).expect("summary");
    assert_eq!(summary["written"], 12_885);
    let again = r.run(&["run", "backfill", p, "--target", "aws", "--format", "json"]);
    let again: serde_json::Value = serde_json::from_str(&stdout(&again)).expect("summary");
    assert_eq!(
        again["already_done"], true,
        "the object's ETag marks it finished"
    );

    // Read the objects back from the S3 server.
    let keys = runtime
        .block_on(runner::backend::ObjectStore::list(
            &store,
            &r.bucket,
            "historical/",
        ))
        .expect("list");
    let parquet: Vec<&String> = keys.iter().filter(|k| k.ends_with(".parquet")).collect();
    assert_eq!(parquet.len(), 4, "{keys:?}");
    let mut rows = 0;
    for key in parquet {
        assert!(key.starts_with("historical/year="), "{key}");
        let bytes = runtime
            .block_on(runner::backend::ObjectStore::get(&store, &r.bucket, key))
            .expect("get")
            .expect("exists");
        let local = r.scratch.dir.join("read-back.parquet");
        std::fs::write(&local, bytes).expect("write");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&local).expect("open"),
        )
        .expect("parquet")
        .build()
        .expect("reader");
        rows += reader.map(|b| b.expect("batch").num_rows()).sum::<usize>();
    }
    assert_eq!(rows, 12_885);
    let checkpoints = runtime
        .block_on(runner::backend::ObjectStore::list(
            &store,
            &r.bucket,
            "_runner/checkpoints/",
        ))
        .expect("list");
    assert_eq!(
        checkpoints.len(),
        1,
        "the finished input is checkpointed in the bucket"
    );
}
