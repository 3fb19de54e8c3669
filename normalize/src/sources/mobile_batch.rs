//! Seed 000 (mobile/web analytics batch) to drafts of canonical events.

use std::borrow::Cow;

use tributary_schemas::RawBatch;
use tributary_wire::mobile_batch::{fast, AnalyticsEvent, Format, MobileBatch, MobileBatchError};
use tributary_wire::WireFormat;

use super::{base_event, json_text, uid_from_client_id, Draft, EventFailure, Pii, SplitError};
use crate::event::{PhoneHint, SourceFields};
use crate::tenants::{PiiKind, TenantRules};
use crate::time;

const PII: &[Pii] = &[
    Pii {
        kind: PiiKind::Phone,
        key: "mobile_number",
    },
    Pii {
        kind: PiiKind::Ip,
        key: "ip",
    },
    Pii {
        kind: PiiKind::Name,
        key: "name",
    },
];

type Drafts = Result<Vec<Result<Draft, EventFailure>>, SplitError>;

/// The drafts of a mobile batch. A JSON body of the common shape is read without a `Value`
/// tree (`fast::parse`); its `raw` and `properties` are the texts the general reading
/// writes, byte for byte (tests below and in `tributary_wire`).
pub fn drafts(batch: &RawBatch, body: &[u8], rules: &TenantRules) -> Drafts {
    if format(batch) == Ok(Format::Json) {
        if let Some(events) = fast::parse(tributary_wire::without_bom(body)) {
            return Ok(events
                .into_iter()
                .enumerate()
                .map(|(index, e)| {
                    let properties = e.payload.unwrap_or_default();
                    let fields = SourceFields::Text(e.raw);
                    Ok(draft(batch, index, e.event, properties, fields, rules))
                })
                .collect());
        }
    }
    general_drafts(batch, body, rules)
}

fn format(batch: &RawBatch) -> Result<Format, MobileBatchError> {
    let content_type = Some(batch.content_type.as_str()).filter(|s| !s.is_empty());
    Format::for_content_type(content_type)
}

/// `drafts` of any body, through the wire crate's `Value`-based parse.
fn general_drafts(batch: &RawBatch, body: &[u8], rules: &TenantRules) -> Drafts {
    let events = format(batch)
        .and_then(|format| MobileBatch::parse(format, body))
        .map_err(|error| {
            SplitError::InvalidBody(
                error
                    .failures()
                    .iter()
                    .map(|f| f.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    Ok(events
        .into_iter()
        .enumerate()
        .map(|(index, mut event)| {
            let properties = event
                .payload
                .take()
                .map(|payload| json_text(&payload))
                .unwrap_or_default();
            let fields = std::mem::take(&mut event.raw).into();
            Ok(draft(batch, index, event, properties, fields, rules))
        })
        .collect())
}

/// Takes the event by value: its strings move into the draft uncopied. `properties` is the
/// payload's JSON text (empty when absent: `normalize` writes `{}`), `source_fields` the event's fields as sent.
fn draft(
    batch: &RawBatch,
    index: usize,
    e: AnalyticsEvent,
    properties: String,
    source_fields: SourceFields,
    rules: &TenantRules,
) -> Draft {
    let mut out = base_event(batch, index);
    out.event_uid = uid_from_client_id(&batch.tenant, &batch.source, &e.event_id);
    out.event_id = Some(e.event_id);
    out.event_name = e.event_name;
    out.event_category = e.event_category;
    out.client_time_raw = Some(e.timestamp_raw);
    out.session_id = e.session_id;
    out.platform = e.source;
    out.user_id = e.user_id.map(|id| id.to_string());
    out.name = e.name;
    out.phone_raw = e.mobile_number;
    out.screen_name = e.screen_name;
    out.duration_seconds = e.duration_seconds;
    // Users' devices call this API directly: the request is the user's where the event
    // says nothing of its own.
    out.ip = e.ip.or_else(|| batch.client_ip.clone());
    out.user_agent = batch.user_agent.clone();
    // `country` names the country; `country_code` is sometimes the same as a code, sometimes
    // a calling code for the phone number: it feeds both where `country` is absent.
    let (country_raw, phone_hint) = match (e.country, e.country_code) {
        (Some(country), Some(code)) => (Some(country), PhoneHint::Text(code)),
        (country, code) => (country.or(code), PhoneHint::CountryRaw),
    };
    out.country_raw = country_raw;
    out.region = e.state;
    out.city = e.city;
    out.zip = e.zip;
    out.latitude = e.latitude;
    out.longitude = e.longitude;
    out.properties = properties;
    let (client_time_ms, time_unparsed) = match time::resolve(e.timestamp_utc, rules.zone) {
        Ok((ms, _)) => (Some(ms), false),
        Err(_) => (None, true),
    };
    Draft {
        event: out,
        source_fields,
        client_time_ms,
        time_unparsed,
        phone_hint,
        pii: Cow::Borrowed(PII),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantSettings;
    use crate::event::{normalize, Outcome};
    use crate::sources::{test_batch, test_context, NormalizeContext};

    fn outcomes(drafts: Drafts, ctx: &NormalizeContext, rules: &TenantRules) -> Vec<Outcome> {
        drafts
            .unwrap()
            .into_iter()
            .map(|draft| draft.and_then(|d| normalize(d, ctx, rules)))
            .collect()
    }

    #[test]
    fn the_fast_reading_normalizes_exactly_as_the_general_one() {
        let hashed = test_context(TenantSettings {
            hash_fields: vec!["phone".into(), "ip".into(), "name".into()],
            hash_salt: Some("pepper".into()),
            ..Default::default()
        });
        let seed = include_str!("../../../fixtures/000_mobile_batch/request.json");
        let body = r#"{"events":[{"event_id":"e1","event_name":"open","timestamp_utc":1700000000123,
            "mobile_number":"+91 98765 43210","ip":"8.8.8.8","name":"Jane \"J\" Doe","user_id":42,
            "country_code":"IN","city":"Zürich","latitude":12.9716,"longitude":77.5946,
            "payload":{"plan":"pro","n":[1,2.50,{"x":null}]}},
            {"event_id":"e2","event_name":"close","timestamp_utc":1700000001,"payload":null}]}"#;
        for ctx in [NormalizeContext::default(), hashed] {
            for body in [seed, body] {
                let batch = test_batch("mobile_batch", "application/json", body);
                let rules = ctx.rules(&batch.tenant);
                assert!(fast::parse(body.as_bytes()).is_some(), "{body}");
                let fast = outcomes(drafts(&batch, body.as_bytes(), &rules), &ctx, &rules);
                let general = outcomes(
                    general_drafts(&batch, body.as_bytes(), &rules),
                    &ctx,
                    &rules,
                );
                assert_eq!(fast, general);
            }
        }
    }
}
