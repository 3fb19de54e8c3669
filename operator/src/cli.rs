//! The `tributary` command line: `dlq list|show|replay|purge` and `debugger`.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tributary_service::config::ConfigArgs;

use crate::dlq::{self, Filter};

/// Tributary's operator tools: the dead-letter topic and the live events debugger.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Browse, replay and purge the dead-letter topic (kafka.topics.dlq).
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Serve the live events debugger page on debugger.listen; needs admin.token.
    Debugger,
    /// Erase one person of one tenant from every table, keep an erasure record (hashes only)
    /// so copies still in Kafka are dropped when redelivered, and print what was removed.
    Erase(tributary_sink::erasure::ErasureArgs),
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Count dead letters by hour, stage, reason and tenant.
    List {
        #[command(flatten)]
        filter: Filter,
        /// Also print one line per letter (its id, time, stage, reason, tenant, event_uid).
        #[arg(long)]
        records: bool,
    },
    /// One dead letter decoded: reason, offsets, and its original bytes as the client sent them.
    Show {
        /// PARTITION/OFFSET in the DLQ topic, as `list --records` prints.
        id: String,
    },
    /// Send selected dead letters back to the topic they came from (after a fix). Replaying
    /// again stores each event once (event_uid).
    Replay {
        #[command(flatten)]
        filter: Filter,
        /// PARTITION/OFFSET ids; with filters, only those of them that match.
        ids: Vec<String>,
        /// Every dead letter (when no filter or id is given).
        #[arg(long)]
        all: bool,
        /// Print what would be replayed; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead letters older than an age for good (Kafka DeleteRecords, per partition up
    /// to the first newer letter).
    Purge {
        /// An age: 7days, 12h, 30m.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Run one command; errors say what to do and make the binary exit non-zero.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut config: crate::Config = args.config.load()?;
    let sink: tributary_sink::Config = args.config.load()?;
    config.erasure = Some(std::sync::Arc::new(sink));
    match args.command {
        Command::Erase(erase) => {
            let by = format!("cli:{}", std::env::var("USER").unwrap_or_default());
            let sink = config.erasure.as_deref().expect("loaded above");
            let report = tributary_sink::erasure::run(sink, &erase.request(by))
                .await
                .context("erasing: is ClickHouse (clickhouse.url) reachable?")?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Debugger => {
            tributary_service::telemetry::init_tracing();
            let listener = tokio::net::TcpListener::bind(config.debugger.listen)
                .await
                .with_context(|| format!("binding debugger.listen {}", config.debugger.listen))?;
            crate::debugger::run(config, listener, tributary_service::Shutdown::on_signals()).await
        }
        Command::Dlq(command) => dlq_command(&config, command).await,
    }
}

async fn read_all(config: &crate::Config) -> anyhow::Result<Vec<dlq::Letter>> {
    let kafka = config.kafka.clone();
    Ok(tokio::task::spawn_blocking(move || dlq::read_all(&kafka)).await??)
}

async fn dlq_command(config: &crate::Config, command: DlqCommand) -> anyhow::Result<()> {
    let letters = read_all(config).await?;
    let mut out = std::io::stdout().lock();
    match command {
        DlqCommand::List { filter, records } => {
            let selected = dlq::select(&letters, &filter, &[])?;
            write!(out, "{}", dlq::render_counts(&selected))?;
            if records {
                write!(out, "\n{}", dlq::render_records(&selected))?;
            }
        }
        DlqCommand::Show { id } => {
            let selected = dlq::select(&letters, &Filter::default(), std::slice::from_ref(&id))?;
            write!(out, "{}", dlq::render_letter(selected[0]))?;
        }
        DlqCommand::Replay {
            filter,
            ids,
            all,
            dry_run,
        } => {
            if filter.is_empty() && ids.is_empty() && !all {
                return Err(dlq::DlqError::NothingSelected.into());
            }
            let selected = dlq::select(&letters, &filter, &ids)?;
            drop(out);
            replay(config, &selected, dry_run).await?;
        }
        DlqCommand::Purge {
            older_than,
            dry_run,
        } => {
            let cutoff = tributary_service::now_ms() - older_than.as_millis() as i64;
            let points = dlq::purge_points(&letters, cutoff);
            let total: usize = points.values().map(|(_, n)| n).sum();
            for (partition, (before, n)) in &points {
                writeln!(
                    out,
                    "partition {partition}: {n} letters before offset {before}"
                )?;
            }
            if dry_run {
                writeln!(
                    out,
                    "dry run: would delete {total} letters written before {}",
                    dlq::iso(cutoff)
                )?;
            } else if total == 0 {
                writeln!(out, "nothing older than {}", dlq::iso(cutoff))?;
            } else {
                dlq::purge(&config.kafka, &points).await?;
                writeln!(
                    out,
                    "deleted {total} letters written before {}",
                    dlq::iso(cutoff)
                )?;
            }
        }
    }
    Ok(())
}

async fn replay(
    config: &crate::Config,
    selected: &[&dlq::Letter],
    dry_run: bool,
) -> anyhow::Result<()> {
    // Everything is checked before anything is sent: a replay is never half-planned.
    for letter in selected {
        dlq::replay_plan(letter)?;
    }
    if dry_run {
        for letter in selected {
            println!(
                "would replay {} ({} {}) to {}",
                letter.id(),
                letter.record.stage,
                letter.record.reason,
                letter.record.source_topic
            );
        }
        println!("dry run: {} letters, nothing sent", selected.len());
        return Ok(());
    }
    let replayer = dlq::Replayer::new(&config.kafka)?;
    let bar = indicatif::ProgressBar::new(selected.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("replaying {bar:40} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    for letter in selected {
        bar.set_message(letter.id());
        replayer.replay(letter).await.with_context(|| {
            format!("replaying {}; the letters before it were sent", letter.id())
        })?;
        bar.inc(1);
    }
    bar.finish_with_message("done");
    println!("replayed {} letters", selected.len());
    Ok(())
}
