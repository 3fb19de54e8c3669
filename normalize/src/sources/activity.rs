//! Seed 003 (Netcore-style activity upload) to drafts of canonical events. A timestamp sent
//! without a zone is read in the tenant's zone (UTC unless configured).

use tributary_schemas::RawBatch;
use tributary_wire::activity::{self, Activity};

use super::{base_event, json_text, ContentUids, Draft, EventFailure, PhoneHint, Pii, SplitError};
use crate::tenants::{PiiKind, TenantRules};
use crate::time;

pub fn drafts(
    batch: &RawBatch,
    body: &[u8],
    rules: &TenantRules,
) -> Result<Vec<Result<Draft, EventFailure>>, SplitError> {
    let activities = activity::parse(body).map_err(|e| SplitError::InvalidBody(e.to_string()))?;
    let mut uids = ContentUids::default();
    Ok(activities
        .into_iter()
        .enumerate()
        .map(|(index, a)| Ok(draft(batch, index, a, rules, &mut uids)))
        .collect())
}

/// Takes the activity by value: its strings and source fields move into the draft uncopied.
fn draft(
    batch: &RawBatch,
    index: usize,
    a: Activity,
    rules: &TenantRules,
    uids: &mut ContentUids,
) -> Draft {
    let client_time = time::resolve(a.timestamp, rules.zone);
    let mut out = base_event(batch, index);
    out.event_uid = uids.uid(&batch.tenant, &batch.source, &a.raw);
    out.event_name = a.activity_name;
    out.app_id = Some(a.asset_id);
    out.platform = Some(a.activity_source.as_str().to_string());
    out.identity = a.identity.clone();
    out.anonymous_id = a.annonid;
    out.properties = json_text(&a.activity_params);
    out.client_time_raw = Some(a.timestamp_raw);
    let mut pii = Vec::new();
    if let Some(identity) = &a.identity {
        if identity.contains('@') {
            pii.push(Pii {
                kind: PiiKind::Email,
                key: "identity",
            });
        } else if identity
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit())
            && identity.len() >= 7
        {
            pii.push(Pii {
                kind: PiiKind::Phone,
                key: "identity",
            });
            if identity.starts_with('+') {
                out.phone_raw = Some(identity.clone());
            }
        }
    }
    Draft {
        event: out,
        source_fields: a.raw.into(),
        client_time_ms: client_time.as_ref().ok().map(|(ms, _)| *ms),
        time_unparsed: client_time.is_err(),
        phone_hint: PhoneHint::None,
        country_raw_is_calling_code: false,
        pii: pii.into(),
    }
}
