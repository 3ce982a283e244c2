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
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::{Answer, BackendError, QueryEngine, Result, sdk_failure};
use crate::flow::stop::Stop;

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

    async fn query(&self, sql: &str) -> Result<Answer> {
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

        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(&id)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut table = TextTable::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_failure("athena", "GetQueryResults", e))?;
            if let Some(set) = page.result_set() {
                table.add(set);
            }
        }
        table
            .finish()
            .map_err(|e| failure(format!("query {id}: {e}")))
    }
}

/// Athena's rows as text, with the column names and types of the first page.
#[derive(Default)]
struct TextTable {
    columns: Vec<(String, String)>,
    cells: Vec<Vec<Option<String>>>,
    header_seen: bool,
}

impl TextTable {
    fn add(&mut self, set: &ResultSet) {
        if self.columns.is_empty() {
            self.columns = set
                .result_set_metadata()
                .map(|m| m.column_info())
                .unwrap_or_default()
                .iter()
                .map(|c| (c.name().to_owned(), c.r#type().to_owned()))
                .collect();
            self.cells = vec![Vec::new(); self.columns.len()];
        }
        for row in set.rows() {
            let values: Vec<Option<String>> = row
                .data()
                .iter()
                .map(|d| d.var_char_value().map(str::to_owned))
                .collect();
            // The first row of a SELECT's first page repeats the column names.
            let names = self.columns.iter().map(|(n, _)| Some(n.clone()));
            if !self.header_seen && values.iter().cloned().eq(names) {
                self.header_seen = true;
                continue;
            }
            self.header_seen = true;
            for (i, column) in self.cells.iter_mut().enumerate() {
                column.push(values.get(i).cloned().flatten());
            }
        }
    }

    fn finish(self) -> std::result::Result<Answer, String> {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        for ((name, athena_type), values) in self.columns.into_iter().zip(self.cells) {
            let kind = arrow_type(&athena_type);
            let text: ArrayRef = Arc::new(StringArray::from(values));
            let typed = cast_with_options(&text, &kind, &options)
                .map_err(|e| format!("column {name} ({athena_type}): {e}"))?;
            fields.push(Field::new(name, kind, true));
            arrays.push(typed);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        Ok(Answer {
            schema,
            batches: vec![batch],
        })
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

    fn page(rows: Vec<Row>) -> ResultSet {
        let column = |name: &str, kind: &str| {
            ColumnInfo::builder()
                .name(name)
                .r#type(kind)
                .build()
                .expect("column")
        };
        ResultSet::builder()
            .result_set_metadata(
                ResultSetMetadata::builder()
                    .column_info(column("group", "varchar"))
                    .column_info(column("n", "bigint"))
                    .column_info(column("day", "date"))
                    .build(),
            )
            .set_rows(Some(rows))
            .build()
    }

    #[test]
    fn pages_become_typed_columns_without_the_header_row() {
        let mut table = TextTable::default();
        table.add(&page(vec![
            row(&[Some("group"), Some("n"), Some("day")]),
            row(&[Some("THEFT"), Some("42"), Some("2024-03-10")]),
        ]));
        table.add(&page(vec![row(&[None, Some("7"), None])]));
        let answer = table.finish().expect("typed");
        let batch = &answer.batches[0];
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema().field(1).data_type(), &DataType::Int64);
        assert_eq!(batch.schema().field(2).data_type(), &DataType::Date32);
        let n = batch
            .column(1)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .expect("ints");
        assert_eq!(n.values(), &[42, 7]);
        assert!(batch.column(0).is_null(1));
    }

    #[test]
    fn a_value_that_does_not_fit_its_type_is_an_error_naming_the_column() {
        let mut table = TextTable::default();
        table.add(&page(vec![row(&[Some("X"), Some("many"), None])]));
        let error = table.finish().expect_err("error");
        assert!(error.contains("column n (bigint)"), "{error}");
    }
}
