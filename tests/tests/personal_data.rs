//! Personal data through the real broker and ClickHouse. Erasure of one person (GDPR art.
//! 17): the person's rows leave every table, everyone else's stay, and a replay of the whole
//! raw topic from offset 0 through fresh consumer groups brings nothing of the person back.
//! Retention per tenant: the TTL the sink puts on every event table.

use std::time::Duration;

use serde_json::{json, Value};
use tributary_sink::config::TenantHashing;
use tributary_sink::erasure::{erase, ErasureRequest, IdentityKind};
use tributary_sink::retention::RetentionConfig;
use tributary_tests::Pipeline;

const ACTIVITY_KEY: &str = "demo-netcore-key";

async fn post(pipeline: &Pipeline, path: &str, body: &Value, headers: &[(&str, &str)]) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", pipeline.gateway_url))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the gateway answers");
    assert!(response.status().is_success(), "{path}: {response:?}");
}

/// Three activity events and one CRM lead event of the person known by `email`.
async fn send_person(pipeline: &Pipeline, email: &str) {
    let activities: Vec<Value> = (0..3)
        .map(|n| {
            json!({"asset_id": "shop", "activity_name": "Purchase", "timestamp": "2024-05-01T10:00:00Z",
                "identity": email, "activity_source": "web", "activity_params": {"n": n}})
        })
        .collect();
    let bearer = format!("Bearer {ACTIVITY_KEY}");
    post(
        pipeline,
        "/v1/activity/upload",
        &Value::Array(activities),
        &[("authorization", &bearer)],
    )
    .await;
    let lead = json!({"customer_id": "c1", "lead_id": format!("lead-{email}"), "user_id": email,
        "tool_signature": "t", "recording_id": "r", "event_type": "view",
        "event_id": format!("ev-{email}")});
    post(pipeline, "/api/v1/lead_analytics", &lead, &[]).await;
}

/// Distinct events of `who` in `table` (`user_id` or `identity` holds the address).
async fn events_of(pipeline: &Pipeline, table: &str, who: &str) -> u64 {
    let column = if table == "events" {
        "coalesce(identity, user_id)"
    } else {
        "user_id"
    };
    pipeline
        .clickhouse()
        .query(&format!(
            "SELECT uniqExact(event_uid) FROM {table} WHERE {column} = ?"
        ))
        .bind(who)
        .fetch_one()
        .await
        .unwrap()
}

/// Jane's and Bob's events, once all 8 and both lead rows are stored.
async fn send_jane_and_bob(pipeline: &Pipeline) {
    send_person(pipeline, "jane@example.com").await;
    send_person(pipeline, "bob@example.com").await;
    for (table, want) in [("events", 8), ("lead_analytics", 2)] {
        let stored = pipeline
            .wait_for_count(
                &format!("SELECT uniqExact(event_uid) FROM {table}"),
                want,
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(stored, want, "{table}");
    }
}

/// Nothing of Jane in any table, all of Bob.
async fn assert_only_bob_is_left(pipeline: &Pipeline) {
    for table in ["events", "lead_analytics"] {
        assert_eq!(
            events_of(pipeline, table, "jane@example.com").await,
            0,
            "{table}"
        );
    }
    assert_eq!(events_of(pipeline, "events", "bob@example.com").await, 4);
    assert_eq!(
        events_of(pipeline, "lead_analytics", "bob@example.com").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_person_is_gone_from_every_table_and_a_replay_from_offset_0_brings_nothing_back()
{
    let mut pipeline = Pipeline::new("erasure").await.start_all().await;
    send_jane_and_bob(&pipeline).await;
    assert_eq!(
        events_of(&pipeline, "lead_analytics", "jane@example.com").await,
        1
    );

    let request = ErasureRequest {
        tenant: "default".into(),
        kind: IdentityKind::Email,
        value: " Jane@Example.COM ".into(),
        requested_by: "test".into(),
    };
    let report = erase(
        &pipeline.clickhouse(),
        &TenantHashing::default(),
        &request,
        Duration::from_secs(2),
    )
    .await
    .expect("erase");
    assert_eq!(report.removed.get("events"), Some(&4), "{report:?}");
    assert_eq!(report.removed.get("lead_analytics"), Some(&1), "{report:?}");
    assert_eq!(
        report.removed.get("contact_analytics"),
        Some(&0),
        "{report:?}"
    );
    assert_only_bob_is_left(&pipeline).await;
    // The audit record keeps hashes, never the address.
    let audit: String = pipeline
        .clickhouse()
        .query(
            "SELECT concat(identity_hash, arrayStringConcat(value_hashes), report) FROM erasures",
        )
        .fetch_one()
        .await
        .unwrap();
    assert!(!audit.to_lowercase().contains("jane"), "{audit}");

    // Replay all of events.raw from offset 0 through fresh groups: a new enricher normalizes
    // every request again, a new sink reads events.normalized (old and new copies) from 0.
    pipeline.name = format!("{}-replay", pipeline.name);
    let enricher = pipeline.start_enricher_instance();
    let sink = pipeline.start_sink_instance().await;
    sink.wait_ready(Duration::from_secs(30)).await;
    // Each of Jane's 4 events arrives at least twice (the first normalization's copy and the
    // replay's): all are dropped; Bob's copies are inserted again.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let scrape = sink.scrape().await;
        let dropped = scrape.sum("tributary_sink_erased_rows_dropped_total", &[]);
        let inserted = scrape.sum("tributary_sink_rows_inserted_total", &[]);
        // The first sink's 8 rows, then Bob's 4 events twice more.
        if dropped >= 8.0 && inserted >= 16.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay did not finish: dropped {dropped}, inserted {inserted}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_only_bob_is_left(&pipeline).await;

    // What Jane sends after the erasure is new data: stored.
    send_person(&pipeline, "jane@example.com").await;
    let again = pipeline
        .wait_for_count(
            "SELECT uniqExact(event_uid) FROM events WHERE identity = 'jane@example.com' \
             OR user_id = 'jane@example.com'",
            4,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(again, 4);
    enricher.stop().await;
    sink.stop().await;
    pipeline.stop().await;
}

#[tokio::test]
async fn retention_per_tenant_deletes_old_rows_of_that_tenant_only() {
    let pipeline = Pipeline::new("retention").await;
    tributary_sink::migrate::migrate(&pipeline.clickhouse)
        .await
        .unwrap();
    let client = pipeline.clickhouse();
    let retention = RetentionConfig {
        default_days: Some(30),
        tenants: [("short".to_string(), 1)].into(),
    };
    let changed = tributary_sink::retention::apply(&client, &retention)
        .await
        .unwrap();
    assert_eq!(
        changed,
        ["contact_analytics", "events", "lead_analytics", "revenue"]
    );
    let now = tributary_service::now_ms();
    let day = 86_400_000;
    // (event_uid, tenant, received at, kept): short keeps 1 day, every other tenant 30.
    let rows = [
        ("long-mid", "other", now - 2 * day, true),
        ("long-old", "other", now - 40 * day, false),
        ("short-new", "short", now, true),
        ("short-old", "short", now - 2 * day, false),
    ];
    for (uid, tenant, at, _) in rows {
        client
            .query(
                "INSERT INTO events (event_uid, tenant, received_at, received_at_ms) \
                 VALUES (?, ?, toDateTime(intDiv(?, 1000)), ?)",
            )
            .bind(uid)
            .bind(tenant)
            .bind(at)
            .bind(at)
            .execute()
            .await
            .unwrap();
    }
    client
        .query("OPTIMIZE TABLE events FINAL")
        .execute()
        .await
        .unwrap();
    let kept: Vec<String> = client
        .query("SELECT event_uid FROM events ORDER BY event_uid")
        .fetch_all()
        .await
        .unwrap();
    let want: Vec<&str> = rows.iter().filter(|r| r.3).map(|r| r.0).collect();
    assert_eq!(kept, want);

    // No retention configured: the TTLs go again.
    let changed = tributary_sink::retention::apply(&client, &RetentionConfig::default())
        .await
        .unwrap();
    assert_eq!(changed.len(), 4);
    let with_ttl: u64 = client
        .query(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() \
             AND create_table_query LIKE '%TTL%'",
        )
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(with_ttl, 0);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_endpoint_erases_with_the_token_only() {
    let pipeline = Pipeline::new("erase_http").await.start_all().await;
    send_jane_and_bob(&pipeline).await;
    let token = "erase-token-1";
    let mut sink = tributary_sink::Config {
        kafka: pipeline.kafka.clone(),
        clickhouse: pipeline.clickhouse.clone(),
        ..Default::default()
    };
    sink.sink.erasure_refresh_ms = 200;
    let config = tributary_operator::Config {
        kafka: pipeline.kafka.clone(),
        admin: tributary_service::AdminConfig {
            token: Some(token.into()),
        },
        erasure: Some(std::sync::Arc::new(sink)),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/erase", listener.local_addr().unwrap());
    tokio::spawn(tributary_operator::debugger::run(
        config,
        listener,
        pipeline.shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    let form = [("tenant", "default"), ("email", "jane@example.com")];
    let answer = client.post(&url).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let answer = client
        .post(&url)
        .bearer_auth(token)
        .form(&[
            ("tenant", "default"),
            ("email", "a@b.c"),
            ("phone", "+1555"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let answer = client
        .post(&url)
        .bearer_auth(token)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let report: Value = answer.json().await.unwrap();
    assert_eq!(report["removed"]["events"], 4, "{report}");
    assert_eq!(report["removed"]["lead_analytics"], 1, "{report}");
    assert_only_bob_is_left(&pipeline).await;
    pipeline.stop().await;
}
