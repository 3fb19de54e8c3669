//! Consume -> buffer -> insert -> commit. Offsets are committed only after ClickHouse accepted
//! every row read up to them.
//!
//! Consuming and inserting overlap: a full buffer is handed to the inserter task, and the
//! consumer fills the next one meanwhile. At most one buffer is in flight; when the next one is
//! full before the insert ends (ClickHouse slow or down, the insert retried with capped
//! exponential backoff), the consumer is paused (still polled, so it stays in its group).
//! Offsets are committed in the order the buffers were read, each after its own insert.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tributary_schemas::NormalizedBatch;
use tributary_service::admin::{self, Readiness};
use tributary_service::dead_letter::{DeadLetter, DeadLetterWriter};
use tributary_service::kafka::RenewingProducer;
use tributary_service::watchdog::{Health, Watchdog};
use tributary_service::{kafka, Shutdown};

use crate::config::Config;
use crate::erasure::Erasures;
use crate::metrics;
use crate::row::{EventRow, Unstorable};
use crate::store::{InsertError, Store};

/// Rows read but not yet inserted, and the offsets they cover.
#[derive(Default)]
struct Buffer {
    rows: Vec<EventRow>,
    bytes: usize,
    next_offsets: HashMap<i32, i64>,
    oldest: Option<Instant>,
}

impl Buffer {
    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.next_offsets.is_empty()
    }
}

/// Where dead letters go: the one writer of `service/`, with this stage's producer.
#[derive(Clone)]
struct DeadLetters {
    writer: DeadLetterWriter,
    producer: RenewingProducer,
}

impl DeadLetters {
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        reason: &str,
        detail: String,
        partition: i32,
        offset: i64,
        tenant: Option<String>,
        event_uid: Option<String>,
        original: Vec<u8>,
    ) {
        let letter = DeadLetter {
            reason: reason.into(),
            detail,
            partition,
            offset,
            tenant,
            event_uid,
            original,
        };
        self.writer.send(&self.producer, letter).await
    }
}

/// What the inserter says of each buffer handed to it.
struct Inserted {
    next_offsets: HashMap<i32, i64>,
    /// False when shutdown interrupted the insert: nothing of it may be committed, nor
    /// anything read after it.
    stored: bool,
    /// The buffer's row vector, emptied, for a later buffer to fill: a new one of the same
    /// size every insert faulted in fresh pages (`jemalloc_options!` in service/).
    spare_rows: Vec<EventRow>,
}

/// Keep whichever of `spare` and `rows` has room for more rows, emptied.
fn keep_largest(spare: &mut Vec<EventRow>, mut rows: Vec<EventRow>) {
    if rows.capacity() > spare.capacity() {
        rows.clear();
        *spare = rows;
    }
}

/// The task that inserts buffers, one at a time, in the order they were read.
struct Inserter {
    store: Store,
    dead_letters: DeadLetters,
    readiness: Readiness,
    shutdown: Shutdown,
    max_backoff: Duration,
    /// Rows of erased people are dropped before every insert attempt.
    erasures: Erasures,
}

impl Inserter {
    async fn run(self, mut batches: mpsc::Receiver<Buffer>, reports: mpsc::Sender<Inserted>) {
        while let Some(batch) = batches.recv().await {
            let (stored, spare_rows) = self.store_batch(batch.rows, batch.bytes).await;
            let report = Inserted {
                next_offsets: batch.next_offsets,
                stored,
                spare_rows,
            };
            if reports.send(report).await.is_err() {
                return;
            }
        }
    }

    /// Insert one buffer's rows (retrying until ClickHouse takes them or shutdown). Returns
    /// false when shutdown interrupted it, and the emptied row vector for reuse.
    async fn store_batch(&self, rows: Vec<EventRow>, bytes: usize) -> (bool, Vec<EventRow>) {
        if rows.is_empty() {
            return (true, rows);
        }
        // Gateway receive time of each row, for the freshness histogram.
        let received_at: Vec<i64> = rows.iter().map(|row| row.received_at_ms).collect();
        let started = Instant::now();
        let count = rows.len();
        let (stored, spare_rows) = self.insert_all(rows).await;
        if !stored {
            return (false, spare_rows);
        }
        metrics::inserted(count, bytes, started.elapsed().as_secs_f64());
        let stored_at = tributary_service::now_ms();
        for received_at in received_at {
            metrics::freshness((stored_at - received_at).max(0) as f64 / 1000.0);
        }
        (true, spare_rows)
    }

    /// Insert `rows`; rows ClickHouse rejects are isolated by bisection and dead-lettered.
    /// Returns false when shutdown interrupted it, and the largest row vector it emptied.
    async fn insert_all(&self, rows: Vec<EventRow>) -> (bool, Vec<EventRow>) {
        let mut spare = Vec::new();
        let mut queue = vec![rows];
        while let Some(rows) = queue.pop() {
            if rows.is_empty() {
                keep_largest(&mut spare, rows);
                continue;
            }
            match self.insert_with_retry(&rows).await {
                Some(Ok(())) => keep_largest(&mut spare, rows),
                Some(Err(error)) if rows.len() == 1 => {
                    let row = &rows[0];
                    let original = serde_json::to_vec(&serde_json::json!({
                        "event_uid": row.event_uid, "tenant": row.tenant, "source": row.source,
                        "raw": row.raw,
                    }))
                    .unwrap_or_default();
                    self.dead_letters
                        .send(
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
                None => return (false, spare),
            }
        }
        (true, spare)
    }

    /// One insert, retried while the failure is transient. `None` when shutdown interrupted.
    async fn insert_with_retry(&self, rows: &[EventRow]) -> Option<Result<(), InsertError>> {
        let mut backoff = Duration::from_millis(200);
        loop {
            let rows = self.erasures.retain(rows);
            if rows.is_empty() {
                return Some(Ok(()));
            }
            match self.store.insert(&rows).await {
                Ok(()) => {
                    self.readiness.set(true);
                    return Some(Ok(()));
                }
                Err(InsertError::Rejected(e)) => return Some(Err(InsertError::Rejected(e))),
                Err(InsertError::Transient(error)) => {
                    metrics::retried();
                    self.readiness.set(false);
                    tracing::warn!(%error, retry_in = ?backoff, rows = rows.len(), "insert failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.shutdown.wait() => {}
                    }
                    if self.shutdown.is_triggered() {
                        return None;
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }
}

/// The consuming side: decodes messages into the buffer, hands full buffers to the inserter,
/// and commits what it reports stored.
struct Sink {
    config: Config,
    consumer: StreamConsumer,
    dead_letters: DeadLetters,
    buffer: Buffer,
    batches: mpsc::Sender<Buffer>,
    reports: mpsc::Receiver<Inserted>,
    /// A buffer is with the inserter and not yet reported.
    in_flight: bool,
    /// Consumption paused because the next buffer filled before the insert ended.
    paused: bool,
    /// An insert was interrupted: commit nothing more, so its rows are read again.
    interrupted: bool,
    /// An inserted buffer's emptied row vector, for the next buffer.
    spare_rows: Vec<EventRow>,
}

impl Sink {
    /// Add one consumed message to the buffer; undecodable messages go to the DLQ.
    async fn take(&mut self, partition: i32, offset: i64, payload: Option<&[u8]>) {
        let bytes = payload.unwrap_or_default();
        match tributary_schemas::decode::<NormalizedBatch>(bytes) {
            Ok(batch) => {
                for event in batch.events {
                    match EventRow::from_event(event) {
                        Ok(row) => {
                            self.buffer.bytes += row.approx_bytes();
                            self.buffer.rows.push(row);
                        }
                        Err(unstorable) => {
                            let Unstorable { error, event } = *unstorable;
                            self.dead_letters
                                .send(
                                    "unstorable_event",
                                    error.to_string(),
                                    partition,
                                    offset,
                                    Some(event.tenant),
                                    Some(event.event_uid),
                                    bytes.to_vec(),
                                )
                                .await
                        }
                    }
                }
            }
            Err(e) => {
                self.dead_letters
                    .send(
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

    fn full(&self) -> bool {
        let batch = &self.config.sink.batch;
        self.buffer.rows.len() >= batch.max_rows || self.buffer.bytes >= batch.max_bytes
    }

    /// When the buffer must be handed off, if it has anything and the inserter is free.
    fn deadline(&self) -> Option<Instant> {
        if self.in_flight {
            return None;
        }
        self.buffer
            .oldest
            .map(|t| t + Duration::from_millis(self.config.sink.batch.max_wait_ms))
    }

    /// Give the buffer to the inserter (which is free) and start a new one.
    async fn hand_off(&mut self) -> anyhow::Result<()> {
        if self.buffer.is_empty() || self.in_flight || self.interrupted {
            return Ok(());
        }
        // The next buffer starts with room for as many rows as this one held: growing a
        // vector of ~1.7 KB rows by doubling copies it whole at each step (copies and page
        // faults in perf of the sink under a backlog, bench phase (b)). It reuses the vector
        // of the last inserted buffer, whose pages are already mapped.
        let wanted = self.buffer.rows.len();
        let mut rows = std::mem::take(&mut self.spare_rows);
        if rows.capacity() < wanted {
            rows = Vec::with_capacity(wanted);
        }
        let batch = std::mem::replace(
            &mut self.buffer,
            Buffer {
                rows,
                ..Default::default()
            },
        );
        if self.batches.send(batch).await.is_err() {
            self.interrupted = true;
            anyhow::bail!("the inserter task ended");
        }
        self.in_flight = true;
        Ok(())
    }

    /// The buffer is full and the previous one is still being inserted: stop reading.
    fn pause(&mut self) {
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assignment);
        }
        self.paused = true;
    }

    /// The inserter finished a buffer: commit its offsets, resume reading, hand off the next.
    async fn finished(&mut self, report: Inserted) -> anyhow::Result<()> {
        self.in_flight = false;
        self.spare_rows = report.spare_rows;
        if !report.stored {
            self.interrupted = true;
        }
        if !self.interrupted {
            self.commit(&report.next_offsets);
        }
        if self.paused {
            if let Ok(assignment) = self.consumer.assignment() {
                let _ = self.consumer.resume(&assignment);
            }
            self.paused = false;
        }
        if self.full() {
            self.hand_off().await?;
        }
        Ok(())
    }

    /// Wait for the buffer in flight, if any.
    async fn await_in_flight(&mut self) -> anyhow::Result<()> {
        if self.in_flight {
            match self.reports.recv().await {
                Some(report) => self.finished(report).await?,
                None => anyhow::bail!("the inserter task ended"),
            }
        }
        Ok(())
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
    let health = Health::default();
    let admin = admin::spawn_with_health(
        config.sink.admin_listen,
        readiness.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await?;
    tributary_service::preflight::check_kafka(&config.kafka).await?;
    tributary_service::preflight::clickhouse(
        &config.clickhouse,
        tributary_service::preflight::PATIENCE,
    )
    .await?;
    let applied = crate::migrate::migrate(&config.clickhouse).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let retained = crate::retention::apply(
        &crate::clickhouse_client(&config.clickhouse),
        &config.sink.retention,
    )
    .await?;
    if !retained.is_empty() {
        tracing::info!(tables = ?retained, retention = ?config.sink.retention, "retention applied");
    }
    let erasures = crate::erasure::start(&config).await?;
    let consumer: StreamConsumer = kafka::consumer(&config.kafka, &config.sink.group)?;
    consumer.subscribe(&[config.kafka.topics.normalized.as_str()])?;
    let (_, measurements) = tributary_service::lag::spawn_group_monitor(
        &config.kafka,
        &config.sink.group,
        &config.kafka.topics.normalized,
        tributary_service::lag::DEFAULT_INTERVAL,
        shutdown.clone(),
    )?;
    let mut watchdog = Watchdog::new(
        &config.kafka.watchdog,
        &config.sink.group,
        &config.kafka.topics.normalized,
        measurements,
        health,
    );
    metrics::init();
    let dead_letters = DeadLetters {
        writer: DeadLetterWriter::new(
            "sink",
            &config.kafka.topics.normalized,
            &config.kafka.topics.dlq,
            metrics::dead_lettered,
        ),
        producer: kafka::RenewingProducer::new(&config.kafka, kafka::RENEW_AFTER)?,
    };
    let (batches, batches_rx) = mpsc::channel(1);
    let (reports_tx, reports) = mpsc::channel(1);
    let inserter = Inserter {
        store: Store::new(crate::clickhouse_client(&config.clickhouse), "events"),
        dead_letters: dead_letters.clone(),
        readiness: readiness.clone(),
        shutdown: shutdown.clone(),
        max_backoff: Duration::from_millis(config.sink.max_backoff_ms),
        erasures,
    };
    let inserter = tokio::spawn(inserter.run(batches_rx, reports_tx));
    tracing::info!(%admin, group = %config.sink.group, "sink running");
    readiness.set(true);
    let mut sink = Sink {
        config,
        consumer,
        dead_letters,
        buffer: Buffer::default(),
        batches,
        reports,
        in_flight: false,
        paused: false,
        interrupted: false,
        spare_rows: Vec::new(),
    };
    loop {
        let deadline = sink.deadline();
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            report = sink.reports.recv(), if sink.in_flight => match report {
                Some(report) => sink.finished(report).await?,
                None => anyhow::bail!("the inserter task ended"),
            },
            _ = async { tokio::time::sleep_until(deadline.unwrap().into()).await }, if deadline.is_some() => {
                sink.hand_off().await?;
            }
            // Held back on purpose while an insert runs or retries (ClickHouse slow or down).
            _ = watchdog.measured() => {
                let held = sink.in_flight || sink.paused || !readiness.is_ready();
                watchdog.check(&sink.consumer, held);
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
                    if sink.in_flight {
                        sink.pause();
                    } else {
                        sink.hand_off().await?;
                    }
                }
            }
        }
    }
    tracing::info!(
        rows = sink.buffer.rows.len(),
        in_flight = sink.in_flight,
        "sink stopping; finishing the insert in flight and the current batch"
    );
    // Once shutdown is triggered the inserter makes one more attempt per buffer and gives up
    // on retries; a buffer it gives up on stops every later commit.
    let drain = async {
        sink.await_in_flight().await?;
        sink.hand_off().await?;
        sink.await_in_flight().await
    };
    let drained = tokio::time::timeout(Duration::from_secs(15), drain).await;
    sink.consumer.unsubscribe();
    // An insert still running after the timeout is abandoned uncommitted: read again later.
    inserter.abort();
    match drained {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("shutdown drain timed out; uncommitted rows will be read again");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_emptied_row_vector_is_kept_for_the_next_buffer() {
        let rows = |n: usize| -> Vec<EventRow> {
            (0..n)
                .map(|i| {
                    EventRow::from_event(tributary_schemas::NormalizedEvent {
                        event_uid: i.to_string(),
                        ..Default::default()
                    })
                    .unwrap()
                })
                .collect()
        };
        let mut spare = Vec::new();
        keep_largest(&mut spare, rows(8));
        assert!(spare.is_empty());
        assert!(spare.capacity() >= 8);
        // A bisected half is smaller: the whole buffer's vector stays.
        keep_largest(&mut spare, rows(3));
        assert!(spare.capacity() >= 8);
        keep_largest(&mut spare, rows(20));
        assert!(spare.is_empty() && spare.capacity() >= 20);
    }
}
