//! Enricher metrics (`tributary_enricher_*`).

use std::sync::LazyLock;

use prometheus::{register_int_counter_vec, IntCounterVec};

static OUTCOMES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_enricher_events_total",
        "Events by outcome (normalized, dlq) and source",
        &["outcome", "source"]
    )
    .unwrap()
});

static DLQ: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_enricher_dlq_total",
        "Records sent to the DLQ, by reason",
        &["reason"]
    )
    .unwrap()
});

static MESSAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_enricher_messages_total",
        "Raw messages consumed, by partition",
        &["partition"]
    )
    .unwrap()
});

/// Every reason the enricher dead-letters with: the pipeline's own, the split's
/// (`SplitError::reason`) and the normalizers' (`EventFailure::reason`).
pub const DLQ_REASONS: &[&str] = &[
    "empty_message",
    "undecodable_envelope",
    "encode_failed",
    "unknown_source",
    "body_encoding",
    "invalid_body",
    "invalid_currency",
    "invalid_amount",
];

/// Export the counters alerts and panels read at 0 from start-up, so `rate()` has a series
/// before the first dead letter.
pub fn init() {
    for reason in DLQ_REASONS {
        DLQ.with_label_values(&[reason]);
    }
    OUTCOMES.with_label_values(&["dlq", "any"]);
}

pub fn normalized(source: &str, n: usize) {
    OUTCOMES
        .with_label_values(&["normalized", source])
        .inc_by(n as u64);
}

pub fn dead_lettered(reason: &str) {
    DLQ.with_label_values(&[reason]).inc();
    OUTCOMES.with_label_values(&["dlq", "any"]).inc();
}

pub fn consumed(partition: i32) {
    MESSAGES.with_label_values(&[&partition.to_string()]).inc();
}
