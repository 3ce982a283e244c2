//! Runs a [`Plan`] through the backends in dependency order (bucket, database, tables,
//! topics; deletes in reverse) and reports exactly what was and was not applied.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend::{BackendError, Backends};
use crate::plan::{Action, Change, Plan};
use crate::resource::{Address, Kind};

/// What apply did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Changes made, in order.
    pub applied: Vec<Address>,
    /// The change that failed and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<(Address, String)>,
    /// Changes not attempted because an earlier one failed.
    pub not_attempted: Vec<Address>,
}

/// Applies every change of `plan`. Stops at the first failure; a re-run converges because
/// the next plan starts from what was actually made.
pub async fn apply(plan: &Plan, backends: &Backends) -> Report {
    let mut report = Report::default();
    let pending: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    for (i, change) in pending.iter().enumerate() {
        tracing::info!(address = %change.address, action = ?change.action, "applying");
        match apply_one(change, backends).await {
            Ok(()) => report.applied.push(change.address.clone()),
            Err(e) => {
                report.failed = Some((change.address.clone(), e.to_string()));
                report.not_attempted = pending[i + 1..].iter().map(|c| c.address.clone()).collect();
                break;
            }
        }
    }
    report
}

fn object(attrs: Option<&crate::resource::Attrs>, key: &str) -> Map<String, Value> {
    attrs
        .and_then(|a| a.get(key))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn number(attrs: Option<&crate::resource::Attrs>, key: &str) -> u64 {
    attrs
        .and_then(|a| a.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

async fn apply_one(change: &Change, backends: &Backends) -> Result<(), BackendError> {
    let name = change.address.name.as_str();
    let after = change.after.as_ref();
    let table = change.address.table_parts();
    match (change.address.kind, change.action) {
        (_, Action::NoOp) => Ok(()),
        (Kind::S3Bucket, Action::Create) => {
            let region = after
                .and_then(|a| a.get("region"))
                .and_then(Value::as_str)
                .unwrap_or(&backends.region);
            backends
                .objects
                .create_bucket(name, region, &object(after, "tags"))
                .await
        }
        (Kind::S3Bucket, Action::Update) => {
            backends
                .objects
                .set_bucket_tags(name, &merged(change, "tags"))
                .await
        }
        (Kind::S3Bucket, Action::Delete) => backends.objects.delete_bucket(name).await,
        (Kind::GlueDatabase, Action::Create) => {
            backends
                .catalog
                .create_database(name, after.unwrap_or(&Default::default()))
                .await
        }
        (Kind::GlueDatabase, Action::Update) => {
            backends
                .catalog
                .update_database(name, &merged_attrs(change))
                .await
        }
        (Kind::GlueDatabase, Action::Delete) => backends.catalog.delete_database(name).await,
        (Kind::GlueTable, action) => {
            let (database, table) = table.ok_or_else(|| BackendError::Service {
                service: "glue",
                message: format!("'{name}' is not database.table"),
            })?;
            match action {
                Action::Create => {
                    backends
                        .catalog
                        .create_table(database, table, after.unwrap_or(&Default::default()))
                        .await
                }
                Action::Update => {
                    backends
                        .catalog
                        .update_table(database, table, &merged_attrs(change))
                        .await
                }
                Action::Delete => backends.catalog.delete_table(database, table).await,
                Action::Replace => {
                    backends.catalog.delete_table(database, table).await?;
                    backends
                        .catalog
                        .create_table(database, table, after.unwrap_or(&Default::default()))
                        .await
                }
                Action::NoOp => Ok(()),
            }
        }
        (Kind::KafkaTopic, Action::Create) => {
            let partitions = u32::try_from(number(after, "partitions")).unwrap_or(u32::MAX);
            let replication =
                u16::try_from(number(after, "replication_factor")).unwrap_or(u16::MAX);
            backends
                .log()?
                .create_topic(name, partitions, replication, &object(after, "config"))
                .await
        }
        (Kind::KafkaTopic, Action::Update) => {
            let wanted = number(after, "partitions");
            if wanted > number(change.before.as_ref(), "partitions") {
                backends
                    .log()?
                    .add_partitions(name, u32::try_from(wanted).unwrap_or(u32::MAX))
                    .await?;
            }
            let config = object(after, "config");
            if config != object(change.before.as_ref(), "config") {
                backends.log()?.set_topic_config(name, &config).await?;
            }
            Ok(())
        }
        (Kind::KafkaTopic, Action::Delete) => backends.log()?.delete_topic(name).await,
        (kind, Action::Replace) => Err(BackendError::Service {
            service: "runner",
            message: format!("{} resources are not replaced automatically", kind.as_str()),
        }),
    }
}

/// For a map attribute: the actual entries overlaid with the desired ones, so keys the
/// pipeline does not set (added by the service) are kept.
fn merged(change: &Change, key: &str) -> Map<String, Value> {
    let mut map = object(change.before.as_ref(), key);
    map.extend(object(change.after.as_ref(), key));
    map
}

/// The desired attributes with every map attribute merged over the actual one.
fn merged_attrs(change: &Change) -> crate::resource::Attrs {
    let mut attrs = change.after.clone().unwrap_or_default();
    for (key, value) in attrs.iter_mut() {
        if value.is_object() {
            *value = Value::Object(merged(change, key));
        }
    }
    attrs
}
