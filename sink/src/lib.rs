//! Tributary's sink: consumes `events.normalized`, batches rows by count, bytes and time,
//! bulk-loads them into ClickHouse (Native blocks), and commits Kafka offsets only after ClickHouse
//! accepted the insert. Redelivered events carry the same `event_uid`, which the tables and the
//! documented queries collapse.

pub mod config;
pub mod erasure;
pub mod metrics;
pub mod migrate;
pub mod native;
pub mod pipeline;
pub mod retention;
pub mod row;
pub mod store;

pub use config::Config;
pub use pipeline::run;

/// A ClickHouse client for `config`'s server and database.
pub fn clickhouse_client(config: &tributary_service::ClickHouseConfig) -> clickhouse::Client {
    config.client()
}
