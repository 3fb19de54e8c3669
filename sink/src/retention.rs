//! Retention per tenant: a ClickHouse TTL on every table that holds events, from
//! `[sink.retention]`. The default is none: rows are kept until erased.
//!
//! Each rule becomes one `TTL <received time> + toIntervalDay(days) DELETE WHERE tenant …`
//! expression: a tenant's own `days`, else `default_days` for every tenant not listed. Rows
//! past their time go in ClickHouse's background merges (TTL deletes are merge-time work, so a
//! row may outlive its day by the merge interval, `merge_with_ttl_timeout`, 4 hours by
//! default). The received time is the gateway's (`received_at`; `created_at` in the CRM
//! tables; `received_at_ms` in `revenue`), not the client's clock. The sink applies the rules
//! at start (after the migrations), with `materialize_ttl_after_modify = 0` so that changing a
//! rule costs a metadata change, not a rewrite of the table; an empty config removes the TTL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[sink.retention]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days a row of a tenant not listed in `tenants` is kept; `None` keeps them.
    pub default_days: Option<u32>,
    /// Days per tenant (`[sink.retention.tenants] acme = 30`).
    pub tenants: BTreeMap<String, u32>,
}

/// SQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl RetentionConfig {
    /// The TTL expressions for a table whose received time is `time` (a DateTime expression);
    /// empty when nothing expires.
    pub fn ttl_rules(&self, time: &str) -> Vec<String> {
        let mut rules: Vec<String> = self
            .tenants
            .iter()
            .map(|(tenant, days)| {
                format!(
                    "{time} + toIntervalDay({days}) DELETE WHERE tenant = {}",
                    quoted(tenant)
                )
            })
            .collect();
        if let Some(days) = self.default_days {
            let listed = if self.tenants.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = self.tenants.keys().map(|t| quoted(t)).collect();
                format!(" WHERE tenant NOT IN ({})", names.join(", "))
            };
            rules.push(format!("{time} + toIntervalDay({days}) DELETE{listed}"));
        }
        rules
    }
}

/// The received-time expression of a table with these columns, if it has one.
fn received_time(columns: &[String]) -> Option<&'static str> {
    let has = |name: &str| columns.iter().any(|c| c == name);
    if has("received_at") {
        Some("received_at")
    } else if has("created_at") {
        Some("created_at")
    } else if has("received_at_ms") {
        Some("toDateTime(intDiv(received_at_ms, 1000), 'UTC')")
    } else {
        None
    }
}

/// Apply `config` to every event table (MergeTree tables with `tenant` and `event_uid`).
/// Returns the tables changed.
pub async fn apply(
    client: &clickhouse::Client,
    config: &RetentionConfig,
) -> Result<Vec<String>, clickhouse::error::Error> {
    #[derive(clickhouse::Row, Deserialize)]
    struct Table {
        name: String,
        columns: Vec<String>,
        has_ttl: bool,
    }
    let tables: Vec<Table> = client
        .query(
            "SELECT t.name, groupArray(c.name) AS columns, \
                    any(t.create_table_query LIKE '%\\nTTL %' OR t.create_table_query LIKE '% TTL %') AS has_ttl \
             FROM system.tables AS t INNER JOIN system.columns AS c \
               ON c.database = t.database AND c.table = t.name \
             WHERE t.database = currentDatabase() AND t.engine LIKE '%MergeTree' \
             GROUP BY t.name \
             HAVING has(columns, 'tenant') AND has(columns, 'event_uid') \
             ORDER BY t.name",
        )
        .fetch_all()
        .await?;
    let mut changed = Vec::new();
    for table in tables {
        let Some(time) = received_time(&table.columns) else {
            continue;
        };
        let rules = config.ttl_rules(time);
        let statement = if !rules.is_empty() {
            format!(
                "ALTER TABLE `{}` MODIFY TTL {}",
                table.name,
                rules.join(", ")
            )
        } else if table.has_ttl {
            format!("ALTER TABLE `{}` REMOVE TTL", table.name)
        } else {
            continue;
        };
        client
            .query(&statement)
            .with_option("materialize_ttl_after_modify", "0")
            .execute()
            .await?;
        changed.push(table.name);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_per_tenant_and_a_default_for_the_rest() {
        assert!(RetentionConfig::default().ttl_rules("t").is_empty());
        let config = RetentionConfig {
            default_days: Some(365),
            tenants: [("acme".to_string(), 30), ("o'hara".to_string(), 7)].into(),
        };
        assert_eq!(
            config.ttl_rules("received_at"),
            [
                "received_at + toIntervalDay(30) DELETE WHERE tenant = 'acme'",
                "received_at + toIntervalDay(7) DELETE WHERE tenant = 'o\\'hara'",
                "received_at + toIntervalDay(365) DELETE WHERE tenant NOT IN ('acme', 'o\\'hara')",
            ]
        );
        let only_default = RetentionConfig {
            default_days: Some(90),
            ..Default::default()
        };
        assert_eq!(
            only_default.ttl_rules("created_at"),
            ["created_at + toIntervalDay(90) DELETE"]
        );
    }

    #[test]
    fn the_received_time_of_each_table() {
        let cols = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            received_time(&cols(&["received_at", "received_at_ms"])),
            Some("received_at")
        );
        assert_eq!(received_time(&cols(&["created_at"])), Some("created_at"));
        assert!(received_time(&cols(&["received_at_ms"]))
            .unwrap()
            .starts_with("toDateTime"));
        assert_eq!(received_time(&cols(&["event_time"])), None);
    }
}
