use clap::{Parser, Subcommand};
use tributary_service::config::ConfigArgs;
use tributary_service::{telemetry, Shutdown};

/// Tributary sink: bulk-loads events.normalized into ClickHouse.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
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

tributary_service::use_jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init_tracing();
    let config: tributary_sink::Config = args.config.load()?;
    match args.command.unwrap_or(Command::Run) {
        Command::Run => tributary_sink::run(config, Shutdown::on_signals()).await,
        Command::Migrate => {
            let applied = tributary_sink::migrate::migrate(&config.clickhouse).await?;
            println!("migrations applied: {applied:?}");
            Ok(())
        }
    }
}
