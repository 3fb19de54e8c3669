//! Seed 000 (mobile/web analytics batch) to drafts of canonical events.

use std::borrow::Cow;

use tributary_schemas::RawBatch;
use tributary_wire::mobile_batch::{fast, AnalyticsEvent, Format, MobileBatch, MobileBatchError};
use tributary_wire::WireFormat;

use super::{base_event, json_text, uid_from_client_id, Draft, EventFailure, Pii, SplitError};
use crate::event::{PhoneHint, SourceFields};
use crate::identity::{self, CallingCodeCountry};
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
    // `country` names the country; `country_code` is an ISO code or the phone number's calling
    // code. It is the phone's hint, and the country where `country` is absent
    // (docs/field-mapping.md, seed 000).
    let mut country_raw_is_calling_code = false;
    let (country_raw, phone_hint) = match (e.country, e.country_code) {
        (Some(country), Some(code)) => (Some(country), PhoneHint::Text(code)),
        (None, Some(code)) => match identity::calling_code_country(&code) {
            CallingCodeCountry::NotACallingCode => (Some(code), PhoneHint::CountryRaw),
            CallingCodeCountry::Country(alpha2) => {
                out.country = Some(alpha2.to_string());
                (None, PhoneHint::Text(code))
            }
            CallingCodeCountry::Unknown => {
                country_raw_is_calling_code = true;
                (Some(code), PhoneHint::CountryRaw)
            }
        },
        (country, None) => (country, PhoneHint::CountryRaw),
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
        country_raw_is_calling_code,
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

    /// A JSON mobile body's outcomes, read by the fast reader and checked to be exactly the
    /// general reading's.
    fn both_readings(ctx: &NormalizeContext, body: &str) -> Vec<Outcome> {
        let batch = test_batch("mobile_batch", "application/json", body);
        let rules = ctx.rules(&batch.tenant);
        assert!(fast::parse(body.as_bytes()).is_some(), "{body}");
        let fast = outcomes(drafts(&batch, body.as_bytes(), &rules), ctx, &rules);
        let general = outcomes(general_drafts(&batch, body.as_bytes(), &rules), ctx, &rules);
        assert_eq!(fast, general);
        fast
    }

    #[test]
    fn country_code_is_the_country_where_country_is_absent() {
        let ctx = NormalizeContext::default();
        let body = r#"{"events":[
            {"event_id":"a","event_name":"open","timestamp_utc":1700000000,"country_code":"+91","mobile_number":"98765 43210"},
            {"event_id":"b","event_name":"open","timestamp_utc":1700000000,"country_code":"91"},
            {"event_id":"c","event_name":"open","timestamp_utc":1700000000,"country_code":"356"},
            {"event_id":"d","event_name":"open","timestamp_utc":1700000000,"country_code":"+1","mobile_number":"(650) 253-0000"},
            {"event_id":"e","event_name":"open","timestamp_utc":1700000000,"country_code":"590"},
            {"event_id":"f","event_name":"open","timestamp_utc":1700000000,"country_code":"in"},
            {"event_id":"g","event_name":"open","timestamp_utc":1700000000,"country":"Canada","country_code":"+1","mobile_number":"506 234 5678"},
            {"event_id":"h","event_name":"open","timestamp_utc":1700000000,"country":"Atlantis","country_code":"+91"}
        ]}"#;
        // (country, country_raw, phone)
        let want: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (Some("IN"), None, Some("+919876543210")),
            (Some("IN"), None, None),
            // Malta's calling code, not India's ISO 3166-1 numeric code.
            (Some("MT"), None, None),
            // +1 is the United States' and Canada's: no country is guessed.
            (None, Some("+1"), Some("+16502530000")),
            // Guadeloupe's, Saint Barthélemy's and Saint Martin's, never Panama's number.
            (None, Some("590"), None),
            (Some("IN"), None, None),
            (Some("CA"), None, Some("+15062345678")),
            (None, Some("Atlantis"), None),
        ];
        let read = both_readings(&ctx, body);
        assert_eq!(read.len(), want.len());
        for (outcome, (country, country_raw, phone)) in read.iter().zip(want) {
            let e = outcome.as_ref().expect("normalized");
            let id = e.event_id.as_deref();
            assert_eq!(e.country.as_deref(), *country, "country of {id:?}");
            assert_eq!(
                e.country_raw.as_deref(),
                *country_raw,
                "country_raw of {id:?}"
            );
            assert_eq!(e.phone.as_deref(), *phone, "phone of {id:?}");
        }
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
                both_readings(&ctx, body);
            }
        }
    }
}
