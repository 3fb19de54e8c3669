//! ClickHouse migrations, numbered and applied in order, each once: `tributary-sink migrate`
//! (and every sink at start) records applied versions in `schema_migrations` and holds a lock
//! while it applies, so a migration may rename and drop (migration 5 does). A migration names
//! no database (the connection's database is used) and runs on the current ClickHouse LTS
//! (26.8, `docker-compose.yml`) and on the local stack's 26.9.

/// One numbered migration: statements separated by `;` at line ends.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// The statements of this migration, without comment lines or the trailing `;`.
    pub fn statements(&self) -> impl Iterator<Item = String> {
        self.sql
            .split(";\n")
            .map(|s| {
                s.lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .trim()
                    .trim_end_matches(';')
                    .to_string()
            })
            .filter(|s| !s.is_empty())
    }
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events",
        sql: include_str!("../clickhouse/001_events.sql"),
    },
    Migration {
        version: 2,
        name: "crm_analytics",
        sql: include_str!("../clickhouse/002_crm_analytics.sql"),
    },
    Migration {
        version: 3,
        name: "revenue",
        sql: include_str!("../clickhouse/003_revenue.sql"),
    },
    Migration {
        version: 4,
        name: "bi_views",
        sql: include_str!("../clickhouse/004_bi_views.sql"),
    },
    Migration {
        version: 5,
        name: "one_row_per_event_uid",
        sql: include_str!("../clickhouse/005_one_row_per_event_uid.sql"),
    },
    Migration {
        version: 6,
        name: "request_metadata",
        sql: include_str!("../clickhouse/006_request_metadata.sql"),
    },
    Migration {
        version: 7,
        name: "erasures",
        sql: include_str!("../clickhouse/007_erasures.sql"),
    },
    Migration {
        version: 8,
        name: "compact_parts",
        sql: include_str!("../clickhouse/008_compact_parts.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_ordered() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }

    #[test]
    fn migrations_never_name_a_database() {
        for m in MIGRATIONS {
            assert!(!m.sql.contains("tributary."), "{} names a database", m.name);
            assert!(m.statements().count() > 0);
        }
    }

    #[test]
    fn migrations_have_no_bind_placeholders() {
        // The clickhouse crate reads every `?` of a query as a value to bind.
        for m in MIGRATIONS {
            assert!(!m.sql.contains('?'), "{} contains '?'", m.name);
        }
    }
}
