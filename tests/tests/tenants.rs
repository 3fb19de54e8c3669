//! Tenant keys of the CRM API and the search (issue 19), end to end on the real broker and
//! ClickHouse: a key names the tenant its CRM events are filed under and the only tenant whose
//! rows its searches read. Tenant A never sees tenant B's leads: not on any page, not with
//! `latest`, not by asking for B's `customer_id`. `required` answers 401 in the CRM error
//! format; `open` files keyless requests under the default tenant.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_gateway::config::{CrmAccess, TenantKey};
use tributary_tests::Pipeline;

const KEY_A: &str = "tenant-a-key";
const KEY_B: &str = "tenant-b-key";

fn keys() -> Vec<TenantKey> {
    vec![
        TenantKey {
            tenant: "tenant_a".into(),
            key: Some(KEY_A.into()),
            key_sha256: None,
        },
        TenantKey {
            tenant: "tenant_b".into(),
            key: None,
            key_sha256: Some(sha256_hex(KEY_B)),
        },
    ]
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How a request presents its key.
#[derive(Clone, Copy)]
enum Key<'a> {
    None,
    Bearer(&'a str),
    Header(&'a str),
}

fn with_key(request: reqwest::RequestBuilder, key: Key<'_>) -> reqwest::RequestBuilder {
    match key {
        Key::None => request,
        Key::Bearer(k) => request.header("authorization", format!("Bearer {k}")),
        Key::Header(k) => request.header("x-api-key", k),
    }
}

fn lead(customer: &str, recording: &str, event_id: &str) -> Value {
    json!({
        "customer_id": customer,
        "lead_id": "lead#1",
        "user_id": "user#1",
        "recording_id": recording,
        "event_type": "view",
        "event_id": event_id,
    })
}

/// POST a lead event; the status and body.
async fn post(pipeline: &Pipeline, key: Key<'_>, body: &Value) -> (u16, Value) {
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/lead_analytics", pipeline.gateway_url))
        .json(body);
    let response = with_key(request, key)
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    let www = response.headers().get("www-authenticate").cloned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == 401 {
        assert_eq!(www.unwrap(), "Bearer", "{body}");
    }
    // Distinct created_at for every event, so "newest first" has one answer.
    tokio::time::sleep(Duration::from_millis(5)).await;
    (status, body)
}

/// GET a lead search for `customer`; status and body.
async fn search(pipeline: &Pipeline, key: Key<'_>, customer: &str, extra: &str) -> (u16, Value) {
    let url = format!(
        "{}/api/v1/lead_analytics/search?customer_id={}&user_id=user%231&lead_id=lead%231\
         &recording_id=rec%231&recording_id=rec%232{extra}",
        pipeline.gateway_url,
        customer.replace('#', "%23")
    );
    let response = with_key(reqwest::Client::new().get(url), key)
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn event_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["recordings"]
        .as_array()
        .unwrap_or_else(|| panic!("no recordings in {body}"))
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Poll until the search sees `want` rows (60 s at most); the last body.
async fn wait_for_rows(pipeline: &Pipeline, key: Key<'_>, customer: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = search(pipeline, key, customer, "").await;
        assert_eq!(status, 200, "{body}");
        let got = body["meta"]["rowCount"].as_u64().unwrap();
        if got >= want || Instant::now() > deadline {
            assert_eq!(got, want, "{body}");
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_unauthorized(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "Unauthorized", "{body}");
    assert!(body["message"].as_str().unwrap().contains("key"), "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenant_a_never_sees_tenant_b_leads_when_keys_are_required() {
    let mut pipeline = Pipeline::new("tenant_keys").await;
    pipeline
        .start_gateway_with(|config| {
            config.tenants.crm_access = CrmAccess::Required;
            config.tenants.crm_keys = keys();
        })
        .await;
    pipeline.start_enricher();
    pipeline.start_sink().await;

    // Without a key, with an unknown key, or with another scheme: 401, nothing stored.
    for key in [Key::None, Key::Bearer("guess"), Key::Header("")] {
        let (status, body) = post(&pipeline, key, &lead("customer#a", "rec#1", "nope")).await;
        assert_unauthorized(status, &body);
        let (status, body) = search(&pipeline, key, "customer#a", "").await;
        assert_unauthorized(status, &body);
    }

    // A and B use the same customer, lead, user and recordings: only the key tells them apart.
    for (i, recording) in ["rec#1", "rec#1", "rec#2"].iter().enumerate() {
        let (status, body) = post(
            &pipeline,
            Key::Bearer(KEY_A),
            &lead("customer#shared", recording, &format!("a{i}")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    for (i, recording) in ["rec#1", "rec#2"].iter().enumerate() {
        let (status, body) = post(
            &pipeline,
            Key::Header(KEY_B),
            &lead("customer#shared", recording, &format!("b{i}")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    // B's own customer, which A may guess.
    let (status, _) = post(
        &pipeline,
        Key::Header(KEY_B),
        &lead("customer#b", "rec#1", "b-own"),
    )
    .await;
    assert_eq!(status, 201);

    let a = wait_for_rows(&pipeline, Key::Bearer(KEY_A), "customer#shared", 3).await;
    assert_eq!(event_ids(&a), ["a0", "a1", "a2"]);
    let b = wait_for_rows(&pipeline, Key::Header(KEY_B), "customer#shared", 2).await;
    assert_eq!(event_ids(&b), ["b0", "b1"]);
    wait_for_rows(&pipeline, Key::Header(KEY_B), "customer#b", 1).await;

    // Every page of A's search, one row a page, and the page after the last.
    let mut paged = Vec::new();
    for page in 1..=4 {
        let (status, body) = search(
            &pipeline,
            Key::Bearer(KEY_A),
            "customer#shared",
            &format!("&page={page}&pageSize=1"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["meta"]["rowCount"], 3, "{body}");
        paged.extend(event_ids(&body));
    }
    paged.sort();
    assert_eq!(paged, ["a0", "a1", "a2"]);

    // latest: A's newest event of each recording, never B's (B's are newer).
    let (status, body) = search(
        &pipeline,
        Key::Header(KEY_A),
        "customer#shared",
        "&latest=true",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(event_ids(&body), ["a1", "a2"]);
    assert_eq!(body["meta"]["rowCount"], 2);

    // A guessing B's customer_id finds nothing.
    let (status, body) = search(&pipeline, Key::Bearer(KEY_A), "customer#b", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["rowCount"], 0, "{body}");
    assert_eq!(body["recordings"], json!([]));

    // The tables file each event under its key's tenant.
    let tenants: Vec<(String, u64)> = pipeline
        .clickhouse()
        .query("SELECT tenant, count() FROM lead_analytics GROUP BY tenant ORDER BY tenant")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        tenants,
        [("tenant_a".to_string(), 3), ("tenant_b".to_string(), 3)]
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_access_files_keyless_events_under_the_default_tenant_and_keeps_keyed_ones_apart() {
    let mut pipeline = Pipeline::new("tenant_open").await;
    pipeline
        .start_gateway_with(|config| config.tenants.crm_keys = keys())
        .await;
    pipeline.start_enricher();
    pipeline.start_sink().await;

    let (status, body) = post(&pipeline, Key::None, &lead("customer#1", "rec#1", "open")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &pipeline,
        Key::Bearer(KEY_A),
        &lead("customer#1", "rec#1", "keyed"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // A key that is sent must be valid even in open mode.
    let (status, body) = post(
        &pipeline,
        Key::Bearer("guess"),
        &lead("customer#1", "rec#1", "x"),
    )
    .await;
    assert_unauthorized(status, &body);

    let open = wait_for_rows(&pipeline, Key::None, "customer#1", 1).await;
    assert_eq!(event_ids(&open), ["open"]);
    let keyed = wait_for_rows(&pipeline, Key::Bearer(KEY_A), "customer#1", 1).await;
    assert_eq!(event_ids(&keyed), ["keyed"]);
    let (status, body) = search(&pipeline, Key::Header("guess"), "customer#1", "").await;
    assert_unauthorized(status, &body);
    pipeline.stop().await;
}
