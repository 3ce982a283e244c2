//! The desired resources of a pipeline, derived from its spec.

use serde_json::{Map, Value, json};

use super::glue::{column_type, partition_keys, storage_format};
use super::{Address, Attrs, Kind, Resource, markers};
use crate::spec::Pipeline;

/// Every resource `pipeline` needs, in apply order (bucket, database, tables, topics).
/// `region` is the target's region (for the bucket).
pub fn desired(pipeline: &Pipeline, region: &str) -> Vec<Resource> {
    let mut out = Vec::new();
    let name = &pipeline.pipeline;
    if let Some(storage) = &pipeline.storage {
        out.push(Resource {
            address: Address::new(Kind::S3Bucket, &storage.bucket),
            attrs: attrs([("region", json!(region)), ("tags", markers(name))]),
        });
    }
    if let Some(catalog) = &pipeline.catalog {
        out.push(Resource {
            address: Address::new(Kind::GlueDatabase, &catalog.database),
            attrs: attrs([
                (
                    "description",
                    json!(
                        pipeline
                            .description
                            .clone()
                            .unwrap_or_else(|| format!("Tables of the {name} pipeline"))
                    ),
                ),
                ("parameters", markers(name)),
            ]),
        });
        for (table_name, table) in &catalog.tables {
            let (Some(dataset), Some(storage)) = (
                pipeline.datasets.get(&table.dataset),
                pipeline.storage.as_ref(),
            ) else {
                continue;
            };
            let Some(layout) = storage.layouts.get(&table.layout) else {
                continue;
            };
            let location = format!("s3://{}/{}", storage.bucket, layout.prefix);
            let columns: Vec<Value> = dataset
                .fields
                .iter()
                .map(|(n, f)| json!({ "name": n, "type": column_type(f.kind) }))
                .collect();
            let keys = partition_keys(layout, dataset);
            let mut parameters = Map::new();
            parameters.insert(
                "classification".into(),
                json!(classification(layout.format)),
            );
            parameters.insert("EXTERNAL".into(), json!("TRUE"));
            if let Value::Object(m) = markers(name) {
                parameters.extend(m);
            }
            if table.projection && !keys.is_empty() {
                parameters.insert("projection.enabled".into(), json!("true"));
                for key in &keys {
                    for (setting, value) in &key.projection {
                        parameters
                            .insert(format!("projection.{}.{setting}", key.name), json!(value));
                    }
                }
                let template: String = keys
                    .iter()
                    .map(|k| format!("{}=${{{}}}/", k.name, k.name))
                    .collect();
                parameters.insert(
                    "storage.location.template".into(),
                    json!(format!("{location}{template}")),
                );
            }
            let (serde, input, output) = storage_format(layout.format);
            let partition_columns: Vec<Value> = keys
                .iter()
                .map(|k| json!({ "name": k.name, "type": k.glue_type }))
                .collect();
            out.push(Resource {
                address: Address::new(
                    Kind::GlueTable,
                    format!("{}.{table_name}", catalog.database),
                ),
                attrs: attrs([
                    (
                        "description",
                        json!(table.description.clone().unwrap_or_default()),
                    ),
                    ("table_type", json!("EXTERNAL_TABLE")),
                    ("columns", Value::Array(columns)),
                    ("partition_keys", Value::Array(partition_columns)),
                    ("location", json!(location)),
                    ("input_format", json!(input)),
                    ("output_format", json!(output)),
                    ("serde", serde),
                    ("parameters", Value::Object(parameters)),
                ]),
            });
        }
    }
    for (topic_name, topic) in &pipeline.topics {
        let config: Map<String, Value> = topic
            .config
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.to_string())))
            .collect();
        out.push(Resource {
            address: Address::new(Kind::KafkaTopic, topic_name),
            attrs: attrs([
                ("partitions", json!(topic.partitions)),
                ("replication_factor", json!(topic.replication_factor)),
                ("config", Value::Object(config)),
            ]),
        });
    }
    out
}

/// The Glue `classification` of a layout format.
fn classification(format: crate::spec::Format) -> &'static str {
    match format {
        crate::spec::Format::Parquet => "parquet",
        crate::spec::Format::Jsonl => "json",
    }
}

fn attrs<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seattle() -> Pipeline {
        crate::load::seattle_pipeline()
    }

    #[test]
    fn the_seattle_pipeline_needs_bucket_database_tables_and_topic() {
        let resources = desired(&seattle(), "us-west-2");
        let addresses: Vec<String> = resources.iter().map(|r| r.address.to_string()).collect();
        assert_eq!(
            addresses,
            [
                "s3_bucket.seattle-911",
                "glue_database.seattle_911",
                "glue_table.seattle_911.offenses",
                "glue_table.seattle_911.offenses_incremental",
                "kafka_topic.seattle_911_crime"
            ]
        );
    }

    #[test]
    fn projection_follows_the_partition_template() {
        let resources = desired(&seattle(), "us-west-2");
        let table = &resources[2].attrs;
        let params = &table["parameters"];
        assert_eq!(params["projection.enabled"], "true");
        assert_eq!(params["projection.year.type"], "integer");
        assert_eq!(params["projection.month.range"], "1,12");
        assert_eq!(
            params["storage.location.template"],
            "s3://seattle-911/historical/year=${year}/month=${month}/"
        );
        assert_eq!(
            table["partition_keys"][0],
            json!({"name": "year", "type": "int"})
        );
        assert_eq!(
            table["columns"][1],
            json!({"name": "offense_id", "type": "bigint"})
        );
        assert_eq!(
            table["columns"][4],
            json!({"name": "report_datetime", "type": "timestamp"})
        );
        let incremental = &resources[3].attrs;
        assert_eq!(
            incremental["partition_keys"][0],
            json!({"name": "report_date", "type": "date"})
        );
        assert!(
            incremental["parameters"]
                .get("projection.enabled")
                .is_none()
        );
        assert_eq!(
            incremental["serde"]["library"],
            "org.openx.data.jsonserde.JsonSerDe"
        );
    }
}
