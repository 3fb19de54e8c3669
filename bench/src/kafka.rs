//! `tributary-bench produce`: the gateway's Kafka half without HTTP. It sends RawBatch
//! records built exactly as the gateway builds them (same generator, same zstd body, same Avro
//! envelope and key) with the gateway's producer (`tributary_service::kafka::producer`:
//! acks=all, idempotence, lz4, linger 5 ms) and `--concurrency` records in flight, so its rate
//! is the ceiling the gateway can approach on this broker.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::FutureRecord;
use rdkafka::ClientConfig;
use serde::Serialize;
use tributary_schemas::{compress_body, RawBatch};
use tributary_service::producer::KafkaProducer;
use tributary_service::KafkaConfig;

use crate::stats::{self, Latency};
use crate::traffic::{Family, Request, Traffic, TrafficConfig};

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic to send to (created with --partitions when missing).
    #[arg(long, default_value = "bench.direct")]
    pub topic: String,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Events per RawBatch (seed-000 mobile batches).
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0)]
    pub event_bytes: usize,
    /// Records in flight, like the gateway's concurrent requests.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Distinct prepared records cycled through.
    #[arg(long, default_value_t = 512)]
    pub pool: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct ProduceSummary {
    pub concurrency: usize,
    pub batch_size: usize,
    pub window_s: f64,
    pub records: u64,
    pub events: u64,
    pub records_per_s: f64,
    pub events_per_s: f64,
    /// Avro record bytes (what the producer hands to librdkafka, before lz4).
    pub mb_per_s: f64,
    pub record_bytes_mean: f64,
    /// The JSON bodies inside, before zstd.
    pub body_bytes_mean: f64,
    pub latency: Latency,
    pub errors: u64,
    pub first_error: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The RawBatch the gateway publishes for `request` (see gateway/src/http.rs `dispatch`).
pub fn raw_batch(request: &Request) -> RawBatch {
    let mut batch = raw_batch_uncompressed(request);
    let (encoding, body) = compress_body(&request.body);
    batch.body_encoding = encoding.as_str().into();
    batch.body = body;
    batch
}

/// `raw_batch` without its body (empty, `identity`).
pub fn raw_batch_uncompressed(request: &Request) -> RawBatch {
    let source = match request.family {
        Family::Mobile => "mobile_batch".to_string(),
        Family::Activity => "activity.upload".to_string(),
        Family::Crm => {
            let resource = request.path.trim_start_matches("/api/v1/");
            format!("crm.{}", resource.trim_end_matches('/'))
        }
        Family::S2s => {
            let method = request.path.trim_start_matches("/v1/");
            format!("s2s.{}", method.split('/').next().unwrap_or_default())
        }
    };
    let mut attributes = HashMap::new();
    if request.family == Family::S2s {
        attributes.insert("idApp".to_string(), crate::traffic::S2S_APP.to_string());
    }
    RawBatch {
        batch_id: uuid::Uuid::now_v7().to_string(),
        source,
        tenant: "default".into(),
        received_at: now_ms(),
        request_id: uuid::Uuid::new_v4().to_string(),
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("tributary-bench/0.1".into()),
        content_type: request.content_type.into(),
        body_encoding: "identity".into(),
        body: Vec::new(),
        attributes,
    }
}

/// Create `topic` unless it exists.
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await?;
    for result in results {
        if let Err((topic, code)) = result {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                anyhow::bail!("creating topic {topic}: {code:?}");
            }
        }
    }
    Ok(())
}

/// The gateway's producer: the shared settings plus its message timeout.
pub fn gateway_producer(brokers: &str) -> anyhow::Result<KafkaProducer> {
    let mut config = KafkaConfig {
        brokers: brokers.into(),
        ..Default::default()
    };
    config
        .properties
        .insert("message.timeout.ms".into(), "10000".into());
    Ok(tributary_service::kafka::producer(&config)?)
}

struct Shared {
    total: hdrhistogram::Histogram<u64>,
    interval: hdrhistogram::Histogram<u64>,
    window_records: u64,
    interval_records: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    ensure_topic(&args.brokers, &args.topic, args.partitions).await?;
    let producer = gateway_producer(&args.brokers)?;
    let traffic = Traffic::new(TrafficConfig {
        mix: "mobile=1".parse().unwrap(),
        batch_size: args.batch_size,
        event_bytes: args.event_bytes,
        activity_auth: crate::traffic::ACTIVITY_AUTH,
    });
    let mut rng = fastrand::Rng::with_seed(42);
    let mut body_bytes = 0usize;
    let pool: Vec<(String, Vec<u8>)> = (0..args.pool.max(1))
        .map(|_| {
            let request = traffic.mobile(&mut rng, None);
            body_bytes += request.body.len();
            let batch = raw_batch(&request);
            let payload = tributary_schemas::encode(&batch).expect("RawBatch encodes");
            (batch.batch_id, payload)
        })
        .collect();
    let record_bytes_mean =
        pool.iter().map(|(_, p)| p.len()).sum::<usize>() as f64 / pool.len() as f64;
    let body_bytes_mean = body_bytes as f64 / pool.len() as f64;
    let events_per_record = traffic.events_per_request(Family::Mobile) as u64;
    if !args.quiet {
        eprintln!(
            "produce: {} -> {} | {} events/record, record {:.0} B (body {:.0} B before zstd) | {} in flight",
            args.brokers, args.topic, events_per_record, record_bytes_mean, body_bytes_mean, args.concurrency
        );
    }
    let pool = Arc::new(pool);
    let start = Instant::now();
    let warmup_end = start + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.duration);
    let next = Arc::new(AtomicU64::new(0));
    let shared = Arc::new(Mutex::new(Shared {
        total: stats::histogram(),
        interval: stats::histogram(),
        window_records: 0,
        interval_records: 0,
        errors: 0,
        first_error: None,
    }));
    let progress = {
        let shared = shared.clone();
        let quiet = args.quiet;
        tokio::spawn(async move {
            if quiet {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let mut s = shared.lock().unwrap();
                let l = Latency::of(&s.interval);
                s.interval.reset();
                let n = std::mem::take(&mut s.interval_records);
                eprintln!(
                    "[{:>5.1}s] {:>6} records/s {:>8} events/s | ack p50 {:>7.2} ms p99 {:>7.2} ms | errors {}",
                    start.elapsed().as_secs_f64(),
                    n,
                    n * events_per_record,
                    l.p50_ms,
                    l.p99_ms,
                    s.errors
                );
            }
        })
    };
    let topic = Arc::new(args.topic.clone());
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (producer, pool, next, shared, topic) = (
                producer.clone(),
                pool.clone(),
                next.clone(),
                shared.clone(),
                topic.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < end {
                    let i = next.fetch_add(1, Relaxed) as usize;
                    let (key, payload) = &pool[i % pool.len()];
                    let record = FutureRecord::to(topic.as_str())
                        .key(key.as_str())
                        .payload(payload.as_slice());
                    let t0 = Instant::now();
                    let result = producer.send(record, Duration::from_secs(10)).await;
                    let done = Instant::now();
                    let mut s = shared.lock().unwrap();
                    match result {
                        Ok(_) => {
                            s.interval_records += 1;
                            stats::record(&mut s.interval, done - t0);
                            if done >= warmup_end && done <= end {
                                s.window_records += 1;
                                stats::record(&mut s.total, done - t0);
                            }
                        }
                        Err((error, _)) => {
                            s.errors += 1;
                            if s.first_error.is_none() {
                                s.first_error = Some(error.to_string());
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    let s = shared.lock().unwrap();
    let window = (end - warmup_end).as_secs_f64();
    let summary = ProduceSummary {
        concurrency: args.concurrency,
        batch_size: args.batch_size,
        window_s: window,
        records: s.window_records,
        events: s.window_records * events_per_record,
        records_per_s: s.window_records as f64 / window,
        events_per_s: (s.window_records * events_per_record) as f64 / window,
        mb_per_s: s.window_records as f64 * record_bytes_mean / window / 1e6,
        record_bytes_mean,
        body_bytes_mean,
        latency: Latency::of(&s.total),
        errors: s.errors,
        first_error: s.first_error.clone(),
    };
    println!(
        "produce: {:.0} records/s = {:.0} events/s ({:.1} MB/s of records) | ack p50 {:.2} ms p99 {:.2} ms | errors {}",
        summary.records_per_s,
        summary.events_per_s,
        summary.mb_per_s,
        summary.latency.p50_ms,
        summary.latency.p99_ms,
        summary.errors
    );
    stats::write_json(args.json.as_deref(), &summary)?;
    Ok(())
}
