//! Seed 000 (mobile/web analytics batch) to drafts of canonical events.

use tributary_gateway::families::mobile_batch::{self, AnalyticsEvent, Format};
use tributary_schemas::RawBatch;

use super::context::PiiKind;
use super::{base_event, json_text, uid_from_client_id, Draft, EventFailure, Pii, SplitError};
use crate::normalize::time;

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
) -> Result<Vec<Result<Draft, EventFailure>>, SplitError> {
    let content_type = Some(batch.content_type.as_str()).filter(|s| !s.is_empty());
    let format = Format::from_content_type(content_type)
        .ok_or_else(|| SplitError::InvalidBody(format!("content type {:?}", batch.content_type)))?;
    let events = mobile_batch::parse(format, body).map_err(|failures| {
        SplitError::InvalidBody(
            failures
                .iter()
                .map(|f| f.reason.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(events
        .iter()
        .enumerate()
        .map(|(index, event)| Ok(draft(batch, index, event)))
        .collect())
}

fn draft(batch: &RawBatch, index: usize, e: &AnalyticsEvent) -> Draft {
    let mut out = base_event(batch, index);
    out.event_uid = uid_from_client_id(&batch.tenant, &batch.source, &e.event_id);
    out.event_id = Some(e.event_id.clone());
    out.event_name = e.event_name.clone();
    out.event_category = e.event_category.clone();
    out.client_time_raw = Some(e.timestamp_utc.to_string());
    out.session_id = e.session_id.clone();
    out.platform = e.source.clone();
    out.user_id = e.user_id.map(|id| id.to_string());
    out.name = e.name.clone();
    out.phone_raw = e.mobile_number.clone();
    out.screen_name = e.screen_name.clone();
    out.duration_seconds = e.duration_seconds;
    if e.ip.is_some() {
        out.ip = e.ip.clone();
    }
    // `country` names the country; `country_code` is sometimes the same as a code, sometimes
    // a calling code for the phone number: it feeds both where `country` is absent.
    out.country_raw = e.country.clone().or_else(|| e.country_code.clone());
    out.region = e.state.clone();
    out.city = e.city.clone();
    out.zip = e.zip.clone();
    out.latitude = e.latitude;
    out.longitude = e.longitude;
    out.properties = e
        .payload
        .as_ref()
        .map(json_text)
        .unwrap_or_else(|| "{}".into());
    let (client_time_ms, time_unparsed) = match time::epoch_to_millis(e.timestamp_utc) {
        Ok(ms) => (Some(ms), false),
        Err(_) => (None, true),
    };
    Draft {
        event: out,
        source_fields: e.raw.clone(),
        client_time_ms,
        time_unparsed,
        phone_hint: e.country_code.clone().or_else(|| e.country.clone()),
        pii: PII.to_vec(),
    }
}
