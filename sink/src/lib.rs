//! Tributary's sink: consumes `events.normalized`, batches rows by count, bytes and time,
//! bulk-loads them into ClickHouse (RowBinary), and commits Kafka offsets only after ClickHouse
//! accepted the insert. Redelivered events carry the same `event_uid`, which the tables and the
//! documented queries collapse.

pub mod config;
pub mod metrics;
pub mod migrate;
pub mod pipeline;
pub mod row;

pub use config::Config;
pub use pipeline::run;

/// A ClickHouse client for `config`'s server and database.
pub fn clickhouse_client(config: &tributary_service::ClickHouseConfig) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&config.url)
        .with_database(&config.database)
        .with_user(&config.user)
        .with_password(&config.password)
        // The local stack runs ClickHouse 18.16, which cannot describe a table for validation.
        .with_validation(false)
        .with_compression(clickhouse::Compression::None)
}
