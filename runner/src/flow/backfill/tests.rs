//! The CSV source on the real Seattle exports and on broken files.

use std::io::Write;
use std::path::PathBuf;

use arrow_array::cast::AsArray;

use super::csv_source::CsvReader;
use super::input::Input;
use crate::flow::error::FlowError;
use crate::spec::source::{Compression, CsvSource, Encoding};
use crate::spec::types::Size;

fn source() -> CsvSource {
    CsvSource {
        path: String::new(),
        delimiter: ",".into(),
        header: true,
        encoding: Encoding::Utf8,
        compression: Compression::Auto,
        read_timeout: crate::spec::types::Duration(std::time::Duration::from_secs(60)),
        max_record_bytes: Size(1 << 20),
    }
}

fn project_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
}

/// Reads a whole file: (rows, rejects, line of each row).
fn read_all(
    path: &std::path::Path,
    source: &CsvSource,
    batch: usize,
) -> (usize, Vec<(u64, String)>, Vec<u64>) {
    let mut reader = open(path, source, batch).expect("opens");
    let (mut rows, mut rejects, mut lines) = (0, Vec::new(), Vec::new());
    while let Some(b) = reader.next_batch().expect("reads") {
        assert!(b.batch.num_rows() <= batch);
        rows += b.batch.num_rows();
        lines.extend(b.lines);
        rejects.extend(b.rejects.into_iter().map(|r| (r.line, r.reason)));
    }
    (rows, rejects, lines)
}

/// Opens a local file as the CSV source.
fn open(path: &std::path::Path, source: &CsvSource, batch: usize) -> Result<CsvReader, FlowError> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    CsvReader::open(&path.display().to_string(), Box::new(file), source, batch)
}

struct Temp(PathBuf);

impl Temp {
    fn new(name: &str, bytes: &[u8]) -> Temp {
        let path = std::env::temp_dir().join(format!("runner-csv-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write");
        Temp(path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_real_exports_read_whole_with_bom_and_line_numbers() {
    let export = project_file("data/spd_crime_data_2008_present_export_sample.csv");
    let reader = open(&export, &source(), 4096).expect("opens");
    assert_eq!(
        reader.columns()[0],
        "Report Number",
        "the byte-order mark is not part of the name"
    );
    let (rows, rejects, lines) = read_all(&export, &source(), 4096);
    assert_eq!(rows, 21_454);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(lines[0], 2);
    assert_eq!(*lines.last().expect("rows"), 21_455);

    let formatted = project_file("data/spd_crime_data_2023_formatted.csv");
    let (rows, rejects, _) = read_all(&formatted, &source(), 1000);
    assert_eq!((rows, rejects.len()), (12_885, 0));
}

#[test]
fn gzip_is_recognised_by_its_magic_bytes() {
    let formatted =
        std::fs::read(project_file("data/spd_crime_data_2023_formatted.csv")).expect("data");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&formatted).expect("compress");
    let gz = Temp::new("export.csv.gz", &encoder.finish().expect("finish"));
    let (rows, rejects, _) = read_all(&gz.0, &source(), 4096);
    assert_eq!((rows, rejects.len()), (12_885, 0));
}

#[test]
fn crlf_quoted_newlines_ragged_rows_and_bad_utf8() {
    let bytes: &[u8] = b"id,name,note\r\n1,a,plain\r\n2,b,\"two\r\nlines, and a comma\"\r\n3,c\r\n4,d,\xff\xfe\r\n5,e,last\r\n";
    let file = Temp::new("dirty.csv", bytes);
    let mut reader = open(&file.0, &source(), 10).expect("opens");
    let batch = reader.next_batch().expect("reads").expect("a batch");
    let notes = batch.batch.column(2).as_string::<i32>();
    assert_eq!(batch.batch.num_rows(), 3);
    assert_eq!(notes.value(1), "two\nlines, and a comma");
    assert_eq!(batch.lines, [2, 3, 7]);
    let rejects: Vec<(u64, &str)> = batch
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        rejects,
        [
            (5, "the row has 2 fields, the header 3"),
            (6, "column 'note' is not valid UTF-8")
        ]
    );
    assert_eq!(batch.rejects[0].raw, "3,c");
    assert!(reader.next_batch().expect("reads").is_none());
}

#[test]
fn empty_files_and_missing_files_are_clear_errors() {
    let empty = Temp::new("empty.csv", b"");
    let error = open(&empty.0, &source(), 10)
        .err()
        .expect("fails")
        .to_string();
    assert!(
        error.ends_with("the file is empty or has no header row"),
        "{error}"
    );
    assert!(error.contains("runner-csv-"), "names the file: {error}");
    let header_only = Temp::new("header.csv", b"a,b\n");
    let (rows, rejects, _) = read_all(&header_only.0, &source(), 10);
    assert_eq!((rows, rejects.len()), (0, 0));
}

#[tokio::test]
async fn inputs_name_what_is_missing() {
    let store = crate::backend::local::Local::new(
        std::env::temp_dir().join(format!("runner-input-{}", std::process::id())),
    );
    let missing = Input::File("no/such.csv".into())
        .open(&store, std::time::Duration::from_secs(60))
        .await
        .err()
        .expect("fails")
        .to_string();
    assert!(missing.starts_with("no/such.csv: "), "{missing}");
    let glob = Input::list("no/such/*.csv", &store)
        .await
        .expect_err("fails")
        .to_string();
    assert_eq!(glob, "no/such/*.csv: no file matches");
    let bad = Input::list("s3://only-a-bucket", &store)
        .await
        .expect_err("fails")
        .to_string();
    assert_eq!(
        bad,
        "s3://only-a-bucket: an s3:// source is s3://BUCKET/KEY"
    );
    let object = Input::Object {
        bucket: "b".into(),
        key: "raw/export.csv.gz".into(),
    };
    assert_eq!(object.name(), "s3://b/raw/export.csv.gz");
    assert_eq!(object.file_name(), "export.csv.gz");
    assert_eq!(
        Input::Url("https://h/x/rows.csv?accessType=DOWNLOAD".into()).file_name(),
        "rows.csv"
    );
}

#[test]
fn without_a_header_columns_are_numbered_and_the_first_row_is_data() {
    let file = Temp::new("noheader.csv", b"1;x\n2;y\n");
    let mut settings = source();
    settings.header = false;
    settings.delimiter = ";".into();
    let reader = open(&file.0, &settings, 10).expect("opens");
    assert_eq!(reader.columns(), ["column_1", "column_2"]);
    let (rows, _, lines) = read_all(&file.0, &settings, 10);
    assert_eq!(rows, 2);
    assert_eq!(lines, [1, 2]);
}

#[test]
fn latin1_and_windows_1252_are_decoded() {
    // "CAFÉ" and a euro sign in Windows-1252 bytes.
    let file = Temp::new("latin1.csv", b"id,name\n1,CAF\xc9\n2,\x80 5\n");
    let mut settings = source();
    settings.encoding = Encoding::Latin1;
    let mut reader = open(&file.0, &settings, 10).expect("opens");
    let batch = reader.next_batch().expect("reads").expect("a batch");
    assert!(batch.rejects.is_empty(), "{:?}", batch.rejects);
    let names = batch.batch.column(1).as_string::<i32>();
    assert_eq!(names.value(0), "CAFÉ");
    assert_eq!(names.value(1), "€ 5");
    // Read as UTF-8, the same bytes are rejected rows.
    let (rows, rejects, _) = read_all(&file.0, &source(), 10);
    assert_eq!((rows, rejects.len()), (0, 2));
}

/// A reader counting the bytes taken from it.
struct Counted<R> {
    inner: R,
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.taken
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn an_unclosed_quote_is_an_error_at_its_line_without_reading_the_file_whole() {
    // The quote opened on line 3 is never closed: the rest of the file, 8 MiB of
    // well-formed rows, would be one field.
    let mut bytes = b"id,name,note\n1,a,fine\n2,b,\"never closed\n".to_vec();
    while bytes.len() < 8 << 20 {
        bytes.extend_from_slice(b"3,c,an ordinary row of the file\n");
    }
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let input = Counted {
        inner: std::io::Cursor::new(bytes),
        taken: std::sync::Arc::clone(&taken),
    };
    let started = std::time::Instant::now();
    let mut reader = CsvReader::open("open-quote.csv", Box::new(input), &source(), 1000)
        .expect("the header reads");
    let error = loop {
        match reader.next_batch() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the file was read to its end without an error"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        error.starts_with("open-quote.csv: line 3: the record starting on this line is longer than max_record_bytes (1.0 MiB)"),
        "{error}"
    );
    // The reader stopped about 1 MiB in (its buffers add a little), not at the end.
    let taken = taken.load(std::sync::atomic::Ordering::Relaxed);
    assert!(taken < 2 << 20, "{taken} bytes read of 8 MiB");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn max_record_bytes_is_the_sources_and_long_records_below_it_are_read() {
    let long = "x".repeat(3000);
    let bytes = format!("id,note\n1,\"{long}\"\n2,\"{long}\n{long}\"\n");
    let file = Temp::new("long-records.csv", bytes.as_bytes());
    let (rows, rejects, _) = read_all(&file.0, &source(), 10);
    assert_eq!((rows, rejects.len()), (2, 0));
    let mut small = source();
    small.max_record_bytes = Size(1000);
    let error = read_all_err(&file.0, &small);
    assert!(
        error.ends_with(
            "line 2: the record starting on this line is longer than max_record_bytes (1000 B); is a quote left open?"
        ),
        "{error}"
    );
    assert!(error.contains("runner-csv-"), "names the file: {error}");
}

/// The error reading a whole file stops at.
fn read_all_err(path: &std::path::Path, source: &CsvSource) -> String {
    let mut reader = match open(path, source, 10) {
        Ok(reader) => reader,
        Err(e) => return e.to_string(),
    };
    loop {
        match reader.next_batch() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("{} was read to its end without an error", path.display()),
            Err(e) => return e.to_string(),
        }
    }
}

#[test]
fn a_file_of_only_bad_rows_comes_a_batch_at_a_time_each_row_with_its_reason() {
    // Every row has one field too many: none is read, all are rejected.
    let mut bytes = b"a,b\n".to_vec();
    for i in 0..50_000 {
        bytes.extend_from_slice(format!("{i},x,y\n").as_bytes());
    }
    let file = Temp::new("all-bad.csv", &bytes);
    let mut reader = open(&file.0, &source(), 1000).expect("opens");
    let (mut batches, mut rejects) = (0, 0u64);
    while let Some(batch) = reader.next_batch().expect("reads") {
        batches += 1;
        assert_eq!(batch.batch.num_rows(), 0);
        // The rejects are handed on with the batch they were met in, never gathered
        // across the file.
        assert!(
            batch.rejects.len() <= 1000,
            "{} rejects",
            batch.rejects.len()
        );
        for reject in &batch.rejects {
            rejects += 1;
            assert_eq!(reject.line, rejects + 1);
            assert_eq!(reject.reason, "the row has 3 fields, the header 2");
        }
    }
    assert_eq!((rejects, batches), (50_000, 50));
}

#[test]
fn a_batch_of_long_rows_ends_at_its_byte_budget() {
    let long = "x".repeat(900_000);
    let mut bytes = b"id,note\n".to_vec();
    for i in 0..48 {
        // Half the rows are read, half rejected (three fields): both count.
        let extra = if i % 2 == 0 { "" } else { ",extra" };
        bytes.extend_from_slice(format!("{i},{long}{extra}\n").as_bytes());
    }
    let file = Temp::new("long-rows.csv", &bytes);
    let mut reader = open(&file.0, &source(), 1000).expect("opens");
    let mut sizes = Vec::new();
    while let Some(batch) = reader.next_batch().expect("reads") {
        sizes.push(batch.batch.num_rows() + batch.rejects.len());
    }
    let per_batch = super::csv_source::BATCH_BYTES.div_ceil(900_000);
    assert_eq!(sizes, [per_batch, 48 - per_batch]);
}

#[test]
fn a_header_longer_than_max_record_bytes_is_an_error_on_line_1() {
    let header = format!("id,{}\n1,x\n", "n".repeat(2000));
    let file = Temp::new("long-header.csv", header.as_bytes());
    let mut small = source();
    small.max_record_bytes = Size(1000);
    let error = open(&file.0, &small, 10).err().expect("fails").to_string();
    assert!(
        error.ends_with("line 1: the record starting on this line is longer than max_record_bytes (1000 B); is a quote left open?"),
        "{error}"
    );
}
