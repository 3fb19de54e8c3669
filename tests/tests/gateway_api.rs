//! The gateway alone on the real broker: one valid request per endpoint (the seed documents'
//! own samples), each found in the test's raw topic as one `RawBatch` with the endpoint's
//! source, the tenant, the content type, the request id of the answer and the body exactly as
//! sent. Also: compressed bodies are stored inflated, refused requests leave nothing behind,
//! unknown paths get 404, and a broker that does not answer gets 503 with `Retry-After` in
//! every family's own error format.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tributary_schemas::RawBatch;
use tributary_tests::{
    free_local_addr, seed_000_json, seed_000_xml, seed_001_request, seed_002_batch_example,
    seed_002_curl_body, seed_003_sample, Pipeline,
};

/// The seed 002 example app's token (idApp 666) and the default activity API key.
const S2S_TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";
const ACTIVITY_KEY: &str = "demo-netcore-key";
const USER_AGENT: &str = "tributary-gateway-api-test/1.0";

/// A form-urlencoded batch of seed 000's events, both ASP.NET key styles.
const FORM_BODY: &str = "events[0].event_id=form-1&events[0].event_name=app_open\
    &events[0].timestamp_utc=1580213208&events[0].user_id=7&events[0].payload.screen=home\
    &events[1][event_id]=form-2&events[1][event_name]=screen_view\
    &events[1][timestamp_utc]=1580213209&events[1][city]=Bengaluru";

/// One request, and what its answer and its batch must show.
struct Call {
    label: String,
    /// Path and query.
    target: String,
    content_type: Option<&'static str>,
    content_encoding: Option<&'static str>,
    authorization: Option<String>,
    request_id: Option<String>,
    /// What goes over the wire.
    wire: Vec<u8>,
    /// What the batch must hold: `wire`, inflated.
    body: Vec<u8>,
    status: u16,
    source: &'static str,
    attributes: HashMap<String, String>,
}

impl Call {
    fn new(label: &str, target: &str, content_type: Option<&'static str>, body: &[u8]) -> Call {
        Call {
            label: label.to_string(),
            target: target.to_string(),
            content_type,
            content_encoding: None,
            authorization: None,
            request_id: None,
            wire: body.to_vec(),
            body: body.to_vec(),
            status: 0,
            source: "",
            attributes: HashMap::new(),
        }
    }

    fn accepted(mut self, status: u16, source: &'static str) -> Call {
        self.status = status;
        self.source = source;
        self
    }

    fn mobile(content_type: &'static str, body: &str) -> Call {
        Call::new(
            &format!("mobile {content_type}"),
            "/api/analytics/events",
            Some(content_type),
            body.as_bytes(),
        )
        .accepted(202, "mobile_batch")
    }

    fn crm(label: &str, path: &str, body: &str, source: &'static str) -> Call {
        Call::new(label, path, Some("application/json"), body.as_bytes()).accepted(201, source)
    }

    fn s2s(method: &str, content_type: &'static str, body: &str, source: &'static str) -> Call {
        let mut call = Call::new(
            &format!("s2s {method}"),
            &format!("/v1/{method}/?idApp=666"),
            Some(content_type),
            body.as_bytes(),
        )
        .accepted(200, source);
        call.authorization = Some(S2S_TOKEN.into());
        call.attributes = HashMap::from([("idApp".to_string(), "666".to_string())]);
        call
    }

    fn activity(body: &str) -> Call {
        let mut call = Call::new(
            "activity upload",
            "/v1/activity/upload",
            Some("application/json"),
            body.as_bytes(),
        )
        .accepted(200, "activity.upload");
        call.authorization = Some(format!("Bearer {ACTIVITY_KEY}"));
        call
    }

    fn family(&self) -> &'static str {
        match self.source.split('.').next().unwrap_or_default() {
            "mobile_batch" => "mobile",
            "crm" => "crm",
            "s2s" => "s2s",
            "activity" => "activity",
            _ => panic!("{}: no family", self.label),
        }
    }
}

/// What came back.
struct Answer {
    status: u16,
    request_id: String,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(client: &reqwest::Client, base: &str, call: &Call) -> Answer {
    let mut request = client
        .post(format!("{base}{}", call.target))
        .header("user-agent", USER_AGENT)
        .body(call.wire.clone());
    if let Some(content_type) = call.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(encoding) = call.content_encoding {
        request = request.header("content-encoding", encoding);
    }
    if let Some(authorization) = &call.authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(id) = &call.request_id {
        request = request.header("x-request-id", id);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", call.label));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let request_id = header("x-request-id")
        .unwrap_or_else(|| panic!("{}: every answer carries X-Request-Id", call.label));
    let retry_after = header("retry-after");
    Answer {
        status: response.status().as_u16(),
        request_id,
        retry_after,
        body: response.bytes().await.unwrap().to_vec(),
    }
}

/// One valid request per endpoint, each a seed document's own sample where it has one.
fn every_endpoint() -> Vec<Call> {
    let seed_json = seed_000_json();
    let seed_xml = seed_000_xml();
    let mut calls = vec![
        Call::mobile("application/json", &seed_json),
        Call::mobile("text/json", &seed_json),
        Call::mobile("application/xml", &seed_xml),
        Call::mobile("text/xml", &seed_xml),
        Call::mobile("application/x-www-form-urlencoded", FORM_BODY),
    ];
    // A client-chosen request id is echoed and stored.
    calls[0].request_id = Some(format!("gateway-api-{}", uuid::Uuid::new_v4().simple()));

    // Seed 001's analytics_events sample sends the placeholder "lead or contact", which is
    // refused (422); with a real entity type it is the seed's sample.
    let analytics =
        seed_001_request("/api/v1/analytics_events", 0).replace("\"lead or contact\"", "\"lead\"");
    calls.extend([
        Call::crm(
            "crm analytics_events",
            "/api/v1/analytics_events",
            &analytics,
            "crm.analytics_events",
        ),
        Call::crm(
            "crm lead_analytics",
            "/api/v1/lead_analytics",
            &seed_001_request("/api/v1/lead_analytics", 0),
            "crm.lead_analytics",
        ),
        Call::crm(
            "crm lead_analytics browser extension",
            "/api/v1/lead_analytics",
            &seed_001_request("/api/v1/lead_analytics", 1),
            "crm.lead_analytics",
        ),
        Call::crm(
            "crm contact_analytics",
            "/api/v1/contact_analytics",
            &seed_001_request("/api/v1/contact_analytics", 0),
            "crm.contact_analytics",
        ),
    ]);

    // Seed 002 shows bodies for the batch methods and customEvent; the single registration and
    // login use an item of their batch example, customRevenue the table's example values.
    let first_item = |method: &str, index: usize| {
        let items: Value = serde_json::from_str(&seed_002_batch_example(method)).unwrap();
        items[index].to_string()
    };
    // The seed's customRevenueBatch example lacks the required eventTimestamp (refused as
    // written); every item gets the table's example value.
    let revenue_batch = seed_002_batch_example("customRevenueBatch").replace(
        "\"idTransaction\"",
        "\"eventTimestamp\": \"1577191920\", \"idTransaction\"",
    );
    let revenue = r#"{"customUserId": "1234", "eventTimestamp": "1577191920", "idTransaction": "order1234", "currency": "USD", "total": 1.99}"#;
    calls.extend([
        Call::s2s(
            "registration",
            "application/json",
            &first_item("registrationBatch", 0),
            "s2s.registration",
        ),
        Call::s2s(
            "registrationBatch",
            "application/json",
            &seed_002_batch_example("registrationBatch"),
            "s2s.registrationBatch",
        ),
        Call::s2s(
            "login",
            "application/json",
            &first_item("loginBatch", 1),
            "s2s.login",
        ),
        Call::s2s(
            "loginBatch",
            "application/json",
            &seed_002_batch_example("loginBatch"),
            "s2s.loginBatch",
        ),
        // As the seed's curl -d sends it: form-urlencoded, not checked.
        Call::s2s(
            "customEvent",
            "application/x-www-form-urlencoded",
            &seed_002_curl_body(),
            "s2s.customEvent",
        ),
        Call::s2s(
            "customEventBatch",
            "application/json",
            &seed_002_batch_example("customEventBatch"),
            "s2s.customEventBatch",
        ),
        Call::s2s(
            "customRevenue",
            "application/json",
            revenue,
            "s2s.customRevenue",
        ),
        Call::s2s(
            "customRevenueBatch",
            "application/json",
            &revenue_batch,
            "s2s.customRevenueBatch",
        ),
    ]);

    // Seed 003's first sample with its two unquoted strings quoted (invalid JSON as written).
    let activity = seed_003_sample(0)
        .replace(":Purchase,", ":\"Purchase\",")
        .replace(":CUSTOMER_ID,", ":\"CUSTOMER_ID\",");
    calls.push(Call::activity(&activity));
    calls
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

fn deflate(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// Each answer's batch by request id, checked against its call.
fn assert_published(calls: &[Call], answers: &[Answer], batches: &[RawBatch], window: (i64, i64)) {
    assert_eq!(
        batches.len(),
        calls.len(),
        "one batch per accepted request, sources: {:?}",
        batches.iter().map(|b| &b.source).collect::<Vec<_>>()
    );
    let by_request: HashMap<&str, &RawBatch> =
        batches.iter().map(|b| (b.request_id.as_str(), b)).collect();
    assert_eq!(by_request.len(), batches.len(), "request ids are unique");
    for (call, answer) in calls.iter().zip(answers) {
        let label = &call.label;
        let batch = by_request
            .get(answer.request_id.as_str())
            .unwrap_or_else(|| panic!("{label}: no batch with request id {}", answer.request_id));
        assert_eq!(batch.source, call.source, "{label}");
        assert_eq!(batch.tenant, "default", "{label}");
        assert_eq!(
            batch.content_type,
            call.content_type.unwrap_or_default(),
            "{label}"
        );
        let stored = batch.body_bytes().expect("the stored body decodes");
        assert!(
            stored == call.body,
            "{label}: stored body differs from the one sent:\n{}",
            String::from_utf8_lossy(&stored)
        );
        assert_eq!(batch.attributes, call.attributes, "{label}");
        assert_eq!(batch.client_ip.as_deref(), Some("127.0.0.1"), "{label}");
        assert_eq!(batch.user_agent.as_deref(), Some(USER_AGENT), "{label}");
        assert!(
            uuid::Uuid::parse_str(&batch.batch_id).is_ok(),
            "{label}: batch id {:?}",
            batch.batch_id
        );
        assert!(
            (window.0..=window.1).contains(&batch.received_at),
            "{label}: received_at {} outside the test's {window:?}",
            batch.received_at
        );
        if let Some(id) = &call.request_id {
            assert_eq!(&answer.request_id, id, "{label}: the client's request id");
        }
        // The CRM record names the batch it was stored in.
        if call.family() == "crm" {
            let record = answer.json();
            assert_eq!(
                record["partitionKey"]
                    .as_str()
                    .and_then(|key| key.split_once('|'))
                    .map(|(_, batch_id)| batch_id),
                Some(batch.batch_id.as_str()),
                "{label}: {record}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_publishes_one_batch_with_its_source_tenant_request_id_and_body() {
    let mut pipeline = Pipeline::new("gwapi_all").await;
    pipeline.start_gateway().await;
    let client = reqwest::Client::new();
    let calls = every_endpoint();
    let start = now_ms();
    let mut answers = Vec::new();
    for call in &calls {
        let answer = send(&client, &pipeline.gateway_url, call).await;
        assert_eq!(
            answer.status,
            call.status,
            "{}: {}",
            call.label,
            String::from_utf8_lossy(&answer.body)
        );
        answers.push(answer);
    }
    let window = (start, now_ms());
    let batches = pipeline
        .raw_batches(calls.len(), Duration::from_secs(30))
        .await;
    assert_published(&calls, &answers, &batches, window);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compressed_bodies_are_accepted_and_stored_inflated() {
    let mut pipeline = Pipeline::new("gwapi_gzip").await;
    pipeline.start_gateway().await;
    let client = reqwest::Client::new();
    let mut mobile = Call::mobile("application/json", &seed_000_json());
    mobile.label = "mobile gzip".into();
    mobile.content_encoding = Some("gzip");
    mobile.wire = gzip(&mobile.body);
    let mut s2s = Call::s2s(
        "customEvent",
        "application/json",
        &seed_002_curl_body(),
        "s2s.customEvent",
    );
    s2s.label = "s2s x-gzip".into();
    s2s.content_encoding = Some("x-gzip");
    s2s.wire = gzip(&s2s.body);
    let mut crm = Call::crm(
        "crm deflate",
        "/api/v1/lead_analytics",
        &seed_001_request("/api/v1/lead_analytics", 0),
        "crm.lead_analytics",
    );
    crm.content_encoding = Some("deflate");
    crm.wire = deflate(&crm.body);
    let calls = [mobile, s2s, crm];

    let start = now_ms();
    let mut answers = Vec::new();
    for call in &calls {
        assert_ne!(call.wire, call.body);
        let answer = send(&client, &pipeline.gateway_url, call).await;
        assert_eq!(
            answer.status,
            call.status,
            "{}: {}",
            call.label,
            String::from_utf8_lossy(&answer.body)
        );
        answers.push(answer);
    }
    let window = (start, now_ms());
    let batches = pipeline
        .raw_batches(calls.len(), Duration::from_secs(30))
        .await;
    assert_published(&calls, &answers, &batches, window);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_requests_are_answered_in_their_familys_format_and_leave_nothing_in_events_raw() {
    let mut pipeline = Pipeline::new("gwapi_refused").await;
    pipeline.start_gateway().await;
    let client = reqwest::Client::new();

    let refused = |call: Call, status: u16| Call {
        status,
        source: "",
        ..call
    };
    let mut calls = vec![
        refused(
            Call::mobile(
                "application/json",
                r#"{"events":[{"event_id":"ok","event_name":"n","timestamp_utc":1},{"event_name":"no id"}]}"#,
            ),
            400,
        ),
        refused(Call::mobile("text/plain", "hello"), 415),
        // An event as an array of the fast path's 20 fields in order, which a struct that
        // serde derives reads too: the document asks for objects.
        refused(
            Call::mobile(
                "application/json",
                &format!(
                    r#"{{"events":[["e1","open",{}{}]]}}"#,
                    now_ms(),
                    ",null".repeat(17)
                ),
            ),
            400,
        ),
        refused(
            Call::crm(
                "crm seed analytics_events as written",
                "/api/v1/analytics_events",
                &seed_001_request("/api/v1/analytics_events", 0),
                "",
            ),
            422,
        ),
        refused(
            Call::s2s(
                "customRevenueBatch",
                "application/json",
                &seed_002_batch_example("customRevenueBatch"),
                "",
            ),
            400,
        ),
        refused(Call::activity(&seed_003_sample(0)), 400),
    ];
    let mut forbidden = Call::s2s("customEvent", "application/json", &seed_002_curl_body(), "");
    forbidden.label = "s2s wrong token".into();
    forbidden.authorization = Some("not-the-token".into());
    calls.push(refused(forbidden, 403));
    let mut unauthorized = Call::activity("[]");
    unauthorized.label = "activity without key".into();
    unauthorized.authorization = None;
    calls.push(refused(unauthorized, 401));
    // 10 KB is the S2S limit as sent and after inflation: this body is 20 KB inflated.
    let big =
        json!({"customUserId": "1", "customEventName": "levelUp", "userAgent": "x".repeat(20_000)})
            .to_string();
    let mut bomb = Call::s2s("customEvent", "application/json", &big, "");
    bomb.label = "s2s inflates past 10 KB".into();
    bomb.content_encoding = Some("gzip");
    bomb.wire = gzip(big.as_bytes());
    assert!(bomb.wire.len() < 10 * 1024);
    calls.push(refused(bomb, 413));
    let mut corrupt = Call::mobile("application/json", &seed_000_json());
    corrupt.label = "mobile corrupt gzip".into();
    corrupt.content_encoding = Some("gzip");
    corrupt.wire = b"not gzip at all".to_vec();
    calls.push(refused(corrupt, 400));

    for call in &calls {
        let answer = send(&client, &pipeline.gateway_url, call).await;
        assert_eq!(
            answer.status,
            call.status,
            "{}: {}",
            call.label,
            String::from_utf8_lossy(&answer.body)
        );
        let body = answer.json();
        let label = &call.label;
        match call.label.split(' ').next().unwrap() {
            "mobile" => assert!(body[0]["reason"].is_string(), "{label}: {body}"),
            "crm" => assert_eq!(body["errors"][0]["field"], "entity_type", "{label}: {body}"),
            "s2s" => assert!(body["error"].is_string(), "{label}: {body}"),
            "activity" => {
                assert_eq!(body["status"], "fail", "{label}: {body}");
                assert_eq!(body["error"]["code"], call.status, "{label}: {body}");
            }
            other => panic!("{other}"),
        }
    }

    // One accepted request afterwards: it is the only batch there is.
    let valid = Call::mobile("application/json", &seed_000_json());
    let answer = send(&client, &pipeline.gateway_url, &valid).await;
    assert_eq!(answer.status, 202);
    let batches = pipeline.raw_batches(2, Duration::from_secs(5)).await;
    assert_eq!(
        batches
            .iter()
            .map(|b| b.request_id.as_str())
            .collect::<Vec<_>>(),
        vec![answer.request_id.as_str()]
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_path_gets_404() {
    let mut pipeline = Pipeline::new("gwapi_404").await;
    pipeline.start_gateway().await;
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/nope"),
        (reqwest::Method::POST, "/api/analytics/events/extra"),
        (reqwest::Method::POST, "/api/v2/lead_analytics"),
        (reqwest::Method::GET, "/"),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", pipeline.gateway_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"error": "Not Found"}), "{method} {path}");
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_broker_gets_503_with_retry_after_in_each_familys_format() {
    let mut pipeline = Pipeline::new("gwapi_503").await;
    let closed = free_local_addr();
    pipeline
        .start_gateway_with(|config| {
            config.kafka.brokers = closed.to_string();
            config.gateway.publish_timeout_ms = 1500;
        })
        .await;
    let client = reqwest::Client::new();
    let calls = every_endpoint();
    let started = Instant::now();
    let answers = futures::future::join_all(
        calls
            .iter()
            .map(|call| send(&client, &pipeline.gateway_url, call)),
    )
    .await;
    let elapsed = started.elapsed();
    let message = "Service Unavailable: the event store did not acknowledge in time, retry later";
    for (call, answer) in calls.iter().zip(&answers) {
        let label = &call.label;
        assert_eq!(
            answer.status,
            503,
            "{label}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.retry_after.as_deref(), Some("5"), "{label}");
        let want = match call.family() {
            "mobile" => json!([{"index": null, "field": null, "reason": message}]),
            "crm" => json!({"error": "Service Unavailable", "message": message, "errors": []}),
            "s2s" => json!({"error": "Service Unavailable"}),
            _ => json!({"status": "fail", "error": {"code": 503, "message": message}}),
        };
        assert_eq!(answer.json(), want, "{label}");
    }
    // The publish timeout bounds the wait (plus the publisher's one second of slack).
    assert!(
        elapsed < Duration::from_secs(8),
        "{} requests took {elapsed:?}",
        calls.len()
    );
    pipeline.stop().await;
}
