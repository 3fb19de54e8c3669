//! Sink metrics (`tributary_sink_*`).

use std::sync::LazyLock;

use prometheus::{
    register_histogram, register_int_counter, register_int_counter_vec, Histogram, IntCounter,
    IntCounterVec,
};

static ROWS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "tributary_sink_rows_inserted_total",
        "Rows ClickHouse accepted"
    )
    .unwrap()
});

static BATCH_ROWS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "tributary_sink_batch_rows",
        "Rows per insert",
        prometheus::exponential_buckets(1.0, 4.0, 10).unwrap()
    )
    .unwrap()
});

static BATCH_BYTES: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "tributary_sink_batch_bytes",
        "Approximate bytes per insert",
        prometheus::exponential_buckets(1024.0, 4.0, 10).unwrap()
    )
    .unwrap()
});

static INSERT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "tributary_sink_insert_duration_seconds",
        "Time of one successful insert",
        vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    )
    .unwrap()
});

static RETRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "tributary_sink_insert_retries_total",
        "Inserts retried after a failure"
    )
    .unwrap()
});

static ERASED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "tributary_sink_erased_rows_dropped_total",
        "Rows of erased people dropped before an insert attempt (copies Kafka redelivered)"
    )
    .unwrap()
});

/// `rows` of erased people were dropped before an insert attempt.
pub fn erased_dropped(rows: usize) {
    ERASED.inc_by(rows as u64);
}

static DLQ: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_sink_dlq_total",
        "Records the sink sent to the DLQ, by reason",
        &["reason"]
    )
    .unwrap()
});

static FRESHNESS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "tributary_sink_freshness_seconds",
        "Ingest-to-queryable time: gateway receipt to ClickHouse commit, per row",
        vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]
    )
    .unwrap()
});

/// Every reason the sink dead-letters with.
pub const DLQ_REASONS: &[&str] = &[
    "clickhouse_rejected",
    "unstorable_event",
    "undecodable_message",
];

/// Export the counters alerts and panels read at 0 from start-up, so `rate()` has a series
/// before the first event.
pub fn init() {
    for reason in DLQ_REASONS {
        DLQ.with_label_values(&[reason]);
    }
    LazyLock::force(&RETRIES);
    LazyLock::force(&ROWS);
    LazyLock::force(&ERASED);
}

pub fn inserted(rows: usize, bytes: usize, seconds: f64) {
    ROWS.inc_by(rows as u64);
    BATCH_ROWS.observe(rows as f64);
    BATCH_BYTES.observe(bytes as f64);
    INSERT_SECONDS.observe(seconds);
}

pub fn retried() {
    RETRIES.inc();
}

pub fn dead_lettered(reason: &str) {
    DLQ.with_label_values(&[reason]).inc();
}

pub fn freshness(seconds: f64) {
    FRESHNESS.observe(seconds);
}
