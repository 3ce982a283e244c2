//! Records taken from a consumer many at a time, through librdkafka's
//! `rd_kafka_consume_batch_queue`, which rust-rdkafka does not wrap. rust-rdkafka's `poll`
//! hands over one record per call, and each call reads the clock, allocates, and locks the
//! consumer's queue: a measurable share of a fetch of thousands of records.
//!
//! The records of the partition read go to a queue of their own (as rust-rdkafka's
//! `split_partition_queue` does), which holds only them and the partition's own errors:
//! taken in batches, a queue serves its other events itself, and would print librdkafka's
//! log lines and swallow its errors (a broker that went away). Those stay on the consumer's
//! queue, which `poll` serves.

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;

use super::clients::Closing;

/// One thing taken from the queue.
pub enum Taken<'a> {
    /// A record, whose bytes live while the callback given it runs.
    Record {
        /// Its offset.
        offset: i64,
        /// Its key, when it has one.
        key: Option<&'a [u8]>,
        /// Its value (empty when it has none).
        value: &'a [u8],
    },
    /// An error the consumer reported.
    Error(RDKafkaErrorCode),
}

/// The queue of one partition's records, split from its consumer's, from which records are
/// taken in batches.
pub struct Batches {
    queue: *mut rd::rd_kafka_queue_t,
    /// The consumer's own queue, whose events `poll` serves.
    events: *mut rd::rd_kafka_queue_t,
    /// Room for the records of one call, reused.
    taken: Vec<*mut rd::rd_kafka_message_t>,
    /// The consumer, which lives as long as its queue is used.
    _consumer: Arc<Closing>,
}

// SAFETY: librdkafka's queues may be used from any thread (each call takes the queue's
// lock); the handle is used by one thread at a time (`take` borrows it mutably).
unsafe impl Send for Batches {}

impl Batches {
    /// Splits the records of `consumer`'s `partition` of `topic`, which it was just
    /// assigned, from its queue: records fetched before stay on the consumer's queue, and
    /// none after reach it, since librdkafka 2.12 marks a queue forwarded by the
    /// application (to none here) and no longer forwards it when fetching starts. (rust-
    /// rdkafka's `split_partition_queue` says an assignment undoes the split; each reader is
    /// assigned once, before it.) `None` when the topic name holds a NUL byte or the
    /// consumer has no queue of its own (made without a `group.id`).
    pub fn split(consumer: &Arc<Closing>, topic: &str, partition: i32) -> Option<Batches> {
        let topic = CString::new(topic).ok()?;
        // SAFETY: the client pointer is valid while the consumer lives, which `Batches`
        // keeps; the queue returned holds a reference of its own, released in `drop`.
        let client = consumer.client().native_ptr();
        let queue = unsafe { rd::rd_kafka_queue_get_partition(client, topic.as_ptr(), partition) };
        if queue.is_null() {
            return None;
        }
        // SAFETY: as above; a consumer made with a `group.id` has this queue.
        let events = unsafe { rd::rd_kafka_queue_get_consumer(client) };
        if events.is_null() {
            // SAFETY: the handle just taken is released once.
            unsafe { rd::rd_kafka_queue_destroy(queue) };
            return None;
        }
        // SAFETY: `queue` is the valid handle just taken; forwarding to none keeps the
        // partition's records on it.
        unsafe { rd::rd_kafka_queue_forward(queue, std::ptr::null_mut()) };
        Some(Batches {
            queue,
            events,
            taken: Vec::new(),
            _consumer: Arc::clone(consumer),
        })
    }

    /// Takes up to `max` records and errors, as many as are there, waiting up to `wait`
    /// only when there are none yet and then returning with the first; `each` is called
    /// with each in order. How many were taken.
    pub fn take(&mut self, max: usize, wait: Duration, mut each: impl FnMut(Taken<'_>)) -> usize {
        // librdkafka waits to fill the whole batch: a wait is for one record only.
        let size = if wait.is_zero() { max } else { max.min(1) };
        self.taken.resize(size, std::ptr::null_mut());
        let timeout = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `taken` has room for `size` pointers, and the queue lives until `drop`.
        let count = unsafe {
            rd::rd_kafka_consume_batch_queue(self.queue, timeout, self.taken.as_mut_ptr(), size)
        };
        let count = usize::try_from(count).unwrap_or(0).min(size);
        {
            // librdkafka filled the first `count` places with messages, each valid until it
            // is destroyed, and their keys and payloads with them.
            let mut batch = Taking {
                messages: &self.taken[..count],
                next: 0,
            };
            while let Some(&message) = batch.messages.get(batch.next) {
                // SAFETY: not destroyed yet (see `Taking`).
                each(unsafe { read(&*message) });
                batch.next += 1;
                // SAFETY: as above; destroyed once, here.
                unsafe { rd::rd_kafka_message_destroy(message) };
            }
        }
        // No pointer to a destroyed message is kept.
        self.taken.clear();
        count
    }

    /// How many events wait on the consumer's own queue. rust-rdkafka's `poll` answers
    /// `None` both when that queue is empty and when it served an event it keeps to itself
    /// (a log line), so this says how many polls at most serve what is there now.
    pub fn events_waiting(&self) -> usize {
        // SAFETY: the handle lives until `drop`.
        unsafe { rd::rd_kafka_queue_length(self.events) }
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        // SAFETY: both queue references were taken in `split` and are released once, while
        // the consumer still lives.
        unsafe {
            rd::rd_kafka_queue_destroy(self.queue);
            rd::rd_kafka_queue_destroy(self.events);
        }
    }
}

/// The messages of one batch, of which those from `next` on are not destroyed yet: they are
/// when this is dropped, so a callback that panics leaves none (librdkafka wants every
/// message destroyed before its client is).
struct Taking<'a> {
    messages: &'a [*mut rd::rd_kafka_message_t],
    next: usize,
}

impl Drop for Taking<'_> {
    fn drop(&mut self) {
        for &message in &self.messages[self.next..] {
            // SAFETY: each message from `next` on is valid and not destroyed yet.
            unsafe { rd::rd_kafka_message_destroy(message) };
        }
    }
}

/// A message as a record or an error.
///
/// # Safety
/// The message's payload and key pointers are null or valid for their lengths.
unsafe fn read(message: &rd::rd_kafka_message_t) -> Taken<'_> {
    if message.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Taken::Error(message.err.into());
    }
    // SAFETY: as the caller promises.
    let bytes = |ptr: *mut std::ffi::c_void, len: usize| unsafe {
        (!ptr.is_null()).then(|| std::slice::from_raw_parts(ptr.cast::<u8>(), len))
    };
    Taken::Record {
        offset: message.offset,
        key: bytes(message.key, message.key_len),
        value: bytes(message.payload, message.len).unwrap_or_default(),
    }
}
