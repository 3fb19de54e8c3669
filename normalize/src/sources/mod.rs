//! Splitting one accepted request (`RawBatch`) into canonical events, one module per API
//! family. Each runs its family's `tributary_wire` parser, the same one the gateway validated
//! the body with, and maps every event to a `Draft`; `event::normalize` then
//! applies the rules every source shares (event time, identities, geo, PII hashing).

pub mod activity;
pub mod crm;
pub mod mobile_batch;
pub mod s2s;

pub use crate::event::{Draft, EventFailure, Outcome, PhoneHint, Pii};
pub use crate::tenants::{NormalizeContext, TenantRules};

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Map, Value};
use tributary_schemas::{Family, NormalizedEvent, RawBatch, Source};
use uuid::Uuid;

use crate::event;

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

/// Split and normalize every event of `batch`.
pub fn split(batch: &RawBatch, ctx: &NormalizeContext) -> Result<Vec<Outcome>, SplitError> {
    let source: Source = batch
        .source
        .parse()
        .map_err(|_| SplitError::UnknownSource(batch.source.clone()))?;
    let body = batch
        .body_bytes()
        .map_err(|e| SplitError::BodyEncoding(e.to_string()))?;
    if crate::before_kafka::is_normalized_at_gateway(batch) {
        return crate::before_kafka::decode(&body);
    }
    let rules = ctx.rules(&batch.tenant);
    let drafts = match source.family() {
        Family::MobileBatch => mobile_batch::drafts(batch, &body, &rules)?,
        Family::Crm => crm::drafts(batch, source, &body, &rules)?,
        Family::S2s => s2s::drafts(batch, source, &body, &rules)?,
        Family::Activity => activity::drafts(batch, &body, &rules)?,
    };
    Ok(drafts
        .into_iter()
        .map(|draft| draft.and_then(|d| event::normalize(d, ctx, &rules)))
        .collect())
}

/// `event_uid` of an event the client identified: stable across retries and redelivery.
///
/// The UUIDv5 of `tenant␟source␟id␟client_id` (U+001F between the parts). The name is
/// written into a per-thread buffer, so the uid's text is the one allocation.
pub fn uid_from_client_id(tenant: &str, source: &str, client_id: &str) -> String {
    thread_local! {
        static NAME: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let uid = NAME.with_borrow_mut(|name| {
        name.clear();
        for part in [tenant, "\u{1f}", source, "\u{1f}id\u{1f}", client_id] {
            name.push_str(part);
        }
        Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes())
    });
    uid_text(uid)
}

/// A uid's hyphenated lowercase text, allocated once at its exact length (`to_string` grows
/// its buffer through the formatter).
fn uid_text(uid: Uuid) -> String {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uid.hyphenated().encode_lower(&mut text).to_owned()
}

/// `event_uid`s of the events of one request that carry no client id but their own time: a
/// hash of the event's content, so a client's retry of the same request collapses onto the
/// same events. Identical items inside one request are distinct events (two identical
/// `messageReceived` items are two messages): each is told apart by its occurrence among its
/// identical items, in request order. The first occurrence keeps the plain content uid, so
/// a single item, and uids stored before this rule, stay as they were.
#[derive(Debug, Default)]
pub struct ContentUids {
    seen: HashMap<Uuid, usize>,
}

impl ContentUids {
    /// The uid of the next event with content `raw` in this request.
    pub fn uid(&mut self, tenant: &str, source: &str, raw: &Map<String, Value>) -> String {
        let content = serde_json::to_string(raw).unwrap_or_default();
        let name = format!("{tenant}\u{1f}{source}\u{1f}content\u{1f}{content}");
        let first = Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes());
        let seen = self.seen.entry(first).or_insert(0);
        let occurrence = *seen;
        *seen += 1;
        if occurrence == 0 {
            return uid_text(first);
        }
        let name = format!("{name}\u{1f}occurrence\u{1f}{occurrence}");
        uid_text(Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes()))
    }
}

/// `event_uid` of an event with neither id nor timestamp: tied to the request the gateway
/// accepted (two identical logins at different times stay two events).
pub fn uid_from_position(batch_id: &str, index: usize) -> String {
    let name = format!("batch\u{1f}{batch_id}\u{1f}{index}");
    uid_text(Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes()))
}

/// The fields every event of `batch` shares. The request's address and User-Agent are
/// request metadata (`sender_ip`, `sender_user_agent`): a server calling on behalf of its
/// users is not the user. Only the mobile batch, which users' devices call directly, takes
/// them as the user's `ip`/`user_agent`, and only where the event has none (DESIGN.md).
pub fn base_event(batch: &RawBatch, index: usize) -> NormalizedEvent {
    NormalizedEvent {
        tenant: batch.tenant.clone(),
        source: batch.source.clone(),
        batch_id: batch.batch_id.clone(),
        event_index: index as i32,
        received_at: batch.received_at,
        event_time: batch.received_at,
        sender_ip: batch.client_ip.clone(),
        sender_user_agent: batch.user_agent.clone(),
        // Filled by the family (`properties`) and by `event::normalize` (`raw`, and `{}` for
        // `properties` a family left empty): no placeholder allocated only to be replaced.
        properties: String::new(),
        raw: String::new(),
        ..Default::default()
    }
}

/// Compact JSON text of an object.
pub fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

/// A request of tenant `acme` (S2S app 666) as the gateway publishes it, body in clear.
#[cfg(test)]
pub(crate) fn test_batch(source: &str, content_type: &str, body: &str) -> RawBatch {
    RawBatch {
        batch_id: "0192f2a0-0000-7000-8000-000000000001".into(),
        source: source.into(),
        tenant: "acme".into(),
        received_at: 1_700_000_000_000,
        request_id: "r".into(),
        client_ip: Some("198.51.100.7".into()),
        user_agent: None,
        content_type: content_type.into(),
        body_encoding: "identity".into(),
        body: body.as_bytes().to_vec(),
        attributes: HashMap::from([("idApp".to_string(), "666".to_string())]),
    }
}

/// Normalization rules with `settings` for tenant `acme`.
#[cfg(test)]
pub(crate) fn test_context(settings: crate::config::TenantSettings) -> NormalizeContext {
    NormalizeContext::from_config(&crate::config::EnricherConfig {
        tenants: std::collections::BTreeMap::from([("acme".to_string(), settings)]),
        ..Default::default()
    })
    .unwrap()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{EnricherConfig, TenantSettings};

    fn batch(source: &str, body: &str) -> RawBatch {
        test_batch(source, "application/json", body)
    }

    #[test]
    fn hashed_pii_never_reaches_the_event_or_its_raw_fields() {
        let ctx = test_context(TenantSettings {
            hash_fields: vec!["email".into(), "phone".into(), "ip".into(), "name".into()],
            hash_salt: Some("pepper".into()),
            ..Default::default()
        });
        let body = r#"{"events":[{"event_id":"e","event_name":"n","timestamp_utc":1700000000,
            "mobile_number":"+91 98765 43210","ip":"8.8.8.8","name":"Jane Doe"}]}"#;
        let events = split(&batch("mobile_batch", body), &ctx).unwrap();
        let e = events[0].as_ref().unwrap();
        let phone = crate::identity::hash_pii("pepper", "+919876543210");
        assert_eq!(e.phone.as_deref(), Some(phone.as_str()));
        assert_eq!(
            e.ip.as_deref(),
            Some(crate::identity::hash_pii("pepper", "8.8.8.8").as_str())
        );
        assert_eq!(
            e.name.as_deref(),
            Some(crate::identity::hash_pii("pepper", "Jane Doe").as_str())
        );
        for plain in ["98765", "8.8.8.8", "Jane"] {
            assert!(!e.raw.contains(plain), "{plain} in {}", e.raw);
        }
        assert_eq!(e.hashed_fields, vec!["phone", "ip", "name"]);

        let activity = r#"[{"asset_id":"a","activity_name":"x","timestamp":"2021-12-29T12:06:28Z",
            "identity":"Jane@Example.com","activity_source":"web","activity_params":{}}]"#;
        let events = split(&batch("activity.upload", activity), &ctx).unwrap();
        let e = events[0].as_ref().unwrap();
        let hashed = crate::identity::hash_pii("pepper", "jane@example.com");
        assert_eq!(e.email.as_deref(), Some(hashed.as_str()));
        assert!(!e.raw.to_lowercase().contains("jane@"), "{}", e.raw);
        assert!(!e.user_key.contains("jane"), "{}", e.user_key);
    }

    #[test]
    fn an_event_without_parameters_has_empty_object_properties() {
        let ctx = test_context(TenantSettings::default());
        let s2s = r#"[{"customUserId":"1","eventTimestamp":1,"idTransaction":"t1","currency":"inr","total":1}]"#;
        let mobile = r#"{"events":[{"event_id":"e","event_name":"n","timestamp_utc":1700000000,
            "ip":" 8.8.8.8 ","country":"India","city":"New\u00a0 Delhi"}]}"#;
        for (source, body) in [("s2s.customRevenueBatch", s2s), ("mobile_batch", mobile)] {
            let events = split(&batch(source, body), &ctx).unwrap();
            let e = events[0].as_ref().unwrap();
            assert_eq!(e.properties, "{}", "{source}");
            assert!(
                e.raw.starts_with('{') && e.raw.len() > 2,
                "{source}: {}",
                e.raw
            );
        }
        // The sent texts' buffers are reused for what they become.
        let events = split(&batch("mobile_batch", mobile), &ctx).unwrap();
        let e = events[0].as_ref().unwrap();
        assert_eq!(e.ip.as_deref(), Some("8.8.8.8"));
        assert_eq!(e.country.as_deref(), Some("IN"));
        assert_eq!(e.city.as_deref(), Some("New Delhi"));
    }

    #[test]
    fn a_currency_iso_4217_does_not_know_goes_to_the_dlq_alone() {
        let body = r#"[{"customUserId":"1","eventTimestamp":1,"idTransaction":"t1","currency":"ABC","total":1},
            {"customUserId":"1","eventTimestamp":1,"idTransaction":"t2","currency":"inr","total":"10.990"}]"#;
        let outcomes = split(
            &batch("s2s.customRevenueBatch", body),
            &NormalizeContext::default(),
        )
        .unwrap();
        let failure = outcomes[0].as_ref().unwrap_err();
        assert_eq!(failure.reason, "invalid_currency");
        assert_eq!(failure.raw["idTransaction"], "t1");
        let ok = outcomes[1].as_ref().unwrap();
        assert_eq!(ok.currency.as_deref(), Some("INR"));
        assert_eq!(ok.revenue_amount.as_deref(), Some("10.99"));
        // Retrying the same transaction through the single method is the same event.
        let single = r#"{"customUserId":"1","eventTimestamp":1,"idTransaction":"t2","currency":"INR","total":"10.99"}"#;
        let again = split(
            &batch("s2s.customRevenue", single),
            &NormalizeContext::default(),
        )
        .unwrap();
        assert_eq!(again[0].as_ref().unwrap().event_uid, ok.event_uid);
    }

    #[test]
    fn zone_less_times_are_read_in_the_tenant_zone() {
        let ctx = test_context(TenantSettings {
            time_zone: Some("Asia/Kolkata".into()),
            ..Default::default()
        });
        let body = r#"[{"asset_id":"a","activity_name":"x","timestamp":"2020-04-28T16:47:37",
            "annonid":"z","activity_source":"app","activity_params":{}}]"#;
        let e = split(&batch("activity.upload", body), &ctx)
            .unwrap()
            .remove(0)
            .unwrap();
        // 16:47:37 IST is 11:17:37 UTC.
        assert_eq!(e.event_time, 1_588_072_657_000);
        let utc = split(
            &batch("activity.upload", body),
            &NormalizeContext::default(),
        )
        .unwrap()
        .remove(0)
        .unwrap();
        assert_eq!(utc.event_time, 1_588_092_457_000);
    }

    #[test]
    fn bad_tenant_settings_name_the_key() {
        let err = NormalizeContext::from_config(&EnricherConfig {
            tenants: BTreeMap::from([(
                "acme".to_string(),
                TenantSettings {
                    hash_fields: vec!["email".into()],
                    ..Default::default()
                },
            )]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("tenants.acme.hash_salt"), "{err}");
        let err = NormalizeContext::from_config(&EnricherConfig {
            default_time_zone: "Mars/Olympus".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("default_time_zone"), "{err}");
    }

    #[test]
    fn uids_are_deterministic_and_scoped() {
        let a = uid_from_client_id("t", "mobile_batch", "e1");
        // The name and the text form stored since the first release.
        let name = "t\u{1f}mobile_batch\u{1f}id\u{1f}e1";
        assert_eq!(
            a,
            Uuid::new_v5(&EVENT_UID_NAMESPACE, name.as_bytes()).to_string()
        );
        assert_eq!(a, uid_from_client_id("t", "mobile_batch", "e1"));
        assert_ne!(a, uid_from_client_id("u", "mobile_batch", "e1"));
        assert_ne!(a, uid_from_client_id("t", "activity.upload", "e1"));
        assert_ne!(uid_from_position("b", 0), uid_from_position("b", 1));
        let raw: Map<String, Value> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        let other: Map<String, Value> = serde_json::from_str(r#"{"a":2}"#).unwrap();
        let request = |items: &[&Map<String, Value>]| {
            let mut uids = ContentUids::default();
            items
                .iter()
                .map(|raw| uids.uid("t", "s", raw))
                .collect::<Vec<_>>()
        };
        // Identical items of one request are distinct; the request sent again maps onto the
        // same uids; the first occurrence is the plain content uid.
        let first = request(&[&raw, &other, &raw, &raw]);
        assert_eq!(first, request(&[&raw, &other, &raw, &raw]));
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), 4);
        assert_eq!(first[0], request(&[&raw])[0]);
        assert_eq!(first[1], request(&[&other])[0]);
        assert_ne!(request(&[&raw])[0], request(&[&other])[0]);
    }
}
