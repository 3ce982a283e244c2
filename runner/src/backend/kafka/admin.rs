//! Topics through the admin client: describe, create, configure, grow and delete.

use std::sync::Arc;

use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use serde_json::{Map, Value, json};

use super::clients;
use super::clients::metadata_client;
use super::ffi::incremental_alter_configs;
use super::{Kafka, TIMEOUT, failure, reachable};
use crate::backend::Result;
use crate::resource::Attrs;

impl Kafka {
    pub(super) fn admin(&self) -> Result<Arc<AdminClient<DefaultClientContext>>> {
        self.admin.get(|| {
            self.config
                .create::<AdminClient<DefaultClientContext>>()
                .map_err(|e| failure(format!("cannot create the Kafka admin client: {e}")))
        })
    }

    pub(super) fn options() -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(TIMEOUT))
            .operation_timeout(Some(TIMEOUT))
    }

    /// Partition and replica counts, or `None` when the topic does not exist.
    pub(super) async fn layout(&self, name: &str) -> Result<Option<(usize, usize)>> {
        let config = self.config.clone();
        let topic = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = metadata_client(&config)
                .and_then(|client| client.fetch_metadata(Some(&topic), TIMEOUT))
                .map_err(|e| {
                    let e = match e.rdkafka_error_code() {
                        Some(
                            RDKafkaErrorCode::BrokerTransportFailure
                            | RDKafkaErrorCode::OperationTimedOut
                            | RDKafkaErrorCode::AllBrokersDown,
                        ) => format!(
                            "no broker answered within {} s ({e}); {}",
                            TIMEOUT.as_secs(),
                            reachable(&config)
                        ),
                        _ => e.to_string(),
                    };
                    failure(format!("metadata of topic '{topic}': {e}"))
                })?;
            let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                return Ok(None);
            };
            match found.error() {
                None => {}
                Some(code)
                    if RDKafkaErrorCode::from(code)
                        == RDKafkaErrorCode::UnknownTopicOrPartition =>
                {
                    return Ok(None);
                }
                Some(code) => {
                    return Err(failure(format!(
                        "metadata of topic '{topic}': {}",
                        RDKafkaErrorCode::from(code)
                    )));
                }
            }
            let partitions = found.partitions();
            let replicas = partitions.first().map_or(0, |p| p.replicas().len());
            Ok(Some((partitions.len(), replicas)))
        })
        .await
        .map_err(|e| failure(e.to_string()))?
    }

    /// [`Log::topic`](crate::backend::Log::topic) on this cluster.
    pub(super) async fn describe_topic(&self, name: &str) -> Result<Option<Attrs>> {
        let Some((partitions, replicas)) = self.layout(name).await? else {
            return Ok(None);
        };
        let described = self
            .admin()?
            .describe_configs(&[ResourceSpecifier::Topic(name)], &Self::options())
            .await
            .map_err(|e| failure(format!("DescribeConfigs {name}: {e}")))?;
        let mut config = Map::new();
        for resource in described {
            let resource = resource.map_err(|e| failure(format!("DescribeConfigs {name}: {e}")))?;
            for entry in resource.entries {
                if let Some(value) = entry.value {
                    config.insert(entry.name, json!(value));
                }
            }
        }
        Ok(Some(
            [
                ("partitions".to_owned(), json!(partitions)),
                ("replication_factor".to_owned(), json!(replicas)),
                ("config".to_owned(), Value::Object(config)),
            ]
            .into_iter()
            .collect(),
        ))
    }

    /// [`Log::release_admin`](crate::backend::Log::release_admin) on this cluster.
    pub(super) fn drop_admin(&self) {
        // The admin client's teardown waits up to 100 ms for its polling thread: it goes on
        // while the command does the rest of its work.
        if let Some(admin) = self.admin.take() {
            clients::drop_later(admin);
        }
    }

    /// [`Log::partition_count`](crate::backend::Log::partition_count) on this cluster.
    pub(super) async fn count_partitions(&self, name: &str) -> Result<Option<u32>> {
        // The metadata alone, without the topic's configs.
        Ok(self
            .layout(name)
            .await?
            .map(|(partitions, _)| u32::try_from(partitions).unwrap_or(u32::MAX)))
    }

    /// [`Log::create_topic`](crate::backend::Log::create_topic) on this cluster.
    pub(super) async fn make_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        config: &Map<String, Value>,
    ) -> Result<()> {
        let values: Vec<(String, String)> =
            config.iter().map(|(k, v)| (k.clone(), plain(v))).collect();
        let mut topic = NewTopic::new(
            name,
            i32::try_from(partitions).unwrap_or(i32::MAX),
            TopicReplication::Fixed(i32::from(replication_factor)),
        );
        for (key, value) in &values {
            topic = topic.set(key, value);
        }
        let results = self
            .admin()?
            .create_topics(&[topic], &Self::options())
            .await
            .map_err(|e| failure(format!("CreateTopics {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("CreateTopics {topic}: {code}")))?;
        }
        Ok(())
    }

    /// [`Log::set_topic_config`](crate::backend::Log::set_topic_config) on this cluster.
    pub(super) async fn alter_topic_config(
        &self,
        name: &str,
        config: &Map<String, Value>,
    ) -> Result<()> {
        let admin = self.admin()?;
        let topic = name.to_owned();
        let values: Vec<(String, String)> =
            config.iter().map(|(k, v)| (k.clone(), plain(v))).collect();
        tokio::task::spawn_blocking(move || incremental_alter_configs(&admin, &topic, &values))
            .await
            .map_err(|e| failure(e.to_string()))?
    }

    /// [`Log::add_partitions`](crate::backend::Log::add_partitions) on this cluster.
    pub(super) async fn grow_partitions(&self, name: &str, total: u32) -> Result<()> {
        let request = NewPartitions::new(name, usize::try_from(total).unwrap_or(usize::MAX));
        let results = self
            .admin()?
            .create_partitions(&[request], &Self::options())
            .await
            .map_err(|e| failure(format!("CreatePartitions {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("CreatePartitions {topic}: {code}")))?;
        }
        Ok(())
    }

    /// [`Log::delete_topic`](crate::backend::Log::delete_topic) on this cluster.
    pub(super) async fn remove_topic(&self, name: &str) -> Result<()> {
        // This client's consumers go first: one that knew the topic asks for its metadata
        // again, and tansu 0.6's answer for a deleted topic crashes librdkafka's metadata
        // cache.
        self.readers
            .lock()
            .map_err(|_| failure("the reader table is poisoned"))?
            .retain(|(topic, _), _| topic != name);
        self.groups
            .lock()
            .map_err(|_| failure("the group table is poisoned"))?
            .clear();
        let results = self
            .admin()?
            .delete_topics(&[name], &Self::options())
            .await
            .map_err(|e| failure(format!("DeleteTopics {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("DeleteTopics {topic}: {code}")))?;
        }
        Ok(())
    }
}
fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}
