//! What all three services share: config loading, Kafka client setup, the admin server
//! (`/metrics`, `/healthz`, `/readyz`), tracing, and shutdown on SIGTERM/SIGINT.

pub mod admin;
pub mod balance;
pub mod config;
pub mod dead_letter;
pub mod kafka;
pub mod lag;
pub mod pii;
pub mod preflight;
pub mod producer;
pub mod shutdown;
pub mod telemetry;
pub mod watchdog;

pub use config::{AdminConfig, ClickHouseConfig, KafkaConfig, Topics, WireCompression};
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
///
/// It also sets jemalloc's options ([`jemalloc_options!`]).
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::tikv_jemallocator::Jemalloc = $crate::tikv_jemallocator::Jemalloc;
        $crate::jemalloc_options!();
    };
}

/// jemalloc's options for the process, read once at its first allocation (jemalloc's
/// `malloc_conf`; the `_RJEM_MALLOC_CONF` environment variable still overrides them):
///
/// - `oversize_threshold:1073741824`: jemalloc gives allocations of 8 MiB and more (its
///   default threshold) to an arena that returns their pages to the kernel as soon as they
///   are freed. The sink's batch of rows (~1.7 KB a row, up to `sink.batch.max_rows`) and an
///   insert's Native block (8,192 rows) are that large and are made again for every insert,
///   so each one faulted in fresh zeroed pages: 21k page faults a second in the sink at 20k
///   events/s (bench phase (d), `perf stat -e page-faults`). Up to 1 GiB they now come from
///   the ordinary arenas, whose freed pages are reused and only returned after
///   `dirty_decay_ms` (10 s) unused. bench/PROFILE.md, "Page faults".
///
/// Invoked by [`use_jemalloc!`]; the benchmark, which wraps jemalloc in a counting allocator,
/// invokes it too so that its figures are the services' (`bench/src/alloc.rs`).
#[macro_export]
macro_rules! jemalloc_options {
    () => {
        // jemalloc reads a `const char *`: `&[u8; N]` is one thin pointer to the bytes (a
        // `&[u8]` would be two words). jemalloc's own definition is weak, so this one wins.
        #[allow(non_upper_case_globals)]
        #[export_name = "_rjem_malloc_conf"]
        static malloc_conf: &[u8; 30] = b"oversize_threshold:1073741824\0";
    };
}
