//! Poison input on every topic: undecodable bytes, an empty message, valid envelopes whose
//! body, source or encoding is garbage, an event the enricher cannot normalize, one the
//! sink cannot store, and Avro length bombs (a few bytes claiming millions of entries). Each must land in the DLQ with its own reason (and the original bytes),
//! and good events sent before and after must still reach ClickHouse.
//!
//! By default the test runs its own pipeline in-process (like every other test here).
//! `scripts/faults.sh` runs it against its fault stack and the release services instead, by
//! setting `TRIBUTARY_POISON_GATEWAY` (the gateway URL) and `TRIBUTARY_POISON_DATABASE`
//! (topics: `TRIBUTARY_KAFKA__TOPICS__{RAW,NORMALIZED,DLQ}`, default `events.*`). Every case
//! prints one `POISON|...` line, which the fault suite shows in its table.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tributary_schemas::{Contract, DlqRecord, NormalizedBatch, NormalizedEvent, RawBatch};
use tributary_service::{ClickHouseConfig, Topics};
use tributary_tests::{Pipeline, Stack};

/// Where the poison goes: the test's own pipeline, or the services of the fault suite.
struct Target {
    brokers: String,
    topics: Topics,
    gateway_url: String,
    clickhouse: clickhouse::Client,
    pipeline: Option<Pipeline>,
}

async fn target() -> Target {
    match std::env::var("TRIBUTARY_POISON_GATEWAY") {
        Ok(gateway_url) => {
            let stack = Stack::from_env();
            let env = |key: &str, default: &str| std::env::var(key).unwrap_or(default.into());
            let topics = Topics {
                raw: env("TRIBUTARY_KAFKA__TOPICS__RAW", "events.raw"),
                normalized: env("TRIBUTARY_KAFKA__TOPICS__NORMALIZED", "events.normalized"),
                dlq: env("TRIBUTARY_KAFKA__TOPICS__DLQ", "events.dlq"),
            };
            let clickhouse = tributary_sink::clickhouse_client(&ClickHouseConfig {
                url: stack.clickhouse_url.clone(),
                database: env("TRIBUTARY_POISON_DATABASE", "tributary"),
                ..Default::default()
            });
            Target {
                brokers: stack.brokers,
                topics,
                gateway_url,
                clickhouse,
                pipeline: None,
            }
        }
        Err(_) => {
            let pipeline = Pipeline::new("poison").await.start_all().await;
            Target {
                brokers: pipeline.kafka.brokers.clone(),
                topics: pipeline.kafka.topics.clone(),
                gateway_url: pipeline.gateway_url.clone(),
                clickhouse: pipeline.clickhouse(),
                pipeline: Some(pipeline),
            }
        }
    }
}

/// One poison message and the DLQ record it must produce.
struct Case {
    name: &'static str,
    topic: String,
    payload: Option<Vec<u8>>,
    stage: &'static str,
    reason: &'static str,
    /// For failures of one event (the rest of its message goes on): the event's uid.
    event_uid: Option<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn raw_batch(source: &str, encoding: &str, body: &[u8]) -> RawBatch {
    RawBatch {
        batch_id: uuid::Uuid::now_v7().to_string(),
        source: source.into(),
        tenant: "default".into(),
        received_at: now_ms(),
        request_id: "poison".into(),
        client_ip: Some("127.0.0.1".into()),
        user_agent: None,
        content_type: "application/json".into(),
        body_encoding: encoding.into(),
        body: body.to_vec(),
        attributes: HashMap::from([("idApp".to_string(), "666".to_string())]),
    }
}

fn normalized_event(uid: &str, tag: &str, revenue: Option<&str>) -> NormalizedEvent {
    NormalizedEvent {
        event_uid: uid.into(),
        tenant: "default".into(),
        source: "mobile_batch".into(),
        batch_id: uuid::Uuid::now_v7().to_string(),
        event_id: Some(uid.into()),
        event_name: tag.into(),
        event_time: now_ms(),
        received_at: now_ms(),
        user_key: "poison".into(),
        user_key_kind: "user_id".into(),
        revenue_amount: revenue.map(str::to_string),
        currency: revenue.map(|_| "USD".to_string()),
        properties: "{}".into(),
        raw: "{}".into(),
        ..Default::default()
    }
}

/// Every DLQ record from the beginning of `topic` until `done` says enough arrived.
fn read_dlq(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[DlqRecord]) -> bool,
) -> Vec<DlqRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("poison-reader-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    // Assigned, not subscribed: no group join to wait for.
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while Instant::now() < deadline && !done(&records) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            match tributary_schemas::decode::<DlqRecord>(message.payload().unwrap_or_default()) {
                Ok(record) => records.push(record),
                Err(e) => panic!("a DLQ message does not decode as DlqRecord: {e}"),
            }
        }
    }
    records
}

async fn count(client: &clickhouse::Client, tag: &str) -> u64 {
    client
        .query("SELECT uniqExact(event_uid) FROM events WHERE event_name = ?")
        .bind(tag)
        .fetch_one()
        .await
        .unwrap_or(0)
}

async fn post_good_batch(target: &Target, tag: &str, first: usize) {
    let events: Vec<_> = (first..first + 10)
        .map(|i| {
            serde_json::json!({"event_id": format!("{tag}-{i}"), "event_name": tag,
                "timestamp_utc": now_ms() / 1000})
        })
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{}/api/analytics/events", target.gateway_url))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "events": events }).to_string())
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(
        response.status(),
        202,
        "a good batch must still be accepted"
    );
}

/// Produce every case, then read the DLQ until each has its record; print one line per case
/// and return the names of those without a record of the expected stage and reason.
async fn poison_round(target: &Target, cases: &[Case]) -> Vec<&'static str> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("acks", "all")
        .create()
        .unwrap();
    let mut sent = Vec::new();
    for case in cases {
        let mut record = FutureRecord::<str, [u8]>::to(&case.topic).key("poison");
        if let Some(payload) = &case.payload {
            record = record.payload(payload);
        }
        let delivery = producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("poison produced");
        sent.push((delivery.partition, delivery.offset));
    }
    let matches =
        |case: &Case, (partition, offset): (i32, i64), r: &DlqRecord| match &case.event_uid {
            Some(uid) => r.event_uid.as_deref() == Some(uid.as_str()),
            None => {
                r.source_topic == case.topic
                    && r.source_partition == partition
                    && r.source_offset == offset
            }
        };
    let records = read_dlq(
        &target.brokers,
        &target.topics.dlq,
        Duration::from_secs(60),
        |records| {
            cases
                .iter()
                .zip(&sent)
                .all(|(case, at)| records.iter().any(|r| matches(case, *at, r)))
        },
    );
    let mut missing = Vec::new();
    for (case, at) in cases.iter().zip(&sent) {
        let found = records.iter().find(|r| matches(case, *at, r));
        let got = found.map_or("nothing".to_string(), |r| {
            format!("{}/{}: {}", r.stage, r.reason, r.detail)
        });
        println!(
            "POISON|{:<34} -> {:<18} expected {}/{:<20} got {}",
            case.name,
            case.topic,
            case.stage,
            case.reason,
            got.chars().take(90).collect::<String>()
        );
        match found {
            Some(r) if r.stage == case.stage && r.reason == case.reason => {
                if case.event_uid.is_none() {
                    assert_eq!(
                        r.original,
                        case.payload.clone().unwrap_or_default(),
                        "{}: the DLQ keeps the original bytes",
                        case.name
                    );
                }
            }
            _ => missing.push(case.name),
        }
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_on_every_topic_lands_in_the_dlq_with_its_reason_and_the_pipeline_keeps_flowing() {
    let target = target().await;
    let tag = format!("poison_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (raw, normalized) = (&target.topics.raw, &target.topics.normalized);

    post_good_batch(&target, &tag, 0).await;

    let revenue_item = |transaction: &str, currency: &str| {
        serde_json::json!({"customUserId": format!("{tag}-rev"), "eventTimestamp": 1700000000,
            "idTransaction": format!("{tag}-{transaction}"), "currency": currency, "total": "2.50"})
    };
    let unknown_currency =
        serde_json::json!([revenue_item("bad", "ABC"), revenue_item("good", "USD")]).to_string();
    let bad_currency_uid = tributary_normalize::sources::uid_from_client_id(
        "default",
        "s2s.customRevenue",
        &format!("{tag}-bad"),
    );
    let nan_uid = format!("{tag}-nan");
    let encode_raw = |batch: RawBatch| tributary_schemas::encode(&batch).unwrap();
    let cases = vec![
        Case {
            name: "raw: undecodable bytes",
            topic: raw.clone(),
            payload: Some(b"\x00\xffthis is not avro".to_vec()),
            stage: "enricher",
            reason: "undecodable_envelope",
            event_uid: None,
        },
        Case {
            name: "raw: message without value",
            topic: raw.clone(),
            payload: None,
            stage: "enricher",
            reason: "empty_message",
            event_uid: None,
        },
        Case {
            name: "raw: envelope, garbage body",
            topic: raw.clone(),
            payload: Some(encode_raw(raw_batch(
                "mobile_batch",
                "identity",
                b"{\"events\": [ garbage",
            ))),
            stage: "enricher",
            reason: "invalid_body",
            event_uid: None,
        },
        Case {
            name: "raw: envelope, unknown source",
            topic: raw.clone(),
            payload: Some(encode_raw(raw_batch("carrier_pigeon", "identity", b"{}"))),
            stage: "enricher",
            reason: "unknown_source",
            event_uid: None,
        },
        Case {
            name: "raw: envelope, corrupt zstd body",
            topic: raw.clone(),
            payload: Some(encode_raw(raw_batch(
                "mobile_batch",
                "zstd",
                b"\x28\xb5\x2f\xfd garbage",
            ))),
            stage: "enricher",
            reason: "body_encoding",
            event_uid: None,
        },
        Case {
            name: "raw: event with unknown currency",
            topic: raw.clone(),
            payload: Some(encode_raw(raw_batch(
                "s2s.customRevenueBatch",
                "identity",
                unknown_currency.as_bytes(),
            ))),
            stage: "enricher",
            reason: "invalid_currency",
            event_uid: Some(bad_currency_uid),
        },
        Case {
            name: "normalized: undecodable bytes",
            topic: normalized.clone(),
            payload: Some(b"\xc3\x01 not a normalized batch".to_vec()),
            stage: "sink",
            reason: "undecodable_message",
            event_uid: None,
        },
        Case {
            name: "normalized: revenue NaN",
            topic: normalized.clone(),
            payload: Some(
                tributary_schemas::encode(&NormalizedBatch {
                    events: vec![
                        normalized_event(&nan_uid, &tag, Some("NaN")),
                        normalized_event(&format!("{tag}-beside-nan"), &tag, None),
                    ],
                })
                .unwrap(),
            ),
            stage: "sink",
            reason: "unstorable_event",
            event_uid: Some(nan_uid.clone()),
        },
    ];

    let mut missing = poison_round(&target, &cases).await;
    post_good_batch(&target, &tag, 10).await;

    // Avro length bombs: a valid header, then an array or map claiming ~537M entries in 7
    // bytes. apache-avro 0.20 reserves count x 56 bytes before reading any (30 GB for the
    // array, 87 GB for the map) and the allocation failure aborts the process: every consumer
    // that reads one dies, restarts and reads it again. Sent last, so the cases above are
    // judged first.
    let length_bomb = [0xfb, 0xff, 0xff, 0xff, 0x03, 0x2c, 0x81];
    let framed = |fingerprint: [u8; 8], before: &[u8]| {
        let mut bytes = vec![0xC3, 0x01];
        bytes.extend_from_slice(&fingerprint);
        bytes.extend_from_slice(before);
        bytes.extend_from_slice(&length_bomb);
        bytes
    };
    let bombs = vec![
        Case {
            name: "raw: Avro map length bomb",
            topic: raw.clone(),
            // Ten empty or null fields, then the `attributes` map.
            payload: Some(framed(RawBatch::fingerprint(), &[0; 10])),
            stage: "enricher",
            reason: "undecodable_envelope",
            event_uid: None,
        },
        Case {
            name: "normalized: Avro array length bomb",
            topic: normalized.clone(),
            payload: Some(framed(NormalizedBatch::fingerprint(), &[])),
            stage: "sink",
            reason: "undecodable_message",
            event_uid: None,
        },
    ];
    missing.extend(poison_round(&target, &bombs).await);
    post_good_batch(&target, &tag, 20).await;

    // Good events before and after the poison, and the good halves of the two poisoned
    // messages, all reach ClickHouse.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut stored, mut revenue) = (0, 0);
    while Instant::now() < deadline {
        stored = count(&target.clickhouse, &tag).await;
        revenue = target
            .clickhouse
            .query("SELECT count() FROM events WHERE transaction_id = ?")
            .bind(format!("{tag}-good"))
            .fetch_one::<u64>()
            .await
            .unwrap_or(0);
        if stored >= 31 && revenue >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!(
        "POISON|good events around the poison: {stored} of 31 stored; \
         the good revenue event beside the bad currency: {revenue}"
    );

    if let Some(pipeline) = target.pipeline {
        pipeline.stop().await;
    }
    assert!(
        missing.is_empty(),
        "no DLQ record with the expected reason for {missing:?}"
    );
    assert_eq!(stored, 31, "good events must keep flowing past poison");
    assert!(
        revenue >= 1,
        "the good event of a message with a bad one is stored"
    );
}
