//! Reading a partition: one consumer per partition read, its records gathered into
//! a few shared buffers, and the group offsets read through a consumer of the group.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::batches::{Batches, Taken};
use super::clients::Closing;
use super::ffi::cached_high_watermark;
use super::{Kafka, TIMEOUT, failure};
use crate::backend::{Message, Result};

/// A consumer assigned to one partition, the queue its records are taken from, and the
/// offset its next record has.
pub(super) struct Reader {
    consumer: Arc<Closing>,
    batches: Batches,
    next: u64,
}

/// Closes a reader on a blocking thread: closing a consumer waits for librdkafka (up to
/// [`Closing`]'s patience while the broker is away), which must not hold up the runtime's
/// thread and every request of the run with it. A fetch that fails drops its reader on the
/// blocking thread it ran on.
fn close_aside(reader: Reader) {
    drop(tokio::task::spawn_blocking(move || drop(reader)));
}

/// What one fetch of a partition took so far, and whether it goes on.
struct Fetching<'a> {
    topic: &'a str,
    partition: u32,
    /// Whether the broker was last found unreachable (shared by the client's fetches).
    unreachable: &'a AtomicBool,
    deadline: std::time::Instant,
    out: Gathered,
    /// `false` once the broker was found unreachable past the deadline.
    timely: bool,
    /// The error that ends the fetch.
    failed: Option<KafkaError>,
}

impl Fetching<'_> {
    /// Takes in a record, or an error the partition's queue reported.
    fn accept(&mut self, taken: Taken<'_>) {
        match taken {
            Taken::Record { offset, key, value } => self.out.push(offset as u64, key, value),
            Taken::Error(code) => self.failure(KafkaError::MessageConsumption(code)),
        }
    }

    /// Serves the events waiting on the consumer's own queue (see
    /// [`Batches::events_waiting`]), while there is room for `max` records: the errors it
    /// reports (a broker that went away), and the records fetched before the partition's
    /// were split from it, which come before any of the partition's queue.
    fn serve(&mut self, consumer: &BaseConsumer, batches: &Batches, max: usize) {
        for _ in 0..batches.events_waiting() {
            if self.out.records.len() >= max {
                break;
            }
            match consumer.poll(Duration::ZERO) {
                Some(Ok(m)) => {
                    self.out
                        .push(m.offset() as u64, m.key(), m.payload().unwrap_or_default())
                }
                Some(Err(e)) => self.failure(e),
                None => {}
            }
        }
    }

    /// Takes in an error. librdkafka reconnects by itself: a broker that went away (a
    /// restart) is waited for until the deadline, not reported as a failure.
    fn failure(&mut self, e: KafkaError) {
        if !passing(&e) {
            self.failed.get_or_insert(e);
            return;
        }
        if !self.unreachable.swap(true, Ordering::Relaxed) {
            let (topic, partition) = (self.topic, self.partition);
            tracing::warn!(topic, partition, error = %e, "the broker is unreachable; waiting");
        }
        self.timely = std::time::Instant::now() < self.deadline;
    }
}

/// The records of one fetch, copied as they are taken into buffers of 64 KiB, then twice
/// that each up to [`GATHER_BUFFER`] bytes (a larger record gets one of its own): a few
/// allocations per fetch rather than two per record, no buffer grows by copying what it
/// holds, and a fetch of a few records holds little memory. Values and keys have
/// buffers of their own, and each value is followed by a line break, so the values of
/// records fetched one after the other are one JSON-lines slice of their buffer (see
/// [`Message::buffer`]).
#[derive(Default)]
struct Gathered {
    /// The values, each followed by a line break.
    values: Buffers,
    /// The keys.
    keys: Buffers,
    /// Where each record is.
    records: Vec<Placed>,
}

/// Where a gathered record is: its key and value, each as a buffer (an index into
/// [`Buffers::full`], where the buffer being filled goes last) and a range of it.
struct Placed {
    offset: u64,
    key: Option<(usize, Range<usize>)>,
    value: (usize, Range<usize>),
}

/// Buffers filled one after the other.
#[derive(Default)]
struct Buffers {
    /// The buffers filled.
    full: Vec<Vec<u8>>,
    /// The buffer being filled.
    current: Vec<u8>,
}

/// The size of [`Gathered`]'s largest buffers.
const GATHER_BUFFER: usize = 1 << 20;

/// The size of [`Gathered`]'s first buffer.
const FIRST_BUFFER: usize = 64 << 10;

impl Buffers {
    /// Appends `part` and then `end` in the buffer being filled, or in a new one when they
    /// do not fit: the buffer and the range `part` has there.
    fn append(&mut self, part: &[u8], end: &[u8]) -> (usize, Range<usize>) {
        let size = part.len() + end.len();
        if self.current.len() + size > self.current.capacity() {
            let doubled = FIRST_BUFFER << self.full.len().min(4);
            let next = Vec::with_capacity(size.max(doubled.min(GATHER_BUFFER)));
            let filled = std::mem::replace(&mut self.current, next);
            // Only a part of no bytes can point into an empty buffer, and an empty range
            // of the next one is the same.
            if !filled.is_empty() {
                self.full.push(filled);
            }
        }
        let start = self.current.len();
        self.current.extend_from_slice(part);
        let range = start..self.current.len();
        self.current.extend_from_slice(end);
        (self.full.len(), range)
    }

    /// The buffers, frozen.
    fn into_bytes(mut self) -> Vec<Bytes> {
        self.full.push(self.current);
        self.full.into_iter().map(Bytes::from).collect()
    }
}

impl Gathered {
    fn push(&mut self, offset: u64, key: Option<&[u8]>, value: &[u8]) {
        let key = key.map(|key| self.keys.append(key, b""));
        let value = self.values.append(value, b"\n");
        self.records.push(Placed { offset, key, value });
    }

    /// The records as messages whose bytes are slices of the buffers.
    fn into_messages(self) -> Vec<Message> {
        let (values, keys) = (self.values.into_bytes(), self.keys.into_bytes());
        self.records
            .into_iter()
            .map(|placed| {
                let (buffer, range) = placed.value;
                let buffer = &values[buffer];
                Message {
                    offset: placed.offset,
                    key: placed.key.map(|(buffer, range)| keys[buffer].slice(range)),
                    value: buffer.slice(range),
                    buffer: Some(buffer.clone()),
                }
            })
            .collect()
    }
}

impl Kafka {
    /// The consumer that reads `group`'s committed offsets and the partitions' ends, made
    /// on first use and kept, so each is one request, not a new connection. It never joins
    /// the group (the worker's member does: [`self::group`]), and its periodic
    /// metadata refresh is off (see [`Kafka::reader_consumer`]).
    pub(super) fn consumer(&self, group: &str) -> Result<Arc<Closing>> {
        let mut groups = self
            .groups
            .lock()
            .map_err(|_| failure("the group table is poisoned"))?;
        if let Some(consumer) = groups.get(group) {
            return Ok(Arc::clone(consumer));
        }
        let consumer = Self::create_consumer(
            self.consumer_config(group)
                .set("session.timeout.ms", "6000")
                .set("topic.metadata.refresh.interval.ms", "-1"),
        )?;
        groups.insert(group.to_owned(), Arc::clone(&consumer));
        Ok(consumer)
    }

    /// The settings of every consumer: in `group`, never committing or storing offsets by
    /// itself, starting at the earliest record.
    pub(super) fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.config.clone();
        // A static member's id is the group member's alone (see `group`): a reader
        // or offset consumer with it would fence that member.
        config.remove("group.instance.id");
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        config
    }

    pub(super) fn create_consumer(config: &ClientConfig) -> Result<Arc<Closing>> {
        config
            .create::<BaseConsumer>()
            .map(|consumer| Arc::new(Closing(consumer)))
            .map_err(|e| failure(format!("cannot create a Kafka consumer: {e}")))
    }

    /// A consumer for reading one partition. Periodic metadata refresh is off: an assigned
    /// reader does not need it, and an idle consumer's refresh crashed in librdkafka's
    /// metadata cache against tansu 0.6 (a topic without a name in the answer).
    pub(super) fn reader_consumer(&self) -> Result<Arc<Closing>> {
        let group = format!("runner-reader-{}", std::process::id());
        Self::create_consumer(
            self.consumer_config(&group)
                .set("topic.metadata.refresh.interval.ms", "-1"),
        )
    }

    /// [`Log::fetch`](crate::backend::Log::fetch) on this cluster.
    pub(super) async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Message>> {
        // Continue the partition's reader when it stands at `offset`; otherwise assign a
        // new one there. Continuing keeps what librdkafka already fetched, and never asks
        // the broker for an offset inside a record batch it already passed.
        let key = (topic.to_owned(), partition);
        // Where the partition ends is what this fetch's answer says, or unknown: an older
        // answer may be out of date (another worker read on meanwhile).
        self.ends
            .lock()
            .map_err(|_| failure("the end table is poisoned"))?
            .remove(&key);
        let cached = self
            .readers
            .lock()
            .map_err(|_| failure("the reader table is poisoned"))?
            .remove(&key);
        let (reading, batches) = match cached {
            Some(reader) if reader.next == offset => (reader.consumer, Some(reader.batches)),
            stale => {
                if let Some(stale) = stale {
                    close_aside(stale);
                }
                (self.reader_consumer()?, None)
            }
        };
        let assign = batches.is_none();
        let topic = topic.to_owned();
        let unreachable = Arc::clone(&self.unreachable);
        let out = tokio::task::spawn_blocking(move || {
            let mut batches = match batches {
                Some(batches) => batches,
                None => {
                    let mut assignment = TopicPartitionList::new();
                    assignment
                        .add_partition_offset(
                            &topic,
                            partition as i32,
                            Offset::Offset(offset as i64),
                        )
                        .map_err(|e| failure(format!("Fetch {topic}/{partition}: {e}")))?;
                    reading
                        .assign(&assignment)
                        .map_err(|e| failure(format!("Fetch {topic}/{partition}: {e}")))?;
                    Batches::split(&reading, &topic, partition as i32).ok_or_else(|| {
                        failure(format!(
                            "Fetch {topic}/{partition}: no queue for the partition"
                        ))
                    })?
                }
            };
            let mut fetching = Fetching {
                topic: &topic,
                partition,
                unreachable: &unreachable,
                deadline: std::time::Instant::now() + wait,
                out: Gathered::default(),
                timely: true,
                failed: None,
            };
            loop {
                fetching.serve(&reading, &batches, max);
                let room = max.saturating_sub(fetching.out.records.len());
                if room == 0 || !fetching.timely || fetching.failed.is_some() {
                    break;
                }
                // Records already buffered are taken without looking at the clock.
                if batches.take(room, Duration::ZERO, |taken| fetching.accept(taken)) > 0 {
                    continue;
                }
                // With records in hand, stop where the broker's latest answer said the
                // partition ends rather than wait for more.
                let next = fetching.out.records.last().map(|placed| placed.offset + 1);
                let end = cached_high_watermark(&reading, &topic, partition as i32);
                if next.zip(end).is_some_and(|(next, end)| next >= end) {
                    break;
                }
                let left = fetching
                    .deadline
                    .saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                // The wait is for the partition's records: what the consumer reports
                // meanwhile (a broker gone) is seen when it ends. Such errors are waited
                // out until the deadline anyway; one that fails the fetch fails it up to
                // `wait` later.
                if batches.take(1, left, |taken| fetching.accept(taken)) == 0 {
                    // What the consumer reported while this fetch waited.
                    fetching.serve(&reading, &batches, max);
                    break;
                }
            }
            let Fetching { out, failed, .. } = fetching;
            if let Some(e) = failed {
                return Err(failure(format!("Fetch {topic}/{partition}: {e}")));
            }
            // The high watermark of the last fetch response (none before one came).
            let end = cached_high_watermark(&reading, &topic, partition as i32);
            if end.is_some() && unreachable.swap(false, Ordering::Relaxed) {
                tracing::info!(topic, partition, "the broker answers again");
            }
            Ok((out.into_messages(), end, reading, batches))
        })
        .await
        .map_err(|e| failure(e.to_string()))??;
        let (out, end, consumer, batches) = out;
        if let Some(end) = end {
            self.ends
                .lock()
                .map_err(|_| failure("the end table is poisoned"))?
                .insert(key.clone(), end);
        }
        // A reader is kept to be continued while it brings records, and when it is new (a
        // new connection may not have answered within `wait`). One that came back empty
        // again is closed, so no idle consumer lingers (idle ones crashed against tansu 0.6,
        // see `reader_consumer`).
        let reader = Reader {
            consumer,
            batches,
            next: out.last().map_or(offset, |m| m.offset + 1),
        };
        if !out.is_empty() || assign {
            self.readers
                .lock()
                .map_err(|_| failure("the reader table is poisoned"))?
                .insert(key, reader);
        } else {
            close_aside(reader);
        }
        Ok(out)
    }

    /// [`Log::fetched_end`](crate::backend::Log::fetched_end) on this cluster.
    pub(super) fn last_fetched_end(&self, topic: &str, partition: u32) -> Option<u64> {
        let ends = self.ends.lock().ok()?;
        ends.get(&(topic.to_owned(), partition)).copied()
    }

    /// [`Log::committed`](crate::backend::Log::committed) on this cluster.
    pub(super) async fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>> {
        let consumer = self.consumer(group)?;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition(&topic, partition as i32);
            let found = consumer
                .committed_offsets(wanted, TIMEOUT)
                .map_err(|e| failure(format!("OffsetFetch {topic}/{partition}: {e}")))?;
            Ok(found
                .find_partition(&topic, partition as i32)
                .and_then(|p| match p.offset() {
                    Offset::Offset(n) if n >= 0 => Some(n as u64),
                    _ => None,
                }))
        })
        .await
        .map_err(|e| failure(e.to_string()))?
    }

    /// [`Log::end_offset`](crate::backend::Log::end_offset) on this cluster.
    pub(super) async fn group_end_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<u64> {
        let consumer = self.consumer(group)?;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition as i32, TIMEOUT)
                .map_err(|e| failure(format!("ListOffsets {topic}/{partition}: {e}")))?;
            Ok(u64::try_from(high).unwrap_or(0))
        })
        .await
        .map_err(|e| failure(e.to_string()))?
    }
}

/// Whether a consumer error passes once the broker is back: it went away, is restarting,
/// or is slow to answer.
fn passing(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::OperationTimedOut
                | Code::RequestTimedOut
                | Code::NetworkException
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
                | Code::CoordinatorNotAvailable
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_records_come_back_as_messages_with_their_own_bytes() {
        let mut gathered = Gathered::default();
        gathered.push(5, Some(b"k1"), b"{\"a\":1}");
        gathered.push(6, None, b"");
        gathered.push(9, Some(b""), b"{\"a\":3}");
        // Past the first buffer: one record larger than a buffer, then one after it.
        let large: &'static [u8] = Box::leak(vec![b'x'; GATHER_BUFFER + 3].into_boxed_slice());
        gathered.push(10, Some(b"big"), large);
        gathered.push(11, Some(b"k2"), b"{}");
        let message = |offset, key: Option<&'static [u8]>, value: &'static [u8]| Message {
            offset,
            key: key.map(Bytes::from_static),
            value: Bytes::from_static(value),
            buffer: None,
        };
        let messages = gathered.into_messages();
        assert_eq!(
            messages,
            vec![
                message(5, Some(b"k1"), b"{\"a\":1}"),
                message(6, None, b""),
                message(9, Some(b""), b"{\"a\":3}"),
                message(10, Some(b"big"), large),
                message(11, Some(b"k2"), b"{}"),
            ]
        );
        // Each value lies in its buffer followed by a line break; those of one buffer
        // one after the other.
        let place = |m: &Message| {
            let buffer = m.buffer.as_ref().expect("a buffer");
            let start = m.value.as_ptr() as usize - buffer.as_ptr() as usize;
            assert_eq!(&buffer[start..start + m.value.len()], &m.value[..]);
            assert_eq!(buffer[start + m.value.len()], b'\n');
            (buffer.as_ptr(), start..start + m.value.len() + 1)
        };
        let places: Vec<_> = messages.iter().map(place).collect();
        assert_eq!(places[0].1, 0..8);
        for pair in [&places[0..2], &places[1..3]] {
            assert_eq!(pair[0].0, pair[1].0, "one buffer");
            assert_eq!(pair[0].1.end, pair[1].1.start, "one after the other");
        }
        assert_ne!(
            places[2].0, places[3].0,
            "the large value has a buffer of its own"
        );
        assert_ne!(places[3].0, places[4].0, "and the next one another");
    }
}
