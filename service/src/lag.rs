//! Consumer lag as a metric: `tributary_consumer_lag_messages{group,topic,partition}` is the
//! partition's high watermark minus the group's committed offset, measured every interval by
//! a small consumer of its own. It carries the same `group.id` but never subscribes, so it
//! reads the group's commits without joining the group or touching its assignment.
//!
//! This is what ops alert on and what autoscalers (KEDA's kafka scaler) compute as well; here
//! it is visible on every consumer's `/metrics` without a separate exporter.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::shutdown::Shutdown;

/// How often the services measure lag unless told otherwise: well under a scrape interval's
/// multiple, cheap for the broker (one metadata, one offset fetch, one list-offsets per partition).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How long one broker request of a measurement may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

static LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "tributary_consumer_lag_messages",
        "Messages in the partition not yet committed by the consumer group (high watermark - committed offset)",
        &["group", "topic", "partition"]
    )
    .unwrap()
});

static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_consumer_lag_errors_total",
        "Lag measurements that failed (broker unreachable, unknown topic); the gauge keeps its last value",
        &["group", "topic"]
    )
    .unwrap()
});

/// One partition's position, as the broker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    /// Oldest offset still retained.
    pub low: i64,
    /// Offset the next produced message gets.
    pub high: i64,
    /// The group's committed offset (the next one it will read), `None` when it never committed.
    pub committed: Option<i64>,
}

impl PartitionLag {
    /// Messages the group still has to get through. A group without a commit starts at the
    /// earliest retained offset (`auto.offset.reset=earliest`), so everything retained counts;
    /// a commit below the retention start counts from that start too.
    pub fn lag(&self) -> i64 {
        let from = match self.committed {
            Some(offset) => offset.max(self.low),
            None => self.low,
        };
        (self.high - from).max(0)
    }
}

/// Measure `group`'s lag on every partition of `topic`, using any consumer whose `group.id` is
/// the group (the reporter's own, or a service's `StreamConsumer`). Blocking: call it from a
/// blocking thread.
pub fn measure<C, X>(consumer: &C, topic: &str, timeout: Duration) -> KafkaResult<Vec<PartitionLag>>
where
    C: Consumer<X>,
    X: ConsumerContext,
{
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| {
            if let Some(error) = t.error() {
                tracing::debug!(topic, ?error, "topic metadata carries an error");
            }
            t.partitions().iter().map(|p| p.id())
        })
        .collect();
    if partitions.is_empty() {
        return Err(rdkafka::error::KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    let mut list = TopicPartitionList::new();
    for partition in &partitions {
        list.add_partition(topic, *partition);
    }
    let committed = consumer.committed_offsets(list, timeout)?;
    let mut lags = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        let committed = committed
            .find_partition(topic, partition)
            .and_then(|p| match p.offset() {
                Offset::Offset(offset) if offset >= 0 => Some(offset),
                _ => None,
            });
        lags.push(PartitionLag {
            partition,
            low,
            high,
            committed,
        });
    }
    Ok(lags)
}

/// The reporter's own consumer: the service's brokers and client properties, its group, no
/// subscription and no commits.
fn lag_consumer(kafka: &KafkaConfig, group: &str) -> KafkaResult<BaseConsumer> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.properties {
        client.set(key, value);
    }
    client
        .set("group.id", group)
        .set("client.id", format!("{group}-lag"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    client.create()
}

/// Set the gauge every `interval` for `group` on `topic` until `shutdown`. Failures are logged
/// and counted, never fatal: lag is an observation, and the service keeps working without it.
/// Errors only when the reporter's consumer cannot be created (bad client properties).
pub fn spawn_lag_reporter(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    interval: Duration,
    shutdown: Shutdown,
) -> KafkaResult<tokio::task::JoinHandle<()>> {
    let consumer = Arc::new(lag_consumer(kafka, group)?);
    let (group, topic) = (group.to_string(), topic.to_string());
    let interval = interval.max(Duration::from_millis(100));
    Ok(tokio::spawn(async move {
        let mut failing = false;
        while !shutdown.is_triggered() {
            let measured = {
                let (consumer, topic) = (consumer.clone(), topic.clone());
                tokio::task::spawn_blocking(move || measure(&*consumer, &topic, REQUEST_TIMEOUT))
                    .await
            };
            match measured {
                Ok(Ok(lags)) => {
                    if failing {
                        tracing::info!(%group, %topic, "consumer lag measurable again");
                        failing = false;
                    }
                    for lag in lags {
                        LAG.with_label_values(&[&group, &topic, &lag.partition.to_string()])
                            .set(lag.lag());
                    }
                }
                Ok(Err(error)) => {
                    ERRORS.with_label_values(&[&group, &topic]).inc();
                    // Once per outage at warn; the rest at debug so a down broker does not
                    // flood the log with one line per interval.
                    if !failing {
                        tracing::warn!(%error, %group, %topic, "measuring consumer lag failed");
                        failing = true;
                    } else {
                        tracing::debug!(%error, %group, %topic, "measuring consumer lag failed");
                    }
                }
                Err(join_error) => {
                    ERRORS.with_label_values(&[&group, &topic]).inc();
                    tracing::warn!(error = %join_error, %group, %topic, "lag measurement task failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {},
                _ = shutdown.wait() => {},
            }
        }
        // Dropping the consumer closes it; it never joined, so this does not rebalance the group.
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_high_watermark_minus_what_the_group_will_read_next() {
        let cases = [
            // (low, high, committed, lag)
            (0, 0, None, 0),      // empty partition
            (0, 10, None, 10),    // never committed: everything retained
            (4, 10, None, 6),     // never committed, old records deleted
            (0, 10, Some(10), 0), // caught up
            (0, 10, Some(3), 7),  // behind
            (5, 10, Some(2), 5),  // committed below retention: starts at low
            (0, 10, Some(12), 0), // commit ahead of a stale watermark: never negative
        ];
        for (low, high, committed, want) in cases {
            let p = PartitionLag {
                partition: 0,
                low,
                high,
                committed,
            };
            assert_eq!(p.lag(), want, "{p:?}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_counted_not_fatal() {
        let kafka = KafkaConfig {
            // Nothing listens on port 1; the reporter must keep going and stop on shutdown.
            brokers: "127.0.0.1:1".into(),
            ..Default::default()
        };
        let shutdown = Shutdown::new();
        let handle = spawn_lag_reporter(
            &kafka,
            "lag-test-group",
            "lag-test-topic",
            Duration::from_millis(100),
            shutdown.clone(),
        )
        .unwrap();
        let errors = || {
            ERRORS
                .with_label_values(&["lag-test-group", "lag-test-topic"])
                .get()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while errors() == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(errors() >= 1, "a failed measurement is counted");
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(15), handle)
            .await
            .expect("reporter stops on shutdown")
            .expect("reporter never panics");
    }
}
