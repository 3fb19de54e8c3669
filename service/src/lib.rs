//! What all three services share: config loading, Kafka client setup, the admin server
//! (`/metrics`, `/healthz`, `/readyz`), tracing, and shutdown on SIGTERM/SIGINT.

pub mod admin;
pub mod config;
pub mod kafka;
pub mod lag;
pub mod shutdown;
pub mod telemetry;

pub use config::{ClickHouseConfig, KafkaConfig, Topics};
pub use shutdown::Shutdown;
