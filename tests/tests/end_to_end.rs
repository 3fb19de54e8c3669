//! The first path end to end: seed 000 JSON -> gateway -> events.raw -> enricher ->
//! events.normalized -> sink -> ClickHouse `events`, on the real broker and ClickHouse.

use std::time::Duration;

use serde::Deserialize;
use tributary_tests::{seed_000_json, Pipeline};

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Stored {
    event_uid: String,
    tenant: String,
    source: String,
    event_id: Option<String>,
    event_name: String,
    event_category: Option<String>,
    event_time_ms: i64,
    client_time_raw: Option<String>,
    session_id: Option<String>,
    platform: Option<String>,
    user_id: Option<String>,
    user_key: String,
    name: Option<String>,
    phone_raw: Option<String>,
    country: Option<String>,
    country_raw: Option<String>,
    time_flags: Vec<String>,
    screen_name: Option<String>,
    duration_seconds: Option<i64>,
    region: Option<String>,
    city: Option<String>,
    zip: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    properties: String,
    raw: String,
}

const COLUMNS: &str = "event_uid, tenant, source, event_id, event_name, event_category, \
    event_time_ms, client_time_raw, session_id, platform, user_id, user_key, name, phone_raw, \
    country, country_raw, time_flags, \
    screen_name, duration_seconds, region, city, zip, latitude, longitude, properties, raw";

async fn post_json(pipeline: &Pipeline, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/analytics/events", pipeline.gateway_url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("gateway answers")
}

fn assert_seed_fields(row: &Stored, event_id: &str) {
    assert_eq!(row.tenant, "default");
    assert_eq!(row.source, "mobile_batch");
    assert_eq!(row.event_id.as_deref(), Some(event_id));
    assert_eq!(row.event_name, "sample string 2");
    assert_eq!(row.event_category.as_deref(), Some("sample string 3"));
    // timestamp_utc 4: epoch seconds.
    assert_eq!(row.event_time_ms, 4_000);
    assert_eq!(row.client_time_raw.as_deref(), Some("4"));
    assert_eq!(row.session_id.as_deref(), Some("sample string 5"));
    assert_eq!(row.platform.as_deref(), Some("sample string 6"));
    assert_eq!(row.user_id.as_deref(), Some("7"));
    assert_eq!(row.user_key, "7");
    assert_eq!(row.name.as_deref(), Some("sample string 8"));
    // Not a phone number, country or IP: kept as sent, never guessed.
    assert_eq!(row.phone_raw.as_deref(), Some("sample string 10"));
    assert_eq!(row.country, None);
    assert_eq!(row.country_raw.as_deref(), Some("sample string 13"));
    assert_eq!(row.time_flags, vec!["older_than_24h", "implausible_past"]);
    assert_eq!(row.screen_name.as_deref(), Some("sample string 11"));
    assert_eq!(row.duration_seconds, Some(1));
    assert_eq!(row.region.as_deref(), Some("sample string 14"));
    assert_eq!(row.city.as_deref(), Some("sample string 15"));
    assert_eq!(row.zip.as_deref(), Some("sample string 16"));
    assert_eq!(row.latitude, Some(1.1));
    assert_eq!(row.longitude, Some(1.1));
    let properties: serde_json::Value = serde_json::from_str(&row.properties).unwrap();
    assert_eq!(
        properties,
        serde_json::json!({"sample string 1": {}, "sample string 3": {}})
    );
    // Every field the client sent is kept as sent, country_code, country and ip included.
    let raw: serde_json::Value = serde_json::from_str(&row.raw).unwrap();
    assert_eq!(raw["event_id"], event_id);
    assert_eq!(raw["country_code"], "sample string 9");
    assert_eq!(raw["ip"], "sample string 12");
    assert_eq!(raw["country"], "sample string 13");
    assert_eq!(raw.as_object().unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_000_json_sample_lands_in_clickhouse_with_every_field() {
    let pipeline = Pipeline::new("seed000").await.start_all().await;

    // The sample as printed: its two events carry the same event_id, so they are one event
    // (same event_uid) and every documented query shows it once.
    let response = post_json(&pipeline, seed_000_json()).await;
    assert_eq!(response.status(), 202);
    assert!(response.headers().contains_key("x-request-id"));
    assert!(response.bytes().await.unwrap().is_empty());

    // The same sample with distinct ids: two events, two rows.
    let distinct = seed_000_json().replacen(
        "\"event_id\": \"sample string 1\"",
        "\"event_id\": \"sample string 1b\"",
        1,
    );
    assert_eq!(post_json(&pipeline, distinct).await.status(), 202);

    let seen = pipeline
        .wait_for_count(
            "SELECT count() FROM (SELECT event_uid FROM events GROUP BY event_uid)",
            2,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(seen, 2, "both distinct events should be queryable");

    let rows: Vec<Stored> = pipeline
        .clickhouse()
        .query(&format!(
            "SELECT {COLUMNS} FROM events ORDER BY event_id, received_at_ms LIMIT 1 BY event_uid"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_seed_fields(&rows[0], "sample string 1");
    assert_seed_fields(&rows[1], "sample string 1b");
    assert_ne!(rows[0].event_uid, rows[1].event_uid);

    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_batch_gets_400_and_nothing_is_stored() {
    let pipeline = Pipeline::new("invalid000").await.start_all().await;
    let body = r#"{"events":[{"event_id":"ok","event_name":"n","timestamp_utc":1},{"event_name":"no id"}]}"#;
    let response = post_json(&pipeline, body.into()).await;
    assert_eq!(response.status(), 400);
    let failures: serde_json::Value = response.json().await.unwrap();
    assert_eq!(failures[0]["index"], 1);
    assert_eq!(failures[0]["field"], "event_id");

    // A valid batch afterwards proves the pipeline ran; the invalid one left nothing.
    let ok = r#"{"events":[{"event_id":"after","event_name":"n","timestamp_utc":1}]}"#;
    assert_eq!(post_json(&pipeline, ok.into()).await.status(), 202);
    pipeline
        .wait_for_count("SELECT count() FROM events", 1, Duration::from_secs(60))
        .await;
    let ids: Vec<Option<String>> = pipeline
        .clickhouse()
        .query("SELECT event_id FROM events")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(ids, vec![Some("after".to_string())]);
    pipeline.stop().await;
}
