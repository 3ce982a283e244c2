//! The local target's log: topics as files under `.runner/kafka/<topic>/`
//! ([`super::topic_files`]).

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::Local;
use super::files::*;
use super::topic_files::partition_for;
use crate::backend::{Log, Message, Record, Result};
use crate::resource::Attrs;

#[async_trait]
impl Log for Local {
    async fn topic(&self, name: &str) -> Result<Option<Attrs>> {
        read_json(&self.topic_file(name)?)
    }

    async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        config: &Map<String, Value>,
    ) -> Result<()> {
        if self.topic_file(name)?.exists() {
            return Err(failure(format!("topic '{name}' already exists")));
        }
        if partitions == 0 || replication_factor == 0 {
            return Err(failure(
                "partitions and replication factor must be positive",
            ));
        }
        let attrs: Attrs = [
            ("partitions".to_owned(), json!(partitions)),
            ("replication_factor".to_owned(), json!(replication_factor)),
            ("config".to_owned(), Value::Object(config.clone())),
        ]
        .into_iter()
        .collect();
        write_json(&self.topic_file(name)?, &attrs)
    }

    async fn set_topic_config(&self, name: &str, config: &Map<String, Value>) -> Result<()> {
        let file = self.topic_file(name)?;
        let mut attrs =
            read_json(&file)?.ok_or_else(|| failure(format!("topic '{name}' does not exist")))?;
        let mut current = attrs
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        current.extend(config.clone());
        attrs.insert("config".into(), Value::Object(current));
        write_json(&file, &attrs)
    }

    async fn add_partitions(&self, name: &str, total: u32) -> Result<()> {
        let file = self.topic_file(name)?;
        let mut attrs =
            read_json(&file)?.ok_or_else(|| failure(format!("topic '{name}' does not exist")))?;
        let now = attrs.get("partitions").and_then(Value::as_u64).unwrap_or(0);
        if u64::from(total) <= now {
            return Err(failure(format!(
                "topic '{name}' has {now} partitions; it can only grow"
            )));
        }
        attrs.insert("partitions".into(), json!(total));
        write_json(&file, &attrs)
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let dir = self.topic_dir(name)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    async fn produce(&self, topic: &str, records: &[Record<'_>]) -> Result<Vec<(u32, u64)>> {
        let partitions = self.partition_count(topic)?;
        let mut by_partition: Vec<Vec<(usize, &Record)>> = vec![Vec::new(); partitions as usize];
        for (i, record) in records.iter().enumerate() {
            let partition = match &record.key {
                Some(key) => partition_for(key, partitions),
                None => {
                    (self.next_unkeyed.fetch_add(1, Ordering::Relaxed) % u64::from(partitions))
                        as u32
                }
            };
            by_partition[partition as usize].push((i, record));
        }
        let files = self.topic_files(topic)?;
        let mut out = vec![(0, 0); records.len()];
        for (partition, batch) in by_partition.iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let refs: Vec<&Record> = batch.iter().map(|(_, r)| *r).collect();
            let offsets = files.append(partition as u32, &refs)?;
            for ((i, _), offset) in batch.iter().zip(offsets) {
                out[*i] = (partition as u32, offset);
            }
        }
        Ok(out)
    }

    fn idle_wait(&self) -> std::time::Duration {
        // Appended records are in the files at once.
        std::time::Duration::from_millis(200)
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<Message>> {
        if partition >= self.partition_count(topic)? {
            return Err(failure(format!(
                "topic '{topic}' has no partition {partition}"
            )));
        }
        let files = self.topic_files(topic)?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let messages = files.read(partition, offset, max)?;
            if !messages.is_empty() || std::time::Instant::now() >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.partition_count(topic)?;
        self.topic_files(topic)?.committed(group, partition)
    }

    async fn end_offset(&self, _group: &str, topic: &str, partition: u32) -> Result<u64> {
        self.partition_count(topic)?;
        self.topic_files(topic)?.end_offset(partition)
    }

    async fn join(
        &self,
        group: &str,
        topic: &str,
        partitions: u32,
    ) -> Result<Box<dyn crate::backend::Membership>> {
        self.partition_count(topic)?;
        let member = super::group::LocalMember::new(self.topic_files(topic)?, group, partitions)?;
        Ok(Box::new(member))
    }
}
