//! Seed 001 (CRM Data Analytics Service) to drafts of canonical events. The record keeps the
//! CRM's own shape in dedicated columns; `partitionKey` and `created_at` are derived from the
//! batch exactly as the gateway's 201 response showed them.

use std::borrow::Cow;

use serde_json::Value;
use tributary_schemas::{RawBatch, Source};
use tributary_wire::crm::{self, CrmEvent, Resource};

use super::{
    base_event, json_text, uid_from_client_id, Draft, EventFailure, PhoneHint, SplitError,
};
use crate::tenants::TenantRules;
use crate::time;

pub fn drafts(
    batch: &RawBatch,
    source: Source,
    body: &[u8],
    rules: &TenantRules,
) -> Result<Vec<Result<Draft, EventFailure>>, SplitError> {
    let resource = Resource::from_source(source)
        .ok_or_else(|| SplitError::UnknownSource(batch.source.clone()))?;
    let event = crm::parse(resource, body).map_err(|e| SplitError::InvalidBody(e.to_string()))?;
    Ok(vec![Ok(draft(batch, event, rules))])
}

fn draft(batch: &RawBatch, e: CrmEvent, rules: &TenantRules) -> Draft {
    let mut out = base_event(batch, 0);
    // CRM event ids look like per-recording counters ("view#1"): the id is scoped to the
    // customer, entity and recording it belongs to.
    let scoped_id = [
        &e.customer_id,
        e.entity_type.as_str(),
        &e.entity_id,
        &e.recording_id,
        &e.event_id,
    ]
    .map(|part| part.replace('\u{1f}', " "))
    .join("\u{1f}");
    out.event_uid = uid_from_client_id(&batch.tenant, &batch.source, &scoped_id);
    out.event_id = Some(e.event_id.clone());
    out.event_name = e.event_type.clone();
    out.customer_id = Some(e.customer_id.clone());
    out.entity_type = Some(e.entity_type.as_str().to_string());
    out.entity_id = Some(e.entity_id.clone());
    out.user_id = Some(e.user_id.clone());
    out.tool_signature = e.tool_signature.clone();
    out.recording_id = Some(e.recording_id.clone());
    out.message = e.message.clone();
    out.javascript_local_time = e.javascript_local_time.clone();
    out.apex_local_time = e.apex_local_time.clone();
    out.event_environment_path = e.event_environment_path.clone();
    out.name_parser_event_id = e.name_parser_event_id.clone();
    out.recommendation_model_event_id = e.recommendation_model_event_id.clone();
    out.record_partition_key = Some(crm::partition_key(e.entity_type, &batch.batch_id));
    out.properties = e
        .version_info
        .as_ref()
        .map(|v| {
            json_text(
                &[("version_info".to_string(), Value::Object(v.clone()))]
                    .into_iter()
                    .collect(),
            )
        })
        .unwrap_or_default();
    // The local-time strings are timestamps only sometimes (the document's sample is the
    // literal "local_time"); the first one that parses is the client time.
    let local_times = [&e.javascript_local_time, &e.apex_local_time];
    let sent: Vec<&String> = local_times.into_iter().flatten().collect();
    let parsed = sent.iter().find_map(|raw| {
        time::parse_timestamp(raw, rules.zone)
            .ok()
            .map(|t| (raw, t.millis))
    });
    out.client_time_raw = parsed
        .map(|(raw, _)| raw.to_string())
        .or_else(|| sent.first().map(|s| s.to_string()));
    Draft {
        event: out,
        source_fields: e.raw.into(),
        client_time_ms: parsed.map(|(_, ms)| ms),
        time_unparsed: parsed.is_none() && !sent.is_empty(),
        phone_hint: PhoneHint::None,
        country_raw_is_calling_code: false,
        pii: Cow::Borrowed(&[]),
    }
}
