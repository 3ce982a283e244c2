//! Writing batches: buffered records made into objects off the runtime's thread, written,
//! their partition folders registered with the catalog, and the state moved on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;

use super::batch::Prepared;
use super::window;
use super::{Job, PUTS_AT_ONCE, REFETCH_PATIENCE, Slot, Summary, now_seconds};
use crate::backend::Message;
use crate::flow::error::FlowError;

impl Job<'_> {
    /// Delivers what the `partitions` have buffered, side by side; the partitions another
    /// worker moved on meanwhile (see [`Job::deliver`]).
    pub(super) async fn flush_side_by_side(
        &self,
        slots: &mut BTreeMap<u32, Slot>,
        partitions: &[u32],
        summary: &mut Summary,
    ) -> Result<Vec<u32>, FlowError> {
        let flushes = slots
            .iter_mut()
            .filter(|(partition, _)| partitions.contains(partition))
            .map(|(&partition, slot)| async move {
                let mut part = Summary::default();
                let done = self.flush(partition, slot, &mut part).await;
                (partition, done, part)
            });
        let mut lost = Vec::new();
        for (partition, done, part) in futures_util::future::join_all(flushes).await {
            summary.add(part);
            if !done? {
                lost.push(partition);
            }
        }
        Ok(lost)
    }

    /// Delivers what a partition has buffered, as [`Job::deliver`] does.
    pub(super) async fn flush(
        &self,
        partition: u32,
        slot: &mut Slot,
        summary: &mut Summary,
    ) -> Result<bool, FlowError> {
        let messages = std::mem::take(&mut slot.buffer).messages;
        self.deliver(partition, slot, messages, summary).await
    }

    /// Registers the catalog partitions of a batch's data `objects` (key, body, records)
    /// while its `others` (its quarantine and hashes objects) are written, then writes the
    /// data objects. The data objects' keys and how many records they hold.
    pub(super) async fn write(
        &self,
        objects: Vec<(String, Vec<bytes::Bytes>, u64)>,
        others: Vec<(String, Vec<u8>)>,
    ) -> Result<(Vec<String>, u64), FlowError> {
        // Each partition folder is registered once per run, not with every batch: by the
        // first batch with records in it. Another batch with records there waits for that
        // registration and fails with it, so no batch moves on with a folder unregistered
        // (it stays pending, and registers the folder when it is delivered again).
        let (outcome, known) = watch::channel(None);
        let mut unregistered = Vec::new();
        let mut awaited = Vec::new();
        {
            let mut registered = self
                .registered
                .lock()
                .map_err(|_| "the list of registered folders is poisoned: a batch panicked")?;
            for (key, _, _) in &objects {
                let folder = &key[..key.rfind('/').map_or(0, |i| i + 1)];
                match registered.get(folder) {
                    Some(theirs) => awaited.push(theirs.clone()),
                    None => {
                        registered.insert(folder.to_owned(), known.clone());
                        // One object of each folder names it.
                        unregistered.push(key.clone());
                    }
                }
            }
        }
        // The catalog partitions are registered while the quarantined records and the
        // hashes are written, and the data objects go in once every folder they lie in is
        // registered: an object that exists has its folder in the catalog, whatever then
        // becomes of the batch or of its records in the log. Each object is whole or absent,
        // and until the partition's state moves past the batch, a crash delivers it again
        // into the same objects. A catalog partition registered before its objects are
        // there shows no rows meanwhile.
        let registering = async {
            if !unregistered.is_empty() {
                let registered =
                    crate::flow::register::partitions(self.sink, &unregistered, self.catalog).await;
                // The batches waiting share the outcome as text; this one keeps its error.
                let shared = registered.as_ref().map(|_| ()).map_err(ToString::to_string);
                outcome.send_replace(Some(shared));
                registered?;
            }
            // Another batch's failure is this one's too, with its reason.
            for mut theirs in awaited {
                match theirs.wait_for(Option::is_some).await.as_deref() {
                    Ok(Some(Ok(()))) => {}
                    Ok(Some(Err(e))) => return Err(FlowError::Invalid(e.clone())),
                    // Only a batch whose writing was dropped from outside leaves no word.
                    Ok(None) | Err(_) => {
                        return Err("a partition folder of this batch is not in the catalog: \
                                    the batch registering it stopped"
                            .into());
                    }
                }
            }
            Ok(())
        };
        let (store, bucket) = (self.objects, self.bucket);
        let writing = async {
            registering.await?;
            let mut puts = futures_util::stream::iter(objects.into_iter().map(
                |(object, body, rows)| async move {
                    store
                        .put_parts(bucket, &object, body)
                        .await
                        .map(|()| (object, rows))
                },
            ))
            .buffer_unordered(PUTS_AT_ONCE);
            let mut written = Vec::new();
            let mut rows_written = 0;
            while let Some(put) = puts.next().await {
                let (object, rows) = put?;
                if written.is_empty() {
                    crate::crashpoint::hit("deliver-mid-write");
                }
                rows_written += rows;
                written.push(object);
            }
            Ok::<_, FlowError>((written, rows_written))
        };
        let writing_others =
            futures_util::future::try_join_all(others.into_iter().map(|(key, body)| async move {
                store.put(bucket, &key, body).await.map_err(FlowError::from)
            }));
        let written = futures_util::future::try_join(writing, writing_others).await;
        // A batch that failed before it registered its folders hands its reason to the
        // batches waiting for them.
        if let Err(e) = &written {
            outcome.send_if_modified(|known| {
                let unknown = known.is_none();
                if unknown {
                    *known = Some(Err(e.to_string()));
                }
                unknown
            });
        }
        let ((objects, rows), _) = written?;
        Ok((objects, rows))
    }

    /// The records `[start, end)` of a partition again, for a batch a crash interrupted. If
    /// the log answers that it no longer has some (a broker that lost acknowledged
    /// records), the batch is what it still has; a log that does not answer (a broker
    /// restarting) is waited for up to [`REFETCH_PATIENCE`], then it is an error, so no
    /// record is given up for a broker that was only slow.
    pub(super) async fn refetch(
        &self,
        partition: u32,
        start: u64,
        end: u64,
    ) -> Result<Vec<Message>, FlowError> {
        let mut messages = Vec::new();
        let mut next = start;
        let mut empty = 0;
        let deadline = Instant::now() + REFETCH_PATIENCE;
        while next < end {
            let fetched = self
                .log
                .fetch(
                    self.topic,
                    partition,
                    next,
                    (end - next) as usize,
                    Duration::from_millis(500),
                )
                .await?;
            match fetched.last() {
                Some(last) => {
                    next = last.offset + 1;
                    messages.extend(
                        fetched
                            .into_iter()
                            .filter(|m| (start..end).contains(&m.offset)),
                    );
                }
                None => {
                    empty += 1;
                    // Where the log says where it ends, believe it; the local log, which
                    // never says, always answers at once.
                    let gone = match self.log.fetched_end(self.topic, partition) {
                        Some(log_end) => log_end <= next,
                        None => empty >= 10,
                    };
                    if gone {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "partition {partition}: the log did not serve the interrupted batch \
                             [{start}, {end}) within {} s; run deliver again when the broker answers",
                            REFETCH_PATIENCE.as_secs()
                        ).into());
                    }
                }
            }
        }
        if next < end {
            tracing::warn!(
                partition,
                start,
                end,
                got = messages.len(),
                "the log no longer holds the whole interrupted batch"
            );
        }
        Ok(messages)
    }

    /// Delivers one batch of a partition: pending recorded, objects written, state moved
    /// past the batch, group offset committed. `false` when another worker moved the
    /// partition's state on meanwhile: this worker no longer delivers it from here, and
    /// what it wrote of the batch is counted by that worker, not in `summary`.
    pub(super) async fn deliver(
        &self,
        partition: u32,
        slot: &mut Slot,
        messages: Vec<Message>,
        summary: &mut Summary,
    ) -> Result<bool, FlowError> {
        let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
            return Ok(true);
        };
        // A batch already pending is delivered again under its own range (and so its own
        // object names), whatever part of it the log still has. A new one is recorded as
        // pending while its objects are made: nothing is written before that record is.
        // Offsets from where the partition was delivered to up to this batch's end that
        // hold no record read: with no transactions or compaction on the topic, records
        // the log no longer serves. (A partition never delivered before starts wherever
        // the log now begins.)
        let skipped = match (slot.state.pending, &slot.version) {
            (Some(_), _) | (None, None) => 0,
            (None, Some(_)) => offsets_skipped(
                slot.state.next_offset,
                first.offset,
                last.offset,
                messages.len(),
            ),
        };
        let (pending, (start, end)) = match slot.state.pending {
            Some(range) => (None, range),
            None => {
                let range = (first.offset, last.offset + 1);
                slot.state.pending = Some(range);
                let body = serde_json::to_vec(&slot.state)?;
                (Some(body), range)
            }
        };
        let mut expired = slot.window.expire(&mut slot.state.recent, self.horizon());
        let file = match slot.state.epoch {
            0 => format!("{}+{partition}+{start}", self.topic),
            epoch => format!("{}+{partition}+{start}+e{epoch}", self.topic),
        };
        // Making the objects' bodies is a batch's heaviest work: it runs on a thread of its
        // own, so the batches of several partitions are made side by side while this
        // thread writes. The window comes back whatever happens to the batch's work.
        let window = std::mem::take(&mut slot.window);
        let (preparer, file_name) = (Arc::clone(&self.preparer), file.clone());
        let preparing = tokio::task::spawn_blocking(move || {
            let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::crashpoint::panic_here("deliver-prepare");
                preparer.prepare(&window, messages, partition, &file_name)
            }));
            (window, prepared)
        });
        let version = &mut slot.version;
        let recorded = async {
            match pending {
                Some(body) => self.store_state(partition, body, version).await,
                None => Ok(true),
            }
        };
        let (recorded, made) = futures_util::future::join(recorded, preparing).await;
        let (window, prepared) = made.map_err(|e| FlowError::Invalid(e.to_string()))?;
        slot.window = window;
        if !recorded? {
            return Ok(false);
        }
        crate::crashpoint::hit("deliver-after-pending");
        let Prepared {
            duplicates,
            hashes,
            quarantine,
            objects,
        } = prepared
            .map_err(|_| format!("partition {partition}: preparing the batch failed"))??;
        // What this batch did, added to `summary` once its state is stored.
        let mut done = Summary {
            duplicates,
            ..Summary::default()
        };
        if skipped > 0 {
            tracing::warn!(
                flow = self.name,
                partition,
                delivered_to = slot.state.next_offset,
                first = start,
                end,
                skipped,
                "the log served no record for some offsets; counted as lost"
            );
            done.risks.offsets_skipped = skipped;
        }
        let mut others = Vec::new();
        if let Some((key, body, poison)) = quarantine {
            done.poison = poison;
            done.objects.push(key.clone());
            others.push((key, body));
        }
        // The batch's hashes, stored before the state that lists them.
        if !hashes.is_empty() {
            let (name, body, replaced) =
                slot.window
                    .record(&mut slot.state.recent, &file, &hashes, now_seconds());
            expired.extend(replaced);
            others.push((window::key(&self.hashes_folder(), &name), body));
        }
        let (written, rows) = self.write(objects, others).await?;
        crate::crashpoint::hit("deliver-after-write");
        done.written = rows;
        slot.state.next_offset = end;
        slot.state.pending = None;
        // Losing here is harmless: the worker that moved the state on delivered this same
        // range into the same objects with the same rows.
        if !self.save(partition, slot).await? {
            return Ok(false);
        }
        // Hashes no stored state lists any more (one left by a crash here is never read) are
        // deleted while the group offset is committed. That offset is for lag tools, so a
        // broker that cannot take it now gets it with the next batch.
        let hashes_folder = self.hashes_folder();
        let deleting = futures_util::stream::iter(expired.iter().map(|listed| {
            let key = window::key(&hashes_folder, &listed.name);
            async move {
                if let Err(e) = self.objects.delete(self.bucket, &key).await {
                    tracing::warn!(flow = self.name, object = key, error = %e, "an expired hashes object was not deleted");
                }
            }
        }))
        .buffer_unordered(PUTS_AT_ONCE)
        .collect::<()>();
        let committing = async {
            if let Err(e) = self.member.commit(partition, end).await {
                tracing::warn!(flow = self.name, partition, end, error = %e, "the group offset was not committed");
            }
        };
        futures_util::future::join(deleting, committing).await;
        done.batches = 1;
        done.objects.extend(written);
        summary.add(done);
        tracing::info!(flow = self.name, partition, start, end, "batch delivered");
        Ok(true)
    }

    /// The time before which delivered records leave the dedupe window (Unix seconds).
    pub(super) fn horizon(&self) -> u64 {
        now_seconds().saturating_sub(self.dedupe_window.as_secs())
    }

    /// Where the hashes of delivered batches are kept.
    pub(super) fn hashes_folder(&self) -> String {
        format!(
            "_runner/checkpoints/{}/{}/delivered/",
            self.pipeline, self.name
        )
    }
}

/// How many offsets from `delivered_to` through `last` held no record, when `count`
/// records were read from `first` through `last`.
fn offsets_skipped(delivered_to: u64, first: u64, last: u64, count: usize) -> u64 {
    (last + 1)
        .saturating_sub(delivered_to.min(first))
        .saturating_sub(count as u64)
}

#[cfg(test)]
mod tests {
    use super::offsets_skipped;

    #[test]
    fn offsets_the_log_skipped_are_counted_before_and_inside_a_batch() {
        // Delivered to 100; records 100..=109 read: nothing skipped.
        assert_eq!(offsets_skipped(100, 100, 109, 10), 0);
        // Delivered to 100, but the log served from 137 (a fetch answered past a batch).
        assert_eq!(offsets_skipped(100, 137, 146, 10), 37);
        // Records 100..=109 read but two of them missing inside the range.
        assert_eq!(offsets_skipped(100, 100, 111, 10), 2);
        // Both.
        assert_eq!(offsets_skipped(100, 105, 116, 10), 7);
        // A batch that starts below what was delivered (never expected) counts from its
        // first record.
        assert_eq!(offsets_skipped(120, 100, 109, 10), 0);
    }
}
