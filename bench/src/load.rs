//! `tributary-bench load`: HTTP load against a running gateway.
//!
//! Closed loop (default): `--concurrency` keep-alive connections, each sending its next request
//! when the previous one is answered; latency is the request's own time. Open loop
//! (`--rate EVENTS_PER_S`): request slots are spaced evenly in time and taken by the next free
//! connection; latency counts from the slot's scheduled time, so a gateway that falls behind
//! shows queueing instead of hiding it (no coordinated omission).
//!
//! Freshness: with `--markers-per-sec` and `--clickhouse-url`, the first event of some mobile
//! requests is a marker (`event_name` `bench_marker`, unique `event_id`); ClickHouse is polled
//! every 100 ms for them, and the time from sending to first seeing a marker is its
//! ingest-to-queryable time. The poll looks markers up by `event_uid`, the table's sorting key
//! after the tenant, so it reads a few granules per part however large `events` grows: a
//! filter on `event_name` scanned the whole table ten times a second and cost the server more
//! CPU than the sink's inserts (bench/PROFILE.md, "The freshness probe's own cost"). With
//! `--sink-metrics`, the sink's own `tributary_sink_freshness_seconds` histogram over the
//! measured window is reported as well.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tributary_normalize::sources::uid_from_client_id;
use tributary_schemas::Source;

use crate::stats::{self, Latency, PromHistogram};
use crate::traffic::{self, Family, Mix, Traffic, TrafficConfig};

/// The gateway's `tenants.default_tenant` unless configured otherwise.
const DEFAULT_MARKER_TENANT: &str = "default";

/// The `event_uid` the enricher gives marker `marker_id` of a mobile batch of `tenant`
/// (`sources::uid_from_client_id`): the key the poll looks markers up by.
fn marker_uid(tenant: &str, marker_id: &str) -> String {
    uid_from_client_id(tenant, Source::MobileBatch.as_str(), marker_id)
}

#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Gateway base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Relative weights of requests per family: mobile, crm, s2s, activity.
    #[arg(long, default_value = "mobile=1")]
    pub mix: Mix,
    /// The activity family's API key (`Authorization: Bearer KEY`): the tenant the activity
    /// requests are sent as. Default: the local config's demo key.
    #[arg(long)]
    pub activity_key: Option<String>,
    /// Events per request (mobile, activity; S2S takes at most 20, CRM always 1).
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Approximate JSON bytes per event; 0 keeps each family's natural size (~450-700 B).
    #[arg(long, default_value_t = 0)]
    pub event_bytes: usize,
    /// Target events per second (open loop). Without it the load is closed-loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections (closed loop: requests in flight; open loop: most in flight).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds to run, warmup included.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds at the start that are not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Stop after this many requests (also bounded by --duration).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Send bodies gzip-compressed (Content-Encoding: gzip).
    #[arg(long)]
    pub gzip: bool,
    /// Runtime worker threads of the generator.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Marker events per second (needs --clickhouse-url; mobile must be in the mix).
    #[arg(long, default_value_t = 0.0)]
    pub markers_per_sec: f64,
    /// ClickHouse HTTP URL to poll for markers.
    #[arg(long)]
    pub clickhouse_url: Option<String>,
    #[arg(long, default_value = "tributary")]
    pub clickhouse_database: String,
    /// The tenant the gateway gives mobile batches (`tenants.default_tenant`): part of each
    /// marker's `event_uid`.
    #[arg(long, default_value = DEFAULT_MARKER_TENANT)]
    pub marker_tenant: String,
    /// The sink's /metrics URL, for its freshness histogram.
    #[arg(long)]
    pub sink_metrics: Option<String>,
    /// After the load, wait at most this long for outstanding markers.
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,
    /// Write the summary as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Default, Clone, Serialize, serde::Deserialize, Debug)]
pub struct FamilyCounts {
    pub requests: u64,
    pub events: u64,
    pub rejected: u64,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct FreshnessSummary {
    pub source: String,
    pub count: u64,
    pub lost: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Unknown for bucketed histograms.
    pub max_ms: Option<f64>,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct LoadSummary {
    pub mode: String,
    pub concurrency: usize,
    pub target_events_per_s: Option<f64>,
    pub mix: String,
    pub batch_size: usize,
    pub gzip: bool,
    pub window_s: f64,
    pub requests: u64,
    pub events: u64,
    pub body_bytes: u64,
    pub requests_per_s: f64,
    pub events_per_s: f64,
    pub mb_per_s: f64,
    pub latency: Latency,
    pub status: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub first_error: Option<String>,
    pub families: BTreeMap<String, FamilyCounts>,
    pub freshness_markers: Option<FreshnessSummary>,
    pub freshness_sink_metrics: Option<FreshnessSummary>,
    /// Seconds from the end of the load until the last marker was seen.
    pub drain_s: Option<f64>,
}

/// What the workers report; one lock, taken once per request.
struct Shared {
    total: Histogram<u64>,
    interval: Histogram<u64>,
    window: Counts,
    interval_counts: Counts,
    status: BTreeMap<u16, u64>,
    transport_errors: u64,
    first_error: Option<String>,
    families: [FamilyCounts; 4],
}

#[derive(Default, Clone, Copy)]
struct Counts {
    requests: u64,
    events: u64,
    bytes: u64,
    rejected: u64,
}

struct Markers {
    /// Marker id -> when its request was sent (only accepted requests are kept).
    outstanding: HashMap<String, Instant>,
    latencies: Histogram<u64>,
    sent: u64,
    next_due: Instant,
    every: Duration,
    last_seen: Option<Instant>,
}

struct Plan {
    traffic: Traffic,
    args: LoadArgs,
    authority: String,
    addr: String,
    start: Instant,
    warmup_end: Instant,
    end: Instant,
    interval: Option<Duration>,
    next_slot: AtomicU64,
    stop: AtomicBool,
    in_flight: AtomicU64,
    shared: Mutex<Shared>,
    markers: Option<Mutex<Markers>>,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let uri: hyper::Uri = args.url.parse().context("--url")?;
    let authority = uri
        .authority()
        .context("--url needs host:port")?
        .to_string();
    let addr = if uri.port().is_some() {
        authority.clone()
    } else {
        format!("{authority}:80")
    };
    let traffic = Traffic::new(TrafficConfig {
        mix: args.mix.clone(),
        batch_size: args.batch_size,
        event_bytes: args.event_bytes,
        // Leaked once per run: requests borrow it for the whole process.
        activity_auth: match &args.activity_key {
            Some(key) => Box::leak(format!("Bearer {key}").into_boxed_str()),
            None => traffic::ACTIVITY_AUTH,
        },
    });
    let interval = args
        .rate
        .map(|rate| Duration::from_secs_f64(traffic.mean_events_per_request() / rate.max(0.001)));
    let markers = (args.markers_per_sec > 0.0).then(|| {
        Mutex::new(Markers {
            outstanding: HashMap::new(),
            latencies: stats::histogram(),
            sent: 0,
            next_due: Instant::now(),
            every: Duration::from_secs_f64(1.0 / args.markers_per_sec),
            last_seen: None,
        })
    });
    if markers.is_some() && args.clickhouse_url.is_none() {
        anyhow::bail!("--markers-per-sec needs --clickhouse-url");
    }
    let start = Instant::now() + Duration::from_millis(100);
    let plan = Arc::new(Plan {
        warmup_end: start + Duration::from_secs_f64(args.warmup),
        end: start + Duration::from_secs_f64(args.duration),
        start,
        interval,
        traffic,
        authority,
        addr,
        next_slot: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        in_flight: AtomicU64::new(0),
        shared: Mutex::new(Shared {
            total: stats::histogram(),
            interval: stats::histogram(),
            window: Counts::default(),
            interval_counts: Counts::default(),
            status: BTreeMap::new(),
            transport_errors: 0,
            first_error: None,
            families: Default::default(),
        }),
        markers,
        args,
    });
    let args = &plan.args;
    if !args.quiet {
        eprintln!(
            "load: {} {} | mix {} | {} events/request | {} connections{} | run {}",
            args.url,
            match args.rate {
                Some(r) => format!("open loop at {r:.0} events/s"),
                None => "closed loop".into(),
            },
            mix_text(&args.mix),
            plan.traffic.mean_events_per_request(),
            args.concurrency,
            if args.gzip { " | gzip" } else { "" },
            plan.traffic.run_id(),
        );
    }

    let http = reqwest::Client::new();
    let sink_before = Arc::new(Mutex::new(None::<PromHistogram>));
    if let Some(url) = args.sink_metrics.clone() {
        let http = http.clone();
        let slot = sink_before.clone();
        let at = plan.warmup_end;
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            *slot.lock().unwrap() = scrape(&http, &url).await;
        });
    }
    let poller = plan.markers.as_ref().map(|_| {
        let plan = plan.clone();
        let http = http.clone();
        tokio::spawn(async move { poll_markers(plan, http).await })
    });
    let progress = {
        let plan = plan.clone();
        tokio::spawn(async move { progress(plan).await })
    };
    let workers: Vec<_> = (0..plan.args.concurrency.max(1))
        .map(|i| {
            let plan = plan.clone();
            tokio::spawn(async move { worker(plan, i as u64).await })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let load_end = Instant::now();
    plan.stop.store(true, Relaxed);
    progress.abort();

    let mut summary = summarize(&plan);
    if let Some(poller) = poller {
        let _ = poller.await;
        let m = plan.markers.as_ref().unwrap().lock().unwrap();
        let l = Latency::of(&m.latencies);
        summary.freshness_markers = Some(FreshnessSummary {
            source: "markers polled in ClickHouse every 100 ms (client send -> row visible)".into(),
            count: l.count,
            lost: m.outstanding.len() as u64,
            p50_ms: l.p50_ms,
            p99_ms: l.p99_ms,
            max_ms: Some(l.max_ms),
        });
        summary.drain_s = m
            .last_seen
            .map(|t| t.saturating_duration_since(load_end).as_secs_f64());
    }
    if let Some(url) = &plan.args.sink_metrics {
        if plan.markers.is_none() {
            // Rows of the last requests are committed shortly after the load.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let before = sink_before.lock().unwrap().clone().unwrap_or_default();
        if let Some(after) = scrape(&http, url).await {
            let window = after.since(&before);
            summary.freshness_sink_metrics = Some(FreshnessSummary {
                source: "sink tributary_sink_freshness_seconds (gateway receipt -> insert committed; bucket-interpolated)".into(),
                count: window.count as u64,
                lost: 0,
                p50_ms: window.quantile(0.5).unwrap_or(0.0) * 1000.0,
                p99_ms: window.quantile(0.99).unwrap_or(0.0) * 1000.0,
                max_ms: None,
            });
        }
    }
    print_summary(&summary);
    stats::write_json(plan.args.json.as_deref(), &summary)?;
    Ok(())
}

fn mix_text(mix: &Mix) -> String {
    mix.0
        .iter()
        .map(|(f, w)| format!("{}={w}", f.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

async fn scrape(http: &reqwest::Client, url: &str) -> Option<PromHistogram> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    Some(PromHistogram::parse(
        &text,
        "tributary_sink_freshness_seconds",
    ))
}

async fn connect(plan: &Plan) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(&plan.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Whether a marker is due now (time-based, so it works at any rate and in both modes).
fn take_marker(plan: &Plan, run: &str) -> Option<String> {
    let markers = plan.markers.as_ref()?;
    let now = Instant::now();
    let mut m = markers.lock().unwrap();
    if now < m.next_due || now < plan.warmup_end {
        return None;
    }
    m.next_due = now + m.every;
    m.sent += 1;
    Some(format!("mk-{run}-{}", m.sent))
}

async fn worker(plan: Arc<Plan>, id: u64) {
    let mut rng = fastrand::Rng::with_seed(id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA5A5);
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let slot = plan.next_slot.fetch_add(1, Relaxed);
        if plan.args.requests.is_some_and(|max| slot >= max) {
            return;
        }
        let scheduled = match plan.interval {
            Some(interval) => {
                let at = plan.start + interval.mul_f64(slot as f64);
                if at >= plan.end {
                    return;
                }
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => {
                let now = Instant::now();
                if now < plan.start {
                    tokio::time::sleep_until(plan.start.into()).await;
                }
                if now >= plan.end {
                    return;
                }
                Instant::now()
            }
        };
        let family = plan.traffic.family_of(slot);
        let marker = if family == Family::Mobile {
            take_marker(&plan, plan.traffic.run_id())
        } else {
            None
        };
        let request = plan.traffic.build(family, &mut rng, marker.as_deref());
        let body = if plan.args.gzip {
            traffic::gzip(&request.body)
        } else {
            request.body.clone()
        };
        let mut builder = hyper::Request::post(request.path.as_str())
            .header(HOST, plan.authority.as_str())
            .header(CONTENT_TYPE, request.content_type)
            .header(USER_AGENT, "tributary-bench/0.1");
        if let Some(auth) = request.authorization {
            builder = builder.header(AUTHORIZATION, HeaderValue::from_static(auth));
        }
        if plan.args.gzip {
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        let http_request = builder
            .body(Full::new(Bytes::from(body)))
            .expect("valid request");
        let sent_at = Instant::now();
        plan.in_flight.fetch_add(1, Relaxed);
        let outcome = send(&plan, &mut sender, http_request).await;
        plan.in_flight.fetch_sub(1, Relaxed);
        let done = Instant::now();
        let latency = done.saturating_duration_since(scheduled);
        let failed = account(&plan, &request, outcome, done, latency, marker, sent_at);
        if failed {
            sender = None;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if plan.stop.load(Relaxed) {
            return;
        }
    }
}

/// Book one finished request; true when the connection failed (reconnect).
fn account(
    plan: &Plan,
    request: &traffic::Request,
    outcome: anyhow::Result<u16>,
    done: Instant,
    latency: Duration,
    marker: Option<String>,
    sent_at: Instant,
) -> bool {
    let mut s = plan.shared.lock().unwrap();
    let family = request.family;
    s.families[family.index()].requests += 1;
    match outcome {
        Ok(status) => {
            let ok = (200..300).contains(&status);
            if ok {
                s.families[family.index()].events += request.events as u64;
            } else {
                s.families[family.index()].rejected += 1;
            }
            *s.status.entry(status).or_default() += 1;
            if !ok && s.first_error.is_none() {
                s.first_error = Some(format!("HTTP {status} on {}", request.path));
            }
            let in_window = done >= plan.warmup_end && done <= plan.end;
            let add = |c: &mut Counts| {
                c.requests += 1;
                if ok {
                    c.events += request.events as u64;
                    c.bytes += request.body.len() as u64;
                } else {
                    c.rejected += 1;
                }
            };
            add(&mut s.interval_counts);
            stats::record(&mut s.interval, latency);
            if in_window {
                add(&mut s.window);
                stats::record(&mut s.total, latency);
            }
            drop(s);
            if let (true, Some(marker)) = (ok, marker) {
                let mut m = plan.markers.as_ref().unwrap().lock().unwrap();
                m.outstanding.insert(marker, sent_at);
            }
            false
        }
        Err(error) => {
            s.transport_errors += 1;
            s.interval_counts.rejected += 1;
            if s.first_error.is_none() {
                s.first_error = Some(format!("{error:#}"));
            }
            true
        }
    }
}

async fn send(
    plan: &Plan,
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    request: hyper::Request<Full<Bytes>>,
) -> anyhow::Result<u16> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(plan).await?);
    }
    let s = sender.as_mut().unwrap();
    s.ready().await?;
    let response = s.send_request(request).await?;
    let status = response.status().as_u16();
    // Read the answer whole so the connection can carry the next request.
    response.into_body().collect().await?;
    Ok(status)
}

async fn progress(plan: Arc<Plan>) {
    if plan.args.quiet {
        return;
    }
    tokio::time::sleep_until(plan.start.into()).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = Instant::now();
    loop {
        tick.tick().await;
        let now = Instant::now();
        let secs = now.duration_since(last).as_secs_f64();
        last = now;
        let (counts, latency, errors) = {
            let mut s = plan.shared.lock().unwrap();
            let c = std::mem::take(&mut s.interval_counts);
            let l = Latency::of(&s.interval);
            s.interval.reset();
            (c, l, s.transport_errors)
        };
        let behind = plan.interval.map(|interval| {
            let due = (now.saturating_duration_since(plan.start).as_secs_f64()
                / interval.as_secs_f64()) as u64;
            due.saturating_sub(plan.next_slot.load(Relaxed))
        });
        let markers = plan.markers.as_ref().map(|m| {
            let m = m.lock().unwrap();
            format!(
                " | markers seen {} waiting {}",
                m.latencies.len(),
                m.outstanding.len()
            )
        });
        eprintln!(
            "[{:>5.1}s] {:>6.0} req/s {:>8.0} events/s {:>6.1} MB/s | p50 {:>7.2} ms p99 {:>7.2} ms | rejected {} transport errors {} | in flight {}{}{}{}",
            now.saturating_duration_since(plan.start).as_secs_f64(),
            counts.requests as f64 / secs,
            counts.events as f64 / secs,
            counts.bytes as f64 / secs / 1e6,
            latency.p50_ms,
            latency.p99_ms,
            counts.rejected,
            errors,
            plan.in_flight.load(Relaxed),
            match behind {
                Some(b) if b > 0 => format!(" | {b} slots behind schedule"),
                _ => String::new(),
            },
            markers.unwrap_or_default(),
            if now < plan.warmup_end { " (warmup)" } else { "" },
        );
    }
}

fn summarize(plan: &Plan) -> LoadSummary {
    let s = plan.shared.lock().unwrap();
    let window = plan
        .end
        .min(Instant::now())
        .saturating_duration_since(plan.warmup_end)
        .as_secs_f64()
        .max(1e-9);
    LoadSummary {
        mode: if plan.interval.is_some() {
            "open".into()
        } else {
            "closed".into()
        },
        concurrency: plan.args.concurrency,
        target_events_per_s: plan.args.rate,
        mix: mix_text(&plan.args.mix),
        batch_size: plan.args.batch_size,
        gzip: plan.args.gzip,
        window_s: window,
        requests: s.window.requests,
        events: s.window.events,
        body_bytes: s.window.bytes,
        requests_per_s: s.window.requests as f64 / window,
        events_per_s: s.window.events as f64 / window,
        mb_per_s: s.window.bytes as f64 / window / 1e6,
        latency: Latency::of(&s.total),
        status: s.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        transport_errors: s.transport_errors,
        first_error: s.first_error.clone(),
        families: Family::ALL
            .iter()
            .filter(|f| s.families[f.index()].requests > 0)
            .map(|f| (f.as_str().to_string(), s.families[f.index()].clone()))
            .collect(),
        freshness_markers: None,
        freshness_sink_metrics: None,
        drain_s: None,
    }
}

fn print_summary(s: &LoadSummary) {
    println!(
        "load {}: {:.0} events/s, {:.0} req/s, {:.1} MB/s over {:.1}s | latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms max {:.2} ms | status {:?} | transport errors {}",
        s.mode, s.events_per_s, s.requests_per_s, s.mb_per_s, s.window_s, s.latency.p50_ms,
        s.latency.p90_ms, s.latency.p99_ms, s.latency.p999_ms, s.latency.max_ms, s.status,
        s.transport_errors
    );
    for (family, c) in &s.families {
        println!(
            "  {family}: {} requests, {} events accepted, {} rejected",
            c.requests, c.events, c.rejected
        );
    }
    if let Some(e) = &s.first_error {
        println!("  first error: {e}");
    }
    for f in [&s.freshness_markers, &s.freshness_sink_metrics]
        .into_iter()
        .flatten()
    {
        println!(
            "  freshness p50 {:.0} ms p99 {:.0} ms max {} ({} samples, {} lost) — {}",
            f.p50_ms,
            f.p99_ms,
            f.max_ms
                .map(|m| format!("{m:.0} ms"))
                .unwrap_or_else(|| "-".into()),
            f.count,
            f.lost,
            f.source
        );
    }
}

/// Poll ClickHouse for outstanding markers every 100 ms until the load is over and every
/// marker was seen (or the drain timeout passed).
async fn poll_markers(plan: Arc<Plan>, http: reqwest::Client) {
    let markers = plan.markers.as_ref().unwrap();
    let url = plan.args.clickhouse_url.clone().unwrap();
    let db = plan.args.clickhouse_database.clone();
    let tenant = &plan.args.marker_tenant;
    let mut stopped_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if plan.stop.load(Relaxed) && stopped_at.is_none() {
            stopped_at = Some(Instant::now());
        }
        let ids: Vec<String> = {
            let m = markers.lock().unwrap();
            m.outstanding.keys().take(500).cloned().collect()
        };
        if ids.is_empty() {
            if stopped_at.is_some() {
                return;
            }
            continue;
        }
        if stopped_at.is_some_and(|t| t.elapsed().as_secs_f64() > plan.args.drain_timeout) {
            return;
        }
        // The markers' rows by primary key, (tenant, event_uid). Only the uid column is read,
        // on one thread: a granule per part and marker.
        let by_uid: HashMap<String, String> = ids
            .into_iter()
            .map(|id| (marker_uid(tenant, &id), id))
            .collect();
        let list = by_uid
            .keys()
            .map(|uid| format!("'{uid}'"))
            .collect::<Vec<_>>()
            .join(",");
        let query = format!(
            "SELECT event_uid FROM {db}.events WHERE tenant = {{tenant:String}} AND event_uid IN ({list}) SETTINGS max_threads = 1 FORMAT TabSeparated"
        );
        let request = http.post(&url).query(&[("param_tenant", tenant)]);
        let Ok(response) = request.body(query).send().await else {
            continue;
        };
        let seen_at = Instant::now();
        let Ok(text) = response.text().await else {
            continue;
        };
        let mut m = markers.lock().unwrap();
        for uid in text.lines().map(str::trim) {
            let Some(id) = by_uid.get(uid) else { continue };
            if let Some(sent) = m.outstanding.remove(id) {
                stats::record(&mut m.latencies, seen_at.saturating_duration_since(sent));
                m.last_seen = Some(seen_at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::ACTIVITY_AUTH;
    use tributary_gateway::credentials::Credentials;
    use tributary_normalize::sources::{self, NormalizeContext};

    /// The poll finds a marker only if the gateway files the request under the default marker
    /// tenant and the enricher derives the uid the poll computes, so both are checked against
    /// the real gateway and enricher code.
    #[test]
    fn the_poll_looks_up_the_uid_the_enricher_stores() {
        let traffic = Traffic::new(TrafficConfig {
            mix: "mobile=1".parse().unwrap(),
            batch_size: 10,
            event_bytes: 0,
            activity_auth: ACTIVITY_AUTH,
        });
        let mut rng = fastrand::Rng::with_seed(3);
        let request = traffic.build(Family::Mobile, &mut rng, Some("mk-test-7"));
        let credentials =
            Credentials::from_config(&tributary_gateway::config::TenantsConfig::default()).unwrap();
        let accepted = crate::cpu::accept(&credentials, &request, &crate::cpu::headers(&request))
            .unwrap_or_else(|_| panic!("the gateway accepts the marker request"));
        assert_eq!(accepted.tenant, DEFAULT_MARKER_TENANT);

        let mut batch = crate::kafka::raw_batch(&request);
        batch.tenant = accepted.tenant.clone();
        batch.source = accepted.source.as_str().to_string();
        let events = sources::split(&batch, &NormalizeContext::default()).unwrap();
        let marker = events
            .into_iter()
            .filter_map(Result::ok)
            .find(|e| e.event_id.as_deref() == Some("mk-test-7"))
            .expect("the marker event is normalized");
        assert_eq!(marker.event_name, traffic::MARKER_EVENT);
        assert_eq!(
            marker.event_uid,
            marker_uid(DEFAULT_MARKER_TENANT, "mk-test-7")
        );
    }
}
