//! The events debugger page in a real browser: headless Debian Chromium driven by
//! playwright-core (`tests/browser/debugger.mjs`, installed by `scripts/test.sh`), against the
//! whole pipeline and `tributary debugger` in this process. The script proves: without the
//! token the page refuses; an event sent shows within 2 s, request beside normalized row; a bad
//! request shows with its reason, personal data masked; a dead letter's replay button works.
//! Then this test finds the replayed events stored once. Missing Chromium or node modules fail
//! the test (never a skip).

use std::path::PathBuf;
use std::time::Duration;

use tributary_operator::config::{DebuggerConfig, GroupSection};
use tributary_service::AdminConfig;
use tributary_tests::dead_letters::{activity_batch, dead_letter};
use tributary_tests::{free_local_addr, Pipeline};

fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("TRIBUTARY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "Chromium is missing at {}: scripts/test.sh installs it (apt-get install -y chromium)",
        path.display()
    );
    path
}

fn browser_tests() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing in {}: scripts/test.sh installs it (npm ci there)",
        dir.display()
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_debugger_page_shows_events_rejections_and_replays_dead_letters() {
    let (chromium, scripts) = (chromium(), browser_tests());
    let token = uuid::Uuid::new_v4().simple().to_string();
    let admin = AdminConfig {
        token: Some(token.clone()),
    };
    let gateway_admin = free_local_addr();
    let mut pipeline = Pipeline::new("debugger").await;
    pipeline
        .start_gateway_with(|config| {
            config.admin = admin.clone();
            config.gateway.admin_listen = gateway_admin;
        })
        .await;
    pipeline.start_enricher();
    pipeline.start_sink().await;

    // A dead letter waiting for its fix, written before the page starts.
    let batch = activity_batch(&format!("replayed-{}", &token[..8]));
    dead_letter(
        &pipeline.kafka,
        &batch,
        "tenant_rules_missing",
        tributary_service::now_ms(),
    )
    .await;

    let config = tributary_operator::Config {
        kafka: pipeline.kafka.clone(),
        admin,
        debugger: DebuggerConfig {
            gateway_admin: Some(gateway_admin),
            ..Default::default()
        },
        enricher: GroupSection {
            group: format!("{}-enricher", pipeline.name),
        },
        sink: GroupSection {
            group: format!("{}-sink", pipeline.name),
        },
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let debugger_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tributary_operator::debugger::run(
        config,
        listener,
        pipeline.shutdown.clone(),
    ));

    let mut node = tokio::process::Command::new("node");
    node.arg(scripts.join("debugger.mjs"))
        .current_dir(&scripts)
        .env("CHROMIUM", &chromium)
        .env("DEBUGGER_URL", &debugger_url)
        .env("ADMIN_TOKEN", &token)
        .env("GATEWAY_URL", &pipeline.gateway_url)
        .env("DLQ_LETTER_CUSTOMER", format!("replayed-{}", &token[..8]))
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("TRIBUTARY_DEBUGGER_SCREENSHOT") {
        node.env("SCREENSHOT", path);
    }
    let run = tokio::time::timeout(Duration::from_secs(120), node.output())
        .await
        .expect("the browser test finishes within 120 s")
        .expect("node runs (Debian's nodejs package)");
    println!("{}", String::from_utf8_lossy(&run.stdout));
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        run.status.success(),
        "the browser test failed: {}",
        run.status
    );

    // The replay clicked on the page stored the letter's two events, once each.
    let sql = format!(
        "SELECT count() FROM events FINAL WHERE batch_id = '{}'",
        batch.batch_id
    );
    assert_eq!(
        pipeline
            .wait_for_count(&sql, 2, Duration::from_secs(60))
            .await,
        2
    );
    let (rows, _) = pipeline
        .stored_after_merge(&format!("batch_id = '{}'", batch.batch_id))
        .await;
    assert_eq!(rows, 2, "each replayed event is stored once");
    pipeline.stop().await;
}
