//! Operators' tools, one binary `tributary`:
//! - `tributary dlq list|show|replay|purge`: the dead-letter topic for people (`dlq.rs`);
//! - `tributary debugger`: the live events debugger page behind the admin token (`debugger/`).
//!
//! Both read the services' config file (`config/tributary.toml`, `TRIBUTARY_*` overrides).

pub mod cli;
pub mod config;
pub mod debugger;
pub mod dlq;

pub use config::Config;
