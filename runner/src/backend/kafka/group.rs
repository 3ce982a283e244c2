//! A deliver worker's membership in its consumer group through Kafka's own group protocol:
//! a consumer subscribed to the topic in the flow's `group` with the cooperative-sticky
//! assignor, so the group coordinator decides which worker reads which partition, a worker
//! killed is replaced once its session ends, and `kafka-consumer-groups --describe` shows
//! the members, their partitions and the committed offsets.
//!
//! The member consumer only takes part in the group: it pauses every partition it is
//! assigned, so it fetches nothing, and the worker reads each partition through its own
//! reader ([`super`]). It commits the group's offsets, as a member of the current
//! generation. Static membership (`group.instance.id` in the target's Kafka properties,
//! from a stable worker name such as the pod's) reaches this consumer only.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::failure;
use super::ffi::queued_events;
use crate::backend::{Membership, Result};

/// The member's settings unless the target's properties say otherwise: a worker killed is
/// taken for gone after 10 s (tansu holds a rejoining member 3 s, twice for a static one,
/// so a shorter session can evict a healthy member mid-rebalance), and it beats every
/// second.
const MEMBER_DEFAULTS: [(&str, &str); 2] = [
    ("session.timeout.ms", "10000"),
    ("heartbeat.interval.ms", "1000"),
];

/// Events served per call of [`KafkaMember::assignment`] at most.
const EVENTS_PER_BEAT: usize = 1000;
/// How long leaving waits for the group to take the partitions back.
const LEAVE_PATIENCE: Duration = Duration::from_secs(5);
/// The longest a member without partitions waits before it joins its group again.
const REJOIN_PATIENCE_MAX: Duration = Duration::from_secs(300);

/// The member consumer's context: pauses the partitions the group assigns (the member
/// fetches nothing) and logs the rebalances.
struct MemberContext;

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| -> Vec<i32> {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        match rebalance {
            Rebalance::Assign(list) if list.count() > 0 => {
                if let Err(e) = consumer.pause(list) {
                    tracing::warn!(error = %e, "the group member could not pause its partitions");
                }
                tracing::info!(partitions = ?partitions(list), "partitions assigned by the group");
            }
            Rebalance::Revoke(list) if list.count() > 0 => {
                tracing::info!(partitions = ?partitions(list), "partitions revoked by the group");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "the group's rebalance failed"),
            _ => {}
        }
    }
}

/// When a member the group leaves without a partition joins it again.
///
/// A coordinator can settle a generation that gives no member anything: tansu 0.6 does when
/// the leader's session ends between the others' JoinGroup and SyncGroup (it takes a
/// follower's empty SyncGroup for the leader's), and then answers every heartbeat as if
/// all were well, so the partitions wait for good. A member still without a partition after
/// twice the session joins again, which starts a generation it can lead; then after twice
/// as long each time, up to [`REJOIN_PATIENCE_MAX`], as a member of a group with more
/// workers than partitions legitimately holds none.
#[derive(Debug)]
struct Rejoin {
    /// The first patience, twice the member's session.
    first: Duration,
    /// The patience now.
    patience: Duration,
    /// Since when the member has held no partition, once it joined.
    empty_since: Option<Instant>,
}

impl Rejoin {
    fn new(session: Duration) -> Self {
        Rejoin {
            first: session * 2,
            patience: session * 2,
            empty_since: None,
        }
    }

    /// Whether the member, holding `owned` partitions at `now`, should join again.
    fn due(&mut self, owned: usize, now: Instant) -> bool {
        if owned > 0 {
            self.empty_since = None;
            self.patience = self.first;
            return false;
        }
        let since = *self.empty_since.get_or_insert(now);
        if now.duration_since(since) < self.patience {
            return false;
        }
        self.empty_since = Some(now);
        self.patience = (self.patience * 2).min(REJOIN_PATIENCE_MAX.max(self.first));
        true
    }
}

/// A worker's membership in a Kafka consumer group.
pub struct KafkaMember {
    /// The member consumer; `None` only while it is dropped (see the `Drop` impl).
    consumer: Option<Arc<BaseConsumer<MemberContext>>>,
    topic: String,
    rejoin: Arc<Mutex<Rejoin>>,
}

impl Drop for KafkaMember {
    /// The consumer is dropped on a thread of its own, never awaited: rust-rdkafka's drop
    /// closes it and serves the group's last rebalance, and with the cooperative protocol
    /// that can wait on librdkafka for good (seen against tansu after the topic was
    /// deleted). [`Membership::leave`] has left the group before.
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            let _ = std::thread::Builder::new()
                .name("group-member-close".into())
                .spawn(move || drop(consumer));
        }
    }
}

impl KafkaMember {
    /// Subscribes to `topic` in `group` with the target's settings `base`; the group
    /// assigns partitions once the member's first [`Membership::assignment`] serves its
    /// join.
    pub fn join(base: &ClientConfig, group: &str, topic: &str) -> Result<Self> {
        let mut config = base.clone();
        for (key, value) in MEMBER_DEFAULTS {
            if config.get(key).is_none() {
                config.set(key, value);
            }
        }
        config
            .set("group.id", group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer<MemberContext> = config
            .create_with_context(MemberContext)
            .map_err(|e| failure(format!("cannot create the group member of '{group}': {e}")))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| failure(format!("JoinGroup {group} for topic {topic}: {e}")))?;
        let session = config
            .get("session.timeout.ms")
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        Ok(KafkaMember {
            consumer: Some(Arc::new(consumer)),
            topic: topic.to_owned(),
            rejoin: Arc::new(Mutex::new(Rejoin::new(session))),
        })
    }

    /// Runs `work` with the consumer on a blocking thread (librdkafka calls may wait).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&BaseConsumer<MemberContext>, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let consumer = self
            .consumer
            .clone()
            .ok_or_else(|| failure("the group member is closed"))?;
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || work(&consumer, &topic))
            .await
            .map_err(|e| failure(e.to_string()))?
    }
}

#[async_trait]
impl Membership for KafkaMember {
    async fn assignment(&self) -> Result<Option<BTreeSet<u32>>> {
        let rejoin = Arc::clone(&self.rejoin);
        self.blocking(move |consumer, topic| {
            // Serves the group's events: its rebalances run in here. A poll without a
            // timeout serves one event and answers `None` whether it served one or found
            // none, so the queue's length says when to stop: stopping at the first `None`
            // left a rebalance queued behind librdkafka's log lines, one event served per
            // pass (5 s apart while a run waits for partitions). A record fetched
            // before its partition was paused is let go: the worker reads it through its
            // reader.
            for _ in 0..EVENTS_PER_BEAT {
                if queued_events(consumer) == 0 {
                    break;
                }
                if let Some(Err(e)) = consumer.poll(Duration::ZERO) {
                    tracing::warn!(error = %e, "the group member reported an error");
                }
            }
            // Until the first rebalance the member has no protocol: it has not joined yet.
            if matches!(consumer.rebalance_protocol(), RebalanceProtocol::None) {
                return Ok(None);
            }
            let assigned = consumer
                .assignment()
                .map_err(|e| failure(format!("the group's assignment: {e}")))?;
            let share: BTreeSet<u32> = assigned
                .elements_for_topic(topic)
                .iter()
                .filter_map(|e| u32::try_from(e.partition()).ok())
                .collect();
            let due = rejoin
                .lock()
                .map_err(|_| failure("the group member's state is poisoned"))?
                .due(share.len(), Instant::now());
            if due {
                tracing::warn!(
                    topic,
                    "the group has left this worker without a partition; joining it again"
                );
                consumer.unsubscribe();
                consumer
                    .subscribe(&[topic])
                    .map_err(|e| failure(format!("JoinGroup again for topic {topic}: {e}")))?;
            }
            Ok(Some(share))
        })
        .await
    }

    async fn commit(&self, partition: u32, next_offset: u64) -> Result<()> {
        self.blocking(move |consumer, topic| {
            let mut offsets = TopicPartitionList::new();
            offsets
                .add_partition_offset(topic, partition as i32, Offset::Offset(next_offset as i64))
                .map_err(|e| failure(format!("OffsetCommit {topic}/{partition}: {e}")))?;
            consumer
                .commit(&offsets, CommitMode::Sync)
                .map_err(|e| failure(format!("OffsetCommit {topic}/{partition}: {e}")))
        })
        .await
    }

    async fn leave(&self) {
        // Unsubscribing gives the partitions back (a revocation served by poll) and sends
        // LeaveGroup: the others take them up at once, not after the session.
        let left = self
            .blocking(|consumer, _| {
                consumer.unsubscribe();
                let deadline = std::time::Instant::now() + LEAVE_PATIENCE;
                while std::time::Instant::now() < deadline {
                    let _ = consumer.poll(Duration::from_millis(100));
                    if consumer.assignment().is_ok_and(|a| a.count() == 0) {
                        break;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = left {
            tracing::warn!(error = %e, "could not leave the deliver group; the others wait for its session to end");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_without_partitions_joins_again_after_twice_its_session_then_backs_off() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut rejoin = Rejoin::new(Duration::from_secs(10));
        assert!(!rejoin.due(0, at(0)));
        assert!(!rejoin.due(0, at(19)));
        assert!(rejoin.due(0, at(20)));
        // Twice as long the second time, counted from the last join.
        assert!(!rejoin.due(0, at(59)));
        assert!(rejoin.due(0, at(60)));
        assert!(!rejoin.due(0, at(139)));
        assert!(rejoin.due(0, at(140)));
        // A partition resets the patience: a later empty spell waits twice the session.
        assert!(!rejoin.due(2, at(141)));
        assert!(!rejoin.due(0, at(150)));
        assert!(!rejoin.due(0, at(169)));
        assert!(rejoin.due(0, at(170)));
    }

    #[test]
    fn the_patience_stops_growing_at_its_ceiling() {
        let start = Instant::now();
        let mut rejoin = Rejoin::new(Duration::from_secs(100));
        let mut joins = Vec::new();
        for s in 0..2000 {
            if rejoin.due(0, start + Duration::from_secs(s)) {
                joins.push(s);
            }
        }
        // 200 s, then 300 s (not 400 s) apart from then on.
        assert_eq!(joins[..4], [200, 500, 800, 1100]);
    }
}
