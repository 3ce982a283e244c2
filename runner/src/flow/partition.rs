//! Hive partition paths: a layout's `partition_by` templates compiled against a dataset's
//! output schema and evaluated per row of a cleaned batch (`year=2024/month=3/`).
//!
//! The writers take the templates `{{ field }}` and `{{ field.attr }}` (attributes `year`,
//! `month`, `day`, `hour`, `date` of dates and timestamps); the values are the same ones
//! the catalog's partition projection expects.

use std::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};
use chrono::{DateTime, Datelike, NaiveDate, Timelike};

/// What one partition segment takes from a row.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    /// The field's value as text.
    Value(usize),
    /// A calendar attribute of a date or timestamp field.
    Calendar(usize, Calendar),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Calendar {
    Year,
    Month,
    Day,
    Hour,
    Date,
}

/// A compiled `partition_by`.
#[derive(Debug)]
pub struct Partitioner {
    parts: Vec<(String, Part)>,
}

/// The value written for a null partition value, as Hive does.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

impl Partitioner {
    /// Compiles `templates` (each `name={{ expression }}`) against `schema`.
    pub fn compile(templates: &[String], schema: &Schema) -> Result<Partitioner, String> {
        let mut parts = Vec::new();
        for template in templates {
            let (name, expression) = template
                .split_once('=')
                .ok_or_else(|| format!("partition '{template}' is not name={{{{ template }}}}"))?;
            let inner = expression
                .trim()
                .strip_prefix("{{")
                .and_then(|e| e.strip_suffix("}}"))
                .map(str::trim)
                .ok_or_else(|| format!("partition '{template}': the writers take {{{{ field }}}} or {{{{ field.attr }}}}"))?;
            let (field, attribute) = match inner.split_once('.') {
                Some((f, a)) => (f, Some(a)),
                None => (inner, None),
            };
            let index = schema
                .index_of(field)
                .map_err(|_| format!("partition '{template}': no field '{field}'"))?;
            let part = match attribute {
                None => Part::Value(index),
                Some(attr) => {
                    let calendar = match attr {
                        "year" => Calendar::Year,
                        "month" => Calendar::Month,
                        "day" => Calendar::Day,
                        "hour" => Calendar::Hour,
                        "date" => Calendar::Date,
                        other => {
                            return Err(format!(
                                "partition '{template}': unknown attribute '{other}'"
                            ));
                        }
                    };
                    Part::Calendar(index, calendar)
                }
            };
            parts.push((name.to_owned(), part));
        }
        Ok(Partitioner { parts })
    }

    /// Groups the rows of `batch` by partition path (`year=2024/month=3/`, or `` without
    /// partitions), keeping row order within each group.
    pub fn group(&self, batch: &RecordBatch) -> Result<Vec<(String, Vec<u32>)>, String> {
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: foldhash::HashMap<String, usize> = foldhash::HashMap::default();
        let mut path = String::new();
        for row in 0..batch.num_rows() {
            path.clear();
            for (name, part) in &self.parts {
                let _ = write!(path, "{name}=");
                self.render(batch, *part, row, &mut path)?;
                path.push('/');
            }
            match index.get(&path) {
                Some(&i) => groups[i].1.push(row as u32),
                None => {
                    index.insert(path.clone(), groups.len());
                    groups.push((path.clone(), vec![row as u32]));
                }
            }
        }
        Ok(groups)
    }

    fn render(
        &self,
        batch: &RecordBatch,
        part: Part,
        row: usize,
        out: &mut String,
    ) -> Result<(), String> {
        let (column, calendar) = match part {
            Part::Value(c) => (c, None),
            Part::Calendar(c, k) => (c, Some(k)),
        };
        let array = batch.column(column);
        if array.is_null(row) {
            out.push_str(NULL_PARTITION);
            return Ok(());
        }
        let date_time = match array.data_type() {
            DataType::Timestamp(_, _) => {
                let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
                DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
            }
            DataType::Date32 => {
                let days = array.as_primitive::<Date32Type>().value(row);
                NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            }
            _ => None,
        };
        let result = match (calendar, date_time) {
            (Some(Calendar::Year), Some(t)) => write!(out, "{}", t.year()),
            (Some(Calendar::Month), Some(t)) => write!(out, "{}", t.month()),
            (Some(Calendar::Day), Some(t)) => write!(out, "{}", t.day()),
            (Some(Calendar::Hour), Some(t)) => write!(out, "{}", t.hour()),
            (Some(Calendar::Date), Some(t)) => write!(out, "{}", t.date()),
            (Some(_), None) => {
                return Err("a calendar attribute needs a date or timestamp field".into());
            }
            (None, Some(t)) if array.data_type() == &DataType::Date32 => {
                write!(out, "{}", t.date())
            }
            (None, _) => match array.data_type() {
                DataType::Utf8 => {
                    escape_into(array.as_string::<i32>().value(row), out);
                    Ok(())
                }
                DataType::Int64 => write!(out, "{}", array.as_primitive::<Int64Type>().value(row)),
                DataType::Boolean => write!(out, "{}", array.as_boolean().value(row)),
                other => return Err(format!("cannot partition on a {other} value")),
            },
        };
        result.map_err(|e| e.to_string())
    }
}

/// Writes a text partition value, percent-escaping what paths and Hive do not take.
fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}
