//! Topics on a Kafka cluster, through the `rdkafka` admin client (bundled librdkafka).
//!
//! Configs are changed with IncrementalAlterConfigs (only the named configs change), which
//! rdkafka does not wrap yet, so that one call goes through librdkafka's C API.

use std::ffi::{CStr, CString};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use serde_json::{Map, Value, json};

use super::{BackendError, Log, Result};
use crate::resource::Attrs;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A Kafka cluster's topics.
pub struct Kafka {
    admin: std::sync::Arc<AdminClient<DefaultClientContext>>,
}

fn failure(message: impl Into<String>) -> BackendError {
    BackendError::Service {
        service: "kafka",
        message: message.into(),
    }
}

impl Kafka {
    /// Connects an admin client with `config` (bootstrap servers and librdkafka properties).
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let admin = config
            .create::<AdminClient<DefaultClientContext>>()
            .map_err(|e| failure(format!("cannot create the Kafka client: {e}")))?;
        Ok(Kafka {
            admin: std::sync::Arc::new(admin),
        })
    }

    fn options() -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(TIMEOUT))
            .operation_timeout(Some(TIMEOUT))
    }

    /// Partition and replica counts, or `None` when the topic does not exist.
    async fn layout(&self, name: &str) -> Result<Option<(usize, usize)>> {
        let admin = std::sync::Arc::clone(&self.admin);
        let topic = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&topic), TIMEOUT)
                .map_err(|e| failure(format!("metadata of topic '{topic}': {e}")))?;
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
}

#[async_trait]
impl Log for Kafka {
    async fn topic(&self, name: &str) -> Result<Option<Attrs>> {
        let Some((partitions, replicas)) = self.layout(name).await? else {
            return Ok(None);
        };
        let described = self
            .admin
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

    async fn create_topic(
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
            .admin
            .create_topics(&[topic], &Self::options())
            .await
            .map_err(|e| failure(format!("CreateTopics {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("CreateTopics {topic}: {code}")))?;
        }
        Ok(())
    }

    async fn set_topic_config(&self, name: &str, config: &Map<String, Value>) -> Result<()> {
        let admin = std::sync::Arc::clone(&self.admin);
        let topic = name.to_owned();
        let values: Vec<(String, String)> =
            config.iter().map(|(k, v)| (k.clone(), plain(v))).collect();
        tokio::task::spawn_blocking(move || incremental_alter_configs(&admin, &topic, &values))
            .await
            .map_err(|e| failure(e.to_string()))?
    }

    async fn add_partitions(&self, name: &str, total: u32) -> Result<()> {
        let request = NewPartitions::new(name, usize::try_from(total).unwrap_or(usize::MAX));
        let results = self
            .admin
            .create_partitions(&[request], &Self::options())
            .await
            .map_err(|e| failure(format!("CreatePartitions {name}: {e}")))?;
        for result in results {
            result.map_err(|(topic, code)| failure(format!("CreatePartitions {topic}: {code}")))?;
        }
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let results = self
            .admin
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

/// Text owned by librdkafka, copied.
///
/// # Safety
/// `ptr` is null or a NUL-terminated string that lives for the call.
unsafe fn c_text(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller passes a NUL-terminated string from librdkafka.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Sets `values` on topic `name` with IncrementalAlterConfigs (operation SET), blocking
/// until the broker answers or [`TIMEOUT`] passes.
fn incremental_alter_configs(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    values: &[(String, String)],
) -> Result<()> {
    use rdkafka::bindings as rd;

    let c = |s: &str| CString::new(s).map_err(|_| failure(format!("'{s}' holds a NUL byte")));
    let topic = c(name)?;
    let pairs: Vec<(CString, CString)> = values
        .iter()
        .map(|(k, v)| Ok((c(k)?, c(v)?)))
        .collect::<Result<_>>()?;
    let rk = admin.inner().native_ptr();
    // SAFETY: every pointer passed below is created here from librdkafka's own constructors
    // or from CStrings that outlive the calls, and each object is destroyed exactly once.
    unsafe {
        let mut resource = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            topic.as_ptr(),
        );
        let mut outcome = Ok(());
        for (key, value) in &pairs {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource,
                key.as_ptr(),
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value.as_ptr(),
            );
            if !error.is_null() {
                outcome = Err(failure(format!(
                    "IncrementalAlterConfigs {name}: {}",
                    c_text(rd::rd_kafka_error_string(error))
                )));
                rd::rd_kafka_error_destroy(error);
            }
        }
        if outcome.is_ok() {
            let options = rd::rd_kafka_AdminOptions_new(
                rk,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            );
            let mut errstr = [0 as std::os::raw::c_char; 256];
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options,
                TIMEOUT.as_millis() as i32,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            let queue = rd::rd_kafka_queue_new(rk);
            rd::rd_kafka_IncrementalAlterConfigs(rk, &mut resource, 1, options, queue);
            let event = rd::rd_kafka_queue_poll(queue, (TIMEOUT.as_millis() + 1000) as i32);
            outcome = if event.is_null() {
                Err(failure(format!(
                    "IncrementalAlterConfigs {name}: no answer within {TIMEOUT:?}"
                )))
            } else if rd::rd_kafka_event_error(event)
                != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                Err(failure(format!(
                    "IncrementalAlterConfigs {name}: {}",
                    c_text(rd::rd_kafka_event_error_string(event))
                )))
            } else {
                let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
                let mut count = 0usize;
                let resources =
                    rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
                let mut found = Ok(());
                for i in 0..count {
                    let item = *resources.add(i);
                    if rd::rd_kafka_ConfigResource_error(item)
                        != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                    {
                        found = Err(failure(format!(
                            "IncrementalAlterConfigs {name}: {}",
                            c_text(rd::rd_kafka_ConfigResource_error_string(item))
                        )));
                    }
                }
                found
            };
            if !event.is_null() {
                rd::rd_kafka_event_destroy(event);
            }
            rd::rd_kafka_queue_destroy(queue);
            rd::rd_kafka_AdminOptions_destroy(options);
        }
        rd::rd_kafka_ConfigResource_destroy(resource);
        outcome
    }
}
