//! A deliver batch made ready to write, off the runtime's thread: the records delivered
//! before dropped, the rest checked (JSON lines) or decoded (Parquet), grouped by
//! partition path, and made into the bodies of the batch's objects and of its quarantine
//! object. A record the check does not take, or a Parquet batch that does not decode, is
//! judged by arrow-json alone (see [`judge`]), so a poison record costs about its own
//! decode, not the whole batch's again.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::file::properties::WriterProperties;

use super::record_check::RecordCheck;
use super::window::Window;
use crate::backend::Message;
use crate::flow::error::FlowError;
use crate::flow::partition::Partitioner;
use crate::parquet_settings::parquet_properties;
use crate::spec::storage::{Format, Layout};

/// Records decoded at a time, the pieces then put together: the decoder's JSON tape stays
/// small and is reused, rather than one tape as large as the batch (measured with batches
/// of 50,000: about 10% less CPU, a sixth fewer page faults).
const DECODE_CHUNK: usize = 8192;

fn record_hash(message: &Message) -> u64 {
    crate::hash::hash_of(&(&message.key, &message.value))
}

/// What turns a batch's records into the bodies of its objects: the work of a batch that
/// needs no store, which deliver runs on a blocking thread.
pub(super) struct Preparer {
    /// The dataset's schema, for decoding.
    schema: SchemaRef,
    /// The partitioning, of a batch of the [`Preparer::columns`] alone.
    partitioner: Partitioner,
    /// The dataset's fields the partition paths read.
    columns: Vec<usize>,
    /// The quick check of records: what JSON-lines layouts read a batch with, and what
    /// finds the poison of a Parquet batch that does not decode.
    check: RecordCheck,
    /// The layout's file format.
    format: Format,
    /// The settings of Parquet objects (the layout's codec).
    properties: WriterProperties,
    /// The topic, named in the quarantined records.
    topic: String,
    /// The layout's prefix.
    prefix: String,
    /// The flow's name, which names its quarantine folder.
    flow: String,
}

/// A batch ready to be written.
pub(super) struct Prepared {
    /// Records dropped as delivered before (same key and bytes).
    pub(super) duplicates: u64,
    /// The hashes of the records kept.
    pub(super) hashes: Vec<u64>,
    /// The quarantine object of the undecodable records: key, body and records.
    pub(super) quarantine: Option<(String, Vec<u8>, u64)>,
    /// The objects of the records kept: key, body (in parts, see [`LineParts`]) and
    /// records.
    pub(super) objects: Vec<(String, Vec<Bytes>, u64)>,
}

impl Preparer {
    /// The preparer of deliver flow `flow`'s batches, records of `topic` written to
    /// `layout`, of the dataset of `schema`: the layout's partitioning and the record
    /// check compiled.
    pub(super) fn new(
        schema: SchemaRef,
        layout: &Layout,
        topic: &str,
        flow: &str,
    ) -> Result<Preparer, FlowError> {
        let (columns, partitioner) =
            Partitioner::compile(&layout.partition_by, &schema)?.projected();
        let check = RecordCheck::new(&schema, &columns);
        let properties = parquet_properties(layout.compression, &schema);
        Ok(Preparer {
            schema,
            partitioner,
            columns,
            check,
            format: layout.format,
            properties,
            topic: topic.to_owned(),
            prefix: layout.prefix.clone(),
            flow: flow.to_owned(),
        })
    }

    /// Drops the `messages` delivered before (by `window`), reads the rest, and makes the
    /// batch's objects, named after `file` (the batch's topic, partition and start).
    pub(super) fn prepare(
        &self,
        window: &Window,
        messages: Vec<Message>,
        partition: u32,
        file: &str,
    ) -> Result<Prepared, FlowError> {
        let count = messages.len();
        let (fresh, hashes) = drop_delivered(window, messages);
        let Decoded {
            batch,
            columns,
            kept,
            poison,
        } = read(
            &self.schema,
            &self.check,
            self.format,
            &self.columns,
            &fresh,
        )?;
        let quarantine = (!poison.is_empty()).then(|| {
            let body = crate::flow::jsonl_body(poison.iter().map(|(i, reason)| {
                let message = &fresh[*i];
                serde_json::json!({
                    "topic": self.topic, "partition": partition, "offset": message.offset,
                    "raw": String::from_utf8_lossy(&message.value), "reason": reason,
                })
            }));
            let key = format!("{}_rejects/{}/{file}.jsonl", self.prefix, self.flow);
            (key, body, poison.len() as u64)
        });
        let mut objects = Vec::new();
        if let Some(columns) = columns {
            for (path, rows) in self.partitioner.group(&columns)? {
                let (ext, body) = match self.format {
                    Format::Parquet => {
                        let batch = batch.as_ref().ok_or("a Parquet batch was not decoded")?;
                        ("parquet", vec![self.parquet(batch, &rows)?.into()])
                    }
                    _ => {
                        let mut body = LineParts::default();
                        for &row in &rows {
                            body.push(&fresh[kept[row as usize]]);
                        }
                        ("jsonl", body.finish())
                    }
                };
                let key = format!("{}{path}{file}.{ext}", self.prefix);
                objects.push((key, body, rows.len() as u64));
            }
        }
        Ok(Prepared {
            duplicates: (count - fresh.len()) as u64,
            hashes,
            quarantine,
            objects,
        })
    }

    /// Rows `rows` of `batch` as one Parquet file.
    fn parquet(&self, batch: &RecordBatch, rows: &[u32]) -> Result<Vec<u8>, FlowError> {
        let indices = arrow_array::UInt32Array::from(rows.to_vec());
        let part = arrow_select::take::take_record_batch(batch, &indices)?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            Vec::new(),
            batch.schema(),
            Some(self.properties.clone()),
        )?;
        writer.write(&part)?;
        writer.into_inner().map_err(FlowError::from)
    }
}

/// A JSON-lines body made as parts: runs of records that lie one after the other, each
/// followed by its line break, in the buffer they were fetched into are slices of it
/// ([`Message::buffer`]); the other records, and runs too short to be worth a part of their
/// own, are copied into parts of their own. For records fetched in the order their objects
/// take them (a feed read in time order, partitioned by day), a batch's bodies are a few
/// slices each, and no record is copied again.
#[derive(Default)]
struct LineParts {
    /// The parts made so far.
    parts: Vec<Bytes>,
    /// Records copied since the last part.
    copied: Vec<u8>,
    /// The run of records being extended: a fetch buffer and the range of it.
    run: Option<(Bytes, std::ops::Range<usize>)>,
}

/// Runs shorter than this are copied, so a body in records of scattered order is not
/// thousands of tiny parts.
const MIN_RUN: usize = 16 << 10;

impl LineParts {
    /// Adds `message`'s value as the body's next line.
    fn push(&mut self, message: &Message) {
        let value = &message.value;
        // A record without a buffer is scanned for line breaks once, when copied.
        let line = message
            .buffer
            .as_ref()
            .filter(|_| memchr::memchr2(b'\n', b'\r', value).is_none())
            .and_then(|buffer| {
                // Where the value lies in its buffer; its line break follows it there.
                let start = (value.as_ptr() as usize).checked_sub(buffer.as_ptr() as usize)?;
                let end = start + value.len() + 1;
                (buffer.get(end - 1) == Some(&b'\n')).then_some((buffer, start..end))
            });
        // The same buffer: the same bytes, not merely the same start.
        let same = |a: &Bytes, b: &Bytes| a.as_ptr() == b.as_ptr() && a.len() == b.len();
        match (line, &mut self.run) {
            (Some((buffer, line)), Some((run_buffer, run)))
                if same(run_buffer, buffer) && run.end == line.start =>
            {
                run.end = line.end;
            }
            (Some((buffer, line)), _) => {
                self.end_run();
                self.run = Some((buffer.clone(), line));
            }
            (None, _) => {
                self.end_run();
                push_one_line(&mut self.copied, value);
                self.copied.push(b'\n');
            }
        }
    }

    /// Ends the run being extended: a part of its own, or copied when short.
    fn end_run(&mut self) {
        let Some((buffer, run)) = self.run.take() else {
            return;
        };
        if run.len() < MIN_RUN {
            self.copied.extend_from_slice(&buffer[run]);
            return;
        }
        self.end_copied();
        self.parts.push(buffer.slice(run));
    }

    /// Makes the records copied since the last part a part.
    fn end_copied(&mut self) {
        if !self.copied.is_empty() {
            self.parts.push(std::mem::take(&mut self.copied).into());
        }
    }

    /// The body's parts.
    fn finish(mut self) -> Vec<Bytes> {
        self.end_run();
        self.end_copied();
        self.parts
    }
}

/// Appends a JSON record to `body` on one line. A raw line break (CR or LF) outside a
/// string is whitespace between tokens (a pretty-printed record): it becomes a space. One
/// inside a string, which arrow-json's decoder lets through though JSON does not, becomes
/// its escape (`\n`, `\r`), so the string keeps its value, as a Parquet object would. Left
/// as they came, they would split the record across lines of the object, and readers of
/// JSON lines (Athena's among them) take CR as well as LF for a line's end. `record` is
/// valid JSON as far as strings and escapes go (it passed the check or the decode).
fn push_one_line(body: &mut Vec<u8>, record: &[u8]) {
    if memchr::memchr2(b'\n', b'\r', record).is_none() {
        body.extend_from_slice(record);
        return;
    }
    let (mut in_string, mut escaped) = (false, false);
    for &byte in record {
        match byte {
            b'\n' | b'\r' if in_string => {
                escaped = false;
                body.extend_from_slice(if byte == b'\n' { b"\\n" } else { b"\\r" });
            }
            b'\n' | b'\r' => body.push(b' '),
            _ => {
                if escaped {
                    escaped = false;
                } else if in_string && byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = !in_string;
                }
                body.push(byte);
            }
        }
    }
}

/// The `messages` not delivered before (by `window`) nor repeated earlier in the batch,
/// with their hashes.
fn drop_delivered(window: &Window, mut messages: Vec<Message>) -> (Vec<Message>, Vec<u64>) {
    let mut in_batch =
        foldhash::HashSet::with_capacity_and_hasher(messages.len(), Default::default());
    let mut hashes = Vec::with_capacity(messages.len());
    messages.retain(|message| {
        let hash = record_hash(message);
        let fresh = !window.contains(hash) && in_batch.insert(hash);
        if fresh {
            hashes.push(hash);
        }
        fresh
    });
    (messages, hashes)
}

/// A batch's records as deliver writes them.
#[derive(Default)]
struct Decoded {
    /// The records decoded, when the layout writes Parquet.
    batch: Option<RecordBatch>,
    /// The partition columns of the records kept (none when none is).
    columns: Option<RecordBatch>,
    /// The indices of the records kept, in row order.
    kept: Vec<usize>,
    /// The indices of the undecodable records, with the reason.
    poison: Vec<(usize, String)>,
}

/// Reads `messages` for delivery to a layout of `format`. A JSON-lines batch is read by
/// the `check`, which yields only the partition `columns`; a Parquet batch, or one the
/// check takes no record of, is decoded whole by arrow-json first. The records left (for
/// Parquet, when the batch does not decode whole) are [`judge`]d by arrow-json.
fn read(
    schema: &SchemaRef,
    check: &RecordCheck,
    format: Format,
    columns: &[usize],
    messages: &[Message],
) -> Result<Decoded, FlowError> {
    if messages.is_empty() {
        return Ok(Decoded::default());
    }
    let parquet = format == Format::Parquet;
    let checked = (!parquet).then(|| check.check(messages));
    let none_checked = checked
        .as_ref()
        .is_none_or(|checked| checked.others.len() == messages.len());
    let mut whole_failed = None;
    if none_checked {
        match decode_all(schema, messages.iter()) {
            Ok(batch) => {
                let all = (0..messages.len()).collect();
                return decoded(Some(batch), columns, parquet, all, Vec::new());
            }
            Err(reason) => whole_failed = Some(reason.to_string()),
        }
    }
    let checked = checked.unwrap_or_else(|| check.check(messages));
    let mut poison = Vec::new();
    match whole_failed {
        // The whole batch is what the judge would try first: it failed already.
        Some(reason) if checked.others.len() == messages.len() => {
            judge_failed(schema, messages, &checked.others, reason, &mut poison);
        }
        _ => judge(schema, messages, &checked.others, &mut poison),
    }
    let mut kept = all_but(messages.len(), &poison);
    if kept.is_empty() {
        return Ok(Decoded {
            poison,
            ..Decoded::default()
        });
    }
    if !parquet {
        let bad: Vec<usize> = poison.iter().map(|(i, _)| *i).collect();
        if let Some(columns) = check.columns(checked, messages, &bad) {
            return Ok(Decoded {
                batch: None,
                columns: Some(columns),
                kept,
                poison,
            });
        }
    }
    let batch = match decode_all(schema, kept.iter().map(|&i| &messages[i])) {
        Ok(batch) => Some(batch),
        // A record the check passed that arrow-json refuses, which the check's form rules
        // out: rather than fail the batch for good, every record kept is judged.
        Err(_) => {
            judge(schema, messages, &kept, &mut poison);
            poison.sort_unstable_by_key(|(i, _)| *i);
            kept = all_but(messages.len(), &poison);
            match kept.is_empty() {
                true => None,
                false => Some(decode_all(schema, kept.iter().map(|&i| &messages[i]))?),
            }
        }
    };
    decoded(batch, columns, parquet, kept, poison)
}

/// The records `kept` decoded as `batch`: its partition `columns`, and for Parquet the
/// batch itself.
fn decoded(
    batch: Option<RecordBatch>,
    columns: &[usize],
    parquet: bool,
    kept: Vec<usize>,
    poison: Vec<(usize, String)>,
) -> Result<Decoded, FlowError> {
    let columns = match &batch {
        Some(batch) => Some(batch.project(columns)?),
        None => None,
    };
    Ok(Decoded {
        columns,
        batch: batch.filter(|_| parquet),
        kept,
        poison,
    })
}

/// The indices below `count` but those of the `poison` (ascending).
fn all_but(count: usize, poison: &[(usize, String)]) -> Vec<usize> {
    let mut bad = poison.iter().map(|(i, _)| *i).peekable();
    (0..count)
        .filter(|&i| bad.next_if_eq(&i).is_none())
        .collect()
}

/// Adds to `poison` (in ascending order) the records among `messages[indices]` (indices
/// ascending) that arrow-json does not decode, with the reason. They are decoded together
/// first, and a set that fails is split in halves, down to single records: a batch with
/// one poison record is decoded about twice, not record by record.
fn judge(
    schema: &SchemaRef,
    messages: &[Message],
    indices: &[usize],
    poison: &mut Vec<(usize, String)>,
) {
    if indices.is_empty() {
        return;
    }
    if let Err(reason) = decode_all(schema, indices.iter().map(|&i| &messages[i])) {
        judge_failed(schema, messages, indices, reason.to_string(), poison);
    }
}

/// [`judge`] for records known not to decode together (for `reason`): a single one is
/// poison, more are judged in halves.
fn judge_failed(
    schema: &SchemaRef,
    messages: &[Message],
    indices: &[usize],
    reason: String,
    poison: &mut Vec<(usize, String)>,
) {
    if let [index] = indices {
        poison.push((*index, reason));
        return;
    }
    let (left, right) = indices.split_at(indices.len() / 2);
    judge(schema, messages, left, poison);
    judge(schema, messages, right, poison);
}

/// Decodes records that are each one JSON object of the dataset's fields: by one decoder,
/// [`DECODE_CHUNK`] records at a time, the pieces then put together.
pub(super) fn decode_all<'m>(
    schema: &SchemaRef,
    messages: impl ExactSizeIterator<Item = &'m Message>,
) -> Result<RecordBatch, FlowError> {
    // One row more than a chunk's records: a record holding a second object shows as an
    // extra row rather than as the end of the chunk. (The decoder reserves room for as many
    // rows, so a short input gets a small one.)
    let chunk = messages.len().min(DECODE_CHUNK);
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(chunk + 1)
        .with_strict_mode(true)
        .build_decoder()?;
    let mut pieces = Vec::with_capacity(messages.len().div_ceil(DECODE_CHUNK));
    for (i, message) in messages.enumerate() {
        if !message.value.trim_ascii_start().starts_with(b"{") {
            return Err("not a JSON object".into());
        }
        crate::flow::feed_json(&mut decoder, &message.value)?;
        // Exactly one row per record: a record with two objects, or with anything after
        // its object, is poison too.
        if decoder.len() != i % DECODE_CHUNK + 1 || decoder.has_partial_record() {
            return Err("not exactly one JSON object".into());
        }
        if decoder.len() == DECODE_CHUNK {
            pieces.extend(decoder.flush()?);
        }
    }
    pieces.extend(decoder.flush()?);
    if pieces.is_empty() {
        return Err("no rows".into());
    }
    arrow_select::concat::concat_batches(schema, &pieces).map_err(FlowError::from)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn record_hashes_match_those_of_the_byte_vectors_states_were_written_with() {
        // States written when messages held `Vec<u8>`s list hashes of the same records;
        // the dedupe window must still recognise them.
        for key in [None, Some(b"2024-000123".to_vec())] {
            let value = br#"{"offense_id":"123"}"#.to_vec();
            let message = Message {
                offset: 7,
                key: key.clone().map(Bytes::from),
                value: Bytes::from(value.clone()),
                buffer: None,
            };
            assert_eq!(record_hash(&message), crate::hash::hash_of(&(&key, &value)));
        }
    }

    /// The one object a batch of `values` (offsets from 0, no keys, none poison) makes in a
    /// `format` layout without partitions: its key, body and rows.
    fn one_object(
        schema: SchemaRef,
        format: Format,
        compression: Option<crate::spec::storage::Codec>,
        values: &[&str],
    ) -> (String, Vec<u8>, u64) {
        let layout = Layout {
            prefix: "incremental_data/".into(),
            format,
            compression,
            partition_by: Vec::new(),
            rotate: None,
        };
        let preparer = Preparer::new(schema, &layout, "t", "deliver").expect("compiles");
        let messages = Message::numbered(values);
        let prepared = preparer
            .prepare(&Window::default(), messages, 0, "t+0+0")
            .expect("prepares");
        assert!(prepared.quarantine.is_none());
        let mut objects = prepared.objects;
        assert_eq!(objects.len(), 1, "one object expected");
        let (key, parts, rows) = objects.remove(0);
        (key, parts.concat(), rows)
    }

    #[test]
    fn a_json_lines_body_is_slices_of_the_fetch_buffer_where_records_lie_in_order() {
        // A fetch buffer as Kafka fetches fill it: each value followed by a line break.
        let pad = "x".repeat(60);
        let values: Vec<String> = (0..2000)
            .map(|i| format!(r#"{{"a":{i},"s":"{pad}"}}"#))
            .collect();
        let mut text = String::new();
        let mut ranges = Vec::new();
        for value in &values {
            ranges.push(text.len()..text.len() + value.len());
            text.push_str(value);
            text.push('\n');
        }
        let buffer = Bytes::from(text);
        let fetched = |i: usize| Message {
            offset: i as u64,
            key: None,
            value: buffer.slice(ranges[i].clone()),
            buffer: Some(buffer.clone()),
        };
        let body = |messages: &[Message]| {
            let mut body = LineParts::default();
            messages.iter().for_each(|m| body.push(m));
            body.finish()
        };
        // The body expected, as text; row 1500 may stand for a record with a line break
        // between its tokens.
        let lines = |rows: &[usize], broken: bool| -> String {
            rows.iter()
                .map(|&i| match i {
                    1500 if broken => "{\"a\": 1500}\n".to_owned(),
                    _ => format!("{}\n", values[i]),
                })
                .collect()
        };
        let text = |parts: &[Bytes]| String::from_utf8(parts.concat()).expect("UTF-8");
        let in_buffer = |part: &Bytes| {
            let start = part.as_ptr() as usize;
            let buffer_start = buffer.as_ptr() as usize;
            (buffer_start..buffer_start + buffer.len()).contains(&start)
        };
        // Records in order: one slice of the buffer, no copy.
        let all: Vec<usize> = (0..2000).collect();
        let parts = body(&all.iter().map(|&i| fetched(i)).collect::<Vec<_>>());
        assert_eq!(parts.len(), 1);
        assert!(in_buffer(&parts[0]));
        assert!(text(&parts) == lines(&all, false), "the records in order");
        // A record left out (a duplicate dropped), one with a line break of its own, one
        // without a buffer, a short run and records out of order: the lines still come
        // in the order given, the long runs as slices and the rest copied.
        let mut broken = fetched(1500);
        broken.value = Bytes::from_static(b"{\"a\":\n1500}");
        let mut rows: Vec<usize> = (0..1000).chain(1001..1500).collect();
        rows.extend([1600, 1601, 1500, 5, 4]);
        rows.extend(1700..2000);
        let messages: Vec<Message> = rows
            .iter()
            .map(|&i| match i {
                1500 => broken.clone(),
                1601 => Message {
                    buffer: None,
                    ..fetched(i)
                },
                _ => fetched(i),
            })
            .collect();
        let parts = body(&messages);
        assert!(
            text(&parts) == lines(&rows, true),
            "the lines in the order given"
        );
        let slices: Vec<bool> = parts.iter().map(in_buffer).collect();
        // Rows 0..1000 and 1001..1500 (slices), the five odd ones copied, 1700..2000.
        assert_eq!(slices, [true, true, false, true]);
    }

    proptest::proptest! {
        /// Whatever the records and their order, a body in parts is what copying each
        /// record's line gives: values with line breaks of their own, empty ones, ones not
        /// followed by a line break in their buffer, and two buffers of the same layout.
        #[test]
        fn a_body_in_parts_is_the_records_lines_in_the_order_given(
            records in proptest::collection::vec(
                (proptest::sample::select(vec!["", "{}", "{\"a\":1}", "{\n}", "{\"s\":\"x\ry\"}"]),
                 0usize..1000, proptest::bool::weighted(0.95)),
                1..60),
            picks in proptest::collection::vec((0usize..60, 1usize..40, proptest::bool::ANY), 0..12),
        ) {
            // Two buffers laid out alike but for their padding bytes: a record's value,
            // padded, then its line break (or, for some, another byte, which the fetch
            // never writes).
            let layout = |pad: u8| {
                let mut text = Vec::new();
                let mut ranges = Vec::new();
                for (value, size, line_break) in &records {
                    let start = text.len();
                    text.extend_from_slice(value.as_bytes());
                    text.extend(std::iter::repeat_n(pad, *size));
                    ranges.push(start..text.len());
                    text.push(if *line_break { b'\n' } else { b'x' });
                }
                (Bytes::from(text), ranges)
            };
            let buffers = [layout(b' '), layout(b'\t')];
            // Runs of records in buffer order (wrapping round), from either buffer.
            let messages: Vec<Message> = picks
                .iter()
                .flat_map(|&(start, count, second)| {
                    let (buffer, ranges) = &buffers[usize::from(second)];
                    (start..start + count).map(move |at| Message {
                        offset: at as u64,
                        key: None,
                        value: buffer.slice(ranges[at % ranges.len()].clone()),
                        buffer: Some(buffer.clone()),
                    })
                })
                .collect();
            let mut expected = Vec::new();
            let mut parts = LineParts::default();
            for message in &messages {
                push_one_line(&mut expected, &message.value);
                expected.push(b'\n');
                parts.push(message);
            }
            proptest::prop_assert_eq!(parts.finish().concat(), expected);
        }
    }

    #[test]
    fn a_record_with_line_breaks_is_written_on_one_line_with_its_values() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("a", arrow_schema::DataType::Int64, true),
            arrow_schema::Field::new("s", arrow_schema::DataType::Utf8, true),
        ]));
        // Pretty-printed (line breaks between tokens), a CRLF after the object, and raw
        // line breaks inside a string (which arrow-json's decoder takes), next to escapes.
        let values = [
            "{\n  \"a\": 1\n}",
            "{\"a\":2}\r\n",
            "{\"a\":3,\"s\":\"x\ny\r\\\"z\\\\\"}",
        ];
        let (key, body, rows) = one_object(schema, Format::Jsonl, None, &values);
        assert_eq!((key.as_str(), rows), ("incremental_data/t+0+0.jsonl", 3));
        let text = std::str::from_utf8(&body).expect("UTF-8");
        assert_eq!(
            text,
            "{   \"a\": 1 }\n{\"a\":2}  \n{\"a\":3,\"s\":\"x\\ny\\r\\\"z\\\\\"}\n"
        );
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("one record a line"))
            .collect();
        let a: Vec<_> = records.iter().map(|r| r["a"].as_i64()).collect();
        assert_eq!(a, [Some(1), Some(2), Some(3)]);
        assert_eq!(records[2]["s"], "x\ny\r\"z\\");
    }

    #[test]
    fn parquet_objects_use_the_layout_s_codec_snappy_by_default() {
        use parquet::basic::Compression;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let codec_of = |compression| {
            let values = [r#"{"a":0}"#, r#"{"a":1}"#, r#"{"a":2}"#];
            let (key, body, rows) = one_object(int_schema(), Format::Parquet, compression, &values);
            assert_eq!((key.as_str(), rows), ("incremental_data/t+0+0.parquet", 3));
            let reader = SerializedFileReader::new(Bytes::from(body)).expect("Parquet");
            assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
            reader.metadata().row_group(0).column(0).compression()
        };
        assert_eq!(codec_of(None), Compression::SNAPPY);
        assert!(matches!(
            codec_of(Some(crate::spec::storage::Codec::Zstd)),
            Compression::ZSTD(_)
        ));
        assert!(matches!(
            codec_of(Some(crate::spec::storage::Codec::Gzip)),
            Compression::GZIP(_)
        ));
        assert_eq!(
            codec_of(Some(crate::spec::storage::Codec::None)),
            Compression::UNCOMPRESSED
        );
    }

    /// What a layout of `format` partitioned by `columns` reads of `messages`.
    fn read_as(
        format: Format,
        columns: &[usize],
        schema: &SchemaRef,
        messages: &[Message],
    ) -> Result<Decoded, FlowError> {
        let check = RecordCheck::new(schema, columns);
        read(schema, &check, format, columns, messages)
    }

    /// What a Parquet layout without partitions reads of `messages`.
    fn decode(schema: &SchemaRef, messages: &[Message]) -> Result<Decoded, FlowError> {
        read_as(Format::Parquet, &[], schema, messages)
    }

    /// Records of one nullable integer field, `a`.
    fn int_schema() -> SchemaRef {
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "a",
            arrow_schema::DataType::Int64,
            true,
        )]))
    }

    #[test]
    fn a_record_that_is_not_exactly_one_object_is_poison_and_the_rest_decode() {
        let schema = int_schema();
        let message = |value: &str, offset| Message {
            offset,
            key: None,
            value: Bytes::copy_from_slice(value.as_bytes()),
            buffer: None,
        };
        for bad in [
            r#"{"a":1"#,
            r#"{"a":1}{"a":2}"#,
            r#"{"a":1} {"a":2}"#,
            r#"{"a":1} 12"#,
            r#"{"a":1} {"#,
            r#"[1]"#,
            r#"{"a":"x"}"#,
        ] {
            let messages = [
                message(r#"{"a":5}"#, 0),
                message(bad, 1),
                message(r#"{"a":6}"#, 2),
            ];
            let Decoded {
                batch,
                kept,
                poison,
                ..
            } = decode(&schema, &messages).unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert_eq!(kept, [0, 2], "{bad}");
            assert_eq!(poison.len(), 1, "{bad}");
            assert_eq!(poison[0].0, 1, "{bad}");
            assert_eq!(batch.map(|b| b.num_rows()), Some(2), "{bad}");
        }
        let Decoded {
            batch,
            kept,
            poison,
            ..
        } = decode(
            &schema,
            &[message(r#"{"a":5}"#, 0), message(r#" {"a":6} "#, 1)],
        )
        .expect("decodes");
        assert_eq!((kept, poison.len()), (vec![0, 1], 0));
        assert_eq!(batch.map(|b| b.num_rows()), Some(2));
    }

    #[test]
    fn a_batch_larger_than_a_decoding_chunk_keeps_its_rows_in_order() {
        let schema = int_schema();
        let count = DECODE_CHUNK + DECODE_CHUNK / 2;
        let values: Vec<String> = (0..count).map(|i| format!(r#"{{"a":{i}}}"#)).collect();
        let mut messages = Message::numbered(&values);
        let values = |batch: &RecordBatch| -> Vec<i64> {
            let column = batch.column(0);
            let ints = arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int64Type>(
                column.as_ref(),
            );
            ints.values().to_vec()
        };
        let Decoded {
            batch,
            kept,
            poison,
            ..
        } = decode(&schema, &messages).expect("decodes");
        let batch = batch.expect("rows");
        assert_eq!(values(&batch), (0..count as i64).collect::<Vec<_>>());
        assert_eq!((kept.len(), poison.len()), (count, 0));
        // Poison as the first chunk's last record (two objects: one row too many for the
        // chunk) and in the second chunk: found, and the rest kept in order.
        let bad = [DECODE_CHUNK - 1, DECODE_CHUNK + 3];
        messages[bad[0]].value = Bytes::from_static(br#"{"a":1}{"a":2}"#);
        messages[bad[1]].value = Bytes::from_static(b"{oops");
        let Decoded {
            batch,
            kept,
            poison,
            ..
        } = decode(&schema, &messages).expect("decodes");
        assert_eq!(poison.iter().map(|(i, _)| *i).collect::<Vec<_>>(), bad);
        assert_eq!(kept.len(), count - 2);
        let expected: Vec<i64> = (0..count)
            .filter(|i| !bad.contains(i))
            .map(|i| i as i64)
            .collect();
        assert_eq!(values(&batch.expect("rows")), expected);
    }

    #[test]
    fn poison_among_records_the_check_does_not_take_is_found_and_the_rest_kept() {
        let schema = int_schema();
        let value = |i: usize| match i {
            // Not of the check's form, but arrow-json decodes them.
            _ if i % 97 == 5 => format!(r#"{{"a":{i},"a":{i}}}"#),
            _ if i % 89 == 7 => format!(r#"{{"a":{i}.0}}"#),
            _ => format!(r#"{{"a":{i}}}"#),
        };
        let count = DECODE_CHUNK + 500;
        let bad = [3, 1000, DECODE_CHUNK + 1];
        let values: Vec<String> = (0..count)
            .map(|i| match bad.contains(&i) {
                true => r#"{"a":"#.to_owned(),
                false => value(i),
            })
            .collect();
        let messages = Message::numbered(&values);
        let kept: Vec<usize> = (0..count).filter(|i| !bad.contains(i)).collect();
        // What arrow-json makes of the records kept, decoded one by one.
        let rows: Vec<RecordBatch> = kept
            .iter()
            .map(|&i| decode_all(&schema, std::iter::once(&messages[i])).expect("decodes"))
            .collect();
        let expected = arrow_select::concat::concat_batches(&schema, &rows).unwrap();
        for format in [Format::Jsonl, Format::Parquet] {
            let read = read_as(format, &[0], &schema, &messages).expect("reads");
            let found: Vec<usize> = read.poison.iter().map(|(i, _)| *i).collect();
            assert_eq!(found, bad, "{format:?}");
            assert!(read.poison.iter().all(|(_, reason)| !reason.is_empty()));
            assert_eq!(read.kept, kept, "{format:?}");
            assert_eq!(read.columns.as_ref(), Some(&expected), "{format:?}");
            let batch = read.batch.as_ref();
            assert_eq!(batch, (format == Format::Parquet).then_some(&expected));
        }
        // A batch of records the check takes none of is decoded whole, as arrow-json
        // decodes it.
        let odd_values: Vec<String> = (0..300).map(|i| format!(r#"{{"a":{i}.0}}"#)).collect();
        let odd = Message::numbered(&odd_values);
        let whole = decode_all(&schema, odd.iter()).expect("decodes");
        for format in [Format::Jsonl, Format::Parquet] {
            let read = read_as(format, &[0], &schema, &odd).expect("reads");
            assert!(read.poison.is_empty(), "{format:?}");
            assert_eq!(read.kept, (0..300).collect::<Vec<_>>(), "{format:?}");
            assert_eq!(read.columns.as_ref(), Some(&whole), "{format:?}");
            let batch = read.batch.as_ref();
            assert_eq!(batch, (format == Format::Parquet).then_some(&whole));
        }
        // A batch of poison alone keeps nothing.
        let poison: Vec<Message> = bad.iter().map(|&i| messages[i].clone()).collect();
        for format in [Format::Jsonl, Format::Parquet] {
            let read = read_as(format, &[0], &schema, &poison).expect("reads");
            assert_eq!((read.kept.len(), read.poison.len()), (0, 3), "{format:?}");
            assert!(read.columns.is_none() && read.batch.is_none());
        }
    }

    #[test]
    fn a_record_the_check_passes_but_arrow_json_refuses_is_poison_not_the_batch_s_end() {
        // A check of another schema (`a` text) passes `{"a":"x"}`, which the batch's own
        // schema (`a` an integer) refuses: the batch is judged, not failed.
        let schema = int_schema();
        let text = arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "a",
            arrow_schema::DataType::Utf8,
            true,
        )]);
        let check = RecordCheck::new(&text, &[]);
        let messages = Message::numbered(&[r#"{"a":1}"#, r#"{"a":"x"}"#, r#"{"a":3}"#]);
        let read = read(&schema, &check, Format::Parquet, &[0], &messages).expect("reads");
        assert_eq!(read.kept, [0, 2]);
        assert_eq!(read.poison.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
        assert_eq!(read.batch.map(|b| b.num_rows()), Some(2));
        assert_eq!(read.columns.map(|b| b.num_rows()), Some(2));
    }
}
