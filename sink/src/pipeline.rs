//! Consume -> buffer -> insert -> commit. Offsets are committed only after ClickHouse accepted
//! every row read up to them. While ClickHouse is down the consumer is paused (still polled,
//! so it stays in its group) and the insert is retried with capped exponential backoff.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tributary_schemas::{DlqRecord, NormalizedBatch};
use tributary_service::admin::{self, Readiness};
use tributary_service::{kafka, Shutdown};

use crate::config::Config;
use crate::metrics;
use crate::row::EventRow;

/// Rows read but not yet inserted, and the offsets they cover.
#[derive(Default)]
struct Buffer {
    rows: Vec<EventRow>,
    bytes: usize,
    next_offsets: HashMap<i32, i64>,
    oldest: Option<Instant>,
    /// Gateway receive time of each row, for the freshness histogram.
    received_at_ms: Vec<i64>,
}

impl Buffer {
    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.next_offsets.is_empty()
    }
}

/// Where rows go: one ClickHouse table.
pub struct Store {
    client: clickhouse::Client,
    table: String,
}

/// A failed insert: worth retrying as is, or caused by the rows themselves.
#[derive(Debug, thiserror::Error)]
enum InsertError {
    #[error("transient: {0}")]
    Transient(clickhouse::error::Error),
    #[error("rejected: {0}")]
    Rejected(clickhouse::error::Error),
}

/// ClickHouse error codes that mean "try again later", not "these rows are bad":
/// too many parts, memory limit, too many simultaneous queries, timeouts, readonly replica.
const TRANSIENT_CODES: &[&str] = &[
    "Code: 252",
    "Code: 241",
    "Code: 202",
    "Code: 159",
    "Code: 209",
    "Code: 210",
    "Code: 242",
    "Code: 319",
    "Code: 999",
    "Code: 425",
    "Code: 164",
];

impl Store {
    pub fn new(client: clickhouse::Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    async fn insert(&self, rows: &[EventRow]) -> Result<(), InsertError> {
        let classify = |e: clickhouse::error::Error| match &e {
            // Code 252 also means "rows of too many months in one insert": smaller batches
            // succeed, so bisect instead of retrying the same batch forever.
            clickhouse::error::Error::BadResponse(text)
                if text.contains("Too many partitions for single INSERT block") =>
            {
                InsertError::Rejected(e)
            }
            clickhouse::error::Error::BadResponse(text)
                if !TRANSIENT_CODES.iter().any(|c| text.contains(c)) =>
            {
                InsertError::Rejected(e)
            }
            _ => InsertError::Transient(e),
        };
        let mut insert = self
            .client
            .insert::<EventRow>(&self.table)
            .await
            .map_err(classify)?;
        for row in rows {
            insert.write(row).await.map_err(classify)?;
        }
        insert.end().await.map_err(classify)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Sink {
    config: Config,
    consumer: StreamConsumer,
    producer: FutureProducer,
    store: Store,
    shutdown: Shutdown,
    buffer: Buffer,
    /// Not ready while ClickHouse refuses inserts.
    readiness: Readiness,
}

impl Sink {
    /// Add one consumed message to the buffer; undecodable messages go to the DLQ.
    async fn take(&mut self, partition: i32, offset: i64, payload: Option<&[u8]>) {
        let bytes = payload.unwrap_or_default();
        match tributary_schemas::decode::<NormalizedBatch>(bytes) {
            Ok(batch) => {
                for event in batch.events {
                    let uid = event.event_uid.clone();
                    let tenant = event.tenant.clone();
                    match EventRow::from_event(event) {
                        Ok(row) => {
                            self.buffer.bytes += row.approx_bytes();
                            self.buffer.received_at_ms.push(row.received_at_ms);
                            self.buffer.rows.push(row);
                        }
                        Err(e) => {
                            let detail = e.to_string();
                            self.dead_letter(
                                "unstorable_event",
                                detail,
                                partition,
                                offset,
                                Some(tenant),
                                Some(uid),
                                bytes.to_vec(),
                            )
                            .await
                        }
                    }
                }
            }
            Err(e) => {
                self.dead_letter(
                    "undecodable_message",
                    e.to_string(),
                    partition,
                    offset,
                    None,
                    None,
                    bytes.to_vec(),
                )
                .await
            }
        }
        self.buffer.next_offsets.insert(partition, offset + 1);
        self.buffer.oldest.get_or_insert_with(Instant::now);
    }

    #[allow(clippy::too_many_arguments)]
    async fn dead_letter(
        &self,
        reason: &str,
        detail: String,
        partition: i32,
        offset: i64,
        tenant: Option<String>,
        event_uid: Option<String>,
        original: Vec<u8>,
    ) {
        metrics::dead_lettered(reason);
        tracing::warn!(reason, %detail, partition, offset, "dead-lettering");
        let topics = &self.config.kafka.topics;
        let record = DlqRecord {
            stage: "sink".into(),
            reason: reason.into(),
            detail,
            source_topic: topics.normalized.clone(),
            source_partition: partition,
            source_offset: offset,
            tenant,
            event_uid,
            failed_at: now_ms(),
            original,
        };
        let payload = tributary_schemas::encode(&record).expect("DLQ records always encode");
        let key = format!("{}/{partition}/{offset}", topics.normalized);
        let mut backoff = Duration::from_millis(100);
        loop {
            let record = FutureRecord::to(&topics.dlq).key(&key).payload(&payload);
            match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => return,
                Err((error, _)) => {
                    tracing::warn!(%error, "DLQ produce failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn full(&self) -> bool {
        let batch = &self.config.sink.batch;
        self.buffer.rows.len() >= batch.max_rows || self.buffer.bytes >= batch.max_bytes
    }

    fn deadline(&self) -> Option<Instant> {
        self.buffer
            .oldest
            .map(|t| t + Duration::from_millis(self.config.sink.batch.max_wait_ms))
    }

    /// Insert the buffer (retrying until ClickHouse takes it or shutdown), then commit the
    /// offsets it covers. Messages consumed while an insert is retried start the next buffer:
    /// their offsets are never committed with this one. Returns false when shutdown
    /// interrupted it: nothing is committed then, and the rows are read again after restart.
    async fn flush(&mut self) -> bool {
        if self.buffer.is_empty() {
            return true;
        }
        let batch = std::mem::take(&mut self.buffer);
        let started = Instant::now();
        let rows = batch.rows.len();
        if !self.insert_all(batch.rows).await {
            return false;
        }
        metrics::inserted(rows, batch.bytes, started.elapsed().as_secs_f64());
        let committed_at = now_ms();
        for received_at in batch.received_at_ms {
            metrics::freshness((committed_at - received_at).max(0) as f64 / 1000.0);
        }
        self.commit(&batch.next_offsets);
        true
    }

    /// Insert `rows`; rows ClickHouse rejects are isolated by bisection and dead-lettered.
    async fn insert_all(&mut self, rows: Vec<EventRow>) -> bool {
        let mut queue = vec![rows];
        while let Some(rows) = queue.pop() {
            if rows.is_empty() {
                continue;
            }
            match self.insert_with_retry(&rows).await {
                Some(Ok(())) => {}
                Some(Err(error)) if rows.len() == 1 => {
                    let row = &rows[0];
                    let original = serde_json::to_vec(&serde_json::json!({
                        "event_uid": row.event_uid, "tenant": row.tenant, "source": row.source,
                        "raw": row.raw,
                    }))
                    .unwrap_or_default();
                    self.dead_letter(
                        "clickhouse_rejected",
                        error.to_string(),
                        -1,
                        -1,
                        Some(row.tenant.clone()),
                        Some(row.event_uid.clone()),
                        original,
                    )
                    .await;
                }
                Some(Err(_)) => {
                    let mut rows = rows;
                    let tail = rows.split_off(rows.len() / 2);
                    queue.push(tail);
                    queue.push(rows);
                }
                None => return false,
            }
        }
        true
    }

    /// One insert, retried while the failure is transient. `None` when shutdown interrupted.
    async fn insert_with_retry(&mut self, rows: &[EventRow]) -> Option<Result<(), InsertError>> {
        let mut backoff = Duration::from_millis(200);
        let max = Duration::from_millis(self.config.sink.max_backoff_ms);
        let mut paused = false;
        let result = loop {
            match self.store.insert(rows).await {
                Ok(()) => {
                    self.readiness.set(true);
                    break Some(Ok(()));
                }
                Err(InsertError::Rejected(e)) => break Some(Err(InsertError::Rejected(e))),
                Err(InsertError::Transient(error)) => {
                    metrics::retried();
                    self.readiness.set(false);
                    tracing::warn!(%error, retry_in = ?backoff, rows = rows.len(), "insert failed; retrying");
                    if !paused {
                        if let Ok(assignment) = self.consumer.assignment() {
                            let _ = self.consumer.pause(&assignment);
                        }
                        paused = true;
                    }
                    // Keep polling while paused so the group does not evict this member.
                    let sleep = tokio::time::sleep(backoff);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            _ = &mut sleep => break,
                            _ = self.shutdown.wait() => break,
                            received = self.consumer.recv() => {
                                if let Ok(m) = received {
                                    let (p, o) = (m.partition(), m.offset());
                                    let payload = m.payload().map(<[u8]>::to_vec);
                                    drop(m);
                                    self.take(p, o, payload.as_deref()).await;
                                }
                            }
                        }
                    }
                    if self.shutdown.is_triggered() {
                        break None;
                    }
                    backoff = (backoff * 2).min(max);
                }
            }
        };
        if paused {
            if let Ok(assignment) = self.consumer.assignment() {
                let _ = self.consumer.resume(&assignment);
            }
        }
        result
    }

    fn commit(&self, next_offsets: &HashMap<i32, i64>) {
        if next_offsets.is_empty() {
            return;
        }
        let topic = &self.config.kafka.topics.normalized;
        let mut list = TopicPartitionList::new();
        for (partition, offset) in next_offsets {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
        }
        // A partition revoked meanwhile may refuse the commit: its new owner re-reads those
        // rows, and event_uid collapses them.
        if let Err(error) = self.consumer.commit(&list, CommitMode::Sync) {
            tracing::warn!(%error, "offset commit failed after insert; rows may be re-read");
        }
    }
}

/// Run the sink until `shutdown`.
pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let readiness = Readiness::default();
    let admin = admin::spawn(
        config.sink.admin_listen,
        readiness.clone(),
        shutdown.clone(),
    )
    .await?;
    let applied = crate::migrate::migrate(&config.clickhouse).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let consumer: StreamConsumer = kafka::consumer(&config.kafka, &config.sink.group)?;
    consumer.subscribe(&[config.kafka.topics.normalized.as_str()])?;
    tributary_service::lag::spawn_lag_reporter(
        &config.kafka,
        &config.sink.group,
        &config.kafka.topics.normalized,
        tributary_service::lag::DEFAULT_INTERVAL,
        shutdown.clone(),
    )?;
    let producer = kafka::producer(&config.kafka)?;
    let store = Store::new(crate::clickhouse_client(&config.clickhouse), "events");
    tracing::info!(%admin, group = %config.sink.group, "sink running");
    readiness.set(true);
    let mut sink = Sink {
        config,
        consumer,
        producer,
        store,
        shutdown: shutdown.clone(),
        buffer: Buffer::default(),
        readiness,
    };
    loop {
        let deadline = sink.deadline();
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = async { tokio::time::sleep_until(deadline.unwrap().into()).await }, if deadline.is_some() => {
                sink.flush().await;
            }
            received = sink.consumer.recv() => {
                let message = match received {
                    Ok(m) => m,
                    Err(error) => {
                        tracing::warn!(%error, "consume failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let (partition, offset) = (message.partition(), message.offset());
                let payload = message.payload().map(<[u8]>::to_vec);
                drop(message);
                sink.take(partition, offset, payload.as_deref()).await;
                if sink.full() {
                    sink.flush().await;
                }
            }
        }
    }
    tracing::info!(
        rows = sink.buffer.rows.len(),
        "sink stopping; flushing the current batch"
    );
    let _ = tokio::time::timeout(Duration::from_secs(15), sink.flush()).await;
    sink.consumer.unsubscribe();
    Ok(())
}
