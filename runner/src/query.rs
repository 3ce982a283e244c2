//! Named queries: rendering a query template for an engine, choosing the engine of a target,
//! and writing an answer as a table, CSV or JSON.

use std::io::Write;

use clap::ValueEnum;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use minijinja::{Environment, UndefinedBehavior};

use crate::backend::athena::Athena;
use crate::backend::embedded::Embedded;
use crate::backend::{Answer, Backends, QueryEngine};
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
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of row objects.
    Json,
}

/// Writes `answer` to `out` in `format`.
pub fn write(answer: &Answer, format: Output, out: &mut dyn Write) -> std::io::Result<()> {
    let invalid = |e: datafusion::arrow::error::ArrowError| std::io::Error::other(e.to_string());
    match format {
        Output::Table => {
            let table = datafusion::arrow::util::pretty::pretty_format_batches(&answer.batches)
                .map_err(invalid)?;
            let rows: usize = answer.batches.iter().map(|b| b.num_rows()).sum();
            if answer.batches.is_empty() {
                let names: Vec<&str> = answer
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                writeln!(out, "{}", names.join(" | "))?;
            } else {
                writeln!(out, "{table}")?;
            }
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })
        }
        Output::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if answer.batches.is_empty() {
                let empty = datafusion::arrow::array::RecordBatch::new_empty(answer.schema.clone());
                writer.write(&empty).map_err(invalid)?;
            }
            for batch in &answer.batches {
                writer.write(batch).map_err(invalid)?;
            }
            Ok(())
        }
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, &rows(answer).map_err(invalid)?)?;
            writeln!(out)
        }
    }
}

/// The answer's rows as JSON objects: numbers and booleans as JSON values, everything else
/// (dates, timestamps, text) as the text the table output shows.
pub fn rows(
    answer: &Answer,
) -> Result<Vec<serde_json::Value>, datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::datatypes::DataType;
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in &answer.batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let mut object = serde_json::Map::new();
            for (i, field) in batch.schema().fields().iter().enumerate() {
                let column = batch.column(i);
                let value = if column.is_null(row) {
                    serde_json::Value::Null
                } else {
                    let text = formatters[i].value(row).to_string();
                    match field.data_type() {
                        DataType::Boolean => serde_json::Value::Bool(text == "true"),
                        t if t.is_numeric() => {
                            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
                        }
                        _ => serde_json::Value::String(text),
                    }
                };
                object.insert(field.name().clone(), value);
            }
            out.push(serde_json::Value::Object(object));
        }
    }
    Ok(out)
}
