//! `runner run backfill` on the local target: the real Seattle history read back from the
//! Parquet it wrote, re-runs that replace instead of duplicating, and dirty input
//! quarantined with file, line and reason.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_schema::{DataType, TimeUnit};
use chrono::Datelike;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::plan::Scratch;
use crate::util::stdout;

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    crate::util::files_with_extension(dir, "parquet")
}

/// Every record batch of a Parquet file.
fn batches(file: &Path) -> Vec<arrow_array::RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|batch| batch.expect("batch"))
        .collect()
}

fn summary(output: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The one quarantine object of the `backfill` flow, whose name (the input's file name and
/// a hash of its whole path) starts with `start`.
fn quarantine_of(s: &Scratch, start: &str) -> PathBuf {
    let dir = s
        .state()
        .join("s3/seattle-911/historical/_rejects/backfill");
    let quarantined = crate::util::files_with_extension(&dir, "jsonl");
    let [quarantine] = quarantined.as_slice() else {
        panic!("one quarantine object: {quarantined:?}");
    };
    let name = quarantine.file_name().and_then(|n| n.to_str());
    assert!(name.is_some_and(|n| n.starts_with(start)), "{name:?}");
    quarantine.clone()
}

#[test]
fn the_seattle_history_lands_as_typed_partitioned_parquet_and_reruns_replace() {
    let s = Scratch::new("backfill");
    let p = s.pipeline("seattle.yaml", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = s.run(&["run", "backfill", &p, "--format", "json"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let first = summary(&run);
    assert_eq!(
        (first["read"].as_u64(), first["written"].as_u64()),
        (Some(12_885), Some(12_885))
    );
    assert_eq!(
        first["unprojected"],
        serde_json::json!([]),
        "Athena's projection enumerates every folder the history is written to"
    );

    let historical = s.state().join("s3/seattle-911/historical");
    let files = parquet_files(&historical);
    assert_eq!(files.len(), 4, "one file per report month");
    let mut rows = 0;
    let mut found_first = false;
    for file in &files {
        let partition = file
            .parent()
            .expect("dir")
            .strip_prefix(&historical)
            .expect("under")
            .to_string_lossy()
            .into_owned();
        for batch in batches(file) {
            assert_eq!(
                batch
                    .schema()
                    .field_with_name("report_datetime")
                    .expect("field")
                    .data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            );
            let reported = batch
                .column_by_name("report_datetime")
                .expect("col")
                .as_primitive::<TimestampMicrosecondType>();
            let ids = batch
                .column_by_name("offense_id")
                .expect("col")
                .as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let at =
                    chrono::DateTime::from_timestamp_micros(reported.value(row)).expect("time");
                assert_eq!(
                    partition,
                    format!("year={}/month={}", at.year(), at.month()),
                    "row in the right partition"
                );
                if ids.value(row) == 53_596_532_781 {
                    // 2023-12-31 00:32:25 in Seattle is 08:32:25 UTC.
                    assert_eq!(reported.value(row), 1_704_011_545_000_000);
                    found_first = true;
                }
            }
            rows += batch.num_rows();
        }
    }
    assert_eq!(rows, 12_885);
    assert!(found_first);
    // Text columns are dictionary-encoded; numbers and times are written plain.
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0]).expect("file"))
        .expect("parquet");
    let group = reader.metadata().row_group(0);
    for column in group.columns() {
        let name = column.column_path().string();
        let text = ["report_number", "offense", "precinct", "mcpp"].contains(&name.as_str());
        let plain = ["offense_id", "report_datetime", "longitude"].contains(&name.as_str());
        if text || plain {
            assert_eq!(
                column.dictionary_page_offset().is_some(),
                text,
                "dictionary of {name}"
            );
        }
    }

    let skipped = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(
        skipped["already_done"], true,
        "the checkpoint says this input is done"
    );
    assert_eq!(skipped["written"], 12_885);

    let again = summary(&s.run(&["run", "backfill", &p, "--format", "json", "--restart"]));
    assert_eq!(again["already_done"], false);
    assert_eq!(again["written"], 12_885);
    assert_eq!(
        parquet_files(&historical),
        files,
        "a re-run rewrites the same objects"
    );
}

#[test]
fn files_rotate_at_max_bytes_before_compression() {
    let s = Scratch::new("backfill-max-bytes");
    let p = s.pipeline(
        "seattle.yaml",
        &[(
            "rotate: { max_records: 500000, max_bytes: 128MiB }",
            "rotate: { max_bytes: 256KiB }",
        )],
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(run["written"].as_u64(), Some(12_885));
    let files = parquet_files(&s.state().join("s3/seattle-911/historical"));
    // Four report months of about 3,200 rows, several hundred KiB each in Arrow form.
    assert!(files.len() > 8, "{files:?}");
    let mut total = 0;
    for (i, file) in files.iter().enumerate() {
        let mut bytes = 0;
        for batch in batches(file) {
            total += batch.num_rows();
            for column in batch.columns() {
                bytes += column.to_data().get_slice_memory_size().expect("size");
            }
        }
        let last_of_partition = files
            .get(i + 1)
            .is_none_or(|next| next.parent() != file.parent());
        assert!(bytes <= 300 << 10, "{file:?}: {bytes} bytes");
        assert!(
            last_of_partition || bytes >= 220 << 10,
            "{file:?}: {bytes} bytes"
        );
    }
    assert_eq!(total, 12_885);
}

#[test]
fn a_run_killed_part_way_is_finished_by_the_next_without_duplicates() {
    // About 100,000 rows: the real history eight times over, each copy with its own ids.
    let s = Scratch::new("backfill-kill");
    let real =
        std::fs::read_to_string(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
            .expect("data");
    let mut lines = real.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.collect();
    let mut big = String::with_capacity(real.len() * 8);
    big.push_str(header);
    big.push('\n');
    for copy in 0..8u64 {
        for row in &rows {
            let mut fields: Vec<String> = row.split(',').map(str::to_owned).collect();
            let id: u64 = fields[1].parse().expect("real ids are numbers");
            fields[1] = (id + copy * 1_000_000_000_000).to_string();
            big.push_str(&fields.join(","));
            big.push('\n');
        }
    }
    let input = s.dir.join("big.csv");
    std::fs::write(&input, big).expect("write input");
    let expected = rows.len() * 8;
    let p = s.pipeline_reading(
        "seattle.yaml",
        &input.display().to_string(),
        &[(
            "rotate: { max_records: 500000, max_bytes: 128MiB }",
            "rotate: { max_records: 5000 }",
        )],
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));

    let historical = s.state().join("s3/seattle-911/historical");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["run", "backfill", &p])
        .current_dir(crate::util::root())
        .env("RUNNER_STATE_DIR", s.state())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    // Kill it (SIGKILL) as soon as it has written its first files.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline && parquet_files(&historical).is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = child.try_wait().expect("status").is_none();
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let checkpoint = s
        .state()
        .join("s3/seattle-911/_runner/checkpoints/seattle-911-crime/backfill.json");
    assert!(
        killed,
        "the run was still going when its first files appeared"
    );
    assert!(
        !checkpoint.exists(),
        "a killed run records nothing as finished"
    );

    let resumed = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(resumed["already_done"], false);
    assert_eq!(resumed["written"].as_u64(), Some(expected as u64));
    assert!(checkpoint.exists());
    let mut ids = std::collections::HashSet::new();
    let mut total = 0;
    for file in parquet_files(&historical) {
        for batch in batches(&file) {
            let column = batch
                .column_by_name("offense_id")
                .expect("col")
                .as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                ids.insert(column.value(row));
                total += 1;
            }
        }
    }
    assert_eq!(total, expected, "no row missing and none twice");
    assert_eq!(ids.len(), expected, "every id once");

    // The eight copies interleave every month; still each partition's files are full
    // (5,000 rows but its last) and each is one row group, not many small ones.
    let mut by_partition: std::collections::BTreeMap<PathBuf, Vec<(i64, usize)>> =
        Default::default();
    for file in parquet_files(&historical) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).expect("open"))
            .expect("parquet");
        let metadata = reader.metadata();
        by_partition
            .entry(file.parent().expect("partition").to_owned())
            .or_default()
            .push((
                metadata.file_metadata().num_rows(),
                metadata.num_row_groups(),
            ));
    }
    for (partition, mut files) in by_partition {
        let last = files.pop().expect("a file");
        assert!(last.0 > 0 && last.0 <= 5000, "{partition:?}: {last:?}");
        assert!(
            files.iter().all(|&(rows, _)| rows == 5000),
            "{partition:?}: {files:?}"
        );
        files.push(last);
        assert!(
            files.iter().all(|&(_, groups)| groups == 1),
            "{partition:?}: {files:?}"
        );
    }
}

#[test]
fn dirty_rows_are_quarantined_with_file_line_and_reason_and_the_ratio_fails_the_run() {
    let s = Scratch::new("backfill-dirty");
    let fixture = crate::util::root().join("tests/fixtures/spd_crime_dirty.csv");
    let fixture = fixture.to_str().expect("UTF-8");
    let p = s.pipeline_reading("seattle.yaml", fixture, &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = s.run(&["run", "backfill", &p, "--format", "json"]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "4 of 8 rejected is over the 1% allowed"
    );
    assert!(
        String::from_utf8_lossy(&run.stderr)
            .contains("50.00% of rows were rejected; the dataset allows 1.00%")
    );
    let result = summary(&run);
    assert_eq!(
        (result["read"].as_u64(), result["written"].as_u64()),
        (Some(8), Some(4))
    );
    assert_eq!(
        result["rejected"],
        serde_json::json!({"offense_id": 1, "report_datetime": 1, "unreadable row": 2})
    );

    let quarantine = quarantine_of(&s, "spd_crime_dirty_csv-");
    let lines: Vec<Value> = std::fs::read_to_string(quarantine)
        .expect("quarantine written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let found: Vec<(u64, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap_or(0),
                l["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (4, "the row has 6 fields, the header 15"),
            (10, "column 'mcpp' is not valid UTF-8"),
            (6, "'not-an-id' is not a whole number"),
            (7, "required value is missing"),
        ]
    );
    assert!(lines.iter().all(|l| l["file"] == fixture));
    assert_eq!(lines[2]["field"], "offense_id");
    assert_eq!(lines[2]["raw"], "not-an-id");

    // The human summary says the same, with the rejects by reason.
    let human = s.run(&["run", "backfill", &p, "--restart"]);
    insta::assert_snapshot!(
        "backfill_summary_with_rejects",
        crate::util::transcript(&human, &s.dir)
    );
}

/// The header of the Seattle CSV export the pipeline reads.
const SEATTLE_HEADER: &str = "report_number,offense_id,offense_start_datetime,offense_end_datetime,report_datetime,crime_against_category,offense_parent_group,offense,offense_code,precinct,sector,mcpp,block_address,longitude,latitude\n";

#[test]
fn a_file_of_only_unreadable_rows_is_quarantined_whole_each_row_with_its_reason() {
    let s = Scratch::new("backfill-all-bad");
    // 40,000 rows of 3 fields under a header of 15: more than two batches of rejects.
    let mut csv = SEATTLE_HEADER.to_owned();
    for i in 0..40_000 {
        csv.push_str(&format!("{i},x,y\n"));
    }
    let input = s.dir.join("all_bad.csv");
    std::fs::write(&input, csv).expect("write input");
    let input = input.to_str().expect("UTF-8");
    let p = s.pipeline_reading("seattle.yaml", input, &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = s.run(&["run", "backfill", &p, "--format", "json"]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "every row rejected is over the ratio"
    );
    let result = summary(&run);
    assert_eq!(
        (result["read"].as_u64(), result["written"].as_u64()),
        (Some(40_000), Some(0))
    );
    assert_eq!(
        result["rejected"],
        serde_json::json!({"unreadable row": 40_000})
    );
    let quarantine = quarantine_of(&s, "all_bad_csv-");
    let text = std::fs::read_to_string(quarantine).expect("quarantine written");
    let mut count = 0u64;
    for line in text.lines() {
        let reject: Value = serde_json::from_str(line).expect("JSON line");
        count += 1;
        assert_eq!(reject["line"].as_u64(), Some(count + 1));
        assert_eq!(reject["reason"], "the row has 3 fields, the header 15");
        assert_eq!(reject["file"], input);
    }
    assert_eq!(count, 40_000);
}

#[test]
fn an_unclosed_quote_stops_the_run_at_the_line_it_opens_on() {
    let s = Scratch::new("backfill-open-quote");
    // The quote opened on line 3 would make the rest of the 8 MiB file one field.
    let mut csv = SEATTLE_HEADER.to_owned();
    csv.push_str(
        "2023-1,1,2023-12-30 23:00:00,,2023-12-31 00:32:25,PERSON,A,B,13A,N,U,M,X,-122.3,47.6\n",
    );
    csv.push_str(
        "2023-2,2,\"2023-12-30 23:00:00,,2023-12-31 00:32:25,PERSON,A,B,13A,N,U,M,X,-122.3,47.6\n",
    );
    while csv.len() < 8 << 20 {
        csv.push_str("2023-3,3,2023-12-30 23:00:00,,2023-12-31 00:32:25,PERSON,A,B,13A,N,U,M,X,-122.3,47.6\n");
    }
    let input = s.dir.join("open_quote.csv");
    std::fs::write(&input, csv).expect("write input");
    let input = input.to_str().expect("UTF-8");
    let p = s.pipeline_reading("seattle.yaml", input, &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let started = std::time::Instant::now();
    let run = s.run(&["run", "backfill", &p]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{input}: line 3: the record starting on this line is longer than max_record_bytes (1.0 MiB); is a quote left open?"
        )),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_missing_bucket_or_column_is_a_clear_error() {
    let s = Scratch::new("backfill-errors");
    let p = s.pipeline("seattle.yaml", &[]);
    let no_bucket = s.run(&["run", "backfill", &p]);
    assert_eq!(no_bucket.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_bucket.stderr)
            .contains("bucket 'seattle-911' does not exist: run `runner apply` first")
    );

    // A single local file with other columns is found by validate, at the field, before
    // anything runs.
    let export = crate::util::root().join("data/spd_crime_data_2008_present_export_sample.csv");
    let wrong = s.pipeline_reading("wrong.yaml", &export.display().to_string(), &[]);
    let refused = s.run(&["apply", &wrong]);
    let refusal = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{refusal}");
    assert!(
        refusal.contains("has no column 'report_number'")
            && refusal.contains("in datasets.offenses.fields.report_number"),
        "{refusal}"
    );

    // A glob is read only by the run, which names the input and the column.
    let glob = crate::util::root().join("data/spd_crime_data_2008_present_export_sampl?.csv");
    let wrong = s.pipeline_reading("glob.yaml", &glob.display().to_string(), &[]);
    assert_eq!(s.run(&["apply", &wrong]).status.code(), Some(0));
    let missing = s.run(&["run", "backfill", &wrong]);
    let err = String::from_utf8_lossy(&missing.stderr).into_owned();
    assert_eq!(missing.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the input has no column 'report_number' (for field report_number)"),
        "{err}"
    );
    assert!(
        err.contains("spd_crime_data_2008_present_export_sample.csv"),
        "{err}"
    );
}

#[test]
fn dedupe_keeps_the_last_or_the_first_row_of_a_key() {
    let fixture = crate::util::root().join("tests/fixtures/spd_crime_duplicates.csv");
    let fixture = fixture.to_str().expect("UTF-8");
    // Offense 53596532781 appears three times: twice reported in December 2023, last
    // re-reported in January 2024, so its rows fall in two partitions.
    for (mode, offense) in [("last", "Intimidation"), ("first", "Aggravated Assault")] {
        let s = Scratch::new(&format!("backfill-dedupe-{mode}"));
        let p = s.pipeline_reading(
            "seattle.yaml",
            fixture,
            &[("    dedupe: last", &format!("    dedupe: {mode}"))],
        );
        assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
        let run = s.run(&["run", "backfill", &p, "--format", "json"]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let result = summary(&run);
        assert_eq!(
            (
                result["read"].as_u64(),
                result["written"].as_u64(),
                result["deduplicated"].as_u64()
            ),
            (Some(5), Some(3), Some(2)),
            "{mode}"
        );
        let mut offenses = Vec::new();
        for file in parquet_files(&s.state().join("s3/seattle-911/historical")) {
            for batch in batches(&file) {
                let ids = batch
                    .column_by_name("offense_id")
                    .expect("col")
                    .as_primitive::<Int64Type>();
                let names = batch
                    .column_by_name("offense")
                    .expect("col")
                    .as_string::<i32>();
                for row in 0..batch.num_rows() {
                    if ids.value(row) == 53_596_532_781 {
                        offenses.push(names.value(row).to_owned());
                    }
                }
            }
        }
        assert_eq!(offenses, [offense], "dedupe: {mode}");
    }
}

#[test]
fn a_glob_reads_every_file_and_a_new_file_is_the_only_work_next_time() {
    let s = Scratch::new("backfill-glob");
    let real =
        std::fs::read_to_string(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
            .expect("data");
    let mut lines = real.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.collect();
    let inputs = s.dir.join("inputs");
    std::fs::create_dir_all(&inputs).expect("dir");
    let thirds: Vec<&[&str]> = rows.chunks(rows.len() / 3 + 1).collect();
    let write = |n: usize| {
        let body = format!("{header}\n{}\n", thirds[n].join("\n"));
        std::fs::write(inputs.join(format!("part{n}.csv")), body).expect("write");
    };
    write(0);
    write(1);
    let p = s.pipeline_reading(
        "seattle.yaml",
        &format!("{}/part*.csv", inputs.display()),
        &[],
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let first = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(
        first["read"].as_u64(),
        Some((thirds[0].len() + thirds[1].len()) as u64)
    );

    write(2);
    let second = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(second["already_done"], false);
    assert_eq!(
        second["written"].as_u64(),
        Some(rows.len() as u64),
        "earlier files count from their checkpoint"
    );
    let third = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(third["already_done"], true);

    let mut total = 0;
    for file in parquet_files(&s.state().join("s3/seattle-911/historical")) {
        total += batches(&file).iter().map(|b| b.num_rows()).sum::<usize>();
    }
    assert_eq!(total, rows.len(), "every row once across the three inputs");
}

#[test]
fn an_s3_glob_reads_gzip_objects_from_the_targets_store() {
    let s = Scratch::new("backfill-s3-source");
    let p = s.pipeline_reading("seattle.yaml", "s3://seattle-911/raw/*.csv.gz", &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let missing = s.run(&["run", "backfill", &p]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("s3://seattle-911/raw/*.csv.gz: no object matches"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let real = std::fs::read(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
        .expect("data");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &real).expect("compress");
    let raw = s.state().join("s3/seattle-911/raw");
    std::fs::create_dir_all(&raw).expect("dir");
    std::fs::write(raw.join("2023.csv.gz"), gz.finish().expect("gzip")).expect("write");
    std::fs::write(raw.join("notes.txt"), "not matched").expect("write");

    let run = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(
        (run["read"].as_u64(), run["written"].as_u64()),
        (Some(12_885), Some(12_885))
    );
    let objects: Vec<&str> = run["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        objects.iter().all(|o| o.contains("/part-2023_csv_gz-")),
        "named after the object: {objects:?}"
    );
    let again = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(again["already_done"], true);
}

#[test]
fn partitions_are_registered_for_tables_without_projection() {
    let s = Scratch::new("backfill-partitions");
    let p = s.pipeline(
        "seattle.yaml",
        &[(
            "      layout: historical\n      projection: true",
            "      layout: historical\n      projection: false",
        )],
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    assert_eq!(s.run(&["run", "backfill", &p]).status.code(), Some(0));
    let registered: Value = serde_json::from_slice(
        &std::fs::read(s.state().join("glue/seattle_911/_partitions/offenses.json"))
            .expect("registered"),
    )
    .expect("JSON");
    let values: Vec<&Value> = registered
        .as_array()
        .expect("list")
        .iter()
        .map(|p| &p["values"])
        .collect();
    assert_eq!(
        values,
        [
            &serde_json::json!(["2023", "12"]),
            &serde_json::json!(["2024", "1"]),
            &serde_json::json!(["2024", "2"]),
            &serde_json::json!(["2024", "3"])
        ]
    );
    assert_eq!(
        registered[3]["location"],
        "s3://seattle-911/historical/year=2024/month=3/"
    );
}

/// Serves `body` at `/seattle.csv` (GET and HEAD, with an ETag) on 127.0.0.1 and 404 for
/// any other path, for `requests` requests. Returns the base URL.
/// Serves `body` as `/seattle.csv` (and 404 for anything else) for `requests` requests;
/// with `stall_after`, a GET sends that many bytes of the body and then nothing more.
fn serve(body: Vec<u8>, requests: usize, stall_after: Option<usize>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = request.starts_with("HEAD");
            let found = request.split(' ').nth(1) == Some("/seattle.csv");
            let _ = if found {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream
                    .write_all(header.as_bytes())
                    .and_then(|()| match (head, stall_after) {
                        (true, _) => Ok(()),
                        (false, None) => stream.write_all(&body),
                        (false, Some(sent)) => {
                            let sent = stream
                                .write_all(&body[..sent])
                                .and_then(|()| stream.flush());
                            std::thread::sleep(std::time::Duration::from_secs(30));
                            sent
                        }
                    })
            } else {
                stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
            };
        }
    });
    base
}

#[test]
fn an_http_source_is_streamed_and_checkpointed_by_its_etag() {
    let body = std::fs::read(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
        .expect("data");
    let base = serve(body, 16, None);
    let s = Scratch::new("backfill-http");
    let p = s.pipeline_reading("seattle.yaml", &format!("{base}/seattle.csv"), &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = s.run(&["run", "backfill", &p, "--format", "json"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(summary(&run)["written"], 12_885);
    let again = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(again["already_done"], true, "same ETag: nothing to do");

    let missing = s.pipeline_reading("missing.yaml", &format!("{base}/gone.csv"), &[]);
    let failed = s.run(&["run", "backfill", &missing]);
    let err = String::from_utf8_lossy(&failed.stderr).into_owned();
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("HEAD {base}/gone.csv: HTTP 404")),
        "{err}"
    );
}

#[test]
fn an_http_source_that_stalls_mid_body_fails_after_its_read_timeout() {
    let body = std::fs::read(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
        .expect("data");
    let base = serve(body, 4, Some(100_000));
    let s = Scratch::new("backfill-http-stall");
    let url = format!("{base}/seattle.csv");
    let p = s.pipeline_reading("seattle.yaml", &format!("{url}\n    read_timeout: 1s"), &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let started = std::time::Instant::now();
    let run = s.run(&["run", "backfill", &p]);
    let err = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{url}: no data for 1 s; the sender stalled")),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "failed after the read timeout, not the server's stall"
    );
}

/// The fire 911 pipeline: another dataset, configured by YAML alone, with its export's
/// real dirt (a " +0000" suffix on local times, hour 24, calls without an incident number,
/// unknown locations).
#[test]
fn the_fire_pipeline_runs_from_yaml_alone_with_its_exports_dirt() {
    let s = Scratch::new("backfill-fire");
    let p = crate::util::root()
        .join("pipelines/seattle_fire_911.yaml")
        .display()
        .to_string();
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = summary(&s.run(&["run", "fire_backfill", &p, "--format", "json"]));
    assert_eq!(run["read"], 13_771);
    assert_eq!(
        run["rejected"],
        serde_json::json!({"incident_number": 1154})
    );
    assert_eq!(
        run["written"].as_u64().expect("written") + run["deduplicated"].as_u64().expect("dedup"),
        13_771 - 1154,
        "the counts reconcile"
    );
    let mut found = 0;
    for file in parquet_files(&s.state().join("s3/seattle-fire-911/historical")) {
        for batch in batches(&file) {
            let ids = batch.column_by_name("incident_number").expect("id");
            let ids = ids.as_string::<i32>();
            let times = batch.column_by_name("datetime").expect("datetime");
            let times = times.as_primitive::<TimestampMicrosecondType>();
            let latitudes = batch.column_by_name("latitude").expect("latitude");
            for row in 0..batch.num_rows() {
                let at = chrono::DateTime::from_timestamp_micros(times.value(row))
                    .expect("time")
                    .naive_utc();
                match ids.value(row) {
                    // ` 2011-10-24T24:22:00+0000`: 00:22 local on the 25th, PDT (UTC-7).
                    "F110098817" => {
                        assert_eq!(at.to_string(), "2011-10-25 07:22:00");
                        found += 1;
                    }
                    // `11/09/2011 10:04:00 PM +0000`: local time, PST (UTC-8).
                    "F110104134" => {
                        assert_eq!(at.to_string(), "2011-11-10 06:04:00");
                        found += 1;
                    }
                    // `(0, 0)`: no location.
                    "F110118532" => {
                        assert!(arrow_array::Array::is_null(latitudes.as_ref(), row));
                        found += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(found, 3, "the three rows checked were written");
}

#[test]
fn folders_athenas_projection_would_not_read_are_named_in_the_summary() {
    let s = Scratch::new("backfill-projection");
    let (header, parts) = history_parts(100);
    let mut rows = parts[0][..3].to_vec();
    // A report dated 2150 (a slip of the source) lands in year=2150, which the historical
    // table's projection (years 1900 to 2100) does not enumerate.
    rows[1] = rows[1].replacen(",2023-12-31 00:58:27,", ",2150-01-01 10:00:00,", 1);
    assert!(rows[1].contains("2150-01-01"), "{}", rows[1]);
    let csv = s.dir.join("history.csv");
    std::fs::write(&csv, format!("{header}\n{}\n", rows.join("\n"))).expect("write");
    let p = s.pipeline_reading("seattle.yaml", csv.to_str().expect("UTF-8"), &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let run = s.run(&["run", "backfill", &p, "--format", "json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert_eq!(
        summary(&run)["unprojected"],
        serde_json::json!(["year=2150/month=1/"])
    );
    assert!(
        stderr.contains("1 partition folder(s) were written outside the table's partition projection, so Athena does not read their rows: year=2150/month=1/"),
        "{stderr}"
    );
}

/// Rows of every Parquet file under `dir`.
fn rows_under(dir: &Path) -> usize {
    parquet_files(dir)
        .iter()
        .map(|file| batches(file).iter().map(|b| b.num_rows()).sum::<usize>())
        .sum()
}

/// The Seattle history's header and rows, split into `parts` nearly equal parts.
fn history_parts(parts: usize) -> (String, Vec<Vec<String>>) {
    let real =
        std::fs::read_to_string(crate::util::root().join("data/spd_crime_data_2023_formatted.csv"))
            .expect("data");
    let mut lines = real.lines().map(str::to_owned);
    let header = lines.next().expect("header");
    let rows: Vec<String> = lines.collect();
    let size = rows.len().div_ceil(parts);
    (header, rows.chunks(size).map(<[String]>::to_vec).collect())
}

#[test]
fn inputs_with_the_same_file_name_in_two_folders_keep_each_others_rows() {
    let s = Scratch::new("backfill-same-name");
    let (header, parts) = history_parts(2);
    for (folder, rows) in ["a", "b"].iter().zip(&parts) {
        let dir = s.dir.join("inputs").join(folder);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("export.csv"),
            format!("{header}\n{}\n", rows.join("\n")),
        )
        .expect("write");
    }
    let glob = format!("{}/inputs/*/export.csv", s.dir.display());
    let p = s.pipeline_reading("seattle.yaml", &glob, &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let historical = s.state().join("s3/seattle-911/historical");
    let first = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(first["written"], 12_885);
    assert_eq!(
        rows_under(&historical),
        12_885,
        "both inputs' rows are kept"
    );

    // The second input changes: its new run replaces its own objects only.
    let changed = s.dir.join("inputs/b/export.csv");
    let shorter = format!("{header}\n{}\n", parts[1][1..].join("\n"));
    std::fs::write(&changed, shorter).expect("rewrite");
    let second = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(second["written"], 12_884);
    assert_eq!(
        rows_under(&historical),
        12_884,
        "the old version is replaced"
    );
}

#[test]
fn two_flows_writing_same_named_inputs_into_one_layout_keep_both() {
    let s = Scratch::new("backfill-two-flows");
    let copy = |from: &str, folder: &str| {
        let dir = s.dir.join(folder);
        std::fs::create_dir_all(&dir).expect("dir");
        let to = dir.join("spd.csv");
        std::fs::copy(crate::util::root().join(from), &to).expect("copy");
        to.display().to_string()
    };
    let history = copy("data/spd_crime_data_2023_formatted.csv", "formatted");
    let export = copy(
        "data/spd_crime_data_2008_present_export_sample.csv",
        "export",
    );
    let export_source = format!("path: {export}");
    let p = s.pipeline_reading(
        "seattle.yaml",
        &history,
        &[(
            "path: data/spd_crime_data_2008_present_export_sample.csv",
            export_source.as_str(),
        )],
    );
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let first = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    let second = summary(&s.run(&["run", "backfill_export", &p, "--format", "json"]));
    let written = first["written"].as_u64().expect("written") as usize
        + second["written"].as_u64().expect("written") as usize;
    assert!(second["written"].as_u64() > Some(0), "{second}");
    assert_eq!(
        rows_under(&s.state().join("s3/seattle-911/historical")),
        written,
        "the second flow leaves the first one's files alone"
    );
}

#[test]
fn an_input_whose_name_starts_another_ones_leaves_the_other_alone() {
    let s = Scratch::new("backfill-prefix-stems");
    let (header, parts) = history_parts(2);
    let inputs = s.dir.join("inputs");
    std::fs::create_dir_all(&inputs).expect("dir");
    for (name, rows) in ["rows", "rows-2"].iter().zip(&parts) {
        std::fs::write(
            inputs.join(name),
            format!("{header}\n{}\n", rows.join("\n")),
        )
        .expect("write");
    }
    let p = s.pipeline_reading("seattle.yaml", &format!("{}/rows*", inputs.display()), &[]);
    assert_eq!(s.run(&["apply", &p]).status.code(), Some(0));
    let historical = s.state().join("s3/seattle-911/historical");
    summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(rows_under(&historical), 12_885);

    // `rows` changes and runs again; `rows-2` is done and must keep its objects.
    let shorter = format!("{header}\n{}\n", parts[0][1..].join("\n"));
    std::fs::write(inputs.join("rows"), shorter).expect("rewrite");
    let again = summary(&s.run(&["run", "backfill", &p, "--format", "json"]));
    assert_eq!(again["written"], 12_884);
    assert_eq!(rows_under(&historical), 12_884);
}
