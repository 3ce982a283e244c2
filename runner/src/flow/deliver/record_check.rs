//! A quick check that a batch of records are JSON objects of a dataset's fields: it builds
//! no Arrow arrays, only the few columns the partition paths read. Layouts that write the
//! records as they came (JSONL) read every batch with it; Parquet layouts use it to find
//! the poison of a batch that does not decode whole.
//!
//! arrow-json's decoder is what decides whether a record is poison. This check accepts a
//! narrower form, the one the runner's ingest writes: an object whose keys are the
//! dataset's fields, each at most once, holding `null` or, by the field's type, a string
//! (text), an integer within 64 bits (int), a finite number (double), `true`/`false`
//! (bool), `YYYY-MM-DD` (date), or `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (timestamp), each a
//! real calendar day and time of the years 1000 to 9999. arrow-json decodes every record
//! of that form. [`RecordCheck::check`] reads a batch record by record and names the
//! records not of that form; the caller has arrow-json judge those alone, which tells
//! poison from records in forms this check does not take, so one odd record costs its
//! own decode, not the batch's. The partition columns themselves are decoded by
//! arrow-json ([`RecordCheck::columns`]), from the values the check read written out
//! again, or from the record itself for one the check did not take, so they equal what
//! the whole decode gives.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Schema, SchemaRef};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::backend::Message;

/// The form a field's values take.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Date,
    Timestamp,
    /// Anything else (points): only `null` passes the check.
    Other,
}

/// A compiled check of records against a schema.
#[derive(Debug)]
pub struct RecordCheck {
    /// Each field's name, kind, and its place among the partition columns.
    fields: Vec<(String, Kind, Option<usize>)>,
    /// Field positions by name.
    positions: HashMap<String, usize>,
    /// The partition columns' schema.
    columns: SchemaRef,
}

impl RecordCheck {
    /// A check of records against `schema`, collecting its fields `columns` (ascending).
    pub fn new(schema: &Schema, columns: &[usize]) -> RecordCheck {
        let fields = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let kind = match field.data_type() {
                    DataType::Utf8 => Kind::Text,
                    DataType::Int64 => Kind::Int,
                    DataType::Float64 => Kind::Float,
                    DataType::Boolean => Kind::Bool,
                    DataType::Date32 => Kind::Date,
                    DataType::Timestamp(_, _) => Kind::Timestamp,
                    _ => Kind::Other,
                };
                let column = columns.iter().position(|&c| c == i);
                (field.name().clone(), kind, column)
            })
            .collect::<Vec<_>>();
        let positions = fields
            .iter()
            .enumerate()
            .map(|(i, (name, _, _))| (name.clone(), i))
            .collect();
        let columns = Arc::new(schema.project(columns).unwrap_or_else(|_| Schema::empty()));
        RecordCheck {
            fields,
            positions,
            columns,
        }
    }

    /// Reads `records` one by one: the partition values of those of the form this check
    /// accepts (see the module's documentation), and which are not of it.
    pub fn check(&self, records: &[Message]) -> Checked {
        // The partition values of every record, as JSON objects one after the other.
        let mut values = Vec::with_capacity(records.len() * (2 + 32 * self.columns.fields().len()));
        // Which record last had each field, to find a field given twice.
        let mut seen = vec![usize::MAX; self.fields.len()];
        let mut others = Vec::new();
        for (n, record) in records.iter().enumerate() {
            let start = values.len();
            if self.read(n, record, &mut seen, &mut values).is_none() {
                values.truncate(start);
                others.push(n);
            }
        }
        Checked { values, others }
    }

    /// Appends record `n`'s partition values to `values` as one line; `None` when the
    /// record is not of the check's form (and `values` holds part of a line).
    fn read(
        &self,
        n: usize,
        record: &Message,
        seen: &mut [usize],
        values: &mut Vec<u8>,
    ) -> Option<()> {
        values.push(b'{');
        // Checked as UTF-8 once, whole, rather than string by string.
        let text = std::str::from_utf8(&record.value).ok()?;
        let mut json = serde_json::Deserializer::from_str(text);
        let object = Object {
            check: self,
            record: n,
            seen,
            values,
        };
        object.deserialize(&mut json).ok()?;
        json.end().ok()?;
        values.extend_from_slice(b"}\n");
        Some(())
    }

    /// The partition columns of every record of `checked` but the `poison` (ascending,
    /// each one of [`Checked::others`]): a record of the check's form gives the values
    /// the check read, another (which arrow-json decoded whole) its own bytes. `None` when
    /// arrow-json does not take them, which the check's form rules out.
    pub fn columns(
        &self,
        checked: Checked,
        records: &[Message],
        poison: &[usize],
    ) -> Option<RecordBatch> {
        let rows = records.len() - poison.len();
        if self.columns.fields().is_empty() {
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            return RecordBatch::try_new_with_options(
                Arc::clone(&self.columns),
                Vec::new(),
                &options,
            )
            .ok();
        }
        let Checked { values, others } = checked;
        let values = if others.is_empty() {
            values
        } else {
            // Each record's line in record order. A line of the check's ends at its only
            // line break (its strings are written out escaped).
            let mut lines = values.split_inclusive(|&b| b == b'\n');
            let (mut others, mut poison) = (others.iter().peekable(), poison.iter().peekable());
            let mut merged = Vec::with_capacity(values.len());
            for (n, record) in records.iter().enumerate() {
                if others.next_if_eq(&&n).is_none() {
                    merged.extend_from_slice(lines.next()?);
                } else if poison.next_if_eq(&&n).is_none() {
                    merged.extend_from_slice(&record.value);
                    merged.push(b'\n');
                }
            }
            // Every line taken, every poison record among the others.
            if lines.next().is_some() || poison.next().is_some() {
                return None;
            }
            merged
        };
        // Not strict: a record the check did not take brings its other fields along. One
        // row more than expected, so that a row too many shows rather than stops the
        // decoder.
        let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(&self.columns))
            .with_batch_size(rows + 1)
            .build_decoder()
            .ok()?;
        crate::flow::feed_json(&mut decoder, &values).ok()?;
        let batch = decoder
            .flush()
            .ok()?
            .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&self.columns)));
        (batch.num_rows() == rows).then_some(batch)
    }
}

/// A batch as [`RecordCheck::check`] read it.
pub struct Checked {
    /// The partition values of the records of the check's form: a JSON object per line,
    /// in record order.
    values: Vec<u8>,
    /// The records not of the check's form (ascending), for arrow-json to judge.
    pub others: Vec<usize>,
}

/// One record: an object of the check's fields.
struct Object<'c> {
    check: &'c RecordCheck,
    record: usize,
    seen: &'c mut [usize],
    values: &'c mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Object<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of the dataset's fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = &self.check.fields;
        // Fields usually come in the schema's order: try the next one before the table.
        let mut next = 0;
        let mut first = true;
        while let Some(key) = map.next_key::<&'de str>()? {
            let position = match fields.get(next) {
                Some((name, _, _)) if name == key => next,
                _ => *self
                    .check
                    .positions
                    .get(key)
                    .ok_or_else(|| de::Error::custom("not a field"))?,
            };
            if self.seen[position] == self.record {
                return Err(de::Error::custom("a field given twice"));
            }
            self.seen[position] = self.record;
            next = position + 1;
            let (name, kind, column) = &fields[position];
            let out = match column {
                Some(_) => {
                    if !first {
                        self.values.push(b',');
                    }
                    first = false;
                    serde_json::to_writer(&mut *self.values, name).map_err(de::Error::custom)?;
                    self.values.push(b':');
                    Some(&mut *self.values)
                }
                None => None,
            };
            map.next_value_seed(Value { kind: *kind, out })?;
        }
        Ok(())
    }
}

/// One field's value, of a kind; copied to `out` when it is a partition column's.
struct Value<'v> {
    kind: Kind,
    out: Option<&'v mut Vec<u8>>,
}

impl Value<'_> {
    fn accept<E: de::Error>(self, fits: bool, value: impl serde::Serialize) -> Result<(), E> {
        if !fits {
            return Err(E::custom("not of the field's type"));
        }
        match self.out {
            Some(out) => serde_json::to_writer(out, &value).map_err(E::custom),
            None => Ok(()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Value<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

// serde_json hands each value over checked: strings valid UTF-8 with valid escapes (a lone
// UTF-16 surrogate refused), numbers of JSON's grammar (integers within 64 bits as
// integers, the rest as finite floats).
impl<'de> Visitor<'de> for Value<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value of the field's type")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.accept(true, ())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let fits = self.kind == Kind::Bool;
        self.accept(fits, v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let fits = matches!(self.kind, Kind::Int | Kind::Float);
        self.accept(fits, v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let fits = self.kind == Kind::Float || (self.kind == Kind::Int && i64::try_from(v).is_ok());
        self.accept(fits, v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let fits = self.kind == Kind::Float && v.is_finite();
        self.accept(fits, v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let fits = match self.kind {
            Kind::Text => true,
            Kind::Date => v.len() == 10 && date(v.as_bytes()),
            Kind::Timestamp => timestamp(v.as_bytes()),
            _ => false,
        };
        self.accept(fits, v)
    }
}

/// Two ASCII digits as a number.
fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// Whether `s` starts with a real calendar day as `YYYY-MM-DD`, from year 1000 to 9999.
fn date(s: &[u8]) -> bool {
    let (Some(century), Some(year), Some(month), Some(day)) = (
        s.get(0..2).and_then(two),
        s.get(2..4).and_then(two),
        s.get(5..7).and_then(two),
        s.get(8..10).and_then(two),
    ) else {
        return false;
    };
    s[4] == b'-'
        && s[7] == b'-'
        && century >= 10
        && chrono::NaiveDate::from_ymd_opt((century * 100 + year) as i32, month, day).is_some()
}

/// Whether `s` is a UTC timestamp as `YYYY-MM-DDTHH:MM:SS`, then up to nine fraction
/// digits after a point, then `Z`.
fn timestamp(s: &[u8]) -> bool {
    if s.len() < 20 || !date(s) || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) =
        (two(&s[11..13]), two(&s[14..16]), two(&s[17..19]))
    else {
        return false;
    };
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return false;
        }
        rest = &fraction[digits..];
    }
    rest == b"Z"
}

#[cfg(test)]
mod tests {
    use arrow_schema::{Field, Fields, TimeUnit};
    use proptest::prelude::*;

    use super::*;

    /// Fields of every kind; the partition columns are `t`, `d` and `s`.
    fn schema() -> Schema {
        let point = Fields::from(vec![
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
        ]);
        Schema::new(vec![
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", DataType::Date32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("i", DataType::Int64, true),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("p", DataType::Struct(point), true),
        ])
    }

    const COLUMNS: [usize; 3] = [0, 1, 2];

    /// JSON values by field: those of the forms the check takes, then others.
    const VALUES: [(&str, &[&str], &[&str]); 7] = [
        (
            "t",
            &[
                r#""2023-12-31T07:00:00Z""#,
                r#""2024-02-29T23:59:59.123456Z""#,
                r#""1970-01-01T00:00:00.123456789Z""#,
                "null",
            ],
            &[
                r#""2023-12-31T07:00:00.1234567891Z""#,
                r#""2023-12-31T24:00:00Z""#,
                r#""2023-12-31T07:00:60Z""#,
                r#""2023-12-31T07:00:00+01:00""#,
                r#""2023-12-31 07:00:00Z""#,
                r#""2023-02-29T07:00:00Z""#,
                "1700000000000000",
            ],
        ),
        (
            "d",
            &[r#""2024-02-29""#, r#""1000-01-01""#, "null"],
            &[
                r#""2023-02-29""#,
                r#""2024-13-01""#,
                r#""0999-01-01""#,
                r#""2024-1-1""#,
                r#""2024-01-01T00:00:00Z""#,
                "19000",
            ],
        ),
        (
            "s",
            &[
                r#""N""#,
                r#""a\"b/c""#,
                r#""\u00e9t\u00e9""#,
                r#""\ud83d\ude00""#,
                r#""""#,
                "null",
            ],
            &[
                "12",
                "true",
                r#"{"x":1}"#,
                r#"["a"]"#,
                r#""\ud800""#,
                r#""x\udc00""#,
            ],
        ),
        (
            "i",
            &[
                "0",
                "-5",
                "9223372036854775807",
                "-9223372036854775808",
                "null",
            ],
            &["9223372036854775808", "1.0", "1e3", r#""12""#, "true"],
        ),
        (
            "f",
            &["1.5", "-0.0", "3", "1e308", "null"],
            &["1e400", r#""1.5""#, "true"],
        ),
        ("b", &["true", "false", "null"], &[r#""true""#, "1"]),
        ("p", &["null"], &[r#"{"lat":1.0,"lon":2.0}"#, "[1,2]"]),
    ];

    /// A record from the choices: `(field, value)` pairs (values of the check's forms
    /// first, then the others), then how it is wrapped.
    fn record(pairs: &[(usize, usize)], wrap: usize) -> Vec<u8> {
        let body = pairs
            .iter()
            .map(|&(field, value)| {
                let (name, good, other) = VALUES[field % VALUES.len()];
                let value = value % (good.len() + other.len());
                let value = good
                    .get(value)
                    .unwrap_or_else(|| &other[value - good.len()]);
                format!(r#""{name}":{value}"#)
            })
            .collect::<Vec<_>>()
            .join(",");
        let object = format!("{{{body}}}");
        match wrap % 8 {
            0 => format!(" {object}\n"),
            1 => format!("{object} x"),
            2 => format!("{object}{object}"),
            3 => format!(r#"{{"o\u0066f":1,{body}}}"#),
            4 => format!(r#"{{"unknown":1,{body}}}"#),
            5 => format!("[{object}]"),
            _ => object,
        }
        .into_bytes()
    }

    /// What deliver's decoding, the judge of poison, makes of one record: one row, or why
    /// it is poison.
    fn arrow(
        schema: &SchemaRef,
        record: &[u8],
    ) -> Result<RecordBatch, crate::flow::error::FlowError> {
        crate::flow::deliver::batch::decode_all(schema, Message::numbered(&[record]).iter())
    }

    /// The partition columns of `records` when the check takes every one.
    fn all_columns(check: &RecordCheck, records: &[Vec<u8>]) -> Option<RecordBatch> {
        let records = Message::numbered(records);
        let checked = check.check(&records);
        if !checked.others.is_empty() {
            return None;
        }
        Some(check.columns(checked, &records, &[]).expect("decodes"))
    }

    #[test]
    fn the_runner_s_own_records_pass_and_give_the_partition_columns() {
        let schema = schema();
        let check = RecordCheck::new(&schema, &COLUMNS);
        let records = [
            br#"{"t":"2023-12-31T07:00:00Z","d":"2023-12-31","s":"N","i":5,"f":-122.31,"b":true}"#
                .to_vec(),
            br#"{"s":"a\"b","t":"2024-01-01T00:30:00.5Z","p":null}"#.to_vec(),
            b"{}".to_vec(),
        ];
        let columns = all_columns(&check, &records).expect("passes");
        let schema = Arc::new(schema);
        let whole: Vec<RecordBatch> = records
            .iter()
            .map(|r| arrow(&schema, r).unwrap().project(&COLUMNS).unwrap())
            .collect();
        let expected = arrow_select::concat::concat_batches(&columns.schema(), &whole).unwrap();
        assert_eq!(columns, expected);
    }

    #[test]
    fn records_of_other_forms_are_left_to_arrow_json() {
        let schema = schema();
        let check = RecordCheck::new(&schema, &COLUMNS);
        for bad in [
            r#"{"s":"N","s":"M"}"#,
            r#"{"x":1}"#,
            r#"{"s":"N"} {"s":"M"}"#,
            r#"{"s":"N"}x"#,
            r#"{"i":1.0}"#,
            r#"{"t":"2023-02-29T00:00:00Z"}"#,
            r#"{"p":{"lat":1,"lon":2}}"#,
            r#"["s"]"#,
            r#"{"\u0073":"N"}"#,
        ] {
            let records = [br#"{"s":"N"}"#.to_vec(), bad.as_bytes().to_vec()];
            assert_eq!(
                check.check(&Message::numbered(&records)).others,
                [1],
                "{bad}"
            );
        }
        let none = RecordCheck::new(&schema, &[]);
        let batch = all_columns(&none, &vec![b"{}".to_vec(); 3]).expect("passes");
        assert_eq!((batch.num_rows(), batch.num_columns()), (3, 0));
    }

    #[test]
    fn each_value_passes_exactly_when_it_is_of_the_check_s_forms() {
        let schema = Arc::new(schema());
        let check = RecordCheck::new(&schema, &COLUMNS);
        for (field, (name, good, other)) in VALUES.iter().enumerate() {
            for value in 0..good.len() + other.len() {
                let record = record(&[(field, value)], 7);
                let passed = all_columns(&check, std::slice::from_ref(&record));
                let text = String::from_utf8_lossy(&record);
                assert_eq!(passed.is_some(), value < good.len(), "{name}: {text}");
                if let Some(columns) = passed {
                    let decoded = arrow(&schema, &record).unwrap_or_else(|e| panic!("{text}: {e}"));
                    assert_eq!(columns, decoded.project(&COLUMNS).unwrap(), "{text}");
                }
            }
        }
    }

    proptest! {
        /// Whatever the check passes, arrow-json decodes; with the records arrow-json takes
        /// of those it does not, the partition values are those of arrow-json's decode.
        #[test]
        fn what_the_check_passes_arrow_json_decodes_alike(
            records in prop::collection::vec(
                (prop::collection::vec((0usize..7, 0usize..16), 0..6), 0usize..16),
                1..6,
            )
        ) {
            let schema = Arc::new(schema());
            let check = RecordCheck::new(&schema, &COLUMNS);
            let records: Vec<Vec<u8>> =
                records.iter().map(|(pairs, wrap)| record(pairs, *wrap)).collect();
            let checked = check.check(&Message::numbered(&records));
            let (mut rows, mut poison) = (Vec::new(), Vec::new());
            for (n, r) in records.iter().enumerate() {
                let decoded = arrow(&schema, r);
                let passed = !checked.others.contains(&n);
                prop_assert!(!passed || decoded.is_ok(), "{}: {:?}", String::from_utf8_lossy(r), decoded.as_ref().err());
                match decoded {
                    Ok(row) => rows.push(row.project(&COLUMNS).unwrap()),
                    Err(_) => poison.push(n),
                }
            }
            let columns = check.columns(checked, &Message::numbered(&records), &poison);
            let columns = columns.expect("the partition values decode");
            let expected = arrow_select::concat::concat_batches(&columns.schema(), &rows).unwrap();
            prop_assert_eq!(columns, expected);
        }
    }
}
