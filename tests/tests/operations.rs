//! What operators rely on, against the real broker and ClickHouse: the admin endpoints and the
//! counters on them move as events flow, the consumer-lag gauge follows the groups' commits,
//! and consumers can come and go mid-stream without an event lost or shown twice.
//!
//! All services of the process share the prometheus default registry, so counters are global:
//! the tests assert deltas, and take `METRICS` so no other test of this file moves them at the
//! same time.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tributary_service::lag::spawn_lag_reporter;
use tributary_service::Shutdown;
use tributary_tests::{Instance, Pipeline, Scrape};

static METRICS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Events as every documented query counts them: redelivered copies collapse by event_uid.
const COLLAPSED: &str = "SELECT count() FROM (SELECT event_uid FROM events GROUP BY event_uid)";

/// A seed-000 JSON batch with one event per id.
fn mobile_batch(ids: &[String]) -> String {
    let events: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            serde_json::json!({
                "event_id": id,
                "event_name": "ops_test",
                "timestamp_utc": 1_700_000_000,
                "user_id": 42,
            })
        })
        .collect();
    serde_json::json!({ "events": events }).to_string()
}

async fn post(url: &str, path: &str, content_type: &str, body: String) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("gateway answers")
        .status()
        .as_u16()
}

async fn post_events(gateway: &str, ids: &[String]) -> u16 {
    post(
        gateway,
        "/api/analytics/events",
        "application/json",
        mobile_batch(ids),
    )
    .await
}

fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:05}")).collect()
}

/// Poll `instance`'s /metrics until `done` holds for it or `timeout` passes; returns the last.
async fn scrape_until(
    instance: &Instance,
    timeout: Duration,
    done: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + timeout;
    loop {
        let scrape = instance.scrape().await;
        if done(&scrape) || Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_ports_serve_health_and_counters_that_follow_the_events() {
    let _serial = METRICS.lock().await;
    let mut pipeline = Pipeline::new("ops_metrics").await;
    let gateway = pipeline.start_gateway_instance().await;
    let enricher = pipeline.start_enricher_instance();
    let sink = pipeline.start_sink_instance().await;
    for instance in [&gateway, &enricher, &sink] {
        instance.wait_ready(Duration::from_secs(30)).await;
        let health = reqwest::get(instance.admin_url("healthz")).await.unwrap();
        assert_eq!(health.status(), 200, "/healthz on {}", instance.admin);
        let missing = reqwest::get(instance.admin_url("nope")).await.unwrap();
        assert_eq!(missing.status(), 404);
    }
    // The lag gauges the services export, for this pipeline's groups.
    let (enricher_group, sink_group) = (pipeline.enricher_group(), pipeline.sink_group());
    let topics = pipeline.kafka.topics.clone();
    let lag_shutdown = Shutdown::new();
    for (group, topic) in [
        (&enricher_group, &topics.raw),
        (&sink_group, &topics.normalized),
    ] {
        spawn_lag_reporter(
            &pipeline.kafka,
            group,
            topic,
            Duration::from_millis(250),
            lag_shutdown.clone(),
        )
        .unwrap();
    }

    let (g0, e0, s0) = (
        gateway.scrape().await,
        enricher.scrape().await,
        sink.scrape().await,
    );
    let url = gateway.url.clone().unwrap();
    for n in 0..3 {
        let batch = ids(&format!("metrics-{n}"), 0..10);
        assert_eq!(post_events(&url, &batch).await, 202);
    }
    let invalid = r#"{"events":[{"event_name":"no id"}]}"#.to_string();
    assert_eq!(
        post(&url, "/api/analytics/events", "application/json", invalid).await,
        400
    );
    let unauthenticated = post(&url, "/v1/activity/upload", "application/json", "[]".into()).await;
    assert_eq!(unauthenticated, 401);

    let stored = pipeline
        .wait_for_count("SELECT count() FROM events", 30, Duration::from_secs(60))
        .await;
    assert_eq!(stored, 30);

    let rows = "tributary_sink_rows_inserted_total";
    let s1 = scrape_until(&sink, Duration::from_secs(10), |s| {
        s.sum(rows, &[]) - s0.sum(rows, &[]) >= 30.0
    })
    .await;
    let g1 = gateway.scrape().await;
    let e1 = enricher.scrape().await;
    let delta = |after: &Scrape, before: &Scrape, name: &str, labels: &[(&str, &str)]| {
        after.sum(name, labels) - before.sum(name, labels)
    };

    // Gateway: requests by family and status, rejections, accepted events, latency samples.
    let requests = "tributary_gateway_requests_total";
    let mobile = ("family", "mobile_batch");
    assert_eq!(delta(&g1, &g0, requests, &[mobile, ("status", "202")]), 3.0);
    assert_eq!(delta(&g1, &g0, requests, &[mobile, ("status", "400")]), 1.0);
    assert_eq!(
        delta(
            &g1,
            &g0,
            requests,
            &[("family", "activity"), ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &g1,
            &g0,
            "tributary_gateway_requests_rejected_total",
            &[mobile, ("status", "400")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &g1,
            &g0,
            "tributary_gateway_events_accepted_total",
            &[("source", "mobile_batch")]
        ),
        30.0
    );
    assert_eq!(
        delta(
            &g1,
            &g0,
            "tributary_gateway_request_duration_seconds_count",
            &[mobile]
        ),
        4.0
    );
    assert_eq!(
        delta(
            &g1,
            &g0,
            "tributary_gateway_produce_duration_seconds_count",
            &[("source", "mobile_batch")]
        ),
        3.0
    );
    assert_eq!(
        delta(&g1, &g0, "tributary_gateway_publish_failures_total", &[]),
        0.0
    );

    // Enricher: three raw messages in, thirty events normalized, nothing dead-lettered.
    assert_eq!(
        delta(&e1, &e0, "tributary_enricher_messages_total", &[]),
        3.0
    );
    assert_eq!(
        delta(
            &e1,
            &e0,
            "tributary_enricher_events_total",
            &[("outcome", "normalized"), ("source", "mobile_batch")]
        ),
        30.0
    );
    assert_eq!(delta(&e1, &e0, "tributary_enricher_dlq_total", &[]), 0.0);

    // Sink: thirty rows, one freshness sample per row, at least one timed insert, no DLQ.
    assert_eq!(delta(&s1, &s0, rows, &[]), 30.0);
    assert_eq!(
        delta(&s1, &s0, "tributary_sink_freshness_seconds_count", &[]),
        30.0
    );
    assert!(
        delta(
            &s1,
            &s0,
            "tributary_sink_insert_duration_seconds_count",
            &[]
        ) >= 1.0
    );
    assert_eq!(delta(&s1, &s0, "tributary_sink_dlq_total", &[]), 0.0);
    assert_eq!(
        delta(&s1, &s0, "tributary_sink_insert_retries_total", &[]),
        0.0
    );

    // Lag: one series per partition for each group, all back to zero once everything is in.
    let lag = "tributary_consumer_lag_messages";
    let drained = scrape_until(&sink, Duration::from_secs(30), |s| {
        [
            (&enricher_group, &topics.raw),
            (&sink_group, &topics.normalized),
        ]
        .iter()
        .all(|(group, topic)| {
            let labels = [("group", group.as_str()), ("topic", topic.as_str())];
            s.label_values(lag, &labels, "partition").len() == 2 && s.sum(lag, &labels) == 0.0
        })
    })
    .await;
    for (group, topic) in [
        (&enricher_group, &topics.raw),
        (&sink_group, &topics.normalized),
    ] {
        let labels = [("group", group.as_str()), ("topic", topic.as_str())];
        assert_eq!(
            drained.label_values(lag, &labels, "partition"),
            vec!["0", "1"]
        );
        assert_eq!(
            drained.sum(lag, &labels),
            0.0,
            "{group} caught up on {topic}"
        );
    }

    lag_shutdown.trigger();
    for instance in [gateway, enricher, sink] {
        instance.stop().await;
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lag_gauge_counts_the_backlog_until_the_group_commits_it() {
    let _serial = METRICS.lock().await;
    let mut pipeline = Pipeline::new("ops_lag").await;
    let gateway = pipeline.start_gateway_instance().await;
    let group = pipeline.enricher_group();
    let topic = pipeline.kafka.topics.raw.clone();
    let reporter = Shutdown::new();
    let handle = spawn_lag_reporter(
        &pipeline.kafka,
        &group,
        &topic,
        Duration::from_millis(200),
        reporter.clone(),
    )
    .unwrap();

    // No enricher yet: every raw message is backlog.
    let url = gateway.url.clone().unwrap();
    for n in 0..5 {
        assert_eq!(
            post_events(&url, &ids(&format!("lag-{n}"), 0..2)).await,
            202
        );
    }
    let lag = "tributary_consumer_lag_messages";
    let labels = [("group", group.as_str()), ("topic", topic.as_str())];
    let backlog = scrape_until(&gateway, Duration::from_secs(20), |s| {
        s.sum(lag, &labels) == 5.0
    })
    .await;
    assert_eq!(
        backlog.sum(lag, &labels),
        5.0,
        "five raw messages wait for the enricher"
    );

    // The enricher consumes and commits them: the backlog drains to zero.
    let enricher = pipeline.start_enricher_instance();
    let drained = scrape_until(&gateway, Duration::from_secs(60), |s| {
        s.sum(lag, &labels) == 0.0
    })
    .await;
    assert_eq!(
        drained.sum(lag, &labels),
        0.0,
        "the enricher's commits drain the lag"
    );

    reporter.trigger();
    tokio::time::timeout(Duration::from_secs(15), handle)
        .await
        .expect("reporter stops")
        .expect("reporter did not panic");
    enricher.stop().await;
    gateway.stop().await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_enrichers_and_two_sinks_lose_one_each_mid_stream_and_store_every_event_once() {
    const REQUESTS: usize = 40;
    const PER_REQUEST: usize = 50;
    const N: usize = REQUESTS * PER_REQUEST;
    let _serial = METRICS.lock().await;
    let started = Instant::now();
    let mut pipeline = Pipeline::new("ops_group").await.with_partitions(4).await;
    let gateway = pipeline.start_gateway_instance().await;
    let enrichers = [
        pipeline.start_enricher_instance(),
        pipeline.start_enricher_instance(),
    ];
    let sinks = [
        pipeline.start_sink_instance().await,
        pipeline.start_sink_instance().await,
    ];
    for instance in enrichers.iter().chain(&sinks) {
        instance.wait_ready(Duration::from_secs(30)).await;
    }
    // Both groups consume before the stream starts: a warm-up event goes all the way through.
    let url = gateway.url.clone().unwrap();
    let warm_up = vec!["warm-up".to_string()];
    assert_eq!(post_events(&url, &warm_up).await, 202);
    // Counted collapsed: a rebalance while the groups settle may redeliver it.
    let warm = pipeline
        .wait_for_count(COLLAPSED, 1, Duration::from_secs(60))
        .await;
    assert_eq!(warm, 1, "the warm-up event is stored");
    // Where the broker can describe groups (Apache Kafka), both members of each must be in;
    // Tansu answers no DescribeGroups, so there the two instances' own start is what we have.
    for group in [pipeline.enricher_group(), pipeline.sink_group()] {
        match pipeline.group_members(&group) {
            Ok(members) => assert_eq!(members, 2, "{group} members"),
            Err(e) => eprintln!("{group}: broker cannot describe groups ({e})"),
        }
    }
    eprintln!(
        "two enrichers and two sinks joined after {:?}",
        started.elapsed()
    );

    // The sender paces the stream; its last quarter waits for `resume`, so however slowly the
    // pipeline runs on a busy machine, the stream is still going when the consumers stop.
    let all: Vec<String> = ids("group", 0..N);
    let sent = Arc::new(AtomicUsize::new(0));
    let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let url = url.clone();
        let all = all.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut resumed = Some(resumed);
            for chunk in all.chunks(PER_REQUEST) {
                if sent.load(Ordering::SeqCst) >= N * 3 / 4 {
                    if let Some(resumed) = resumed.take() {
                        resumed.await.expect("resume signal");
                    }
                }
                assert_eq!(post_events(&url, chunk).await, 202);
                sent.fetch_add(chunk.len(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Mid-stream: once some events are stored, while more are on their way, one enricher and
    // one sink go away (a scale-down or a pod eviction).
    let some = pipeline
        .wait_for_count(
            "SELECT count() FROM events",
            (N / 4) as u64,
            Duration::from_secs(60),
        )
        .await;
    assert!(some >= (N / 4) as u64, "stream under way: {some} rows");
    let sent_at_stop = sent.load(Ordering::SeqCst);
    assert!(
        sent_at_stop < N,
        "the stream is still flowing when the consumers stop"
    );
    let [enricher_a, enricher_b] = enrichers;
    let [sink_a, sink_b] = sinks;
    let stopping = Instant::now();
    tokio::join!(enricher_b.stop(), sink_b.stop());
    eprintln!(
        "stopped one enricher and one sink at {some} rows of {sent_at_stop} sent, in {:?}",
        stopping.elapsed()
    );
    resume
        .send(())
        .expect("the sender waits or is still sending");
    sender.await.expect("sender finished");

    let unique = pipeline
        .wait_for_count(COLLAPSED, N as u64 + 1, Duration::from_secs(120))
        .await;
    // N events of the stream plus the warm-up event.
    assert_eq!(
        unique,
        N as u64 + 1,
        "every event stored, none twice in the collapsed query"
    );

    let client = pipeline.clickhouse();
    let stored: BTreeSet<String> = client
        .query("SELECT DISTINCT assumeNotNull(event_id) FROM events")
        .fetch_all::<String>()
        .await
        .unwrap()
        .into_iter()
        .collect();
    let want: BTreeSet<String> = all.iter().chain(&warm_up).cloned().collect();
    let missing: Vec<_> = want.difference(&stored).take(10).collect();
    assert!(missing.is_empty(), "events missing: {missing:?}");
    assert_eq!(stored.len(), N + 1, "nothing stored that was not sent");
    let split: u64 = client
        .query(
            "SELECT count() FROM (SELECT event_id FROM events GROUP BY event_id \
             HAVING uniqExact(event_uid) != 1)",
        )
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(split, 0, "one event_uid per event");
    let raw_rows: u64 = client
        .query("SELECT count() FROM events")
        .fetch_one()
        .await
        .unwrap();
    eprintln!(
        "{} events, {raw_rows} physical rows (redelivered copies collapse by event_uid), {:?} in all",
        N + 1,
        started.elapsed()
    );

    tokio::join!(enricher_a.stop(), sink_a.stop(), gateway.stop());
    pipeline.stop().await;
}

/// The `tributary.toml` embedded in deploy/k8s/configmap.yaml, as the pods read it.
fn k8s_config_toml() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s/configmap.yaml");
    let manifest = std::fs::read_to_string(&path).expect("configmap.yaml");
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != "tributary.toml: |");
    lines.next().expect("a `tributary.toml: |` block");
    let block: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .collect();
    block
        .iter()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_k8s_configmap_loads_in_every_service_without_demo_credentials() {
    let dir = std::env::temp_dir().join(format!("tributary-k8s-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tributary.toml");
    std::fs::write(&file, k8s_config_toml()).unwrap();

    // Each service's own loader: unknown keys and wrong types fail here, as they would in a pod.
    let gateway: tributary_gateway::Config = tributary_service::config::load(Some(&file)).unwrap();
    let enricher: tributary_enricher::Config =
        tributary_service::config::load(Some(&file)).unwrap();
    let sink: tributary_sink::Config = tributary_service::config::load(Some(&file)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(
        gateway.tenants.s2s_apps.is_empty(),
        "no demo S2S token in production"
    );
    assert!(
        gateway.tenants.activity_keys.is_empty(),
        "no demo activity key in production"
    );
    assert_eq!(
        gateway.tenants.crm_access,
        tributary_gateway::config::CrmAccess::Required,
        "the CRM API and the search need a tenant key in production"
    );
    assert_eq!(gateway.kafka.topics.raw, "events.raw");
    assert_eq!(enricher.enricher.group, "tributary-enricher");
    assert_eq!(sink.sink.group, "tributary-sink");
    assert!(
        sink.clickhouse.password.is_empty(),
        "the password comes from the Secret"
    );
}
