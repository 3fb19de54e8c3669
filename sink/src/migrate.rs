//! Apply the ClickHouse migrations of `schemas/clickhouse/` in order. Every migration is
//! idempotent; applied versions are recorded in `schema_migrations`.

use tributary_schemas::MIGRATIONS;
use tributary_service::ClickHouseConfig;

/// Create the database if needed and apply every migration. Returns the versions applied now.
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
    let applied: Vec<u32> = client
        .query("SELECT DISTINCT version FROM schema_migrations")
        .fetch_all()
        .await?;
    let mut now = Vec::new();
    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
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
