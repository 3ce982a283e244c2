//! Athena as the query engine: StartQueryExecution in the target's workgroup, polling with
//! backoff until the query ends, then GetQueryResults page by page, converted to typed
//! Arrow columns from the result's column types. A failed or cancelled query is reported
//! with Athena's reason; a stop request (Ctrl-C) cancels the query on Athena.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionState, ResultConfiguration, ResultSet,
};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures_util::StreamExt;

use super::{AnswerStream, BackendError, QueryEngine, Result, sdk_failure};
use crate::stop::Stop;

/// Athena in one workgroup and database.
pub struct Athena {
    client: aws_sdk_athena::Client,
    workgroup: String,
    output_location: Option<String>,
    database: String,
    stop: Stop,
}

fn failure(message: impl Into<String>) -> BackendError {
    BackendError::Service {
        service: "athena",
        message: message.into(),
    }
}

impl Athena {
    /// Athena through `client`, running queries in `workgroup` against `database`, results
    /// written to `output_location` (or the workgroup's setting); `stop` cancels a query.
    pub fn new(
        client: aws_sdk_athena::Client,
        workgroup: String,
        output_location: Option<String>,
        database: String,
        stop: Stop,
    ) -> Athena {
        Athena {
            client,
            workgroup,
            output_location: output_location.filter(|o| !o.is_empty()),
            database,
            stop,
        }
    }

    /// Waits until query `id` ends; its final state, or an error with Athena's reason.
    async fn wait(&self, id: &str) -> Result<()> {
        let mut stop = self.stop.clone();
        let mut delay = Duration::from_millis(100);
        loop {
            let answer = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| sdk_failure("athena", "GetQueryExecution", e))?;
            let status = answer.query_execution().and_then(|q| q.status());
            let reason = status
                .and_then(|s| s.state_change_reason())
                .unwrap_or("no reason given");
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => return Ok(()),
                Some(QueryExecutionState::Failed) => {
                    return Err(failure(format!("query {id} failed: {reason}")));
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(failure(format!("query {id} was cancelled: {reason}")));
                }
                state => tracing::debug!(query = id, ?state, "waiting"),
            }
            if stop.sleep(delay).await {
                self.client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_failure("athena", "StopQueryExecution", e))?;
                return Err(failure(format!("query {id} cancelled on request")));
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

#[async_trait]
impl QueryEngine for Athena {
    fn name(&self) -> &'static str {
        "athena"
    }

    fn table_ref(&self, database: &str, table: &str) -> String {
        format!("\"{database}\".\"{table}\"")
    }

    async fn query_stream(&self, sql: &str) -> Result<AnswerStream> {
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&self.database)
                    .build(),
            );
        if let Some(location) = &self.output_location {
            start = start.result_configuration(
                ResultConfiguration::builder()
                    .output_location(location)
                    .build(),
            );
        }
        let started = start
            .send()
            .await
            .map_err(|e| sdk_failure("athena", "StartQueryExecution", e))?;
        let id = started
            .query_execution_id()
            .ok_or_else(|| failure("StartQueryExecution returned no query id"))?
            .to_owned();
        tracing::info!(query = %id, workgroup = %self.workgroup, "started");
        self.wait(&id).await?;

        // The first page names the columns; each page becomes a batch as it is read.
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(&id)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut table = TextTable::default();
        let first = pages.next().await.transpose().map_err(|e| {
            failure(format!(
                "query {id}: {}",
                sdk_failure("athena", "GetQueryResults", e)
            ))
        })?;
        if let Some(set) = first.as_ref().and_then(|page| page.result_set()) {
            table.add(set);
        }
        let schema = table.schema();
        let first = table
            .take(&schema)
            .map_err(|e| failure(format!("query {id}: {e}")));
        let rest = futures_util::stream::unfold(
            (pages, table, Arc::clone(&schema), id),
            |(mut pages, mut table, schema, id)| async move {
                let page = pages.next().await?;
                let batch = page
                    .map_err(|e| {
                        failure(format!(
                            "query {id}: {}",
                            sdk_failure("athena", "GetQueryResults", e)
                        ))
                    })
                    .and_then(|page| {
                        if let Some(set) = page.result_set() {
                            table.add(set);
                        }
                        table
                            .take(&schema)
                            .map_err(|e| failure(format!("query {id}: {e}")))
                    });
                Some((batch, (pages, table, schema, id)))
            },
        );
        Ok(AnswerStream {
            schema,
            batches: futures_util::stream::once(async { first })
                .chain(rest)
                .boxed(),
        })
    }
}

/// Athena's rows as text, with the column names and types of the first page, taken as
/// typed batches page by page.
#[derive(Default)]
struct TextTable {
    columns: Vec<(String, String)>,
    cells: Vec<Vec<Option<String>>>,
    /// Whether the first page was added: its header row and columns are behind.
    header_seen: bool,
}

impl TextTable {
    fn add(&mut self, set: &ResultSet) {
        if !self.header_seen {
            self.columns = set
                .result_set_metadata()
                .map(|m| m.column_info())
                .unwrap_or_default()
                .iter()
                .map(|c| (c.name().to_owned(), c.r#type().to_owned()))
                .collect();
            self.cells = vec![Vec::new(); self.columns.len()];
        }
        for (at, row) in set.rows().iter().enumerate() {
            let values: Vec<Option<String>> = row
                .data()
                .iter()
                .map(|d| d.var_char_value().map(str::to_owned))
                .collect();
            // The first row of a SELECT's first page repeats the column names.
            let names = self.columns.iter().map(|(n, _)| Some(n.clone()));
            if !self.header_seen && at == 0 && values.iter().cloned().eq(names) {
                continue;
            }
            for (i, column) in self.cells.iter_mut().enumerate() {
                column.push(values.get(i).cloned().flatten());
            }
        }
        self.header_seen = true;
    }

    /// The columns' names and Arrow types.
    fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, athena_type)| Field::new(name, arrow_type(athena_type), true))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The rows added since the last batch, as a batch of `schema`'s typed columns.
    fn take(&mut self, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
        if self.columns.is_empty() {
            return Ok(RecordBatch::new_empty(Arc::clone(schema)));
        }
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for ((name, athena_type), values) in self.columns.iter().zip(&mut self.cells) {
            let text: ArrayRef = Arc::new(StringArray::from(std::mem::take(values)));
            let typed = cast_with_options(&text, &arrow_type(athena_type), &options)
                .map_err(|e| format!("column {name} ({athena_type}): {e}"))?;
            arrays.push(typed);
        }
        RecordBatch::try_new(Arc::clone(schema), arrays).map_err(|e| e.to_string())
    }
}

/// The Arrow type of an Athena result column type; text for types without a match.
fn arrow_type(athena: &str) -> DataType {
    match athena.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => DataType::Int64,
        "double" | "float" | "real" | "decimal" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => DataType::Utf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_athena::types::{ColumnInfo, Datum, ResultSetMetadata, Row};

    fn row(values: &[Option<&str>]) -> Row {
        let data = values
            .iter()
            .map(|v| {
                Datum::builder()
                    .set_var_char_value(v.map(str::to_owned))
                    .build()
            })
            .collect();
        Row::builder().set_data(Some(data)).build()
    }

    /// A page of `rows` whose columns are `columns` (name, Athena type).
    fn page_of(columns: &[(&str, &str)], rows: Vec<Row>) -> ResultSet {
        let info = columns
            .iter()
            .map(|(name, kind)| {
                ColumnInfo::builder()
                    .name(*name)
                    .r#type(*kind)
                    .build()
                    .expect("column")
            })
            .collect();
        ResultSet::builder()
            .result_set_metadata(
                ResultSetMetadata::builder()
                    .set_column_info(Some(info))
                    .build(),
            )
            .set_rows(Some(rows))
            .build()
    }

    /// A page of `rows` of a text, a bigint and a date column.
    fn page(rows: Vec<Row>) -> ResultSet {
        page_of(
            &[("group", "varchar"), ("n", "bigint"), ("day", "date")],
            rows,
        )
    }

    #[test]
    fn pages_become_typed_batches_without_the_header_row() {
        let mut table = TextTable::default();
        table.add(&page(vec![
            row(&[Some("group"), Some("n"), Some("day")]),
            row(&[Some("THEFT"), Some("42"), Some("2024-03-10")]),
        ]));
        let schema = table.schema();
        assert_eq!(schema.field(1).data_type(), &DataType::Int64);
        assert_eq!(schema.field(2).data_type(), &DataType::Date32);
        let first = table.take(&schema).expect("typed");
        table.add(&page(vec![row(&[None, Some("7"), None])]));
        let second = table.take(&schema).expect("typed");
        let ints = |batch: &RecordBatch| {
            batch
                .column(1)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .expect("ints")
                .values()
                .to_vec()
        };
        assert_eq!((ints(&first), ints(&second)), (vec![42], vec![7]));
        assert!(second.column(0).is_null(0));
        assert_eq!(table.take(&schema).expect("empty").num_rows(), 0);
    }

    #[test]
    fn only_the_first_row_of_the_first_page_is_taken_for_the_header() {
        let texts = |rows| page_of(&[("a", "varchar"), ("b", "varchar")], rows);
        let header = || row(&[Some("a"), Some("b")]);
        let mut table = TextTable::default();
        // A first page without its header row: every row is data.
        table.add(&texts(vec![row(&[Some("x"), None]), header()]));
        // A later page: a row that reads like the header is data, and its columns are
        // not read again.
        table.add(&ResultSet::builder().set_rows(Some(vec![header()])).build());
        let schema = table.schema();
        assert_eq!(schema.fields().len(), 2);
        let batch = table.take(&schema).expect("typed");
        assert_eq!(batch.num_rows(), 3);
    }

    #[test]
    fn a_value_that_does_not_fit_its_type_is_an_error_naming_the_column() {
        let mut table = TextTable::default();
        table.add(&page(vec![row(&[Some("X"), Some("many"), None])]));
        let error = table.take(&table.schema()).expect_err("error");
        assert!(error.contains("column n (bigint)"), "{error}");
    }
}
