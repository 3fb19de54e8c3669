//! PII hashed before Kafka (`[enricher.tenants.<name>] hash_before_kafka`, issue 20).
//!
//! For such a tenant the gateway runs [`crate::sources::split`] itself, with the same
//! `[enricher]` settings (time zone, `hash_fields`, `hash_salt`, GeoIP database), on the
//! request it has just accepted, and publishes the outcome instead of the request: a
//! `RawBatch` whose body is [`CONTENT_TYPE`], one JSON item per event in request order.
//! Hashing is then done before any byte reaches `events.raw`, and because it is the same code
//! with the same settings, every `event_uid`, `user_key` and hash is the one the enricher
//! would have computed from the clear request. The enricher's `split` reads such a body back
//! as the outcomes it holds, so normalized events and dead letters flow on unchanged.
//!
//! A failed event's source fields (what its dead letter keeps) are hashed by the same rules
//! as a normalized event's `raw`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tributary_schemas::{compress_body, BodyEncoding, NormalizedEvent, RawBatch};

use crate::identity::hash_pii;
use crate::sources::{self, EventFailure, NormalizeContext, Outcome, SplitError};
use crate::tenants::PiiKind;

/// `RawBatch.content_type` of a request normalized (and hashed) at the gateway.
pub const CONTENT_TYPE: &str = "application/vnd.tributary.normalized+json";

/// The `RawBatch.attributes` entry (key, value) that marks a body normalized at the gateway.
pub const MARK: (&str, &str) = ("normalized_at", "gateway");

/// True when `batch` carries a body normalized at the gateway ([`MARK`]).
pub fn is_normalized_at_gateway(batch: &RawBatch) -> bool {
    batch.attributes.get(MARK.0).map(String::as_str) == Some(MARK.1)
}

/// One event of a body normalized at the gateway: either the event or why it failed.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Item {
    Event(Box<NormalizedEvent>),
    Failure {
        reason: String,
        detail: String,
        event_uid: String,
        raw: Map<String, Value>,
    },
}

/// Normalize `batch` (as the gateway accepted it, body in clear) by `ctx` and return the body
/// that replaces it on `events.raw` (JSON, [`CONTENT_TYPE`]).
///
/// Errors: those of [`sources::split`]; none for a body the gateway accepted, which was
/// validated by the same parser.
pub fn normalize_at_gateway(
    batch: &RawBatch,
    ctx: &NormalizeContext,
) -> Result<Vec<u8>, SplitError> {
    let rules = ctx.rules(&batch.tenant);
    let items: Vec<Item> = sources::split(batch, ctx)?
        .into_iter()
        .map(|outcome| match outcome {
            Ok(event) => Item::Event(Box::new(event)),
            Err(mut failure) => {
                failure.hash_raw(&rules);
                Item::Failure {
                    reason: failure.reason.into_owned(),
                    detail: failure.detail,
                    event_uid: failure.event_uid,
                    raw: failure.raw,
                }
            }
        })
        .collect();
    serde_json::to_vec(&items).map_err(|e| SplitError::InvalidBody(e.to_string()))
}

/// `batch`, accepted with `clear_body` (the request's body as sent), as it is published for a
/// tenant hashed before Kafka: the body becomes [`normalize_at_gateway`]'s (compressed as every
/// published body is), the content type [`CONTENT_TYPE`], the attributes carry [`MARK`], and
/// the sender's address is hashed when the tenant's IPs are.
///
/// Errors: those of [`normalize_at_gateway`].
pub fn rewrite(
    mut batch: RawBatch,
    clear_body: Vec<u8>,
    ctx: &NormalizeContext,
) -> Result<RawBatch, SplitError> {
    batch.body = clear_body;
    batch.body_encoding = BodyEncoding::Identity.as_str().to_string();
    let normalized = normalize_at_gateway(&batch, ctx)?;
    let (encoding, stored) = compress_body(&normalized);
    let rules = ctx.rules(&batch.tenant);
    if rules.hash.contains(&PiiKind::Ip) {
        batch.client_ip = batch.client_ip.take().map(|ip| hash_pii(&rules.salt, &ip));
    }
    batch.body = stored;
    batch.body_encoding = encoding.as_str().to_string();
    batch.content_type = CONTENT_TYPE.to_string();
    batch
        .attributes
        .insert(MARK.0.to_string(), MARK.1.to_string());
    Ok(batch)
}

/// The outcomes a body of [`CONTENT_TYPE`] holds.
pub fn decode(body: &[u8]) -> Result<Vec<Outcome>, SplitError> {
    let items: Vec<Item> = serde_json::from_slice(body)
        .map_err(|e| SplitError::InvalidBody(format!("normalized at the gateway: {e}")))?;
    Ok(items
        .into_iter()
        .map(|item| match item {
            Item::Event(event) => Ok(*event),
            Item::Failure {
                reason,
                detail,
                event_uid,
                raw,
            } => Err(EventFailure {
                reason: Cow::Owned(reason),
                detail,
                event_uid,
                raw,
                pii: Cow::Borrowed(&[]),
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{EnricherConfig, TenantSettings};

    const XML: &str = r#"<AnalyticsEventBatchReq xmlns="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Domain.RequestAgg"><events xmlns:d2p1="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Models"><d2p1:AnalyticsEventDto><d2p1:country_code>IN</d2p1:country_code><d2p1:event_id>x1</d2p1:event_id><d2p1:event_name>open</d2p1:event_name><d2p1:ip>203.0.113.9</d2p1:ip><d2p1:mobile_number>98765 43210</d2p1:mobile_number><d2p1:name>Jane Xml</d2p1:name><d2p1:timestamp_utc>1700000000</d2p1:timestamp_utc></d2p1:AnalyticsEventDto></events></AnalyticsEventBatchReq>"#;

    fn batch(source: &str, content_type: &str, body: &str) -> RawBatch {
        sources::test_batch(source, content_type, body)
    }

    fn context(before_kafka: bool) -> NormalizeContext {
        sources::test_context(TenantSettings {
            time_zone: Some("Asia/Kolkata".into()),
            hash_fields: vec!["email".into(), "phone".into(), "ip".into(), "name".into()],
            hash_salt: Some("pepper".into()),
            hash_before_kafka: before_kafka,
        })
    }

    /// Every family and body format, with each kind of PII and an event that fails.
    fn requests() -> Vec<RawBatch> {
        vec![
            batch(
                "mobile_batch",
                "application/json",
                r#"{"events":[{"event_id":"e1","event_name":"login","timestamp_utc":1700000000,
                "mobile_number":"+91 98765 43210","ip":"203.0.113.7","name":"Jane Doe","user_id":7},
                {"event_id":"e2","event_name":"view","timestamp_utc":"2024-05-01 10:00:00",
                "mobile_number":"not a phone","name":"  Bob  "}]}"#,
            ),
            batch("mobile_batch", "application/xml", XML),
            batch(
                "mobile_batch",
                "application/x-www-form-urlencoded",
                "events[0].event_id=f1&events[0].event_name=open&events[0].timestamp_utc=1700000000\
                 &events[0].mobile_number=%2B91+98765+43211&events[0].ip=2001:db8::7&events[0].name=Jane+Form",
            ),
            batch(
                "s2s.customRevenueBatch",
                "application/json",
                r#"[{"customUserId":"1111","idTransaction":"o1","currency":"USD","total":1.99,"eventTimestamp":1700000000,"ipv4":"203.0.113.10"},
                {"customUserId":"2222","idTransaction":"o2","currency":"XXZ","total":2,"eventTimestamp":1700000001,"ipv4":"203.0.113.11"}]"#,
            ),
            batch(
                "activity.upload",
                "application/json",
                r#"[{"asset_id":"a","activity_name":"buy","timestamp":"2024-05-01T10:00:00",
                "identity":"Jane.Doe@Example.com","activity_source":"web","activity_params":{"n":1}},
                {"asset_id":"a","activity_name":"buy","timestamp":"2024-05-01T10:00:00",
                "identity":"+919876543210","activity_source":"app","activity_params":{}}]"#,
            ),
            batch(
                "crm.lead_analytics",
                "application/json",
                r#"{"customer_id":"c1","lead_id":"l1","user_id":"u1","tool_signature":"t",
                "recording_id":"r","event_type":"view","event_id":"ev1"}"#,
            ),
        ]
    }

    /// The gateway's events are the enricher's, field for field (`event_uid`, `user_key`, every
    /// hash, `raw`, times in the tenant's zone); a failure keeps its reason and uid, with its
    /// source fields hashed.
    #[test]
    fn normalized_at_the_gateway_is_what_the_enricher_makes_of_the_clear_request() {
        let ctx = context(true);
        let mut failures = 0;
        for clear in requests() {
            let expected = sources::split(&clear, &ctx).unwrap();
            let mut published = clear.clone();
            published.body = normalize_at_gateway(&clear, &ctx).unwrap();
            // A client's Content-Type alone is not the mark: without it the body is a request.
            assert!(
                sources::split(&published, &ctx).is_err(),
                "{}",
                clear.source
            );
            published.attributes.insert(MARK.0.into(), MARK.1.into());
            let got = sources::split(&published, &ctx).unwrap();
            assert_eq!(got.len(), expected.len(), "{}", clear.source);
            for (got, expected) in got.into_iter().zip(expected) {
                match (got, expected) {
                    (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{}", clear.source),
                    (Err(got), Err(mut expected)) => {
                        failures += 1;
                        expected.hash_raw(&ctx.rules("acme"));
                        assert_eq!(
                            (got.reason, got.detail, got.event_uid, got.raw),
                            (
                                expected.reason,
                                expected.detail,
                                expected.event_uid,
                                expected.raw
                            )
                        );
                    }
                    (got, expected) => panic!("{}: {got:?} vs {expected:?}", clear.source),
                }
            }
        }
        assert_eq!(failures, 1, "the XXZ revenue");
    }

    /// No clear value of a hashed field is left in what the gateway publishes.
    #[test]
    fn the_published_body_holds_hashes_only() {
        let ctx = context(true);
        let clear_values = [
            "98765",
            "203.0.113",
            "2001:db8",
            "198.51.100.7",
            "jane",
            "bob",
            "@example",
        ];
        for clear in requests() {
            let body = normalize_at_gateway(&clear, &ctx).unwrap();
            let text = String::from_utf8(body).unwrap().to_lowercase();
            for value in clear_values {
                assert!(!text.contains(value), "{}: {value} in {text}", clear.source);
            }
        }
        let events = decode(&normalize_at_gateway(&requests()[4], &ctx).unwrap()).unwrap();
        let jane = events[0].as_ref().unwrap();
        let hash = hash_pii("pepper", "Jane.Doe@Example.com");
        assert_eq!(
            (jane.user_key.as_str(), jane.user_key_kind.as_str()),
            (hash.as_str(), "identity")
        );
        assert_eq!(jane.email, Some(hash_pii("pepper", "jane.doe@example.com")));
    }

    #[test]
    fn hash_before_kafka_needs_hash_fields() {
        let err = NormalizeContext::from_config(&EnricherConfig {
            tenants: BTreeMap::from([(
                "acme".to_string(),
                TenantSettings {
                    hash_before_kafka: true,
                    ..Default::default()
                },
            )]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("tenants.acme.hash_before_kafka"),
            "{err}"
        );
        assert!(context(true).hashes_before_kafka("acme"));
        assert!(!context(false).hashes_before_kafka("acme"));
        assert!(!context(true).hashes_before_kafka("other"));
    }
}
