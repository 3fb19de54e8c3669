use clap::{Parser, Subcommand};
use tributary_service::config::ConfigArgs;
use tributary_service::{telemetry, Shutdown};
use tributary_sink::erasure::{self, ErasureArgs};

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
    /// Apply the ClickHouse migrations and `[sink.retention]`, and exit.
    Migrate,
    /// Erase one person of one tenant from every table, keep an erasure record (hashes only)
    /// so copies still in Kafka are dropped when redelivered, and print what was removed.
    Erase(ErasureArgs),
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
            let client = tributary_sink::clickhouse_client(&config.clickhouse);
            let retained =
                tributary_sink::retention::apply(&client, &config.sink.retention).await?;
            println!("retention applied to: {retained:?}");
            Ok(())
        }
        Command::Erase(erase) => {
            let by = format!("cli:{}", std::env::var("USER").unwrap_or_default());
            let report = erasure::run(&config, &erase.request(by)).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}
