//! Hive partition paths: a layout's `partition_by` templates compiled against a dataset's
//! output schema and evaluated per row of a cleaned batch (`year=2024/month=3/`).
//!
//! The writers take the templates `{{ field }}` and `{{ field.attr }}` (attributes `year`,
//! `month`, `day`, `hour`, `date` of dates and timestamps); the values are the same ones
//! the catalog's partition projection expects.

use std::fmt::Write;

use crate::flow::error::FlowError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};

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

/// Rows grouped by partition: each partition's path and its rows, in order of first row.
pub type Groups = Vec<(String, Vec<u32>)>;

/// The value written for a null partition value, as Hive does.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

impl Partitioner {
    /// Compiles `templates` (each `name={{ expression }}`) against `schema`.
    pub fn compile(templates: &[String], schema: &Schema) -> Result<Partitioner, FlowError> {
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
                            )
                            .into());
                        }
                    };
                    Part::Calendar(index, calendar)
                }
            };
            parts.push((name.to_owned(), part));
        }
        Ok(Partitioner { parts })
    }

    /// The columns this partitioning reads (ascending), and the same partitioning of a
    /// batch that holds those columns alone, in that order (as
    /// [`RecordBatch::project`] makes it).
    pub fn projected(&self) -> (Vec<usize>, Partitioner) {
        let column = |part: &Part| match *part {
            Part::Value(c) | Part::Calendar(c, _) => c,
        };
        let mut columns: Vec<usize> = self.parts.iter().map(|(_, p)| column(p)).collect();
        columns.sort_unstable();
        columns.dedup();
        let at = |c: usize| columns.binary_search(&c).unwrap_or_default();
        let parts = self
            .parts
            .iter()
            .map(|(name, part)| {
                let part = match *part {
                    Part::Value(c) => Part::Value(at(c)),
                    Part::Calendar(c, k) => Part::Calendar(at(c), k),
                };
                (name.clone(), part)
            })
            .collect();
        (columns, Partitioner { parts })
    }

    /// Groups the rows of `batch` by partition path (`year=2024/month=3/`, or `` without
    /// partitions), keeping row order within each group.
    pub fn group(&self, batch: &RecordBatch) -> Result<Groups, FlowError> {
        match self.group_by_calendar(batch)? {
            Some(groups) => Ok(groups),
            None => self.group_by_path(batch),
        }
    }

    /// [`Partitioner::group`] by each row's rendered path.
    fn group_by_path(&self, batch: &RecordBatch) -> Result<Groups, FlowError> {
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: foldhash::HashMap<String, usize> = foldhash::HashMap::default();
        let mut path = String::new();
        for row in 0..batch.num_rows() {
            self.render_path(batch, row, &mut path)?;
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

    /// [`Partitioner::group`] when every part is a calendar attribute of a date or
    /// timestamp (the common `year=/month=/` layouts): a row's attributes are compared as
    /// numbers, and a partition's path is rendered once, for its first row. `None` for
    /// other partitionings.
    fn group_by_calendar(&self, batch: &RecordBatch) -> Result<Option<Groups>, FlowError> {
        const MAX_PARTS: usize = 4;
        let mut parts = Vec::with_capacity(MAX_PARTS);
        for (_, part) in &self.parts {
            match *part {
                Part::Calendar(column, calendar)
                    if parts.len() < MAX_PARTS
                        && matches!(
                            batch.column(column).data_type(),
                            DataType::Timestamp(_, _) | DataType::Date32
                        ) =>
                {
                    parts.push((column, calendar));
                }
                _ => return Ok(None),
            }
        }
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: foldhash::HashMap<[i32; MAX_PARTS], usize> = foldhash::HashMap::default();
        let mut path = String::new();
        for row in 0..batch.num_rows() {
            let mut key = [i32::MIN; MAX_PARTS];
            for (slot, &(column, calendar)) in key.iter_mut().zip(&parts) {
                if let Some(t) = date_time(batch, column, row) {
                    *slot = match calendar {
                        Calendar::Year => t.year(),
                        Calendar::Month => t.month() as i32,
                        Calendar::Day => t.day() as i32,
                        Calendar::Hour => t.hour() as i32,
                        Calendar::Date => t.date().num_days_from_ce(),
                    };
                }
            }
            match index.get(&key) {
                Some(&i) => groups[i].1.push(row as u32),
                None => {
                    self.render_path(batch, row, &mut path)?;
                    index.insert(key, groups.len());
                    groups.push((path.clone(), vec![row as u32]));
                }
            }
        }
        Ok(Some(groups))
    }

    /// Writes row `row`'s partition path (`year=2024/month=3/`) into `path`, replacing
    /// what it held.
    fn render_path(
        &self,
        batch: &RecordBatch,
        row: usize,
        path: &mut String,
    ) -> Result<(), FlowError> {
        path.clear();
        for (name, part) in &self.parts {
            let _ = write!(path, "{name}=");
            self.render(batch, *part, row, path)?;
            path.push('/');
        }
        Ok(())
    }

    fn render(
        &self,
        batch: &RecordBatch,
        part: Part,
        row: usize,
        out: &mut String,
    ) -> Result<(), FlowError> {
        let (column, calendar) = match part {
            Part::Value(c) => (c, None),
            Part::Calendar(c, k) => (c, Some(k)),
        };
        let array = batch.column(column);
        if array.is_null(row) {
            out.push_str(NULL_PARTITION);
            return Ok(());
        }
        let date_time = date_time(batch, column, row);
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
                other => return Err(format!("cannot partition on a {other} value").into()),
            },
        };
        result.map_err(|e| FlowError::Invalid(e.to_string()))
    }
}

/// The value of a date or timestamp column as a date and time (UTC), `None` when it is null
/// or of another type.
fn date_time(batch: &RecordBatch, column: usize, row: usize) -> Option<NaiveDateTime> {
    let array = batch.column(column);
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Date32Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{Field, TimeUnit};

    use super::*;

    fn batch() -> RecordBatch {
        let hour = 3_600_000_000i64;
        // 2023-12-31T23:30Z, 2024-01-01T00:30Z, null, 2023-12-31T01:00Z, 2024-01-01T05:00Z.
        let base = 1_704_067_200_000_000i64; // 2024-01-01T00:00Z
        let times = TimestampMicrosecondArray::from(vec![
            Some(base - hour / 2),
            Some(base + hour / 2),
            None,
            Some(base - 23 * hour),
            Some(base + 5 * hour),
        ])
        .with_timezone("UTC");
        let days = Date32Array::from(vec![
            Some(19_722),
            Some(19_723),
            Some(19_723),
            None,
            Some(0),
        ]);
        let names = StringArray::from(vec![Some("N"), Some("a/b"), None, Some("N"), Some("N")]);
        let schema = Schema::new(vec![
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", DataType::Date32, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(times), Arc::new(days), Arc::new(names)],
        )
        .unwrap()
    }

    #[test]
    fn calendar_partitions_group_as_their_rendered_paths_do() {
        let batch = batch();
        let templates = [
            vec!["year={{ t.year }}", "month={{ t.month }}"],
            vec!["date={{ t.date }}", "hour={{ t.hour }}"],
            vec!["day={{ d.day }}", "y={{ d.year }}"],
        ];
        for templates in templates {
            let templates: Vec<String> = templates.iter().map(|t| t.to_string()).collect();
            let partitioner = Partitioner::compile(&templates, &batch.schema()).unwrap();
            let fast = partitioner.group_by_calendar(&batch).unwrap();
            assert_eq!(
                fast.as_ref(),
                Some(&partitioner.group_by_path(&batch).unwrap()),
                "{templates:?}"
            );
        }
        let year_month = [
            "year={{ t.year }}".to_owned(),
            "month={{ t.month }}".to_owned(),
        ];
        let partitioner = Partitioner::compile(&year_month, &batch.schema()).unwrap();
        assert_eq!(
            partitioner.group(&batch).unwrap(),
            vec![
                ("year=2023/month=12/".to_owned(), vec![0, 3]),
                ("year=2024/month=1/".to_owned(), vec![1, 4]),
                (
                    format!("year={NULL_PARTITION}/month={NULL_PARTITION}/"),
                    vec![2]
                ),
            ]
        );
    }

    #[test]
    fn text_values_are_escaped_and_take_the_path_route() {
        let batch = batch();
        let templates = ["s={{ s }}".to_owned(), "year={{ t.year }}".to_owned()];
        let partitioner = Partitioner::compile(&templates, &batch.schema()).unwrap();
        assert!(partitioner.group_by_calendar(&batch).unwrap().is_none());
        let paths: Vec<String> = partitioner
            .group(&batch)
            .unwrap()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert_eq!(
            paths,
            [
                "s=N/year=2023/",
                "s=a%2Fb/year=2024/",
                &format!("s={NULL_PARTITION}/year={NULL_PARTITION}/"),
                "s=N/year=2024/",
            ]
        );
    }

    #[test]
    fn a_projected_partitioning_groups_the_projected_batch_alike() {
        let batch = batch();
        let templates = [
            "s={{ s }}".to_owned(),
            "year={{ t.year }}".to_owned(),
            "t={{ t.date }}".to_owned(),
        ];
        let partitioner = Partitioner::compile(&templates, &batch.schema()).unwrap();
        let (columns, projected) = partitioner.projected();
        assert_eq!(columns, [0, 2]);
        let narrow = batch.project(&columns).unwrap();
        assert_eq!(
            projected.group(&narrow).unwrap(),
            partitioner.group(&batch).unwrap()
        );
    }
}
