//! `tributary-bench search`: lead search latency over 1M and 10M stored rows.
//!
//! Rows are synthetic, generated inside ClickHouse (`INSERT ... SELECT ... FROM
//! system.numbers`) into a database of their own with the
//! pipeline's `events` DDL: 20% CRM rows with the load generator's id shapes and
//! cardinalities (200 customers, 1000 users, 50k leads/contacts, 4 recordings each), 80% other
//! families; 70% of rows in tenant `default`. Each search asks for an existing lead.
//!
//! The gateway's `GET /api/v1/lead_analytics/search` is measured when it answers 200;
//! otherwise (501 while it was being built) the SQL such an endpoint runs — one page of
//! records and the row count — is timed over ClickHouse's HTTP interface, and the summary says
//! which. `--events-scan` also times that SQL over the wide `events` table, i.e. what the
//! search costs without the CRM tables sorted by its keys (`schemas/clickhouse/002_*`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::{self, Latency};
use crate::traffic::{CRM_CUSTOMERS, CRM_ENTITIES, CRM_USERS};

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    #[arg(long, default_value = "bench_search")]
    pub database: String,
    /// Stored row counts to measure at, ascending (the table grows between them).
    #[arg(long, default_value = "1000000,10000000", value_delimiter = ',')]
    pub rows: Vec<u64>,
    /// Searches per row count.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Gateway base URL; its search endpoint is used when it answers 200.
    #[arg(long)]
    pub gateway_url: Option<String>,
    /// Also time the search as SQL over the wide `events` table (no sorted CRM table).
    #[arg(long)]
    pub events_scan: bool,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct SearchPoint {
    pub rows: u64,
    pub generate_s: f64,
    pub active_parts: u64,
    /// `endpoint` or `sql`.
    pub via: String,
    pub latency: Latency,
    /// Mean records returned per search (sanity: searches hit existing leads).
    pub mean_records: f64,
    /// The same search as SQL over `events` (page + count).
    pub events_scan: Option<Latency>,
}

#[derive(Serialize, serde::Deserialize, Debug, Default, Clone)]
pub struct SearchSummary {
    pub points: Vec<SearchPoint>,
    pub note: String,
    pub sql: String,
}

struct ClickHouse {
    http: reqwest::Client,
    url: String,
    database: String,
}

impl ClickHouse {
    async fn query(&self, sql: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .post(&self.url)
            .query(&[("database", self.database.as_str())])
            .body(sql.to_string())
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("ClickHouse {status}: {}", text.trim());
        }
        Ok(text)
    }
}

/// Rows `[from, from + count)` of the synthetic data set.
fn generate_sql(from: u64, count: u64) -> String {
    format!(
        r#"INSERT INTO events (event_uid, tenant, source, batch_id, event_index, event_id, event_name,
    event_time, event_time_ms, received_at, received_at_ms, user_key, user_key_kind, user_id,
    customer_id, entity_type, entity_id, tool_signature, recording_id, message, country,
    platform, properties, raw)
SELECT
    concat('syn-', toString(n)) AS event_uid,
    if(n % 10 < 7, 'default', concat('tenant-', toString(n % 10))) AS tenant,
    if(crm, if(is_lead, 'crm.lead_analytics', 'crm.contact_analytics'),
       arrayElement(['mobile_batch', 's2s.customEventBatch', 'activity.upload'], n % 3 + 1)) AS source,
    concat('syn-batch-', toString(intDiv(n, 100))) AS batch_id,
    toInt32(n % 100) AS event_index,
    concat('syn-ev-', toString(n)) AS event_id,
    if(crm, arrayElement(['view', 'click', 'call', 'email_open', 'note'], n % 5 + 1),
       arrayElement(['screen_view', 'purchase', 'levelUp', 'Add To Cart', 'login', 'search'], n % 6 + 1)) AS event_name,
    toDateTime(now() - (intHash32(n) % 5184000)) AS event_time,
    toInt64(toUInt32(event_time)) * 1000 + n % 1000 AS event_time_ms,
    event_time AS received_at,
    event_time_ms + 250 AS received_at_ms,
    concat('u', toString(n % 100000)) AS user_key,
    'user_id' AS user_key_kind,
    if(crm, concat('user-', toString((entity * 7) % {users})), concat('u', toString(n % 100000))) AS user_id,
    if(crm, concat('cust-', toString(entity % {customers})), NULL) AS customer_id,
    if(crm, if(is_lead, 'lead', 'contact'), NULL) AS entity_type,
    if(crm, concat(if(is_lead, 'lead-', 'contact-'), toString(entity)), NULL) AS entity_id,
    if(crm, 'vfp', NULL) AS tool_signature,
    if(crm, concat('rec-', toString(entity), '-', toString(intDiv(m, {entities}) % 4)), NULL) AS recording_id,
    if(crm, 'Asha opened the summary panel', NULL) AS message,
    arrayElement(['IN', 'US', 'DE', 'GB', 'BR', 'JP'], n % 6 + 1) AS country,
    arrayElement(['android', 'ios', 'web'], n % 3 + 1) AS platform,
    '{{"item_id":"sku-1234","price":"499.00"}}' AS properties,
    concat('{{"event_id":"syn-ev-', toString(n), '","event_name":"', event_name,
           '","timestamp_utc":', toString(event_time_ms), ',"session_id":"s-', hex(intHash64(n)),
           '","source":"android","user_id":', toString(n % 100000),
           ',"name":"Asha Rao","country_code":"IN","mobile_number":"+91 9812345678","screen_name":"checkout"}}') AS raw
FROM (
    SELECT number + {from} AS n, n % 5 = 0 AS crm, intDiv(n, 5) AS m, m % {entities} AS entity,
           entity % 10 < 6 AS is_lead
    FROM system.numbers LIMIT {count}
)"#,
        users = CRM_USERS,
        customers = CRM_CUSTOMERS,
        entities = CRM_ENTITIES,
    )
}

/// The lead search of seed 001 as SQL: one page of records (latest first, one row per
/// event_uid so redelivered copies never show twice) and the total count.
fn search_sql(table: &str, lead: u64) -> (String, String) {
    let filter = format!(
        "tenant = 'default' AND entity_type = 'lead' AND customer_id = 'cust-{c}' AND user_id = 'user-{u}' AND entity_id = 'lead-{lead}' AND recording_id IN ('rec-{lead}-0', 'rec-{lead}-1', 'rec-{lead}-2', 'rec-{lead}-3')",
        c = lead % CRM_CUSTOMERS,
        u = (lead * 7) % CRM_USERS,
    );
    (
        format!(
            "SELECT customer_id, entity_type, entity_id, user_id, tool_signature, recording_id, event_name AS event_type, event_id, message, received_at_ms FROM {table} WHERE {filter} ORDER BY received_at_ms DESC LIMIT 1 BY event_uid LIMIT 0, 10 FORMAT JSONEachRow"
        ),
        format!("SELECT uniqExact(event_uid) FROM {table} WHERE {filter} FORMAT TabSeparated"),
    )
}

/// A lead that exists at `rows` stored rows.
fn pick_lead(rng: &mut fastrand::Rng, rows: u64) -> u64 {
    let crm_rows = rows / 5;
    let mut lead;
    loop {
        lead = rng.u64(0..CRM_ENTITIES.min(crm_rows.max(1)));
        if lead % 10 < 6 {
            return lead;
        }
    }
}

async fn time_sql(
    ch: &ClickHouse,
    table: &str,
    rows: u64,
    queries: usize,
) -> anyhow::Result<(Latency, f64)> {
    let mut rng = fastrand::Rng::with_seed(rows);
    let mut h = stats::histogram();
    let mut records = 0usize;
    for i in 0..queries + 5 {
        let lead = pick_lead(&mut rng, rows);
        let (page, count) = search_sql(table, lead);
        let t0 = Instant::now();
        let body = ch.query(&page).await?;
        let total = ch.query(&count).await?;
        let elapsed = t0.elapsed();
        if i >= 5 {
            stats::record(&mut h, elapsed);
            records += body.lines().count();
        }
        let _ = total;
    }
    Ok((Latency::of(&h), records as f64 / queries as f64))
}

async fn time_endpoint(
    http: &reqwest::Client,
    gateway: &str,
    rows: u64,
    queries: usize,
) -> anyhow::Result<(Latency, f64)> {
    let mut rng = fastrand::Rng::with_seed(rows);
    let mut h = stats::histogram();
    let mut records = 0usize;
    for i in 0..queries + 5 {
        let lead = pick_lead(&mut rng, rows);
        let url = endpoint_url(gateway, lead);
        let t0 = Instant::now();
        let response = http.get(&url).send().await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let elapsed = t0.elapsed();
        if !status.is_success() {
            anyhow::bail!("search answered {status}: {body}");
        }
        if i >= 5 {
            stats::record(&mut h, elapsed);
            records += body["recordings"].as_array().map_or(0, Vec::len);
        }
    }
    Ok((Latency::of(&h), records as f64 / queries as f64))
}

fn endpoint_url(gateway: &str, lead: u64) -> String {
    format!(
        "{gateway}/api/v1/lead_analytics/search?recording_id=rec-{lead}-0&recording_id=rec-{lead}-1&recording_id=rec-{lead}-2&recording_id=rec-{lead}-3&customer_id=cust-{}&user_id=user-{}&lead_id=lead-{lead}&page=1&pageSize=10",
        lead % CRM_CUSTOMERS,
        (lead * 7) % CRM_USERS
    )
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    // The pipeline's schema, applied as the sink applies it (recorded, once).
    tributary_sink::migrate::migrate(&tributary_service::ClickHouseConfig {
        url: args.clickhouse_url.clone(),
        database: args.database.clone(),
        ..Default::default()
    })
    .await?;
    let ch = ClickHouse {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?,
        url: args.clickhouse_url.clone(),
        database: args.database.clone(),
    };
    let http = reqwest::Client::new();
    // Is the endpoint there yet?
    let endpoint = match &args.gateway_url {
        Some(gateway) => match http.get(endpoint_url(gateway, 0)).send().await {
            Ok(r) if r.status().is_success() => Some(gateway.clone()),
            Ok(r) => {
                eprintln!(
                    "search: the gateway answers {} to lead search; timing its SQL directly",
                    r.status()
                );
                None
            }
            Err(e) => {
                eprintln!("search: gateway unreachable ({e}); timing the SQL directly");
                None
            }
        },
        None => None,
    };
    let mut summary = SearchSummary {
        note: match &endpoint {
            Some(_) => "GET /api/v1/lead_analytics/search on the gateway (HTTP round trip included)".into(),
            None => "the gateway's lead search endpoint was not implemented (501) at measurement time: the equivalent SQL (page + count, two queries per search) over ClickHouse HTTP".into(),
        },
        sql: search_sql("events", 12_340).0,
        ..Default::default()
    };
    for &target in &args.rows {
        let have: u64 = ch
            .query("SELECT count() FROM events")
            .await?
            .trim()
            .parse()?;
        let t0 = Instant::now();
        if have < target {
            eprintln!("search: generating rows {have}..{target}");
            ch.query(&generate_sql(have, target - have)).await?;
        }
        let generate_s = t0.elapsed().as_secs_f64();
        let parts: u64 = ch
            .query(&format!(
                "SELECT count() FROM system.parts WHERE database = '{}' AND table = 'events' AND active",
                args.database
            ))
            .await?
            .trim()
            .parse()
            .unwrap_or(0);
        let stored: u64 = ch
            .query("SELECT count() FROM events")
            .await?
            .trim()
            .parse()?;
        let (latency, mean_records, via) = match &endpoint {
            Some(gateway) => {
                let (l, r) = time_endpoint(&http, gateway, stored, args.queries).await?;
                (l, r, "endpoint")
            }
            None => {
                let (l, r) = time_sql(&ch, "events", stored, args.queries).await?;
                (l, r, "sql")
            }
        };
        let events_scan = if args.events_scan {
            let (l, _) = time_sql(&ch, "events", stored, args.queries.min(50)).await?;
            Some(l)
        } else {
            None
        };
        eprintln!(
            "search at {stored} rows ({parts} parts, generated in {generate_s:.1}s) via {via}: p50 {:.1} ms p99 {:.1} ms ({:.1} records/search){}",
            latency.p50_ms,
            latency.p99_ms,
            mean_records,
            events_scan
                .map(|p| format!(" | same search as SQL over events: p50 {:.1} ms p99 {:.1} ms", p.p50_ms, p.p99_ms))
                .unwrap_or_default()
        );
        summary.points.push(SearchPoint {
            rows: stored,
            generate_s,
            active_parts: parts,
            via: via.into(),
            latency,
            mean_records,
            events_scan,
        });
    }
    stats::write_json(args.json.as_deref(), &summary)?;
    Ok(())
}
