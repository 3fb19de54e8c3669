//! `tributary dlq`: the dead-letter topic for people. It reads every retained `DlqRecord`
//! (all partitions, oldest to newest), counts them, shows one decoded, replays selected ones to
//! the topic they came from, and purges those older than a cutoff.
//!
//! A dead letter is named by its position in the DLQ topic, `PARTITION/OFFSET` (`0/17`).
//! Replaying sends the message the stage could not process back to its source topic: the
//! letter's original bytes when they are that whole message (a `RawBatch` the enricher refused
//! whole), else the message read again at `source_topic/source_partition/source_offset` (a
//! batch with one refused event: the whole batch goes again, and its other events, already
//! stored, collapse onto their rows by `event_uid`). So replaying the same letters any number
//! of times stores each event once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tributary_schemas::{DlqRecord, RawBatch};
use tributary_service::KafkaConfig;

/// How long a read of the topic may wait on the broker before it is called unreachable.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// The Kafka header a replayed message carries: the dead letter it came from (`dlq/P/O`).
pub const REPLAY_HEADER: &str = "tributary-replay-of";

/// What went wrong, worded as what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("the broker at {brokers} did not answer within {timeout:?} ({cause}): is it running? `deploy/local/stack status` tells; point the tool at it with kafka.brokers or TRIBUTARY_KAFKA__BROKERS")]
    Unreachable {
        brokers: String,
        timeout: Duration,
        cause: String,
    },
    #[error("the topic {topic} does not exist on {brokers}: check kafka.topics.dlq (TRIBUTARY_KAFKA__TOPICS__DLQ)")]
    NoTopic { topic: String, brokers: String },
    #[error("unknown reason {given:?}: the dead letters carry {known}; `tributary dlq list` counts them")]
    UnknownReason { given: String, known: String },
    #[error("no dead letter {0}: ids are PARTITION/OFFSET as `tributary dlq list --records` prints them")]
    UnknownId(String),
    #[error("{0:?} is not a dead letter id: write PARTITION/OFFSET, e.g. 0/17")]
    BadId(String),
    #[error("name what to replay: --reason, --tenant, --stage, --since/--until or ids (or --all for every dead letter)")]
    NothingSelected,
    #[error("dead letter {id} cannot be replayed: {why}")]
    NotReplayable { id: String, why: String },
    #[error("the broker cannot delete records ({0}); Tansu 0.6, the local broker, has no Kafka DeleteRecords: set retention.ms on the DLQ topic instead")]
    NoDeleteRecords(String),
    #[error("the broker refused: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// One dead letter and where it sits in the DLQ topic.
#[derive(Debug, Clone)]
pub struct Letter {
    pub partition: i32,
    pub offset: i64,
    pub record: DlqRecord,
}

impl Letter {
    /// Its id, `PARTITION/OFFSET` in the DLQ topic.
    pub fn id(&self) -> String {
        format!("{}/{}", self.partition, self.offset)
    }
}

/// Which dead letters a command applies to; empty fields match everything.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Only this stage (`enricher`, `sink`).
    #[arg(long)]
    pub stage: Option<String>,
    /// Only this reason code (`undecodable_envelope`, `invalid_currency`, ...).
    #[arg(long)]
    pub reason: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only letters written at or after this time: RFC 3339 (`2026-11-30T10:00:00Z`) or an age
    /// (`2h`, `3days`).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only letters written before this time (same forms as --since).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
}

impl Filter {
    /// Whether any criterion is set.
    pub fn is_empty(&self) -> bool {
        self.stage.is_none()
            && self.reason.is_none()
            && self.tenant.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    pub fn matches(&self, letter: &Letter) -> bool {
        let r = &letter.record;
        self.stage.as_ref().is_none_or(|s| *s == r.stage)
            && self.reason.as_ref().is_none_or(|s| *s == r.reason)
            && self
                .tenant
                .as_ref()
                .is_none_or(|s| Some(s) == r.tenant.as_ref())
            && self.since.is_none_or(|t| r.failed_at >= t)
            && self.until.is_none_or(|t| r.failed_at < t)
    }

    /// Fail on a reason no letter carries (a typo would otherwise select nothing silently).
    pub fn check_reason(&self, letters: &[Letter]) -> Result<(), DlqError> {
        let Some(given) = &self.reason else {
            return Ok(());
        };
        let known: BTreeSet<&str> = letters.iter().map(|l| l.record.reason.as_str()).collect();
        if known.contains(given.as_str()) {
            return Ok(());
        }
        Err(DlqError::UnknownReason {
            given: given.clone(),
            known: if known.is_empty() {
                "no reason at all (the topic is empty)".into()
            } else {
                known.into_iter().collect::<Vec<_>>().join(", ")
            },
        })
    }
}

/// Epoch milliseconds from RFC 3339 or an age before now (`2h`).
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(age) = humantime::parse_duration(text) {
        return Ok(tributary_service::now_ms() - age.as_millis() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("{text:?} is neither an age (2h, 3days) nor RFC 3339 time"))
}

/// Parse `PARTITION/OFFSET`.
pub fn parse_id(text: &str) -> Result<(i32, i64), DlqError> {
    text.split_once('/')
        .and_then(|(p, o)| Some((p.trim().parse().ok()?, o.trim().parse().ok()?)))
        .ok_or_else(|| DlqError::BadId(text.into()))
}

fn client(kafka: &KafkaConfig) -> Result<ClientConfig, rdkafka::error::KafkaError> {
    let mut client = tributary_service::kafka::client_config(kafka)?;
    client
        .set("group.id", "tributary-dlq-tool")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in &kafka.properties {
        client.set(key, value);
    }
    Ok(client)
}

fn unreachable(kafka: &KafkaConfig, cause: impl ToString) -> DlqError {
    DlqError::Unreachable {
        brokers: kafka.brokers.clone(),
        timeout: BROKER_TIMEOUT,
        cause: cause.to_string(),
    }
}

/// The partitions of `topic` with their low and high watermarks.
fn watermarks(
    consumer: &BaseConsumer,
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<Vec<(i32, i64, i64)>, DlqError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| unreachable(kafka, e))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(DlqError::NoTopic {
            topic: topic.into(),
            brokers: kafka.brokers.clone(),
        });
    }
    partitions
        .into_iter()
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, BROKER_TIMEOUT)
                .map_err(|e| unreachable(kafka, e))?;
            Ok((p, low, high))
        })
        .collect()
}

/// Read every retained dead letter of `kafka.topics.dlq`, by partition and offset. Records
/// that do not decode are reported on stderr and skipped. Blocking.
pub fn read_all(kafka: &KafkaConfig) -> Result<Vec<Letter>, DlqError> {
    let topic = &kafka.topics.dlq;
    let consumer: BaseConsumer = client(kafka)?.create()?;
    let marks = watermarks(&consumer, kafka, topic)?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for &(partition, low, high) in &marks {
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
            remaining.insert(partition, high);
        }
    }
    let mut letters = Vec::new();
    if remaining.is_empty() {
        return Ok(letters);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + BROKER_TIMEOUT;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(unreachable(kafka, "reading the topic stalled"));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let (partition, offset) = (message.partition(), message.offset());
        if remaining
            .get(&partition)
            .is_some_and(|&high| offset + 1 >= high)
        {
            remaining.remove(&partition);
        }
        match tributary_schemas::decode::<DlqRecord>(message.payload().unwrap_or_default()) {
            Ok(record) => letters.push(Letter {
                partition,
                offset,
                record,
            }),
            Err(error) => eprintln!("skipping {partition}/{offset}: not a DlqRecord ({error})"),
        }
    }
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(letters)
}

/// Letters picked by `ids` (when any) and `filter`. Errors on an unknown id or reason.
pub fn select<'a>(
    letters: &'a [Letter],
    filter: &Filter,
    ids: &[String],
) -> Result<Vec<&'a Letter>, DlqError> {
    filter.check_reason(letters)?;
    let mut wanted = BTreeSet::new();
    for id in ids {
        let position = parse_id(id)?;
        if !letters.iter().any(|l| (l.partition, l.offset) == position) {
            return Err(DlqError::UnknownId(id.clone()));
        }
        wanted.insert(position);
    }
    Ok(letters
        .iter()
        .filter(|l| wanted.is_empty() || wanted.contains(&(l.partition, l.offset)))
        .filter(|l| filter.matches(l))
        .collect())
}

/// Counts by hour (UTC), stage, reason and tenant.
pub fn counts(letters: &[&Letter]) -> BTreeMap<(String, String, String, String), usize> {
    let mut counts = BTreeMap::new();
    for letter in letters {
        let r = &letter.record;
        let key = (
            hour(r.failed_at),
            r.stage.clone(),
            r.reason.clone(),
            r.tenant.clone().unwrap_or_else(|| "-".into()),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn hour(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:00").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// ISO 8601 UTC with milliseconds.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The `list` table: one line per hour, stage, reason and tenant, then the total.
pub fn render_counts(letters: &[&Letter]) -> String {
    let mut out = format!(
        "{:<17} {:<9} {:<28} {:<16} {:>7}\n",
        "hour (UTC)", "stage", "reason", "tenant", "letters"
    );
    for ((hour, stage, reason, tenant), n) in counts(letters) {
        out += &format!("{hour:<17} {stage:<9} {reason:<28} {tenant:<16} {n:>7}\n");
    }
    out += &format!("total: {}\n", letters.len());
    out
}

/// One line per letter: id, time, stage, reason, tenant, event_uid.
pub fn render_records(letters: &[&Letter]) -> String {
    letters
        .iter()
        .map(|l| {
            let r = &l.record;
            format!(
                "{:<8} {} {:<9} {:<28} {:<16} {}\n",
                l.id(),
                iso(r.failed_at),
                r.stage,
                r.reason,
                r.tenant.as_deref().unwrap_or("-"),
                r.event_uid.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// The original bytes as the client sent them: a `RawBatch`'s body (inflated), else the
/// bytes themselves; JSON pretty-printed, other text as is, binary as hex.
pub fn original_as_sent(record: &DlqRecord) -> (Option<RawBatch>, String) {
    let batch = tributary_schemas::decode::<RawBatch>(&record.original).ok();
    let bytes = match &batch {
        Some(batch) => batch
            .body_bytes()
            .unwrap_or_else(|_| record.original.clone()),
        None => record.original.clone(),
    };
    (batch, pretty(&bytes))
}

/// JSON pretty-printed, other UTF-8 as is, else hex.
pub fn pretty(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return serde_json::to_string_pretty(&value).unwrap_or_default();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// The `show` page of one letter.
pub fn render_letter(letter: &Letter) -> String {
    let r = &letter.record;
    let (batch, original) = original_as_sent(r);
    let mut out = format!(
        "dead letter  {} (topic position)\nstage        {}\nreason       {}\ndetail       {}\nfailed at    {}\nsource       {} partition {} offset {}\ntenant       {}\nevent_uid    {}\n",
        letter.id(),
        r.stage,
        r.reason,
        r.detail,
        iso(r.failed_at),
        r.source_topic,
        r.source_partition,
        r.source_offset,
        r.tenant.as_deref().unwrap_or("-"),
        r.event_uid.as_deref().unwrap_or("-"),
    );
    if let Some(batch) = &batch {
        out += &format!(
            "request      {} {} batch {} received {} request_id {} content-type {}\n",
            batch.source,
            batch.tenant,
            batch.batch_id,
            iso(batch.received_at),
            batch.request_id,
            batch.content_type
        );
    }
    out += &format!(
        "replayable   {}\n\n{}\n",
        match replay_plan(letter) {
            Ok(ReplayFrom::Original) => "yes (its original bytes are the whole message)".into(),
            Ok(ReplayFrom::Source) => format!(
                "yes (the message at {}/{}/{}, while retained)",
                r.source_topic, r.source_partition, r.source_offset
            ),
            Err(e) => format!("no: {e}"),
        },
        original
    );
    out
}

/// Where a replay takes the message from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The letter's original bytes are the whole refused message.
    Original,
    /// The message is read again from its source topic position.
    Source,
}

/// How `letter` can be replayed, or why not.
pub fn replay_plan(letter: &Letter) -> Result<ReplayFrom, DlqError> {
    let r = &letter.record;
    if r.stage == "enricher" && tributary_schemas::decode::<RawBatch>(&r.original).is_ok() {
        return Ok(ReplayFrom::Original);
    }
    if r.source_partition >= 0 && r.source_offset >= 0 {
        return Ok(ReplayFrom::Source);
    }
    Err(DlqError::NotReplayable {
        id: letter.id(),
        why: format!(
            "the {} refused rows gathered from several messages ({}); fix the cause and resend them from the original client",
            r.stage, r.reason
        ),
    })
}

/// Read the message at `topic/partition/offset` again: its key and value. Blocking.
fn read_source(
    kafka: &KafkaConfig,
    letter: &Letter,
) -> Result<(Option<Vec<u8>>, Vec<u8>), DlqError> {
    let r = &letter.record;
    let consumer: BaseConsumer = client(kafka)?.create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(
        &r.source_topic,
        r.source_partition,
        Offset::Offset(r.source_offset),
    )?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + BROKER_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            if message.offset() == r.source_offset {
                return Ok((
                    message.key().map(<[u8]>::to_vec),
                    message.payload().unwrap_or_default().to_vec(),
                ));
            }
            break;
        }
    }
    Err(DlqError::NotReplayable {
        id: letter.id(),
        why: format!(
            "its message {}/{}/{} is no longer retained",
            r.source_topic, r.source_partition, r.source_offset
        ),
    })
}

/// The message a replay of `letter` sends to its source topic: key and value.
pub async fn replay_message(
    kafka: &KafkaConfig,
    letter: &Letter,
) -> Result<(Option<Vec<u8>>, Vec<u8>), DlqError> {
    match replay_plan(letter)? {
        ReplayFrom::Original => {
            let key = tributary_schemas::decode::<RawBatch>(&letter.record.original)
                .ok()
                .map(|b| b.batch_id.into_bytes());
            Ok((key, letter.record.original.clone()))
        }
        ReplayFrom::Source => {
            let (kafka, letter) = (kafka.clone(), letter.clone());
            tokio::task::spawn_blocking(move || read_source(&kafka, &letter))
                .await
                .expect("reading the source message does not panic")
        }
    }
}

/// Replays letters: sends each one's message back to its source topic, acknowledged by the
/// broker (acks=all) before the next. Each message carries [`REPLAY_HEADER`].
pub struct Replayer {
    kafka: KafkaConfig,
    producer: tributary_service::producer::KafkaProducer,
}

impl Replayer {
    pub fn new(kafka: &KafkaConfig) -> Result<Replayer, DlqError> {
        Ok(Replayer {
            kafka: kafka.clone(),
            producer: tributary_service::kafka::producer(kafka)?,
        })
    }

    /// Replay one letter; returns the topic it went to.
    pub async fn replay(&self, letter: &Letter) -> Result<String, DlqError> {
        let (key, value) = replay_message(&self.kafka, letter).await?;
        let topic = letter.record.source_topic.clone();
        let of = format!("dlq/{}", letter.id());
        let mut record = FutureRecord::<[u8], [u8]>::to(&topic)
            .payload(&value)
            .headers(OwnedHeaders::new().insert(Header {
                key: REPLAY_HEADER,
                value: Some(of.as_bytes()),
            }));
        if let Some(key) = &key {
            record = record.key(key);
        }
        self.producer
            .send(record, BROKER_TIMEOUT)
            .await
            .map_err(|(error, _)| DlqError::Kafka(error))?;
        Ok(topic)
    }
}

/// What `purge` removes: per partition, the offset before which every letter is older than
/// the cutoff (letters are in time order within a partition; the first newer one stops it).
pub fn purge_points(letters: &[Letter], older_than_ms: i64) -> BTreeMap<i32, (i64, usize)> {
    let mut points: BTreeMap<i32, (i64, usize)> = BTreeMap::new();
    let mut stopped = BTreeSet::new();
    for letter in letters {
        if stopped.contains(&letter.partition) {
            continue;
        }
        if letter.record.failed_at < older_than_ms {
            let entry = points.entry(letter.partition).or_insert((0, 0));
            *entry = (letter.offset + 1, entry.1 + 1);
        } else {
            stopped.insert(letter.partition);
        }
    }
    points
}

/// Delete every record before each partition's point (Kafka DeleteRecords).
pub async fn purge(
    kafka: &KafkaConfig,
    points: &BTreeMap<i32, (i64, usize)>,
) -> Result<(), DlqError> {
    if !kafka.delete_records {
        return Err(DlqError::NoDeleteRecords(
            "kafka.delete_records is false in this config".into(),
        ));
    }
    let admin: AdminClient<DefaultClientContext> = client(kafka)?.create()?;
    let mut offsets = TopicPartitionList::new();
    for (&partition, &(before, _)) in points {
        offsets.add_partition_offset(&kafka.topics.dlq, partition, Offset::Offset(before))?;
    }
    let result = admin
        .delete_records(
            &offsets,
            &AdminOptions::new().request_timeout(Some(BROKER_TIMEOUT)),
        )
        .await?;
    for element in result.elements() {
        if let Err(error) = element.error() {
            return Err(DlqError::NoDeleteRecords(error.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(partition: i32, offset: i64, reason: &str, failed_at: i64) -> Letter {
        Letter {
            partition,
            offset,
            record: DlqRecord {
                stage: "enricher".into(),
                reason: reason.into(),
                detail: String::new(),
                source_topic: "events.raw".into(),
                source_partition: 0,
                source_offset: offset,
                tenant: Some("acme".into()),
                event_uid: None,
                failed_at,
                original: b"{\"a\":1}".to_vec(),
            },
        }
    }

    #[test]
    fn an_unknown_reason_or_id_is_an_error_that_names_what_exists() {
        let letters = vec![letter(0, 1, "invalid_currency", 0)];
        let filter = Filter {
            reason: Some("invalid_curency".into()),
            ..Default::default()
        };
        let err = select(&letters, &filter, &[]).unwrap_err().to_string();
        assert!(err.contains("invalid_currency"), "{err}");
        let err = select(&letters, &Filter::default(), &["0/2".into()]).unwrap_err();
        assert!(matches!(err, DlqError::UnknownId(_)));
        let err = select(&letters, &Filter::default(), &["x".into()]).unwrap_err();
        assert!(matches!(err, DlqError::BadId(_)));
        assert_eq!(
            select(&letters, &Filter::default(), &["0/1".into()])
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn counts_group_by_hour_stage_reason_and_tenant() {
        let hour = 3_600_000;
        let letters = [
            letter(0, 1, "a", 10),
            letter(0, 2, "a", 20),
            letter(1, 1, "a", hour + 1),
            letter(1, 2, "b", hour + 2),
        ];
        let refs: Vec<&Letter> = letters.iter().collect();
        let counts = counts(&refs);
        assert_eq!(counts.len(), 3);
        assert_eq!(counts.values().sum::<usize>(), 4);
        assert!(render_counts(&refs).contains("1970-01-01 00:00"));
    }

    #[test]
    fn purge_stops_at_the_first_newer_letter_of_each_partition() {
        let letters = [
            letter(0, 5, "a", 1),
            letter(0, 6, "a", 2),
            letter(0, 7, "a", 100),
            letter(0, 8, "a", 3),
            letter(1, 0, "a", 100),
        ];
        let points = purge_points(&letters, 50);
        assert_eq!(points, BTreeMap::from([(0, (7, 2))]));
    }

    #[test]
    fn sink_letters_of_gathered_rows_are_not_replayable_and_say_why() {
        let mut l = letter(0, 1, "clickhouse_rejected", 0);
        l.record.stage = "sink".into();
        l.record.source_partition = -1;
        l.record.source_offset = -1;
        let err = replay_plan(&l).unwrap_err().to_string();
        assert!(err.contains("resend"), "{err}");
        assert_eq!(
            replay_plan(&letter(0, 1, "x", 0)).unwrap(),
            ReplayFrom::Source
        );
    }
}
