//! The sink's migration runner on the real ClickHouse: sinks started together apply each
//! migration once (migration 5 renames and drops, so a second run would undo it), and a
//! database already migrated is left alone.

use tributary_schemas::MIGRATIONS;
use tributary_service::ClickHouseConfig;

fn config(test: &str) -> ClickHouseConfig {
    let url = std::env::var("TRIBUTARY_TEST_CLICKHOUSE_URL")
        .expect("TRIBUTARY_TEST_CLICKHOUSE_URL is not set: run the tests with scripts/test.sh");
    ClickHouseConfig {
        url,
        database: format!(
            "t_{test}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_runners_at_once_apply_every_migration_exactly_once() {
    let config = config("migrate_race");
    let runs =
        futures::future::join_all((0..4).map(|_| tributary_sink::migrate::migrate(&config))).await;
    let mut applied: Vec<u32> = Vec::new();
    for run in runs {
        applied.extend(run.expect("every runner succeeds"));
    }
    applied.sort();
    let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(applied, all, "each version applied by exactly one runner");

    let client = config.client();
    let recorded: u64 = client
        .query("SELECT count() FROM schema_migrations")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(recorded, all.len() as u64);
    let tables: Vec<(String, String)> = client
        .query(
            "SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase() \
             AND engine LIKE '%MergeTree' AND name != 'schema_migrations' ORDER BY name",
        )
        .fetch_all()
        .await
        .unwrap();
    let key = |name: &str, key: &str| (name.to_string(), key.to_string());
    let crm = "tenant, customer_id, entity_id, recording_id, event_uid";
    assert_eq!(
        tables,
        [
            key("contact_analytics", crm),
            key(
                "erasures",
                "tenant, identity_kind, identity_hash, requested_at"
            ),
            key("events", "tenant, event_uid"),
            key("lead_analytics", crm),
            key("revenue", "tenant, event_uid")
        ]
    );

    // Again on the migrated database: nothing to do, no lock taken.
    assert_eq!(
        tributary_sink::migrate::migrate(&config).await.unwrap(),
        Vec::<u32>::new()
    );
    let lock: u64 = client
        .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations_lock'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(lock, 0, "the lock is released");
    config
        .server_client()
        .query(&format!("DROP DATABASE `{}`", config.database))
        .execute()
        .await
        .unwrap();
}
