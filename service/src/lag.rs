//! Consumer lag as a metric: `tributary_consumer_lag_messages{group,topic,partition}` is the
//! partition's high watermark minus the group's committed offset, measured every interval by
//! a small consumer of its own. It carries the same `group.id` but never subscribes, so it
//! reads the group's commits without joining the group or touching its assignment.
//!
//! From the same measurements: `tributary_consumer_stalled_seconds{group,topic}`, how long
//! the group's committed offsets have not moved while it has lag (0 without lag), and
//! `tributary_consumer_oldest_unconsumed_age_seconds{group,topic}`, the age (record
//! timestamp to now) of the oldest message the group has not committed, which grows when
//! nothing arrives downstream. Each measurement also goes to the member's stall watchdog
//! ([`crate::watchdog`]) through [`spawn_group_monitor`].
//!
//! This is what ops alert on and what autoscalers (KEDA's kafka scaler) compute as well; here
//! it is visible on every consumer's `/metrics` without a separate exporter.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use prometheus::{
    register_gauge_vec, register_int_counter_vec, register_int_gauge_vec, GaugeVec, IntCounterVec,
    IntGaugeVec,
};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

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

static STALLED: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "tributary_consumer_stalled_seconds",
        "Seconds since the group's committed offsets last moved while it has lag (0 without lag), as measured by this replica",
        &["group", "topic"]
    )
    .unwrap()
});

static OLDEST_AGE: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "tributary_consumer_oldest_unconsumed_age_seconds",
        "Age (record timestamp to now) of the oldest message the group has not committed yet, over the topic's partitions (0 without lag)",
        &["group", "topic"]
    )
    .unwrap()
});

/// One lag measurement of the whole topic, for the stall watchdog.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Instant,
    pub partitions: Vec<PartitionLag>,
}

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

/// The reporter's own consumers: the service's brokers and client properties, its group, no
/// subscription and no commits.
fn lag_consumer(kafka: &KafkaConfig, group: &str, role: &str) -> KafkaResult<BaseConsumer> {
    let mut client = crate::kafka::client_config(kafka)?;
    client
        .set("group.id", group)
        .set("client.id", format!("{group}-{role}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    client.create()
}

/// The age of the oldest uncommitted message over `partitions` of `topic`: reads the first
/// message at each lagging partition's committed offset with `peeker` (assigned, never
/// subscribed, never committing). `None` when no message could be read in time.
fn oldest_unconsumed_age(
    peeker: &BaseConsumer,
    topic: &str,
    partitions: &[PartitionLag],
    timeout: Duration,
) -> Option<Duration> {
    let mut list = TopicPartitionList::new();
    let mut wanted = 0;
    for p in partitions.iter().filter(|p| p.lag() > 0) {
        let from = p.committed.unwrap_or(p.low).max(p.low);
        list.add_partition_offset(topic, p.partition, Offset::Offset(from))
            .ok()?;
        wanted += 1;
    }
    if wanted == 0 {
        return Some(Duration::ZERO);
    }
    peeker.assign(&list).ok()?;
    let now_ms = crate::now_ms();
    let mut oldest: Option<i64> = None;
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + timeout;
    while seen.len() < wanted && Instant::now() < deadline {
        match peeker.poll(Duration::from_millis(200)) {
            Some(Ok(message)) if seen.insert(message.partition()) => {
                if let Some(ts) = message.timestamp().to_millis() {
                    oldest = Some(oldest.map_or(ts, |o: i64| o.min(ts)));
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => tracing::debug!(%error, "peeking the oldest message failed"),
            None => {}
        }
    }
    let _ = peeker.unassign();
    oldest.map(|ts| Duration::from_millis((now_ms - ts).max(0) as u64))
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
    spawn_group_monitor(kafka, group, topic, interval, shutdown).map(|(handle, _)| handle)
}

/// [`spawn_lag_reporter`], also publishing every successful measurement on the returned
/// channel (for [`crate::watchdog::Watchdog`]); a failed one publishes nothing.
pub fn spawn_group_monitor(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    interval: Duration,
    shutdown: Shutdown,
) -> KafkaResult<(
    tokio::task::JoinHandle<()>,
    watch::Receiver<Option<Snapshot>>,
)> {
    let consumer = Arc::new(lag_consumer(kafka, group, "lag")?);
    let peeker = Arc::new(lag_consumer(kafka, group, "peek")?);
    let (group, topic) = (group.to_string(), topic.to_string());
    let interval = interval.max(Duration::from_millis(100));
    let (snapshots, receiver) = watch::channel(None);
    STALLED.with_label_values(&[&group, &topic]).set(0.0);
    OLDEST_AGE.with_label_values(&[&group, &topic]).set(0.0);
    ERRORS.with_label_values(&[&group, &topic]);
    let handle = tokio::spawn(async move {
        let mut failing = false;
        let mut progress = GroupProgress::default();
        while !shutdown.is_triggered() {
            let measured = {
                let (consumer, peeker, topic) = (consumer.clone(), peeker.clone(), topic.clone());
                tokio::task::spawn_blocking(move || {
                    let lags = measure(&*consumer, &topic, REQUEST_TIMEOUT)?;
                    let age = oldest_unconsumed_age(&peeker, &topic, &lags, Duration::from_secs(2));
                    Ok::<_, rdkafka::error::KafkaError>((lags, age))
                })
                .await
            };
            match measured {
                Ok(Ok((lags, age))) => {
                    if failing {
                        tracing::info!(%group, %topic, "consumer lag measurable again");
                        failing = false;
                    }
                    for lag in &lags {
                        LAG.with_label_values(&[&group, &topic, &lag.partition.to_string()])
                            .set(lag.lag());
                    }
                    let now = Instant::now();
                    STALLED
                        .with_label_values(&[&group, &topic])
                        .set(progress.observe(now, &lags).as_secs_f64());
                    if let Some(age) = age {
                        OLDEST_AGE
                            .with_label_values(&[&group, &topic])
                            .set(age.as_secs_f64());
                    }
                    let _ = snapshots.send(Some(Snapshot {
                        at: now,
                        partitions: lags,
                    }));
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
        // Dropping the consumers closes them; they never joined, so this does not rebalance
        // the group.
        let _ = tokio::task::spawn_blocking(move || drop((consumer, peeker))).await;
    });
    Ok((handle, receiver))
}

/// When the group's committed offsets last moved, for `tributary_consumer_stalled_seconds`.
#[derive(Debug, Default)]
struct GroupProgress {
    committed: HashMap<i32, Option<i64>>,
    since: Option<Instant>,
}

impl GroupProgress {
    /// How long the group has had lag without a committed offset moving, as of `now`.
    fn observe(&mut self, now: Instant, lags: &[PartitionLag]) -> Duration {
        let moved = lags.iter().any(|p| {
            p.committed.is_some() && self.committed.get(&p.partition) != Some(&p.committed)
        });
        let lagging = lags.iter().any(|p| p.lag() > 0);
        self.committed = lags.iter().map(|p| (p.partition, p.committed)).collect();
        if !lagging || moved || self.since.is_none() {
            self.since = Some(now);
        }
        if lagging {
            now.saturating_duration_since(self.since.unwrap_or(now))
        } else {
            Duration::ZERO
        }
    }
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

    #[test]
    fn stalled_seconds_grow_only_while_lag_stays_and_commits_do_not_move() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let p = |committed: Option<i64>, high: i64| PartitionLag {
            partition: 0,
            low: 0,
            high,
            committed,
        };
        let mut g = GroupProgress::default();
        assert_eq!(g.observe(at(0), &[p(Some(5), 10)]), Duration::ZERO);
        assert_eq!(
            g.observe(at(10), &[p(Some(5), 10)]),
            Duration::from_secs(10)
        );
        assert_eq!(
            g.observe(at(20), &[p(Some(5), 12)]),
            Duration::from_secs(20)
        );
        assert_eq!(
            g.observe(at(30), &[p(Some(7), 12)]),
            Duration::ZERO,
            "a commit moved"
        );
        assert_eq!(
            g.observe(at(40), &[p(Some(7), 12)]),
            Duration::from_secs(10)
        );
        assert_eq!(
            g.observe(at(50), &[p(Some(12), 12)]),
            Duration::ZERO,
            "no lag"
        );
        assert_eq!(
            g.observe(at(90), &[p(Some(12), 12)]),
            Duration::ZERO,
            "idle, no lag"
        );
        assert_eq!(
            g.observe(at(100), &[p(Some(12), 13)]),
            Duration::from_secs(10),
            "new lag counts from the last measurement without lag"
        );
        assert_eq!(
            g.observe(at(130), &[p(Some(12), 13)]),
            Duration::from_secs(40)
        );
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
