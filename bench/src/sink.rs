//! Sink input and output: `fill` puts NormalizedBatch messages on a topic (made by the
//! enricher's own `process` from generated requests, so the rows are the pipeline's real
//! rows); `wait-rows` watches a ClickHouse table grow to N rows and reports the insert rate
//! between the first and the last insert it saw.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::producer::FutureRecord;
use serde::Serialize;
use tributary_normalize::sources::NormalizeContext;

use crate::kafka::{ensure_topic, gateway_producer, raw_batch};
use crate::stats;
use crate::traffic::{Mix, Traffic, TrafficConfig};

#[derive(clap::Args, Debug)]
pub struct FillArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Rows (normalized events) to produce.
    #[arg(long, default_value_t = 500_000)]
    pub rows: u64,
    #[arg(long, default_value = "mobile=1")]
    pub mix: Mix,
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Produce every record zstd-compressed (at `tributary_schemas::ZSTD_LEVEL`). Measures
    /// what a compressed NormalizedBatch envelope would cost the broker; the sink cannot read
    /// such a topic.
    #[arg(long)]
    pub zstd: bool,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct FillSummary {
    pub rows: u64,
    pub messages: u64,
    pub bytes: u64,
    pub seconds: f64,
}

pub async fn fill(args: FillArgs) -> anyhow::Result<()> {
    ensure_topic(&args.brokers, &args.topic, args.partitions).await?;
    let producer = gateway_producer(&args.brokers)?;
    let traffic = Traffic::new(TrafficConfig {
        mix: args.mix.clone(),
        batch_size: args.batch_size,
        event_bytes: 0,
        activity_auth: crate::traffic::ACTIVITY_AUTH,
    });
    let config = tributary_enricher::Config::default();
    let ctx = NormalizeContext::default();
    let mut rng = fastrand::Rng::with_seed(3);
    let started = Instant::now();
    let mut summary = FillSummary::default();
    let mut pending = FuturesUnordered::new();
    let mut slot = 0u64;
    let mut last_print = Instant::now();
    while summary.rows < args.rows {
        let request = traffic.build(traffic.family_of(slot), &mut rng, None);
        slot += 1;
        let payload = tributary_schemas::encode(&raw_batch(&request))?;
        let outputs =
            tributary_enricher::pipeline::process(&config, &ctx, 0, slot as i64, Some(&payload));
        for output in outputs
            .into_iter()
            .filter(|o| o.topic == config.kafka.topics.normalized)
        {
            summary.rows += request.events as u64;
            summary.messages += 1;
            let output = if args.zstd {
                tributary_enricher::pipeline::Output {
                    payload: zstd::bulk::compress(&output.payload, tributary_schemas::ZSTD_LEVEL)?,
                    ..output
                }
            } else {
                output
            };
            summary.bytes += output.payload.len() as u64;
            let producer = producer.clone();
            let topic = args.topic.clone();
            pending.push(async move {
                let record = FutureRecord::to(&topic)
                    .key(output.key.as_str())
                    .payload(output.payload.as_slice());
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| e)
            });
        }
        while pending.len() >= args.in_flight {
            if let Some(result) = pending.next().await {
                result?;
            }
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "[{:>5.1}s] fill {}: {} rows, {} messages, {:.1} MB",
                started.elapsed().as_secs_f64(),
                args.topic,
                summary.rows,
                summary.messages,
                summary.bytes as f64 / 1e6
            );
        }
    }
    while let Some(result) = pending.next().await {
        result?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    println!(
        "fill: {} rows in {} messages ({:.1} MB, {:.0} B/row) on {} in {:.1}s",
        summary.rows,
        summary.messages,
        summary.bytes as f64 / 1e6,
        summary.bytes as f64 / summary.rows.max(1) as f64,
        args.topic,
        summary.seconds
    );
    stats::write_json(args.json.as_deref(), &summary)?;
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct WaitRowsArgs {
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    /// `database.table`
    #[arg(long)]
    pub table: String,
    #[arg(long)]
    pub rows: u64,
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct WaitRowsSummary {
    pub rows: u64,
    /// From this command's start to the last row.
    pub total_s: f64,
    /// Rows inserted after the first insert seen, and over how long.
    pub measured_rows: u64,
    pub measured_s: f64,
    pub rows_per_s: f64,
    pub inserts_seen: u64,
}

pub async fn wait_rows(args: WaitRowsArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.timeout);
    let mut first: Option<(Instant, u64)> = None;
    let mut last_count = 0u64;
    let mut inserts = 0u64;
    let mut last_print = Instant::now();
    let count = loop {
        let query = format!("SELECT count() FROM {}", args.table);
        let count: u64 = match http.post(&args.clickhouse_url).body(query).send().await {
            Ok(r) => r
                .text()
                .await
                .unwrap_or_default()
                .trim()
                .parse()
                .unwrap_or(0),
            Err(_) => 0,
        };
        let now = Instant::now();
        if count > last_count {
            inserts += 1;
            last_count = count;
            if first.is_none() {
                first = Some((now, count));
            }
        }
        if count >= args.rows || now > deadline {
            break count;
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = now;
            eprintln!(
                "[{:>5.1}s] {}: {count} rows",
                started.elapsed().as_secs_f64(),
                args.table
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let end = Instant::now();
    let (t1, c1) = first.unwrap_or((end, count));
    let measured_s = end.duration_since(t1).as_secs_f64();
    let measured_rows = count.saturating_sub(c1);
    let summary = WaitRowsSummary {
        rows: count,
        total_s: end.duration_since(started).as_secs_f64(),
        measured_rows,
        measured_s,
        rows_per_s: if measured_s > 0.0 {
            measured_rows as f64 / measured_s
        } else {
            f64::NAN
        },
        inserts_seen: inserts,
    };
    println!(
        "wait-rows {}: {} rows after {:.1}s; {} rows in the {:.2}s after the first insert = {:.0} rows/s ({} inserts seen)",
        args.table, count, summary.total_s, measured_rows, measured_s, summary.rows_per_s, inserts
    );
    if count < args.rows {
        anyhow::bail!(
            "only {count} of {} rows arrived in {}s",
            args.rows,
            args.timeout
        );
    }
    stats::write_json(args.json.as_deref(), &summary)?;
    Ok(())
}
