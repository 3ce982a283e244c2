//! The worker's loop: the group's assignment followed, partitions read and their batches
//! written when full or old, and with `--once` the partitions still behind reported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{BATCH_RESERVE, Behind, FETCH_MAX, FETCH_WAIT, Job, Slot, Summary};
use crate::flow::error::FlowError;
use crate::stop::Stop;

impl Job<'_> {
    /// Reads the partitions the group assigns this worker until `stop` is set or,
    /// with `once` (its patience), until every partition is delivered up to where the
    /// topic ended at the start (see [`run`]). Batches buffered when it stops, or of a
    /// partition handed to another worker, are delivered first.
    pub(super) async fn work(
        &self,
        partitions: u32,
        once: Option<Duration>,
        stop: &Stop,
        summary: &mut Summary,
    ) -> Result<(), FlowError> {
        let log = self.log;
        let ends = match once {
            Some(_) => self.ends(partitions).await?,
            None => Vec::new(),
        };
        let started = Instant::now();
        let mut slots: BTreeMap<u32, Slot> = BTreeMap::new();
        let mut idle_passes = 0;
        let mut joined = false;
        loop {
            // Until it has joined, or when the group fails to answer, the worker keeps the
            // partitions it has.
            let share = match self.member.assignment().await {
                Ok(share) => share,
                Err(e) => {
                    tracing::warn!(flow = self.name, error = %e, "the group heartbeat failed");
                    None
                }
            };
            joined |= share.is_some();
            if let Some(share) = share {
                let handed: Vec<u32> = slots
                    .keys()
                    .filter(|p| !share.contains(p))
                    .copied()
                    .collect();
                // What the partitions handed over have buffered is delivered side by side
                // first; one another worker already moved on is simply let go.
                self.flush_side_by_side(&mut slots, &handed, summary)
                    .await?;
                for partition in handed {
                    slots.remove(&partition);
                    tracing::info!(
                        flow = self.name,
                        partition,
                        "partition handed to another worker"
                    );
                }
                // The states of the partitions taken up are read side by side.
                let new: Vec<u32> = share
                    .into_iter()
                    .filter(|p| !slots.contains_key(p))
                    .collect();
                let loaded =
                    futures_util::future::join_all(new.iter().map(|&p| self.load(p))).await;
                for (partition, slot) in new.into_iter().zip(loaded) {
                    slots.insert(
                        partition,
                        self.claim(partition, Some(slot?), summary).await?,
                    );
                    tracing::info!(flow = self.name, partition, "partition taken up");
                }
            }
            // A one-shot run confirms an idle pass with a patient one before it stops.
            let wait = if idle_passes == 0 {
                FETCH_WAIT
            } else {
                log.idle_wait()
            };
            // Every partition is read at once; the batches are then handled in order. A
            // one-shot run does not wait on a partition standing right where the topic
            // ended when it started (one below it may have been created again: its fetch
            // shows that).
            let fetches = slots.iter().map(|(&partition, slot)| {
                let room = self.max_records - slot.buffer.messages.len();
                let done = once.is_some() && ends.get(partition as usize) == Some(&slot.position);
                let position = slot.position;
                async move {
                    if done {
                        return Ok(Vec::new());
                    }
                    log.fetch(self.topic, partition, position, room.min(FETCH_MAX), wait)
                        .await
                }
            });
            let fetched_all = futures_util::future::join_all(fetches).await;
            // A worker the group gave no partition (yet) waits as a fetch would.
            if slots.is_empty() {
                tokio::time::sleep(wait).await;
            }
            let mut idle = true;
            let mut lost = Vec::new();
            let mut due = Vec::new();
            for ((&partition, slot), fetched) in slots.iter_mut().zip(fetched_all) {
                let mut fetched = fetched?;
                if let Some(end) = log.fetched_end(self.topic, partition)
                    && end < slot.position
                    && !self.rewind(partition, slot, end, summary).await?
                {
                    lost.push(partition);
                    continue;
                }
                // Records below the position were delivered already (a log that went back
                // starts its answers at its beginning).
                fetched.retain(|m| m.offset >= slot.position);
                tracing::debug!(
                    partition,
                    from = slot.position,
                    got = fetched.len(),
                    "fetched"
                );
                let buffer = &mut slot.buffer;
                if let Some(last) = fetched.last() {
                    idle = false;
                    slot.position = last.offset + 1;
                    summary.read += fetched.len() as u64;
                    buffer.since.get_or_insert_with(Instant::now);
                    buffer.bytes += fetched.iter().map(|m| m.value.len() as u64).sum::<u64>();
                    // Room for the whole batch at once: growing a batch of tens of thousands
                    // of records by doubling copies it several times into new memory.
                    if buffer.messages.is_empty() {
                        buffer.messages.reserve(self.max_records.min(BATCH_RESERVE));
                    }
                    buffer.messages.extend(fetched);
                }
                let full =
                    buffer.messages.len() >= self.max_records || buffer.bytes >= self.max_bytes;
                let old = buffer.since.is_some_and(|s| s.elapsed() >= self.max_age);
                if full || old {
                    due.push(partition);
                }
            }
            lost.extend(self.flush_side_by_side(&mut slots, &due, summary).await?);
            // Another worker moved a partition on meanwhile: start again from its state.
            for partition in lost {
                slots.insert(partition, self.claim(partition, None, summary).await?);
            }
            idle_passes = if idle { idle_passes + 1 } else { 0 };
            // A one-shot run stops at once where its partitions are read up to where the
            // topic ended when it started, or where the log's fetch answers said they end;
            // otherwise after an idle pass confirmed by a patient one.
            let at_ends = || {
                slots.iter().all(|(&partition, slot)| {
                    let at_start = ends.get(partition as usize).copied();
                    at_start.is_some_and(|end| slot.position >= end)
                        || log
                            .fetched_end(self.topic, partition)
                            .is_some_and(|end| slot.position >= end)
                })
            };
            // Caught up only once the group has said which partitions are this worker's.
            let caught_up = joined && (idle_passes >= 2 || at_ends());
            if stop.is_set() || (once.is_some() && caught_up) {
                let all: Vec<u32> = slots.keys().copied().collect();
                lost = self.flush_side_by_side(&mut slots, &all, summary).await?;
                let Some(patience) = once.filter(|_| !stop.is_set()) else {
                    return Ok(());
                };
                // This worker's share is done; the others' may not be.
                summary.behind = self.behind(&ends, &slots).await?;
                if summary.behind.is_empty() || started.elapsed() >= patience {
                    return Ok(());
                }
                for partition in lost {
                    slots.insert(partition, self.claim(partition, None, summary).await?);
                }
                tracing::info!(
                    flow = self.name,
                    behind = ?summary.behind.iter().map(|b| b.partition).collect::<Vec<_>>(),
                    "waiting for partitions other workers hold"
                );
            }
        }
    }

    /// Where each partition of the topic ends now (its next offset).
    pub(super) async fn ends(&self, partitions: u32) -> Result<Vec<u64>, FlowError> {
        let asks = (0..partitions).map(|p| self.log.end_offset(self.group, self.topic, p));
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .map(|end| end.map_err(FlowError::from))
            .collect()
    }

    /// The partitions not yet delivered up to `ends`: this worker's as its `slots` hold
    /// them, the others' as their stored state (or the group's committed offset) says.
    pub(super) async fn behind(
        &self,
        ends: &[u64],
        slots: &BTreeMap<u32, Slot>,
    ) -> Result<Vec<Behind>, FlowError> {
        let mut behind = Vec::new();
        for (partition, &end) in (0u32..).zip(ends) {
            let delivered_to = match slots.get(&partition) {
                Some(slot) => slot.state.next_offset,
                None => self.delivered_to(partition).await?,
            };
            if delivered_to < end {
                behind.push(Behind {
                    partition,
                    delivered_to,
                    end,
                });
            }
        }
        Ok(behind)
    }
}
