//! Taking up a partition: its state object read (or the group's committed offset the
//! first time), a batch a crash interrupted delivered again, and each new state stored by
//! compare and swap.

use super::window::Window;
use super::{Buffer, CLAIM_TRIES, Job, Slot, State, Summary};
use crate::flow::error::FlowError;

impl Job<'_> {
    /// Takes up a partition: its state from the store (`loaded`, when the caller read it
    /// already; the first time, the consumer group's committed offset), and a batch a crash
    /// interrupted delivered again. When another worker moves the state on meanwhile, it
    /// starts again from what that one stored, a few times at most.
    pub(super) async fn claim(
        &self,
        partition: u32,
        mut loaded: Option<Slot>,
        summary: &mut Summary,
    ) -> Result<Slot, FlowError> {
        for _ in 0..CLAIM_TRIES {
            let mut slot = match loaded.take() {
                Some(slot) => slot,
                None => self.load(partition).await?,
            };
            let Some((start, end)) = slot.state.pending else {
                return Ok(slot);
            };
            tracing::warn!(
                partition,
                start,
                end,
                "delivering the batch a crash interrupted again"
            );
            let messages = self.refetch(partition, start, end).await?;
            summary.risks.lost_from_log += (end - start).saturating_sub(messages.len() as u64);
            let done = if messages.is_empty() {
                // The log lost the whole batch: nothing can be delivered again.
                slot.state.pending = None;
                slot.state.next_offset = slot.state.next_offset.max(end);
                self.save(partition, &mut slot).await?
            } else {
                self.deliver(partition, &mut slot, messages, summary)
                    .await?
            };
            if done {
                slot.position = slot.state.next_offset;
                return Ok(slot);
            }
        }
        Err(format!(
            "partition {partition}: its state changed under this worker {CLAIM_TRIES} times in a row; \
             is another deliver of this flow running with another object store view?"
        ).into())
    }

    /// A partition's state as stored, with its version; a partition without one starts at
    /// the consumer group's committed offset (else at the beginning).
    pub(super) async fn load(&self, partition: u32) -> Result<Slot, FlowError> {
        let mut tries = 0;
        let (state, version, window) = loop {
            tries += 1;
            let (state, version) = self.stored_state(partition).await?;
            let (window, missing) = Window::load(
                self.objects,
                self.bucket,
                &self.hashes_folder(),
                &state.recent,
                self.horizon(),
            )
            .await?;
            // A hashes object is deleted only once a state that no longer lists it is
            // stored: one missing means another worker replaced this state meanwhile, and
            // a window read in part would let through records it dropped. Read it again.
            if missing.is_empty() || tries == CLAIM_TRIES {
                if !missing.is_empty() {
                    self.dedupe_gaps
                        .fetch_add(missing.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        flow = self.name,
                        partition,
                        ?missing,
                        "hashes objects of the dedupe window are not there; their records \
                         are no longer dropped as duplicates"
                    );
                }
                break (state, version, window);
            }
        };
        Ok(Slot {
            position: state.next_offset,
            state,
            version,
            window,
            buffer: Buffer::default(),
        })
    }

    /// The log now ends at `end`, below this worker's position: it lost records this worker
    /// had read and will hand their offsets to new records, or it is a new topic of the
    /// same name whose records below `end` are all new. Offsets cannot tell the two apart,
    /// so after delivering what is buffered, the partition is read again from its start in
    /// a new epoch, and the dedupe window drops the records delivered before. `false` when
    /// another worker moved the partition on meanwhile.
    pub(super) async fn rewind(
        &self,
        partition: u32,
        slot: &mut Slot,
        end: u64,
        summary: &mut Summary,
    ) -> Result<bool, FlowError> {
        if !self.flush(partition, slot, summary).await? {
            return Ok(false);
        }
        tracing::warn!(
            flow = self.name,
            partition,
            end,
            position = slot.position,
            "the log now ends below what was delivered: the broker lost records or the topic \
             was created again; reading it again from its start, in a new epoch"
        );
        summary.risks.log_rewinds += 1;
        slot.state.epoch += 1;
        slot.state.next_offset = 0;
        slot.position = 0;
        self.save(partition, slot).await
    }

    /// The first offset of a partition not delivered (see [`Job::stored_state`]), without
    /// taking it up.
    pub(super) async fn delivered_to(&self, partition: u32) -> Result<u64, FlowError> {
        Ok(self.stored_state(partition).await?.0.next_offset)
    }

    /// A partition's state as stored, with its version; a partition without one starts at
    /// the consumer group's committed offset (else at the beginning), with no version.
    pub(super) async fn stored_state(
        &self,
        partition: u32,
    ) -> Result<(State, Option<String>), FlowError> {
        let stored = self
            .objects
            .get_versioned(self.bucket, &self.state_key(partition))
            .await?;
        if let Some((body, version)) = stored {
            let state = serde_json::from_slice::<State>(&body)
                .map_err(|e| format!("{}: {e}", self.state_key(partition)))?;
            return Ok((state, Some(version)));
        }
        let committed = self
            .log
            .committed(self.group, self.topic, partition)
            .await?;
        let state = State {
            next_offset: committed.unwrap_or(0),
            ..State::default()
        };
        Ok((state, None))
    }

    /// Writes a partition's state if no other worker wrote it since this one read it;
    /// `false` when one did (and nothing was written).
    pub(super) async fn save(&self, partition: u32, slot: &mut Slot) -> Result<bool, FlowError> {
        let body = serde_json::to_vec(&slot.state)?;
        self.store_state(partition, body, &mut slot.version).await
    }

    /// Writes state `body` of a partition if the stored state is still at `version`, and
    /// moves `version` on; `false` when another worker wrote it meanwhile.
    pub(super) async fn store_state(
        &self,
        partition: u32,
        body: Vec<u8>,
        version: &mut Option<String>,
    ) -> Result<bool, FlowError> {
        let written = self
            .objects
            .put_if_version(
                self.bucket,
                &self.state_key(partition),
                body,
                version.as_deref(),
            )
            .await?;
        match written {
            Some(new) => {
                *version = Some(new);
                Ok(true)
            }
            None => {
                tracing::warn!(
                    flow = self.name,
                    partition,
                    "another worker moved this partition on; its batch is left to it"
                );
                Ok(false)
            }
        }
    }

    pub(super) fn state_key(&self, partition: u32) -> String {
        format!(
            "_runner/checkpoints/{}/{}/{}-{partition}.json",
            self.pipeline, self.name, self.topic
        )
    }
}
