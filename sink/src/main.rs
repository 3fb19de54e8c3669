use std::time::Duration;

use clap::{Parser, Subcommand};
use tributary_service::config::ConfigArgs;
use tributary_service::{telemetry, Shutdown};
use tributary_sink::erasure::{self, ErasureRequest, IdentityKind};

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
    Erase(EraseArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).multiple(false)))]
struct EraseArgs {
    #[arg(long)]
    tenant: String,
    /// The `user_key` as stored.
    #[arg(long, group = "who")]
    user_key: Option<String>,
    #[arg(long, group = "who")]
    email: Option<String>,
    /// E.164, as stored: +919876543210.
    #[arg(long, group = "who")]
    phone: Option<String>,
    #[arg(long, group = "who")]
    identity: Option<String>,
}

impl EraseArgs {
    fn request(self) -> ErasureRequest {
        let (kind, value) = match (self.user_key, self.email, self.phone, self.identity) {
            (Some(v), ..) => (IdentityKind::UserKey, v),
            (_, Some(v), ..) => (IdentityKind::Email, v),
            (_, _, Some(v), _) => (IdentityKind::Phone, v),
            (.., Some(v)) => (IdentityKind::Identity, v),
            _ => unreachable!("clap requires one of them"),
        };
        ErasureRequest {
            tenant: self.tenant,
            kind,
            value,
            requested_by: format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            ),
        }
    }
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
            tributary_sink::migrate::migrate(&config.clickhouse).await?;
            let client = tributary_sink::clickhouse_client(&config.clickhouse);
            let grace = Duration::from_millis(2 * config.sink.erasure_refresh_ms.max(100));
            let report = erasure::erase(&client, &config.enricher, &erase.request(), grace).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}
