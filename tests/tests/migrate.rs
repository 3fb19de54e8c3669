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

async fn drop_database(config: &ClickHouseConfig) {
    config
        .server_client()
        .query(&format!("DROP DATABASE `{}`", config.database))
        .execute()
        .await
        .unwrap();
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
    drop_database(&config).await;
}

/// Migration 8: a sink insert of about 10k events (a part of 10 MiB or more uncompressed,
/// above ClickHouse's default `min_bytes_for_wide_part`) is written as one compact part, and
/// the four tables the sink fills keep parts under 128 MiB compact. A wide part of `events`
/// is about 300 files; creating them was most of the server's CPU per insert
/// (bench/PROFILE.md, "Compact parts for the sink's inserts, again").
#[tokio::test]
async fn a_sink_sized_insert_makes_one_compact_part() {
    let config = config("compact_parts");
    tributary_sink::migrate::migrate(&config).await.unwrap();
    let client = config.client();

    let settings: Vec<(String, String)> = client
        .query(
            "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() \
             AND name IN ('events', 'lead_analytics', 'contact_analytics', 'revenue') ORDER BY name",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(settings.len(), 4);
    for (table, engine) in &settings {
        assert!(
            engine.contains("min_bytes_for_wide_part = 134217728"),
            "{table}: {engine}"
        );
    }

    // 12,000 events with 1 KB of raw JSON each: about 14 MB uncompressed, one insert.
    client
        .query(
            "INSERT INTO events (event_uid, tenant, source, batch_id, event_index, event_name, \
             event_time, event_time_ms, received_at, received_at_ms, user_key, user_key_kind, \
             properties, raw) \
             SELECT toString(generateUUIDv4()), 'default', 'mobile_batch', 'b', toInt32(number), \
             'open', now(), 0, now(), 0, toString(number), 'user_id', '{}', \
             concat('{\"pad\":\"', randomPrintableASCII(1000), '\"}') FROM numbers(12000)",
        )
        .execute()
        .await
        .unwrap();
    let parts: Vec<(String, u64, u64)> = client
        .query(
            "SELECT part_type, rows, data_uncompressed_bytes FROM system.parts \
             WHERE database = currentDatabase() AND table = 'events' AND active",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(parts.len(), 1, "{parts:?}");
    let (part_type, rows, bytes) = &parts[0];
    assert_eq!(*rows, 12_000);
    assert!(
        *bytes > 10 << 20,
        "the part is above the default threshold: {bytes} B"
    );
    assert_eq!(part_type, "Compact");

    drop_database(&config).await;
}
