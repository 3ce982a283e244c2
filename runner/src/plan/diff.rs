//! `diff(desired, actual)`: a pure function from resources to a [`Plan`].
//!
//! Only what the pipeline sets is compared: a map attribute (topic configs, tags, table
//! parameters) compares the keys the pipeline names, so broker defaults and parameters AWS
//! adds by itself never show as changes.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Action, AttrChange, Change, FORMAT_VERSION, Plan, Risk, Summary};
use crate::resource::{Address, Attrs, Kind, Resource};

/// What the systems hold, as read by the backends.
#[derive(Clone, Debug, Default)]
pub struct Actual {
    /// For every desired address: its attributes, or `None` when it does not exist.
    pub resources: BTreeMap<Address, Option<Attrs>>,
    /// Resources that carry runner's marker for this pipeline but are not desired.
    pub leftovers: Vec<Resource>,
}

impl Actual {
    /// A digest of everything read, independent of key order.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for (address, attrs) in &self.resources {
            hasher.update(address.to_string());
            let value = attrs.as_ref().map(|a| canonical(&serde_json::json!(a)));
            hasher.update(value.map(|v| v.to_string()).unwrap_or_default());
            hasher.update([0]);
        }
        for leftover in &self.leftovers {
            hasher.update(leftover.address.to_string());
            hasher.update([1]);
        }
        let digest = hasher.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A value with object keys sorted at every level.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The plan that takes `actual` to `desired`. With `prune`, leftovers are deleted.
pub fn diff(
    pipeline: &str,
    target: &str,
    desired: &[Resource],
    actual: &Actual,
    prune: bool,
) -> Plan {
    let mut changes = Vec::new();
    for resource in desired {
        let before = actual.resources.get(&resource.address).cloned().flatten();
        changes.push(change_for(resource, before));
    }
    let mut leftovers = Vec::new();
    for leftover in &actual.leftovers {
        if prune {
            changes.push(Change {
                address: leftover.address.clone(),
                action: Action::Delete,
                risk: Risk::Destructive,
                attributes: Vec::new(),
                error: None,
                before: Some(leftover.attrs.clone()),
                after: None,
            });
        } else {
            leftovers.push(leftover.address.clone());
        }
    }
    // Deletes go in reverse dependency order: topics, tables, database, bucket.
    changes.sort_by_key(|c| match c.action {
        Action::Delete => (1, std::cmp::Reverse(c.address.kind)),
        _ => (0, std::cmp::Reverse(Kind::S3Bucket)),
    });
    let mut summary = Summary::default();
    for change in &changes {
        match change.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Replace => {
                summary.add += 1;
                summary.destroy += 1;
            }
            Action::Delete => summary.destroy += 1,
            Action::NoOp => {}
        }
    }
    Plan {
        format_version: FORMAT_VERSION,
        pipeline: pipeline.to_owned(),
        target: target.to_owned(),
        fingerprint: actual.fingerprint(),
        changes,
        unmanaged_leftovers: leftovers,
        summary,
    }
}

fn change_for(resource: &Resource, before: Option<Attrs>) -> Change {
    let Some(before) = before else {
        return Change {
            address: resource.address.clone(),
            action: Action::Create,
            risk: Risk::Safe,
            attributes: Vec::new(),
            error: None,
            before: None,
            after: Some(resource.attrs.clone()),
        };
    };
    let mut differences = Vec::new();
    for (name, desired) in &resource.attrs {
        compare(name, desired, before.get(name), &mut differences);
    }
    let mut error = None;
    let attributes: Vec<AttrChange> = differences
        .into_iter()
        .map(|(name, before, after)| {
            let (risk, note, impossible) = classify(
                resource.address.kind,
                &name,
                before.as_ref(),
                after.as_ref(),
            );
            if let Some(reason) = impossible {
                error.get_or_insert(reason);
            }
            AttrChange {
                name,
                before,
                after,
                risk,
                note,
            }
        })
        .collect();
    let risk = attributes
        .iter()
        .map(|a| a.risk)
        .max()
        .unwrap_or(Risk::Safe);
    Change {
        address: resource.address.clone(),
        action: if attributes.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        },
        risk,
        attributes,
        error,
        before: Some(before),
        after: Some(resource.attrs.clone()),
    }
}

/// Collects `(name, before, after)` for every difference between `desired` and `actual`.
fn compare(
    name: &str,
    desired: &Value,
    actual: Option<&Value>,
    out: &mut Vec<(String, Option<Value>, Option<Value>)>,
) {
    match desired {
        Value::Object(map) => {
            for (key, value) in map {
                compare(
                    &format!("{name}.{key}"),
                    value,
                    actual.and_then(|a| a.get(key)),
                    out,
                );
            }
        }
        Value::Array(items)
            if items.iter().all(|i| i.get("name").is_some()) && !items.is_empty() =>
        {
            let empty = Vec::new();
            let actual_items = actual.and_then(Value::as_array).unwrap_or(&empty);
            let named = |list: &[Value], wanted: &Value| {
                list.iter().find(|i| i.get("name") == Some(wanted)).cloned()
            };
            for item in items {
                let key = &item["name"];
                let found = named(actual_items, key);
                if found.as_ref() != Some(item) {
                    out.push((
                        format!("{name}.{}", key.as_str().unwrap_or_default()),
                        found,
                        Some(item.clone()),
                    ));
                }
            }
            for item in actual_items {
                if let Some(key) = item.get("name")
                    && named(items, key).is_none()
                {
                    out.push((
                        format!("{name}.{}", key.as_str().unwrap_or_default()),
                        Some(item.clone()),
                        None,
                    ));
                }
            }
        }
        _ => {
            if actual != Some(desired) {
                out.push((name.to_owned(), actual.cloned(), Some(desired.clone())));
            }
        }
    }
}

/// Risk of one attribute change, a note, and an error when the change is impossible.
fn classify(
    kind: Kind,
    name: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> (Risk, Option<String>, Option<String>) {
    let number = |v: Option<&Value>| v.and_then(Value::as_u64);
    match (kind, name) {
        (Kind::KafkaTopic, "partitions") => match (number(before), number(after)) {
            (Some(b), Some(a)) if a < b => (
                Risk::Destructive,
                None,
                Some(format!(
                    "Kafka cannot remove partitions ({b} -> {a}); to shrink the topic, delete it and create it again"
                )),
            ),
            _ => (
                Risk::Disruptive,
                Some("keys hash to new partitions; ordering per key holds only for new messages".into()),
                None,
            ),
        },
        (Kind::KafkaTopic, "replication_factor") => (
            Risk::Disruptive,
            None,
            Some("runner does not reassign replicas; change the replication factor with a partition reassignment".into()),
        ),
        (Kind::S3Bucket, "region") => (
            Risk::Destructive,
            None,
            Some("a bucket cannot move to another region; name a new bucket".into()),
        ),
        (Kind::GlueTable, n) if n.starts_with("columns.") => match (before, after) {
            (None, Some(_)) => (Risk::Safe, None, None),
            (Some(_), None) => (Risk::Destructive, Some("queries lose this column".into()), None),
            _ => (Risk::Destructive, Some("existing files keep the old type".into()), None),
        },
        (Kind::GlueTable, n) if n.starts_with("partition_keys.") => (
            Risk::Destructive,
            Some("existing partitions no longer match the table".into()),
            None,
        ),
        (Kind::GlueTable, "location" | "input_format" | "output_format") => (
            Risk::Disruptive,
            Some("queries read other files".into()),
            None,
        ),
        (Kind::GlueTable, n) if n.starts_with("serde.") => (
            Risk::Disruptive,
            Some("queries read other files".into()),
            None,
        ),
        _ => (Risk::Safe, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn topic(partitions: u64, config: Value) -> Resource {
        Resource {
            address: Address::new(Kind::KafkaTopic, "t"),
            attrs: [
                ("partitions".to_owned(), json!(partitions)),
                ("replication_factor".to_owned(), json!(1)),
                ("config".to_owned(), config),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn actual_of(resource: &Resource) -> Actual {
        Actual {
            resources: [(resource.address.clone(), Some(resource.attrs.clone()))]
                .into_iter()
                .collect(),
            leftovers: Vec::new(),
        }
    }

    #[test]
    fn missing_resources_are_created() {
        let desired = [topic(3, json!({}))];
        let plan = diff("p", "local", &desired, &Actual::default(), false);
        assert_eq!(plan.changes[0].action, Action::Create);
        assert_eq!(
            plan.summary,
            Summary {
                add: 1,
                change: 0,
                destroy: 0
            }
        );
    }

    #[test]
    fn defaults_the_pipeline_does_not_set_never_show() {
        let desired = topic(3, json!({"retention.ms": "1000"}));
        let actual = topic(
            3,
            json!({"retention.ms": "1000", "segment.bytes": "1073741824"}),
        );
        let plan = diff("p", "local", &[desired], &actual_of(&actual), false);
        assert!(!plan.has_changes(), "{plan:?}");
    }

    #[test]
    fn config_drift_is_a_safe_update() {
        let desired = topic(3, json!({"retention.ms": "1000"}));
        let actual = topic(3, json!({"retention.ms": "5"}));
        let plan = diff("p", "local", &[desired], &actual_of(&actual), false);
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Update);
        assert_eq!(change.risk, Risk::Safe);
        assert_eq!(change.attributes[0].name, "config.retention.ms");
        assert_eq!(change.attributes[0].before, Some(json!("5")));
    }

    #[test]
    fn fewer_partitions_is_an_error_not_a_skip() {
        let plan = diff(
            "p",
            "local",
            &[topic(2, json!({}))],
            &actual_of(&topic(3, json!({}))),
            false,
        );
        let change = &plan.changes[0];
        assert!(
            change
                .error
                .as_deref()
                .is_some_and(|e| e.contains("cannot remove partitions"))
        );
        assert_eq!(plan.errors().count(), 1);
    }

    #[test]
    fn more_partitions_is_disruptive() {
        let plan = diff(
            "p",
            "local",
            &[topic(6, json!({}))],
            &actual_of(&topic(3, json!({}))),
            false,
        );
        assert_eq!(plan.changes[0].risk, Risk::Disruptive);
        assert!(plan.changes[0].error.is_none());
    }

    #[test]
    fn removed_and_retyped_columns_are_destructive() {
        let table = |columns: Value| Resource {
            address: Address::new(Kind::GlueTable, "db.t"),
            attrs: [("columns".to_owned(), columns)].into_iter().collect(),
        };
        let desired =
            table(json!([{"name": "a", "type": "bigint"}, {"name": "c", "type": "string"}]));
        let actual =
            table(json!([{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]));
        let plan = diff("p", "local", &[desired], &actual_of(&actual), false);
        let names: Vec<(&str, Risk)> = plan.changes[0]
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.risk))
            .collect();
        assert_eq!(
            names,
            [
                ("columns.a", Risk::Destructive),
                ("columns.c", Risk::Safe),
                ("columns.b", Risk::Destructive)
            ]
        );
        assert_eq!(plan.destructive().count(), 1);
    }

    #[test]
    fn leftovers_are_deleted_only_with_prune_and_the_fingerprint_ignores_key_order() {
        let leftover = topic(1, json!({}));
        let actual = Actual {
            resources: BTreeMap::new(),
            leftovers: vec![leftover],
        };
        let kept = diff("p", "local", &[], &actual, false);
        assert!(!kept.has_changes());
        assert_eq!(kept.unmanaged_leftovers.len(), 1);
        let pruned = diff("p", "local", &[], &actual, true);
        assert_eq!(pruned.changes[0].action, Action::Delete);
        assert_eq!(pruned.summary.destroy, 1);

        let a = actual_of(&topic(1, json!({"x": "1", "y": "2"})));
        let b = actual_of(&topic(1, json!({"y": "2", "x": "1"})));
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            actual_of(&topic(2, json!({}))).fingerprint()
        );
    }
}
