//! Templates: partition templates compile and use fields of the datasets written to the
//! layout with a usable type; query templates compile and `table()` names catalog tables.

use std::sync::{Arc, Mutex};

use minijinja::{Environment, UndefinedBehavior};

use super::{Ctx, names, ptr};
use crate::spec::FieldType;
use crate::suggest::did_you_mean;

/// Attributes date and timestamp values offer to partition templates.
const TEMPORAL_ATTRIBUTES: &[&str] = &["year", "month", "day", "hour", "date"];

/// Checks every partition and query template.
pub(super) fn check_templates(ctx: &mut Ctx<'_>) {
    check_partitions(ctx);
    check_queries(ctx);
}

/// A minijinja error in a few words.
fn template_error(e: &minijinja::Error) -> String {
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    match e.line() {
        Some(line) if line > 1 => format!("template error on line {line}{detail} ({})", e.kind()),
        _ => format!("template error{detail} ({})", e.kind()),
    }
}

fn check_partitions(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let Some(storage) = &p.storage else { return };
    let env = Environment::new();
    for (layout_name, layout) in &storage.layouts {
        let datasets = p.layout_datasets(layout_name);
        for (i, segment) in layout.partition_by.iter().enumerate() {
            let at = ptr(&[
                "storage/layouts",
                layout_name,
                "partition_by",
                &i.to_string(),
            ]);
            let Some((key, template)) = segment.split_once('=') else {
                ctx.error(
                    &at,
                    false,
                    format!("partition '{segment}' is not `name={{{{ template }}}}`"),
                )
                .hint = Some("e.g. `year={{ report_datetime.year }}`".into());
                continue;
            };
            ctx.rule(&at, false, names::glue("partition column", key));
            let compiled = match env.template_from_str(template) {
                Ok(t) => t,
                Err(e) => {
                    ctx.error(&at, false, template_error(&e));
                    continue;
                }
            };
            let mut variables: Vec<String> =
                compiled.undeclared_variables(true).into_iter().collect();
            variables.sort();
            if variables.is_empty() {
                ctx.warning(
                    &at,
                    false,
                    format!("partition '{key}' uses no field, so every row lands in one partition"),
                );
            }
            for dataset_name in &datasets {
                let Some(dataset) = p.datasets.get(*dataset_name) else {
                    continue;
                };
                if dataset.fields.contains_key(key) {
                    ctx.error(
                        &at,
                        false,
                        format!(
                            "partition column '{key}' is also a field of dataset '{dataset_name}'"
                        ),
                    )
                    .hint = Some(
                        "Hive partition columns may not repeat a data column; rename the partition"
                            .into(),
                    );
                }
                for variable in &variables {
                    let (field_name, attribute) = match variable.split_once('.') {
                        Some((f, a)) => (f, Some(a)),
                        None => (variable.as_str(), None),
                    };
                    let Some(field) = dataset.fields.get(field_name) else {
                        let hint =
                            did_you_mean(field_name, dataset.fields.keys().map(String::as_str));
                        ctx.error(&at, false, format!("partition template uses '{field_name}', which is not a field of dataset '{dataset_name}'"))
                            .hint = hint;
                        continue;
                    };
                    check_partition_value(ctx, &at, field_name, field.kind, attribute);
                }
            }
        }
    }
}

/// Whether `field.attribute` (or the bare field) makes a usable partition value.
fn check_partition_value(
    ctx: &mut Ctx<'_>,
    at: &str,
    field: &str,
    kind: FieldType,
    attribute: Option<&str>,
) {
    let type_name = kind.as_str();
    match attribute {
        Some(attr) if kind.is_temporal() => {
            if !TEMPORAL_ATTRIBUTES.contains(&attr) || (attr == "hour" && kind == FieldType::Date) {
                let hint = did_you_mean(attr, TEMPORAL_ATTRIBUTES.iter().copied()).or_else(|| {
                    Some(format!(
                        "{type_name} fields offer .year, .month, .day, .date{}",
                        if kind == FieldType::Timestamp {
                            ", .hour"
                        } else {
                            ""
                        }
                    ))
                });
                ctx.error(
                    at,
                    false,
                    format!("'{field}.{attr}': {type_name} fields have no attribute '{attr}'"),
                )
                .hint = hint;
            }
        }
        Some(attr) => {
            ctx.error(
                at,
                false,
                format!(
                    "'{field}.{attr}': '{field}' is a {type_name} field, which has no attributes"
                ),
            );
        }
        None => match kind {
            FieldType::Double | FieldType::GeoPoint => {
                ctx.error(
                    at,
                    false,
                    format!("'{field}' is a {type_name} field, which cannot name a partition"),
                )
                .hint = Some("partition on text, whole numbers, booleans or dates".into());
            }
            FieldType::Timestamp => {
                ctx.warning(
                    at,
                    false,
                    format!("'{field}' is a timestamp: one partition per instant"),
                )
                .hint = Some(format!("use {field}.date, {field}.year or {field}.month"));
            }
            _ => {}
        },
    }
}

fn check_queries(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let tables: Vec<String> = p
        .catalog
        .iter()
        .flat_map(|c| c.tables.keys().cloned())
        .collect();
    for (name, query) in &p.queries {
        let at = ptr(&["queries", name, "sql"]);
        let used: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let recorder = Arc::clone(&used);
        env.add_function("table", move |table: String| {
            recorder.lock().map(|mut u| u.push(table.clone())).ok();
            table
        });
        let compiled = match env.template_from_str(&query.sql) {
            Ok(t) => t,
            Err(e) => {
                ctx.error(&at, false, template_error(&e));
                continue;
            }
        };
        let mut unknown: Vec<String> = compiled
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| v != "table")
            .collect();
        unknown.sort();
        if !unknown.is_empty() {
            ctx.error(
                &at,
                false,
                format!(
                    "query template uses unknown variables: {}",
                    unknown.join(", ")
                ),
            )
            .hint = Some("query templates offer only `table('NAME')`".into());
            continue;
        }
        if let Err(e) = compiled.render(()) {
            ctx.error(&at, false, template_error(&e));
            continue;
        }
        let used = used.lock().map(|u| u.clone()).unwrap_or_default();
        if used.is_empty() {
            ctx.warning(&at, false, "the query names no table with `table('NAME')`")
                .hint =
                Some("write {{ table('NAME') }} so each engine gets the right table name".into());
        }
        for table in used {
            if !tables.contains(&table) {
                let hint = did_you_mean(&table, tables.iter().map(String::as_str))
                    .or_else(|| Some(format!("catalog tables: {}", tables.join(", "))));
                ctx.error(
                    &at,
                    false,
                    format!("table('{table}') names no catalog table"),
                )
                .hint = hint;
            }
        }
    }
}
