//! The cleaning engine: a dataset's rules compiled once into a [`Program`] and applied to
//! Arrow record batches of raw text columns, from any source (CSV, the Socrata API, ...).
//!
//! Per field, in order: trim, null tokens (and empty text), case, value map, parse, checks
//! (range, allowed values, pattern), default, required. A value that breaks a rule either
//! becomes null (`on_invalid: null`) or rejects its row with the reason; rejected rows are
//! returned beside the clean batch, so every input row is accounted for.

pub mod parse;
pub mod rule_tests;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Fields, Schema, SchemaRef, TimeUnit};
use chrono_tz::Tz;

use crate::spec::dataset::{Case, Dataset, Field, FieldType, OnInvalid};
use crate::spec::source::SourceKind;
use crate::spec::types::Scalar;

/// A row the rules rejected, with what and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    /// The row's index in the input batch.
    pub row: usize,
    /// The output field whose rule rejected it.
    pub field: String,
    /// The raw value, as read.
    pub raw: Option<String>,
    /// Why.
    pub reason: String,
}

/// The result of cleaning one batch.
#[derive(Debug)]
pub struct Cleaned {
    /// The accepted rows, typed, in input order.
    pub batch: RecordBatch,
    /// For each accepted row, its row in the input batch.
    pub rows: Vec<u32>,
    /// The rejected rows.
    pub rejects: Vec<Reject>,
}

/// One field's compiled rules.
struct FieldProgram {
    name: String,
    input: usize,
    kind: FieldType,
    trim: bool,
    null_if: Vec<String>,
    case: Option<Case>,
    map: HashMap<String, String>,
    formats: parse::Formats,
    timezone: Option<Tz>,
    range: Option<[f64; 2]>,
    allowed: Vec<String>,
    pattern: Option<(regex::Regex, String)>,
    default: Option<String>,
    required: bool,
    on_invalid: OnInvalid,
}

/// A dataset's rules compiled against one input schema.
pub struct Program {
    fields: Vec<FieldProgram>,
    schema: SchemaRef,
}

/// The Arrow type of a field type (timestamps in UTC microseconds).
pub fn arrow_type(kind: FieldType) -> DataType {
    match kind {
        FieldType::String => DataType::Utf8,
        FieldType::Int => DataType::Int64,
        FieldType::Double => DataType::Float64,
        FieldType::Bool => DataType::Boolean,
        FieldType::Date => DataType::Date32,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FieldType::GeoPoint => DataType::Struct(point_fields()),
    }
}

fn point_fields() -> Fields {
    Fields::from(vec![
        ArrowField::new("lat", DataType::Float64, false),
        ArrowField::new("lon", DataType::Float64, false),
    ])
}

/// The output schema of a dataset: its fields, in order, all nullable.
pub fn output_schema(dataset: &Dataset) -> SchemaRef {
    Arc::new(Schema::new(
        dataset
            .fields
            .iter()
            .map(|(name, field)| ArrowField::new(name, arrow_type(field.kind), true))
            .collect::<Vec<_>>(),
    ))
}

/// Why a dataset's rules could not be compiled or applied. A row a rule rejects is not
/// an error: its reason is data, kept with the row in the quarantine ([`Reject`]).
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// The rules do not fit the input or do not compile: a mapped column the input lacks,
    /// an unknown timezone, a pattern or date format that does not parse.
    #[error("{0}")]
    Rules(String),
    /// Arrow could not assemble or filter the cleaned batch.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl Program {
    /// Compiles `dataset` for input columns named `columns` from a `kind` source. An error
    /// names every mapped column the input lacks.
    pub fn compile(
        dataset: &Dataset,
        kind: SourceKind,
        columns: &[String],
    ) -> Result<Program, CleanError> {
        let mut fields = Vec::new();
        let mut missing = Vec::new();
        for (name, field) in &dataset.fields {
            let column = field
                .from
                .as_ref()
                .and_then(|f| f.for_kind(kind))
                .unwrap_or(name);
            match columns.iter().position(|c| c == column) {
                Some(input) => fields.push(compile_field(name, field, input)?),
                None => missing.push(format!("'{column}' (for field {name})")),
            }
        }
        if !missing.is_empty() {
            return Err(CleanError::Rules(format!(
                "the input has no column {}",
                missing.join(", ")
            )));
        }
        Ok(Program {
            fields,
            schema: output_schema(dataset),
        })
    }

    /// The typed output schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The output columns of the `key` fields (those the program has), in key order.
    pub fn key_columns(&self, key: &[String]) -> Vec<usize> {
        key.iter()
            .filter_map(|k| self.schema.index_of(k).ok())
            .collect()
    }

    /// Cleans a batch whose columns are text (Utf8), in the order `compile` was given.
    ///
    /// Column by column: each field's values are cleaned in one loop into its typed
    /// column; a row that a field rejects is skipped by the later fields (a row is
    /// rejected for its first failing field) and filtered out at the end.
    pub fn apply(&self, input: &RecordBatch) -> Result<Cleaned, CleanError> {
        let columns: Vec<&StringArray> = input
            .columns()
            .iter()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| CleanError::Rules("input columns must be text".into()))
            })
            .collect::<Result<_, _>>()?;
        let rows = input.num_rows();
        let mut rejected = vec![false; rows];
        let mut rejects = Vec::new();
        let mut scratch = String::new();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let column = columns[field.input];
            let mut output = Output::new(field.kind, rows, column.value_data().len());
            for (row, rejected) in rejected.iter_mut().enumerate() {
                if *rejected {
                    output.push(Value::Null);
                    continue;
                }
                let raw = (!column.is_null(row)).then(|| column.value(row));
                match field.clean(raw, &mut scratch) {
                    Ok(value) => output.push(value),
                    Err(reason) => {
                        *rejected = true;
                        rejects.push(Reject {
                            row,
                            field: field.name.clone(),
                            raw: raw.map(str::to_owned),
                            reason,
                        });
                        output.push(Value::Null);
                    }
                }
            }
            arrays.push(output.finish());
        }
        rejects.sort_by_key(|r| r.row);
        let mut batch = RecordBatch::try_new(self.schema(), arrays)?;
        let accepted: Vec<u32> = (0..rows as u32)
            .filter(|&row| !rejected[row as usize])
            .collect();
        if !rejects.is_empty() {
            let keep = BooleanArray::from(rejected.iter().map(|r| !r).collect::<Vec<_>>());
            batch = arrow_select::filter::filter_record_batch(&batch, &keep)?;
        }
        Ok(Cleaned {
            batch,
            rows: accepted,
            rejects,
        })
    }
}

fn compile_field(name: &str, field: &Field, input: usize) -> Result<FieldProgram, CleanError> {
    let rules = |e: String| CleanError::Rules(format!("field {name}: {e}"));
    let timezone = field
        .timezone
        .as_deref()
        .map(|tz| {
            tz.parse::<Tz>()
                .map_err(|_| rules(format!("unknown timezone '{tz}'")))
        })
        .transpose()?;
    let pattern = field
        .pattern
        .as_deref()
        .map(|p| {
            regex::Regex::new(&format!("^(?:{p})$"))
                .map(|r| (r, p.to_owned()))
                .map_err(|e| rules(e.to_string()))
        })
        .transpose()?;
    Ok(FieldProgram {
        name: name.to_owned(),
        input,
        kind: field.kind,
        trim: field.trim,
        null_if: field.null_if.clone(),
        case: field.case,
        map: field
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        formats: parse::Formats::compile(&field.formats).map_err(rules)?,
        timezone,
        range: field.range,
        allowed: field.allowed.clone(),
        pattern,
        default: field.default.as_ref().map(Scalar::to_string),
        required: field.required,
        on_invalid: field.on_invalid,
    })
}

/// A cleaned value.
enum Value<'a> {
    Null,
    Text(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    Date(i32),
    Timestamp(i64),
    Point(f64, f64),
}

impl FieldProgram {
    /// Cleans one raw value: `Err` rejects the row.
    fn clean<'a>(
        &'a self,
        raw: Option<&'a str>,
        scratch: &'a mut String,
    ) -> Result<Value<'a>, String> {
        let text = self.normalize(raw, scratch);
        let text = match (text, &self.default) {
            (None, Some(default)) => Some(default.as_str()),
            (text, _) => text,
        };
        let Some(text) = text else {
            return if self.required {
                Err("required value is missing".into())
            } else {
                Ok(Value::Null)
            };
        };
        match self.parse_and_check(text) {
            Ok(value) => Ok(value),
            Err(_) if self.on_invalid == OnInvalid::Null && !self.required => Ok(Value::Null),
            Err(reason) => Err(reason),
        }
    }

    /// Trim, null tokens, case and value map; `None` is null.
    fn normalize<'a>(&'a self, raw: Option<&'a str>, scratch: &'a mut String) -> Option<&'a str> {
        let mut text = raw?;
        if self.trim {
            text = trim(text);
        }
        if text.is_empty() || self.null_if.iter().any(|n| n == text) {
            return None;
        }
        if let Some(case) = self.case {
            scratch.clear();
            match case {
                // ASCII text, the common case, changes case in place, byte by byte.
                Case::Upper if text.is_ascii() => {
                    scratch.push_str(text);
                    scratch.make_ascii_uppercase();
                }
                Case::Lower if text.is_ascii() => {
                    scratch.push_str(text);
                    scratch.make_ascii_lowercase();
                }
                Case::Upper => scratch.extend(text.chars().flat_map(char::to_uppercase)),
                Case::Lower => scratch.extend(text.chars().flat_map(char::to_lowercase)),
                Case::Title => {
                    let mut start = true;
                    for c in text.chars() {
                        if start {
                            scratch.extend(c.to_uppercase());
                        } else {
                            scratch.extend(c.to_lowercase());
                        }
                        start = !c.is_alphanumeric();
                    }
                }
            }
            text = scratch.as_str();
        }
        match self.map.get(text) {
            Some(mapped) if mapped.is_empty() => None,
            Some(mapped) => Some(mapped.as_str()),
            None => Some(text),
        }
    }

    fn parse_and_check<'a>(&self, text: &'a str) -> Result<Value<'a>, String> {
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a == text) {
            return Err(format!("'{text}' is not one of the allowed values"));
        }
        if let Some((pattern, written)) = &self.pattern
            && !pattern.is_match(text)
        {
            return Err(format!("'{text}' does not match the pattern {written}"));
        }
        let in_range = |x: f64| match self.range {
            Some([min, max]) if x < min || x > max => Err(format!("{x} is outside [{min}, {max}]")),
            _ => Ok(()),
        };
        let value = match self.kind {
            FieldType::String => Value::Text(text),
            FieldType::Int => {
                let n = parse::int(text).map_err(|e| format!("'{text}' is {e}"))?;
                in_range(n as f64)?;
                Value::Int(n)
            }
            FieldType::Double => {
                let x = parse::double(text).map_err(|e| format!("'{text}' is {e}"))?;
                in_range(x)?;
                Value::Double(x)
            }
            FieldType::Bool => {
                Value::Bool(parse::boolean(text).map_err(|e| format!("'{text}' is {e}"))?)
            }
            FieldType::Date => Value::Date(
                parse::date(text, &self.formats).map_err(|e| format!("'{text}' is {e}"))?,
            ),
            FieldType::Timestamp => Value::Timestamp(
                parse::timestamp(text, &self.formats, self.timezone)
                    .map_err(|e| format!("'{text}': {e}"))?,
            ),
            FieldType::GeoPoint => {
                let (lat, lon) = parse::geo_point(text).map_err(|e| format!("'{text}' is {e}"))?;
                Value::Point(lat, lon)
            }
        };
        Ok(value)
    }
}

/// `text` without leading and trailing white space (Unicode's, as `str::trim`), looking
/// at ASCII bytes first: most values have no white space to trim.
fn trim(text: &str) -> &str {
    let text = text.trim_ascii();
    let white = |c: char| c.is_whitespace();
    if text.starts_with(white) || text.ends_with(white) {
        text.trim()
    } else {
        text
    }
}

/// A typed column being built.
enum Output {
    Text(StringBuilder),
    Int(Int64Builder),
    Double(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Point(StructBuilder),
}

impl Output {
    /// A column for `rows` values, of text from `text_bytes` bytes of input.
    fn new(kind: FieldType, rows: usize, text_bytes: usize) -> Output {
        match kind {
            FieldType::String => Output::Text(StringBuilder::with_capacity(rows, text_bytes)),
            FieldType::Int => Output::Int(Int64Builder::with_capacity(rows)),
            FieldType::Double => Output::Double(Float64Builder::with_capacity(rows)),
            FieldType::Bool => Output::Bool(BooleanBuilder::with_capacity(rows)),
            FieldType::Date => Output::Date(Date32Builder::with_capacity(rows)),
            FieldType::Timestamp => Output::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            FieldType::GeoPoint => Output::Point(StructBuilder::from_fields(point_fields(), rows)),
        }
    }

    fn push(&mut self, value: Value) {
        match (self, value) {
            (Output::Text(b), Value::Text(text)) => b.append_value(text),
            (Output::Int(b), Value::Int(n)) => b.append_value(n),
            (Output::Double(b), Value::Double(x)) => b.append_value(x),
            (Output::Bool(b), Value::Bool(v)) => b.append_value(v),
            (Output::Date(b), Value::Date(d)) => b.append_value(d),
            (Output::Timestamp(b), Value::Timestamp(t)) => b.append_value(t),
            (Output::Point(b), Value::Point(lat, lon)) => push_point(b, lat, lon, true),
            (Output::Text(b), _) => b.append_null(),
            (Output::Int(b), _) => b.append_null(),
            (Output::Double(b), _) => b.append_null(),
            (Output::Bool(b), _) => b.append_null(),
            (Output::Date(b), _) => b.append_null(),
            (Output::Timestamp(b), _) => b.append_null(),
            (Output::Point(b), _) => push_point(b, 0.0, 0.0, false),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Output::Text(mut b) => Arc::new(b.finish()),
            Output::Int(mut b) => Arc::new(b.finish()),
            Output::Double(mut b) => Arc::new(b.finish()),
            Output::Bool(mut b) => Arc::new(b.finish()),
            Output::Date(mut b) => Arc::new(b.finish()),
            Output::Timestamp(mut b) => Arc::new(b.finish()),
            Output::Point(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Appends a point (children always get a value; `valid` marks the struct null or not).
fn push_point(builder: &mut StructBuilder, lat: f64, lon: f64, valid: bool) {
    if let Some(b) = builder.field_builder::<Float64Builder>(0) {
        b.append_value(lat);
    }
    if let Some(b) = builder.field_builder::<Float64Builder>(1) {
        b.append_value(lon);
    }
    builder.append(valid);
}

#[cfg(test)]
mod tests;
