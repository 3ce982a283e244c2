//! Named queries: rendering a query template for an engine, choosing the engine of a target,
//! and writing an answer as a table, CSV or JSON; `offline` plans them with no data.

pub mod checks;
pub mod offline;

use std::fmt::Write as _;
use std::io::Write;

use clap::ValueEnum;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use minijinja::{Environment, UndefinedBehavior};

use crate::backend::athena::Athena;
use crate::backend::embedded::Embedded;
use crate::backend::{AnswerStream, Backends, QueryEngine};
use crate::spec::Pipeline;
use crate::stop::Stop;

/// Which engine runs a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// Athena when the target has an `athena:` section, otherwise the embedded engine.
    Auto,
    /// DataFusion in-process, over the target's files (local directory or S3).
    Embedded,
    /// Amazon Athena (remote targets with an `athena:` section).
    Athena,
}

/// The engine `choice` names on `backends`, with the pipeline's catalog tables known to it.
pub async fn engine(
    pipeline: &Pipeline,
    backends: &Backends,
    choice: EngineChoice,
    stop: Stop,
) -> Result<Box<dyn QueryEngine>, String> {
    let catalog = pipeline
        .catalog
        .as_ref()
        .ok_or_else(|| format!("pipeline '{}' has no catalog to query", pipeline.pipeline))?;
    let database = catalog.database.clone();
    let tables: Vec<String> = catalog.tables.keys().cloned().collect();
    let athena = match (choice, &backends.athena) {
        (EngineChoice::Embedded, _) | (EngineChoice::Auto, None) => None,
        (_, Some(athena)) => Some(athena),
        (EngineChoice::Athena, None) => {
            return Err(format!(
                "target '{}' has no Athena: add an `athena:` section to it, or use --engine embedded",
                backends.target
            ));
        }
    };
    Ok(match athena {
        Some(access) => Box::new(Athena::new(
            access.client.clone(),
            access.settings.workgroup.clone(),
            access.settings.output_location.clone(),
            database,
            stop,
        )),
        None => Box::new(
            Embedded::connect(
                &backends.files,
                backends.catalog.as_ref(),
                &database,
                &tables,
            )
            .await
            .map_err(|e| e.to_string())?,
        ),
    })
}

/// `sql` with every `{{ table('NAME') }}` written the way `engine` names that catalog table
/// of `pipeline`.
pub fn render(sql: &str, engine: &dyn QueryEngine, pipeline: &Pipeline) -> Result<String, String> {
    let Some(catalog) = &pipeline.catalog else {
        return Err(format!("pipeline '{}' has no catalog", pipeline.pipeline));
    };
    let names: std::collections::HashMap<String, String> = catalog
        .tables
        .keys()
        .map(|t| (t.clone(), engine.table_ref(&catalog.database, t)))
        .collect();
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_function("table", move |table: String| {
        names.get(&table).cloned().ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("table('{table}') names no catalog table"),
            )
        })
    });
    env.render_str(sql, ()).map_err(|e| e.to_string())
}

/// Output formats of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// An aligned text table of the first [`TABLE_ROWS`] rows, then the row count.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of row objects, one a line.
    Json,
}

/// The rows `--format table` shows; the rest of the answer is counted, not held.
pub const TABLE_ROWS: usize = 1000;

/// Why an answer's output stopped before its end.
#[derive(Debug)]
pub enum Cut {
    /// The output could not be written (a closed pipe, a full disk).
    Output(std::io::Error),
    /// The answer could not be read or printed whole: the engine failed part-way, a value
    /// has no form in the output format, or a stop was requested.
    Answer(String),
}

impl From<std::io::Error> for Cut {
    fn from(e: std::io::Error) -> Cut {
        Cut::Output(e)
    }
}

/// Writes `answer` to `out` in `format` as its batches come, so CSV and JSON hold one batch
/// at a time and a table its first [`TABLE_ROWS`] rows, until the answer ends or `stop` is
/// set. An answer cut short leaves what came before it written, and no closing bracket
/// after JSON rows, so the output does not pass for a whole answer.
pub async fn write(
    answer: AnswerStream,
    format: Output,
    out: &mut dyn Write,
    stop: &Stop,
) -> Result<(), Cut> {
    let AnswerStream {
        schema,
        mut batches,
    } = answer;
    let mut out = std::io::BufWriter::new(out);
    let mut stop = stop.clone();
    let ended = match format {
        Output::Table => write_table(&schema, &mut batches, &mut stop, &mut out).await,
        Output::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            let mut write =
                |batch: &RecordBatch| writer.write(batch).map_err(|e| unprintable("CSV", e));
            // An empty batch first writes the header, whatever follows.
            match write(&RecordBatch::new_empty(schema)) {
                Ok(()) => each_batch(&mut batches, &mut stop, write).await,
                Err(e) => Err(e),
            }
        }
        Output::Json => {
            let mut rows = JsonRows::default();
            out.write_all(b"[")?;
            let ended =
                each_batch(&mut batches, &mut stop, |batch| rows.write(batch, &mut out)).await;
            if ended.is_ok() {
                out.write_all(if rows.written { b"\n]\n" } else { b"]\n" })?;
            }
            ended
        }
    };
    out.flush()?;
    ended
}

/// Hands each batch of `batches` to `write`, until they end, one is an error, or `stop` is
/// set.
async fn each_batch(
    batches: &mut BoxStream<'static, crate::backend::Result<RecordBatch>>,
    stop: &mut Stop,
    mut write: impl FnMut(&RecordBatch) -> Result<(), Cut>,
) -> Result<(), Cut> {
    loop {
        let batch = tokio::select! {
            batch = batches.next() => batch,
            () = stop.requested() => {
                return Err(Cut::Answer("stopped on request (Ctrl-C or SIGTERM)".into()));
            }
        };
        match batch {
            Some(Ok(batch)) => write(&batch)?,
            Some(Err(e)) => return Err(Cut::Answer(e.to_string())),
            None => return Ok(()),
        }
    }
}

/// An answer that has no form in output `format`.
fn unprintable(format: &str, e: ArrowError) -> Cut {
    Cut::Answer(format!("the answer cannot be written as {format}: {e}"))
}

/// An aligned table of the answer's first [`TABLE_ROWS`] rows, then how many rows it has
/// (or had before it was cut short).
async fn write_table(
    schema: &SchemaRef,
    batches: &mut BoxStream<'static, crate::backend::Result<RecordBatch>>,
    stop: &mut Stop,
    out: &mut dyn Write,
) -> Result<(), Cut> {
    let mut shown = Vec::new();
    let mut rows = 0;
    let ended = each_batch(batches, stop, |batch| {
        let room = TABLE_ROWS.saturating_sub(rows);
        if room > 0 && batch.num_rows() > 0 {
            shown.push(batch.slice(0, room.min(batch.num_rows())));
        }
        rows += batch.num_rows();
        Ok(())
    })
    .await;
    if shown.is_empty() {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        writeln!(out, "{}", names.join(" | "))?;
    } else {
        let table = datafusion::arrow::util::pretty::pretty_format_batches(&shown)
            .map_err(|e| unprintable("a table", e))?;
        writeln!(out, "{table}")?;
    }
    let plural = if rows == 1 { "" } else { "s" };
    if ended.is_err() {
        writeln!(
            out,
            "({rows} row{plural} read before the answer was cut short)"
        )?;
    } else if rows > TABLE_ROWS {
        writeln!(
            out,
            "({rows} rows; the first {TABLE_ROWS} shown: --format csv or --format json prints them all)"
        )?;
    } else {
        writeln!(out, "({rows} row{plural})")?;
    }
    ended
}

/// Writes an answer's rows as the elements of a JSON array, one object a line: numbers and
/// booleans as JSON values, everything else (dates, timestamps, text) as the text the table
/// output shows.
#[derive(Default)]
struct JsonRows {
    /// Whether a row was written (the next one needs a comma).
    written: bool,
    /// A value's text, kept between values.
    text: String,
}

impl JsonRows {
    fn write(&mut self, batch: &RecordBatch, out: &mut dyn Write) -> Result<(), Cut> {
        let options = FormatOptions::default().with_null("");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unprintable("JSON", e))?;
        // What is null, whatever the column's type (a column of type Null has no null mask).
        let nulls: Vec<_> = batch.columns().iter().map(|c| c.logical_nulls()).collect();
        let schema = batch.schema();
        let keys = schema
            .fields()
            .iter()
            .map(|f| serde_json::to_string(f.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::from)?;
        for row in 0..batch.num_rows() {
            out.write_all(if self.written { b",\n{" } else { b"\n{" })?;
            self.written = true;
            for (i, field) in schema.fields().iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(keys[i].as_bytes())?;
                out.write_all(b":")?;
                if nulls[i].as_ref().is_some_and(|n| n.is_null(row)) {
                    out.write_all(b"null")?;
                    continue;
                }
                self.text.clear();
                write!(self.text, "{}", formatters[i].value(row)).map_err(std::io::Error::other)?;
                let literal = match field.data_type() {
                    DataType::Boolean => true,
                    t if t.is_numeric() => {
                        serde_json::from_str::<serde_json::Number>(&self.text).is_ok()
                    }
                    _ => false,
                };
                if literal {
                    out.write_all(self.text.as_bytes())?;
                } else {
                    serde_json::to_writer(&mut *out, self.text.as_str())
                        .map_err(std::io::Error::from)?;
                }
            }
            out.write_all(b"}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, NullArray, StringArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::backend::BackendError;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("text", DataType::Utf8, true),
        ]))
    }

    /// A batch of `rows` rows: n counts from `from`, the rest are fixed.
    fn batch(from: i64, rows: usize) -> RecordBatch {
        let n: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + rows as i64));
        let x: ArrayRef = Arc::new(Float64Array::from(vec![1.5; rows]));
        let ok: ArrayRef = Arc::new(BooleanArray::from(vec![true; rows]));
        let text: ArrayRef = Arc::new(StringArray::from(vec!["a"; rows]));
        RecordBatch::try_new(schema(), vec![n, x, ok, text]).expect("batch")
    }

    /// What `write` prints of `batches` (of `schema`) in `format`, and how it ended.
    fn written_as(
        schema: SchemaRef,
        batches: Vec<crate::backend::Result<RecordBatch>>,
        format: Output,
    ) -> (String, Result<(), Cut>) {
        let answer = AnswerStream {
            schema,
            batches: futures_util::stream::iter(batches).boxed(),
        };
        let mut out = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let ended = runtime.block_on(write(answer, format, &mut out, &Stop::never()));
        (String::from_utf8(out).expect("UTF-8"), ended)
    }

    fn written(
        batches: Vec<crate::backend::Result<RecordBatch>>,
        format: Output,
    ) -> (String, Result<(), Cut>) {
        written_as(schema(), batches, format)
    }

    #[test]
    fn json_rows_keep_numbers_and_booleans_and_escape_text() {
        let odd = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(vec![None, Some(-7), Some(0)])),
                Arc::new(Float64Array::from(vec![f64::NAN, 0.25, f64::INFINITY])),
                Arc::new(BooleanArray::from(vec![Some(false), None, Some(true)])),
                Arc::new(StringArray::from(vec!["say \"hi\"\n", "é", "\\"])),
            ],
        )
        .expect("batch");
        let (text, ended) = written(vec![Ok(batch(1, 1)), Ok(odd)], Output::Json);
        assert!(ended.is_ok());
        let rows: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            rows,
            serde_json::json!([
                { "n": 1, "x": 1.5, "ok": true, "text": "a" },
                { "n": null, "x": "NaN", "ok": false, "text": "say \"hi\"\n" },
                { "n": -7, "x": 0.25, "ok": null, "text": "é" },
                { "n": 0, "x": "inf", "ok": true, "text": "\\" },
            ])
        );
        assert_eq!(text.lines().count(), 6, "one row a line: {text}");
    }

    #[test]
    fn json_keys_are_escaped_decimals_exact_and_null_columns_null() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("say \"n\"", DataType::Decimal128(38, 2), true),
            Field::new("z", DataType::Null, true),
        ]));
        let decimals =
            Decimal128Array::from(vec![12_345_678_901_234_567_890_123_456_789_012_345_i128])
                .with_precision_and_scale(38, 2)
                .expect("decimal");
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(decimals), Arc::new(NullArray::new(1))],
        )
        .expect("batch");
        let (text, ended) = written_as(schema, vec![Ok(batch)], Output::Json);
        assert!(ended.is_ok());
        assert!(
            text.contains("123456789012345678901234567890123.45"),
            "the decimal's exact text: {text}"
        );
        let rows: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(rows[0]["z"], serde_json::Value::Null, "{text}");
        assert!(rows[0]["say \"n\""].is_number(), "{text}");
    }

    #[test]
    fn an_empty_answer_still_names_its_columns() {
        let (csv, _) = written(Vec::new(), Output::Csv);
        assert_eq!(csv, "n,x,ok,text\n");
        let (json, _) = written(vec![Ok(batch(0, 0))], Output::Json);
        assert_eq!(json, "[]\n");
        let (table, _) = written(Vec::new(), Output::Table);
        assert_eq!(table, "n | x | ok | text\n(0 rows)\n");
    }

    #[test]
    fn a_long_table_shows_its_first_rows_and_counts_them_all() {
        let (table, ended) = written(vec![Ok(batch(0, 800)), Ok(batch(800, 800))], Output::Table);
        assert!(ended.is_ok());
        let shown: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| n "))
            .collect();
        assert_eq!(shown.len(), TABLE_ROWS);
        assert!(
            shown[TABLE_ROWS - 1].starts_with("| 999 "),
            "{}",
            shown[TABLE_ROWS - 1]
        );
        assert!(
            table.trim_end().ends_with(
                "(1600 rows; the first 1000 shown: --format csv or --format json prints them all)"
            ),
            "{}",
            &table[table.len() - 200..]
        );
    }

    #[test]
    fn an_answer_cut_short_keeps_what_came_before_and_does_not_pass_for_whole() {
        let failed = || {
            Err(BackendError::Service {
                service: "embedded",
                message: "the file went away".into(),
            })
        };
        let cut = |ended: Result<(), Cut>| match ended {
            Err(Cut::Answer(e)) => e,
            other => panic!("not cut short by the answer: {other:?}"),
        };
        let (csv, ended) = written(vec![Ok(batch(0, 2)), failed()], Output::Csv);
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(cut(ended).contains("the file went away"));

        // The rows before the error, but no closing bracket: not a JSON document.
        let (json, ended) = written(vec![Ok(batch(0, 2)), failed()], Output::Json);
        assert_eq!(json.lines().count(), 3, "{json}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_err(),
            "{json}"
        );
        assert!(cut(ended).contains("the file went away"));

        let (table, ended) = written(vec![Ok(batch(0, 2)), failed()], Output::Table);
        assert!(
            table
                .trim_end()
                .ends_with("(2 rows read before the answer was cut short)"),
            "{table}"
        );
        assert!(cut(ended).contains("the file went away"));
    }

    #[test]
    fn a_stop_request_ends_the_answer_at_the_next_batch() {
        let (set, stop) = tokio::sync::watch::channel(false);
        let stop = Stop::from_channel(stop);
        // An answer that never ends unless stopped.
        let answer = AnswerStream {
            schema: schema(),
            batches: futures_util::stream::once(async { Ok(batch(0, 1)) })
                .chain(futures_util::stream::pending())
                .boxed(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let mut out = Vec::new();
        let ended = runtime.block_on(async {
            let writing = write(answer, Output::Csv, &mut out, &stop);
            let stopping = async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                set.send(true).expect("sent");
                std::future::pending::<()>().await
            };
            tokio::select! {
                ended = writing => ended,
                () = stopping => unreachable!(),
            }
        });
        match ended {
            Err(Cut::Answer(e)) => assert!(e.contains("stopped on request"), "{e}"),
            other => panic!("not stopped: {other:?}"),
        }
        assert_eq!(String::from_utf8(out).expect("UTF-8").lines().count(), 2);
    }

    #[test]
    fn a_value_csv_cannot_hold_is_an_answer_error_not_an_output_one() {
        use datafusion::arrow::array::{Array, StructArray};
        let inner: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let point = StructArray::from(vec![(
            Arc::new(Field::new("lat", DataType::Int64, true)),
            inner,
        )]);
        let schema = Arc::new(Schema::new(vec![Field::new(
            "point",
            point.data_type().clone(),
            true,
        )]));
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(point)]).expect("batch");
        let (_, ended) = written_as(schema, vec![Ok(batch)], Output::Csv);
        match ended {
            Err(Cut::Answer(e)) => assert!(e.contains("cannot be written as CSV"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
