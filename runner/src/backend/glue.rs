//! The catalog on AWS Glue, through `aws-sdk-glue`. Tables are converted to and from the
//! attribute shape of [`crate::resource::desired`].

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, Table, TableInput,
};
use serde_json::{Map, Value, json};

use super::{BackendError, Catalog, Partition, Result};
use crate::resource::Attrs;

/// Glue through one client.
pub struct Glue {
    client: Client,
}

impl Glue {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Glue { client }
    }
}

fn failure<E, R>(what: &str, error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    super::sdk_failure("glue", what, error)
}

fn invalid(what: &str, error: impl std::fmt::Display) -> BackendError {
    BackendError::Service {
        service: "glue",
        message: format!("{what}: {error}"),
    }
}

fn string_map(value: Option<&Value>) -> HashMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn json_map(map: Option<&HashMap<String, String>>) -> Value {
    let mut sorted: Vec<(&String, &String)> = map.into_iter().flatten().collect();
    sorted.sort();
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

fn text<'a>(attrs: &'a Attrs, key: &str) -> Option<&'a str> {
    attrs.get(key).and_then(Value::as_str)
}

fn columns(value: Option<&Value>) -> Result<Vec<Column>> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            Column::builder()
                .name(c["name"].as_str().unwrap_or_default())
                .r#type(c["type"].as_str().unwrap_or_default())
                .build()
                .map_err(|e| invalid("column", e))
        })
        .collect()
}

fn columns_json(columns: &[Column]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| json!({ "name": c.name(), "type": c.r#type().unwrap_or_default() }))
            .collect(),
    )
}

fn table_input(name: &str, attrs: &Attrs) -> Result<TableInput> {
    let serde = attrs.get("serde");
    let descriptor = StorageDescriptor::builder()
        .set_columns(Some(columns(attrs.get("columns"))?))
        .set_location(text(attrs, "location").map(str::to_owned))
        .set_input_format(text(attrs, "input_format").map(str::to_owned))
        .set_output_format(text(attrs, "output_format").map(str::to_owned))
        .serde_info(
            SerDeInfo::builder()
                .set_serialization_library(
                    serde.and_then(|s| s["library"].as_str()).map(str::to_owned),
                )
                .set_parameters(Some(string_map(serde.and_then(|s| s.get("parameters")))))
                .build(),
        )
        .build();
    TableInput::builder()
        .name(name)
        .set_description(text(attrs, "description").map(str::to_owned))
        .set_table_type(text(attrs, "table_type").map(str::to_owned))
        .storage_descriptor(descriptor)
        .set_partition_keys(Some(columns(attrs.get("partition_keys"))?))
        .set_parameters(Some(string_map(attrs.get("parameters"))))
        .build()
        .map_err(|e| invalid(&format!("table {name}"), e))
}

fn table_attrs(table: &Table) -> Attrs {
    let descriptor = table.storage_descriptor();
    let serde = descriptor.and_then(StorageDescriptor::serde_info);
    [
        (
            "description",
            json!(table.description().unwrap_or_default()),
        ),
        ("table_type", json!(table.table_type().unwrap_or_default())),
        (
            "columns",
            columns_json(
                descriptor
                    .map(StorageDescriptor::columns)
                    .unwrap_or_default(),
            ),
        ),
        ("partition_keys", columns_json(table.partition_keys())),
        (
            "location",
            json!(
                descriptor
                    .and_then(StorageDescriptor::location)
                    .unwrap_or_default()
            ),
        ),
        (
            "input_format",
            json!(
                descriptor
                    .and_then(StorageDescriptor::input_format)
                    .unwrap_or_default()
            ),
        ),
        (
            "output_format",
            json!(
                descriptor
                    .and_then(StorageDescriptor::output_format)
                    .unwrap_or_default()
            ),
        ),
        (
            "serde",
            json!({
                "library": serde.and_then(SerDeInfo::serialization_library).unwrap_or_default(),
                "parameters": json_map(serde.and_then(SerDeInfo::parameters)),
            }),
        ),
        ("parameters", json_map(table.parameters())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn database_input(name: &str, attrs: &Attrs) -> Result<DatabaseInput> {
    DatabaseInput::builder()
        .name(name)
        .set_description(text(attrs, "description").map(str::to_owned))
        .set_parameters(Some(string_map(attrs.get("parameters"))))
        .build()
        .map_err(|e| invalid(&format!("database {name}"), e))
}

#[async_trait]
impl Catalog for Glue {
    async fn database(&self, name: &str) -> Result<Option<Attrs>> {
        match self.client.get_database().name(name).send().await {
            Ok(out) => Ok(out.database().map(|d| {
                [
                    (
                        "description".to_owned(),
                        json!(d.description().unwrap_or_default()),
                    ),
                    ("parameters".to_owned(), json_map(d.parameters())),
                ]
                .into_iter()
                .collect()
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(failure(&format!("GetDatabase {name}"), e)),
        }
    }

    async fn create_database(&self, name: &str, attrs: &Attrs) -> Result<()> {
        self.client
            .create_database()
            .database_input(database_input(name, attrs)?)
            .send()
            .await
            .map_err(|e| failure(&format!("CreateDatabase {name}"), e))?;
        Ok(())
    }

    async fn update_database(&self, name: &str, attrs: &Attrs) -> Result<()> {
        self.client
            .update_database()
            .name(name)
            .database_input(database_input(name, attrs)?)
            .send()
            .await
            .map_err(|e| failure(&format!("UpdateDatabase {name}"), e))?;
        Ok(())
    }

    async fn delete_database(&self, name: &str) -> Result<()> {
        self.client
            .delete_database()
            .name(name)
            .send()
            .await
            .map_err(|e| failure(&format!("DeleteDatabase {name}"), e))?;
        Ok(())
    }

    async fn table(&self, database: &str, name: &str) -> Result<Option<Attrs>> {
        match self
            .client
            .get_table()
            .database_name(database)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.table().map(table_attrs)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(failure(&format!("GetTable {database}.{name}"), e)),
        }
    }

    async fn tables(&self, database: &str) -> Result<Vec<(String, Attrs)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_tables()
                .database_name(database)
                .set_next_token(token.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_entity_not_found_exception()) =>
                {
                    return Ok(out);
                }
                Err(e) => return Err(failure(&format!("GetTables {database}"), e)),
            };
            out.extend(
                page.table_list()
                    .iter()
                    .map(|t| (t.name().to_owned(), table_attrs(t))),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn create_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()> {
        self.client
            .create_table()
            .database_name(database)
            .table_input(table_input(name, attrs)?)
            .send()
            .await
            .map_err(|e| failure(&format!("CreateTable {database}.{name}"), e))?;
        Ok(())
    }

    async fn update_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()> {
        self.client
            .update_table()
            .database_name(database)
            .table_input(table_input(name, attrs)?)
            .send()
            .await
            .map_err(|e| failure(&format!("UpdateTable {database}.{name}"), e))?;
        Ok(())
    }

    async fn add_partitions(
        &self,
        database: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<()> {
        let Some(found) = self
            .client
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await
            .map_err(|e| failure(&format!("GetTable {database}.{table}"), e))?
            .table
        else {
            return Err(invalid(
                &format!("table {database}.{table}"),
                "does not exist",
            ));
        };
        let descriptor = found
            .storage_descriptor
            .unwrap_or_else(|| StorageDescriptor::builder().build());
        // BatchCreatePartition takes at most 100 partitions per call.
        for chunk in partitions.chunks(100) {
            let inputs: Vec<PartitionInput> = chunk
                .iter()
                .map(|p| {
                    let mut sd = descriptor.clone();
                    sd.location = Some(p.location.clone());
                    PartitionInput::builder()
                        .set_values(Some(p.values.clone()))
                        .storage_descriptor(sd)
                        .build()
                })
                .collect();
            let out = self
                .client
                .batch_create_partition()
                .database_name(database)
                .table_name(table)
                .set_partition_input_list(Some(inputs))
                .send()
                .await
                .map_err(|e| failure(&format!("BatchCreatePartition {database}.{table}"), e))?;
            for error in out.errors() {
                let code = error
                    .error_detail()
                    .and_then(|d| d.error_code())
                    .unwrap_or_default();
                if code != "AlreadyExistsException" {
                    let message = error
                        .error_detail()
                        .and_then(|d| d.error_message())
                        .unwrap_or_default();
                    return Err(invalid(
                        &format!("BatchCreatePartition {database}.{table}"),
                        format!("{code} {message}"),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn partitions(&self, database: &str, table: &str) -> Result<Vec<Partition>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_partitions()
                .database_name(database)
                .table_name(table)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| failure(&format!("GetPartitions {database}.{table}"), e))?;
            out.extend(page.partitions().iter().map(|p| {
                Partition {
                    values: p.values().to_vec(),
                    location: p
                        .storage_descriptor()
                        .and_then(StorageDescriptor::location)
                        .unwrap_or_default()
                        .to_owned(),
                }
            }));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn delete_table(&self, database: &str, name: &str) -> Result<()> {
        self.client
            .delete_table()
            .database_name(database)
            .name(name)
            .send()
            .await
            .map_err(|e| failure(&format!("DeleteTable {database}.{name}"), e))?;
        Ok(())
    }
}
