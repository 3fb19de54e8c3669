//! Document 001 over HTTP: `POST /api/v1/analytics_events`, `/api/v1/lead_analytics` (also
//! the browser-extension variant) and `/api/v1/contact_analytics`. 201 with the stored record
//! (`entityType`, `partitionKey`, `sortKey`, ISO-ms `created_at`/`updated_at`); 400 for a body
//! that is not JSON, 415 for another media type, 422 naming every invalid or missing field.
//! The wire rules are in [`tributary_wire::crm`].
//!
//! Tenant: the document shows no credentials; `tenants.crm_access` and `tenants.crm_keys`
//! (see [`crate::credentials::Credentials::crm_tenant`]) decide the tenant an event is filed
//! under, checked before the body is read (401 in this family's error shape).

mod reply;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use hyper::StatusCode;
use serde_json::Value;
use tributary_wire::crm::{Crm, Resource};
use tributary_wire::WireFormat;

pub use reply::{error_body_response, error_response, transport_error_allowing, unauthorized};

use super::TransportError;
use super::{json_response, AcceptContext, Accepted, FamilyRoute, HttpResponse, RequestParts};

/// This family's entry in [`super::FAMILIES`].
pub const ROUTE: FamilyRoute = FamilyRoute {
    label: "crm",
    owns: |path| Resource::from_path(path).is_some(),
    body_limit: Crm::BODY_LIMIT,
    checks_http_method: false,
    before_body,
    accept,
    transport_error,
};

/// The tenant key, before the body is read.
#[allow(clippy::result_large_err)]
fn before_body<'c>(
    ctx: &AcceptContext<'c>,
    req: &RequestParts<'_>,
) -> Result<Option<&'c str>, HttpResponse> {
    ctx.credentials
        .crm_tenant(req.headers)
        .map(Some)
        .map_err(unauthorized)
}

/// Validate one request; on success the gateway publishes it and answers 201 with the record.
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let tenant = ctx
        .credentials
        .crm_tenant(req.headers)
        .map_err(unauthorized)?;
    let Some(resource) = Resource::from_path(req.path) else {
        return Err(transport_error(&TransportError::NotFound));
    };
    if !tributary_wire::is_json_media_type(req.content_type.as_deref()) {
        return Err(reply::error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "unsupported Content-Type {:?}; send application/json",
                req.content_type.as_deref().unwrap_or_default()
            ),
            &[],
        ));
    }
    let event = Crm::parse(resource, body)
        .map_err(|e| error_body_response(&e))?
        .remove(0);
    let record = event.record(ctx.batch_id, ctx.received_at);
    Ok(Accepted {
        source: resource.source(),
        tenant: tenant.to_string(),
        attributes: HashMap::new(),
        events: 1,
        reply: json_response(StatusCode::CREATED, &Value::Object(record)),
    })
}

/// Errors found before parsing, in this family's error shape (`Allow: POST` on 405).
pub fn transport_error(error: &TransportError) -> HttpResponse {
    transport_error_allowing(error, "POST")
}
