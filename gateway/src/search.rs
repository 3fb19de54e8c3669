//! The lead/contact search of seed 001 over ClickHouse:
//! `GET /api/v1/lead_analytics/search` reads `lead_analytics`, `GET
//! /api/v1/contact_analytics/search` reads `contact_analytics` (migration 002; the sink fills
//! both from `events` through materialized views).
//!
//! Parameters (names are case-sensitive, values percent-decoded, unknown names ignored):
//!
//! | parameter | rule |
//! |---|---|
//! | `recording_id` | required, 1 to 1000 values: `recording_id=a&recording_id=b` or `recording_id[]=a&recording_id[]=b` (also `recording_id%5B%5D`, `recording_id[0]`) |
//! | `customer_id`, `user_id` | required, once |
//! | `lead_id` / `contact_id` | required, once: the endpoint's own entity; the other one is refused |
//! | `latest` | optional `true`/`false`/`1`/`0` (any case): only the newest event of each recording_id |
//! | `page` | optional, 1-based, default 1, at most 4294967295 |
//! | `pageSize` | optional, default 10, 1 to 1000 |
//!
//! `200` is the document's shape: `{"recordings": [...], "meta": {"page", "pageSize",
//! "rowCount"}}`, newest first (`created_at`, the time the gateway accepted the event, then
//! `event_uid`), `rowCount` counting every match over all pages, times as ISO-8601 UTC with
//! milliseconds. Copies of one event (same `event_uid`: Kafka redelivery, or the client
//! re-sending an `event_id`) show once, as the newest copy. Errors use the CRM family's shape
//! (`families::crm`): `422` names every missing or invalid parameter, `503` with
//! `Retry-After` when ClickHouse cannot answer.
//!
//! Tenant: a search reads only the rows of one tenant, the one its key names
//! (`Authorization: Bearer KEY` or `X-Api-Key: KEY`, `tenants.crm_keys`), or without a key,
//! when `tenants.crm_access` is `open`, the default tenant's: exactly what the CRM API filed
//! for the same key ([`crate::credentials::Credentials::crm_tenant`]). A missing key
//! (`required`) or an unknown one answers 401 in the CRM shape before the parameters are read.
//!
//! The SQL lives in `schemas/clickhouse/queries/` (also run on current ClickHouse by
//! `tests/python`); every value is bound with the clickhouse crate, never spliced in.

use std::time::Duration;

use clickhouse::sql::Identifier;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use tributary_wire::crm::{iso_millis, CrmError, EntityType, FieldError};
use tributary_wire::fields::shown;

use crate::families::crm;
use crate::families::{json_response, HttpResponse, TransportError};

/// One page of matches and `rowCount`, from one reading of the table; bound values in the
/// order its header lists.
pub const SEARCH_SQL: &str = tributary_schemas::queries::SEARCH;

pub const DEFAULT_PAGE_SIZE: u32 = 10;
pub const MAX_PAGE_SIZE: u32 = 1000;
pub const MAX_RECORDING_IDS: usize = 1000;
/// Longest value of one parameter, and of all `recording_id` values together: keeps the
/// bound query well inside ClickHouse's `max_query_size` (256 KiB).
pub const MAX_VALUE_LEN: usize = 4096;
/// Room for 1000 such values with their `recording_id=` names under [`MAX_QUERY_LEN`].
pub const MAX_RECORDING_IDS_LEN: usize = 40 * 1024;
/// Longest query string, as sent (percent-encoded): a longer one gets 414 here, in the
/// family's error format, and every documented limit of the parameters fits within it. A URI
/// over 65,534 bytes never reaches the handler; the HTTP layer answers it, also with 414 in
/// this family's format (`crate::refusals`).
pub const MAX_QUERY_LEN: usize = 60 * 1024;
/// ClickHouse gets this long to answer both queries before the client hears 503.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_AFTER_SECS: u32 = 5;
/// `LIMIT n BY recording_id` that keeps every event (latest=false).
const ALL_EVENTS: u64 = u64::MAX;

/// Answers `GET /api/v1/{lead,contact}_analytics/search`.
#[derive(Clone)]
pub struct Search {
    pub client: clickhouse::Client,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub entity: EntityType,
    /// Distinct, in the order given.
    pub recording_ids: Vec<String>,
    pub customer_id: String,
    pub user_id: String,
    /// `lead_id` or `contact_id`.
    pub entity_id: String,
    pub latest: bool,
    pub page: u32,
    pub page_size: u32,
}

impl SearchRequest {
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size)
    }
}

/// The table an entity's events live in.
pub fn table(entity: EntityType) -> &'static str {
    match entity {
        EntityType::Lead => "lead_analytics",
        EntityType::Contact => "contact_analytics",
    }
}

/// The search parameter naming the entity.
fn id_parameter(entity: EntityType) -> &'static str {
    match entity {
        EntityType::Lead => "lead_id",
        EntityType::Contact => "contact_id",
    }
}

fn other(entity: EntityType) -> EntityType {
    match entity {
        EntityType::Lead => EntityType::Contact,
        EntityType::Contact => EntityType::Lead,
    }
}

/// The entity of a search path (case-insensitive, trailing `/` ignored, as the router).
pub fn entity_of(path: &str) -> Option<EntityType> {
    match path.to_ascii_lowercase().trim_end_matches('/') {
        "/api/v1/lead_analytics/search" => Some(EntityType::Lead),
        "/api/v1/contact_analytics/search" => Some(EntityType::Contact),
        _ => None,
    }
}

/// `recording_id`, `recording_id[]` and `recording_id[N]` all name the array.
fn is_recording_id(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("recording_id") else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|index| index.bytes().all(|b| b.is_ascii_digit()))
}

/// Collects every parameter error instead of stopping at the first.
struct Checker {
    pairs: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// The values given for `name`.
    fn values(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A parameter given at most once (`Err(())` when refused; the error is recorded).
    fn single(&mut self, name: &str) -> Result<Option<String>, ()> {
        let mut values = self.values(name);
        match values.len() {
            0 => Ok(None),
            1 => {
                let value = values.remove(0);
                if value.len() > MAX_VALUE_LEN {
                    self.fail(name, format!("must be at most {MAX_VALUE_LEN} bytes"));
                    return Err(());
                }
                Ok(Some(value))
            }
            n => {
                self.fail(name, format!("must be given once, got {n} values"));
                Err(())
            }
        }
    }

    /// A required parameter that is not blank.
    fn required(&mut self, name: &str) -> String {
        match self.single(name) {
            Ok(Some(value)) if value.trim().is_empty() => {
                self.fail(name, "must not be empty");
                String::new()
            }
            Ok(Some(value)) => value,
            Ok(None) => {
                self.fail(name, "is required");
                String::new()
            }
            Err(()) => String::new(),
        }
    }

    fn recording_ids(&mut self) -> Vec<String> {
        let given: Vec<String> = self
            .pairs
            .iter()
            .filter(|(n, _)| is_recording_id(n))
            .map(|(_, v)| v.clone())
            .collect();
        let field = "recording_id";
        if given.is_empty() {
            self.fail(field, "is required (one or more values: recording_id=a&recording_id=b or recording_id[]=a&recording_id[]=b)");
        } else if given.iter().any(|v| v.trim().is_empty()) {
            self.fail(field, "must not contain empty values");
        } else if given.len() > MAX_RECORDING_IDS {
            self.fail(
                field,
                format!(
                    "must have at most {MAX_RECORDING_IDS} values, got {}",
                    given.len()
                ),
            );
        } else if given.iter().map(String::len).sum::<usize>() > MAX_RECORDING_IDS_LEN {
            self.fail(
                field,
                format!("values must be at most {MAX_RECORDING_IDS_LEN} bytes together"),
            );
        } else {
            let mut distinct: Vec<String> = Vec::with_capacity(given.len());
            for id in given {
                if !distinct.contains(&id) {
                    distinct.push(id);
                }
            }
            return distinct;
        }
        Vec::new()
    }

    fn latest(&mut self) -> bool {
        let Ok(Some(value)) = self.single("latest") else {
            return false;
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                self.fail(
                    "latest",
                    format!("must be true, false, 1 or 0, got {}", shown(&value)),
                );
                false
            }
        }
    }

    /// An optional positive integer in `1..=max`.
    fn positive(&mut self, name: &str, default: u32, max: u32) -> u32 {
        let Ok(Some(value)) = self.single(name) else {
            return default;
        };
        // Digits only: `parse` alone would also take "+5".
        let parsed = Some(&value)
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=max).contains(n));
        parsed.unwrap_or_else(|| {
            self.fail(
                name,
                format!("must be an integer from 1 to {max}, got {}", shown(&value)),
            );
            default
        })
    }
}

/// Validate the query string of a search for `entity`.
pub fn parse(entity: EntityType, query: Option<&str>) -> Result<SearchRequest, CrmError> {
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let mut c = Checker {
        pairs,
        errors: Vec::new(),
    };
    let recording_ids = c.recording_ids();
    let customer_id = c.required("customer_id");
    let user_id = c.required("user_id");
    let entity_id = c.required(id_parameter(entity));
    let foreign = id_parameter(other(entity));
    if !c.values(foreign).is_empty() {
        let path = format!("/api/v1/{}/search", table(other(entity)));
        c.fail(
            foreign,
            format!("is not accepted here; it belongs to {path}"),
        );
    }
    let latest = c.latest();
    let page = c.positive("page", 1, u32::MAX);
    let page_size = c.positive("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    if !c.errors.is_empty() {
        return Err(CrmError::Invalid(c.errors));
    }
    Ok(SearchRequest {
        entity,
        recording_ids,
        customer_id,
        user_id,
        entity_id,
        latest,
        page,
        page_size,
    })
}

/// One row of the page, as `search.sql` selects it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, clickhouse::Row)]
pub struct Recording {
    pub customer_id: String,
    pub entity_type: String,
    pub entity_id: String,
    pub user_id: String,
    pub tool_signature: Option<String>,
    pub recording_id: String,
    pub event_type: String,
    pub event_id: String,
    pub message: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// All matches of the search, over all pages (`meta.rowCount`), counted in the same reading.
    pub row_count: u64,
    /// 1-based place in the newest-first order of all matches.
    pub position: u64,
}

impl Recording {
    /// The document's recording object, keys in its order.
    pub fn to_json(&self) -> Value {
        json!({
            "customer_id": self.customer_id,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "user_id": self.user_id,
            "tool_signature": self.tool_signature,
            "recording_id": self.recording_id,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "message": self.message,
            "created_at": iso_millis(self.created_at_ms),
            "updated_at": iso_millis(self.updated_at_ms),
        })
    }
}

/// The 200 body.
pub fn page_body(request: &SearchRequest, recordings: &[Recording], row_count: u64) -> Value {
    json!({
        "recordings": recordings.iter().map(Recording::to_json).collect::<Vec<_>>(),
        "meta": {
            "page": request.page,
            "pageSize": request.page_size,
            "rowCount": row_count,
        },
    })
}

/// Why ClickHouse did not answer.
#[derive(Debug, thiserror::Error)]
enum StoreError {
    /// Down, overloaded, or not migrated yet: worth retrying.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else is a bug on our side.
    #[error("failed: {0}")]
    Failed(clickhouse::error::Error),
}

/// ClickHouse errors that mean "try again later": unknown table or database (the sink has
/// not applied the migrations yet), timeouts, memory, too many queries, readonly replica.
const UNAVAILABLE_CODES: &[&str] = &[
    "Code: 60",
    "Code: 81",
    "Code: 159",
    "Code: 164",
    "Code: 202",
    "Code: 209",
    "Code: 210",
    "Code: 241",
    "Code: 242",
    "Code: 319",
    "Code: 425",
];

impl From<clickhouse::error::Error> for StoreError {
    fn from(error: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error;
        match &error {
            Error::Network(_) | Error::TimedOut => StoreError::Unavailable(error.to_string()),
            Error::BadResponse(text) if UNAVAILABLE_CODES.iter().any(|c| text.contains(c)) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Failed(error),
        }
    }
}

impl Search {
    /// Answer one search for `tenant` (already resolved from the request's key).
    pub async fn handle(&self, tenant: &str, path: &str, query: Option<&str>) -> HttpResponse {
        let Some(entity) = entity_of(path) else {
            return crm::transport_error_allowing(&TransportError::NotFound, "GET");
        };
        if let Some(query) = query.filter(|q| q.len() > MAX_QUERY_LEN) {
            let message = format!(
                "URI Too Long: the query string has {} bytes, at most {MAX_QUERY_LEN} are read; \
                 send fewer or shorter recording_id values",
                query.len()
            );
            return crm::error_response(StatusCode::URI_TOO_LONG, &message, &[]);
        }
        let request = match parse(entity, query) {
            Ok(request) => request,
            Err(error) => return crm::error_body_response(&error),
        };
        match tokio::time::timeout(QUERY_TIMEOUT, self.run(tenant, &request)).await {
            Ok(Ok((recordings, row_count))) => {
                json_response(StatusCode::OK, &page_body(&request, &recordings, row_count))
            }
            Ok(Err(StoreError::Failed(error))) => {
                tracing::error!(%error, "search query failed");
                crm::transport_error_allowing(&TransportError::Internal, "GET")
            }
            Ok(Err(StoreError::Unavailable(error))) => {
                tracing::warn!(%error, "ClickHouse unavailable; answering 503");
                unavailable()
            }
            Err(_) => {
                tracing::warn!(timeout = ?QUERY_TIMEOUT, "search timed out; answering 503");
                unavailable()
            }
        }
    }

    /// The page and `rowCount`, from one query and so from one reading of the table: a page
    /// read while the sink inserts holds exactly as many rows as `rowCount` says it does.
    async fn run(
        &self,
        tenant: &str,
        r: &SearchRequest,
    ) -> Result<(Vec<Recording>, u64), StoreError> {
        let per_recording = if r.latest { 1 } else { ALL_EVENTS };
        let rows = self
            .client
            .query(SEARCH_SQL)
            .bind(Identifier(table(r.entity)))
            .bind(tenant)
            .bind(&r.customer_id)
            .bind(&r.entity_id)
            .bind(&r.recording_ids)
            .bind(&r.user_id)
            .bind(per_recording)
            .bind(r.offset())
            .bind(r.offset() + u64::from(r.page_size))
            .fetch_all::<Recording>()
            .await?;
        Ok(on_the_page(rows, r.offset()))
    }
}

/// The page and `rowCount` from what `search.sql` returns: its rows on the page, plus the
/// first match, which always comes back to carry the count and is dropped here when the page
/// starts after it. No rows at all: no matches.
fn on_the_page(mut rows: Vec<Recording>, offset: u64) -> (Vec<Recording>, u64) {
    let row_count = rows.first().map_or(0, |row| row.row_count);
    rows.retain(|row| row.position > offset);
    (rows, row_count)
}

fn unavailable() -> HttpResponse {
    crm::transport_error_allowing(
        &TransportError::Unavailable {
            retry_after_secs: RETRY_AFTER_SECS,
        },
        "GET",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn errors(entity: EntityType, query: &str) -> Vec<(String, String)> {
        match parse(entity, Some(query)) {
            Ok(r) => panic!("{query:?} was accepted: {r:?}"),
            Err(e) => e
                .field_errors()
                .iter()
                .map(|f| (f.field.clone(), f.message.clone()))
                .collect(),
        }
    }

    fn fields(entity: EntityType, query: &str) -> Vec<String> {
        errors(entity, query).into_iter().map(|(f, _)| f).collect()
    }

    const BASE: &str = "customer_id=c&user_id=u&lead_id=l&recording_id=r";

    #[test]
    fn both_array_forms_and_encoded_brackets_are_one_list() {
        let cases = [
            ("recording_id=a&recording_id=b", vec!["a", "b"]),
            ("recording_id[]=a&recording_id[]=b", vec!["a", "b"]),
            ("recording_id%5B%5D=a&recording_id%5b%5d=b", vec!["a", "b"]),
            ("recording_id[0]=a&recording_id[1]=b", vec!["a", "b"]),
            (
                "recording_id=a&recording_id[]=b&recording_id=a",
                vec!["a", "b"],
            ),
            (
                "recording_id=rec%231&recording_id=x+y",
                vec!["rec#1", "x y"],
            ),
        ];
        for (ids, want) in cases {
            let query = format!("customer_id=c&user_id=u&lead_id=l&{ids}");
            let r = parse(EntityType::Lead, Some(&query)).unwrap();
            assert_eq!(r.recording_ids, want, "{ids}");
        }
    }

    #[test]
    fn defaults() {
        let r = parse(EntityType::Lead, Some(BASE)).unwrap();
        assert_eq!(
            r,
            SearchRequest {
                entity: EntityType::Lead,
                recording_ids: vec!["r".into()],
                customer_id: "c".into(),
                user_id: "u".into(),
                entity_id: "l".into(),
                latest: false,
                page: 1,
                page_size: 10,
            }
        );
        assert_eq!(r.offset(), 0);
        let contact = "customer_id=c&user_id=u&contact_id=k&recording_id=r&page=3&pageSize=25";
        let r = parse(EntityType::Contact, Some(contact)).unwrap();
        assert_eq!((r.entity_id.as_str(), r.page, r.page_size), ("k", 3, 25));
        assert_eq!(r.offset(), 50);
    }

    #[test]
    fn every_missing_parameter_is_named_in_document_order() {
        assert_eq!(
            fields(EntityType::Lead, ""),
            ["recording_id", "customer_id", "user_id", "lead_id"]
        );
        assert_eq!(
            fields(EntityType::Contact, "lead_id=x&unknown=1"),
            [
                "recording_id",
                "customer_id",
                "user_id",
                "contact_id",
                "lead_id"
            ]
        );
        assert_eq!(
            errors(EntityType::Lead, "customer_id=c&user_id=u&recording_id=r"),
            [("lead_id".to_string(), "is required".to_string())]
        );
    }

    #[test]
    fn latest_takes_booleans_in_any_case() {
        for (value, want) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("1", true),
            ("false", false),
            ("FaLsE", false),
            ("0", false),
        ] {
            let r = parse(EntityType::Lead, Some(&format!("{BASE}&latest={value}"))).unwrap();
            assert_eq!(r.latest, want, "{value}");
        }
        for bad in ["", "yes", "2", "t", " true", "null"] {
            let query = format!("{BASE}&latest={bad}");
            assert_eq!(fields(EntityType::Lead, &query), ["latest"], "{bad:?}");
        }
    }

    #[test]
    fn page_and_page_size_are_bounded_integers() {
        let ok = [
            ("page=1", 1, 10),
            ("page=4294967295", 4_294_967_295, 10),
            ("pageSize=1", 1, 1),
            ("pageSize=1000", 1, 1000),
            ("page=007&pageSize=050", 7, 50),
        ];
        for (extra, page, size) in ok {
            let r = parse(EntityType::Lead, Some(&format!("{BASE}&{extra}"))).unwrap();
            assert_eq!((r.page, r.page_size), (page, size), "{extra}");
        }
        assert_eq!(
            parse(
                EntityType::Lead,
                Some(&format!("{BASE}&page=4294967295&pageSize=1000"))
            )
            .unwrap()
            .offset(),
            4_294_967_294_000
        );
        for bad in [
            "0",
            "-1",
            "1.5",
            "1e3",
            "abc",
            "",
            "+1",
            " 1",
            "4294967296",
            "99999999999999999999",
        ] {
            let query = format!("{BASE}&page={bad}");
            assert_eq!(fields(EntityType::Lead, &query), ["page"], "page={bad:?}");
        }
        for bad in ["0", "1001", "-10", "10.0", "ten", ""] {
            let query = format!("{BASE}&pageSize={bad}");
            assert_eq!(
                fields(EntityType::Lead, &query),
                ["pageSize"],
                "pageSize={bad:?}"
            );
        }
        let all = errors(
            EntityType::Lead,
            &format!("{BASE}&latest=x&page=0&pageSize=5000"),
        );
        assert_eq!(
            all,
            [
                (
                    "latest".to_string(),
                    "must be true, false, 1 or 0, got \"x\"".to_string()
                ),
                (
                    "page".to_string(),
                    "must be an integer from 1 to 4294967295, got \"0\"".to_string()
                ),
                (
                    "pageSize".to_string(),
                    "must be an integer from 1 to 1000, got \"5000\"".to_string()
                ),
            ]
        );
    }

    #[test]
    fn blank_repeated_foreign_and_oversized_values_are_refused() {
        let cases: &[(&str, &[&str])] = &[
            (
                "customer_id=&user_id=%20&lead_id=l&recording_id=r",
                &["customer_id", "user_id"],
            ),
            (
                "customer_id=a&customer_id=b&user_id=u&lead_id=l&recording_id=r",
                &["customer_id"],
            ),
            (
                "customer_id=c&user_id=u&lead_id=l&recording_id=r&recording_id[]=",
                &["recording_id"],
            ),
            (
                "customer_id=c&user_id=u&lead_id=l&recording_id=r&contact_id=k",
                &["contact_id"],
            ),
            (
                "customer_id=c&user_id=u&lead_id=l&recording_idx=r",
                &["recording_id"],
            ),
            (
                "customer_id=c&user_id=u&lead_id=l&Recording_Id=r",
                &["recording_id"],
            ),
        ];
        for (query, want) in cases {
            assert_eq!(&fields(EntityType::Lead, query), want, "{query}");
        }
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let query = format!("customer_id={long}&user_id=u&lead_id=l&recording_id=r");
        assert_eq!(fields(EntityType::Lead, &query), ["customer_id"]);
        let many: Vec<String> = (0..=MAX_RECORDING_IDS)
            .map(|i| format!("recording_id={i}"))
            .collect();
        let query = format!("customer_id=c&user_id=u&lead_id=l&{}", many.join("&"));
        assert_eq!(fields(EntityType::Lead, &query), ["recording_id"]);
    }

    #[test]
    fn injection_strings_are_plain_values() {
        let evil = "x' OR 1=1 --";
        let query = format!(
            "customer_id={}&user_id=u&lead_id=l&recording_id={}",
            urlencode(evil),
            urlencode("a'); DROP TABLE events; --")
        );
        let r = parse(EntityType::Lead, Some(&query)).unwrap();
        assert_eq!(r.customer_id, evil);
        assert_eq!(r.recording_ids, ["a'); DROP TABLE events; --"]);
    }

    fn urlencode(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    #[test]
    fn paths() {
        assert_eq!(
            entity_of("/api/v1/lead_analytics/search"),
            Some(EntityType::Lead)
        );
        assert_eq!(
            entity_of("/API/v1/Contact_Analytics/search/"),
            Some(EntityType::Contact)
        );
        assert_eq!(entity_of("/api/v1/lead_analytics"), None);
    }

    #[test]
    fn the_queries_bind_exactly_the_values_the_search_gives() {
        // search.sql: 7 filter values (table, tenant, ...), the offset and where the page ends.
        assert_eq!(SEARCH_SQL.matches('?').count(), 9);
    }

    #[test]
    fn the_first_match_carries_the_count_and_leaves_pages_it_is_not_on() {
        let rows = |positions: &[u64]| -> Vec<Recording> {
            positions
                .iter()
                .map(|&position| Recording {
                    event_id: format!("e{position}"),
                    row_count: 7,
                    position,
                    ..Default::default()
                })
                .collect()
        };
        let shown = |(page, count): (Vec<Recording>, u64)| {
            let ids: Vec<String> = page.into_iter().map(|r| r.event_id).collect();
            (ids, count)
        };
        // Page 1 of 3: the first match is on it.
        assert_eq!(
            shown(on_the_page(rows(&[1, 2, 3]), 0)),
            (vec!["e1".into(), "e2".into(), "e3".into()], 7)
        );
        // Page 2 of 3: only the count of the first match is kept.
        assert_eq!(
            shown(on_the_page(rows(&[1, 4, 5, 6]), 3)),
            (vec!["e4".into(), "e5".into(), "e6".into()], 7)
        );
        // Past the end: no rows, and still the count.
        assert_eq!(shown(on_the_page(rows(&[1]), 30)), (vec![], 7));
        // No match at all.
        assert_eq!(shown(on_the_page(Vec::new(), 30)), (vec![], 0));
    }

    #[test]
    fn the_body_has_the_documented_shape() {
        let request = parse(EntityType::Lead, Some(BASE)).unwrap();
        let row = Recording {
            customer_id: "customer#2".into(),
            entity_type: "lead".into(),
            entity_id: "contact#1".into(),
            user_id: "user#2".into(),
            tool_signature: Some("vfp".into()),
            recording_id: "recording#2".into(),
            event_type: "view".into(),
            event_id: "view#1".into(),
            message: Some("message".into()),
            created_at_ms: 1_541_164_324_000,
            updated_at_ms: 1_541_164_324_000,
            row_count: 2,
            position: 1,
        };
        let body = page_body(&request, &[row], 2);
        // The document's sample response, with the comma its JSON lacks after `]`.
        let documented: Value = serde_json::from_str(
            r#"{"recordings": [{"customer_id": "customer#2", "entity_type": "lead",
                "entity_id": "contact#1", "user_id": "user#2", "tool_signature": "vfp",
                "recording_id": "recording#2", "event_type": "view", "event_id": "view#1",
                "message": "message", "created_at": "2018-11-02T13:12:04.000Z",
                "updated_at": "2018-11-02T13:12:04.000Z"}],
                "meta": {"page": 1, "pageSize": 10, "rowCount": 2}}"#,
        )
        .unwrap();
        assert_eq!(body, documented);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            serde_json::to_string(&documented).unwrap(),
            "same key order"
        );
    }

    async fn body_of(response: HttpResponse) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_422_uses_the_crm_error_shape() {
        let search = Search {
            client: clickhouse::Client::default().with_url("http://127.0.0.1:9"),
        };
        let response = search
            .handle(
                "default",
                "/api/v1/contact_analytics/search",
                Some("pageSize=0"),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body_of(response).await,
            json!({
                "error": "Unprocessable Entity",
                "message": "5 fields are invalid or missing",
                "errors": [
                    {"field": "recording_id", "message": "is required (one or more values: recording_id=a&recording_id=b or recording_id[]=a&recording_id[]=b)"},
                    {"field": "customer_id", "message": "is required"},
                    {"field": "user_id", "message": "is required"},
                    {"field": "contact_id", "message": "is required"},
                    {"field": "pageSize", "message": "must be an integer from 1 to 1000, got \"0\""},
                ]
            })
        );
    }

    #[tokio::test]
    async fn clickhouse_unreachable_is_503_with_retry_after() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        let search = Search {
            client: clickhouse::Client::default().with_url("http://127.0.0.1:9"),
        };
        let response = search
            .handle("default", "/api/v1/lead_analytics/search", Some(BASE))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
        let body = body_of(response).await;
        assert_eq!(body["error"], "Service Unavailable");
        assert_eq!(body["errors"], json!([]));
    }

    #[tokio::test]
    async fn a_query_string_over_its_limit_is_414_in_the_family_format_and_the_limits_fit() {
        let search = Search {
            client: clickhouse::Client::default().with_url("http://127.0.0.1:9"),
        };
        let long = format!("{BASE}&recording_id={}", "x".repeat(MAX_QUERY_LEN));
        let response = search
            .handle("default", "/api/v1/lead_analytics/search", Some(&long))
            .await;
        assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
        let body = body_of(response).await;
        assert_eq!(body["error"], "URI Too Long");
        assert!(body["message"].as_str().unwrap().contains("at most 61440"));
        // The documented limits are reachable: 1000 recording_ids of 40 KiB together, with
        // the other parameters at a realistic length, fit in the query string.
        let value = "r".repeat(MAX_RECORDING_IDS_LEN / MAX_RECORDING_IDS);
        let ids: String = (0..MAX_RECORDING_IDS)
            .map(|_| format!("&recording_id={value}"))
            .collect();
        let full = format!("customer_id=customer-0001&user_id=user-0001&lead_id=lead-0001{ids}");
        assert!(full.len() <= MAX_QUERY_LEN, "{}", full.len());
        assert!(parse(EntityType::Lead, Some(&full)).is_ok());
    }
}
