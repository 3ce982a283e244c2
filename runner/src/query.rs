//! Named queries: rendering a query template for an engine, choosing the engine of a target,
//! and writing an answer as a table, CSV or JSON.

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
use crate::backend::{AnswerStream, BackendError, Backends, QueryEngine};
use crate::flow::stop::Stop;
use crate::spec::Pipeline;

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

/// Writes `answer` to `out` in `format` as its batches come, so CSV and JSON hold one batch
/// at a time and a table its first [`TABLE_ROWS`] rows. The outer error is the output's;
/// the inner one is the query's, which can end the answer part-way (what came before it is
/// written).
pub async fn write(
    answer: AnswerStream,
    format: Output,
    out: &mut dyn Write,
) -> std::io::Result<Result<(), BackendError>> {
    let AnswerStream {
        schema,
        mut batches,
    } = answer;
    let mut out = std::io::BufWriter::new(out);
    let ended = match format {
        Output::Table => write_table(&schema, &mut batches, &mut out).await?,
        Output::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            // An empty batch first writes the header, whatever follows.
            writer
                .write(&RecordBatch::new_empty(schema))
                .map_err(invalid)?;
            each_batch(&mut batches, |batch| writer.write(batch).map_err(invalid)).await?
        }
        Output::Json => {
            let mut rows = JsonRows::default();
            out.write_all(b"[")?;
            let ended = each_batch(&mut batches, |batch| rows.write(batch, &mut out)).await?;
            out.write_all(if rows.written { b"\n]\n" } else { b"]\n" })?;
            ended
        }
    };
    out.flush()?;
    Ok(ended)
}

/// Hands each batch of `batches` to `write`, until they end or one is an error.
async fn each_batch(
    batches: &mut BoxStream<'static, crate::backend::Result<RecordBatch>>,
    mut write: impl FnMut(&RecordBatch) -> std::io::Result<()>,
) -> std::io::Result<Result<(), BackendError>> {
    while let Some(batch) = batches.next().await {
        match batch {
            Ok(batch) => write(&batch)?,
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(()))
}

fn invalid(e: ArrowError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// An aligned table of the answer's first [`TABLE_ROWS`] rows, then how many rows it has.
async fn write_table(
    schema: &SchemaRef,
    batches: &mut BoxStream<'static, crate::backend::Result<RecordBatch>>,
    out: &mut dyn Write,
) -> std::io::Result<Result<(), BackendError>> {
    let mut shown = Vec::new();
    let mut rows = 0;
    let ended = each_batch(batches, |batch| {
        let room = TABLE_ROWS.saturating_sub(rows);
        if room > 0 && batch.num_rows() > 0 {
            shown.push(batch.slice(0, room.min(batch.num_rows())));
        }
        rows += batch.num_rows();
        Ok(())
    })
    .await?;
    if shown.is_empty() {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        writeln!(out, "{}", names.join(" | "))?;
    } else {
        let table =
            datafusion::arrow::util::pretty::pretty_format_batches(&shown).map_err(invalid)?;
        writeln!(out, "{table}")?;
    }
    let plural = if rows == 1 { "" } else { "s" };
    if rows > TABLE_ROWS {
        writeln!(
            out,
            "({rows} rows; the first {TABLE_ROWS} shown: --format csv or --format json prints them all)"
        )?;
    } else {
        writeln!(out, "({rows} row{plural})")?;
    }
    Ok(ended)
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
    fn write(&mut self, batch: &RecordBatch, out: &mut dyn Write) -> std::io::Result<()> {
        let options = FormatOptions::default().with_null("");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let schema = batch.schema();
        let keys = schema
            .fields()
            .iter()
            .map(|f| serde_json::to_string(f.name()))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            out.write_all(if self.written { b",\n{" } else { b"\n{" })?;
            self.written = true;
            for (i, field) in schema.fields().iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(keys[i].as_bytes())?;
                out.write_all(b":")?;
                if batch.column(i).is_null(row) {
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
                    serde_json::to_writer(&mut *out, self.text.as_str())?;
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

    use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

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

    /// What `write` prints of `batches` in `format`, and how the answer ended.
    fn written(
        batches: Vec<crate::backend::Result<RecordBatch>>,
        format: Output,
    ) -> (String, Result<(), BackendError>) {
        let answer = AnswerStream {
            schema: schema(),
            batches: futures_util::stream::iter(batches).boxed(),
        };
        let mut out = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let ended = runtime
            .block_on(write(answer, format, &mut out))
            .expect("written");
        (String::from_utf8(out).expect("UTF-8"), ended)
    }

    #[test]
    fn json_rows_keep_numbers_and_booleans_and_escape_text() {
        let odd = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(vec![None, Some(-7)])),
                Arc::new(Float64Array::from(vec![f64::NAN, 0.25])),
                Arc::new(BooleanArray::from(vec![Some(false), None])),
                Arc::new(StringArray::from(vec!["say \"hi\"\n", "é"])),
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
            ])
        );
        assert_eq!(text.lines().count(), 5, "one row a line: {text}");
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
    fn an_error_part_way_keeps_the_rows_before_it_and_is_returned() {
        let failed = BackendError::Service {
            service: "embedded",
            message: "the file went away".into(),
        };
        let (csv, ended) = written(vec![Ok(batch(0, 2)), Err(failed)], Output::Csv);
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(
            ended
                .expect_err("the error")
                .to_string()
                .contains("the file went away")
        );
    }
}
