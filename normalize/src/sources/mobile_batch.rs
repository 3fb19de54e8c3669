//! Seed 000 (mobile/web analytics batch) to drafts of canonical events.

use tributary_schemas::RawBatch;
use tributary_wire::mobile_batch::{AnalyticsEvent, Format, MobileBatch};
use tributary_wire::WireFormat;

use super::{base_event, json_text, uid_from_client_id, Draft, EventFailure, Pii, SplitError};
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

pub fn drafts(
    batch: &RawBatch,
    body: &[u8],
    rules: &TenantRules,
) -> Result<Vec<Result<Draft, EventFailure>>, SplitError> {
    let content_type = Some(batch.content_type.as_str()).filter(|s| !s.is_empty());
    let events = Format::for_content_type(content_type)
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
        .map(|(index, event)| Ok(draft(batch, index, event, rules)))
        .collect())
}

/// Takes the event by value: its strings and source fields move into the draft uncopied.
fn draft(batch: &RawBatch, index: usize, e: AnalyticsEvent, rules: &TenantRules) -> Draft {
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
    let phone_hint = e.country_code.clone().or_else(|| e.country.clone());
    out.country_raw = e.country.or(e.country_code);
    out.region = e.state;
    out.city = e.city;
    out.zip = e.zip;
    out.latitude = e.latitude;
    out.longitude = e.longitude;
    out.properties = e
        .payload
        .as_ref()
        .map(json_text)
        .unwrap_or_else(|| "{}".into());
    let (client_time_ms, time_unparsed) = match time::resolve(e.timestamp_utc, rules.zone) {
        Ok((ms, _)) => (Some(ms), false),
        Err(_) => (None, true),
    };
    Draft {
        event: out,
        source_fields: e.raw,
        client_time_ms,
        time_unparsed,
        phone_hint,
        pii: PII.to_vec(),
    }
}
