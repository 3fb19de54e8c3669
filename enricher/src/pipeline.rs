//! The consume -> normalize -> produce loop. Outputs of a raw message are produced
//! concurrently with later messages, but its offset is committed only once every output is
//! acknowledged and every earlier message of its partition is done too (at-least-once).

use std::collections::HashMap;
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use tributary_schemas::{NormalizedBatch, RawBatch};
use tributary_service::admin::{self, Readiness};
use tributary_service::balance::PartitionBalancer;
use tributary_service::dead_letter::{DeadLetter, DeadLetterWriter};
use tributary_service::kafka::RenewingProducer;
use tributary_service::watchdog::{Health, Watchdog};
use tributary_service::{kafka, Shutdown};

use crate::config::Config;
use crate::metrics;
use tributary_normalize::sources::{self, NormalizeContext};

/// One record to produce for a consumed message.
#[derive(Debug, Clone)]
pub struct Output {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

/// Turn one raw message into the records it produces: one message of normalized events, and
/// a DLQ record for the whole message or for each event that could not be normalized.
pub fn process(
    config: &Config,
    ctx: &NormalizeContext,
    partition: i32,
    offset: i64,
    payload: Option<&[u8]>,
) -> Vec<Output> {
    let topics = &config.kafka.topics;
    let writer =
        DeadLetterWriter::new("enricher", &topics.raw, &topics.dlq, metrics::dead_lettered);
    let dlq = |reason: &str,
               detail: String,
               tenant: Option<String>,
               event_uid: Option<String>,
               original: Vec<u8>| {
        let letter = writer.encode(DeadLetter {
            reason: reason.into(),
            detail,
            partition,
            offset,
            tenant,
            event_uid,
            original,
        });
        Output {
            topic: letter.topic,
            key: letter.key,
            payload: letter.payload,
        }
    };
    // The message's bytes, copied only when the whole message is dead-lettered.
    let whole = || payload.unwrap_or_default().to_vec();
    let Some(bytes) = payload else {
        return vec![dlq(
            "empty_message",
            "message has no value".into(),
            None,
            None,
            whole(),
        )];
    };
    let batch: RawBatch = match tributary_schemas::decode(bytes) {
        Ok(batch) => batch,
        Err(e) => {
            return vec![dlq(
                "undecodable_envelope",
                e.to_string(),
                None,
                None,
                whole(),
            )]
        }
    };
    let outcomes = match sources::split(&batch, ctx) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            return vec![dlq(
                e.reason(),
                e.to_string(),
                Some(batch.tenant.clone()),
                None,
                whole(),
            )];
        }
    };
    let mut outputs = Vec::new();
    let mut events = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok(event) => events.push(event),
            Err(failure) => {
                let original = serde_json::to_vec(&failure.raw).unwrap_or_default();
                outputs.push(dlq(
                    &failure.reason,
                    failure.detail,
                    Some(batch.tenant.clone()),
                    Some(failure.event_uid),
                    original,
                ));
            }
        }
    }
    if events.is_empty() {
        return outputs;
    }
    metrics::normalized(&batch.source, events.len());
    let normalized = NormalizedBatch { events };
    // Compressed whole: ~1 KB of uncompressed JSON per event otherwise paces the broker
    // (bench/PROFILE.md, finding 5).
    match tributary_schemas::encode_compressed(&normalized) {
        Ok(payload) => outputs.push(Output {
            topic: topics.normalized.clone(),
            key: batch.batch_id.clone(),
            payload,
        }),
        Err(e) => outputs.push(dlq(
            "encode_failed",
            e.to_string(),
            Some(batch.tenant.clone()),
            None,
            whole(),
        )),
    }
    outputs
}

/// Produce every output, retrying each until the broker acknowledges it. Returns false only
/// when shutdown interrupted the retries (the message is then not committed). Records for
/// `balancer`'s topic (the normalized one) go where it says (a batch at a time, on the least
/// loaded partition); dead letters by key.
async fn deliver(
    producer: RenewingProducer,
    balancer: PartitionBalancer,
    outputs: Vec<Output>,
    shutdown: Shutdown,
) -> bool {
    let sends = outputs.into_iter().map(|output| {
        let producer = producer.clone();
        let balancer = balancer.clone();
        let shutdown = shutdown.clone();
        async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                // Waits while every partition has its limit outstanding.
                let claim = if output.topic == balancer.topic() {
                    balancer.claim().await
                } else {
                    None
                };
                let mut record = FutureRecord::to(&output.topic)
                    .key(output.key.as_str())
                    .payload(output.payload.as_slice());
                if let Some(claim) = &claim {
                    record = record.partition(claim.partition);
                }
                let client = producer.current();
                match client.send(record, Duration::from_secs(5)).await {
                    Ok(_) => {
                        producer.succeeded();
                        return true;
                    }
                    Err((error, _)) => {
                        // Nothing of it is at the broker while it waits to retry.
                        drop(claim);
                        producer.failed(&client, &error);
                        tracing::warn!(%error, topic = %output.topic, "produce failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {},
                            _ = shutdown.wait() => return false,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .all(|ok| ok)
}

/// Offsets ready to commit, and partitions whose commits must stop (a delivery was abandoned).
#[derive(Default)]
struct Progress {
    next: HashMap<i32, i64>,
    blocked: std::collections::HashSet<i32>,
}

impl Progress {
    fn done(&mut self, partition: i32, offset: i64, delivered: bool) {
        if !delivered {
            self.blocked.insert(partition);
        } else if !self.blocked.contains(&partition) {
            self.next.insert(partition, offset + 1);
        }
    }

    fn commit(&mut self, consumer: &StreamConsumer, topic: &str, mode: CommitMode) {
        if self.next.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in &self.next {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
        }
        match consumer.commit(&list, mode) {
            Ok(()) => self.next.clear(),
            Err(error) => tracing::warn!(%error, "offset commit failed; will retry"),
        }
    }
}

/// Run the enricher until `shutdown`.
pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let readiness = Readiness::default();
    let health = Health::default();
    let admin = admin::spawn_with_health(
        config.enricher.admin_listen,
        readiness.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await?;
    tributary_service::preflight::check_kafka(&config.kafka).await?;
    let consumer: StreamConsumer = kafka::consumer(&config.kafka, &config.enricher.group)?;
    let topic = config.kafka.topics.raw.clone();
    consumer.subscribe(&[topic.as_str()])?;
    let (_, measurements) = tributary_service::lag::spawn_group_monitor(
        &config.kafka,
        &config.enricher.group,
        &topic,
        tributary_service::lag::DEFAULT_INTERVAL,
        shutdown.clone(),
    )?;
    let mut watchdog = Watchdog::new(
        &config.kafka.watchdog,
        &config.enricher.group,
        &topic,
        measurements,
        health,
    );
    metrics::init();
    let producer = kafka::RenewingProducer::new(
        &tributary_service::balance::producer_config(&config.kafka),
        kafka::RENEW_AFTER,
    )?;
    let balancer = PartitionBalancer::spawn(
        &config.kafka.topics.normalized,
        producer.clone(),
        shutdown.clone(),
    );
    let ctx = NormalizeContext::from_config(&config.enricher)?;
    tracing::info!(%admin, group = %config.enricher.group, %topic, "enricher running");
    readiness.set(true);

    let max_in_flight = config.enricher.max_in_flight.max(1);
    let mut in_flight = FuturesOrdered::new();
    let mut progress = Progress::default();
    let mut commit_tick =
        tokio::time::interval(Duration::from_millis(config.enricher.commit_interval_ms));
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            Some((partition, offset, delivered)) = in_flight.next(), if !in_flight.is_empty() => {
                progress.done(partition, offset, delivered);
            }
            _ = commit_tick.tick() => progress.commit(&consumer, &topic, CommitMode::Async),
            // Held back on purpose while the producer cannot keep up: never a stall of its own.
            _ = watchdog.measured() => {
                watchdog.check(&consumer, in_flight.len() >= max_in_flight);
            }
            received = consumer.recv(), if in_flight.len() < max_in_flight => {
                let message: BorrowedMessage<'_> = match received {
                    Ok(m) => m,
                    Err(error) => {
                        tracing::warn!(%error, "consume failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let (partition, offset) = (message.partition(), message.offset());
                metrics::consumed(partition);
                let outputs = process(&config, &ctx, partition, offset, message.payload());
                let delivery =
                    deliver(producer.clone(), balancer.clone(), outputs, shutdown.clone());
                in_flight.push_back(async move { (partition, offset, delivery.await) });
            }
        }
    }
    tracing::info!(
        pending = in_flight.len(),
        "enricher stopping; finishing in-flight messages"
    );
    let drain = async {
        while let Some((partition, offset, delivered)) = in_flight.next().await {
            progress.done(partition, offset, delivered);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
    progress.commit(&consumer, &topic, CommitMode::Sync);
    consumer.unsubscribe();
    Ok(())
}
