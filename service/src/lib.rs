//! What all three services share: config loading, Kafka client setup, the admin server
//! (`/metrics`, `/healthz`, `/readyz`), tracing, and shutdown on SIGTERM/SIGINT.

pub mod admin;
pub mod config;
pub mod dead_letter;
pub mod kafka;
pub mod lag;
pub mod pii;
pub mod preflight;
pub mod shutdown;
pub mod telemetry;
pub mod watchdog;

pub use config::{AdminConfig, ClickHouseConfig, KafkaConfig, Topics};
pub use shutdown::Shutdown;

/// Milliseconds since the Unix epoch (UTC), the unit of every timestamp in the records.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[doc(hidden)]
pub use tikv_jemallocator;

/// Make jemalloc the process's allocator. Each service binary invokes this once in `main.rs`:
/// with glibc's malloc a third of the gateway's CPU went to `malloc`/`free` under load
/// (bench/PROFILE.md, finding 2). Libraries and tests keep their own allocator; the benchmark
/// counts allocations on top of jemalloc (`bench/src/alloc.rs`).
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::tikv_jemallocator::Jemalloc = $crate::tikv_jemallocator::Jemalloc;
    };
}
