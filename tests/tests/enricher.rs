//! Every family's seed samples through the real broker: gateway -> events.raw -> enricher ->
//! events.normalized, each normalized event checked field by field.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use tributary_schemas::{NormalizedBatch, NormalizedEvent};
use tributary_tests::{seed_000_json, seed_000_xml, Pipeline};

/// Read normalized events from `topic` until `want` arrived or `timeout` passed.
async fn normalized_events(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<NormalizedEvent> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + timeout;
    let mut events = Vec::new();
    while events.len() < want && Instant::now() < deadline {
        if let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await
        {
            let batch: NormalizedBatch =
                tributary_schemas::decode(message.payload().unwrap()).unwrap();
            events.extend(batch.events);
        }
    }
    events
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> u16 {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("user-agent", "seed-client/1.0")
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status < 300,
            "{path}: {status} {}",
            response.text().await.unwrap()
        );
        status
    }
}

const LEAD: &str = r#"{"customer_id": "customer_id", "lead_id": "ID", "user_id": "current user ID",
"tool_signature": "tool signature", "recording_id": "gpdb recording ID", "event_type": "view",
"event_id": "event ID", "message": "message", "javascript_local_time": "local_time",
"apex_local_time": "local_time", "event_environment_path": "path", "name_parser_event_id": "event_id",
"recommendation_model_event_id": "event_id", "version_info": {"key": "value"}}"#;

const CONTACT: &str = r#"{"customer_id": "customer_id", "contact_id": "ID", "user_id": "current user ID",
"tool_signature": "tool signature", "recording_id": "gpdb recording ID", "event_type": "view",
"event_id": "contact event ID", "message": "message", "javascript_local_time": "2018-09-03T17:08:20.299Z",
"apex_local_time": "local_time", "event_environment_path": "path", "name_parser_event_id": "event_id",
"recommendation_model_event_id": "event_id", "version_info": {"key": "value"}}"#;

const S2S_CUSTOM_EVENT: &str = r#"{"customUserId": "1", "customEventName": "levelUp",
"customEventParams": {"level": "2"}, "idGender": "1",
"age": "25", "eventTimestamp": "1580213208",
"instanceId": "00000000-0000-0000-0000-000000000000"}"#;

const S2S_REVENUE: &str = r#"{"customUserId": "1111", "eventTimestamp": 1580213208, "idTransaction": "order1234",
"currency": "usd", "total": 1.99, "ipv4": "125.125.125.125",
"gaid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301"}"#;

const ACTIVITY: &str = r#"[{"asset_id": "sdbsjdh623jhmsndbkfs", "activity_name": "Purchase",
"timestamp": "2021-12-29T06:12:28+05:30", "identity": " Jane.Doe@Example.COM ", "activity_source": "web",
"activity_params": {"currency": "INR", "items": [{"price": 250.3, "quantity": 1}]}},
{"activity_name": "Checkout", "timestamp": "2020-04-28T16:47:37", "annonid": "anon-42",
"activity_source": "app", "activity_params": {"total_item_qty": "2"}}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_family_seed_sample_is_normalized_field_by_field() {
    let mut pipeline = Pipeline::new("enrich").await;
    pipeline.start_gateway().await;
    pipeline.start_enricher();
    let client = Client {
        http: reqwest::Client::new(),
        base: pipeline.gateway_url.clone(),
    };
    let s2s_auth = [("authorization", "skjdfASFasf03asdffar3asJHB32r")];
    let bearer = [("authorization", "Bearer demo-netcore-key")];
    client
        .post(
            "/api/analytics/events",
            "application/json",
            &[],
            &seed_000_json(),
        )
        .await;
    client
        .post(
            "/api/analytics/events",
            "text/xml",
            &[],
            &seed_000_xml().replace(
                "<d2p1:event_id>sample string 1<",
                "<d2p1:event_id>xml event 1<",
            ),
        )
        .await;
    client
        .post("/api/v1/lead_analytics", "application/json", &[], LEAD)
        .await;
    client
        .post(
            "/api/v1/contact_analytics",
            "application/json",
            &[],
            CONTACT,
        )
        .await;
    client
        .post(
            "/v1/customEvent/?idApp=666",
            "application/x-www-form-urlencoded",
            &s2s_auth,
            S2S_CUSTOM_EVENT,
        )
        .await;
    client
        .post(
            "/v1/customRevenue/?idApp=666",
            "application/json",
            &s2s_auth,
            S2S_REVENUE,
        )
        .await;
    client
        .post("/v1/activity/upload", "application/json", &bearer, ACTIVITY)
        .await;

    // 2 + 2 mobile, 1 lead, 1 contact, 1 custom event, 1 revenue, 2 activities.
    let events = normalized_events(
        &pipeline.kafka.brokers,
        &pipeline.kafka.topics.normalized,
        10,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(events.len(), 10, "{events:#?}");
    let by_source: HashMap<&str, Vec<&NormalizedEvent>> =
        events.iter().fold(HashMap::new(), |mut m, e| {
            m.entry(e.source.as_str()).or_default().push(e);
            m
        });

    // Seed 000, JSON and XML: same mapping, both events of each request.
    let mobile = &by_source["mobile_batch"];
    assert_eq!(mobile.len(), 4);
    for e in mobile {
        assert_eq!(e.tenant, "default");
        assert_eq!(e.event_name, "sample string 2");
        assert_eq!(e.event_category.as_deref(), Some("sample string 3"));
        assert_eq!(e.event_time, 4_000);
        assert_eq!(e.user_id.as_deref(), Some("7"));
        assert_eq!(
            (e.user_key.as_str(), e.user_key_kind.as_str()),
            ("7", "user_id")
        );
        assert_eq!(e.session_id.as_deref(), Some("sample string 5"));
        assert_eq!(e.platform.as_deref(), Some("sample string 6"));
        assert_eq!(e.phone, None);
        assert_eq!(e.phone_raw.as_deref(), Some("sample string 10"));
        assert_eq!(e.country_raw.as_deref(), Some("sample string 13"));
        assert_eq!(e.ip, None, "an unparseable ip is not an address");
        assert_eq!((e.latitude, e.longitude), (Some(1.1), Some(1.1)));
        assert_eq!(e.duration_seconds, Some(1));
        assert_eq!(e.user_agent.as_deref(), Some("seed-client/1.0"));
        let properties: serde_json::Value = serde_json::from_str(&e.properties).unwrap();
        assert_eq!(
            properties,
            serde_json::json!({"sample string 1": {}, "sample string 3": {}})
        );
    }
    let ids: Vec<_> = mobile.iter().map(|e| e.event_id.clone().unwrap()).collect();
    assert_eq!(ids.iter().filter(|i| *i == "sample string 1").count(), 2);
    assert_eq!(ids.iter().filter(|i| *i == "xml event 1").count(), 2);

    // Seed 001 lead: the CRM fields in their own columns; "local_time" is no timestamp.
    let lead = by_source["crm.lead_analytics"][0];
    assert_eq!(lead.event_name, "view");
    assert_eq!(lead.event_id.as_deref(), Some("event ID"));
    assert_eq!(lead.customer_id.as_deref(), Some("customer_id"));
    assert_eq!(lead.entity_type.as_deref(), Some("lead"));
    assert_eq!(lead.entity_id.as_deref(), Some("ID"));
    assert_eq!(lead.user_id.as_deref(), Some("current user ID"));
    assert_eq!(lead.tool_signature.as_deref(), Some("tool signature"));
    assert_eq!(lead.recording_id.as_deref(), Some("gpdb recording ID"));
    assert_eq!(lead.message.as_deref(), Some("message"));
    assert_eq!(lead.event_environment_path.as_deref(), Some("path"));
    assert_eq!(lead.javascript_local_time.as_deref(), Some("local_time"));
    assert!(lead
        .record_partition_key
        .as_deref()
        .unwrap()
        .starts_with("Lead analytics event|"));
    assert_eq!(lead.event_time, lead.received_at);
    assert!(
        lead.time_flags.contains(&"unparsed_time".to_string()),
        "{:?}",
        lead.time_flags
    );
    let properties: serde_json::Value = serde_json::from_str(&lead.properties).unwrap();
    assert_eq!(
        properties,
        serde_json::json!({"version_info": {"key": "value"}})
    );

    // Seed 001 contact: an ISO javascript_local_time becomes the event time.
    let contact = by_source["crm.contact_analytics"][0];
    assert_eq!(contact.entity_type.as_deref(), Some("contact"));
    assert_eq!(contact.event_time, 1_535_994_500_299);
    assert!(contact
        .record_partition_key
        .as_deref()
        .unwrap()
        .starts_with("Contact analytics event|"));

    // Seed 002 customEvent (the document's curl example): zero device ids are no identity.
    let custom = by_source["s2s.customEvent"][0];
    assert_eq!(custom.event_name, "levelUp");
    assert_eq!(custom.event_time, 1_580_213_208_000);
    assert_eq!(custom.client_time_raw.as_deref(), Some("1580213208"));
    assert_eq!(custom.user_id.as_deref(), Some("1"));
    assert_eq!(custom.user_key, "1");
    assert_eq!(custom.instance_id, None);
    assert_eq!((custom.gender, custom.age), (Some(1), Some(25)));
    assert_eq!(custom.app_id.as_deref(), Some("666"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&custom.properties).unwrap(),
        serde_json::json!({"level": "2"})
    );

    // Seed 002 revenue: exact amount, ISO currency, transaction id, lowercased device id.
    let revenue = by_source["s2s.customRevenue"][0];
    assert_eq!(revenue.event_name, "customRevenue");
    assert_eq!(revenue.revenue_amount.as_deref(), Some("1.99"));
    assert_eq!(revenue.currency.as_deref(), Some("USD"));
    assert_eq!(revenue.transaction_id.as_deref(), Some("order1234"));
    assert_eq!(revenue.ip.as_deref(), Some("125.125.125.125"));
    assert_eq!(
        revenue.gaid.as_deref(),
        Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    );

    // Seed 003: offsets honoured, e-mail identity trimmed and lowercased, zone-less time in UTC.
    let mut activities = by_source["activity.upload"].clone();
    activities.sort_by_key(|e| e.event_index);
    let purchase = activities[0];
    assert_eq!(purchase.event_name, "Purchase");
    assert_eq!(purchase.event_time, 1_640_738_548_000);
    assert_eq!(purchase.email.as_deref(), Some("jane.doe@example.com"));
    assert_eq!(purchase.app_id.as_deref(), Some("sdbsjdh623jhmsndbkfs"));
    assert_eq!(purchase.platform.as_deref(), Some("web"));
    assert!(purchase.time_flags.contains(&"older_than_24h".to_string()));
    let checkout = activities[1];
    assert_eq!(checkout.event_time, 1_588_092_457_000);
    assert_eq!(checkout.anonymous_id.as_deref(), Some("anon-42"));
    assert_eq!(
        checkout.app_id.as_deref(),
        Some("sdbsjdh623jhmsndbkfs"),
        "inherits the first asset_id"
    );
    assert_eq!(checkout.user_key_kind, "anonymous_id");

    // Deterministic ids: the two copies of seed 000's event share one event_uid.
    let uids: std::collections::HashSet<_> = mobile.iter().map(|e| e.event_uid.as_str()).collect();
    assert_eq!(uids.len(), 2);
    pipeline.stop().await;
}
