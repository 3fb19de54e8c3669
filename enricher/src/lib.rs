//! Tributary's enricher: consumes `events.raw`, splits every accepted request into events,
//! normalizes identities, timestamps and geo into one canonical `NormalizedEvent`
//! (`tributary-normalize`), and publishes them to `events.normalized`; what it cannot
//! normalize goes to `events.dlq` with the reason. Offsets of `events.raw` are stored only
//! after every output of a message is acknowledged (at-least-once); deterministic `event_uid`s
//! make redelivery collapse downstream.

pub mod config;
pub mod metrics;
pub mod pipeline;

pub use config::Config;
pub use pipeline::run;
