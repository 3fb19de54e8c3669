//! A Kafka producer whose delivery reports are served by a thread that sleeps until librdkafka
//! has one, in place of rdkafka's `FutureProducer`.
//!
//! `FutureProducer` serves delivery reports from a thread that calls `BaseProducer::poll` in
//! 100 ms rounds, and every round ends in up to a millisecond of busy polling: `poll` hands
//! librdkafka the time left in whole milliseconds, truncated, so the last fraction of a
//! millisecond becomes a zero timeout, repeated until the deadline (rdkafka 0.39, `util.rs`,
//! `Timeout::as_millis`). `strace` of an idle gateway showed the thread waking every 100 ms and
//! re-entering its wait 0.8 ms later; each service's producer thread took 0.0075 of a core
//! with nothing to send (bench/PROFILE.md, "The producers' polling thread").
//!
//! Here librdkafka wakes the thread itself: the main queue's event callback
//! (`rd_kafka_queue_cb_event_enable`, called when an event lands on an empty queue) unparks it,
//! and it takes events without waiting until the queue is empty, then parks again.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use rdkafka::bindings as rdsys;
use rdkafka::client::Client;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{OwnedMessage, ToBytes};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureRecord, Producer, ProducerContext,
};
use rdkafka::{ClientConfig, ClientContext, Message, Timestamp};
use tokio::sync::oneshot;

pub use rdkafka::producer::future_producer::{Delivery, OwnedDeliveryResult};

/// How long [`KafkaProducer::send`] waits between tries while librdkafka's queue is full
/// (`queue.buffering.max.messages` / `.kbytes`), as `FutureProducer` does.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(100);

/// Delivery reports go to the `oneshot` each send waits on.
pub struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<OwnedDeliveryResult>>;

    fn delivery(&self, result: &DeliveryResult<'_>, reply: Self::DeliveryOpaque) {
        let owned = match result {
            Ok(message) => Ok(Delivery {
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp(),
            }),
            Err((error, message)) => Err((error.clone(), message.detach())),
        };
        // The sender gave up waiting (its request was cancelled): nobody to tell.
        let _ = reply.send(owned);
    }
}

/// A producer for `async` callers: [`KafkaProducer::send`] resolves once the broker
/// acknowledged the record (or librdkafka gave up on it). Clones share one client.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: Arc<Inner>,
}

struct Inner {
    base: Arc<BaseProducer<Deliveries>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
    /// Our reference to the client's main queue, whose event callback wakes `poller`.
    queue: MainQueue,
    /// What the callback's opaque pointer points at; dropped only after `Drop` disabled it.
    _waker: Arc<Thread>,
}

/// A reference to the client's main queue (`rd_kafka_queue_get_main`), released in
/// [`Inner`]'s `Drop` after the delivery thread has ended.
#[derive(Clone, Copy)]
struct MainQueue(*mut rdsys::rd_kafka_queue_t);

// SAFETY: librdkafka's queue handles may be used from any thread.
unsafe impl Send for MainQueue {}
unsafe impl Sync for MainQueue {}

/// librdkafka calls this from its own threads when an event lands on the empty main queue.
/// It may not call librdkafka; unparking a thread is a futex wake.
unsafe extern "C" fn wake_poller(_rk: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is `Inner::_waker`, dropped only after the callback is disabled.
    let thread = unsafe { &*(opaque as *const Thread) };
    thread.unpark();
}

impl KafkaProducer {
    /// A producer with `config`'s properties.
    ///
    /// # Errors
    /// librdkafka refuses the properties (`KafkaError::ClientCreation`), or the delivery
    /// thread cannot be started (`KafkaError::ClientCreation`).
    pub fn new(config: &ClientConfig) -> KafkaResult<Self> {
        let base: Arc<BaseProducer<Deliveries>> = Arc::new(config.create_with_context(Deliveries)?);
        let stop = Arc::new(AtomicBool::new(false));
        // SAFETY: a new reference to the client's main queue (the one `BaseProducer::poll`
        // serves); released in `Drop`.
        let queue =
            MainQueue(unsafe { rdsys::rd_kafka_queue_get_main(base.client().native_ptr()) });
        let poller = {
            let base = Arc::clone(&base);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("kafka-deliveries".into())
                .spawn(move || serve_deliveries(&base, &stop, queue))
                .map_err(|e| KafkaError::ClientCreation(format!("delivery thread: {e}")))?
        };
        let waker = Arc::new(poller.thread().clone());
        // SAFETY: `waker` stays alive until `Drop` disables the callback.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(
                queue.0,
                Some(wake_poller),
                Arc::as_ptr(&waker).cast_mut().cast(),
            );
        }
        // Whatever arrived before the callback was on.
        poller.thread().unpark();
        Ok(KafkaProducer {
            inner: Arc::new(Inner {
                base,
                stop,
                poller: Some(poller),
                queue,
                _waker: waker,
            }),
        })
    }

    /// Send `record`, waiting up to `queue_timeout` for room in librdkafka's queue, and resolve
    /// with the broker's acknowledgement or librdkafka's final error (after its retries, within
    /// `message.timeout.ms`). A record still refused after `queue_timeout` resolves to
    /// `RDKafkaErrorCode::QueueFull`. The same contract as rdkafka's `FutureProducer::send`.
    pub async fn send<K, P>(
        &self,
        record: FutureRecord<'_, K, P>,
        queue_timeout: Duration,
    ) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (reply, delivered) = oneshot::channel();
        let mut base = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: Box::new(reply),
        };
        let started = Instant::now();
        loop {
            match self.inner.base.send(base) {
                Ok(()) => {
                    // The producer holds the sender until it reports: a closed channel
                    // means the client was dropped with the record unreported.
                    return delivered.await.unwrap_or_else(|_| {
                        Err((
                            KafkaError::Canceled,
                            OwnedMessage::new(
                                None,
                                None,
                                String::new(),
                                Timestamp::NotAvailable,
                                -1,
                                -1,
                                None,
                            ),
                        ))
                    });
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if started.elapsed() < queue_timeout =>
                {
                    base = back;
                    tokio::time::sleep(QUEUE_FULL_RETRY).await;
                }
                Err((error, back)) => {
                    let message = OwnedMessage::new(
                        back.payload.map(|p| p.to_bytes().to_vec()),
                        back.key.map(|k| k.to_bytes().to_vec()),
                        back.topic.to_owned(),
                        back.timestamp
                            .map_or(Timestamp::NotAvailable, Timestamp::CreateTime),
                        back.partition.unwrap_or(-1),
                        0,
                        back.headers,
                    );
                    return Err((error, message));
                }
            }
        }
    }

    /// Wait up to `timeout` for every queued record to be acknowledged or to fail.
    ///
    /// # Errors
    /// Records still unreported after `timeout` (`KafkaError::Flush`).
    pub fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.inner.base.flush(timeout)
    }

    /// The librdkafka client, for its metadata and fatal-error state.
    pub fn client(&self) -> &Client<Deliveries> {
        self.inner.base.client()
    }
}

/// The delivery thread: serve every event on the main queue, park until librdkafka or `Drop`
/// unparks it.
fn serve_deliveries(base: &BaseProducer<Deliveries>, stop: &AtomicBool, queue: MainQueue) {
    while !stop.load(Ordering::Acquire) {
        // A zero timeout takes at most one event and never waits (each delivery-report event
        // carries every report librdkafka had ready).
        // SAFETY: the handle is valid until `Drop` has joined this thread.
        while unsafe { rdsys::rd_kafka_queue_length(queue.0) } > 0 {
            base.poll(Duration::ZERO);
        }
        // Returns at once if the callback unparked it meanwhile (the token is kept), so a
        // report landing between the length check and here is not missed.
        std::thread::park();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(poller) = self.poller.take() {
            poller.thread().unpark();
            let _ = poller.join();
        }
        // SAFETY: the callback is off before `_waker` drops with the fields; the queue
        // reference came from `rd_kafka_queue_get_main` in `new`.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue.0, None, std::ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.queue.0);
        }
        // `base` drops with the fields: it purges and flushes what is left (serving the queue
        // itself).
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no broker to reach, a send that librdkafka cannot deliver within
    /// `message.timeout.ms` still resolves: its report reaches the delivery thread by the
    /// queue's callback, not by a polling round.
    #[tokio::test]
    async fn a_failed_delivery_is_reported() {
        let producer = KafkaProducer::new(
            ClientConfig::new()
                .set("bootstrap.servers", "127.0.0.1:1")
                .set("message.timeout.ms", "300"),
        )
        .unwrap();
        let started = Instant::now();
        let result = producer
            .send(
                FutureRecord::<str, str>::to("t").payload("x"),
                Duration::from_secs(1),
            )
            .await;
        let (error, message) = result.unwrap_err();
        assert_eq!(
            error,
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
        );
        assert_eq!(message.payload(), Some(&b"x"[..]));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A full queue: the second record is refused with `QueueFull` once its queue timeout
    /// passes, and dropping the producer with the first still queued returns.
    #[tokio::test]
    async fn a_full_queue_is_reported_after_the_queue_timeout() {
        let producer = KafkaProducer::new(
            ClientConfig::new()
                .set("bootstrap.servers", "127.0.0.1:1")
                .set("queue.buffering.max.messages", "1")
                .set("message.timeout.ms", "60000"),
        )
        .unwrap();
        let first = producer.send(
            FutureRecord::<str, str>::to("t").payload("1"),
            Duration::ZERO,
        );
        let first = tokio::time::timeout(Duration::from_millis(50), first).await;
        assert!(first.is_err(), "undeliverable record reported early");
        let second = producer
            .send(
                FutureRecord::<str, str>::to("t").payload("2"),
                Duration::from_millis(250),
            )
            .await;
        assert_eq!(
            second.unwrap_err().0,
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
        );
        producer
            .inner
            .base
            .purge(rdkafka::producer::PurgeConfig::default().queue());
        drop(producer);
    }
}
