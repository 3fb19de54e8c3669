//! Per-tenant rate limits (issue 19) on a real gateway and broker: a tenant over its events/s
//! or bytes/s limit gets 429 with `Retry-After` in its family's own error format, the refused
//! request is refused whole (nothing of it on the raw topic), another tenant is not held back,
//! and `tributary_gateway_tenant_requests_total` counts each tenant's outcomes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use tributary_gateway::config::{S2sApp, TenantKey};
use tributary_gateway::rate_limit::TenantQuota;
use tributary_tests::{free_local_addr, seed_000_json, Pipeline, Scrape};

const CRM_KEY: &str = "crm-limited-key";
const FREE_KEY: &str = "crm-free-key";
const ACTIVITY_KEY: &str = "activity-limited-key";
const S2S_TOKEN: &str = "s2s-limited-token";

fn events(per_second: u32, burst: u32) -> TenantQuota {
    TenantQuota {
        events_per_second: per_second,
        events_burst: burst,
        ..Default::default()
    }
}

/// Status, `Retry-After` and the JSON body of one POST.
async fn post(
    pipeline: &Pipeline,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, Option<u32>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", pipeline.gateway_url))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

fn crm_lead(event_id: &str) -> String {
    json!({
        "customer_id": "c", "lead_id": "l", "user_id": "u", "recording_id": "r",
        "event_type": "view", "event_id": event_id,
    })
    .to_string()
}

/// Seed 003's first sample with its two unquoted strings quoted (invalid JSON as printed);
/// well over 100 bytes.
fn activity_sample() -> String {
    tributary_tests::seed_003_sample(0)
        .replace(":Purchase,", ":\"Purchase\",")
        .replace(":CUSTOMER_ID,", ":\"CUSTOMER_ID\",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_over_its_limit_gets_429_in_its_familys_format_and_nothing_is_published() {
    let admin = free_local_addr();
    let mut pipeline = Pipeline::new("rate_limits").await;
    pipeline
        .start_gateway_with(|config| {
            config.gateway.admin_listen = admin;
            let t = &mut config.tenants;
            t.crm_keys = vec![
                TenantKey {
                    tenant: "crm_t".into(),
                    key: Some(CRM_KEY.into()),
                    key_sha256: None,
                },
                TenantKey {
                    tenant: "free".into(),
                    key: Some(FREE_KEY.into()),
                    key_sha256: None,
                },
            ];
            t.activity_keys.push(TenantKey {
                tenant: "activity_t".into(),
                key: Some(ACTIVITY_KEY.into()),
                key_sha256: None,
            });
            t.s2s_apps.push(S2sApp {
                id_app: 777,
                tenant: "s2s_t".into(),
                token: Some(S2S_TOKEN.into()),
                token_sha256: None,
            });
            config.gateway.rate_limits.tenants = BTreeMap::from([
                // Mobile batches and keyless CRM requests are the default tenant's.
                ("default".to_string(), events(1, 2)),
                ("crm_t".to_string(), events(1, 1)),
                ("s2s_t".to_string(), events(1, 1)),
                (
                    "activity_t".to_string(),
                    TenantQuota {
                        bytes_per_second: 100,
                        ..Default::default()
                    },
                ),
            ]);
        })
        .await;

    // Warm the producer with the unlimited tenant, so publishing is quick from here on and
    // no bucket refills between a tenant's two requests below.
    let free = [
        ("content-type", "application/json"),
        ("authorization", "Bearer crm-free-key"),
    ];
    let (status, _, body) =
        post(&pipeline, "/api/v1/lead_analytics", &free, crm_lead("warm")).await;
    assert_eq!(status, 201, "{body}");

    // Mobile batch (default tenant, 2 events a request, burst 2): the second request would
    // fit half; it is refused whole.
    let json = [("content-type", "application/json")];
    let (status, _, body) = post(&pipeline, "/api/analytics/events", &json, seed_000_json()).await;
    assert_eq!(status, 202, "{body}");
    let (status, retry, body) =
        post(&pipeline, "/api/analytics/events", &json, seed_000_json()).await;
    assert_eq!(
        (status, retry.is_some_and(|s| s >= 1)),
        (429, true),
        "{body}"
    );
    let failure = &body.as_array().expect("a failure list")[0];
    assert!(
        failure["reason"]
            .as_str()
            .unwrap()
            .contains("Too Many Requests"),
        "{body}"
    );

    // CRM, by its key's tenant: the document's error shape.
    let crm = [("content-type", "application/json"), ("x-api-key", CRM_KEY)];
    let (status, _, body) = post(&pipeline, "/api/v1/lead_analytics", &crm, crm_lead("c1")).await;
    assert_eq!(status, 201, "{body}");
    let (status, retry, body) =
        post(&pipeline, "/api/v1/lead_analytics", &crm, crm_lead("c2")).await;
    assert_eq!(
        (status, retry.is_some_and(|s| s >= 1)),
        (429, true),
        "{body}"
    );
    assert_eq!(body["error"], "Too Many Requests", "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");

    // S2S, by its app's tenant: {"error": ...}.
    let s2s = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", S2S_TOKEN),
    ];
    let s2s_body = tributary_tests::seed_002_curl_body();
    let path = "/v1/customEvent/?idApp=777";
    let (status, _, body) = post(&pipeline, path, &s2s, s2s_body.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, retry, body) = post(&pipeline, path, &s2s, s2s_body).await;
    assert_eq!(
        (status, retry.is_some_and(|s| s >= 1)),
        (429, true),
        "{body}"
    );
    assert_eq!(body, json!({"error": "Too Many Requests"}));

    // Activity, by its key's tenant, over its bytes/s limit: {"status": "fail", ...}.
    let activity = [
        ("content-type", "application/json"),
        ("authorization", "Bearer activity-limited-key"),
    ];
    let (status, _, body) = post(
        &pipeline,
        "/v1/activity/upload",
        &activity,
        activity_sample(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, retry, body) = post(
        &pipeline,
        "/v1/activity/upload",
        &activity,
        activity_sample(),
    )
    .await;
    assert_eq!(
        (status, retry.is_some_and(|s| s >= 1)),
        (429, true),
        "{body}"
    );
    assert_eq!(body["status"], "fail", "{body}");
    assert_eq!(body["error"]["code"], 429, "{body}");

    // Meanwhile the unlimited tenant is not held back.
    for i in 0..10 {
        let (status, _, body) = post(
            &pipeline,
            "/api/v1/lead_analytics",
            &free,
            crm_lead(&format!("f{i}")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    // Exactly the accepted requests reached the broker, each under its tenant.
    let want = 1 + 1 + 1 + 1 + 1 + 10;
    let batches = pipeline
        .raw_batches(want + 1, Duration::from_secs(15))
        .await;
    let mut per_tenant: HashMap<String, usize> = HashMap::new();
    for batch in &batches {
        *per_tenant.entry(batch.tenant.clone()).or_default() += 1;
    }
    assert_eq!(
        per_tenant,
        HashMap::from([
            ("free".to_string(), 11),
            ("default".to_string(), 1),
            ("crm_t".to_string(), 1),
            ("s2s_t".to_string(), 1),
            ("activity_t".to_string(), 1),
        ])
    );

    let scrape = Scrape::from_admin(admin).await;
    let count = |tenant: &str, outcome: &str| {
        scrape.sum(
            "tributary_gateway_tenant_requests_total",
            &[("tenant", tenant), ("outcome", outcome)],
        )
    };
    for tenant in ["default", "crm_t", "s2s_t", "activity_t"] {
        assert_eq!(
            (count(tenant, "accepted"), count(tenant, "limited")),
            (1.0, 1.0),
            "{tenant}"
        );
    }
    assert_eq!(
        (count("free", "accepted"), count("free", "limited")),
        (11.0, 0.0)
    );
    assert_eq!(
        scrape.sum(
            "tributary_gateway_tenant_events_total",
            &[("tenant", "default"), ("outcome", "limited")],
        ),
        2.0
    );
    pipeline.stop().await;
}

/// After a refusal, the tenant's requests are refused from their head until the wait it was
/// given has passed: a client in a retry loop costs no body reads. Proved with a request whose
/// declared body never comes: it is answered 429 when the wait is over (held at most 1 s), not
/// after the body timeout (10 s).
#[tokio::test]
async fn a_refused_tenant_is_answered_from_the_head_until_its_wait_has_passed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A tenant of its own: the metrics registry is shared with the test above.
    let mut pipeline = Pipeline::new("rate_limits_head").await;
    pipeline
        .start_gateway_with(|config| {
            config.tenants.crm_keys = vec![TenantKey {
                tenant: "crm_head".into(),
                key: Some(CRM_KEY.into()),
                key_sha256: None,
            }];
            config.gateway.rate_limits.tenants =
                BTreeMap::from([("crm_head".to_string(), events(1, 1))]);
            config.gateway.body_timeout_ms = 10_000;
        })
        .await;
    let crm = [("content-type", "application/json"), ("x-api-key", CRM_KEY)];
    let (status, _, body) = post(&pipeline, "/api/v1/lead_analytics", &crm, crm_lead("h1")).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = post(&pipeline, "/api/v1/lead_analytics", &crm, crm_lead("h2")).await;
    assert_eq!(status, 429, "{body}");

    let addr = pipeline
        .gateway_url
        .trim_start_matches("http://")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/lead_analytics HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {CRM_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 50000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .expect("answered when the wait is over, without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("\"too many requests\""), "{answer}");

    // Once the wait is over, the tenant's next request is read and accepted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = post(&pipeline, "/api/v1/lead_analytics", &crm, crm_lead("h3")).await;
    assert_eq!(status, 201, "{body}");
    pipeline.stop().await;
}
