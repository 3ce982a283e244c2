//! The rdkafka clients the Kafka backend holds, wrapped so that dropping them takes
//! milliseconds.
//!
//! rdkafka's own handles wait in steps of 100 ms when dropped: a consumer in polls until
//! librdkafka has closed it, the threaded producer and the admin client for their polling
//! threads, whose polls last 100 ms. A `runner run deliver` reading three partitions spent
//! half a second of its 1.5 s that way after its work was done. [`Closing`] closes a
//! consumer in steps of 1 ms, [`Producer`] serves delivery reports on a thread that polls in
//! steps of [`REPORT_POLL`], and [`metadata_client`] asks for metadata with no polling
//! thread at all. The admin client, whose 100 ms wait cannot be cut, is dropped off the
//! command's path ([`drop_later`]), and the process waits for it, and for the other
//! threads that hold clients ([`spawn_tracked`]), only at its end ([`Teardown`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::BaseProducer;
use rdkafka::types::RDKafkaType;

use super::acks::Acks;

/// How long a consumer being dropped waits for librdkafka to close it.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);
/// How long one poll of the producer's reporting thread lasts: the longest a dropped
/// producer waits for that thread. Reports are handed on as they come, whatever the step.
pub const REPORT_POLL: Duration = Duration::from_millis(10);

/// A consumer that closes at once when dropped.
pub struct Closing(pub BaseConsumer);

impl std::ops::Deref for Closing {
    type Target = BaseConsumer;

    fn deref(&self) -> &BaseConsumer {
        &self.0
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        // Records still buffered go with the consumer. rdkafka's `Drop` then finds it closed
        // and skips its own wait.
        if self.0.close_queue().is_ok() {
            let deadline = Instant::now() + CLOSE_PATIENCE;
            while !self.0.closed() && Instant::now() < deadline {
                let _ = self.0.poll(Duration::from_millis(1));
            }
        }
    }
}

/// The producer, with the thread that serves its delivery reports (to [`Acks`]) until it
/// is dropped.
pub struct Producer {
    producer: Arc<BaseProducer<Acks>>,
    stop: Arc<AtomicBool>,
    reports: Option<JoinHandle<()>>,
}

impl Producer {
    /// A producer made with `config`, and its reporting thread started.
    pub fn new(config: &ClientConfig) -> rdkafka::error::KafkaResult<Producer> {
        let producer =
            Arc::new(config.create_with_context::<_, BaseProducer<Acks>>(Acks::default())?);
        let stop = Arc::new(AtomicBool::new(false));
        let reports = {
            let (producer, stop) = (Arc::clone(&producer), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("kafka-reports".to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        producer.poll(REPORT_POLL);
                    }
                })
                .map_err(|e| {
                    rdkafka::error::KafkaError::ClientCreation(format!(
                        "cannot start the producer's reporting thread: {e}"
                    ))
                })?
        };
        Ok(Producer {
            producer,
            stop,
            reports: Some(reports),
        })
    }
}

impl std::ops::Deref for Producer {
    type Target = BaseProducer<Acks>;

    fn deref(&self) -> &BaseProducer<Acks> {
        &self.producer
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reports) = self.reports.take() {
            let _ = reports.join();
        }
    }
}

/// A client for metadata requests only: no polling thread, so dropping it is immediate.
pub fn metadata_client(
    config: &ClientConfig,
) -> rdkafka::error::KafkaResult<Client<DefaultClientContext>> {
    Client::new(
        config,
        config.create_native_config()?,
        RDKafkaType::RD_KAFKA_PRODUCER,
        DefaultClientContext,
    )
}

/// The threads the process waits for before it exits (see [`Teardown`]).
static TRACKED: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
/// Whether a [`Teardown`] is held, to wait for them. Read and changed under [`TRACKED`]'s
/// lock, so that no thread is added once the teardown has taken the list.
static DEFERRING: AtomicBool = AtomicBool::new(false);

/// Runs `work`, which may hold Kafka clients, on a thread named `name`. While a
/// [`Teardown`] is held, the process waits for that thread before it exits; otherwise (a
/// test, another program using the library) the thread is left to itself.
pub fn spawn_tracked(name: &str, work: impl FnOnce() + Send + 'static) {
    let mut tracked = TRACKED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = start(name, work)
        && DEFERRING.load(Ordering::Acquire)
    {
        tracked.push(handle);
    }
}

/// Drops `client` on a thread of its own while a [`Teardown`] is held, so that its
/// teardown overlaps the command's other work; otherwise at once.
pub fn drop_later<T: Send + 'static>(client: T) {
    // Checked under the lock the teardown takes the threads with, as in `spawn_tracked`.
    let mut tracked = TRACKED.lock().unwrap_or_else(PoisonError::into_inner);
    if DEFERRING.load(Ordering::Acquire) {
        tracked.extend(start("kafka-teardown", move || drop(client)));
    } else {
        drop(tracked);
        drop(client);
    }
}

/// `work` started on a thread named `name`; a thread that cannot start is reported.
fn start(name: &str, work: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .inspect_err(|e| tracing::warn!(thread = name, error = %e, "a thread could not start"))
        .ok()
}

/// Waits, when dropped, for every thread of [`spawn_tracked`] and [`drop_later`]:
/// librdkafka must have torn its clients down before the process exits (exit handlers,
/// such as OpenSSL's, would otherwise run under its threads). `main` holds one for the
/// whole run, so the wait also happens when a command panics.
pub struct Teardown(());

impl Teardown {
    /// Lets [`drop_later`] drop clients on threads of their own until this is dropped.
    pub fn start() -> Teardown {
        let _tracked = TRACKED.lock().unwrap_or_else(PoisonError::into_inner);
        DEFERRING.store(true, Ordering::Release);
        Teardown(())
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let handles = {
            let mut tracked = TRACKED.lock().unwrap_or_else(PoisonError::into_inner);
            DEFERRING.store(false, Ordering::Release);
            std::mem::take(&mut *tracked)
        };
        for handle in handles {
            let _ = handle.join();
        }
    }
}

/// A client made on first use and kept.
pub struct Made<T>(Mutex<Option<Arc<T>>>);

impl<T> Default for Made<T> {
    fn default() -> Self {
        Made(Mutex::new(None))
    }
}

impl<T> Made<T> {
    /// The client, made with `make` if there is none yet.
    pub fn get<E>(&self, make: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        // A `make` that panicked left nothing half made.
        let mut made = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = made.as_ref() {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(make()?);
        *made = Some(Arc::clone(&client));
        Ok(client)
    }

    /// The client, if one was made, taken out.
    pub fn take(&self) -> Option<Arc<T>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_dropped_later_is_gone_when_the_teardown_ends() {
        /// When dropped, waits for its gate to open (5 s at most), then a while more, as
        /// librdkafka's admin client does, then sets its flag.
        struct Gated(std::sync::mpsc::Receiver<()>, Arc<AtomicBool>);
        impl Drop for Gated {
            fn drop(&mut self) {
                let _ = self.0.recv_timeout(Duration::from_secs(5));
                std::thread::sleep(Duration::from_millis(100));
                self.1.store(true, Ordering::SeqCst);
            }
        }
        // Without a teardown held, at once (a gate already open: its sender is gone).
        let (_, open) = std::sync::mpsc::channel();
        let gone = Arc::new(AtomicBool::new(false));
        drop_later(Gated(open, Arc::clone(&gone)));
        assert!(gone.load(Ordering::SeqCst));
        // With one, on another thread: still there until its gate opens, and gone once
        // the teardown ends.
        let teardown = Teardown::start();
        let (open, gate) = std::sync::mpsc::channel();
        let gone = Arc::new(AtomicBool::new(false));
        drop_later(Gated(gate, Arc::clone(&gone)));
        assert!(
            !gone.load(Ordering::SeqCst),
            "dropped on the caller's thread"
        );
        open.send(()).expect("the dropping thread waits");
        drop(teardown);
        assert!(gone.load(Ordering::SeqCst));
    }

    #[test]
    fn a_client_is_made_once_and_a_failure_is_not_kept() {
        let made = Made::<u32>::default();
        assert_eq!(made.get(|| Err::<u32, _>("down")).err(), Some("down"));
        let first = made.get(|| Ok::<_, &str>(7)).expect("made");
        let again = made
            .get(|| -> Result<u32, &str> { panic!("made twice") })
            .expect("kept");
        assert!(Arc::ptr_eq(&first, &again));
    }

    #[test]
    fn a_dropped_producer_stops_its_reporting_thread() {
        // No broker is needed: librdkafka connects in the background.
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        let producer = Producer::new(&config).expect("made");
        let handle = Arc::downgrade(&producer.producer);
        // The reporting thread holds the client too.
        assert_eq!(handle.strong_count(), 2);
        drop(producer);
        // The thread ended (it was joined) and let go of the client, which is gone.
        assert_eq!(handle.strong_count(), 0);
    }

    #[test]
    fn a_bad_property_is_reported_when_the_client_is_made() {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        assert!(metadata_client(&config).is_ok());
        config.set("no.such.property", "1");
        let error = metadata_client(&config).err().expect("refused");
        assert!(error.to_string().contains("no.such.property"), "{error}");
    }
}
