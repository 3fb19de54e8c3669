//! Seed 002 (myTracker-style S2S import) to drafts of canonical events.
//!
//! `event_uid`: a revenue event is identified by its `idTransaction` ("unique in the
//! project"); other events by their content when they carry `eventTimestamp`, else by their
//! position in the accepted request. Single and batch methods share ids, so an event sent once
//! through `customEvent` and retried through `customEventBatch` is still one event.

use std::borrow::Cow;

use serde_json::{Map, Value};
use tributary_schemas::{RawBatch, Source};
use tributary_wire::s2s::{self, Method, S2sEvent};

use super::{
    base_event, json_text, uid_from_client_id, uid_from_position, ContentUids, Draft, EventFailure,
    PhoneHint, Pii, SplitError,
};
use crate::tenants::{PiiKind, TenantRules};
use crate::{revenue, time};

const PII: &[Pii] = &[
    Pii {
        kind: PiiKind::Ip,
        key: "ipv4",
    },
    Pii {
        kind: PiiKind::Ip,
        key: "ipv6",
    },
];

pub fn drafts(
    batch: &RawBatch,
    source: Source,
    body: &[u8],
    rules: &TenantRules,
) -> Result<Vec<Result<Draft, EventFailure>>, SplitError> {
    let (method, is_batch) = Method::from_source(source)
        .ok_or_else(|| SplitError::UnknownSource(batch.source.clone()))?;
    let events =
        s2s::parse(method, is_batch, body).map_err(|e| SplitError::InvalidBody(e.to_string()))?;
    let mut uids = ContentUids::default();
    Ok(events
        .into_iter()
        .enumerate()
        .map(|(index, event)| draft(batch, method, index, event, rules, &mut uids))
        .collect())
}

fn flag(value: Option<bool>) -> Option<i32> {
    value.map(i32::from)
}

fn draft(
    batch: &RawBatch,
    method: Method,
    index: usize,
    e: S2sEvent,
    rules: &TenantRules,
    uids: &mut ContentUids,
) -> Result<Draft, EventFailure> {
    let mut out = base_event(batch, index);
    let id_source = method.source(false).as_str();
    out.event_uid = match (&e.id_transaction, e.event_timestamp) {
        (Some(transaction), _) => uid_from_client_id(&batch.tenant, id_source, transaction),
        (None, Some(_)) => uids.uid(&batch.tenant, id_source, &e.raw),
        (None, None) => uid_from_position(&batch.batch_id, index),
    };
    out.event_name = match (method, &e.custom_event_name) {
        (Method::CustomEvent, Some(name)) => name.clone(),
        _ => method.name().to_string(),
    };
    out.client_time_raw = e.raw.get("eventTimestamp").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    out.user_id = e.custom_user_id.clone();
    if let Some(ip) = e
        .ipv4
        .map(|ip| ip.to_string())
        .or(e.ipv6.map(|ip| ip.to_string()))
    {
        out.ip = Some(ip);
    }
    out.gender = e.id_gender.map(i32::from);
    out.age = e.age.map(i32::from);
    out.connection_type = e.connection_type.map(i32::from);
    out.bluetooth_enabled = e.bluetooth_enabled.map(i32::from);
    out.ad_tracking_enabled = flag(e.ad_tracking_enabled);
    out.ad_blocker = flag(e.ad_blocker);
    out.instance_id = e.instance_id.clone();
    out.idfa = e.idfa.clone();
    out.ios_vendor_id = e.ios_vendor_id.clone();
    out.gaid = e.gaid.clone();
    out.android_id = e.android_id.clone();
    out.lvid = e.lvid.clone();
    out.user_agent = e.user_agent.clone();
    out.app_id = batch.attributes.get("idApp").cloned();
    out.platform = match (&e.lvid, &e.instance_id) {
        (Some(_), None) => Some("web".into()),
        (None, Some(_)) => Some("app".into()),
        _ => None,
    };
    if let Some(params) = &e.custom_event_params {
        let map: Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        out.properties = json_text(&map);
    }
    let client_time = e.event_timestamp.map(|t| time::resolve(t, rules.zone));
    let mut draft = Draft {
        event: out,
        source_fields: e.raw.into(),
        client_time_ms: client_time
            .as_ref()
            .and_then(|t| t.as_ref().ok())
            .map(|(ms, _)| *ms),
        time_unparsed: client_time.as_ref().is_some_and(|t| t.is_err()),
        phone_hint: PhoneHint::None,
        country_raw_is_calling_code: false,
        pii: Cow::Borrowed(PII),
    };
    if method == Method::CustomRevenue {
        draft.event.transaction_id = e.id_transaction.clone();
        if let Some(currency) = &e.currency {
            match revenue::normalize_currency(currency) {
                Ok(code) => draft.event.currency = Some(code.to_string()),
                Err(error) => return Err(draft.failure("invalid_currency", error.to_string())),
            }
        }
        if let Some(total) = &e.total {
            match revenue::parse_amount(total) {
                Ok(amount) => draft.event.revenue_amount = Some(revenue::amount_text(amount)),
                Err(error) => return Err(draft.failure("invalid_amount", error.to_string())),
            }
        }
    }
    Ok(draft)
}
