//! What real SDKs, integrations and upload tools send, beyond the documents' examples, through
//! the real gateway, broker, enricher, sink and ClickHouse: ids sent as JSON numbers keep
//! every digit, the sender's address and User-Agent are request metadata (not the user's),
//! every common time form is read, byte-order marks are skipped, and identical items of one
//! request are distinct events that a retry collapses onto.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tributary_tests::Pipeline;

const S2S_TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";
const ACTIVITY_KEY: &str = "demo-netcore-key";
const BOM: &str = "\u{feff}";
/// Several requests below come "from a server": its HTTP client's User-Agent.
const SERVER_AGENT: &str = "integrator-backend/2.1 (python-requests)";

#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct Stored {
    event_uid: String,
    source: String,
    event_id: Option<String>,
    user_id: Option<String>,
    user_key: String,
    identity: Option<String>,
    customer_id: Option<String>,
    entity_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    sender_ip: Option<String>,
    sender_user_agent: Option<String>,
    event_time_ms: i64,
    client_time_raw: Option<String>,
    raw: String,
}

const COLUMNS: &str = "event_uid, source, event_id, user_id, user_key, identity, customer_id, \
    entity_id, ip, user_agent, sender_ip, sender_user_agent, event_time_ms, client_time_raw, raw";

/// One request to the gateway; the status and body it answered.
async fn post(
    pipeline: &Pipeline,
    path: &str,
    body: impl Into<Vec<u8>>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", pipeline.gateway_url))
        .header("user-agent", SERVER_AGENT)
        .body(body.into());
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn s2s(pipeline: &Pipeline, method: &str, body: &Value) -> (u16, String) {
    let path = format!("/v1/{method}/?idApp=666");
    post(
        pipeline,
        &path,
        body.to_string(),
        &[("authorization", S2S_TOKEN)],
    )
    .await
}

async fn activity(pipeline: &Pipeline, body: &Value) -> (u16, String) {
    let bearer = format!("Bearer {ACTIVITY_KEY}");
    post(
        pipeline,
        "/v1/activity/upload",
        body.to_string(),
        &[("authorization", &bearer)],
    )
    .await
}

/// Rows (one per `event_uid`) matching `condition`, once `want` of them are stored.
async fn rows(pipeline: &Pipeline, condition: &str, want: u64) -> Vec<Stored> {
    let count = format!("SELECT uniqExact(event_uid) FROM events WHERE {condition}");
    let got = pipeline
        .wait_for_count(&count, want, Duration::from_secs(60))
        .await;
    assert_eq!(got, want, "rows stored for {condition}");
    pipeline
        .clickhouse()
        .query(&format!(
            "SELECT {COLUMNS} FROM events WHERE {condition} \
             ORDER BY received_at_ms DESC LIMIT 1 BY event_uid"
        ))
        .fetch_all()
        .await
        .expect("rows read back")
}

/// Deterministic pseudo-random integers of 1 to 40 digits, as JSON number text (no leading
/// zeros, as JSON requires).
fn integers(count: usize, seed: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..count)
        .map(|i| {
            let len = 1 + (i * 7 + next()) % 40;
            let mut digits = String::with_capacity(len);
            digits.push(char::from(b'1' + (next() % 9) as u8));
            for _ in 1..len {
                digits.push(char::from(b'0' + (next() % 10) as u8));
            }
            digits
        })
        .collect()
}

/// A JSON value that is the number `digits`, exactly (never through a float).
fn number(digits: &str) -> Value {
    serde_json::from_str(digits).expect("a JSON number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_sent_as_json_numbers_keep_every_digit_in_every_family() {
    let pipeline = Pipeline::new("exact_ids").await.start_all().await;
    let ids = integers(24, 0x05ee_d1d5);
    assert!(ids.iter().any(|id| id.len() > 20) && ids.iter().any(|id| id.len() < 5));
    for (n, id) in ids.iter().enumerate() {
        let lvid = format!("{n:032x}");
        // S2S: customUserId, the document's String typed field, sent as a number.
        let item = json!({"customUserId": number(id), "customEventName": "x", "lvid": lvid});
        assert_eq!(
            s2s(&pipeline, "customEventBatch", &json!([item])).await.0,
            200
        );
        // Mobile batch: event_id (a string field) as a number.
        let body = json!({"events": [{"event_id": number(id), "event_name": "n",
            "timestamp_utc": 1_700_000_000}]});
        let (status, answer) =
            post(&pipeline, "/api/analytics/events", body.to_string(), &[]).await;
        assert_eq!(status, 202, "{answer}");
        // Activity: identity ("String/Integer") as a number.
        let upload = json!([{"asset_id": "a", "activity_name": "n",
            "timestamp": "2021-12-29T06:12:28Z", "identity": number(id), "activity_source": "web",
            "activity_params": {"n": n}}]);
        assert_eq!(activity(&pipeline, &upload).await.0, 200);
        // CRM: customer_id and lead_id as numbers, echoed and stored as sent.
        let lead = json!({"customer_id": number(id), "lead_id": number(id), "user_id": "u",
            "tool_signature": "t", "recording_id": format!("r{n}"), "event_type": "view",
            "event_id": format!("crm-{n}")});
        let (status, echo) = post(&pipeline, "/api/v1/lead_analytics", lead.to_string(), &[]).await;
        assert_eq!(status, 201, "{echo}");
        let echo: Value = serde_json::from_str(&echo).unwrap();
        assert_eq!(echo["customer_id"], json!(id), "the CRM echo keeps {id}");
    }
    let n = ids.len() as u64;
    let s2s_rows = rows(&pipeline, "source = 's2s.customEventBatch'", n).await;
    let mobile = rows(&pipeline, "source = 'mobile_batch'", n).await;
    let uploads = rows(&pipeline, "source = 'activity.upload'", n).await;
    let leads = rows(&pipeline, "source = 'crm.lead_analytics'", n).await;
    for id in &ids {
        let found = |rows: &[Stored], get: fn(&Stored) -> Option<&str>| {
            rows.iter().any(|row| get(row) == Some(id.as_str()))
        };
        assert!(
            found(&s2s_rows, |r| r.user_id.as_deref()),
            "S2S user_id {id}"
        );
        assert!(
            found(&s2s_rows, |r| Some(r.user_key.as_str())),
            "S2S user_key {id}"
        );
        assert!(
            found(&mobile, |r| r.event_id.as_deref()),
            "mobile event_id {id}"
        );
        assert!(
            found(&uploads, |r| r.identity.as_deref()),
            "activity identity {id}"
        );
        assert!(
            found(&leads, |r| r.customer_id.as_deref()),
            "CRM customer_id {id}"
        );
        assert!(
            found(&leads, |r| r.entity_id.as_deref()),
            "CRM entity_id {id}"
        );
    }
    // `raw` keeps the number as a number, with its digits.
    let long = ids.iter().max_by_key(|id| id.len()).unwrap();
    assert!(s2s_rows
        .iter()
        .any(|r| r.raw.contains(&format!(":{long},"))));

    // Where the rule is a bounded integer (mobile user_id, an Int64), a longer number is
    // refused, with the family's error naming the field: never rounded.
    let body = json!({"events": [{"event_id": "big", "event_name": "n",
        "timestamp_utc": 1_700_000_000, "user_id": number("7510383332886585625306")}]});
    let (status, answer) = post(&pipeline, "/api/analytics/events", body.to_string(), &[]).await;
    assert_eq!(status, 400);
    assert!(
        answer.contains("user_id") && answer.contains("out of range"),
        "{answer}"
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sender_is_request_metadata_and_the_users_address_only_for_the_mobile_batch() {
    let mut pipeline = Pipeline::new("sender").await;
    // The loopback peer is a trusted proxy here, so a forwarded client can be named too.
    pipeline
        .start_gateway_with(|config| {
            config.gateway.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .await;
    pipeline.start_enricher();
    pipeline.start_sink().await;

    let item =
        json!({"customUserId": "u1", "customEventName": "x", "eventTimestamp": 1_700_000_000});
    assert_eq!(s2s(&pipeline, "customEvent", &item).await.0, 200);
    let with_own = json!({"customUserId": "u2", "customEventName": "x", "ipv4": "203.0.113.5",
        "userAgent": "Mozilla/5.0 (device)", "eventTimestamp": 1_700_000_000});
    assert_eq!(s2s(&pipeline, "customEvent", &with_own).await.0, 200);
    let upload = json!([{"asset_id": "a", "activity_name": "n", "timestamp": "2021-12-29T06:12:28Z",
        "annonid": "z", "activity_source": "app", "activity_params": {}}]);
    assert_eq!(activity(&pipeline, &upload).await.0, 200);
    let lead = json!({"customer_id": "c", "lead_id": "l", "user_id": "u", "tool_signature": "t",
        "recording_id": "r", "event_type": "view", "event_id": "sender-lead"});
    assert_eq!(
        post(&pipeline, "/api/v1/lead_analytics", lead.to_string(), &[])
            .await
            .0,
        201
    );
    let device = json!({"events": [{"event_id": "device-1", "event_name": "open",
        "timestamp_utc": 1_700_000_000}]});
    let forwarded = [("x-forwarded-for", "198.51.100.20")];
    assert_eq!(
        post(
            &pipeline,
            "/api/analytics/events",
            device.to_string(),
            &forwarded
        )
        .await
        .0,
        202
    );

    let stored = rows(&pipeline, "1", 5).await;
    let by = |source: &str, user_key: &str| -> Stored {
        stored
            .iter()
            .find(|r| r.source == source && r.user_key.contains(user_key))
            .unwrap_or_else(|| panic!("{source} {user_key} in {stored:?}"))
            .clone()
    };
    for row in [
        by("s2s.customEvent", "u1"),
        by("activity.upload", "z"),
        by("crm.lead_analytics", "u"),
    ] {
        // A server-to-server call: the user is not at the integrator's server.
        assert_eq!(row.ip, None, "{row:?}");
        assert_eq!(row.user_agent, None, "{row:?}");
        assert_eq!(row.sender_ip.as_deref(), Some("127.0.0.1"), "{row:?}");
        assert_eq!(
            row.sender_user_agent.as_deref(),
            Some(SERVER_AGENT),
            "{row:?}"
        );
    }
    let own = by("s2s.customEvent", "u2");
    assert_eq!(own.ip.as_deref(), Some("203.0.113.5"));
    assert_eq!(own.user_agent.as_deref(), Some("Mozilla/5.0 (device)"));
    // The mobile batch is called by the user's device: its address is the user's.
    let device = stored
        .iter()
        .find(|r| r.event_id.as_deref() == Some("device-1"))
        .expect("the mobile event")
        .clone();
    assert_eq!(device.sender_ip.as_deref(), Some("198.51.100.20"));
    assert_eq!(device.ip.as_deref(), Some("198.51.100.20"));
    assert_eq!(device.user_agent.as_deref(), Some(SERVER_AGENT));
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_common_time_form_is_read_and_byte_order_marks_are_skipped() {
    let pipeline = Pipeline::new("times_and_boms").await.start_all().await;
    // (how it is sent, the instant it means in epoch ms)
    let activity_times = [
        ("2021-12-29T06:12:28+0530", 1_640_738_548_000),
        ("2021-12-29T06:12:28+05", 1_640_740_348_000),
        ("2021-12-29 06:12:28.123456Z", 1_640_758_348_123),
        ("2016-12-31T23:59:60Z", 1_483_228_799_999),
    ];
    for (n, (time, _)) in activity_times.iter().enumerate() {
        let upload = json!([{"asset_id": "a", "activity_name": format!("t{n}"), "timestamp": time,
            "annonid": format!("time-{n}"), "activity_source": "web", "activity_params": {}}]);
        let (status, answer) = activity(&pipeline, &upload).await;
        assert_eq!(status, 200, "{time}: {answer}");
    }
    let fractional = json!({"customUserId": "frac", "customEventName": "x",
        "eventTimestamp": number("1659386157.403862")});
    assert_eq!(s2s(&pipeline, "customEvent", &fractional).await.0, 200);

    // A UTF-8 byte-order mark before the body, in every family and content type.
    let mobile =
        json!({"events": [{"event_id": "bom-json", "event_name": "n", "timestamp_utc": 1}]});
    let with_bom = |body: String| format!("{BOM}{body}").into_bytes();
    let cases: Vec<(&str, Vec<u8>, &str, u16)> =
        vec![
        ("/api/analytics/events", with_bom(mobile.to_string()), "application/json", 202),
        (
            "/api/analytics/events",
            with_bom(
                "events[0].event_id=bom-form&events[0].event_name=n&events[0].timestamp_utc=1"
                    .into(),
            ),
            "application/x-www-form-urlencoded",
            202,
        ),
        (
            "/api/analytics/events",
            with_bom(tributary_tests::seed_000_xml().replace("sample string 1", "bom-xml")),
            "application/xml",
            202,
        ),
        (
            "/api/v1/lead_analytics",
            with_bom(
                json!({"customer_id": "c", "lead_id": "l", "user_id": "u", "tool_signature": "t",
                    "recording_id": "r", "event_type": "view", "event_id": "bom-crm"})
                .to_string(),
            ),
            "application/json",
            201,
        ),
    ];
    for (path, body, content_type, want) in cases {
        let (status, answer) = post(&pipeline, path, body, &[("content-type", content_type)]).await;
        assert_eq!(status, want, "{path} {content_type}: {answer}");
    }
    let bearer = format!("Bearer {ACTIVITY_KEY}");
    let upload = json!([{"asset_id": "a", "activity_name": "bom", "timestamp": "2021-12-29T06:12:28Z",
        "annonid": "bom-activity", "activity_source": "web", "activity_params": {}}]);
    let (status, _) = post(
        &pipeline,
        "/v1/activity/upload",
        with_bom(upload.to_string()),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &pipeline,
        "/v1/customEvent/?idApp=666",
        with_bom(json!({"customUserId": "bom-s2s", "customEventName": "x"}).to_string()),
        &[("authorization", S2S_TOKEN)],
    )
    .await;
    assert_eq!(status, 200);

    let times = rows(
        &pipeline,
        "source = 'activity.upload' AND user_key LIKE '%time-%'",
        4,
    )
    .await;
    for (n, (time, millis)) in activity_times.iter().enumerate() {
        let row = times
            .iter()
            .find(|r| r.user_key.ends_with(&format!("time-{n}")))
            .unwrap();
        assert_eq!(row.event_time_ms, *millis, "{time}");
        assert_eq!(row.client_time_raw.as_deref(), Some(*time));
    }
    let frac = rows(&pipeline, "user_id = 'frac'", 1).await;
    assert_eq!(frac[0].event_time_ms, 1_659_386_157_403);
    assert_eq!(
        frac[0].client_time_raw.as_deref(),
        Some("1659386157.403862")
    );
    // Three mobile events (json, form, and the XML sample, whose two events share one
    // event_id), the lead, the activity and the S2S item.
    let boms = rows(
        &pipeline,
        "event_id IN ('bom-json', 'bom-form', 'bom-xml', 'bom-crm') \
         OR user_key IN ('anonymous_id:bom-activity', 'bom-s2s')",
        6,
    )
    .await;
    assert_eq!(boms.len(), 6, "{boms:?}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_items_of_one_request_are_distinct_events_and_a_retry_collapses_onto_them() {
    let pipeline = Pipeline::new("identical_items").await.start_all().await;
    let lvid = "0123456789abcdef0123456789abcdef";
    let message = json!({"customUserId": "same", "customEventName": "messageReceived",
        "lvid": lvid, "eventTimestamp": 1_700_000_000});
    let other = json!({"customUserId": "same", "customEventName": "messageRead",
        "lvid": lvid, "eventTimestamp": 1_700_000_000});
    let batch = json!([message, message, other, message]);
    for _ in 0..2 {
        let (status, answer) = s2s(&pipeline, "customEventBatch", &batch).await;
        assert_eq!(status, 200, "{answer}");
    }
    // The same item alone, later, is the first of its kind: it collapses onto the first.
    assert_eq!(s2s(&pipeline, "customEvent", &message).await.0, 200);
    let stored = rows(&pipeline, "user_id = 'same'", 4).await;
    let uids: std::collections::HashSet<_> = stored.iter().map(|r| &r.event_uid).collect();
    assert_eq!(uids.len(), 4, "{stored:?}");
    let total: u64 = pipeline
        .clickhouse()
        .query("SELECT uniqExact(event_uid) FROM events WHERE user_id = 'same'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        total, 4,
        "two sends of one request and one retry as a single item"
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_that_need_no_body_answer_before_it_is_read() {
    let mut pipeline = Pipeline::new("before_body").await;
    pipeline.start_gateway().await;
    let client = reqwest::Client::new();
    // A GET with a gzip header and no gzip body: the method is what is wrong.
    let response = client
        .get(format!("{}/v1/login/?idApp=666", pipeline.gateway_url))
        .header("content-encoding", "gzip")
        .header("authorization", S2S_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"Method Not Allowed"}"#
    );
    // A wrong token is a 403 however broken the body's encoding.
    let response = client
        .post(format!("{}/v1/login/?idApp=666", pipeline.gateway_url))
        .header("content-encoding", "gzip")
        .header("authorization", "wrong")
        .body("not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // The activity API's key is checked before its body.
    let response = client
        .post(format!("{}/v1/activity/upload", pipeline.gateway_url))
        .header("content-encoding", "gzip")
        .body("not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    pipeline.stop().await;
}
