//! The one metric normalization records itself: client values dropped as unusable. It keeps the
//! enricher's name, wherever the normalization runs (the gateway too, for tenants hashed
//! before Kafka).

use std::sync::LazyLock;

use prometheus::{register_int_counter_vec, IntCounterVec};

static DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_enricher_fields_dropped_total",
        "Client values dropped as unusable (the event is kept without them), by field and reason",
        &["field", "reason"]
    )
    .unwrap()
});

/// A client value was dropped as unusable (`lat_long`: see [`crate::geo::check_lat_long`]).
pub fn field_dropped(field: &str, reason: &str) {
    DROPPED.with_label_values(&[field, reason]).inc();
}
