//! `tributary-bench`: the load generator and the side-by-side benchmarks behind
//! `scripts/bench.sh`. Each subcommand measures one thing, prints a progress line each second
//! where it runs long, and can write its figures as JSON (`--json FILE`) for `report`, which
//! renders `bench/RESULTS.md`.

mod alloc;
mod cpu;
mod instructions;
mod kafka;
mod load;
mod report;
mod search;
mod sink;
mod stats;
mod traffic;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;
tributary_service::jemalloc_options!();

#[derive(Parser)]
#[command(name = "tributary-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP load against a running gateway: the four families in a configurable mix, at a
    /// target event rate (open loop) or with a fixed number of connections (closed loop).
    Load(load::LoadArgs),
    /// Produce the RawBatch bytes the gateway would publish straight to the broker with the
    /// gateway's producer settings (acks=all, idempotence, lz4): the ceiling of `load`.
    Produce(kafka::ProduceArgs),
    /// In-process cost of each stage per family on one core (events/s, allocations/event).
    Cpu(cpu::CpuArgs),
    /// Instructions per event of the hot stages under callgrind, held to bench/instructions.json.
    Instructions(instructions::InstructionsArgs),
    /// Fill a topic with NormalizedBatch messages made by the enricher's own `process`.
    Fill(sink::FillArgs),
    /// Wait until a ClickHouse table holds N rows; reports the insert rate seen on the way.
    WaitRows(sink::WaitRowsArgs),
    /// Search latency over 1M and 10M stored rows (the gateway endpoint, else its SQL).
    Search(search::SearchArgs),
    /// Render RESULTS.md from the JSON figures of a bench run.
    Report(report::ReportArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Cpu(args) => cpu::run(args),
        Command::Instructions(args) => instructions::run(args),
        Command::Report(args) => report::run(args),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads(&command))
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                match command {
                    Command::Load(args) => load::run(args).await,
                    Command::Produce(args) => kafka::run(args).await,
                    Command::Fill(args) => sink::fill(args).await,
                    Command::WaitRows(args) => sink::wait_rows(args).await,
                    Command::Search(args) => search::run(args).await,
                    Command::Cpu(_) | Command::Instructions(_) | Command::Report(_) => {
                        unreachable!()
                    }
                }
            })
        }
    }
}

/// The load generator shares the machine with what it measures: it gets few threads.
fn worker_threads(command: &Command) -> usize {
    match command {
        Command::Load(args) => args.threads.max(1),
        _ => 1,
    }
}
