//! Erasure of one person on request (GDPR art. 17, CCPA), and the filter that keeps erased
//! people from coming back.
//!
//! - [`erase`] records the erasure in `erasures` (hashes only), waits until every running sink
//!   has loaded it, then deletes the person's rows from every table that holds events (each
//!   table with `tenant` and `event_uid` columns: `events`, `lead_analytics`,
//!   `contact_analytics`, `revenue`, and any added later) with lightweight `DELETE`s, waited
//!   for, and reports the rows removed per table.
//! - [`Erasures`] is the sink's copy of those records, reloaded every `refresh_ms`: before
//!   each insert attempt, a row whose `user_key`, `user_id`, `identity`, `email` or `phone`
//!   holds an erased value of its tenant, and that the gateway received before the erasure,
//!   is dropped. Copies still in Kafka (a replay of `events.raw` from offset 0, a redelivery
//!   of `events.normalized`) therefore never reach ClickHouse again; what the person sends
//!   after the erasure is new data and is stored.
//!
//! A person is named by one identifier. Its stored forms are matched: the value as given
//! (trimmed; an e-mail lowercased; a phone without spaces, dashes, dots or parentheses, so
//! give it in E.164 as stored, `+919876543210`), and, when the tenant hashes that field
//! (`[enricher.tenants.<name>] hash_fields`), its salted hash as the enricher stores it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tributary_service::pii::hash_pii;

use crate::config::{Config, TenantHashing};
use crate::row::EventRow;

/// What a person is named by in an erasure request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The event's `user_key` as stored (`u-42`, `instance_id:…`).
    UserKey,
    Email,
    /// E.164, as stored (`+919876543210`).
    Phone,
    /// Netcore `identity` / a tenant's own user id.
    Identity,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::UserKey => "user_key",
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Identity => "identity",
        }
    }
}

/// One erasure request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasureRequest {
    pub tenant: String,
    pub kind: IdentityKind,
    pub value: String,
    /// Who asked, for the audit record.
    pub requested_by: String,
}

/// The command line's way of naming one person (`tributary erase`, `tributary-sink erase`):
/// `--tenant T` and exactly one of `--user-key`, `--email`, `--phone`, `--identity`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).multiple(false)))]
pub struct ErasureArgs {
    /// The tenant the person belongs to.
    #[arg(long)]
    pub tenant: String,
    /// The `user_key` as stored.
    #[arg(long, group = "who")]
    pub user_key: Option<String>,
    /// An e-mail address (compared lowercased).
    #[arg(long, group = "who")]
    pub email: Option<String>,
    /// E.164, as stored: +919876543210.
    #[arg(long, group = "who")]
    pub phone: Option<String>,
    /// The Netcore `identity` / the tenant's own user id, as sent.
    #[arg(long, group = "who")]
    pub identity: Option<String>,
}

impl ErasureArgs {
    /// The request, recorded as asked by `requested_by`. `None` unless exactly one identifier
    /// is given (clap enforces it on the command line; the admin endpoint checks it).
    pub fn try_request(self, requested_by: String) -> Option<ErasureRequest> {
        let named = [
            (IdentityKind::UserKey, self.user_key),
            (IdentityKind::Email, self.email),
            (IdentityKind::Phone, self.phone),
            (IdentityKind::Identity, self.identity),
        ];
        let mut given = named
            .into_iter()
            .filter_map(|(kind, value)| value.map(|v| (kind, v)));
        let (kind, value) = given.next()?;
        if given.next().is_some() || self.tenant.trim().is_empty() || value.trim().is_empty() {
            return None;
        }
        Some(ErasureRequest {
            tenant: self.tenant,
            kind,
            value,
            requested_by,
        })
    }

    /// [`Self::try_request`] for arguments clap has checked.
    pub fn request(self, requested_by: String) -> ErasureRequest {
        self.try_request(requested_by)
            .expect("clap requires exactly one identifier")
    }
}

/// Erase with everything from `config`: apply the migrations (the `erasures` table), then
/// [`erase`] with a grace of two `sink.erasure_refresh_ms`.
pub async fn run(config: &Config, request: &ErasureRequest) -> anyhow::Result<ErasureReport> {
    crate::migrate::migrate(&config.clickhouse).await?;
    let client = crate::clickhouse_client(&config.clickhouse);
    let grace = Duration::from_millis(2 * config.sink.erasure_refresh_ms.max(100));
    Ok(erase(&client, &config.enricher, request, grace).await?)
}

/// Rows removed per table, and the record kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErasureReport {
    pub tenant: String,
    pub identity_kind: String,
    pub identity_hash: String,
    /// Table name → rows removed (copies of one event count each).
    pub removed: BTreeMap<String, u64>,
}

/// Errors of [`erase`].
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("the identifier is empty")]
    EmptyValue,
    #[error("the tenant is empty")]
    EmptyTenant,
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
}

/// The value as given, normalized the way the enricher stores it.
fn normalized(kind: IdentityKind, value: &str) -> String {
    let value = value.trim();
    match kind {
        IdentityKind::Email => value.to_lowercase(),
        IdentityKind::Phone => value
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
            .collect(),
        IdentityKind::Identity if value.contains('@') => value.to_lowercase(),
        IdentityKind::UserKey | IdentityKind::Identity => value.to_string(),
    }
}

/// Every stored form of the identifier: as normalized and as given (an `identity` is stored
/// as sent), each also salted where the tenant hashes that field (an `identity` that is an
/// e-mail or phone number is hashed as one).
pub fn stored_forms(request: &ErasureRequest, hashing: &TenantHashing) -> Vec<String> {
    let given = request.value.trim();
    let value = normalized(request.kind, given);
    let mut clear = vec![value.clone()];
    if given != value {
        clear.push(given.to_string());
    }
    let hashed_as = match request.kind {
        IdentityKind::Email => Some("email"),
        IdentityKind::Phone => Some("phone"),
        IdentityKind::Identity if value.contains('@') => Some("email"),
        IdentityKind::Identity
            if value.len() >= 7
                && value
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Some("phone")
        }
        IdentityKind::Identity | IdentityKind::UserKey => None,
    };
    let rules = hashing.tenants.get(&request.tenant);
    let mut forms = clear.clone();
    if let (Some(field), Some(rules)) = (hashed_as, rules) {
        if rules
            .hash_fields
            .iter()
            .any(|f| f.eq_ignore_ascii_case(field))
        {
            let salt = rules.hash_salt.as_deref().unwrap_or("");
            forms.extend(clear.iter().map(|c| hash_pii(salt, c)));
        }
    }
    forms
}

/// The hash the erasure record and the sink's filter know a stored value by.
fn value_hash(tenant: &str, value: &str) -> String {
    hash_pii(tenant, value)
}

/// Delete passes at most: the first, one `grace` later for inserts that were under way, and
/// more only while a pass still finds rows.
const SWEEPS: usize = 4;

/// Tables of the database that hold events: MergeTree tables with `tenant` and `event_uid`.
async fn event_tables(client: &clickhouse::Client) -> Result<Vec<String>, ErasureError> {
    let mut tables: Vec<String> = client
        .query(
            "SELECT t.name FROM system.tables AS t \
             WHERE t.database = currentDatabase() AND t.engine LIKE '%MergeTree' \
               AND (SELECT count() FROM system.columns AS c \
                    WHERE c.database = t.database AND c.table = t.name \
                      AND c.name IN ('tenant', 'event_uid')) = 2 \
             ORDER BY t.name",
        )
        .fetch_all()
        .await?;
    // `events` last: the other tables find the person's events through it.
    tables.sort_by_key(|t| t == "events");
    Ok(tables)
}

/// Erase one person: record, wait `grace` (so every sink has the record before rows are
/// deleted), delete from every event table (again `grace` later, for inserts that were under
/// way), report. Takes about three `grace`s. Idempotent: erasing again removes nothing more
/// and adds another audit record.
pub async fn erase(
    client: &clickhouse::Client,
    hashing: &TenantHashing,
    request: &ErasureRequest,
    grace: Duration,
) -> Result<ErasureReport, ErasureError> {
    if request.tenant.trim().is_empty() {
        return Err(ErasureError::EmptyTenant);
    }
    if request.value.trim().is_empty() {
        return Err(ErasureError::EmptyValue);
    }
    let tenant = request.tenant.as_str();
    let forms = stored_forms(request, hashing);
    let hashes: Vec<String> = forms.iter().map(|f| value_hash(tenant, f)).collect();
    let identity_hash = value_hash(
        tenant,
        &format!(
            "{}:{}",
            request.kind.as_str(),
            normalized(request.kind, &request.value)
        ),
    );
    let requested_at = tributary_service::now_ms();
    let record = |report: &str| {
        client
            .query(
                "INSERT INTO erasures (tenant, identity_kind, identity_hash, value_hashes, \
                 requested_at, requested_by, report) \
                 VALUES (?, ?, ?, ?, fromUnixTimestamp64Milli(?), ?, ?)",
            )
            .bind(tenant)
            .bind(request.kind.as_str())
            .bind(&identity_hash)
            .bind(&hashes)
            .bind(requested_at)
            .bind(&request.requested_by)
            .bind(report.to_string())
    };
    record("{\"state\":\"requested\"}").execute().await?;
    tokio::time::sleep(grace).await;

    let matches = "tenant = ? AND (user_key IN ? OR user_id IN ? OR identity IN ? \
                   OR email IN ? OR phone IN ?)";
    let selector =
        format!("tenant = ? AND event_uid IN (SELECT event_uid FROM events WHERE {matches})");
    let bind = |sql: &str| {
        let mut query = client.query(sql).bind(tenant).bind(tenant);
        for _ in 0..5 {
            query = query.bind(&forms);
        }
        query
    };
    let tables = event_tables(client).await?;
    let mut removed: BTreeMap<String, u64> = tables.iter().map(|t| (t.clone(), 0)).collect();
    // A second pass, `grace` later, removes what an insert already under way at the first one
    // stored; further passes only while one still finds rows.
    for pass in 0..SWEEPS {
        let mut found = 0;
        for table in &tables {
            let count: u64 = bind(&format!("SELECT count() FROM `{table}` WHERE {selector}"))
                .fetch_one()
                .await?;
            if count > 0 {
                bind(&format!("DELETE FROM `{table}` WHERE {selector}"))
                    .with_option("lightweight_deletes_sync", "2")
                    .with_option("mutations_sync", "2")
                    .execute()
                    .await?;
            }
            found += count;
            *removed.entry(table.clone()).or_default() += count;
        }
        if pass > 0 && found == 0 {
            break;
        }
        if pass + 1 < SWEEPS {
            tokio::time::sleep(grace).await;
        }
    }
    let report = ErasureReport {
        tenant: tenant.to_string(),
        identity_kind: request.kind.as_str().to_string(),
        identity_hash: identity_hash.clone(),
        removed,
    };
    let json = serde_json::to_string(&report).expect("a report always serializes");
    record(&json).execute().await?;
    Ok(report)
}

/// The sink's copy of the erasure records: tenant → hash of an erased stored value → when it
/// was erased (epoch ms). Only rows the gateway received up to that time are the erased
/// person's copies; what the person sends after the erasure is new data and is kept.
#[derive(Clone, Default)]
pub struct Erasures {
    erased: Arc<RwLock<HashMap<String, HashMap<String, i64>>>>,
}

impl Erasures {
    /// Load every record now.
    pub async fn load(&self, client: &clickhouse::Client) -> Result<(), clickhouse::error::Error> {
        #[derive(clickhouse::Row, Deserialize)]
        struct Record {
            tenant: String,
            value_hashes: Vec<String>,
            requested_at_ms: i64,
        }
        let rows: Vec<Record> = client
            .query(
                "SELECT tenant, value_hashes, toUnixTimestamp64Milli(requested_at) \
                 AS requested_at_ms FROM erasures",
            )
            .fetch_all()
            .await?;
        let mut erased: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for record in rows {
            let tenant = erased.entry(record.tenant).or_default();
            for hash in record.value_hashes {
                let at = tenant.entry(hash).or_insert(record.requested_at_ms);
                *at = (*at).max(record.requested_at_ms);
            }
        }
        *self.erased.write().expect("erasures lock") = erased;
        Ok(())
    }

    /// Reload every `every` until the process ends; a failed load keeps the last set.
    pub fn spawn_refresh(&self, client: clickhouse::Client, every: Duration) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = this.load(&client).await {
                    tracing::warn!(%error, "reloading erasures failed; keeping the last set");
                }
            }
        });
    }

    /// Whether `row` is a copy of an erased person's data (received up to the erasure).
    pub fn is_erased(&self, row: &EventRow) -> bool {
        let erased = self.erased.read().expect("erasures lock");
        let Some(hashes) = erased.get(&row.tenant) else {
            return false;
        };
        std::iter::once(Some(&row.user_key))
            .chain([&row.user_id, &row.identity, &row.email, &row.phone].map(Option::as_ref))
            .flatten()
            .filter_map(|value| hashes.get(&value_hash(&row.tenant, value)))
            .any(|erased_at| row.received_at_ms <= *erased_at)
    }

    /// `rows` without erased people's rows; borrowed as is when none is erased.
    pub fn retain<'a>(&self, rows: &'a [EventRow]) -> std::borrow::Cow<'a, [EventRow]> {
        if self.erased.read().expect("erasures lock").is_empty()
            || !rows.iter().any(|row| self.is_erased(row))
        {
            return std::borrow::Cow::Borrowed(rows);
        }
        let kept: Vec<EventRow> = rows
            .iter()
            .filter(|row| !self.is_erased(row))
            .cloned()
            .collect();
        let dropped = rows.len() - kept.len();
        crate::metrics::erased_dropped(dropped);
        tracing::info!(dropped, "rows of erased people dropped");
        std::borrow::Cow::Owned(kept)
    }
}

/// Load erasures at start (fails loudly: a sink must not insert without them), then keep them
/// fresh.
pub async fn start(config: &Config) -> anyhow::Result<Erasures> {
    let client = crate::clickhouse_client(&config.clickhouse);
    let erasures = Erasures::default();
    erasures.load(&client).await?;
    erasures.spawn_refresh(
        client,
        Duration::from_millis(config.sink.erasure_refresh_ms.max(100)),
    );
    Ok(erasures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantHashingRules;

    fn request(kind: IdentityKind, value: &str) -> ErasureRequest {
        ErasureRequest {
            tenant: "acme".into(),
            kind,
            value: value.into(),
            requested_by: "test".into(),
        }
    }

    #[test]
    fn stored_forms_follow_the_enrichers_normalization_and_hashing() {
        let mut hashing = TenantHashing::default();
        let forms = |kind, value: &str, hashing: &TenantHashing| {
            stored_forms(&request(kind, value), hashing)
        };
        assert_eq!(
            forms(IdentityKind::Email, " Jane@Example.COM ", &hashing),
            ["jane@example.com", "Jane@Example.COM"]
        );
        assert_eq!(
            forms(IdentityKind::Phone, "+91 98765-43210", &hashing),
            ["+919876543210", "+91 98765-43210"]
        );
        hashing.tenants.insert(
            "acme".into(),
            TenantHashingRules {
                hash_fields: vec!["email".into()],
                hash_salt: Some("pepper".into()),
            },
        );
        assert_eq!(
            forms(IdentityKind::Email, "jane@example.com", &hashing),
            [
                "jane@example.com".to_string(),
                hash_pii("pepper", "jane@example.com")
            ]
        );
        // Phone is not hashed for this tenant.
        assert_eq!(
            forms(IdentityKind::Phone, "+919876543210", &hashing),
            ["+919876543210"]
        );
        // An identity is stored as sent, and hashed as the e-mail it is.
        assert_eq!(
            forms(IdentityKind::Identity, "Jane@Example.com", &hashing),
            [
                "jane@example.com".to_string(),
                "Jane@Example.com".to_string(),
                hash_pii("pepper", "jane@example.com"),
                hash_pii("pepper", "Jane@Example.com"),
            ]
        );
        assert_eq!(forms(IdentityKind::UserKey, "u-42", &hashing), ["u-42"]);
    }
}
