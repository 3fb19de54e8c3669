//! Apply the ClickHouse migrations of `schemas/clickhouse/` in order, each once. Applied
//! versions are recorded in `schema_migrations`; a runner applies pending ones only while it
//! holds the lock table `schema_migrations_lock`, so sinks started together never apply one
//! twice (migration 5 renames and drops tables, which must not run twice).

use std::time::{Duration, Instant};

use tributary_schemas::MIGRATIONS;
use tributary_service::ClickHouseConfig;

/// The lock: creating a table is atomic in ClickHouse, so exactly one runner creates it.
const LOCK_TABLE: &str = "schema_migrations_lock";
/// How long a runner waits for another one to finish before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// Create the database if needed and apply every pending migration. Returns the versions
/// applied now (empty when another runner applied them or none was pending).
///
/// Errors: any statement ClickHouse refuses (the lock is released first), or the lock still
/// held after 10 minutes; a lock left by a runner that died mid-migration stays until an
/// operator drops `schema_migrations_lock`, after checking what that runner left behind.
pub async fn migrate(config: &ClickHouseConfig) -> Result<Vec<u32>, clickhouse::error::Error> {
    let server = config.server_client();
    server
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            config.database.replace('`', "")
        ))
        .execute()
        .await?;
    let client = crate::clickhouse_client(config);
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version UInt32, name String, applied_at DateTime DEFAULT now()) \
             ENGINE = ReplacingMergeTree ORDER BY version",
        )
        .execute()
        .await?;
    if pending(&client).await?.is_empty() {
        return Ok(Vec::new());
    }
    lock(&client).await?;
    let result = apply_pending(&client).await;
    let unlocked = client
        .query(&format!("DROP TABLE IF EXISTS {LOCK_TABLE} SYNC"))
        .execute()
        .await;
    let now = result?;
    unlocked?;
    Ok(now)
}

async fn pending(
    client: &clickhouse::Client,
) -> Result<Vec<&'static tributary_schemas::Migration>, clickhouse::error::Error> {
    let applied: Vec<u32> = client
        .query("SELECT DISTINCT version FROM schema_migrations")
        .fetch_all()
        .await?;
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

async fn lock(client: &clickhouse::Client) -> Result<(), clickhouse::error::Error> {
    let started = Instant::now();
    loop {
        let created = client
            .query(&format!(
                "CREATE TABLE {LOCK_TABLE} (holder String) ENGINE = Memory"
            ))
            .execute()
            .await;
        match created {
            Ok(()) => return Ok(()),
            // Another runner holds the lock.
            Err(clickhouse::error::Error::BadResponse(message))
                if message.contains("TABLE_ALREADY_EXISTS") && started.elapsed() < LOCK_WAIT =>
            {
                tracing::info!("another runner applies migrations; waiting for its lock");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Under the lock: read the record again (another runner may have applied them meanwhile).
async fn apply_pending(client: &clickhouse::Client) -> Result<Vec<u32>, clickhouse::error::Error> {
    let mut now = Vec::new();
    for migration in pending(client).await? {
        for statement in migration.statements() {
            client.query(&statement).execute().await?;
        }
        client
            .query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .execute()
            .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        now.push(migration.version);
    }
    Ok(now)
}
