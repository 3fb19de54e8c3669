//! Seed 000 (mobile/web analytics batch) to canonical events.

use tributary_gateway::families::mobile_batch::{self, AnalyticsEvent, Format};
use tributary_schemas::{NormalizedEvent, RawBatch};

use super::{base_event, json_text, tidy, uid_from_client_id, NormalizeContext, SplitError};

pub fn split(
    batch: &RawBatch,
    body: &[u8],
    _ctx: &NormalizeContext,
) -> Result<Vec<NormalizedEvent>, SplitError> {
    let format =
        Format::from_content_type(Some(batch.content_type.as_str()).filter(|s| !s.is_empty()))
            .ok_or_else(|| {
                SplitError::InvalidBody(format!("content type {:?}", batch.content_type))
            })?;
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
        .map(|(index, event)| normalize(batch, index, event))
        .collect())
}

/// Epoch seconds or milliseconds (told apart by magnitude) to milliseconds.
fn epoch_millis(value: i64) -> i64 {
    if value < 100_000_000_000 {
        value.saturating_mul(1000)
    } else if value < 100_000_000_000_000 {
        value
    } else {
        value / 1000
    }
}

fn normalize(batch: &RawBatch, index: usize, e: &AnalyticsEvent) -> NormalizedEvent {
    let mut out = base_event(batch, index);
    out.event_uid = uid_from_client_id(&batch.tenant, &batch.source, &e.event_id);
    out.event_id = Some(e.event_id.clone());
    out.event_name = e.event_name.clone();
    out.event_category = e.event_category.clone();
    out.client_time_raw = Some(e.timestamp_utc.to_string());
    out.event_time = epoch_millis(e.timestamp_utc);
    out.session_id = tidy(e.session_id.as_deref());
    out.platform = tidy(e.source.as_deref());
    out.user_id = e.user_id.map(|id| id.to_string());
    out.name = tidy(e.name.as_deref());
    out.phone_raw = tidy(e.mobile_number.as_deref());
    out.screen_name = e.screen_name.clone();
    out.duration_seconds = e.duration_seconds;
    out.ip = tidy(e.ip.as_deref());
    out.country_raw = tidy(e.country.as_deref()).or_else(|| tidy(e.country_code.as_deref()));
    out.region = tidy(e.state.as_deref());
    out.city = tidy(e.city.as_deref());
    out.zip = tidy(e.zip.as_deref());
    out.latitude = e.latitude;
    out.longitude = e.longitude;
    if e.latitude.is_some() || e.longitude.is_some() {
        out.geo_source = Some("client".into());
    }
    out.properties = e
        .payload
        .as_ref()
        .map(json_text)
        .unwrap_or_else(|| "{}".into());
    out.raw = json_text(&e.raw);
    let (key, kind) = match (&out.user_id, &out.session_id) {
        (Some(id), _) => (id.clone(), "user_id"),
        (None, Some(session)) => (format!("session_id:{session}"), "session_id"),
        (None, None) => (format!("anonymous:{}", out.event_uid), "anonymous"),
    };
    out.user_key = key;
    out.user_key_kind = kind.into();
    out
}
