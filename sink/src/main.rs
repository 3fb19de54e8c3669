use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tributary_service::{config, telemetry, Shutdown};

/// Tributary sink: bulk-loads events.normalized into ClickHouse.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file (TOML); every key also reads TRIBUTARY_<SECTION>__<KEY> from the environment.
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume and insert until SIGTERM/SIGINT (the default).
    Run,
    /// Apply the ClickHouse migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init_tracing();
    let config: tributary_sink::Config = config::load(args.config.as_deref())?;
    match args.command.unwrap_or(Command::Run) {
        Command::Run => tributary_sink::run(config, Shutdown::on_signals()).await,
        Command::Migrate => {
            let applied = tributary_sink::migrate::migrate(&config.clickhouse).await?;
            println!("migrations applied: {applied:?}");
            Ok(())
        }
    }
}
