//! Where accepted batches go. The gateway answers 2xx only after `publish` returned Ok, which
//! for Kafka means the broker acknowledged the record with acks=all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::producer::FutureRecord;
use tributary_schemas::RawBatch;
use tributary_service::balance::PartitionBalancer;
use tributary_service::kafka::RenewingProducer;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the broker did not acknowledge within {0:?}")]
    Timeout(Duration),
    #[error("the broker refused the batch: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the batch could not be encoded: {0}")]
    Encode(#[from] tributary_schemas::CodecError),
}

/// The seam between the HTTP edge and the event log.
pub trait Publisher: Send + Sync {
    fn publish(&self, batch: RawBatch) -> BoxFuture<'_, Result<(), PublishError>>;
    /// Wait until everything handed over is acknowledged (shutdown).
    fn flush(&self, timeout: Duration);
}

/// Publishes each batch as one Avro record on the raw topic, keyed by its batch id, on the
/// partition the [`PartitionBalancer`] picks (the one whose batch is lingering, else the one
/// with the fewest records awaiting acknowledgement). While
/// every partition has [`tributary_service::balance::IN_FLIGHT_LIMIT`] outstanding, a batch
/// waits for an acknowledgement, at most the publish timeout (then `Timeout`, nothing sent);
/// once sent, the producer's `message.timeout.ms` (the same timeout) decides.
pub struct KafkaPublisher {
    producer: RenewingProducer,
    /// Knows the raw topic's name and partitions.
    balancer: PartitionBalancer,
    timeout: Duration,
}

impl KafkaPublisher {
    /// `producer` is replaced by a new client when it is broken for good (fatal error, or
    /// every send failing for [`tributary_service::kafka::RENEW_AFTER`]). `balancer` is for
    /// the raw topic.
    pub fn new(producer: RenewingProducer, balancer: PartitionBalancer, timeout: Duration) -> Self {
        KafkaPublisher {
            producer,
            balancer,
            timeout,
        }
    }
}

impl Publisher for KafkaPublisher {
    fn publish(&self, batch: RawBatch) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            let payload = tributary_schemas::encode(&batch)?;
            // Waits while every partition has its limit outstanding, at most the publish
            // timeout; nothing is sent then, so the client's retry cannot be a duplicate.
            // Held until the send ends. A client that hangs up drops it early, while the
            // record may still wait in the producer: that partition then counts one too few.
            let claim = tokio::time::timeout(self.timeout, self.balancer.claim())
                .await
                .map_err(|_| PublishError::Timeout(self.timeout))?;
            let mut record = FutureRecord::<str, [u8]>::to(self.balancer.topic())
                .key(batch.batch_id.as_str())
                .payload(&payload);
            if let Some(claim) = &claim {
                record = record.partition(claim.partition);
            }
            let client = self.producer.current();
            // The producer gives up on the record `message.timeout.ms` (the publish timeout)
            // after taking it; this outer timeout is only a backstop behind that, so the claim
            // is held until the producer has decided.
            let send = client.send(record, self.timeout);
            match tokio::time::timeout(self.timeout + Duration::from_secs(1), send).await {
                Ok(Ok(_delivery)) => {
                    self.producer.succeeded();
                    Ok(())
                }
                Ok(Err((error, _message))) => {
                    self.producer.failed(&client, &error);
                    Err(PublishError::Kafka(error))
                }
                Err(_) => Err(PublishError::Timeout(self.timeout)),
            }
        })
    }

    fn flush(&self, timeout: Duration) {
        let _ = self.producer.current().flush(timeout);
    }
}

/// Keeps batches in memory; for tests of the HTTP edge that do not need the broker.
#[derive(Default, Clone)]
pub struct MemoryPublisher {
    pub batches: Arc<Mutex<Vec<RawBatch>>>,
    /// When set, every publish fails as if the broker were down.
    pub unavailable: Arc<std::sync::atomic::AtomicBool>,
}

impl Publisher for MemoryPublisher {
    fn publish(&self, batch: RawBatch) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            if self.unavailable.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(PublishError::Timeout(Duration::ZERO));
            }
            self.batches.lock().unwrap().push(batch);
            Ok(())
        })
    }

    fn flush(&self, _timeout: Duration) {}
}
