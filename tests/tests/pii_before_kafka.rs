//! `hash_before_kafka` (issue 20) through the real broker and ClickHouse: with the option on,
//! no clear value of a hashed field is in any topic's bytes (raw, normalized, dead letters),
//! decoded and decompressed, nor in the stored rows; and the rows hold the hashes and
//! `user_key`s the enricher gives the same requests in clear (the same salt and rules).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tributary_enricher::config::TenantSettings;
use tributary_schemas::{DlqRecord, NormalizedBatch, RawBatch};
use tributary_service::pii::hash_pii;
use tributary_tests::{fixture, Pipeline};

const S2S_TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";
const ACTIVITY_KEY: &str = "demo-netcore-key";
const SALT: &str = "pepper";

/// Lowercase pieces of every clear value sent below; none may appear anywhere.
const CLEAR: &[&str] = &[
    "98765",
    "203.0.113.",
    "2001:db8",
    "127.0.0.1",
    "jane",
    "@example",
];

fn settings() -> TenantSettings {
    TenantSettings {
        hash_fields: vec!["email".into(), "phone".into(), "ip".into(), "name".into()],
        hash_salt: Some(SALT.into()),
        hash_before_kafka: true,
        ..Default::default()
    }
}

async fn post(pipeline: &Pipeline, path: &str, content_type: &str, body: String, auth: &str) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", pipeline.gateway_url))
        .header("content-type", content_type)
        .body(body);
    if !auth.is_empty() {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status();
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// Every family and body format, with each kind of PII: 9 events (the XML sample's two share
/// their `event_id`, so they are one stored event).
async fn send_requests(pipeline: &Pipeline) {
    let json = json!({"events": [{"event_id": "m1", "event_name": "login",
        "timestamp_utc": 1700000000, "mobile_number": "+91 98765 43210", "ip": "203.0.113.7",
        "name": "Jane Doe"}]});
    post(
        pipeline,
        "/api/analytics/events",
        "application/json",
        json.to_string(),
        "",
    )
    .await;
    let xml = fixture("000_mobile_batch/request.xml")
        .replace(
            "sample string 10</d2p1:mobile_number>",
            "+91 98765 43212</d2p1:mobile_number>",
        )
        .replace("sample string 12</d2p1:ip>", "203.0.113.8</d2p1:ip>")
        .replace("sample string 8</d2p1:name>", "Jane Xml</d2p1:name>");
    post(
        pipeline,
        "/api/analytics/events",
        "application/xml",
        xml,
        "",
    )
    .await;
    let form = "events[0].event_id=f1&events[0].event_name=open&events[0].timestamp_utc=1700000000\
                &events[0].mobile_number=%2B91+98765+43211&events[0].ip=2001:db8::7\
                &events[0].name=Jane+Form";
    post(
        pipeline,
        "/api/analytics/events",
        "application/x-www-form-urlencoded",
        form.into(),
        "",
    )
    .await;
    let revenue = json!([
        {"customUserId": "1111", "idTransaction": "o1", "currency": "USD", "total": 1.99,
         "eventTimestamp": 1700000000, "ipv4": "203.0.113.10"},
        {"customUserId": "2222", "idTransaction": "o2", "currency": "INR", "total": 2,
         "eventTimestamp": 1700000001, "ipv4": "203.0.113.11"}
    ]);
    post(
        pipeline,
        "/v1/customRevenueBatch/?idApp=666",
        "application/json",
        revenue.to_string(),
        S2S_TOKEN,
    )
    .await;
    let activities = json!([
        {"asset_id": "a", "activity_name": "buy", "timestamp": "2024-05-01T10:00:00Z",
         "identity": "Jane.Doe@Example.com", "activity_source": "web", "activity_params": {}},
        {"asset_id": "a", "activity_name": "buy", "timestamp": "2024-05-01T10:00:00Z",
         "identity": "+919876543210", "activity_source": "app", "activity_params": {}}
    ]);
    post(
        pipeline,
        "/v1/activity/upload",
        "application/json",
        activities.to_string(),
        &format!("Bearer {ACTIVITY_KEY}"),
    )
    .await;
    let lead = json!({"customer_id": "c1", "lead_id": "l1", "user_id": "u1",
        "tool_signature": "t", "recording_id": "r", "event_type": "view", "event_id": "ev1"});
    post(
        pipeline,
        "/api/v1/lead_analytics",
        "application/json",
        lead.to_string(),
        "",
    )
    .await;
}

/// Panics when `text` (lowercased) holds a clear value.
fn assert_no_clear_value(what: &str, text: &str) {
    let text = text.to_lowercase();
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what} holds {clear:?}: {text}");
    }
}

/// A record's bytes as stored, and each layer under them decoded and decompressed.
fn every_layer(payload: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(payload).into_owned();
    if let Ok(batch) = tributary_schemas::decode::<RawBatch>(payload) {
        text.push_str(&format!("{batch:?}"));
        text.push_str(&String::from_utf8_lossy(&batch.body_bytes().expect("body")));
    }
    if let Ok(batch) = tributary_schemas::decode::<NormalizedBatch>(payload) {
        text.push_str(&format!("{batch:?}"));
    }
    if let Ok(letter) = tributary_schemas::decode::<DlqRecord>(payload) {
        text.push_str(&format!("{letter:?}"));
        text.push_str(&every_layer(&letter.original));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn with_hashing_before_kafka_no_clear_value_reaches_any_topic_or_row() {
    let mut pipeline = Pipeline::new("pii_before_kafka").await;
    let tenants = BTreeMap::from([("default".to_string(), settings())]);
    let gateway_tenants = tenants.clone();
    pipeline
        .start_gateway_with(|config| config.enricher.tenants = gateway_tenants)
        .await;
    pipeline.start_enricher_with(|config| config.enricher.tenants = tenants);
    pipeline.start_sink().await;
    send_requests(&pipeline).await;
    let stored = pipeline
        .wait_for_count(
            "SELECT uniqExact(event_uid) FROM events",
            8,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(stored, 8, "8 distinct events sent");

    // Every topic, every layer: the raw requests, the normalized events, the dead letter.
    let topics = pipeline.kafka.topics.clone();
    let raw = pipeline.topic_payloads(&topics.raw).await;
    assert_eq!(raw.len(), 6, "one record per request");
    for payload in &raw {
        let batch: RawBatch = tributary_schemas::decode(payload).expect("a RawBatch");
        assert_eq!(
            batch.content_type,
            tributary_normalize::before_kafka::CONTENT_TYPE
        );
        assert_eq!(batch.client_ip, Some(hash_pii(SALT, "127.0.0.1")));
        assert_no_clear_value("events.raw", &every_layer(payload));
    }
    let normalized = pipeline.topic_payloads(&topics.normalized).await;
    let events: usize = normalized
        .iter()
        .map(|p| {
            let batch: NormalizedBatch = tributary_schemas::decode(p).expect("a NormalizedBatch");
            batch.events.len()
        })
        .sum();
    assert_eq!(events, 9, "both events of the XML sample");
    for payload in &normalized {
        assert_no_clear_value("events.normalized", &every_layer(payload));
    }
    // Nothing is dead-lettered: the gateway refuses revenue it could not store
    // (`tributary_wire::s2s::check_storable`) instead of accepting it.
    assert!(pipeline.topic_payloads(&topics.dlq).await.is_empty());

    // Nor in ClickHouse, and the rows hold what the enricher makes of the clear requests.
    let rows: Vec<String> = pipeline
        .clickhouse()
        .query("SELECT toJSONString(tuple(*)) FROM events")
        .fetch_all()
        .await
        .unwrap();
    assert_no_clear_value("the events table", &rows.join("\n"));
    let (user_key, email, hashed): (String, Option<String>, String) = pipeline
        .clickhouse()
        .query(
            "SELECT user_key, email, arrayStringConcat(hashed_fields, ',') FROM events \
             WHERE source = 'activity.upload' AND platform = 'web'",
        )
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(user_key, hash_pii(SALT, "Jane.Doe@Example.com"));
    assert_eq!(email, Some(hash_pii(SALT, "jane.doe@example.com")));
    assert_eq!(hashed, "email,ip");
    let (phone, ip, sender_ip): (Option<String>, Option<String>, Option<String>) = pipeline
        .clickhouse()
        .query("SELECT phone, ip, sender_ip FROM events WHERE event_id = 'm1'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(phone, Some(hash_pii(SALT, "+919876543210")));
    assert_eq!(ip, Some(hash_pii(SALT, "203.0.113.7")));
    assert_eq!(sender_ip, Some(hash_pii(SALT, "127.0.0.1")));
    pipeline.stop().await;
}
