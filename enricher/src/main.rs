use clap::Parser;
use tributary_service::config::ConfigArgs;
use tributary_service::{telemetry, Shutdown};

/// Tributary enricher: normalizes events.raw into events.normalized (and events.dlq).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

tributary_service::use_jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init_tracing();
    let config: tributary_enricher::Config = args.config.load()?;
    tributary_enricher::run(config, Shutdown::on_signals()).await
}
