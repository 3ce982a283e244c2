//! A broker restart while `runner run deliver` keeps running: a private tansu broker whose
//! log lives in moto's S3 is killed with SIGKILL and started again on the same port and
//! storage. Deliver must ride out the outage, deliver what was produced before and after
//! it, and deliver each row once. tansu 0.6 on S3 storage has been seen losing acknowledged
//! records across a restart, so what the broker still holds afterwards is counted with a
//! client of the test's own: a row missing from the files must be missing from the broker
//! too (its loss, not ours), and every row the broker holds must be in the files.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runner::backend::kafka::Kafka;
use runner::backend::{Log, ObjectStore};

use crate::remote::{Remote, text};
use crate::services::{s3_client, unique};
use crate::socrata_server::Server;
use crate::streaming::{TOKEN, feed, lines_ids, valid_ids};

/// A private tansu broker on a free port, storing its log in a moto bucket, so it can be
/// killed and started again with its data.
struct Broker {
    port: u16,
    aws: String,
    bucket: String,
    child: Child,
}

impl Broker {
    fn start(aws: &str, bucket: &str, port: u16) -> Broker {
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--storage-engine",
                &format!("s3://{bucket}/"),
            ])
            .env("AWS_ENDPOINT", aws)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu runs (scripts/services.sh install puts it on PATH)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker {
            port,
            aws: aws.to_owned(),
            bucket: bucket.to_owned(),
            child,
        }
    }

    /// SIGKILL, then, after `down`, a new broker on the same port and storage.
    fn restart(mut self, down: Duration) -> Broker {
        self.child.kill().expect("kill -9 tansu");
        self.child.wait().expect("reaped");
        std::thread::sleep(down);
        Broker::start(&self.aws, &self.bucket, self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The offense ids in `incremental_data/` (not the quarantine), with repeats.
fn delivered(r: &Remote, runtime: &tokio::runtime::Runtime) -> Vec<i64> {
    let store = runner::backend::s3::S3::new(s3_client(&r.aws));
    let keys = runtime
        .block_on(store.list(&r.bucket, "incremental_data/"))
        .expect("list");
    let mut ids = Vec::new();
    for key in keys.iter().filter(|k| !k.contains("_rejects/")) {
        let body = runtime
            .block_on(store.get(&r.bucket, key))
            .expect("get")
            .expect("exists");
        ids.extend(lines_ids(&body));
    }
    ids
}

/// The offense ids the broker holds in the topic's three partitions, read to the end with a
/// client of the test's own.
fn held(r: &Remote, runtime: &tokio::runtime::Runtime) -> HashSet<i64> {
    let mut config = rdkafka::config::ClientConfig::new();
    config.set("bootstrap.servers", &r.kafka);
    let kafka = Kafka::new(&config).expect("client");
    let mut ids = HashSet::new();
    for partition in 0..3 {
        let mut offset = 0;
        let mut empty = 0;
        // A fetch that finds nothing is tried again: a restarted broker can be slow.
        while empty < 3 {
            let batch = runtime
                .block_on(kafka.fetch(&r.topic, partition, offset, 1000, Duration::from_secs(2)))
                .expect("fetch");
            let Some(last) = batch.last() else {
                empty += 1;
                continue;
            };
            offset = last.offset + 1;
            for message in &batch {
                ids.extend(lines_ids(&message.value));
            }
        }
    }
    ids
}

/// Runs `runner run ingest --once` until it succeeds (a restarted broker may refuse
/// produce requests for a while) or `patience` has passed.
fn ingest(r: &Remote, patience: Duration) {
    let p = r.pipeline.as_str();
    let deadline = Instant::now() + patience;
    loop {
        let run = r.run_env(
            &["run", "ingest", p, "--target", "aws", "--once"],
            &r.aws,
            &[("SOCRATA_APP_TOKEN", TOKEN)],
        );
        if run.status.success() {
            return;
        }
        assert!(Instant::now() < deadline, "ingest failed: {}", text(&run));
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Points the pipeline at `server` with pages of 200 rows and batches of 100 records or one
/// second, applies it and ingests once; the pipeline's path.
fn apply_and_ingest(r: &Remote, server: &Server) -> String {
    let text_before = std::fs::read_to_string(&r.pipeline).expect("pipeline");
    let pipeline = text_before
        .replace(
            "url: ${SOCRATA_URL:-https://data.seattle.gov/resource/tazs-3rd5.json}",
            &format!("url: {}", server.url),
        )
        .replace("page_size: 1000", "page_size: 200")
        .replace(
            "rotate: { max_records: 10000, max_bytes: 64MiB, max_age: 60s }",
            "rotate: { max_records: 100, max_bytes: 64MiB, max_age: 1s }",
        );
    assert_ne!(pipeline, text_before);
    std::fs::write(&r.pipeline, pipeline).expect("write");
    let apply = r.run_env(
        &["apply", &r.pipeline, "--target", "aws"],
        &r.aws,
        &[("SOCRATA_APP_TOKEN", TOKEN)],
    );
    assert!(apply.status.success(), "{}", text(&apply));
    ingest(r, Duration::from_secs(60));
    r.pipeline.clone()
}

/// Waits until `incremental_data/` holds at least `count` rows, or `patience` has passed.
fn wait_for(r: &Remote, runtime: &tokio::runtime::Runtime, count: usize, patience: Duration) {
    let deadline = Instant::now() + patience;
    while delivered(r, runtime).len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn deliver_rides_out_a_broker_restart_and_delivers_every_held_row_once() {
    let Some(mut r) = Remote::new("broker-restart") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let storage = unique("tansu-log-");
    runtime
        .block_on(s3_client(&r.aws).create_bucket().bucket(&storage).send())
        .expect("the broker's storage bucket");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let broker = Broker::start(&r.aws, &storage, port);
    r.kafka = format!("127.0.0.1:{port}");

    // 400 rows before the restart, 200 newer ones published after it.
    let (mut before, _) = feed(600, 0);
    let after = before.split_off(400);
    let server = Server::start(before.clone(), Some(TOKEN));
    let p = apply_and_ingest(&r, &server);

    // Its log goes to a file: a pipe nobody reads while it runs could fill and stall it.
    let log_path = r.scratch.dir.join("deliver.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let deliver = r
        .command(
            &["run", "deliver", &p, "--target", "aws", "--format", "json"],
            &r.aws,
            &[("SOCRATA_APP_TOKEN", TOKEN), ("RUST_LOG", "runner=info")],
        )
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("deliver runs");
    let first = valid_ids(&before).len();
    wait_for(&r, &runtime, first, Duration::from_secs(120));
    assert!(
        !delivered(&r, &runtime).is_empty(),
        "deliver delivered nothing before the restart"
    );

    // Away long enough for deliver's fetches to find it gone, not only slow.
    let _broker = broker.restart(Duration::from_secs(2));
    server.publish(after.clone());
    ingest(&r, Duration::from_secs(180));

    let mut all = before;
    all.extend(after);
    let expected = valid_ids(&all);
    wait_for(&r, &runtime, expected.len(), Duration::from_secs(180));
    // SIGTERM: deliver stops cleanly, delivering what it buffered.
    let pid = deliver.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let stopped = deliver.wait_with_output().expect("deliver stops");
    let log = std::fs::read_to_string(&log_path).expect("deliver's log");
    assert_eq!(
        stopped.status.code(),
        Some(0),
        "deliver survives the broker restart and stops cleanly on SIGTERM: {log}"
    );
    // The broker's absence reached deliver as librdkafka's errors, not only as silence.
    assert!(
        log.contains("the broker is unreachable; waiting"),
        "deliver says the broker went away: {log}"
    );

    let ids = delivered(&r, &runtime);
    let unique_ids: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique_ids.len(), "no row delivered twice");
    let in_broker = held(&r, &runtime);
    let lost_by_broker: Vec<i64> = expected.difference(&unique_ids).copied().collect();
    eprintln!(
        "broker restart: {} rows expected, {} delivered, {} held by the broker afterwards, \
         {} missing from the files",
        expected.len(),
        unique_ids.len(),
        in_broker.len(),
        lost_by_broker.len()
    );
    assert!(
        unique_ids.is_subset(&expected),
        "only the feed's valid rows are delivered"
    );
    assert!(
        in_broker.is_subset(&unique_ids),
        "every row the broker holds is delivered: missing {:?}",
        in_broker.difference(&unique_ids).collect::<Vec<_>>()
    );
    assert!(
        lost_by_broker.iter().all(|id| !in_broker.contains(id)),
        "a row missing from the files is one the broker lost"
    );
    // Rows published after the restart went through the restarted broker.
    let newer = valid_ids(&all[400..]);
    assert!(
        !newer.is_disjoint(&unique_ids),
        "rows produced after the restart are delivered"
    );
}

#[test]
fn a_topic_created_again_is_delivered_in_a_new_epoch_beside_the_old_objects() {
    let Some(r) = Remote::new("topic-again") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut first, _) = feed(500, 0);
    let second = first.split_off(300);
    let server = Server::start(first.clone(), Some(TOKEN));
    let p = apply_and_ingest(&r, &server);
    let env = [("SOCRATA_APP_TOKEN", TOKEN)];
    let deliver_once = || {
        let run = r.run_env(
            &["run", "deliver", &p, "--target", "aws", "--once"],
            &r.aws,
            &env,
        );
        assert!(run.status.success(), "{}", text(&run));
        text(&run)
    };
    let expected_first = valid_ids(&first);
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered(&r, &runtime).len() < expected_first.len() && Instant::now() < deadline {
        deliver_once();
    }

    // The topic is deleted and created again: its offsets start over at 0.
    let mut config = rdkafka::config::ClientConfig::new();
    config.set("bootstrap.servers", &r.kafka);
    let kafka = Kafka::new(&config).expect("client");
    runtime
        .block_on(kafka.delete_topic(&r.topic))
        .expect("delete the topic");
    let apply = r.run_env(&["apply", &p, "--target", "aws"], &r.aws, &env);
    assert!(apply.status.success(), "{}", text(&apply));
    server.publish(second.clone());
    ingest(&r, Duration::from_secs(60));

    let mut all = first;
    all.extend(second);
    let expected = valid_ids(&all);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = String::new();
    while delivered(&r, &runtime).len() < expected.len() && Instant::now() < deadline {
        log.push_str(&deliver_once());
    }
    let ids = delivered(&r, &runtime);
    let unique_ids: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique_ids.len(), "no row delivered twice: {log}");
    assert_eq!(unique_ids, expected, "every row delivered: {log}");
    let store = runner::backend::s3::S3::new(s3_client(&r.aws));
    let keys = runtime
        .block_on(store.list(&r.bucket, "incremental_data/"))
        .expect("list");
    assert!(
        keys.iter().any(|k| k.ends_with("+0+e1.jsonl"))
            && keys.iter().any(|k| k.ends_with("+0.jsonl")),
        "the new epoch's objects sit beside the old ones: {keys:?}"
    );
    assert!(
        log.contains("warning: the log ended below what was delivered"),
        "the rewind is reported: {log}"
    );
}
