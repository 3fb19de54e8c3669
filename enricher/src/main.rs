use std::path::PathBuf;

use clap::Parser;
use tributary_service::{config, telemetry, Shutdown};

/// Tributary enricher: normalizes events.raw into events.normalized (and events.dlq).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file (TOML); every key also reads TRIBUTARY_<SECTION>__<KEY> from the environment.
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init_tracing();
    let config: tributary_enricher::Config = config::load(args.config.as_deref())?;
    tributary_enricher::run(config, Shutdown::on_signals()).await
}
