//! `runner run ingest` and `runner run deliver`: the Socrata-like server's real SPD rows
//! through the log into `incremental_data/`, every row exactly once, also after `kill -9`
//! at the worst moments (RUNNER_CRASH_AT), on the local target and on tansu + moto.

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::plan::Scratch;
use crate::socrata_server::{Fault, Server, api_rows};
use crate::util::stdout;

pub const TOKEN: &str = "test-app-token";

/// A row in the API's JSON shape.
type Row = Map<String, Value>;

/// The newest `n` real rows by report time, and `late` of them held back to be published
/// later (every fourth of the newest 200, all inside the overlap window).
pub fn feed(n: usize, late: usize) -> (Vec<Row>, Vec<Row>) {
    let mut rows = api_rows(usize::MAX);
    let time = |r: &Row| {
        r.get("report_datetime")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    rows.sort_by_key(time);
    let mut rows = rows.split_off(rows.len() - n);
    let mut held = Vec::new();
    let mut i = rows.len() - 200;
    while held.len() < late {
        held.push(rows.remove(i));
        i += 3;
    }
    (rows, held)
}

/// The Seattle pipeline reading the server, small pages and small delivery batches, with
/// more `edits`.
fn pipeline_with(s: &Scratch, server: &Server, edits: &[(&str, &str)]) -> String {
    let url = format!("url: {}", server.url);
    let mut all = vec![
        (
            "url: ${SOCRATA_URL:-https://data.seattle.gov/resource/tazs-3rd5.json}",
            url.as_str(),
        ),
        ("page_size: 1000", "page_size: 300"),
        (
            "rotate: { max_records: 10000, max_bytes: 64MiB, max_age: 60s }",
            "rotate: { max_records: 250, max_bytes: 64MiB, max_age: 60s }",
        ),
    ];
    all.extend_from_slice(edits);
    s.pipeline("seattle.yaml", &all)
}

/// A local-target test's start: the Socrata-like server replaying `rows`, scratch
/// directory `name` with the pipeline reading it ([`pipeline_with`] `edits`), applied.
struct Local {
    server: Server,
    s: Scratch,
    p: String,
}

fn local(name: &str, rows: &[Row], edits: &[(&str, &str)]) -> Local {
    let server = Server::start(rows.to_vec(), Some(TOKEN));
    let s = Scratch::new(name);
    let p = pipeline_with(&s, &server, edits);
    assert_eq!(run(&s, &["apply", &p], &[]).status.code(), Some(0));
    Local { server, s, p }
}

/// runner with `args` on scratch `s`'s local target, with `env`.
fn command(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut command = s.command(args);
    command
        .env("SOCRATA_APP_TOKEN", TOKEN)
        .envs(env.iter().copied());
    command
}

fn run(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(s, args, env).output().expect("runner runs")
}

/// [`command`] started and left running, its output captured.
fn spawn(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    command(s, args, env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runner starts")
}

/// The key of every record in the local target's `seattle_911_crime` topic.
fn logged_keys(s: &Scratch) -> Vec<Option<Vec<u8>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let log = runner::backend::local::Local::new(s.state());
    let mut keys = Vec::new();
    for partition in 0..3 {
        let messages = runtime
            .block_on(runner::backend::Log::fetch(
                &log,
                "seattle_911_crime",
                partition,
                0,
                100_000,
                Duration::ZERO,
            ))
            .expect("fetch");
        keys.extend(messages.into_iter().map(|m| m.key.map(|k| k.to_vec())));
    }
    keys
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn killed(output: &Output) -> bool {
    output.status.signal() == Some(9)
}

/// Every delivered row's offense id, from the JSON lines under `dir` (not the quarantine).
fn delivered_ids(dir: &Path) -> Vec<i64> {
    crate::util::files_with_extension(dir, "jsonl")
        .iter()
        .flat_map(|path| lines_ids(&std::fs::read(path).expect("read")))
        .collect()
}

/// The offense ids of JSON lines.
pub fn lines_ids(body: &[u8]) -> Vec<i64> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let row: Value = serde_json::from_slice(l).expect("a JSON row");
            row["offense_id"].as_i64().expect("offense_id")
        })
        .collect()
}

/// The ids of `rows` that the cleaning rules accept (a valid report number).
pub fn valid_ids(rows: &[Row]) -> HashSet<i64> {
    let pattern = regex::Regex::new(r"^\d{4}-\d{6}$").expect("regex");
    rows.iter()
        .filter(|r| {
            r.get("report_number")
                .and_then(Value::as_str)
                .is_some_and(|n| pattern.is_match(n))
        })
        .filter_map(|r| r.get("offense_id")?.as_str()?.parse().ok())
        .collect()
}

/// The `report_date=` folders under `dir`.
fn report_days(dir: &Path) -> HashSet<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("report_date="))
        .collect()
}

/// The `report_date=` folders of the partitions the local catalog's file `path` registers.
fn registered_days(path: &Path) -> HashSet<String> {
    let registered: Value =
        serde_json::from_slice(&std::fs::read(path).expect("registered")).expect("JSON");
    registered
        .as_array()
        .expect("list")
        .iter()
        .map(|p| format!("report_date={}", p["values"][0].as_str().expect("value")))
        .collect()
}

/// Checks that every folder of scratch `s`'s local target with a data object in it is
/// registered in the catalog (after `what`); how many folders have objects.
fn assert_folders_registered(s: &Scratch, what: &str) -> usize {
    let incremental = s.state().join("s3/seattle-911/incremental_data");
    let partitions = s
        .state()
        .join("glue/seattle_911/_partitions/offenses_incremental.json");
    let written = match incremental.exists() {
        true => report_days(&incremental),
        false => HashSet::new(),
    };
    let registered = match partitions.exists() {
        true => registered_days(&partitions),
        false => HashSet::new(),
    };
    assert!(
        written.is_subset(&registered),
        "{what}: {:?} not registered",
        written.difference(&registered)
    );
    written.len()
}

/// Runs deliver `--once` on scratch `s`'s local target with pipeline `p`, and checks that
/// the files then hold each of the `expected` rows exactly once: its summary, and the
/// folder of the files.
fn deliver_exactly_once(s: &Scratch, p: &str, expected: &HashSet<i64>) -> (Value, PathBuf) {
    let summary = json(&run(
        s,
        &["run", "deliver", p, "--once", "--format", "json"],
        &[],
    ));
    let incremental = s.state().join("s3/seattle-911/incremental_data");
    assert_exactly_once(&delivered_ids(&incremental), expected);
    (summary, incremental)
}

fn assert_exactly_once(ids: &[i64], expected: &HashSet<i64>) {
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no row delivered twice");
    assert_eq!(&unique, expected, "every row delivered");
}

#[test]
fn ingest_and_deliver_every_row_once_with_retries_and_late_rows() {
    let (rows, late) = feed(2000, 50);
    let Local { server, s, p } = local("streaming-local", &rows, &[]);
    server.fault(&[
        Fault::Throttle,
        Fault::ServerError,
        Fault::Slow(Duration::from_millis(300)),
    ]);

    let ingest = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    let expected = valid_ids(&rows);
    assert_eq!(ingest["read"].as_u64(), Some(rows.len() as u64));
    assert_eq!(ingest["produced"].as_u64(), Some(expected.len() as u64));
    let requests = server.requests();
    assert!(
        requests[0].contains("$order=report_datetime%20ASC%2C%20%3Aid%20ASC")
            && requests[0].contains("$limit=300&$offset=0"),
        "{requests:?}"
    );
    assert_eq!(
        requests.len(),
        2 + rows.len().div_ceil(300),
        "two retried failures, then every page (the first one slow)"
    );

    let (deliver, incremental) = deliver_exactly_once(&s, &p, &expected);
    assert_eq!(deliver["written"].as_u64(), Some(expected.len() as u64));
    let days = report_days(&incremental);
    assert!(days.len() > 5, "one folder per report day: {days:?}");
    // The incremental table does not use projection: its partitions are registered.
    assert_eq!(
        registered_days(
            &s.state()
                .join("glue/seattle_911/_partitions/offenses_incremental.json")
        ),
        days
    );

    // The feed publishes rows late; the next poll re-reads the overlap and finds them.
    server.publish(late.clone());
    let again = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    let late_ids = valid_ids(&late);
    assert_eq!(again["produced"].as_u64(), Some(late_ids.len() as u64));
    assert!(again["unchanged"].as_u64() > Some(0), "{again}");
    let since = server.requests().last().cloned().expect("requests");
    assert!(since.contains("report_datetime%20%3E%3D%20%27"), "{since}");
    json(&run(
        &s,
        &["run", "deliver", &p, "--once", "--format", "json"],
        &[],
    ));
    let all: HashSet<i64> = expected.union(&late_ids).copied().collect();
    assert_exactly_once(&delivered_ids(&incremental), &all);

    // The embedded engine reads the JSON lines with the catalog's types and partitions.
    let sql = "SELECT count(*) AS n, count(DISTINCT offense_id) AS ids, \
               count(DISTINCT report_date) AS days, \
               sum(CASE WHEN CAST(report_datetime AS DATE) BETWEEN report_date - 1 AND report_date + 1 \
                   THEN 1 ELSE 0 END) AS near \
               FROM {{ table('offenses_incremental') }}";
    let answer = json(&run(
        &s,
        &["query", "--sql", sql, &p, "--format", "json"],
        &[],
    ));
    let row = &answer[0];
    assert_eq!(row["n"].as_u64(), Some(all.len() as u64), "{answer}");
    assert_eq!(row["ids"].as_u64(), Some(all.len() as u64), "{answer}");
    assert_eq!(row["days"].as_u64(), Some(days.len() as u64), "{answer}");
    // The folder's day is the local report day: within a day of the UTC instant.
    assert_eq!(row["near"].as_u64(), Some(all.len() as u64), "{answer}");
}

#[test]
fn kill_9_at_every_crash_point_loses_and_duplicates_nothing() {
    let (rows, _) = feed(1500, 0);
    let Local {
        server: _server,
        s,
        p,
    } = local("streaming-crash", &rows, &[]);
    let expected = valid_ids(&rows);

    // Records acknowledged by the log, watermark not saved: the page is produced again.
    let crashed = run(
        &s,
        &["run", "ingest", &p, "--once"],
        &[("RUNNER_CRASH_AT", "ingest-after-produce:2")],
    );
    assert!(killed(&crashed), "{:?}", crashed.status);
    let ingest = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    assert!(ingest["produced"].as_u64() > Some(0));

    for point in [
        "deliver-after-pending:2",
        "deliver-mid-write:3",
        "deliver-after-write:4",
    ] {
        let crashed = run(
            &s,
            &["run", "deliver", &p, "--once"],
            &[("RUNNER_CRASH_AT", point)],
        );
        assert!(
            killed(&crashed),
            "{point}: {:?} {}",
            crashed.status,
            String::from_utf8_lossy(&crashed.stderr)
        );
        assert_folders_registered(&s, point);
    }
    deliver_exactly_once(&s, &p, &expected);
    // The ingest crash really produced a page twice: the log holds more records than rows.
    let records = logged_keys(&s).len();
    assert!(
        records > expected.len(),
        "{records} records, {} rows",
        expected.len()
    );
}

/// A local-target start ([`local`], with `edits`) whose feed of 600 rows was ingested
/// once (the feed's server may go then), and the ids of those the cleaning rules accept.
fn ingested(name: &str, edits: &[(&str, &str)]) -> (Local, HashSet<i64>) {
    let (rows, _) = feed(600, 0);
    let start = local(name, &rows, edits);
    json(&run(
        &start.s,
        &["run", "ingest", &start.p, "--once", "--format", "json"],
        &[],
    ));
    (start, valid_ids(&rows))
}

#[test]
fn a_panic_while_preparing_a_batch_fails_the_run_and_the_next_run_delivers_it() {
    let (Local { s, p, .. }, expected) = ingested("streaming-panic", &[]);

    // The second batch's preparation panics, as a bug there would: the run fails, naming
    // the partition, and nothing of that batch is written.
    let failed = run(
        &s,
        &["run", "deliver", &p, "--once"],
        &[("RUNNER_PANIC_AT", "deliver-prepare:2")],
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("panic point deliver-prepare")
            && stderr.contains(": preparing the batch failed"),
        "{stderr}"
    );
    let incremental = s.state().join("s3/seattle-911/incremental_data");
    let partial = delivered_ids(&incremental);
    assert!(
        partial.len() < expected.len(),
        "{} delivered",
        partial.len()
    );

    // The batch stayed pending: the next run delivers it, and every row is there once.
    let (done, _) = deliver_exactly_once(&s, &p, &expected);
    assert!(done["written"].as_u64() > Some(0), "{done}");
}

/// Runs deliver once while the local catalog cannot take partitions (its partitions file is
/// a folder), which must fail the run naming that file; the file's path, to repair.
fn deliver_into_a_failing_catalog(s: &Scratch, p: &str) -> PathBuf {
    let partitions = s
        .state()
        .join("glue/seattle_911/_partitions/offenses_incremental.json");
    std::fs::create_dir_all(&partitions).expect("mkdir");
    let failed = run(s, &["run", "deliver", p, "--once"], &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("offenses_incremental.json"), "{stderr}");
    // No folder is in the catalog, so no data object was written into one.
    let incremental = s.state().join("s3/seattle-911/incremental_data");
    let written = crate::util::files_with_extension(&incremental, "jsonl");
    assert!(written.is_empty(), "{written:?}");
    partitions
}

#[test]
fn a_catalog_that_fails_fails_the_run_and_the_next_run_registers_every_partition() {
    let (Local { s, p, .. }, expected) = ingested("streaming-catalog", &[]);

    // Registering comes before the objects' writes, and its failure fails the run.
    let partitions = deliver_into_a_failing_catalog(&s, &p);

    // Once the catalog takes them again, the batches left pending are delivered: every
    // row once, and every folder registered.
    std::fs::remove_dir(&partitions).expect("rmdir");
    let (_, incremental) = deliver_exactly_once(&s, &p, &expected);
    let days = report_days(&incremental);
    assert_eq!(registered_days(&partitions), days);
}

/// [`ingested`] into scratch `name`, then a deliver run killed (kill -9) at crash `point`.
fn killed_at(name: &str, point: &str) -> (Local, HashSet<i64>) {
    let (local, expected) = ingested(name, &[]);
    let crashed = run(
        &local.s,
        &["run", "deliver", &local.p, "--once"],
        &[("RUNNER_CRASH_AT", point)],
    );
    assert!(killed(&crashed), "{point}: {:?}", crashed.status);
    (local, expected)
}

#[test]
fn a_deliver_killed_while_writing_objects_left_none_in_an_unregistered_folder() {
    // Whatever then becomes of the batch (the broker may lose its records before the next
    // run), the objects already written are in folders the catalog has.
    let (Local { s, .. }, _) = killed_at("streaming-mid-write", "deliver-mid-write");
    assert!(assert_folders_registered(&s, "killed mid-write") > 0);
}

#[test]
fn a_crashed_batch_is_delivered_again_over_its_recorded_range_whatever_the_rotation_says_now() {
    // kill -9 once the first batches' objects are written, before their states move on.
    let (Local { s, p, .. }, expected) = killed_at("streaming-pending", "deliver-after-write");
    // Batches of 40 from now on: the interrupted batches must still be delivered over the
    // ranges they recorded as pending (250 records). Cut at 40 instead, the objects of
    // their other report days, already written, would hold records the later batches
    // write again under other names.
    let text = std::fs::read_to_string(&p).expect("pipeline");
    assert!(text.contains("max_records: 250"));
    std::fs::write(&p, text.replace("max_records: 250", "max_records: 40")).expect("write");
    deliver_exactly_once(&s, &p, &expected);
}

#[test]
fn no_batch_moves_on_while_a_folder_it_shares_is_not_registered() {
    // One folder for every record (the 600 rows are all of 2024): each partition's batch
    // has records in it, and the first batch to reach it registers it for all of them.
    // Each partition holds fewer than 250 records (210, 190 and 200), so the three batches
    // are delivered side by side at the end of the run.
    let (Local { s, p, .. }, _) = ingested(
        "streaming-shared-folder",
        &[(
            "\"report_date={{ report_datetime.date }}\"",
            "\"report_date={{ report_datetime.year }}\"",
        )],
    );
    // Whichever batch's error comes first, it is the registration's.
    deliver_into_a_failing_catalog(&s, &p);
    // The batches that waited for that registration failed with it: every partition
    // still has its batch pending, none moved past it with the folder unregistered.
    let states = s
        .state()
        .join("s3/seattle-911/_runner/checkpoints/seattle-911-crime/deliver");
    for partition in 0..3 {
        let state: Value = serde_json::from_slice(
            &std::fs::read(states.join(format!("seattle_911_crime-{partition}.json")))
                .expect("state"),
        )
        .expect("JSON");
        assert!(
            state["pending"].is_array() && state["next_offset"] == 0,
            "partition {partition}: {state}"
        );
    }
}

/// The batches each partition state of the local deliver flow lists in its dedupe window,
/// and the hashes objects kept beside the states (name -> number of hashes).
fn dedupe_window(s: &Scratch) -> (Vec<String>, Vec<(String, usize)>) {
    let folder = s
        .state()
        .join("s3/seattle-911/_runner/checkpoints/seattle-911-crime/deliver");
    let mut listed = Vec::new();
    for partition in 0..3 {
        let state: Value = serde_json::from_slice(
            &std::fs::read(folder.join(format!("seattle_911_crime-{partition}.json")))
                .expect("state"),
        )
        .expect("JSON");
        for batch in state["recent"].as_array().expect("recent") {
            listed.push(batch["name"].as_str().expect("name").to_owned());
        }
    }
    listed.sort();
    let mut stored: Vec<(String, usize)> = std::fs::read_dir(folder.join("delivered"))
        .expect("hashes folder")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (
                name,
                std::fs::metadata(&path).expect("size").len() as usize / 16,
            )
        })
        .collect();
    stored.sort();
    (listed, stored)
}

#[test]
fn delivered_batches_leave_the_dedupe_window_when_their_time_is_up() {
    let (rows, late) = feed(900, 40);
    let Local { server, s, p } = local(
        "streaming-window",
        &rows,
        &[("group: s3-sink", "group: s3-sink\n    dedupe_window: 2s")],
    );
    let once = ["run", "ingest", &p, "--once", "--format", "json"];
    let deliver = || {
        json(&run(
            &s,
            &["run", "deliver", &p, "--once", "--format", "json"],
            &[],
        ))
    };
    // Each batch keeps its own hashes (one per record written) and the states list exactly
    // the hashes objects there are.
    let listed_after = |summary: &Value| {
        let (listed, stored) = dedupe_window(&s);
        let names: Vec<String> = stored.iter().map(|(name, _)| name.clone()).collect();
        assert_eq!(listed, names);
        let hashes: usize = stored.iter().map(|(_, count)| count).sum();
        assert_eq!(Some(hashes as u64), summary["written"].as_u64());
        listed
    };
    json(&run(&s, &once, &[]));
    let first = deliver();
    let listed = listed_after(&first);
    assert_eq!(Some(listed.len() as u64), first["batches"].as_u64());

    // Past the window, the next batches forget the first ones and delete their hashes.
    std::thread::sleep(Duration::from_millis(3200));
    server.publish(late.clone());
    json(&run(&s, &once, &[]));
    let listed_now = listed_after(&deliver());
    assert!(
        listed_now.iter().all(|name| !listed.contains(name)) && !listed_now.is_empty(),
        "only the new batches are listed: {listed_now:?} (before: {listed:?})"
    );
    // A listed hashes object that is gone (deleted by hand) is named, delivery goes on,
    // and the run says it could not keep its guarantee: a warning shown without RUST_LOG,
    // a counter, and exit 3.
    let gone = s.state().join(format!(
        "s3/seattle-911/_runner/checkpoints/seattle-911-crime/deliver/delivered/{}.hashes",
        listed_now[0]
    ));
    std::fs::remove_file(&gone).expect("remove");
    let warned = command(
        &s,
        &["run", "deliver", &p, "--once", "--format", "json"],
        &[],
    )
    .env_remove("RUST_LOG")
    .output()
    .expect("runner runs");
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert_eq!(warned.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("WARN")
            && stderr.contains("hashes objects of the dedupe window are not there")
            && stderr.contains(&listed_now[0]),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 1 object(s) of the dedupe window were missing"),
        "{stderr}"
    );
    assert_eq!(json(&warned)["risks"]["dedupe_gaps"], 1);
    let all: HashSet<i64> = valid_ids(&rows).union(&valid_ids(&late)).copied().collect();
    let incremental = s.state().join("s3/seattle-911/incremental_data");
    assert_exactly_once(&delivered_ids(&incremental), &all);
}

#[test]
fn two_ingest_runs_at_once_never_move_the_watermark_back() {
    // Run A reads a page, which the server holds back; meanwhile newer rows come and run B
    // reads them all and stores its watermark. A, done later with less, merges its state
    // with B's rather than storing its own older watermark over it.
    let (rows, _) = feed(600, 0);
    let (old, new) = rows.split_at(400);
    // One page each: `pipeline_with` sets pages of 300, this edit 1,000 again.
    let edits = [("page_size: 300", "page_size: 1000")];
    let Local { server, s, p } = local("streaming-two-ingests", old, &edits);
    let watermark = |rows: &[Row]| {
        rows.iter()
            .filter_map(|r| r["report_datetime"].as_str())
            .max()
            .map(str::to_owned)
    };
    server.fault(&[Fault::Stall(Duration::from_secs(4))]);
    let a = spawn(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[("RUST_LOG", "warn")],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stalled() == 0 {
        assert!(Instant::now() < deadline, "run A's page was not read");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.publish(new.to_vec());
    let b = run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    );
    assert_eq!(json(&b)["produced"], 600, "run B reads every row");
    let a = a.wait_with_output().expect("run A ends");
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert_eq!(json(&a)["produced"], 400, "run A read the older rows only");
    assert!(
        String::from_utf8_lossy(&a.stderr).contains("merging the two"),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    let state = s
        .state()
        .join("s3/seattle-911/_runner/checkpoints/seattle-911-crime/ingest.json");
    let state: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("JSON");
    let newest = watermark(&rows).expect("rows");
    assert!(watermark(old) < Some(newest.clone()));
    assert_eq!(
        state["watermark"].as_str().map(|w| &w[..19]),
        Some(&newest[..19])
    );
}

#[test]
fn a_bad_page_after_a_good_one_keeps_the_good_one() {
    // Pages are read ahead: the second page's failure must not undo the first page, whose
    // records were produced and whose watermark was saved.
    let (rows, _) = feed(400, 0);
    let Local { server, s, p } = local("streaming-bad-second-page", &rows, &[]);
    server.fault(&[Fault::Slow(Duration::ZERO), Fault::Malformed]);
    let failed = run(&s, &["run", "ingest", &p, "--once"], &[]);
    assert_eq!(failed.status.code(), Some(1));
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(
        message.contains("$offset=300") && message.contains("malformed page"),
        "{message}"
    );
    let again = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    // The rerun starts at the saved watermark: it re-reads the first page's overlap and
    // leaves those rows alone.
    assert!(again["unchanged"].as_u64() > Some(0), "{again}");
    let mut keys = logged_keys(&s);
    let produced = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(produced, keys.len(), "no row produced twice");
    let total = again["produced"].as_u64().unwrap_or(0) + again["unchanged"].as_u64().unwrap_or(0);
    assert!(produced as u64 >= total, "{produced} records, {again}");
}

#[test]
fn bad_pages_tokens_and_poison_records_are_clear() {
    let (rows, _) = feed(400, 0);
    let Local { server, s, p } = local("streaming-bad", &rows, &[]);

    server.fault(&[Fault::Malformed]);
    let malformed = run(&s, &["run", "ingest", &p, "--once"], &[]);
    assert_eq!(malformed.status.code(), Some(1));
    let message = String::from_utf8_lossy(&malformed.stderr);
    assert!(
        message.contains(&format!("GET {}?", server.url))
            && message.contains("malformed page at line 1 column"),
        "{message}"
    );

    let denied = run(
        &s,
        &["run", "ingest", &p, "--once"],
        &[("SOCRATA_APP_TOKEN", "wrong")],
    );
    assert_eq!(denied.status.code(), Some(1));
    let message = String::from_utf8_lossy(&denied.stderr);
    assert!(
        message.contains("HTTP 403: permission_denied: Invalid app_token specified"),
        "{message}"
    );
    assert!(
        !message.contains("wrong"),
        "the token never shows: {message}"
    );

    // A record no ingest wrote: quarantined with its offset, the rest delivered.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let log = runner::backend::local::Local::new(s.state());
    runtime
        .block_on(runner::backend::Log::produce(
            &log,
            "seattle_911_crime",
            &[runner::backend::Record {
                key: Some(b"1"),
                value: b"{not json",
            }],
        ))
        .expect("produce");
    json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    let deliver = json(&run(
        &s,
        &["run", "deliver", &p, "--once", "--format", "json"],
        &[],
    ));
    assert_eq!(deliver["poison"].as_u64(), Some(1));
    let rejects = s
        .state()
        .join("s3/seattle-911/incremental_data/_rejects/deliver");
    let file = std::fs::read_dir(&rejects)
        .expect("quarantine")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let line: Value = serde_json::from_slice(
        std::fs::read(&file)
            .expect("read")
            .split(|&b| b == b'\n')
            .next()
            .expect("line"),
    )
    .expect("json");
    assert_eq!(line["raw"], "{not json");
    assert!(line["offset"].is_u64());
}

#[test]
fn ingest_to_tansu_and_deliver_to_moto_exactly_once_after_kill_9() {
    let Some(r) = crate::remote::Remote::new("streaming-remote") else {
        return;
    };
    let (rows, _) = feed(1200, 0);
    let server = Server::start(rows.clone(), Some(TOKEN));
    let text = std::fs::read_to_string(&r.pipeline).expect("pipeline");
    let text = text
        .replace(
            "url: ${SOCRATA_URL:-https://data.seattle.gov/resource/tazs-3rd5.json}",
            &format!("url: {}", server.url),
        )
        .replace("page_size: 1000", "page_size: 300")
        .replace("max_records: 10000", "max_records: 400");
    // The remote pipeline names its broker's properties on one line.
    let properties = r#"      properties: { batch.num.messages: "1" }"#;
    assert!(text.contains(properties));
    let text = text.replace(
        properties,
        r#"      properties: { batch.num.messages: "1", message.timeout.ms: "3000" }"#,
    );
    // The same pipeline with a broker that is not there, and room for 10 records in the
    // producer's queue: a page of 300 fills it, and waits for room until the records
    // queued time out.
    let dead = Path::new(&r.pipeline).with_file_name("dead_broker.yaml");
    let dead_text: String = text
        .replace(
            "message.timeout.ms: \"3000\"",
            "message.timeout.ms: \"3000\", queue.buffering.max.messages: \"10\"",
        )
        .lines()
        .map(|line| match line.trim_start().starts_with("bootstrap:") {
            true => "      bootstrap: 127.0.0.1:1\n".to_owned(),
            false => format!("{line}\n"),
        })
        .collect();
    assert!(dead_text.contains("127.0.0.1:1") && dead_text.contains("max.messages: \"10\""));
    std::fs::write(&dead, dead_text).expect("write");
    std::fs::write(&r.pipeline, text).expect("write");
    let p = r.pipeline.as_str();
    let env = [("SOCRATA_APP_TOKEN", TOKEN)];
    let apply = r.run_env(&["apply", p, "--target", "aws"], &r.aws, &env);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    // Records no broker acknowledges fail the run once the pipeline's message.timeout.ms
    // is up, and move no watermark: the runs below still deliver every row.
    let dead = dead.to_str().expect("a UTF-8 path");
    let fails_saying = |flow: &str, said: &[&str]| {
        let out = r.run_env(
            &["run", flow, dead, "--target", "aws", "--once"],
            &r.aws,
            &env,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(said.iter().all(|s| stderr.contains(s)), "{stderr}");
    };
    fails_saying(
        "ingest",
        &[
            "Produce to ",
            "no acknowledgement within message.timeout.ms (3000 ms)",
            "is the broker at 127.0.0.1:1 up and reachable?",
        ],
    );
    fails_saying(
        "deliver",
        &[
            "no broker answered within 10 s",
            "is the broker at 127.0.0.1:1 up and reachable?",
            "note: this failure may pass: run the flow again",
        ],
    );
    let crashed = r.run_env(
        &["run", "ingest", p, "--target", "aws", "--once"],
        &r.aws,
        &[
            ("SOCRATA_APP_TOKEN", TOKEN),
            ("RUNNER_CRASH_AT", "ingest-after-produce:2"),
        ],
    );
    assert!(
        killed(&crashed),
        "{:?} {}",
        crashed.status,
        String::from_utf8_lossy(&crashed.stderr)
    );
    let ingest = r.run_env(
        &[
            "run", "ingest", p, "--target", "aws", "--once", "--format", "json",
        ],
        &r.aws,
        &env,
    );
    assert_eq!(
        ingest.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );

    let crashed = r.run_env(
        &["run", "deliver", p, "--target", "aws", "--once"],
        &r.aws,
        &[
            ("SOCRATA_APP_TOKEN", TOKEN),
            ("RUNNER_CRASH_AT", "deliver-mid-write:2"),
        ],
    );
    assert!(
        killed(&crashed),
        "{:?} {}",
        crashed.status,
        String::from_utf8_lossy(&crashed.stderr)
    );

    // The broker's reads can lag: deliver again until every row is there, with a deadline.
    let expected = valid_ids(&rows);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ids = deliver_until(&r, &runtime, expected.len(), Duration::from_secs(120));
    assert_exactly_once(&ids, &expected);
}

/// The offense ids in the remote target's `incremental_data/` files, in `store`.
fn remote_ids(
    r: &crate::remote::Remote,
    runtime: &tokio::runtime::Runtime,
    store: &runner::backend::s3::S3,
) -> Vec<i64> {
    let keys = runtime
        .block_on(runner::backend::ObjectStore::list(
            store,
            &r.bucket,
            "incremental_data/",
        ))
        .expect("list");
    let mut ids = Vec::new();
    for key in keys.iter().filter(|k| !k.contains("_rejects/")) {
        let body = runtime
            .block_on(runner::backend::ObjectStore::get(store, &r.bucket, key))
            .expect("get")
            .expect("exists");
        ids.extend(lines_ids(&body));
    }
    ids
}

/// Runs `runner run deliver --once` on the remote target until `expected` rows are in
/// `incremental_data/` (the broker's reads can lag) or `patience` has passed; the offense
/// ids delivered.
fn deliver_until(
    r: &crate::remote::Remote,
    runtime: &tokio::runtime::Runtime,
    expected: usize,
    patience: Duration,
) -> Vec<i64> {
    let store = runner::backend::s3::S3::new(crate::services::s3_client(&r.aws));
    let p = r.pipeline.as_str();
    let deadline = Instant::now() + patience;
    loop {
        let deliver = r.run_env(
            &[
                "run", "deliver", p, "--target", "aws", "--once", "--format", "json",
            ],
            &r.aws,
            &[("SOCRATA_APP_TOKEN", TOKEN)],
        );
        assert_eq!(
            deliver.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&deliver.stderr)
        );
        let ids = remote_ids(r, runtime, &store);
        if ids.len() >= expected || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A `runner run deliver` worker running until SIGTERM, its output captured.
fn worker(s: &Scratch, p: &str, env: &[(&str, &str)]) -> std::process::Child {
    let env = [&[("RUST_LOG", "runner=info")], env].concat();
    spawn(s, &["run", "deliver", p, "--format", "json"], &env)
}

#[test]
fn two_deliver_workers_share_the_partitions_and_one_killed_loses_nothing() {
    let (rows, _) = feed(1500, 0);
    // Partial batches are written after a second, not the default minute.
    let Local {
        server: _server,
        s,
        p,
    } = local(
        "streaming-group",
        &rows,
        &[(
            "max_records: 250, max_bytes: 64MiB, max_age: 60s",
            "max_records: 250, max_bytes: 64MiB, max_age: 1s",
        )],
    );
    let expected = valid_ids(&rows);

    // Both workers join the group before there is anything to read, so both get a share.
    // The first kills itself in the middle of writing its second batch.
    let doomed = worker(&s, &p, &[("RUNNER_CRASH_AT", "deliver-mid-write:2")]);
    std::thread::sleep(Duration::from_millis(300));
    let survivor = worker(&s, &p, &[]);
    std::thread::sleep(Duration::from_secs(3));
    json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));

    crashed(doomed);
    // The survivor takes up the dead worker's partitions (its process is gone from this
    // host, so without waiting for its session) and delivers the interrupted batch again.
    let incremental = s.state().join("s3/seattle-911/incremental_data");
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered_ids(&incremental).len() < expected.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &survivor.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let survivor = survivor.wait_with_output().expect("the survivor stops");
    let log = String::from_utf8_lossy(&survivor.stderr);
    assert_eq!(survivor.status.code(), Some(0), "{log}");
    assert_exactly_once(&delivered_ids(&incremental), &expected);

    // Both did part of the work: the survivor wrote less than everything, and took up
    // partitions after the other died.
    let summary = json(&survivor);
    let written = summary["written"].as_u64().expect("written");
    assert!(
        written > 0 && written < expected.len() as u64,
        "the survivor wrote {written} of {} rows: {log}",
        expected.len()
    );
    assert!(
        log.matches("partition taken up").count() > 1,
        "the survivor took up the dead worker's partitions: {log}"
    );
    assert!(
        log.contains("delivering the batch a crash interrupted again"),
        "{log}"
    );
    // A worker that stops cleanly leaves the group; the dead one was removed.
    let members = s.state().join("kafka/seattle_911_crime/_members");
    assert!(
        crate::util::files_with_extension(&members, "json").is_empty(),
        "no member objects left: {:?}",
        crate::util::files_with_extension(&members, "json")
    );
}

#[test]
fn ingest_polls_until_a_signal_and_stops_with_its_watermark_saved() {
    let (rows, late) = feed(600, 20);
    let Local { server, s, p } = local(
        "streaming-poll",
        &rows,
        &[("poll_every: 60s", "poll_every: 1s")],
    );
    let (first, late_ids) = (valid_ids(&rows), valid_ids(&late));
    let keys = || {
        let mut keys = logged_keys(&s);
        keys.sort();
        keys.dedup();
        keys.len()
    };
    let wait_for = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while keys() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} keys logged",
                keys()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let ingest = spawn(&s, &["run", "ingest", &p, "--format", "json"], &[]);
    // The first poll produces what the feed holds; rows the feed publishes later come
    // with a later poll, the process still running.
    wait_for(first.len());
    server.publish(late);
    wait_for(first.len() + late_ids.len());

    // SIGTERM: the poll in progress finishes, its watermark saved, and the run ends well.
    unsafe { libc::kill(ingest.id() as i32, libc::SIGTERM) };
    let out = ingest.wait_with_output().expect("ingest ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = json(&out);
    assert!(summary["polls"].as_u64() >= Some(2), "{summary}");
    assert_eq!(
        summary["produced"].as_u64(),
        Some((first.len() + late_ids.len()) as u64),
        "{summary}"
    );
    let again = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    assert_eq!(again["produced"].as_u64(), Some(0), "{again}");
    assert!(again["unchanged"].as_u64() > Some(0), "{again}");
}

/// Writes a member of the local log's deliver group as another worker does, beating at
/// `at_ms` (milliseconds since the Unix epoch) from process `pid`.
fn other_member(s: &Scratch, pid: u32, at_ms: u64) {
    let dir = s.state().join("kafka/seattle_911_crime/_members/s3-sink");
    std::fs::create_dir_all(&dir).expect("dir");
    let beat = serde_json::json!({ "pid": pid, "at_ms": at_ms });
    std::fs::write(dir.join(format!("0-{pid}.json")), beat.to_string()).expect("member");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

#[test]
fn deliver_once_takes_up_what_a_dead_worker_held_before_it_exits_0() {
    let (start, expected) = ingested("streaming-once-dead", &[]);
    // A worker whose process is still there (this test's) beat just now and then stopped
    // beating: for its session it holds its share (sorted first, partitions 0 and 2 of 3).
    other_member(&start.s, std::process::id(), now_ms());
    let began = Instant::now();
    let (summary, _) = deliver_exactly_once(&start.s, &start.p, &expected);
    assert_eq!(summary["behind"], serde_json::json!([]), "{summary}");
    assert!(
        began.elapsed() >= Duration::from_secs(5),
        "it waited for the dead worker's session to end"
    );
}

#[test]
fn deliver_once_exits_3_naming_the_partitions_a_live_worker_keeps() {
    let (start, expected) = ingested("streaming-once-live", &[]);
    // A worker that keeps beating (its beat lies an hour ahead; its process, this test's,
    // is there).
    other_member(&start.s, std::process::id(), now_ms() + 3_600_000);
    let out = run(
        &start.s,
        &[
            "run",
            "deliver",
            &start.p,
            "--once",
            "--patience",
            "2s",
            "--format",
            "json",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let summary = json(&out);
    let behind: Vec<u64> = summary["behind"]
        .as_array()
        .expect("behind")
        .iter()
        .map(|b| b["partition"].as_u64().expect("partition"))
        .collect();
    assert_eq!(behind, [0, 2], "{summary}");
    for partition in [0, 2] {
        assert!(
            stderr.contains(&format!(
                "error: partition {partition} is delivered to offset 0 of "
            )),
            "{stderr}"
        );
    }
    let written = summary["written"].as_u64().expect("written");
    assert!(
        written > 0 && written < expected.len() as u64,
        "it delivered its own share only: {summary}"
    );
}

/// The newest `n` rows of the feed, the `bad` newest of them with a report number the
/// cleaning rules reject.
fn feed_with_bad_numbers(n: usize, bad: usize) -> Vec<Row> {
    let (mut rows, _) = feed(n, 0);
    for row in rows.iter_mut().rev().take(bad) {
        row.insert("report_number".into(), "not-a-number".into());
    }
    rows
}

/// Every quarantined line under `dir`.
fn quarantined_lines(dir: &Path) -> Vec<Value> {
    crate::util::files_with_extension(dir, "jsonl")
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .expect("read")
                .lines()
                .map(|line| serde_json::from_str(line).expect("json"))
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[test]
fn a_rejected_row_read_again_in_the_overlap_is_quarantined_and_counted_once() {
    let mut rows = feed_with_bad_numbers(400, 3);
    // A watermark value that does not parse (it sorts after every real one as text).
    rows[10].insert("report_datetime".into(), "not a time".into());
    let Local {
        server: _server,
        s,
        p,
    } = local("streaming-rejects-once", &rows, &[]);
    let first = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    assert_eq!(first["rejected"]["report_number"], 3, "{first}");
    assert_eq!(first["rejected"]["report_datetime"], 1, "{first}");
    let watermark = first["watermark"].as_str().expect("watermark");
    assert!(
        watermark.starts_with("2024-"),
        "the watermark is a value that parsed: {watermark}"
    );

    // The next poll reads the overlap again, the rejected rows with it.
    let second = json(&run(
        &s,
        &["run", "ingest", &p, "--once", "--format", "json"],
        &[],
    ));
    assert_eq!(second["rejected"], serde_json::json!({}), "{second}");
    assert!(second["read"].as_u64() > Some(4), "{second}");
    assert_eq!(
        second["unchanged"], second["read"],
        "every row read again was seen before: {second}"
    );
    assert_eq!(second["watermark"], first["watermark"]);
    let lines = quarantined_lines(&s.state().join("s3/seattle-911/incremental_data/_rejects"));
    assert_eq!(
        lines.len(),
        4,
        "each rejected row quarantined once: {lines:?}"
    );
}

#[test]
fn a_long_running_ingest_stops_at_the_first_poll_over_the_reject_limit() {
    let rows = feed_with_bad_numbers(400, 200);
    let Local {
        server: _server,
        s,
        p,
    } = local(
        "streaming-reject-limit",
        &rows,
        &[("poll_every: 60s", "poll_every: 1s")],
    );
    let ingest = spawn(&s, &["run", "ingest", &p, "--format", "json"], &[]);
    let out = exited_within(
        ingest,
        Duration::from_secs(60),
        "ingest kept polling a feed whose rows it rejects",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: poll 1 rejected 200 of 400 rows (50.00%)"),
        "{stderr}"
    );
    let summary = json(&out);
    assert_eq!(summary["polls"], 1);
    assert_eq!(summary["over_reject_limit"]["rejected"], 200);
}

/// A `runner run deliver` worker of the remote target `r` running until SIGTERM, its
/// output captured.
fn remote_worker(r: &crate::remote::Remote, env: &[(&str, &str)]) -> std::process::Child {
    let env = [
        &[("SOCRATA_APP_TOKEN", TOKEN), ("RUST_LOG", "runner=info")],
        env,
    ]
    .concat();
    r.command(
        &[
            "run",
            "deliver",
            &r.pipeline,
            "--target",
            "aws",
            "--format",
            "json",
        ],
        &r.aws,
        &env,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("runner starts")
}

/// Waits up to `limit` for `child` to exit on its own; its output. Past the limit it is
/// killed and the test fails with `why`.
fn exited_within(mut child: std::process::Child, limit: Duration, why: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{why}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("the process ends")
}

/// Waits (two minutes at most) for a worker to kill itself at its crash point; its output.
fn crashed(worker: std::process::Child) -> Output {
    let out = exited_within(
        worker,
        Duration::from_secs(120),
        "the worker did not reach its crash point",
    );
    assert!(
        killed(&out),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stops a worker with SIGTERM and checks it exits 0; its output.
fn terminate(worker: std::process::Child) -> Output {
    let term = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let out = worker.wait_with_output().expect("the worker stops");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn deliver_workers_share_a_tansu_topic_through_kafkas_group_protocol() {
    let Some(r) = crate::remote::Remote::new("streaming-group-remote") else {
        return;
    };
    let (rows, _) = feed(1500, 0);
    let server = Server::start(rows.clone(), Some(TOKEN));
    let text = std::fs::read_to_string(&r.pipeline)
        .expect("pipeline")
        .replace(
            "url: ${SOCRATA_URL:-https://data.seattle.gov/resource/tazs-3rd5.json}",
            &format!("url: {}", server.url),
        )
        .replace(
            "max_records: 10000, max_bytes: 64MiB, max_age: 60s",
            "max_records: 100, max_bytes: 64MiB, max_age: 1s",
        );
    std::fs::write(&r.pipeline, text).expect("write");
    let env = [("SOCRATA_APP_TOKEN", TOKEN)];
    let apply = r.run_env(&["apply", &r.pipeline, "--target", "aws"], &r.aws, &env);
    assert!(apply.status.success(), "{}", crate::remote::text(&apply));

    // Three workers join the group; the first kills itself while writing its second batch.
    let doomed = remote_worker(&r, &[("RUNNER_CRASH_AT", "deliver-mid-write:2")]);
    let stopped = remote_worker(&r, &[]);
    let steady = remote_worker(&r, &[]);
    std::thread::sleep(Duration::from_secs(6));
    let ingest = r.run_env(
        &["run", "ingest", &r.pipeline, "--target", "aws", "--once"],
        &r.aws,
        &env,
    );
    assert!(ingest.status.success(), "{}", crate::remote::text(&ingest));

    let doomed = crashed(doomed);
    // One is stopped mid-run, a new one joins.
    let stopped = terminate(stopped);
    let joiner = remote_worker(&r, &[]);

    let expected = valid_ids(&rows);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = runner::backend::s3::S3::new(crate::services::s3_client(&r.aws));
    let delivered = || remote_ids(&r, &runtime, &store);
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered().len() < expected.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let steady = terminate(steady);
    let joiner = terminate(joiner);
    let logs: String = [&doomed, &stopped, &steady, &joiner]
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert_exactly_once(&delivered(), &expected);
    assert!(
        logs.contains("partitions assigned by the group"),
        "the group assigned the partitions: {logs}"
    );
    assert!(
        logs.contains("delivering the batch a crash interrupted again"),
        "the killed worker's batch was taken over: {logs}"
    );

    // The group's committed offsets are the log's ends, and no member object was written.
    let mut config = rdkafka::config::ClientConfig::new();
    config.set("bootstrap.servers", &r.kafka);
    let kafka = runner::backend::kafka::Kafka::new(&config).expect("client");
    for partition in 0..3 {
        let end = runtime
            .block_on(runner::backend::Log::end_offset(
                &kafka,
                "test-ends",
                &r.topic,
                partition,
            ))
            .expect("end");
        let committed = runtime
            .block_on(runner::backend::Log::committed(
                &kafka, &r.group, &r.topic, partition,
            ))
            .expect("committed");
        assert_eq!(committed, Some(end), "partition {partition}");
    }
    let members = runtime
        .block_on(runner::backend::ObjectStore::list(
            &store,
            &r.bucket,
            "_runner/groups/",
        ))
        .expect("list");
    assert_eq!(members, Vec::<String>::new(), "no member objects");
}
