//! Splitting one accepted request (`RawBatch`) into canonical events, one module per API
//! family. Each reuses the gateway's own parser for its family, so the enricher reads a body
//! exactly as the gateway validated it; `finish` then applies the rules every source shares
//! (event time, identities, geo, PII hashing).

pub mod activity;
pub mod crm;
pub mod mobile_batch;
pub mod s2s;

mod context;
mod finish;

pub use context::{NormalizeContext, TenantRules};
pub use finish::{finish, Draft, Pii};

use serde_json::{Map, Value};
use tributary_schemas::{Family, NormalizedEvent, RawBatch, Source};
use uuid::Uuid;

/// Namespace of every `event_uid` (UUIDv5).
const EVENT_UID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1e_6b0c_3f2d_4c55_9a7e_0d2b_5e8f_7c31);

/// Why a whole raw message could not be split. Each becomes a DLQ record with this reason.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("unknown source {0:?}")]
    UnknownSource(String),
    #[error("body could not be decompressed: {0}")]
    BodyEncoding(String),
    #[error("body does not parse as its source: {0}")]
    InvalidBody(String),
}

impl SplitError {
    /// Low-cardinality reason code for metrics and the DLQ.
    pub fn reason(&self) -> &'static str {
        match self {
            SplitError::UnknownSource(_) => "unknown_source",
            SplitError::BodyEncoding(_) => "body_encoding",
            SplitError::InvalidBody(_) => "invalid_body",
        }
    }
}

/// One event that parsed but cannot be normalized (e.g. a currency ISO 4217 does not know).
#[derive(Debug, Clone, PartialEq)]
pub struct EventFailure {
    pub reason: &'static str,
    pub detail: String,
    pub event_uid: String,
    /// The event's source fields as sent.
    pub raw: Map<String, Value>,
}

/// What one event became.
pub type Outcome = Result<NormalizedEvent, EventFailure>;

/// Split and normalize every event of `batch`.
pub fn split(batch: &RawBatch, ctx: &NormalizeContext) -> Result<Vec<Outcome>, SplitError> {
    let source: Source = batch
        .source
        .parse()
        .map_err(|_| SplitError::UnknownSource(batch.source.clone()))?;
    let body = batch
        .body_bytes()
        .map_err(|e| SplitError::BodyEncoding(e.to_string()))?;
    let rules = ctx.rules(&batch.tenant);
    let drafts = match source.family() {
        Family::MobileBatch => mobile_batch::drafts(batch, &body)?,
        Family::Crm => crm::drafts(batch, source, &body, &rules)?,
        Family::S2s => s2s::drafts(batch, source, &body)?,
        Family::Activity => activity::drafts(batch, &body, &rules)?,
    };
    Ok(drafts
        .into_iter()
        .map(|draft| draft.and_then(|d| finish(d, ctx, &rules)))
        .collect())
}

/// `event_uid` of an event the client identified: stable across retries and redelivery.
pub fn uid_from_client_id(tenant: &str, source: &str, client_id: &str) -> String {
    let name = format!("{tenant}\u{1f}{source}\u{1f}id\u{1f}{client_id}");
    Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes()).to_string()
}

/// `event_uid` of an event without a client id but with its own timestamp: a hash of its
/// content, so a client's retry of the same request collapses.
pub fn uid_from_content(tenant: &str, source: &str, raw: &Map<String, Value>) -> String {
    let content = serde_json::to_string(raw).unwrap_or_default();
    let name = format!("{tenant}\u{1f}{source}\u{1f}content\u{1f}{content}");
    Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes()).to_string()
}

/// `event_uid` of an event with neither id nor timestamp: tied to the request the gateway
/// accepted (two identical logins at different times stay two events).
pub fn uid_from_position(batch_id: &str, index: usize) -> String {
    let name = format!("batch\u{1f}{batch_id}\u{1f}{index}");
    Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes()).to_string()
}

/// The fields every event of `batch` shares.
pub fn base_event(batch: &RawBatch, index: usize) -> NormalizedEvent {
    NormalizedEvent {
        tenant: batch.tenant.clone(),
        source: batch.source.clone(),
        batch_id: batch.batch_id.clone(),
        event_index: index as i32,
        received_at: batch.received_at,
        event_time: batch.received_at,
        user_agent: batch.user_agent.clone(),
        ip: batch.client_ip.clone(),
        properties: "{}".into(),
        raw: "{}".into(),
        ..Default::default()
    }
}

/// Compact JSON text of an object.
pub fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_deterministic_and_scoped() {
        let a = uid_from_client_id("t", "mobile_batch", "e1");
        assert_eq!(a, uid_from_client_id("t", "mobile_batch", "e1"));
        assert_ne!(a, uid_from_client_id("u", "mobile_batch", "e1"));
        assert_ne!(a, uid_from_client_id("t", "activity.upload", "e1"));
        assert_ne!(uid_from_position("b", 0), uid_from_position("b", 1));
        let raw: Map<String, Value> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(
            uid_from_content("t", "s", &raw),
            uid_from_content("t", "s", &raw)
        );
        let other: Map<String, Value> = serde_json::from_str(r#"{"a":2}"#).unwrap();
        assert_ne!(
            uid_from_content("t", "s", &raw),
            uid_from_content("t", "s", &other)
        );
    }
}
