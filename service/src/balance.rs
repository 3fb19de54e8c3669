//! Which partition a record goes to: the one of its topic with the fewest records awaiting the
//! broker's acknowledgement.
//!
//! Why not the key's hash. An idempotent librdkafka producer (2.12.1, `rdkafka_broker.c`,
//! `rd_kafka_toppar_producer_serve`) sends nothing more to a partition that has five messages
//! in flight, but it has already set its broker thread to wake "now" for the waiting batch, so
//! that thread polls without sleeping until an answer comes back. Records hashed by key land
//! unevenly: at 20k events/s (200 records a second over 4 partitions, answers in tens of
//! milliseconds) some partition often had five in flight, and the gateway's and the enricher's
//! broker threads each burned 0.05–0.08 of a core that way (bench/PROFILE.md, "the producers'
//! busy wait"). Spreading records by what each partition has outstanding keeps every partition
//! below five until the topic has about five per partition in flight.
//!
//! Keys stay on the records (batch ids; nothing relies on a batch's partition: every record
//! stands alone and rows are deduplicated by `event_uid`). While the partition count is not
//! known (metadata not fetched yet, or the topic missing) records go by key as before.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kafka::RenewingProducer;
use crate::Shutdown;

/// How often the topic's partition count is read again (partitions can be added).
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Spreads the records of one topic over its partitions. Clones share the counts.
#[derive(Clone)]
pub struct PartitionBalancer {
    inner: Arc<Inner>,
}

struct Inner {
    topic: String,
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
}

/// A record's place on a partition, held until its send ends (dropping it releases it).
pub struct PartitionClaim {
    inner: Arc<Inner>,
    generation: u64,
    /// The partition to send to.
    pub partition: i32,
}

impl PartitionBalancer {
    /// A balancer for `topic` that knows no partitions yet ([`Self::claim`] gives `None`).
    pub fn new(topic: &str) -> Self {
        PartitionBalancer {
            inner: Arc::new(Inner {
                topic: topic.to_string(),
                state: Mutex::default(),
            }),
        }
    }

    /// A balancer for `topic` whose partition count is kept current by a task of its own
    /// ([`Self::keep_partitions_current`]) until `shutdown`. Needs a Tokio runtime.
    pub fn spawn(topic: &str, producer: RenewingProducer, shutdown: Shutdown) -> Self {
        let balancer = Self::new(topic);
        tokio::spawn(balancer.clone().keep_partitions_current(producer, shutdown));
        balancer
    }

    /// The topic whose records it spreads.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The topic has `count` partitions (0: unknown). A change starts the counts afresh.
    pub fn set_partitions(&self, count: usize) {
        let mut state = self.inner.lock();
        if state.outstanding.len() != count {
            state.generation += 1;
            state.outstanding = vec![0; count];
            state.next = 0;
        }
    }

    /// The partition with the fewest outstanding records, claimed for one record; `None`
    /// while the partition count is unknown (send by key then).
    pub fn claim(&self) -> Option<PartitionClaim> {
        let mut state = self.inner.lock();
        let count = state.outstanding.len();
        if count == 0 {
            return None;
        }
        let start = state.next % count;
        let partition = (0..count)
            .map(|step| (start + step) % count)
            .min_by_key(|&p| state.outstanding[p])
            .expect("count > 0");
        state.outstanding[partition] += 1;
        state.next = partition + 1;
        Some(PartitionClaim {
            inner: self.inner.clone(),
            generation: state.generation,
            partition: partition as i32,
        })
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
                use rdkafka::producer::Producer;
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
}

impl Drop for PartitionClaim {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if state.generation == self.generation {
            if let Some(n) = state.outstanding.get_mut(self.partition as usize) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_go_to_the_partition_with_the_fewest_outstanding() {
        let balancer = PartitionBalancer::new("events.raw");
        assert!(balancer.claim().is_none(), "count unknown: by key");
        balancer.set_partitions(4);
        let claims: Vec<PartitionClaim> = (0..8).map(|_| balancer.claim().unwrap()).collect();
        let mut per_partition = [0; 4];
        for claim in &claims {
            per_partition[claim.partition as usize] += 1;
        }
        assert_eq!(per_partition, [2, 2, 2, 2]);
        // Two acknowledged on partition 2: the next two records go there.
        let mut claims = claims;
        claims.retain(|c| c.partition != 2);
        assert_eq!(balancer.claim().unwrap().partition, 2);
        let held = balancer.claim().unwrap();
        assert_eq!(held.partition, 2);
        drop(held);
        assert_eq!(balancer.claim().unwrap().partition, 2);
    }

    #[test]
    fn ties_rotate_and_a_new_partition_count_starts_afresh() {
        let balancer = PartitionBalancer::new("events.normalized");
        balancer.set_partitions(3);
        // One record at a time, each acknowledged before the next: still spread.
        let order: Vec<i32> = (0..6)
            .map(|_| balancer.claim().unwrap().partition)
            .collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        let old = balancer.claim().unwrap();
        balancer.set_partitions(6);
        drop(old); // made under 3 partitions: does not touch the new counts
        let claims: Vec<i32> = (0..6)
            .map(|_| balancer.claim().unwrap().partition)
            .collect();
        let mut sorted = claims.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5]);
        balancer.set_partitions(0);
        assert!(balancer.claim().is_none());
    }
}
