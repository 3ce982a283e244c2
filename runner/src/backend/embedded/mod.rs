//! The embedded query engine: DataFusion in-process, over the very files the flows wrote,
//! on the local target's directory or on any S3 endpoint. Each catalog table becomes a
//! listing table with the catalog's columns and Hive partition keys, so a user without
//! Athena gets the same answers from the same SQL.

pub mod trino;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use futures_util::{StreamExt, TryStreamExt};

use super::{AnswerStream, BackendError, Catalog, QueryEngine, Result};

/// How the engine reaches a bucket's objects.
#[derive(Clone, Debug)]
pub enum FileAccess {
    /// Objects are files under `<dir>/<bucket>/<key>` (the local target).
    Directory(PathBuf),
    /// Objects are on S3 or an S3-compatible endpoint.
    S3(Box<S3Access>),
}

/// Where and as whom S3 is read.
#[derive(Clone, Debug)]
pub struct S3Access {
    /// The region.
    pub region: String,
    /// A custom endpoint (e.g. a local S3 server); path-style requests are used with one.
    pub endpoint: Option<String>,
    /// The AWS configuration whose credential chain signs requests.
    pub sdk: aws_config::SdkConfig,
}

/// DataFusion over the catalog's tables.
pub struct Embedded {
    context: SessionContext,
}

fn failure(message: impl std::fmt::Display) -> BackendError {
    BackendError::Service {
        service: "embedded",
        message: message.to_string(),
    }
}

impl Embedded {
    /// An engine with every table of `database` in `catalog` registered under its own name;
    /// an error naming the first of `expected` that the catalog does not have.
    pub async fn connect(
        access: &FileAccess,
        catalog: &dyn Catalog,
        database: &str,
        expected: &[String],
    ) -> Result<Self> {
        let context = SessionContext::new();
        trino::register(&context);
        let mut registered_buckets: Vec<String> = Vec::new();
        let tables = catalog.tables(database).await?;
        if let Some(missing) = expected
            .iter()
            .find(|e| !tables.iter().any(|(name, _)| name == *e))
        {
            return Err(failure(format!(
                "catalog table {database}.{missing} does not exist: run `runner apply` first"
            )));
        }
        for (name, attrs) in tables {
            let location = attrs
                .get("location")
                .and_then(Value::as_str)
                .ok_or_else(|| failure(format!("table {database}.{name} has no location")))?;
            let (bucket, prefix) = location
                .strip_prefix("s3://")
                .and_then(|rest| rest.split_once('/'))
                .ok_or_else(|| {
                    failure(format!(
                        "table {database}.{name}: '{location}' is not s3://bucket/prefix"
                    ))
                })?;
            let url = match access {
                FileAccess::Directory(root) => {
                    let dir = std::path::absolute(root.join(bucket).join(prefix))
                        .map_err(|e| failure(format!("{}: {e}", root.display())))?;
                    format!("{}/", dir.display().to_string().trim_end_matches('/'))
                }
                FileAccess::S3(s3) => {
                    if !registered_buckets.iter().any(|b| b == bucket) {
                        register_s3(&context, s3, bucket).await?;
                        registered_buckets.push(bucket.to_owned());
                    }
                    format!("s3://{bucket}/{prefix}")
                }
            };
            let table = listing_table(&name, &attrs, &url)
                .map_err(|e| failure(format!("table {database}.{name}: {e}")))?;
            context
                .register_table(name.as_str(), Arc::new(table))
                .map_err(failure)?;
            tracing::debug!(table = %name, %url, "registered");
        }
        Ok(Embedded { context })
    }
}

impl Embedded {
    /// An engine over empty tables of these names and catalog attributes, to plan queries
    /// with no data and no network (what `runner validate` does).
    pub fn empty(tables: &[(String, crate::resource::Attrs)]) -> Result<Self> {
        let context = SessionContext::new();
        trino::register(&context);
        for (name, attrs) in tables {
            let schema =
                Arc::new(table_schema(attrs).map_err(|e| failure(format!("table {name}: {e}")))?);
            let table = MemTable::try_new(schema, vec![vec![]]).map_err(failure)?;
            context
                .register_table(name.as_str(), Arc::new(table))
                .map_err(failure)?;
        }
        Ok(Embedded { context })
    }

    /// The columns `sql`'s answer would have, from its plans alone (logical and physical:
    /// what the engine could not run shows too; nothing is read), or DataFusion's error as
    /// it is, for the caller to locate.
    pub async fn plan(&self, sql: &str) -> std::result::Result<SchemaRef, DataFusionError> {
        let frame = self.context.sql(&trino::unnest::lateral(sql)).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        frame.create_physical_plan().await?;
        Ok(schema)
    }

    /// The names of every function the engine knows: scalar, aggregate and window.
    pub fn function_names(&self) -> Vec<String> {
        let state = self.context.state();
        state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect()
    }
}

/// Registers an S3 object store for `bucket`, signed with the SDK's credential chain.
async fn register_s3(context: &SessionContext, s3: &S3Access, bucket: &str) -> Result<()> {
    use aws_sdk_s3::config::ProvideCredentials;
    let provider = s3
        .sdk
        .credentials_provider()
        .ok_or_else(|| failure("no AWS credentials configured"))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| failure(format!("AWS credentials: {e}")))?;
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&s3.region)
        .with_access_key_id(credentials.access_key_id())
        .with_secret_access_key(credentials.secret_access_key());
    if let Some(token) = credentials.session_token() {
        builder = builder.with_token(token);
    }
    if let Some(endpoint) = &s3.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false);
    }
    let store = builder.build().map_err(failure)?;
    let url = url::Url::parse(&format!("s3://{bucket}")).map_err(failure)?;
    context.register_object_store(&url, Arc::new(store));
    Ok(())
}

/// The `key` columns (`columns` or `partition_keys`) of a catalog table's attributes, with
/// their engine types.
fn table_columns(
    attrs: &crate::resource::Attrs,
    key: &str,
) -> std::result::Result<Vec<(String, DataType)>, String> {
    attrs
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_owned();
            let glue = c["type"].as_str().unwrap_or_default();
            let kind = arrow_type(glue)
                .ok_or_else(|| format!("column {name}: no engine type for '{glue}'"))?;
            Ok((name, kind))
        })
        .collect()
}

/// A listing table for a catalog table's attributes (columns, partition keys, format).
fn listing_table(
    name: &str,
    attrs: &crate::resource::Attrs,
    url: &str,
) -> std::result::Result<ListingTable, String> {
    let fields: Vec<Field> = table_columns(attrs, "columns")?
        .into_iter()
        .map(|(n, t)| Field::new(n, t, true))
        .collect();
    let classification = attrs
        .get("parameters")
        .and_then(|p| p.get("classification"))
        .and_then(Value::as_str)
        .unwrap_or("parquet");
    let (format, extension): (Arc<dyn FileFormat>, &str) = match classification {
        "parquet" => (Arc::new(ParquetFormat::default()), ".parquet"),
        "json" => (Arc::new(JsonFormat::default()), ".jsonl"),
        other => return Err(format!("the embedded engine cannot read '{other}' tables")),
    };
    let options = ListingOptions::new(format)
        .with_file_extension(extension)
        .with_table_partition_cols(table_columns(attrs, "partition_keys")?);
    let table_url = ListingTableUrl::parse(url).map_err(|e| e.to_string())?;
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(Arc::new(Schema::new(fields)));
    ListingTable::try_new(config).map_err(|e| format!("{name}: {e}"))
}

/// The whole schema a catalog table shows to queries: its columns, then its partition keys
/// (as a listing table adds them).
fn table_schema(attrs: &crate::resource::Attrs) -> std::result::Result<Schema, String> {
    let columns = table_columns(attrs, "columns")?;
    let keys = table_columns(attrs, "partition_keys")?;
    Ok(Schema::new(
        columns
            .into_iter()
            .chain(keys)
            .map(|(n, t)| Field::new(n, t, true))
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow type the flows write for a Glue column type; `None` for types they never write.
pub fn arrow_type(glue: &str) -> Option<DataType> {
    let glue = glue.trim();
    Some(match glue {
        "string" | "varchar" => DataType::Utf8,
        "bigint" => DataType::Int64,
        "int" | "integer" => DataType::Int32,
        "double" => DataType::Float64,
        "float" => DataType::Float32,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        // The flows write instants in UTC, microseconds.
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => {
            let inner = glue.strip_prefix("struct<")?.strip_suffix('>')?;
            let fields = inner
                .split(',')
                .map(|member| {
                    let (name, kind) = member.split_once(':')?;
                    Some(Field::new(name.trim(), arrow_type(kind)?, true))
                })
                .collect::<Option<Vec<Field>>>()?;
            DataType::Struct(Fields::from(fields))
        }
    })
}

#[async_trait]
impl QueryEngine for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn table_ref(&self, _database: &str, table: &str) -> String {
        format!("\"{}\"", table.replace('"', "\"\""))
    }

    async fn query_stream(&self, sql: &str) -> Result<AnswerStream> {
        let frame = self
            .context
            .sql(&trino::unnest::lateral(sql))
            .await
            .map_err(failure)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.execute_stream().await.map_err(failure)?;
        Ok(AnswerStream {
            schema,
            batches: batches.map_err(failure).boxed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_types_map_to_what_the_flows_write() {
        assert_eq!(arrow_type("bigint"), Some(DataType::Int64));
        assert_eq!(
            arrow_type("timestamp"),
            Some(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            ))
        );
        let point = arrow_type("struct<lat:double,lon:double>").expect("struct");
        let DataType::Struct(fields) = point else {
            panic!("not a struct: {point:?}")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].name(), "lon");
        assert_eq!(arrow_type("map<string,string>"), None);
        assert_eq!(arrow_type("struct<lat:geometry>"), None);
    }
}
