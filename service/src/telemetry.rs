//! Logging: JSON lines when stdout is not a terminal, human-readable on one; level from RUST_LOG.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::io::stdout().is_terminal() {
        builder.try_init()
    } else {
        builder.json().with_current_span(true).try_init()
    };
    // A second init (tests running several services in one process) keeps the first.
    let _ = result;
}
