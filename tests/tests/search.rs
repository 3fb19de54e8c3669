//! The lead/contact search of seed 001 and the BI views, end to end on the real broker and
//! ClickHouse: CRM events posted to the gateway are found through
//! `GET /api/v1/{lead,contact}_analytics/search` within seconds, with every parameter rule, and
//! an event sent twice shows once in the search and in the views.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};
use tributary_tests::Pipeline;

const CUSTOMER: &str = "customer#2";
const USER: &str = "user#2";
const LEAD: &str = "lead#1";
const CONTACT: &str = "contact#1";

/// A CRM event body with every optional field of the seed; `id_field` names the entity.
fn crm_body(id_field: &str, entity: &str, recording: &str, event_id: &str) -> Value {
    json!({
        "customer_id": CUSTOMER,
        id_field: entity,
        "user_id": USER,
        "tool_signature": "vfp",
        "recording_id": recording,
        "event_type": "view",
        "event_id": event_id,
        "message": format!("message {event_id}"),
        "javascript_local_time": "local_time",
        "apex_local_time": "local_time",
        "event_environment_path": "path",
        "name_parser_event_id": "np-1",
        "recommendation_model_event_id": "rm-1",
        "version_info": {"key": "value"},
    })
}

/// POST a CRM event; returns the 201 record.
async fn post(pipeline: &Pipeline, path: &str, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", pipeline.gateway_url))
        .json(body)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 201, "{path} {body}");
    let record: Value = response.json().await.unwrap();
    // Distinct created_at for every event, so "newest first" has one answer.
    tokio::time::sleep(Duration::from_millis(5)).await;
    record
}

/// GET a search; status, `Retry-After` and JSON body.
async fn get(pipeline: &Pipeline, path_and_query: &str) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", pipeline.gateway_url))
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

fn lead_search(query: &str) -> String {
    format!("/api/v1/lead_analytics/search?customer_id=customer%232&user_id=user%232&lead_id=lead%231&{query}")
}

/// Poll `path_and_query` until `rowCount` reaches `want` (or 60 s pass); the last body.
async fn wait_for_rows(pipeline: &Pipeline, path_and_query: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = get(pipeline, path_and_query).await;
        let got = body["meta"]["rowCount"].as_u64();
        if status == 200 && got >= Some(want) || Instant::now() > deadline {
            assert_eq!(status, 200, "{body}");
            assert_eq!(got, Some(want), "{path_and_query}: {body}");
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn event_ids(body: &Value) -> Vec<String> {
    body["recordings"]
        .as_array()
        .unwrap_or_else(|| panic!("no recordings in {body}"))
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crm_events_are_found_by_search_within_seconds_in_the_documented_shape() {
    let pipeline = Pipeline::new("search_found").await.start_all().await;
    let lead_path = "/api/v1/lead_analytics";
    let first = post(
        &pipeline,
        lead_path,
        &crm_body("lead_id", LEAD, "recording#1", "view#1"),
    )
    .await;
    // The browser-extension variant names the lead with entity_id.
    let mut extension = crm_body("entity_id", LEAD, "recording#2", "view#2");
    extension["tool_signature"] = json!("browser_extension");
    post(&pipeline, lead_path, &extension).await;
    let mut generic = crm_body("entity_id", LEAD, "recording#1", "view#3");
    generic["entity_type"] = json!("lead");
    post(&pipeline, "/api/v1/analytics_events", &generic).await;
    // Not this user's, nor this lead's: never in the lead search below.
    let mut other_user = crm_body("lead_id", LEAD, "recording#1", "view#4");
    other_user["user_id"] = json!("user#3");
    post(&pipeline, lead_path, &other_user).await;
    post(
        &pipeline,
        lead_path,
        &crm_body("lead_id", "lead#2", "recording#1", "view#5"),
    )
    .await;
    let contact = post(
        &pipeline,
        "/api/v1/contact_analytics",
        &crm_body("contact_id", CONTACT, "recording#1", "contact-view#1"),
    )
    .await;
    let mut generic_contact = crm_body("entity_id", CONTACT, "recording#3", "contact-view#2");
    generic_contact["entity_type"] = json!("contact");
    post(&pipeline, "/api/v1/analytics_events", &generic_contact).await;

    let started = Instant::now();
    let leads = wait_for_rows(
        &pipeline,
        &lead_search("recording_id=recording%231&recording_id=recording%232"),
        3,
    )
    .await;
    eprintln!("lead events searchable after {:?}", started.elapsed());
    assert_eq!(event_ids(&leads), ["view#3", "view#2", "view#1"]);
    assert_eq!(
        leads["meta"],
        json!({"page": 1, "pageSize": 10, "rowCount": 3})
    );
    // The document's keys, in its order, with the 201's created_at / updated_at.
    assert_eq!(
        leads["recordings"][2],
        json!({
            "customer_id": CUSTOMER,
            "entity_type": "lead",
            "entity_id": LEAD,
            "user_id": USER,
            "tool_signature": "vfp",
            "recording_id": "recording#1",
            "event_type": "view",
            "event_id": "view#1",
            "message": "message view#1",
            "created_at": first["created_at"],
            "updated_at": first["updated_at"],
        })
    );
    let keys: Vec<&String> = leads["recordings"][2].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "customer_id",
            "entity_type",
            "entity_id",
            "user_id",
            "tool_signature",
            "recording_id",
            "event_type",
            "event_id",
            "message",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(
        leads["recordings"][1]["tool_signature"],
        "browser_extension"
    );

    let contacts = wait_for_rows(
        &pipeline,
        "/api/v1/contact_analytics/search?recording_id[]=recording%231&recording_id[]=recording%233\
         &customer_id=customer%232&user_id=user%232&contact_id=contact%231",
        2,
    )
    .await;
    assert_eq!(event_ids(&contacts), ["contact-view#2", "contact-view#1"]);
    assert_eq!(contacts["recordings"][1]["entity_type"], "contact");
    assert_eq!(
        contacts["recordings"][1]["created_at"],
        contact["created_at"]
    );
    // A contact is not a lead: the lead search for the contact's id finds nothing.
    let (_, _, none) = get(
        &pipeline,
        "/api/v1/lead_analytics/search?recording_id=recording%231&customer_id=customer%232\
         &user_id=user%232&lead_id=contact%231",
    )
    .await;
    assert_eq!(none["recordings"], json!([]));
    assert_eq!(none["meta"]["rowCount"], 0);

    // The tables keep every field of the seed, for BI.
    #[derive(Debug, Deserialize, clickhouse::Row)]
    struct Stored {
        lead_id: String,
        source: String,
        javascript_local_time: Option<String>,
        apex_local_time: Option<String>,
        event_environment_path: Option<String>,
        name_parser_event_id: Option<String>,
        recommendation_model_event_id: Option<String>,
        version_info: Option<String>,
        partition_key: String,
        created_at_ms: i64,
    }
    let stored: Stored = pipeline
        .clickhouse()
        .query(
            "SELECT lead_id, source, javascript_local_time, apex_local_time, \
             event_environment_path, name_parser_event_id, recommendation_model_event_id, \
             version_info, partition_key, created_at_ms FROM lead_analytics WHERE event_id = 'view#1'",
        )
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored.lead_id, LEAD);
    assert_eq!(stored.source, "crm.lead_analytics");
    assert_eq!(stored.javascript_local_time.as_deref(), Some("local_time"));
    assert_eq!(stored.apex_local_time.as_deref(), Some("local_time"));
    assert_eq!(stored.event_environment_path.as_deref(), Some("path"));
    assert_eq!(stored.name_parser_event_id.as_deref(), Some("np-1"));
    assert_eq!(
        stored.recommendation_model_event_id.as_deref(),
        Some("rm-1")
    );
    let version: Value = serde_json::from_str(stored.version_info.as_deref().unwrap()).unwrap();
    assert_eq!(version, json!({"key": "value"}));
    assert_eq!(
        stored.partition_key,
        first["partitionKey"].as_str().unwrap()
    );
    assert!(stored.created_at_ms > 0);
    let contacts_in_leads: u64 = pipeline
        .clickhouse()
        .query("SELECT count() FROM lead_analytics WHERE entity_type != 'lead'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(contacts_in_leads, 0);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_parameters_arrays_latest_paging_and_errors() {
    let pipeline = Pipeline::new("search_params").await.start_all().await;
    // recording#1: view#1..3, recording#2: view#4..5, recording#3: view#6, posted in order.
    let plan = [
        ("recording#1", "view#1"),
        ("recording#1", "view#2"),
        ("recording#2", "view#3"),
        ("recording#1", "view#4"),
        ("recording#2", "view#5"),
        ("recording#3", "view#6"),
    ];
    for (recording, event) in plan {
        post(
            &pipeline,
            "/api/v1/lead_analytics",
            &crm_body("lead_id", LEAD, recording, event),
        )
        .await;
    }
    // A value with quotes, a backslash and a question mark is stored and found as itself.
    let odd = "it's \"odd\" \\ ?x";
    post(
        &pipeline,
        "/api/v1/lead_analytics",
        &crm_body("lead_id", LEAD, odd, "view#7"),
    )
    .await;
    let all = "recording_id=recording%231&recording_id=recording%232&recording_id=recording%233";
    let everything = wait_for_rows(&pipeline, &lead_search(all), 6).await;
    assert_eq!(
        event_ids(&everything),
        ["view#6", "view#5", "view#4", "view#3", "view#2", "view#1"]
    );
    let encoded: String = url_encode(odd);
    let found = wait_for_rows(
        &pipeline,
        &lead_search(&format!("recording_id={encoded}")),
        1,
    )
    .await;
    assert_eq!(found["recordings"][0]["recording_id"], odd);

    // Both array forms, encoded brackets, indexed brackets, and a mix: one list.
    let arrays = [
        ("recording_id=recording%231&recording_id=recording%232", 5),
        (
            "recording_id[]=recording%231&recording_id[]=recording%233",
            4,
        ),
        ("recording_id%5B%5D=recording%232", 2),
        (
            "recording_id[0]=recording%233&recording_id[1]=recording%232",
            3,
        ),
        ("recording_id=recording%233&recording_id[]=recording%233", 1),
        ("recording_id=recording%239", 0),
    ];
    for (query, want) in arrays {
        let (status, _, body) = get(&pipeline, &lead_search(query)).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["meta"]["rowCount"], want, "{query}: {body}");
        assert_eq!(
            body["recordings"].as_array().unwrap().len(),
            want,
            "{query}"
        );
    }

    // latest: the newest event of each recording_id.
    for value in ["true", "TRUE", "True", "1"] {
        let (status, _, body) =
            get(&pipeline, &lead_search(&format!("{all}&latest={value}"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            event_ids(&body),
            ["view#6", "view#5", "view#4"],
            "latest={value}"
        );
        assert_eq!(body["meta"]["rowCount"], 3);
    }
    for value in ["false", "FALSE", "0"] {
        let (_, _, body) = get(&pipeline, &lead_search(&format!("{all}&latest={value}"))).await;
        assert_eq!(body["meta"]["rowCount"], 6, "latest={value}");
    }
    let (_, _, body) = get(
        &pipeline,
        &lead_search(&format!("{all}&latest=true&pageSize=2&page=2")),
    )
    .await;
    assert_eq!(event_ids(&body), ["view#4"]);
    assert_eq!(
        body["meta"],
        json!({"page": 2, "pageSize": 2, "rowCount": 3})
    );

    // Paging: pages concatenate to the whole list; beyond the end is empty with the count.
    let mut paged = Vec::new();
    for page in 1..=3 {
        let (_, _, body) = get(
            &pipeline,
            &lead_search(&format!("{all}&pageSize=4&page={page}")),
        )
        .await;
        assert_eq!(
            body["meta"],
            json!({"page": page, "pageSize": 4, "rowCount": 6})
        );
        paged.extend(event_ids(&body));
    }
    assert_eq!(paged, event_ids(&everything));
    for query in [
        "pageSize=1&page=7",
        "page=4294967295&pageSize=1000",
        "page=2",
    ] {
        let (status, _, body) = get(&pipeline, &lead_search(&format!("{all}&{query}"))).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["recordings"], json!([]), "{query}");
        assert_eq!(body["meta"]["rowCount"], 6, "{query}");
    }
    let (_, _, body) = get(&pipeline, &lead_search(&format!("{all}&pageSize=1000"))).await;
    assert_eq!(body["recordings"].as_array().unwrap().len(), 6);
    assert_eq!(body["meta"]["pageSize"], 1000);

    // 422 in the CRM error shape, naming every missing or invalid parameter.
    let invalid = [
        (
            "/api/v1/lead_analytics/search".to_string(),
            vec!["recording_id", "customer_id", "user_id", "lead_id"],
        ),
        (
            "/api/v1/contact_analytics/search?lead_id=lead%231&recording_id=r".to_string(),
            vec!["customer_id", "user_id", "contact_id", "lead_id"],
        ),
        (
            lead_search("latest=yes&page=0&pageSize=1001"),
            vec!["recording_id", "latest", "page", "pageSize"],
        ),
        (
            lead_search(&format!("{all}&page=-1&pageSize=abc")),
            vec!["page", "pageSize"],
        ),
        (
            lead_search(&format!("{all}&page=1.5&pageSize=0")),
            vec!["page", "pageSize"],
        ),
        (
            lead_search(&format!("{all}&page=99999999999")),
            vec!["page"],
        ),
        (
            "/api/v1/lead_analytics/search?recording_id=r&customer_id=&user_id=u&lead_id=l"
                .to_string(),
            vec!["customer_id"],
        ),
    ];
    for (path, want) in invalid {
        let (status, _, body) = get(&pipeline, &path).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["error"], "Unprocessable Entity");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, want, "{path}: {body}");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("invalid or missing"));
    }

    // SQL injection attempts are values like any other: they match nothing.
    let attacks = [
        "' OR '1'='1",
        "x' OR 1=1 --",
        "') OR 1=1 --",
        "'] OR 1 --",
        "\\' OR 1=1 --",
        "lead#1' UNION ALL SELECT * FROM system.tables --",
        "`; DROP TABLE events; --",
        "?",
    ];
    for attack in attacks {
        let evil = url_encode(attack);
        for query in [
            format!("/api/v1/lead_analytics/search?{all}&customer_id={evil}&user_id=user%232&lead_id=lead%231"),
            format!("/api/v1/lead_analytics/search?{all}&customer_id=customer%232&user_id={evil}&lead_id=lead%231"),
            format!("/api/v1/lead_analytics/search?{all}&customer_id=customer%232&user_id=user%232&lead_id={evil}"),
            lead_search(&format!("recording_id={evil}&recording_id[]={evil}")),
        ] {
            let (status, _, body) = get(&pipeline, &query).await;
            assert_eq!(status, 200, "{attack:?}: {body}");
            assert_eq!(body["recordings"], json!([]), "{attack:?}");
            assert_eq!(body["meta"]["rowCount"], 0, "{attack:?}");
        }
    }
    // ... and the data is still all there.
    let (_, _, body) = get(&pipeline, &lead_search(all)).await;
    assert_eq!(body["meta"]["rowCount"], 6);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_sent_twice_shows_once_in_search_and_in_the_bi_views() {
    let pipeline = Pipeline::new("search_dupes").await.start_all().await;
    let twice = crm_body("lead_id", LEAD, "recording#1", "view#1");
    let first = post(&pipeline, "/api/v1/lead_analytics", &twice).await;
    let second = post(&pipeline, "/api/v1/lead_analytics", &twice).await;
    assert_ne!(first["partitionKey"], second["partitionKey"]);
    post(
        &pipeline,
        "/api/v1/lead_analytics",
        &crm_body("lead_id", LEAD, "recording#1", "view#2"),
    )
    .await;
    // The same payment twice (same idTransaction, so the same event_uid).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payment = json!({"customUserId": "payer-1", "eventTimestamp": now,
        "idTransaction": "order-1", "currency": "USD", "total": "10.99"});
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/v1/customRevenue/?idApp=666",
                pipeline.gateway_url
            ))
            .header("authorization", "skjdfASFasf03asdffar3asJHB32r")
            .json(&payment)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }

    // Every event is stored, the re-sent one with its newest copy (copies in one insert, or
    // merged since, collapse, so the count of stored rows is not fixed) ...
    let newest = format!(
        "SELECT count() FROM lead_analytics FINAL WHERE partition_key = '{}'",
        second["partitionKey"].as_str().unwrap()
    );
    for (sql, want) in [
        (newest.as_str(), 1u64),
        ("SELECT count() FROM events FINAL", 3),
        ("SELECT count() FROM revenue FINAL", 1),
    ] {
        let got = pipeline
            .wait_for_count(sql, want, Duration::from_secs(60))
            .await;
        assert_eq!(got, want, "{sql}");
    }

    // ... and the search shows the event once: the newest copy.
    let body = wait_for_rows(&pipeline, &lead_search("recording_id=recording%231"), 2).await;
    assert_eq!(event_ids(&body), ["view#2", "view#1"]);
    assert_eq!(body["recordings"][1]["created_at"], second["created_at"]);
    let (_, _, latest) = get(
        &pipeline,
        &lead_search("recording_id=recording%231&latest=true"),
    )
    .await;
    assert_eq!(event_ids(&latest), ["view#2"]);

    // The BI views count it once too, queried from another current database, as BI tools do.
    let database = &pipeline.clickhouse.database;
    let bi = clickhouse::Client::default()
        .with_url(&pipeline.clickhouse.url)
        .with_database("default");
    let per_day: Vec<(String, String, u64, u64)> = bi
        .query(&format!(
            "SELECT source, event_name, events, users FROM `{database}`.events_per_day \
             WHERE tenant = 'default' ORDER BY source, event_name"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        per_day,
        [
            ("crm.lead_analytics".to_string(), "view".to_string(), 2, 1),
            (
                "s2s.customRevenue".to_string(),
                "customRevenue".to_string(),
                1,
                1
            ),
        ]
    );
    let active: Vec<(u64, u64, u64)> = bi
        .query(&format!(
            "SELECT active_users, events, anonymous_events FROM `{database}`.daily_active_users \
             WHERE tenant = 'default'"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(active, [(2, 3, 0)], "user#2 and payer-1");
    // Decimal(38, 9) arrives as its mantissa.
    let revenue: Vec<(String, i128, u64, u64)> = bi
        .query(&format!(
            "SELECT currency, revenue, payments, paying_users \
             FROM `{database}`.revenue_per_day WHERE tenant = 'default'"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(revenue, [("USD".to_string(), 10_990_000_000, 1, 1)]);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_answers_503_with_retry_after_when_clickhouse_is_unreachable() {
    let mut pipeline = Pipeline::new("search_down").await;
    // Nothing listens on the discard port of loopback.
    pipeline.clickhouse.url = "http://127.0.0.1:9".into();
    pipeline.start_gateway().await;
    let (status, retry_after, body) =
        get(&pipeline, &lead_search("recording_id=recording%231")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(body["error"], "Service Unavailable");
    assert_eq!(body["errors"], json!([]));
    pipeline.stop().await;
}

/// Every page and its `rowCount` are one reading of the table, also while events arrive: a
/// page never shows fewer rows than `rowCount` says it holds, nor more. Rows go straight
/// into `lead_analytics`, one insert at a time, as fast as ClickHouse takes them, while the
/// search is asked again and again: the first page (all rows), a middle page, and a page
/// past the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_and_its_row_count_agree_while_events_arrive() {
    let mut pipeline = Pipeline::new("search_snapshot").await;
    tributary_sink::migrate::migrate(&pipeline.clickhouse)
        .await
        .expect("migrate test database");
    pipeline.start_gateway().await;
    let inserting = Arc::new(AtomicBool::new(true));
    let inserter = {
        let client = pipeline.clickhouse();
        let inserting = inserting.clone();
        tokio::spawn(async move {
            let mut n = 1_700_000_000_000u64;
            while inserting.load(Ordering::Relaxed) {
                n += 1;
                client
                    .query(
                        "INSERT INTO lead_analytics (event_uid, tenant, source, customer_id, \
                         entity_type, entity_id, lead_id, user_id, recording_id, event_type, \
                         event_id, partition_key, created_at, created_at_ms, updated_at, \
                         updated_at_ms) \
                         SELECT concat('uid-', toString(number)), 'default', \
                         'crm.lead_analytics', 'customer#2', 'lead', 'lead#1', 'lead#1', \
                         'user#2', 'recording#1', 'view', concat('view-', toString(number)), \
                         'Lead analytics event|test', toDateTime(intDiv(number, 1000), 'UTC'), \
                         number, toDateTime(intDiv(number, 1000), 'UTC'), number \
                         FROM numbers(?, 1)",
                    )
                    .bind(n)
                    .execute()
                    .await
                    .expect("insert one row");
            }
            n - 1_700_000_000_000
        })
    };
    let mut disagreements = Vec::new();
    for i in 0..150 {
        let (page, size) = [(1, 1000), (2, 3), (1000, 5)][i % 3];
        let (status, _, body) = get(
            &pipeline,
            &lead_search(&format!(
                "recording_id=recording%231&page={page}&pageSize={size}"
            )),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let row_count = body["meta"]["rowCount"].as_u64().unwrap();
        let shown = body["recordings"].as_array().unwrap().len() as u64;
        let want = row_count.saturating_sub((page - 1) * size).min(size);
        if shown != want {
            disagreements.push(format!(
                "page {page} of {size}: rowCount {row_count}, {shown} recordings"
            ));
        }
    }
    inserting.store(false, Ordering::Relaxed);
    let inserted = inserter.await.unwrap();
    assert!(
        inserted >= 20,
        "only {inserted} rows went in during the searches"
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    pipeline.stop().await;
}

/// Percent-encode every byte but unreserved ASCII.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
