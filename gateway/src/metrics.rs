//! Gateway metrics (`tributary_gateway_*`), registered in the default registry that the admin
//! server exposes.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{register_histogram_vec, register_int_counter_vec, HistogramVec, IntCounterVec};

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_gateway_requests_total",
        "HTTP requests served, by endpoint family and status code",
        &["family", "status"]
    )
    .unwrap()
});

static REQUEST_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "tributary_gateway_request_duration_seconds",
        "Time to answer an HTTP request, by endpoint family",
        &["family"],
        vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    )
    .unwrap()
});

static EVENTS_ACCEPTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_gateway_events_accepted_total",
        "Events in batches the broker acknowledged, by source",
        &["source"]
    )
    .unwrap()
});

static REQUESTS_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_gateway_requests_rejected_total",
        "Requests refused by validation or authentication, by family and status",
        &["family", "status"]
    )
    .unwrap()
});

static BODY_BYTES: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "tributary_gateway_request_body_bytes",
        "Size of accepted request bodies (after Content-Encoding), by source",
        &["source"],
        prometheus::exponential_buckets(128.0, 4.0, 9).unwrap()
    )
    .unwrap()
});

static PRODUCE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "tributary_gateway_produce_duration_seconds",
        "Time from handing a batch to the producer to the broker's acknowledgement",
        &["source"],
        vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    )
    .unwrap()
});

static PUBLISH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_gateway_publish_failures_total",
        "Accepted requests answered 503 because the broker did not acknowledge",
        &["source"]
    )
    .unwrap()
});

static TENANT_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_gateway_tenant_requests_total",
        "Accepted requests checked against their tenant's rate limits, by tenant and outcome \
         (accepted: published; limited: refused whole with 429)",
        &["tenant", "outcome"]
    )
    .unwrap()
});

static TENANT_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_gateway_tenant_events_total",
        "Events in requests checked against their tenant's rate limits, by tenant and outcome",
        &["tenant", "outcome"]
    )
    .unwrap()
});

/// One request through the rate limits (`rate_limit.rs`). Tenants are the configured ones
/// plus the default tenant: a bounded label set.
pub fn observe_rate_limit(tenant: &str, accepted: bool, events: usize) {
    let outcome = if accepted { "accepted" } else { "limited" };
    TENANT_REQUESTS.with_label_values(&[tenant, outcome]).inc();
    TENANT_EVENTS
        .with_label_values(&[tenant, outcome])
        .inc_by(events as u64);
}

pub fn observe_request(family: &str, status: u16, elapsed: Duration) {
    REQUESTS
        .with_label_values(&[family, &status.to_string()])
        .inc();
    REQUEST_SECONDS
        .with_label_values(&[family])
        .observe(elapsed.as_secs_f64());
}

pub fn observe_rejected(family: &str, status: u16) {
    REQUESTS_REJECTED
        .with_label_values(&[family, &status.to_string()])
        .inc();
}

pub fn observe_published(source: &str, events: usize, body_bytes: usize, produce: Duration) {
    EVENTS_ACCEPTED
        .with_label_values(&[source])
        .inc_by(events as u64);
    BODY_BYTES
        .with_label_values(&[source])
        .observe(body_bytes as f64);
    PRODUCE_SECONDS
        .with_label_values(&[source])
        .observe(produce.as_secs_f64());
}

pub fn observe_publish_failure(source: &str) {
    PUBLISH_FAILURES.with_label_values(&[source]).inc();
}
