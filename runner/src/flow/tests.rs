//! The CSV source on the real Seattle exports and on broken files.

use std::io::Write;
use std::path::PathBuf;

use arrow_array::cast::AsArray;

use super::csv_source::CsvReader;
use super::input::Input;
use crate::spec::source::{Compression, CsvSource, Encoding};

fn source() -> CsvSource {
    CsvSource {
        path: String::new(),
        delimiter: ",".into(),
        header: true,
        encoding: Encoding::Utf8,
        compression: Compression::Auto,
        read_timeout: crate::spec::types::Duration(std::time::Duration::from_secs(60)),
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
fn open(path: &std::path::Path, source: &CsvSource, batch: usize) -> Result<CsvReader, String> {
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
    let error = open(&empty.0, &source(), 10).err().expect("fails");
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
        .expect("fails");
    assert!(missing.starts_with("no/such.csv: "), "{missing}");
    let glob = Input::list("no/such/*.csv", &store)
        .await
        .expect_err("fails");
    assert_eq!(glob, "no/such/*.csv: no file matches");
    let bad = Input::list("s3://only-a-bucket", &store)
        .await
        .expect_err("fails");
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
