//! The Kafka producer's delivery reports, handed to the produce calls that wait for them.
//!
//! Each produce call registers its records as one batch ([`Acks::register`]) and queues
//! them with a ticket each: the batch number and the record's index in one `usize`, so a
//! record costs no allocation of its own. librdkafka reports every record once (delivered,
//! or failed when its retries or `message.timeout.ms` run out); when a batch's last report
//! comes, its waiter gets each record's partition and offset, or the first failure
//! reported. A report whose ticket names no open batch (one given up) is ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::Message as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use tokio::sync::oneshot;

/// What a batch comes to: each record's partition and offset, or the first failure
/// reported.
pub type Outcome = Result<Vec<(u32, u64)>, Failure>;

/// Why a record was not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// librdkafka gave up on it when `message.timeout.ms` ran out.
    TimedOut,
    /// Any other failure, in librdkafka's words.
    Other(String),
}

/// The producer's context: the batches waiting for their reports.
#[derive(Default)]
pub struct Acks {
    waiting: Mutex<Waiting>,
}

// A ticket holds the batch number in its upper 32 bits.
const _: () = assert!(usize::BITS >= 64);

#[derive(Default)]
struct Waiting {
    next: u32,
    batches: HashMap<u32, Batch>,
}

/// One produce call's records.
struct Batch {
    acks: Vec<(u32, u64)>,
    left: usize,
    error: Option<Failure>,
    done: oneshot::Sender<Outcome>,
}

/// A batch registered with [`Acks::register`]: its records' tickets, and where its outcome
/// comes. Dropping it before the outcome forgets the batch (reports still due are ignored).
pub struct Registered {
    acks: Arc<Acks>,
    number: u32,
    /// Receives the batch's outcome once every record was reported.
    pub outcome: oneshot::Receiver<Outcome>,
}

impl Registered {
    /// The ticket of record `index` (the opaque value it is queued with).
    pub fn ticket(&self, index: usize) -> usize {
        ((self.number as usize) << 32) | index
    }

    /// The first failure reported for the batch so far, if any.
    pub fn failure(&self) -> Option<Failure> {
        self.acks
            .lock()
            .batches
            .get(&self.number)
            .and_then(|batch| batch.error.clone())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.acks.lock().batches.remove(&self.number);
    }
}

impl Acks {
    /// The batches, whatever a panicking holder of the lock left (each update is whole).
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a batch of `records` records (fewer than 2^32); a batch of none is done
    /// at once.
    pub fn register(self: &Arc<Self>, records: usize) -> Registered {
        let (done, outcome) = oneshot::channel();
        let mut waiting = self.lock();
        let number = waiting.next;
        waiting.next = waiting.next.wrapping_add(1);
        if records == 0 {
            // The receiver is in hand: the send cannot fail.
            let _ = done.send(Ok(Vec::new()));
        } else {
            let batch = Batch {
                acks: vec![(0, 0); records],
                left: records,
                error: None,
                done,
            };
            waiting.batches.insert(number, batch);
        }
        Registered {
            acks: Arc::clone(self),
            number,
            outcome,
        }
    }

    /// Records the report of the record with `ticket`.
    fn report(&self, ticket: usize, ack: Result<(u32, u64), Failure>) {
        let (number, index) = ((ticket >> 32) as u32, ticket & 0xFFFF_FFFF);
        let mut waiting = self.lock();
        // Never a panic here: it would end the producer's polling thread, and with it
        // every report to come.
        let Some(batch) = waiting.batches.get_mut(&number) else {
            return;
        };
        let (Some(slot), Some(left)) = (batch.acks.get_mut(index), batch.left.checked_sub(1))
        else {
            return;
        };
        match ack {
            Ok(ack) => *slot = ack,
            Err(e) => {
                batch.error.get_or_insert(e);
            }
        }
        batch.left = left;
        if batch.left == 0
            && let Some(batch) = waiting.batches.remove(&number)
        {
            let outcome = match batch.error {
                Some(e) => Err(e),
                None => Ok(batch.acks),
            };
            // A waiter that went away no longer needs it.
            let _ = batch.done.send(outcome);
        }
    }
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: usize) {
        let ack = match result {
            Ok(message) => match (
                u32::try_from(message.partition()),
                u64::try_from(message.offset()),
            ) {
                (Ok(partition), Ok(offset)) => Ok((partition, offset)),
                _ => Err(Failure::Other(
                    "the broker acknowledged without a partition or offset".to_owned(),
                )),
            },
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _)) => {
                Err(Failure::TimedOut)
            }
            Err((e, _)) => Err(Failure::Other(e.to_string())),
        };
        self.report(ticket, ack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_ends_with_its_last_report_in_record_order_or_its_first_failure() {
        let acks = Arc::new(Acks::default());
        let mut first = acks.register(3);
        let mut second = acks.register(2);
        // Reports come in any order, batches interleaved.
        acks.report(first.ticket(2), Ok((1, 7)));
        acks.report(second.ticket(0), Err(Failure::TimedOut));
        acks.report(first.ticket(0), Ok((0, 4)));
        assert!(first.outcome.try_recv().is_err(), "one record is still due");
        acks.report(first.ticket(1), Ok((2, 9)));
        acks.report(second.ticket(1), Err(Failure::Other("later".to_owned())));
        assert_eq!(
            first.outcome.try_recv().expect("done"),
            Ok(vec![(0, 4), (2, 9), (1, 7)])
        );
        assert_eq!(
            second.outcome.try_recv().expect("done"),
            Err(Failure::TimedOut)
        );
        // A batch dropped early is forgotten: its late reports change nothing.
        let dropped = acks.register(1);
        let ticket = dropped.ticket(0);
        drop(dropped);
        acks.report(ticket, Ok((0, 1)));
        assert!(acks.lock().batches.is_empty());
        // A report out of a batch's range is ignored; a failure is seen before the end.
        let mut third = acks.register(2);
        acks.report(third.ticket(5), Ok((0, 1)));
        let down = Failure::Other("broker down".to_owned());
        acks.report(third.ticket(0), Err(down.clone()));
        assert_eq!(third.failure(), Some(down));
        assert!(third.outcome.try_recv().is_err(), "one record is still due");
        // A batch of no records is done at once.
        let mut empty = acks.register(0);
        assert_eq!(empty.outcome.try_recv().expect("done"), Ok(Vec::new()));
    }
}
