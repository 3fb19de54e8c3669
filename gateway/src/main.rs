use std::path::PathBuf;

use clap::Parser;
use tributary_service::{config, telemetry, Shutdown};

/// Tributary gateway: accepts the four event APIs over HTTP and publishes them to Kafka.
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
    let config: tributary_gateway::Config = config::load(args.config.as_deref())?;
    let listener = tokio::net::TcpListener::bind(config.gateway.listen).await?;
    tributary_gateway::run(config, listener, Shutdown::on_signals()).await
}
