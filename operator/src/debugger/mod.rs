//! The live events debugger: one page, behind the admin token, on its own listener
//! (`debugger.listen`, never the public port). It shows, updated live over server-sent events:
//! - per tenant and source, the last events as they arrive: the request as the gateway
//!   accepted it (`events.raw`) beside the normalized row (`events.normalized`), with the time
//!   flags and the `user_key` kind;
//! - the gateway's last rejected requests with status and reason (its admin `/rejections`,
//!   personal data already masked there);
//! - the last dead letters (`events.dlq`) with a replay button;
//! - lag (messages the enricher's and sink's groups have not committed) and freshness (age of
//!   the newest record seen on each topic) per stage.
//!
//! Bounded at any rate: it reads every message of the three topics from where they stood when
//! it started, but decodes at most [`DECODES_PER_SECOND`] per topic (the rest only move the
//! freshness clock) and keeps [`EVENTS_PER_STREAM`] events of at most [`STREAMS`] tenant and
//! source pairs, [`ACCEPTED_KEPT`] accepted requests and [`LETTERS_KEPT`] dead letters.

mod page;
mod server;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use tributary_schemas::{DlqRecord, NormalizedBatch, NormalizedEvent, RawBatch};
use tributary_service::Shutdown;

use crate::dlq::Letter;
use crate::Config;

/// Messages decoded per topic and second at most; the others only update freshness.
pub const DECODES_PER_SECOND: u32 = 50;
/// Events kept per tenant and source.
pub const EVENTS_PER_STREAM: usize = 8;
/// Tenant and source pairs shown; a new pair beyond this replaces the one quiet the longest.
pub const STREAMS: usize = 40;
/// Accepted requests kept to pair with their normalized rows.
pub const ACCEPTED_KEPT: usize = 400;
/// Dead letters kept (the newest).
pub const LETTERS_KEPT: usize = 30;
/// Records read back per partition of the raw and normalized topics when the debugger starts.
pub const TAIL: i64 = 20;
/// Longest request body kept, in bytes.
const BODY_MAX_BYTES: usize = 4000;

/// A request as the gateway accepted it.
#[derive(Debug)]
pub struct Accepted {
    pub batch_id: String,
    pub received_at: i64,
    pub request_id: String,
    pub content_type: String,
    /// The body as sent, JSON pretty-printed, cut to 4000 bytes.
    pub body: String,
}

/// One normalized event and, when it was sampled too, the request it came from.
#[derive(Debug)]
pub struct Sample {
    pub event: NormalizedEvent,
    pub accepted: Option<Arc<Accepted>>,
}

/// One row of the stages table.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub stage: &'static str,
    pub topic: String,
    /// Messages of `topic` the stage's group has not committed; `None` before the first
    /// measurement, `Err` when it failed.
    pub lag: Option<Result<i64, String>>,
}

/// Everything the page shows; bounded as the module says.
#[derive(Default)]
pub struct State {
    /// Newest first, per (tenant, source).
    pub streams: BTreeMap<(String, String), VecDeque<Sample>>,
    /// When each stream last got an event (to replace the quietest).
    stream_seen: HashMap<(String, String), Instant>,
    accepted: HashMap<String, Arc<Accepted>>,
    accepted_order: VecDeque<String>,
    /// The gateway's last rejections, newest first.
    pub rejections: Vec<serde_json::Value>,
    /// Why the last read of the rejections failed, if it did.
    pub rejections_error: Option<String>,
    /// Newest first.
    pub letters: VecDeque<Letter>,
    /// Replays done from the page: letter id → outcome.
    pub replayed: HashMap<String, String>,
    pub stages: Vec<StageRow>,
    /// Kafka timestamp (epoch ms) of the newest record seen, per topic.
    pub newest: BTreeMap<String, i64>,
}

impl State {
    fn keep_accepted(&mut self, accepted: Accepted) {
        let id = accepted.batch_id.clone();
        if self.accepted_order.len() == ACCEPTED_KEPT {
            if let Some(old) = self.accepted_order.pop_front() {
                self.accepted.remove(&old);
            }
        }
        let accepted = Arc::new(accepted);
        // Its events may have been read first (the topics are read side by side).
        for sample in self.streams.values_mut().flatten() {
            if sample.accepted.is_none() && sample.event.batch_id == id {
                sample.accepted = Some(accepted.clone());
            }
        }
        self.accepted_order.push_back(id.clone());
        self.accepted.insert(id, accepted);
    }

    fn keep_event(&mut self, event: NormalizedEvent) {
        let key = (event.tenant.clone(), event.source.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= STREAMS {
            let quietest = self
                .stream_seen
                .iter()
                .min_by_key(|(_, seen)| **seen)
                .map(|(k, _)| k.clone());
            if let Some(quietest) = quietest {
                self.streams.remove(&quietest);
                self.stream_seen.remove(&quietest);
            }
        }
        self.stream_seen.insert(key.clone(), Instant::now());
        let accepted = self.accepted.get(&event.batch_id).cloned();
        let stream = self.streams.entry(key).or_default();
        stream.push_front(Sample { event, accepted });
        stream.truncate(EVENTS_PER_STREAM);
    }

    fn keep_letter(&mut self, letter: Letter) {
        self.letters.push_front(letter);
        self.letters.truncate(LETTERS_KEPT);
    }
}

/// The debugger's shared state and the signal that it changed.
#[derive(Clone)]
pub struct Debugger {
    pub config: Arc<Config>,
    pub state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
}

impl Debugger {
    fn new(config: Config) -> Debugger {
        let state = State {
            stages: vec![
                StageRow {
                    stage: "enricher",
                    topic: config.kafka.topics.raw.clone(),
                    lag: None,
                },
                StageRow {
                    stage: "sink",
                    topic: config.kafka.topics.normalized.clone(),
                    lag: None,
                },
            ],
            ..Default::default()
        };
        Debugger {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(state)),
            changed: Arc::new(watch::channel(0).0),
        }
    }

    /// Change the state and tell the open pages.
    pub fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.send_modify(|v| *v += 1);
    }

    pub fn read<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The admin token (`run` refuses to start without one).
    pub fn token(&self) -> String {
        self.config.admin.token().unwrap_or_default().to_string()
    }

    /// A receiver that wakes on each change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Start reading the topics, then serve the page on `listener` until `shutdown`. Refuses to
/// start without `admin.token`. The binary and the tests run this same function.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    if config.admin.token().is_none() {
        anyhow::bail!("the debugger needs an admin token: set admin.token in the config or TRIBUTARY_ADMIN__TOKEN");
    }
    let debugger = Debugger::new(config);
    let consumer = assign(&debugger.config).await?;
    tokio::spawn(read_topics(debugger.clone(), consumer, shutdown.clone()));
    tokio::spawn(measure_lag(debugger.clone(), shutdown.clone()));
    tokio::spawn(poll_rejections(debugger.clone(), shutdown.clone()));
    tracing::info!(listen = %listener.local_addr()?, "events debugger serving");
    server::serve(debugger, listener, shutdown).await;
    Ok(())
}

/// A consumer (no group commits) on every partition of the three topics, from their last
/// [`TAIL`] records (the DLQ: [`LETTERS_KEPT`]), so the page opens on recent traffic.
/// Offsets are resolved now, so whatever is produced after `run` starts is seen.
async fn assign(config: &Config) -> anyhow::Result<StreamConsumer> {
    let mut client = tributary_service::kafka::client_config(&config.kafka)?;
    client
        .set("group.id", "tributary-debugger")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100");
    for (key, value) in &config.kafka.properties {
        client.set(key, value);
    }
    let consumer: StreamConsumer = client.create()?;
    let topics = config.kafka.topics.clone();
    let probe: BaseConsumer = client.create()?;
    let assignment = tokio::task::spawn_blocking(move || -> anyhow::Result<TopicPartitionList> {
        let timeout = Duration::from_secs(10);
        let mut assignment = TopicPartitionList::new();
        for (topic, tail) in [
            (&topics.raw, TAIL),
            (&topics.normalized, TAIL),
            (&topics.dlq, LETTERS_KEPT as i64),
        ] {
            let metadata = probe.fetch_metadata(Some(topic), timeout)?;
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                let (low, high) = probe.fetch_watermarks(topic, partition.id(), timeout)?;
                let from = (high - tail).max(low);
                assignment.add_partition_offset(topic, partition.id(), Offset::Offset(from))?;
            }
        }
        Ok(assignment)
    })
    .await??;
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// At most [`DECODES_PER_SECOND`] per topic: `true` when this message may be decoded.
struct Sampler {
    window: Instant,
    decoded: u32,
}

impl Sampler {
    fn admit(&mut self) -> bool {
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.window = Instant::now();
            self.decoded = 0;
        }
        self.decoded += 1;
        self.decoded <= DECODES_PER_SECOND
    }
}

async fn read_topics(debugger: Debugger, consumer: StreamConsumer, shutdown: Shutdown) {
    let topics = debugger.config.kafka.topics.clone();
    let mut samplers: HashMap<String, Sampler> = HashMap::new();
    loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            _ = shutdown.wait() => return,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "debugger: reading the topics failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let topic = message.topic().to_string();
        let timestamp = message.timestamp().to_millis();
        let sampler = samplers.entry(topic.clone()).or_insert(Sampler {
            window: Instant::now(),
            decoded: 0,
        });
        // Every dead letter is kept (few, and each may need its replay button).
        let decode = topic == topics.dlq || sampler.admit();
        let payload = message.payload().unwrap_or_default();
        let (partition, offset) = (message.partition(), message.offset());
        debugger.update(|state| {
            if let Some(ms) = timestamp {
                state.newest.insert(topic.clone(), ms);
            }
            if !decode {
                return;
            }
            if topic == topics.raw {
                if let Ok(batch) = tributary_schemas::decode::<RawBatch>(payload) {
                    state.keep_accepted(accepted(&batch));
                }
            } else if topic == topics.normalized {
                if let Ok(batch) = tributary_schemas::decode::<NormalizedBatch>(payload) {
                    // The newest events of a batch are enough: the page keeps few per stream.
                    let skip = batch.events.len().saturating_sub(EVENTS_PER_STREAM);
                    for event in batch.events.into_iter().skip(skip) {
                        state.keep_event(event);
                    }
                }
            } else if let Ok(record) = tributary_schemas::decode::<DlqRecord>(payload) {
                state.keep_letter(Letter {
                    partition,
                    offset,
                    record,
                });
            }
        });
    }
}

fn accepted(batch: &RawBatch) -> Accepted {
    let bytes = batch.body_bytes().unwrap_or_else(|_| batch.body.clone());
    let mut body = crate::dlq::pretty(&bytes);
    if body.len() > BODY_MAX_BYTES {
        let mut cut = BODY_MAX_BYTES;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push_str("\n… (cut)");
    }
    Accepted {
        batch_id: batch.batch_id.clone(),
        received_at: batch.received_at,
        request_id: batch.request_id.clone(),
        content_type: batch.content_type.clone(),
        body,
    }
}

/// Every 2 s, each stage's group lag on its input topic.
async fn measure_lag(debugger: Debugger, shutdown: Shutdown) {
    let config = debugger.config.clone();
    let groups = [
        (
            config.enricher_group().to_string(),
            config.kafka.topics.raw.clone(),
        ),
        (
            config.sink_group().to_string(),
            config.kafka.topics.normalized.clone(),
        ),
    ];
    let consumers: Vec<Option<BaseConsumer>> = groups
        .iter()
        .map(|(group, _)| {
            let mut client = tributary_service::kafka::client_config(&config.kafka).ok()?;
            client
                .set("group.id", group)
                .set("enable.auto.commit", "false");
            client.create().ok()
        })
        .collect();
    let consumers = Arc::new((consumers, groups));
    while !shutdown.is_triggered() {
        let work = consumers.clone();
        let lags = tokio::task::spawn_blocking(move || {
            let (consumers, groups) = &*work;
            consumers
                .iter()
                .zip(groups)
                .map(|(consumer, (_, topic))| {
                    let consumer = consumer.as_ref().ok_or("no Kafka client")?;
                    tributary_service::lag::measure(consumer, topic, Duration::from_secs(2))
                        .map(|parts| parts.iter().map(|p| p.lag()).sum::<i64>())
                        .map_err(|e| e.to_string())
                })
                .collect::<Vec<Result<i64, String>>>()
        })
        .await
        .unwrap_or_default();
        debugger.update(|state| {
            for (row, lag) in state.stages.iter_mut().zip(lags) {
                row.lag = Some(lag);
            }
        });
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {},
            _ = shutdown.wait() => {},
        }
    }
}

/// Every second, the gateway's last rejections from its admin `/rejections`.
async fn poll_rejections(debugger: Debugger, shutdown: Shutdown) {
    let url = format!("http://{}/rejections", debugger.config.gateway_admin());
    let token = debugger.token();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let mut last: Option<Result<Vec<serde_json::Value>, String>> = None;
    while !shutdown.is_triggered() {
        let got = match client.get(&url).bearer_auth(&token).send().await {
            Ok(response) if response.status().is_success() => response
                .json::<Vec<serde_json::Value>>()
                .await
                .map_err(|e| format!("{url} answered something else than rejections: {e}")),
            Ok(response) => Err(format!(
                "{url} answered {}: does the gateway have the same admin.token?",
                response.status()
            )),
            Err(e) => Err(format!(
                "the gateway's admin port {url} does not answer: {e}"
            )),
        };
        if last.as_ref() != Some(&got) {
            last = Some(got.clone());
            debugger.update(|state| match got {
                Ok(list) => {
                    state.rejections = list;
                    state.rejections_error = None;
                }
                Err(e) => state.rejections_error = Some(e),
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {},
            _ = shutdown.wait() => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, source: &str, n: i32) -> NormalizedEvent {
        NormalizedEvent {
            tenant: tenant.into(),
            source: source.into(),
            event_index: n,
            ..Default::default()
        }
    }

    #[test]
    fn memory_stays_bounded_whatever_arrives() {
        let mut state = State::default();
        for n in 0..10_000 {
            state.keep_event(event(&format!("t{}", n % 100), "s2s", n));
            state.keep_accepted(Accepted {
                batch_id: n.to_string(),
                received_at: 0,
                request_id: String::new(),
                content_type: String::new(),
                body: String::new(),
            });
        }
        assert_eq!(state.streams.len(), STREAMS);
        assert!(state.streams.values().all(|s| s.len() <= EVENTS_PER_STREAM));
        assert_eq!(state.accepted.len(), ACCEPTED_KEPT);
        assert_eq!(state.accepted_order.len(), ACCEPTED_KEPT);
        assert!(state.stream_seen.len() <= STREAMS);
    }

    #[test]
    fn the_sampler_admits_a_bounded_number_per_second() {
        let mut sampler = Sampler {
            window: Instant::now(),
            decoded: 0,
        };
        let admitted = (0..1000).filter(|_| sampler.admit()).count();
        assert_eq!(admitted, DECODES_PER_SECOND as usize);
    }
}
