//! Erasure of one person (GDPR art. 17) through the real broker and ClickHouse: the person's
//! rows leave every table, everyone else's stay, and a replay of the whole raw topic from
//! offset 0 through fresh consumer groups brings nothing of the person back.

use std::time::Duration;

use serde_json::{json, Value};
use tributary_sink::config::TenantHashing;
use tributary_sink::erasure::{erase, ErasureRequest, IdentityKind};
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

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_person_is_gone_from_every_table_and_a_replay_from_offset_0_brings_nothing_back()
{
    let mut pipeline = Pipeline::new("erasure").await.start_all().await;
    send_person(&pipeline, "jane@example.com").await;
    send_person(&pipeline, "bob@example.com").await;
    let stored = pipeline
        .wait_for_count(
            "SELECT uniqExact(event_uid) FROM events",
            8,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(stored, 8);
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
    for table in ["events", "lead_analytics"] {
        assert_eq!(
            events_of(&pipeline, table, "jane@example.com").await,
            0,
            "{table}"
        );
    }
    assert_eq!(events_of(&pipeline, "events", "bob@example.com").await, 4);
    assert_eq!(
        events_of(&pipeline, "lead_analytics", "bob@example.com").await,
        1
    );
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
        // 16 rows before the replay counted by the first sink, then 8 more for Bob.
        if dropped >= 8.0 && inserted >= 16.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay did not finish: dropped {dropped}, inserted {inserted}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for table in ["events", "lead_analytics"] {
        assert_eq!(
            events_of(&pipeline, table, "jane@example.com").await,
            0,
            "{table}"
        );
    }
    assert_eq!(events_of(&pipeline, "events", "bob@example.com").await, 4);
    assert_eq!(
        events_of(&pipeline, "lead_analytics", "bob@example.com").await,
        1
    );
    enricher.stop().await;
    sink.stop().await;
    pipeline.stop().await;
}
