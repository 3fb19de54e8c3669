use clap::Parser;
use tributary_service::config::ConfigArgs;
use tributary_service::{telemetry, Shutdown};

/// Tributary gateway: accepts the four event APIs over HTTP and publishes them to Kafka.
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
    let config: tributary_gateway::Config = args.config.load()?;
    let listener = tokio::net::TcpListener::bind(config.gateway.listen).await?;
    tributary_gateway::run(config, listener, Shutdown::on_signals()).await
}
