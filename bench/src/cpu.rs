//! `tributary-bench cpu`: what each stage costs per event on one core, in-process (no HTTP, no
//! broker, no ClickHouse), for each family, with allocations counted by the global allocator.
//!
//! Stages, in pipeline order:
//! - `gateway.accept`: the family's `accept` (JSON parse, validation, reply), as `http.rs` calls it.
//! - `gateway.envelope`: zstd of the body, the RawBatch, its Avro encoding (`publish.rs`).
//! - `enricher.reparse`: undoing zstd and running the gateway's parser again (part of split).
//! - `enricher.split`: `sources::split` — parse, drafts, normalization (the enricher's core).
//! - `enricher.process`: `pipeline::process` — Avro decode + split + Avro encode of the outputs.
//! - `schemas.encode`: `tributary_schemas::encode(NormalizedBatch)` alone (serde -> Value -> datum).
//! - `proto.encode_direct`: the same bytes written by `apache_avro::write_avro_datum_ref`
//!   (serde straight to Avro, no `Value`): the proposed fix, measured.
//! - `sink.decode`: `decode::<NormalizedBatch>` + `EventRow::from_event`, what the sink does
//!   per message before the insert.
//! - `sink.encode`: what the sink does per row at the insert: the rows of one message sorted
//!   into the table's order, written as a Native block (`tributary_sink::native`) and
//!   LZ4-compressed as the `clickhouse` crate sends it.
//! - `proto.decode_value`: `apache_avro::from_avro_datum` alone (bytes -> `Value` tree): the
//!   larger part of what `sink.decode` cost before it read the datum straight into the struct
//!   (`serde_avro_fast`, bench/PROFILE.md "Sink decode without `Value`"); kept as the reference.
//! - `proto.json_parse`: `serde_json::from_slice::<Value>` of the body alone: what parsing costs
//!   before validation copies anything (the floor of `gateway.accept` and `enricher.reparse`).
//! - `proto.envelope`: the envelope with a reused zstd context and the direct Avro writer
//!   (the proposed `gateway.envelope`).
//! - `proto.phone`: `normalize_phone` once per event, as `finish` calls it (mobile): what a
//!   per-batch or LRU cache of phone results saves when a batch is one user's events.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Serialize;
use tributary_gateway::credentials::Credentials;
use tributary_gateway::families::{self, AcceptContext, RequestParts};
use tributary_normalize::sources::{self, NormalizeContext};
use tributary_schemas::{Contract, NormalizedBatch, RawBatch, Source};

use crate::alloc;
use crate::kafka::{raw_batch, raw_batch_uncompressed};
use crate::stats;
use crate::traffic::{Family, Mix, Request, Traffic, TrafficConfig};

#[derive(clap::Args, Debug)]
pub struct CpuArgs {
    /// Families to measure.
    #[arg(long, default_value = "mobile,crm,s2s,activity")]
    pub families: String,
    /// Events per request for mobile and activity (S2S at most 20, CRM 1).
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0)]
    pub event_bytes: usize,
    /// Seconds per stage and family.
    #[arg(long, default_value_t = 1.5)]
    pub seconds: f64,
    /// Only these stages (comma separated prefixes), e.g. `enricher` or `enricher.split`.
    #[arg(long)]
    pub stages: Option<String>,
    /// Exactly this many calls per stage (after as many warm-up calls) instead of `seconds`:
    /// the same work every run, for instruction counts (`tributary-bench instructions`).
    #[arg(long)]
    pub calls: Option<usize>,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize, serde::Deserialize, Debug, Clone)]
pub struct StageResult {
    pub family: String,
    pub stage: String,
    pub events_per_s: f64,
    pub ns_per_event: f64,
    pub allocs_per_event: f64,
    pub alloc_bytes_per_event: f64,
    /// Events handled in the measured calls.
    #[serde(default)]
    pub events: u64,
}

#[derive(Serialize, serde::Deserialize, Debug, Clone)]
pub struct Sizes {
    pub family: String,
    pub events_per_request: f64,
    /// JSON body per event as the client sends it.
    pub body_bytes_per_event: f64,
    /// RawBatch Avro record per event (zstd body inside), what events.raw carries.
    pub raw_record_bytes_per_event: f64,
    /// NormalizedBatch Avro record per event, what events.normalized carries (uncompressed:
    /// the size Tansu's produce cost follows).
    pub normalized_bytes_per_event: f64,
    /// The same NormalizedBatch record after zstd at the pipeline's level
    /// (`tributary_schemas::ZSTD_LEVEL`): what a compressed envelope would hand the broker.
    #[serde(default)]
    pub normalized_zstd_bytes_per_event: f64,
}

#[derive(Serialize, serde::Deserialize, Debug, Clone, Default)]
pub struct CpuSummary {
    pub stages: Vec<StageResult>,
    pub sizes: Vec<Sizes>,
    /// Whether the direct Avro writer produced the very bytes of `schemas::encode`.
    pub encode_direct_identical: bool,
    /// Whether the sink's rows of every generated batch, decoded by the fast reader, are the
    /// rows the `Value` path (apache-avro's resolving decoder) gives.
    #[serde(default)]
    pub fast_decode_identical: bool,
}

/// How long, or how many calls, each stage runs.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Seconds(f64),
    Calls(usize),
}

/// The measured calls, kept out of line under a fixed name: `tributary-bench instructions`
/// has callgrind count inside this function only (`--toggle-collect`), so set-up, warm-up and
/// reporting are not in the count.
#[inline(never)]
fn measured_calls(f: &mut dyn FnMut(usize), first: usize, calls: usize) {
    for i in first..first + calls {
        f(i);
    }
}

/// The sink's rows of one normalized message, as `sink.decode` builds them.
fn sink_rows_fast(message: &[u8]) -> Vec<tributary_sink::row::EventRow> {
    let batch: NormalizedBatch = tributary_schemas::decode(message).expect("decodes");
    sink_rows(batch)
}

/// The same rows through apache-avro's `Value` path: a writer schema that is not the current
/// one by identity (a copy of it) takes the resolving decoder.
fn sink_rows_value_path(message: &[u8]) -> Vec<tributary_sink::row::EventRow> {
    let writer = <NormalizedBatch as Contract>::schema().clone();
    let batch: NormalizedBatch =
        tributary_schemas::decode_with_writer(&writer, &message[10..]).expect("decodes");
    sink_rows(batch)
}

fn sink_rows(batch: NormalizedBatch) -> Vec<tributary_sink::row::EventRow> {
    batch
        .events
        .into_iter()
        .map(|e| tributary_sink::row::EventRow::from_event(e).expect("a row"))
        .collect()
}

/// Run `f` (call `i` handles `events(i)` events) for the budget; one core.
fn measure(
    family: Family,
    stage: &str,
    budget: Budget,
    events: impl Fn(usize) -> usize,
    mut f: impl FnMut(usize),
) -> StageResult {
    let (a0, b0, start, calls) = match budget {
        Budget::Seconds(seconds) => {
            // Warm caches and lazily built statics first.
            let warm = Instant::now();
            let mut i = 0;
            while warm.elapsed() < Duration::from_millis(150) {
                f(i);
                i += 1;
            }
            let (a0, b0) = alloc::snapshot();
            let start = Instant::now();
            let budget = Duration::from_secs_f64(seconds);
            let mut calls = 0usize;
            while start.elapsed() < budget {
                measured_calls(&mut f, calls, 8);
                calls += 8;
            }
            (a0, b0, start, calls)
        }
        Budget::Calls(calls) => {
            // Warm-up outside `measured_calls`, so callgrind does not count it.
            (0..calls).for_each(&mut f);
            let (a0, b0) = alloc::snapshot();
            let start = Instant::now();
            measured_calls(&mut f, 0, calls);
            (a0, b0, start, calls)
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    let (a1, b1) = alloc::snapshot();
    let handled: usize = (0..calls).map(&events).sum();
    let total = handled as f64;
    let r = StageResult {
        family: family.as_str().into(),
        stage: stage.into(),
        events_per_s: total / elapsed,
        ns_per_event: elapsed * 1e9 / total,
        allocs_per_event: (a1 - a0) as f64 / total,
        alloc_bytes_per_event: (b1 - b0) as f64 / total,
        events: handled as u64,
    };
    eprintln!(
        "{:<9} {:<20} {:>10.0} events/s {:>9.0} ns/event {:>7.1} allocs/event {:>9.0} B allocated/event",
        r.family, r.stage, r.events_per_s, r.ns_per_event, r.allocs_per_event, r.alloc_bytes_per_event
    );
    r
}

pub(crate) fn headers(request: &Request) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(auth) = request.authorization {
        h.insert(AUTHORIZATION, HeaderValue::from_static(auth));
    }
    h
}

pub(crate) fn accept(
    credentials: &Credentials,
    request: &Request,
    headers: &HeaderMap,
) -> Result<families::Accepted, families::HttpResponse> {
    let (path, query) = request
        .path
        .split_once('?')
        .map(|(p, q)| (p, Some(q)))
        .unwrap_or((request.path.as_str(), None));
    let parts = RequestParts {
        method: &hyper::Method::POST,
        path,
        query,
        headers,
        content_type: Some(request.content_type.to_string()),
    };
    let ctx = AcceptContext {
        credentials,
        received_at: 1_717_000_000_000,
        batch_id: "0192f2a0-0000-7000-8000-000000000001",
    };
    match request.family {
        Family::Mobile => families::mobile_batch::accept(&ctx, &parts, &request.body),
        Family::Crm => families::crm::accept(&ctx, &parts, &request.body),
        Family::S2s => families::s2s::accept(&ctx, &parts, &request.body),
        Family::Activity => families::activity::accept(&ctx, &parts, &request.body),
    }
}

/// The gateway's parser again, as `sources::split` runs it (body decompression included).
fn reparse(batch: &RawBatch) -> usize {
    use tributary_wire::{activity, crm, mobile_batch, s2s};
    let body = batch.body_bytes().expect("body decompresses");
    let source: Source = batch.source.parse().expect("known source");
    match source.family() {
        tributary_schemas::Family::MobileBatch => {
            let format =
                mobile_batch::Format::from_content_type(Some(&batch.content_type)).expect("json");
            mobile_batch::parse(format, &body)
                .map(|e| e.len())
                .unwrap_or(0)
        }
        tributary_schemas::Family::Crm => {
            let resource = crm::Resource::from_source(source).expect("crm source");
            crm::parse(resource, &body).map(|_| 1).unwrap_or(0)
        }
        tributary_schemas::Family::S2s => {
            let (method, batch_form) = s2s::Method::from_source(source).expect("s2s source");
            s2s::parse(method, batch_form, &body)
                .map(|e| e.len())
                .unwrap_or(0)
        }
        tributary_schemas::Family::Activity => activity::parse(&body).map(|e| e.len()).unwrap_or(0),
    }
}

/// The proposed encoder: serde straight into the Avro datum (no intermediate `Value` tree).
pub fn encode_direct<T: Contract>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(&[0xC3, 0x01]);
    out.extend_from_slice(&T::fingerprint());
    apache_avro_write(T::schema(), value, &mut out);
    out
}

fn apache_avro_write<T: Serialize>(schema: &apache_avro::Schema, value: &T, out: &mut Vec<u8>) {
    apache_avro::write_avro_datum_ref(schema, value, out).expect("direct Avro encoding");
}

pub fn run(args: CpuArgs) -> anyhow::Result<()> {
    let families: Vec<Family> = args
        .families
        .split(',')
        .map(|f| f.trim().parse::<Family>().map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    let wanted = |stage: &str| {
        args.stages
            .as_deref()
            .is_none_or(|s| s.split(',').any(|p| stage.starts_with(p.trim())))
    };
    let credentials =
        Credentials::from_config(&tributary_gateway::config::TenantsConfig::default())?;
    let config = tributary_enricher::Config::default();
    let ctx = NormalizeContext::default();
    let mut summary = CpuSummary {
        encode_direct_identical: true,
        fast_decode_identical: true,
        ..Default::default()
    };
    eprintln!(
        "cpu: one core, {:.1} s per stage; batch size {} (S2S <= 20, CRM 1)",
        args.seconds, args.batch_size
    );
    for family in families {
        let traffic = Traffic::new(TrafficConfig {
            mix: Mix(vec![(family, 1)]),
            batch_size: args.batch_size,
            event_bytes: args.event_bytes,
            activity_auth: crate::traffic::ACTIVITY_AUTH,
        });
        let mut rng = fastrand::Rng::with_seed(11);
        let requests: Vec<Request> = (0..32)
            .map(|_| traffic.build(family, &mut rng, None))
            .collect();
        let hdrs: Vec<HeaderMap> = requests.iter().map(headers).collect();
        for (r, h) in requests.iter().zip(&hdrs) {
            if let Err(rejected) = accept(&credentials, r, h) {
                anyhow::bail!(
                    "the gateway rejects a generated {family:?} request with {}: {}",
                    rejected.status(),
                    String::from_utf8_lossy(&r.body[..r.body.len().min(400)])
                );
            }
        }
        let batches: Vec<RawBatch> = requests.iter().map(raw_batch).collect();
        let payloads: Vec<Vec<u8>> = batches
            .iter()
            .map(|b| tributary_schemas::encode(b).expect("encodes"))
            .collect();
        let normalized: Vec<NormalizedBatch> = batches
            .iter()
            .map(|b| NormalizedBatch {
                events: sources::split(b, &ctx)
                    .expect("splits")
                    .into_iter()
                    .filter_map(Result::ok)
                    .collect(),
            })
            .collect();
        let normalized_payloads: Vec<Vec<u8>> = normalized
            .iter()
            .map(|b| tributary_schemas::encode(b).expect("encodes"))
            .collect();
        let n = requests.len();
        let events: usize = requests.iter().map(|r| r.events).sum();
        let per = events as f64 / n as f64;
        let normalized_events: usize = normalized.iter().map(|b| b.events.len()).sum();
        if normalized_events != events {
            anyhow::bail!(
                "{family:?}: {events} events sent but {normalized_events} normalized (DLQ?)"
            );
        }
        summary.sizes.push(Sizes {
            family: family.as_str().into(),
            events_per_request: per,
            body_bytes_per_event: requests.iter().map(|r| r.body.len()).sum::<usize>() as f64
                / events as f64,
            raw_record_bytes_per_event: payloads.iter().map(Vec::len).sum::<usize>() as f64
                / events as f64,
            normalized_bytes_per_event: normalized_payloads.iter().map(Vec::len).sum::<usize>()
                as f64
                / events as f64,
            normalized_zstd_bytes_per_event: normalized_payloads
                .iter()
                .map(|p| {
                    zstd::bulk::compress(p, tributary_schemas::ZSTD_LEVEL)
                        .map(|c| c.len())
                        .unwrap_or(p.len())
                })
                .sum::<usize>() as f64
                / events as f64,
        });
        for b in &normalized {
            if encode_direct(b) != tributary_schemas::encode(b).unwrap() {
                summary.encode_direct_identical = false;
            }
        }
        for payload in &normalized_payloads {
            if sink_rows_fast(payload) != sink_rows_value_path(payload) {
                summary.fast_decode_identical = false;
            }
        }
        // Each closure handles request (or batch) `i % n` per call.
        let request_events: Vec<usize> = requests.iter().map(|r| r.events).collect();
        let events_per_call = |i: usize| request_events[i % n];
        let s = match args.calls {
            Some(calls) => Budget::Calls(calls),
            None => Budget::Seconds(args.seconds),
        };
        let mut push = |r: StageResult| summary.stages.push(r);
        if wanted("gateway.accept") {
            push(measure(family, "gateway.accept", s, events_per_call, |i| {
                let k = i % n;
                black_box(accept(&credentials, &requests[k], &hdrs[k]).is_ok());
            }));
        }
        if wanted("gateway.envelope") {
            push(measure(
                family,
                "gateway.envelope",
                s,
                events_per_call,
                |i| {
                    let batch = raw_batch(&requests[i % n]);
                    black_box(tributary_schemas::encode(&batch).unwrap());
                },
            ));
        }
        if wanted("enricher.reparse") {
            push(measure(
                family,
                "enricher.reparse",
                s,
                events_per_call,
                |i| {
                    black_box(reparse(&batches[i % n]));
                },
            ));
        }
        if wanted("enricher.split") {
            push(measure(family, "enricher.split", s, events_per_call, |i| {
                black_box(sources::split(&batches[i % n], &ctx).unwrap());
            }));
        }
        if wanted("enricher.process") {
            push(measure(
                family,
                "enricher.process",
                s,
                events_per_call,
                |i| {
                    black_box(tributary_enricher::pipeline::process(
                        &config,
                        &ctx,
                        0,
                        i as i64,
                        Some(&payloads[i % n]),
                    ));
                },
            ));
        }
        if wanted("schemas.encode") {
            push(measure(family, "schemas.encode", s, events_per_call, |i| {
                black_box(tributary_schemas::encode(&normalized[i % n]).unwrap());
            }));
        }
        if wanted("proto.encode_direct") {
            push(measure(
                family,
                "proto.encode_direct",
                s,
                events_per_call,
                |i| {
                    black_box(encode_direct(&normalized[i % n]));
                },
            ));
        }
        if wanted("proto.json_parse") {
            push(measure(
                family,
                "proto.json_parse",
                s,
                events_per_call,
                |i| {
                    black_box(
                        serde_json::from_slice::<serde_json::Value>(&requests[i % n].body).unwrap(),
                    );
                },
            ));
        }
        if wanted("proto.envelope") {
            push(measure(family, "proto.envelope", s, events_per_call, |i| {
                let mut batch = raw_batch_uncompressed(&requests[i % n]);
                let (encoding, body) = tributary_schemas::compress_body(&requests[i % n].body);
                batch.body_encoding = encoding.as_str().into();
                batch.body = body;
                black_box(encode_direct(&batch));
            }));
        }
        if family == Family::Mobile && wanted("proto.phone") {
            let phones: Vec<(String, String)> = requests
                .iter()
                .flat_map(|r| {
                    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    v["events"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| {
                            (
                                e["mobile_number"].as_str().unwrap_or_default().to_string(),
                                e["country_code"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let m = phones.len();
            push(measure(
                family,
                "proto.phone",
                s,
                |_| 1,
                |i| {
                    let (phone, hint) = &phones[i % m];
                    black_box(
                        tributary_normalize::identity::normalize_phone(phone, Some(hint)).is_ok(),
                    );
                },
            ));
        }
        if wanted("proto.decode_value") {
            let schema = <NormalizedBatch as Contract>::schema();
            push(measure(
                family,
                "proto.decode_value",
                s,
                events_per_call,
                |i| {
                    let mut datum = &normalized_payloads[i % n][10..];
                    black_box(apache_avro::from_avro_datum(schema, &mut datum, None).unwrap());
                },
            ));
        }
        if wanted("sink.encode") {
            let rows: Vec<Vec<tributary_sink::row::EventRow>> = normalized_payloads
                .iter()
                .map(|p| sink_rows_fast(p))
                .collect();
            let mut writer = tributary_sink::native::BlockWriter::default();
            push(measure(family, "sink.encode", s, events_per_call, |i| {
                let sorted = tributary_sink::store::in_table_order(&rows[i % n]);
                let mut block = Vec::new();
                writer.write_block(sorted.into_iter(), &mut block);
                black_box(clickhouse::insert_formatted::CompressedData::from_slice(
                    &block,
                ));
            }));
        }
        if wanted("sink.decode") {
            push(measure(family, "sink.decode", s, events_per_call, |i| {
                let batch: NormalizedBatch =
                    tributary_schemas::decode(&normalized_payloads[i % n]).unwrap();
                let rows: Vec<_> = batch
                    .events
                    .into_iter()
                    .map(|e| tributary_sink::row::EventRow::from_event(e).unwrap())
                    .collect();
                black_box(rows);
            }));
        }
    }
    for s in &summary.sizes {
        eprintln!(
            "{:<9} sizes/event: body {:.0} B, raw record {:.0} B, normalized record {:.0} B ({:.0} B after zstd) ({:.1} events/request)",
            s.family, s.body_bytes_per_event, s.raw_record_bytes_per_event, s.normalized_bytes_per_event, s.normalized_zstd_bytes_per_event, s.events_per_request
        );
    }
    eprintln!(
        "direct Avro encoding identical to schemas::encode: {}",
        summary.encode_direct_identical
    );
    eprintln!(
        "sink rows identical through the fast reader and the Value path: {}",
        summary.fast_decode_identical
    );
    if !summary.fast_decode_identical {
        anyhow::bail!("the fast Avro reader gave other rows than the Value path");
    }
    stats::write_json(args.json.as_deref(), &summary)?;
    Ok(())
}
