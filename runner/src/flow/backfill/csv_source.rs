//! CSV source: an input stream (gzip detected by its magic bytes) read as a stream of Arrow batches
//! of text columns, each row with its line number, in bounded memory.
//!
//! A UTF-8 byte-order mark is skipped; CRLF line ends and quoted fields spanning lines are
//! handled by the `csv` reader. Rows that cannot be read as the header says — a different
//! number of fields, invalid UTF-8 — are returned as rejects with their line, never dropped
//! and never fatal. Memory stays bounded whatever the file holds: a record longer than the
//! source's `max_record_bytes` (an unclosed quote swallowing the rest of the file) is an
//! error naming the line it starts on, and a batch ends at [`BATCH_BYTES`] or its row count
//! whether its rows were read or rejected.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use arrow_array::builder::StringBuilder;
use arrow_schema::SchemaRef;

use crate::flow::error::FlowError;
use crate::spec::source::{Compression, CsvSource, Encoding};

/// Rows per batch read from the source.
pub const BATCH_ROWS: usize = 16 * 1024;

/// Bytes of rows (read or rejected) after which a batch ends early, so a batch of long
/// rows stays small.
pub const BATCH_BYTES: usize = 32 << 20;

/// Bytes the `csv` reader buffers ahead of what it has parsed.
const CSV_BUFFER: usize = 1 << 16;

/// A row the source could not read.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceReject {
    /// The 1-based line the row starts on.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The row's raw bytes, as text (invalid UTF-8 replaced).
    pub raw: String,
}

/// One batch read from the source.
#[derive(Debug)]
pub struct RawBatch {
    /// The rows, every column text.
    pub batch: RecordBatch,
    /// The line each row starts on.
    pub lines: Vec<u64>,
    /// Rows in this stretch of the file that could not be read.
    pub rejects: Vec<SourceReject>,
}

/// A CSV file being read batch by batch.
pub struct CsvReader {
    reader: csv::Reader<Box<dyn Read + Send>>,
    columns: Vec<String>,
    schema: SchemaRef,
    batch_rows: usize,
    record: csv::ByteRecord,
    file: String,
    gzip: bool,
    /// The input's limit, moved on as each record ends.
    cap: Arc<AtomicU64>,
    max_record_bytes: u64,
}

/// Whether bytes start with the gzip magic number.
fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

impl CsvReader {
    /// Reads `input` (named `name` in errors) as `source` describes it, `batch_rows` rows
    /// per batch. Errors (unreadable or empty header) name the input.
    pub fn open(
        name: &str,
        input: Box<dyn Read + Send>,
        source: &CsvSource,
        batch_rows: usize,
    ) -> Result<CsvReader, FlowError> {
        let file = name.to_owned();
        let max_record_bytes = source.max_record_bytes.0;
        let cap = Arc::new(AtomicU64::new(record_limit(0, max_record_bytes)));
        let (mut reader, gzip) = csv_reader(name, input, source, Arc::clone(&cap))?;
        // Without a header, the first row gives the width and is still read as data.
        let header = reader
            .byte_headers()
            .map_err(|e| read_error(&file, 1, &e, max_record_bytes))?
            .clone();
        if reader.position().byte() > max_record_bytes {
            return Err(too_long(&file, 1, max_record_bytes).into());
        }
        if header.is_empty() || header.iter().all(<[u8]>::is_empty) {
            return Err(if source.header {
                format!("{file}: the file is empty or has no header row")
            } else {
                format!("{file}: the file is empty")
            }
            .into());
        }
        let columns: Vec<String> = if source.header {
            header
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    std::str::from_utf8(name)
                        .map(|n| n.trim().to_owned())
                        .map_err(|_| {
                            format!("{file}: line 1: header column {} is not UTF-8", i + 1)
                        })
                })
                .collect::<Result<_, _>>()?
        } else {
            (1..=header.len()).map(|i| format!("column_{i}")).collect()
        };
        Ok(CsvReader {
            schema: crate::flow::text::schema(&columns),
            columns,
            reader,
            batch_rows: batch_rows.max(1),
            record: csv::ByteRecord::new(),
            file,
            gzip,
            cap,
            max_record_bytes,
        })
    }

    /// Whether the file is gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.gzip
    }

    /// Bytes of (decompressed) input read so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The column names (from the header, or `column_1`... without one).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The next batch, or `None` at the end of the file. A read error (I/O, broken gzip)
    /// names the file and line.
    pub fn next_batch(&mut self) -> Result<Option<RawBatch>, FlowError> {
        let width = self.columns.len();
        let mut builders: Vec<StringBuilder> = (0..width)
            .map(|_| StringBuilder::with_capacity(self.batch_rows, self.batch_rows * 24))
            .collect();
        let mut lines = Vec::with_capacity(self.batch_rows);
        let mut rejects = Vec::new();
        let mut bytes = 0;
        // Rejected rows count toward the batch's rows and bytes as read ones do, so a file
        // of nothing but bad rows is handed on a batch at a time too.
        while lines.len() + rejects.len() < self.batch_rows && bytes < BATCH_BYTES {
            let start = self.reader.position().clone();
            self.cap.store(
                record_limit(start.byte(), self.max_record_bytes),
                Ordering::Relaxed,
            );
            let read = self.reader.read_byte_record(&mut self.record);
            let length = self.reader.position().byte().saturating_sub(start.byte());
            // The cap stops a record a buffer's length past the limit at most; this makes
            // the limit exact.
            if length > self.max_record_bytes {
                return Err(too_long(&self.file, start.line(), self.max_record_bytes).into());
            }
            bytes += length as usize;
            let more = match read {
                Ok(more) => more,
                Err(e) => {
                    let line = e.position().map_or(start.line(), |p| p.line());
                    match e.kind() {
                        csv::ErrorKind::Io(_) => {
                            return Err(read_error(
                                &self.file,
                                start.line(),
                                &e,
                                self.max_record_bytes,
                            )
                            .into());
                        }
                        _ => {
                            rejects.push(SourceReject {
                                line,
                                reason: e.to_string(),
                                raw: String::new(),
                            });
                            continue;
                        }
                    }
                }
            };
            if !more {
                break;
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self.record.len() != width {
                rejects.push(SourceReject {
                    line,
                    reason: format!(
                        "the row has {} fields, the header {width}",
                        self.record.len()
                    ),
                    raw: raw_text(&self.record),
                });
                continue;
            }
            // The row's fields lie end to end in one buffer: it is checked once, then each
            // field's ends (a field cut inside a character is invalid on its own).
            let text = match std::str::from_utf8(self.record.as_slice()) {
                Ok(text)
                    if (0..width).all(|i| {
                        self.record.range(i).is_some_and(|r| {
                            text.is_char_boundary(r.start) && text.is_char_boundary(r.end)
                        })
                    }) =>
                {
                    text
                }
                _ => {
                    let bad = self
                        .record
                        .iter()
                        .position(|f| std::str::from_utf8(f).is_err())
                        .unwrap_or(0);
                    rejects.push(SourceReject {
                        line,
                        reason: format!("column '{}' is not valid UTF-8", self.columns[bad]),
                        raw: raw_text(&self.record),
                    });
                    continue;
                }
            };
            for (i, builder) in builders.iter_mut().enumerate() {
                // Checked above: every field is a range of `text` on character boundaries.
                builder.append_value(self.record.range(i).map_or("", |r| &text[r]));
            }
            lines.push(line);
        }
        if lines.is_empty() && rejects.is_empty() {
            return Ok(None);
        }
        let batch = crate::flow::text::finish(&self.schema, builders)?;
        Ok(Some(RawBatch {
            batch,
            lines,
            rejects,
        }))
    }
}

/// The input offset the `csv` reader may read up to while it reads a record starting at
/// `start`: the record's `max` bytes plus the reader's buffer, so a refused read means the
/// record itself is longer than `max`.
fn record_limit(start: u64, max: u64) -> u64 {
    start.saturating_add(max).saturating_add(CSV_BUFFER as u64)
}

/// The error of a failed read of the record starting on `line`: too long a record, or an
/// I/O error (a broken gzip stream, a dropped connection).
fn read_error(file: &str, line: u64, error: &csv::Error, max: u64) -> String {
    if let csv::ErrorKind::Io(io) = error.kind()
        && io.get_ref().is_some_and(|e| e.is::<RecordTooLong>())
    {
        return too_long(file, line, max);
    }
    format!("{file}: line {line}: {error}")
}

/// The error of a record starting on `line` longer than `max` bytes.
fn too_long(file: &str, line: u64, max: u64) -> String {
    format!(
        "{file}: line {line}: the record starting on this line is longer than \
         max_record_bytes ({}); is a quote left open?",
        crate::spec::types::Size(max)
    )
}

/// What [`Capped`] fails a read with once the record being read is too long.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the record is longer than max_record_bytes")
    }
}

impl std::error::Error for RecordTooLong {}

/// The input as the `csv` reader reads it, which hands out no byte past a limit the
/// [`CsvReader`] moves on at each record (see [`record_limit`]): the `csv` reader keeps a
/// record whole however long it grows, so this is what bounds it.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: Arc<AtomicU64>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let room = self.limit.load(Ordering::Relaxed).saturating_sub(self.read);
        if room == 0 && !out.is_empty() {
            return Err(std::io::Error::other(RecordTooLong));
        }
        let take = out.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..take])?;
        self.read += n as u64;
        Ok(n)
    }
}

/// What the read-ahead thread sends: a batch with the bytes read so far, the end, or an
/// error.
type Ahead = Result<Option<(RawBatch, u64)>, FlowError>;

/// A [`CsvReader`] running on its own thread a few batches ahead of its consumer, so
/// parsing overlaps with cleaning and writing.
pub struct ReadAhead {
    receiver: std::sync::mpsc::Receiver<Ahead>,
    compressed: bool,
    done: bool,
}

impl CsvReader {
    /// Moves the reader to a thread that keeps up to `depth` batches ready.
    pub fn read_ahead(mut self, depth: usize) -> ReadAhead {
        let compressed = self.gzip;
        let (sender, receiver) = std::sync::mpsc::sync_channel(depth.max(1));
        std::thread::spawn(move || {
            loop {
                let next = self.next_batch().map(|b| b.map(|b| (b, self.bytes_read())));
                let last = !matches!(next, Ok(Some(_)));
                // A closed channel means the consumer stopped early: nothing to do.
                if sender.send(next).is_err() || last {
                    return;
                }
            }
        });
        ReadAhead {
            receiver,
            compressed,
            done: false,
        }
    }
}

impl ReadAhead {
    /// The next batch and the input bytes read so far, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<(RawBatch, u64)>, FlowError> {
        if self.done {
            return Ok(None);
        }
        match self.receiver.recv() {
            Ok(Ok(None)) => {
                self.done = true;
                Ok(None)
            }
            Ok(other) => other,
            Err(_) => Err("the CSV reader thread stopped unexpectedly".into()),
        }
    }

    /// Whether the input is gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.compressed
    }
}

/// A CSV reader over a stream: gzip undone (by magic bytes with `compression: auto`), a
/// UTF-8 byte-order mark skipped, rows of any width accepted (they are checked per row),
/// the text it reads [`Capped`] by `cap`.
fn csv_reader(
    file: &str,
    opened: Box<dyn Read + Send>,
    source: &CsvSource,
    cap: Arc<AtomicU64>,
) -> Result<(csv::Reader<Box<dyn Read + Send>>, bool), FlowError> {
    let mut buffered = BufReader::with_capacity(1 << 16, opened);
    let head = buffered.fill_buf().map_err(|e| format!("{file}: {e}"))?;
    let gzip = match source.compression {
        Compression::Gzip => true,
        Compression::None => false,
        Compression::Auto => is_gzip(head),
    };
    let mut input: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(
            buffered,
        )))
    } else {
        Box::new(buffered)
    };
    let head = input.fill_buf().map_err(|e| format!("{file}: {e}"))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    // Latin-1 and Windows-1252 text is decoded to UTF-8 as it is read (Latin-1 by its
    // WHATWG meaning, which is Windows-1252).
    if matches!(source.encoding, Encoding::Latin1 | Encoding::Windows1252) {
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding_rs::WINDOWS_1252))
            .build(input);
        input = Box::new(BufReader::new(decoded));
    }
    let reader = csv::ReaderBuilder::new()
        .delimiter(source.delimiter.bytes().next().unwrap_or(b','))
        .has_headers(source.header)
        .flexible(true)
        .buffer_capacity(CSV_BUFFER)
        .from_reader(Box::new(Capped {
            inner: CrlfToLf::new(input),
            read: 0,
            limit: cap,
        }) as Box<dyn Read + Send>);
    Ok((reader, gzip))
}

/// Reads CRLF line ends as LF, so the `csv` reader's line numbers are right for files
/// from Windows tools (it miscounts lines after CRLF). A CRLF inside a quoted field is
/// read as LF too; a lone CR is kept.
struct CrlfToLf<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl<R: Read> CrlfToLf<R> {
    fn new(inner: R) -> Self {
        CrlfToLf {
            inner,
            buf: vec![0u8; 1 << 16].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if self.start == self.end {
                if written > 0 {
                    break;
                }
                let n = self.inner.read(&mut self.buf)?;
                if n == 0 {
                    break;
                }
                self.start = 0;
                self.end = n;
            }
            let take = (self.end - self.start).min(out.len() - written);
            let available = &self.buf[self.start..self.start + take];
            // Text up to the next CR (or all of it) is copied as it is.
            let plain = memchr::memchr(b'\r', available).unwrap_or(take);
            out[written..written + plain].copy_from_slice(&available[..plain]);
            written += plain;
            self.start += plain;
            if plain == take {
                continue;
            }
            if self.start + 1 == self.end {
                // The CR is the last byte read: read on to see whether LF follows.
                self.buf[0] = b'\r';
                self.start = 0;
                self.end = 1 + self.inner.read(&mut self.buf[1..])?;
            }
            if self.end > self.start + 1 && self.buf[self.start + 1] == b'\n' {
                // CRLF: the CR is dropped, the LF is copied next.
                self.start += 1;
                continue;
            }
            // A lone CR is kept (`plain < take` left room for it).
            out[written] = b'\r';
            written += 1;
            self.start += 1;
        }
        Ok(written)
    }
}

/// A row's fields joined by commas, for the quarantine.
fn raw_text(record: &csv::ByteRecord) -> String {
    record
        .iter()
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out at most `step` bytes a read, as a socket or a decoder may.
    struct Trickle<'a> {
        input: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.input.len().min(out.len()).min(self.step);
            out[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(n)
        }
    }

    fn through(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut reader = CrlfToLf::new(Trickle { input, step: chunk });
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader.read(&mut buf).expect("reads");
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn crlf_becomes_lf_even_across_reads_and_lone_cr_stays() {
        for chunk in [1, 2, 3, 64] {
            assert_eq!(
                through(b"a\r\nb\r\n\r\nc\rd\r", chunk),
                b"a\nb\n\nc\rd\r",
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_character_cut_by_a_field_boundary_is_rejected_and_the_next_row_is_read() {
        // "é" is C3 A9: split across two fields, the row's bytes are valid UTF-8 as a whole.
        let input: &[u8] = b"a,b\nx\xC3,\xA9y\ncaf\xC3\xA9,ok\n";
        let source: CsvSource = serde_json::from_str(r#"{"path": "x.csv"}"#).expect("source");
        let mut reader = CsvReader::open("x.csv", Box::new(input), &source, 10).expect("opens");
        let raw = reader.next_batch().expect("reads").expect("a batch");
        assert_eq!(raw.lines, [3]);
        assert_eq!(raw.rejects.len(), 1);
        assert_eq!(raw.rejects[0].line, 2);
        assert!(
            raw.rejects[0].reason.contains("column 'a'"),
            "{}",
            raw.rejects[0].reason
        );
        let first = raw
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>();
        assert_eq!(first.map(|c| c.value(0)), Some("café"));
    }
}
