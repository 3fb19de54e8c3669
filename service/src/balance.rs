//! Which partition a record goes to: the one whose batch the producer is lingering over
//! (sticky), else the one of its topic with the fewest records awaiting the broker's
//! acknowledgement; never more than [`IN_FLIGHT_LIMIT`] on one partition.
//!
//! Why a limit. An idempotent librdkafka producer (2.12.1, `rdkafka_broker.c`,
//! `rd_kafka_toppar_producer_serve`) creates no produce request for a partition that has five
//! *messages* in flight (`RD_KAFKA_IDEMP_MAX_INFLIGHT` is compared with `rktp_msgs_inflight`,
//! which counts messages, not requests). But before that check it has already set its broker
//! thread to wake "now" for the records waiting behind them, so that thread polls without
//! sleeping until an answer comes back (bench/PROFILE.md, "the producers' busy wait"):
//! - records hashed by key land unevenly, so at 20k events/s some partition often had five in
//!   flight, and the gateway's and the enricher's broker threads each burned 0.05–0.08 of a
//!   core. Spreading records by what each partition has outstanding fixed most of that;
//! - under a closed loop (bench phase (a), 32 requests in flight over 4 partitions) every
//!   partition has five in flight most of the time, and the gateway's broker thread took a
//!   fifth of the gateway's CPU spinning (bench/PROFILE.md, "The gateway's broker thread").
//!
//! So a record that would be the sixth outstanding on every partition waits here, asleep, for
//! the first acknowledgement instead of in the producer's queue, where it costs a spinning
//! thread. Waiters are served in arrival order. The count also includes records still
//! lingering in the producer's queue, so the limit is a little stricter than librdkafka's.
//!
//! Why sticky (as Kafka's own producer does for records without a key, KIP-480). The broker's
//! cost is per produce request, and librdkafka sends one request per partition. Spread one by
//! one over four partitions, the 200 records/s of bench phase (d) (20k events/s in batches of
//! 100) went out one record per request. So a partition stays chosen for as long as the
//! producer lingers over its first record (`linger.ms`, 20 ms with [`producer_config`]) or
//! until it has [`IN_FLIGHT_LIMIT`] outstanding, which is also the batch at which librdkafka
//! stops lingering ([`BATCH_RECORDS`]): four records a request in (d), and the broker went from
//! 0.45–0.49 to 0.29–0.33 of a core. Under a closed loop an acknowledged batch frees its five
//! places at once, the five oldest waiters take them, and their batch leaves full, without
//! lingering (bench/PROFILE.md, "Sticky partitions").
//!
//! Keys stay on the records (batch ids; nothing relies on a batch's partition: every record
//! stands alone and rows are deduplicated by `event_uid`). While the partition count is not
//! known (metadata not fetched yet, or the topic missing) records go by key as before, without
//! a limit.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::kafka::{RenewingProducer, LINGER_PROPERTIES};
use crate::{KafkaConfig, Shutdown};

/// How often the topic's partition count is read again (partitions can be added).
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Records outstanding on one partition at most: librdkafka's `RD_KAFKA_IDEMP_MAX_INFLIGHT`,
/// the messages an idempotent producer has in flight on a partition before it stops sending
/// there (and starts spinning, see the module's docs).
pub const IN_FLIGHT_LIMIT: usize = 5;

/// How long the producer of a balanced topic lingers over a partition's first record, unless
/// `kafka.properties` sets `linger.ms`: long enough that at 200 records/s a batch gathers about
/// four (module docs), short next to the publish's acknowledgement wait.
pub const LINGER: Duration = Duration::from_millis(20);

/// Records in one produce request at most (`batch.num.messages`) for a balanced topic's
/// producer: a partition's batch leaves as soon as it has this many, without lingering. Equal
/// to [`IN_FLIGHT_LIMIT`], the most the balancer ever puts on one partition.
pub const BATCH_RECORDS: usize = IN_FLIGHT_LIMIT;

/// `config` for the producer of a balanced topic: [`LINGER`] and [`BATCH_RECORDS`] added to
/// `kafka.properties`, unless they set `linger.ms` (or `queue.buffering.max.ms`) or
/// `batch.num.messages` themselves. The other producers (dead letters, the operator's
/// replays, one record at a time) keep [`crate::kafka::LINGER`].
pub fn producer_config(config: &KafkaConfig) -> KafkaConfig {
    let mut config = config.clone();
    let properties = &mut config.properties;
    if !LINGER_PROPERTIES
        .iter()
        .any(|key| properties.contains_key(*key))
    {
        properties.insert("linger.ms".into(), LINGER.as_millis().to_string());
    }
    properties
        .entry("batch.num.messages".into())
        .or_insert_with(|| BATCH_RECORDS.to_string());
    config
}

/// Spreads the records of one topic over its partitions. Clones share the counts.
#[derive(Clone)]
pub struct PartitionBalancer {
    inner: Arc<Inner>,
}

struct Inner {
    topic: String,
    /// How long the producer lingers over a partition's first record: how long records stick
    /// to one partition.
    linger: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped when the partition count changes, so claims made before do not count after.
    generation: u64,
    /// Records handed to the producer and not yet acknowledged or failed, per partition.
    outstanding: Vec<usize>,
    /// Where the search for the least loaded partition starts, so ties rotate.
    next: usize,
    /// The partition records stick to, and until when: the batch the producer is lingering
    /// over there.
    sticky: Option<(usize, Instant)>,
    /// Records waiting for a partition below [`IN_FLIGHT_LIMIT`], oldest first. `None` is
    /// handed over when the partition count became unknown (send by key).
    waiting: VecDeque<Waiter>,
}

/// A record waiting for a claim (`None`: send by key).
type Waiter = oneshot::Sender<Option<PartitionClaim>>;

/// Claims made under the lock, to be handed to their waiters once it is released: a waiter
/// that has gone drops its claim, and that drop takes the lock.
type Handed = Vec<(Waiter, Option<PartitionClaim>)>;

fn hand_over(handed: Handed) {
    for (waiter, claim) in handed {
        // A waiter that has gone (its request ended) gives the claim back by dropping it.
        let _ = waiter.send(claim);
    }
}

/// A record's place on a partition, held until its send ends (dropping it releases it).
pub struct PartitionClaim {
    inner: Arc<Inner>,
    generation: u64,
    /// The partition to send to.
    pub partition: i32,
}

impl std::fmt::Debug for PartitionClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionClaim")
            .field("topic", &self.inner.topic)
            .field("partition", &self.partition)
            .finish()
    }
}

impl PartitionBalancer {
    /// A balancer for `topic` that knows no partitions yet ([`Self::claim`] gives `None`), for
    /// a producer that lingers `linger` over a partition's first record (`linger.ms`).
    pub fn new(topic: &str, linger: Duration) -> Self {
        PartitionBalancer {
            inner: Arc::new(Inner {
                topic: topic.to_string(),
                linger,
                state: Mutex::default(),
            }),
        }
    }

    /// A balancer for `topic` and `producer`'s linger, whose partition count is kept current
    /// by a task of its own ([`Self::keep_partitions_current`]) until `shutdown`. Needs a
    /// Tokio runtime.
    pub fn spawn(topic: &str, producer: RenewingProducer, shutdown: Shutdown) -> Self {
        let balancer = Self::new(topic, producer.linger());
        tokio::spawn(balancer.clone().keep_partitions_current(producer, shutdown));
        balancer
    }

    /// The topic whose records it spreads.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The topic has `count` partitions (0: unknown). A change starts the counts afresh and
    /// serves the records waiting under the old count.
    pub fn set_partitions(&self, count: usize) {
        let handed = {
            let mut state = self.inner.lock();
            if state.outstanding.len() == count {
                return;
            }
            state.generation += 1;
            state.outstanding = vec![0; count];
            state.next = 0;
            state.sticky = None;
            self.inner.serve_waiting(&mut state)
        };
        hand_over(handed);
    }

    /// A partition below [`IN_FLIGHT_LIMIT`], claimed for one record: the sticky one while its
    /// batch lingers, else the one with the fewest outstanding records, which becomes sticky.
    /// While every partition is at the limit this waits, in arrival order, for an
    /// acknowledgement. `None` while the partition count is unknown (send by key then).
    /// Cancel-safe: a claim handed to a waiter that has gone is released.
    pub async fn claim(&self) -> Option<PartitionClaim> {
        let waiting = {
            let mut state = self.inner.lock();
            if state.outstanding.is_empty() {
                return None;
            }
            if state.waiting.is_empty() {
                if let Some(claim) = self.inner.claim_below_limit(&mut state) {
                    return Some(claim);
                }
            }
            let (waiter, waiting) = oneshot::channel();
            state.waiting.push_back(waiter);
            waiting
        };
        // The sender lives in `self`'s state, so it is only dropped unsent if the state is.
        waiting.await.unwrap_or(None)
    }

    /// Records queued for a partition below the limit, including waiters that have gone and
    /// are not yet skipped.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.inner.lock().waiting.len()
    }

    /// Keep the partition count current: read it from the broker now and every
    /// [`REFRESH_EVERY`] until `shutdown`. A topic the broker does not have counts 0 (by key);
    /// a failed read, or a topic the broker reports an error for, keeps the last count.
    ///
    /// It asks for every topic's metadata, as the readiness probe does: asking for one topic
    /// by name lets librdkafka create it (`allow.auto.create.topics`) before it is provisioned.
    pub async fn keep_partitions_current(self, producer: RenewingProducer, shutdown: Shutdown) {
        loop {
            let client = producer.current();
            let topic = self.inner.topic.clone();
            let read = tokio::task::spawn_blocking(move || {
                let metadata = client
                    .client()
                    .fetch_metadata(None, Duration::from_secs(5))?;
                Ok::<_, rdkafka::error::KafkaError>(
                    match metadata.topics().iter().find(|t| t.name() == topic) {
                        None => Some(0),
                        Some(t) if t.error().is_none() => Some(t.partitions().len()),
                        Some(_) => None,
                    },
                )
            })
            .await;
            match read {
                Ok(Ok(Some(count))) => self.set_partitions(count),
                Ok(Ok(None)) => tracing::warn!(topic = %self.inner.topic,
                    "the broker reports an error for the topic; partition count kept"),
                Ok(Err(error)) => tracing::warn!(%error, topic = %self.inner.topic,
                    "partition count not read; kept"),
                Err(error) => tracing::warn!(%error, "partition count task failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH_EVERY) => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sticky partition while its batch lingers and it is below the limit; else the least
    /// loaded one (ties rotate), if it is below the limit, sticky from now for the linger.
    fn claim_below_limit(self: &Arc<Self>, state: &mut State) -> Option<PartitionClaim> {
        let now = Instant::now();
        let partition = match state.sticky {
            Some((partition, until))
                if now < until && state.outstanding[partition] < IN_FLIGHT_LIMIT =>
            {
                partition
            }
            _ => {
                let count = state.outstanding.len();
                let start = state.next % count;
                let partition = (0..count)
                    .map(|step| (start + step) % count)
                    .min_by_key(|&p| state.outstanding[p])
                    .expect("count > 0");
                if state.outstanding[partition] >= IN_FLIGHT_LIMIT {
                    return None;
                }
                state.next = partition + 1;
                state.sticky = Some((partition, now + self.linger));
                partition
            }
        };
        state.outstanding[partition] += 1;
        Some(PartitionClaim {
            inner: self.clone(),
            generation: state.generation,
            partition: partition as i32,
        })
    }

    /// Claims for the oldest waiters while a partition has room (all of them, unclaimed, when
    /// the partition count is unknown), to be handed over after the lock is released.
    fn serve_waiting(self: &Arc<Self>, state: &mut State) -> Handed {
        let mut handed = Vec::new();
        while let Some(waiter) = state.waiting.pop_front() {
            if waiter.is_closed() {
                continue;
            }
            if state.outstanding.is_empty() {
                handed.push((waiter, None));
                continue;
            }
            match self.claim_below_limit(state) {
                Some(claim) => handed.push((waiter, Some(claim))),
                None => {
                    state.waiting.push_front(waiter);
                    break;
                }
            }
        }
        handed
    }
}

impl Drop for PartitionClaim {
    fn drop(&mut self) {
        let handed = {
            let mut state = self.inner.lock();
            if state.generation != self.generation {
                return;
            }
            if let Some(n) = state.outstanding.get_mut(self.partition as usize) {
                *n = n.saturating_sub(1);
            }
            self.inner.serve_waiting(&mut state)
        };
        hand_over(handed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn claims(balancer: &PartitionBalancer, n: usize) -> Vec<PartitionClaim> {
        let mut claims = Vec::new();
        for _ in 0..n {
            claims.push(balancer.claim().await.expect("count known"));
        }
        claims
    }

    fn partitions(claims: &[PartitionClaim]) -> Vec<i32> {
        claims.iter().map(|c| c.partition).collect()
    }

    #[tokio::test]
    async fn records_go_to_the_partition_with_the_fewest_outstanding() {
        let balancer = PartitionBalancer::new("events.raw", Duration::ZERO);
        assert!(balancer.claim().await.is_none(), "count unknown: by key");
        balancer.set_partitions(4);
        let mut claims = claims(&balancer, 8).await;
        let mut per_partition = [0; 4];
        for claim in &claims {
            per_partition[claim.partition as usize] += 1;
        }
        assert_eq!(per_partition, [2, 2, 2, 2]);
        // Two acknowledged on partition 2: the next two records go there.
        claims.retain(|c| c.partition != 2);
        assert_eq!(balancer.claim().await.unwrap().partition, 2);
        let held = balancer.claim().await.unwrap();
        assert_eq!(held.partition, 2);
        drop(held);
        assert_eq!(balancer.claim().await.unwrap().partition, 2);
    }

    #[tokio::test]
    async fn ties_rotate_and_a_new_partition_count_starts_afresh() {
        let balancer = PartitionBalancer::new("events.normalized", Duration::ZERO);
        balancer.set_partitions(3);
        // One record at a time, each acknowledged before the next: still spread.
        let mut order = Vec::new();
        for _ in 0..6 {
            order.push(balancer.claim().await.unwrap().partition);
        }
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        let old = balancer.claim().await.unwrap();
        balancer.set_partitions(6);
        drop(old); // made under 3 partitions: does not touch the new counts
        let mut sorted = partitions(&claims(&balancer, 6).await);
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5]);
        balancer.set_partitions(0);
        assert!(balancer.claim().await.is_none());
    }

    #[test]
    fn a_balanced_topics_producer_lingers_for_a_batch_unless_told_otherwise() {
        let config = producer_config(&KafkaConfig::default());
        assert_eq!(crate::kafka::linger(&config), LINGER);
        assert_eq!(config.properties["batch.num.messages"], "5");
        let mut own = KafkaConfig::default();
        for (key, value) in [("queue.buffering.max.ms", "2"), ("batch.num.messages", "9")] {
            own.properties.insert(key.into(), value.into());
        }
        let config = producer_config(&own);
        assert_eq!(
            config.properties, own.properties,
            "the operator's settings win"
        );
        assert_eq!(crate::kafka::linger(&config), Duration::from_millis(2));
    }

    #[tokio::test]
    async fn records_stick_to_one_partition_while_its_batch_lingers() {
        let balancer = PartitionBalancer::new("events.raw", Duration::from_secs(3600));
        balancer.set_partitions(3);
        // A burst fills one partition's batch (the limit), then the next least loaded one.
        let mut held = claims(&balancer, IN_FLIGHT_LIMIT + 2).await;
        let mut expected = vec![0; IN_FLIGHT_LIMIT];
        expected.extend([1, 1]);
        assert_eq!(partitions(&held), expected);
        // Acknowledged records make room on partition 0, but the batch lingering on 1 takes
        // the next records until 1 is at the limit too.
        held.retain(|c| c.partition != 0);
        let more = claims(&balancer, IN_FLIGHT_LIMIT - 2 + 1).await;
        let mut expected = vec![1; IN_FLIGHT_LIMIT - 2];
        expected.push(2); // 0 and 2 tie, and ties rotate on from 1
        assert_eq!(partitions(&more), expected);
        // 2 is sticky now, to its limit; then 0, the least loaded.
        let last = claims(&balancer, IN_FLIGHT_LIMIT).await;
        let mut expected = vec![2; IN_FLIGHT_LIMIT - 1];
        expected.push(0);
        assert_eq!(partitions(&last), expected);
        drop((held, more, last));
    }

    #[tokio::test]
    async fn a_partition_stops_being_sticky_once_its_batch_has_lingered() {
        // Long enough that two claims in a row always fall within it, even on a busy machine.
        let linger = Duration::from_millis(200);
        let balancer = PartitionBalancer::new("events.normalized", linger);
        balancer.set_partitions(2);
        let first = claims(&balancer, 2).await;
        assert_eq!(partitions(&first), [0, 0]);
        // The producer has sent that batch: the next record starts one on the other partition
        // (the least loaded), although partition 0 has room.
        std::thread::sleep(linger + Duration::from_millis(10));
        let next = claims(&balancer, 2).await;
        assert_eq!(partitions(&next), [1, 1]);
        drop((first, next));
        std::thread::sleep(linger + Duration::from_millis(10));
        // Ties rotate: with nothing outstanding, the next batch goes to partition 0 again.
        assert_eq!(balancer.claim().await.unwrap().partition, 0);
    }

    /// `future`, or a failure naming `what` if it takes a second: a lost wake-up fails the
    /// test instead of hanging it.
    async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(1), future)
            .await
            .unwrap_or_else(|_| panic!("{what} did not happen within a second"))
    }

    async fn until_waiting(balancer: &PartitionBalancer, n: usize) {
        within(&format!("{n} waiting"), async {
            while balancer.waiting() < n {
                tokio::task::yield_now().await;
            }
        })
        .await
    }

    fn spawn_claim(
        balancer: &PartitionBalancer,
    ) -> tokio::task::JoinHandle<Option<PartitionClaim>> {
        let balancer = balancer.clone();
        tokio::spawn(async move { balancer.claim().await })
    }

    #[tokio::test]
    async fn a_record_beyond_the_limit_on_every_partition_waits_for_an_acknowledgement() {
        let balancer = PartitionBalancer::new("events.raw", Duration::ZERO);
        balancer.set_partitions(2);
        let mut held = claims(&balancer, 2 * IN_FLIGHT_LIMIT).await;
        let mut per_partition = [0; 2];
        for claim in &held {
            per_partition[claim.partition as usize] += 1;
        }
        assert_eq!(per_partition, [IN_FLIGHT_LIMIT; 2]);

        // Three more records: a first that gives up (its request ended), then two that wait.
        let gone = spawn_claim(&balancer);
        until_waiting(&balancer, 1).await;
        let first = spawn_claim(&balancer);
        until_waiting(&balancer, 2).await;
        let second = spawn_claim(&balancer);
        until_waiting(&balancer, 3).await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        tokio::task::yield_now().await;
        assert!(!first.is_finished() && !second.is_finished());

        // An acknowledgement on partition 1 skips the waiter that has gone and serves the
        // first live one there, and only it.
        let at = held.iter().position(|c| c.partition == 1).unwrap();
        drop(held.remove(at));
        let first_claim = within("the first waiter served", first)
            .await
            .unwrap()
            .expect("claimed");
        assert_eq!(first_claim.partition, 1);
        assert_eq!(balancer.waiting(), 1);
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "served without room");

        // Its acknowledgement serves the second.
        drop(first_claim);
        let second_claim = within("the second waiter served", second)
            .await
            .unwrap()
            .expect("claimed");
        assert_eq!(second_claim.partition, 1);
        assert_eq!(balancer.waiting(), 0);
        assert_eq!(balancer.inner.lock().outstanding, [IN_FLIGHT_LIMIT; 2]);

        // A partition count that becomes unknown sends the waiters by key.
        let by_key = spawn_claim(&balancer);
        until_waiting(&balancer, 1).await;
        balancer.set_partitions(0);
        let handed = within("the waiter served by key", by_key).await.unwrap();
        assert!(handed.is_none(), "handed over without a partition");
        drop((held, second_claim));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_records_wait_beyond_the_limit_and_every_claim_comes_back() {
        let balancer = PartitionBalancer::new("events.raw", Duration::ZERO);
        balancer.set_partitions(2);
        // 30 records hold their claims until released: 10 claim, 20 wait.
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let balancer = balancer.clone();
                let release = release.clone();
                tokio::spawn(async move {
                    let claim = balancer.claim().await.expect("claimed");
                    let most = balancer.inner.lock().outstanding.iter().copied().max();
                    assert!(most <= Some(IN_FLIGHT_LIMIT), "{most:?} outstanding");
                    release.acquire().await.unwrap().forget();
                    drop(claim);
                })
            })
            .collect();
        until_waiting(&balancer, 20).await;
        assert_eq!(balancer.inner.lock().outstanding, [IN_FLIGHT_LIMIT; 2]);
        // Released a few at a time, each acknowledgement lets a waiter in.
        for _ in 0..6 {
            release.add_permits(5);
            tokio::task::yield_now().await;
        }
        for task in tasks {
            within("every record done", task).await.unwrap();
        }
        assert_eq!(balancer.inner.lock().outstanding, [0, 0]);
        assert_eq!(balancer.waiting(), 0);
    }
}
