//! Producing: the idempotent producer, made on first use and warmed up ahead of the
//! first produce, and its acknowledgements awaited per call.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _};

use super::acks;
use super::clients;
use super::clients::Producer;
use super::{ACK_MARGIN, Kafka, WARM_UP_TIMEOUT, failure, reachable};
use crate::backend::{BackendError, Record, Result};

impl Kafka {
    /// A produce call's failure `e` (the first record failure reported).
    pub(super) fn produce_failure(&self, topic: &str, e: acks::Failure) -> BackendError {
        let e = match e {
            acks::Failure::TimedOut => format!(
                "no acknowledgement within message.timeout.ms ({} ms); {}",
                self.message_timeout.map_or(0, |t| t.as_millis()),
                reachable(&self.config)
            ),
            acks::Failure::Other(e) => e,
        };
        failure(format!("Produce to {topic}: {e}"))
    }

    /// The idempotent producer: no duplicates from its own retries; by default the same
    /// key partitioning as Kafka's Java clients (murmur2).
    pub(super) fn producer(&self) -> Result<Arc<Producer>> {
        self.producer.get(|| {
            Producer::new(&self.producer_config)
                .map_err(|e| failure(format!("cannot create the Kafka producer: {e}")))
        })
    }

    /// [`Log::prepare`](crate::backend::Log::prepare) on this cluster.
    pub(super) fn warm_up(&self, topic: &str) {
        // Every metadata answer makes the idempotent producer ask for its id if it has
        // none. The first answer comes over the bootstrap connection, before the broker it
        // names is up, so the producer would retry only on its 500 ms timer; a second
        // request, answered over the broker's own connection, gets the id at once
        // (measured against tansu 0.6: 0.06 s instead of 0.5 s).
        // A thread of its own, no runtime needed; it holds the producer, so the process
        // waits for it before it exits, which the short timeout keeps short.
        let producer = match self.producer() {
            Ok(producer) => producer,
            Err(e) => {
                tracing::warn!(topic, error = %e, "the producer was not made ahead");
                return;
            }
        };
        let topic = topic.to_owned();
        clients::spawn_tracked("kafka-warm-up", move || {
            for _ in 0..2 {
                if let Err(e) = producer
                    .client()
                    .fetch_metadata(Some(&topic), WARM_UP_TIMEOUT)
                {
                    tracing::warn!(topic, error = %e, "the broker did not answer a metadata request within {} s", WARM_UP_TIMEOUT.as_secs());
                    return;
                }
            }
        });
    }

    /// [`Log::produce`](crate::backend::Log::produce) on this cluster.
    pub(super) async fn produce_acknowledged(
        &self,
        topic: &str,
        records: &[Record<'_>],
    ) -> Result<Vec<(u32, u64)>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Every record is queued at once (librdkafka batches them); only then are the
        // acknowledgements awaited. A full queue is tried again as acknowledgements free it,
        // unless a record of the call failed meanwhile.
        let producer = self.producer()?;
        let mut registered = producer.context().register(records.len());
        for (index, record) in records.iter().enumerate() {
            let mut message =
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, registered.ticket(index))
                    .payload(record.value);
            if let Some(key) = record.key {
                message = message.key(key);
            }
            loop {
                match producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        if let Some(e) = registered.failure() {
                            return Err(self.produce_failure(topic, e));
                        }
                        message = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => return Err(failure(format!("Produce to {topic}: {e}"))),
                }
            }
        }
        let outcome = match self.message_timeout {
            Some(timeout) => tokio::time::timeout(timeout + ACK_MARGIN, &mut registered.outcome)
                .await
                .map_err(|_| {
                    failure(format!(
                        "Produce to {topic}: librdkafka reported nothing within {} s",
                        (timeout + ACK_MARGIN).as_secs()
                    ))
                })?,
            // The pipeline lets librdkafka try for ever (`message.timeout.ms: 0`).
            None => (&mut registered.outcome).await,
        };
        outcome
            .map_err(|_| failure(format!("Produce to {topic}: the producer went away")))?
            .map_err(|e| self.produce_failure(topic, e))
    }
}
