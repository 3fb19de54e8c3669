//! One `event_uid` is one row in every documented query (DESIGN.md, conventions), also when
//! its copies differ in what the tables used to sort and partition by: the same S2S
//! transaction sent with two event times and through two methods, and a CRM event re-sent
//! by another user with another message. Through the gateway, on the real broker and ClickHouse.

use std::time::Duration;

use serde_json::{json, Value};
use tributary_tests::Pipeline;

/// The seed 002 example app's token (idApp 666).
const S2S_TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";

async fn post(pipeline: &Pipeline, path: &str, auth: Option<&str>, body: &Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", pipeline.gateway_url))
        .json(body);
    if let Some(token) = auth {
        request = request.header("authorization", token);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
}

async fn scalar(pipeline: &Pipeline, sql: &str) -> u64 {
    pipeline
        .clickhouse()
        .query(sql)
        .fetch_one::<u64>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn payment(timestamp: u64) -> Value {
    json!({"customUserId": "payer-1", "eventTimestamp": timestamp,
        "idTransaction": "order-15", "currency": "USD", "total": "10.99"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_with_another_time_source_or_recording_are_one_row_in_every_query() {
    let pipeline = Pipeline::new("one_row").await.start_all().await;
    // Each copy is sent once the one before it is stored, so every copy lands in ClickHouse
    // (in inserts of their own) and the newest one is known; `stored` names the copy.
    let send = |path: &'static str, auth: Option<&'static str>, body: Value, stored: String| {
        let pipeline = &pipeline;
        async move {
            post(pipeline, path, auth, &body).await;
            let sql = format!("SELECT count() FROM events FINAL WHERE {stored}");
            let got = pipeline
                .wait_for_count(&sql, 1, Duration::from_secs(60))
                .await;
            assert_eq!(got, 1, "{sql}");
        }
    };
    // The repro: one idTransaction at two event times (2020-01-28 and 2020-03-23, so
    // two days and two months), then through the batch method (another source name).
    let revenue = "/v1/customRevenue/?idApp=666";
    send(
        revenue,
        Some(S2S_TOKEN),
        payment(1_580_213_208),
        "event_time = toDateTime(1580213208)".into(),
    )
    .await;
    send(
        revenue,
        Some(S2S_TOKEN),
        payment(1_585_000_000),
        "event_time = toDateTime(1585000000) AND source = 's2s.customRevenue'".into(),
    )
    .await;
    send(
        "/v1/customRevenueBatch/?idApp=666",
        Some(S2S_TOKEN),
        json!([payment(1_585_000_000)]),
        "source = 's2s.customRevenueBatch'".into(),
    )
    .await;
    // One CRM event (its uid: customer, lead, recording and event_id) re-sent by another user
    // with another message.
    let lead = |user: &str, message: &str| {
        json!({"customer_id": "customer#15", "lead_id": "lead#15", "user_id": user,
            "recording_id": "rec#1", "event_type": "view", "event_id": "view#15",
            "message": message})
    };
    let crm = "/api/v1/lead_analytics";
    send(
        crm,
        None,
        lead("user#15", "first"),
        "message = 'first'".into(),
    )
    .await;
    send(
        crm,
        None,
        lead("user#16", "second"),
        "message = 'second'".into(),
    )
    .await;
    // The materialized views' tables have the newest copies too.
    for (table, newest) in [
        ("revenue", "source = 's2s.customRevenueBatch'"),
        ("lead_analytics", "user_id = 'user#16'"),
    ] {
        let sql = format!("SELECT count() FROM {table} FINAL WHERE {newest}");
        let got = pipeline
            .wait_for_count(&sql, 1, Duration::from_secs(10))
            .await;
        assert_eq!(got, 1, "{sql}");
    }

    // Every documented query shows two events: the payment and the lead view.
    for sql in [
        "SELECT count() FROM events FINAL",
        "SELECT count() FROM (SELECT event_uid FROM events \
         ORDER BY received_at_ms DESC LIMIT 1 BY event_uid)",
        "SELECT sum(events) FROM events_per_day",
        "SELECT sum(events) FROM daily_active_users",
    ] {
        assert_eq!(scalar(&pipeline, sql).await, 2, "{sql}");
    }
    for sql in [
        "SELECT count() FROM revenue FINAL",
        "SELECT sum(payments) FROM revenue_per_day",
        "SELECT count() FROM lead_analytics FINAL",
    ] {
        assert_eq!(scalar(&pipeline, sql).await, 1, "{sql}");
    }
    // The payment counts under its newest copy: the batch method, on 2020-03-23.
    let per_day: Vec<(String, String, u64)> = pipeline
        .clickhouse()
        .query("SELECT toString(day), source, events FROM events_per_day WHERE event_name = 'customRevenue'")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        per_day,
        [(
            "2020-03-23".to_string(),
            "s2s.customRevenueBatch".to_string(),
            1
        )]
    );

    // The search shows the lead's event once, as its newest copy (user#16's), and no longer
    // under the user of the older copy.
    let search = |user: &'static str| {
        let url = format!(
            "{}/api/v1/lead_analytics/search?customer_id=customer%2315&user_id={user}\
             &lead_id=lead%2315&recording_id=rec%231",
            pipeline.gateway_url
        );
        async move {
            let response = reqwest::get(url).await.expect("gateway answers");
            response.json::<Value>().await.expect("a JSON body")
        }
    };
    let body = search("user%2316").await;
    assert_eq!(body["meta"]["rowCount"], 1, "{body}");
    assert_eq!(body["recordings"][0]["message"], "second", "{body}");
    let body = search("user%2315").await;
    assert_eq!(body["meta"]["rowCount"], 0, "{body}");

    // And a merge keeps exactly one row per uid: the copies share the sorting key now.
    for (table, want) in [("events", 2u64), ("revenue", 1), ("lead_analytics", 1)] {
        pipeline
            .clickhouse()
            .query(&format!("OPTIMIZE TABLE {table} FINAL"))
            .execute()
            .await
            .unwrap();
        let rows = scalar(&pipeline, &format!("SELECT count() FROM {table}")).await;
        assert_eq!(rows, want, "{table} after a merge");
    }
    pipeline.stop().await;
}
