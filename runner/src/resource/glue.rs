//! The one mapping from runner's types and layouts to Glue/Hive table definitions: column
//! types, SerDe and input/output formats, partition keys and partition projection.

use serde_json::{Value, json};

use crate::spec::dataset::Dataset;
use crate::spec::storage::{Format, Layout};
use crate::spec::{Field, FieldType};

/// The Glue (Hive) type of a runner field type.
pub fn column_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String => "string",
        FieldType::Int => "bigint",
        FieldType::Double => "double",
        FieldType::Bool => "boolean",
        FieldType::Date => "date",
        FieldType::Timestamp => "timestamp",
        FieldType::GeoPoint => "struct<lat:double,lon:double>",
    }
}

/// SerDe library, its parameters, input format and output format of a layout format.
pub fn storage_format(format: Format) -> (Value, &'static str, &'static str) {
    match format {
        Format::Parquet => (
            json!({
                "library": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "parameters": { "serialization.format": "1" }
            }),
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        ),
        Format::Jsonl => (
            json!({
                "library": "org.openx.data.jsonserde.JsonSerDe",
                "parameters": { "ignore.malformed.json": "false" }
            }),
            "org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        ),
    }
}

/// One partition key of a layout: its name, its Glue type and how Athena projects it.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionKey {
    /// The Hive partition column name.
    pub name: String,
    /// Its Glue type.
    pub glue_type: &'static str,
    /// The `projection.<name>.*` parameters (without the prefix).
    pub projection: Vec<(&'static str, String)>,
}

/// The partition keys of `layout` for rows of `dataset`, from the same templates the
/// writers render (`year={{ report_datetime.year }}`).
pub fn partition_keys(layout: &Layout, dataset: &Dataset) -> Vec<PartitionKey> {
    layout
        .partition_by
        .iter()
        .filter_map(|segment| segment.split_once('='))
        .map(|(name, template)| partition_key(name, template, dataset))
        .collect()
}

/// The field a partition template renders and the attribute it takes of it
/// (`{{ report_datetime.year }}` is `report_datetime` and `year`); `None` for a template that
/// is more than one field.
pub fn template_field(template: &str) -> Option<(&str, Option<&str>)> {
    let expression = template
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .map(str::trim)?;
    if !expression
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    Some(match expression.split_once('.') {
        Some((f, a)) => (f, Some(a)),
        None => (expression, None),
    })
}

fn partition_key(name: &str, template: &str, dataset: &Dataset) -> PartitionKey {
    let (field_name, attribute) = template_field(template).unwrap_or(("", None));
    let field: Option<&Field> = dataset.fields.get(field_name);
    let integer = |min: i64, max: i64| -> (&'static str, Vec<(&'static str, String)>) {
        (
            "int",
            vec![
                ("type", "integer".into()),
                ("range", format!("{min},{max}")),
            ],
        )
    };
    let (glue_type, projection) = match (field.map(|f| f.kind), attribute) {
        (Some(_), Some("year")) => integer(1900, 2100),
        (Some(_), Some("month")) => integer(1, 12),
        (Some(_), Some("day")) => integer(1, 31),
        (Some(_), Some("hour")) => integer(0, 23),
        (Some(_), Some("date")) | (Some(FieldType::Date), None) => (
            "date",
            vec![
                ("type", "date".into()),
                ("format", "yyyy-MM-dd".into()),
                ("range", "1900-01-01,NOW".into()),
                ("interval", "1".into()),
                ("interval.unit", "DAYS".into()),
            ],
        ),
        (Some(FieldType::Int), None) => match field.and_then(|f| f.range) {
            Some([min, max]) => integer(min as i64, max as i64),
            None => ("bigint", vec![("type", "injected".into())]),
        },
        (Some(FieldType::String), None) if field.is_some_and(|f| !f.allowed.is_empty()) => (
            "string",
            vec![
                ("type", "enum".into()),
                (
                    "values",
                    field.map(|f| f.allowed.join(",")).unwrap_or_default(),
                ),
            ],
        ),
        (Some(FieldType::Bool), None) => (
            "boolean",
            vec![("type", "enum".into()), ("values", "true,false".into())],
        ),
        _ => ("string", vec![("type", "injected".into())]),
    };
    PartitionKey {
        name: name.to_owned(),
        glue_type,
        projection,
    }
}
