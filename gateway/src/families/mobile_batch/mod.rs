//! Document 000 over HTTP: `POST /api/analytics/events` as JSON, DataContract XML or a form.
//! 202 with an empty body when the whole batch is stored; 400 with every failure reason, 415
//! for another media type, each as a failure list in the negotiated format (`reply.rs`).
//! The wire rules are in [`tributary_wire::mobile_batch`].

mod reply;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use hyper::StatusCode;
use tributary_schemas::Source;
use tributary_wire::mobile_batch::{self, Failure, Format, MobileBatchError};

pub use reply::{Reply, FAILURE_XML_NAMESPACE};

use super::{AcceptContext, Accepted, FamilyRoute, HttpResponse, RequestParts, TransportError};

/// This family's entry in [`super::FAMILIES`].
pub const ROUTE: FamilyRoute = FamilyRoute {
    label: "mobile_batch",
    owns: |path| path == "/api/analytics/events",
    body_limit: mobile_batch::BODY_LIMIT,
    checks_http_method: false,
    before_body: super::nothing_before_body,
    accept,
    transport_error,
};

/// Validate one request; on success the gateway publishes it and answers 202. The gateway
/// only counts the events ([`mobile_batch::check`]); the enricher parses them.
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let reply = Reply::negotiate(req.headers, req.content_type.as_deref());
    let events = Format::for_content_type(req.content_type.as_deref())
        .and_then(|format| mobile_batch::check(format, body))
        .map_err(|error| error_response(&error, reply))?;
    Ok(Accepted {
        source: Source::MobileBatch,
        tenant: ctx.credentials.default_tenant.clone(),
        attributes: HashMap::new(),
        events,
        reply: super::empty_response(StatusCode::ACCEPTED),
    })
}

/// The one place this family's errors become responses: 415 for a media type it does not
/// take, 400 for everything else, as a failure list in `reply`'s format.
pub fn error_response(error: &MobileBatchError, reply: Reply) -> HttpResponse {
    let status = match error {
        MobileBatchError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        MobileBatchError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    reply::failures_response(status, &error.failures(), reply)
}

/// Errors found before parsing, as a failure list like every other error of this family.
/// There is no request to negotiate with here, so the list is always JSON.
pub fn transport_error(error: &TransportError) -> HttpResponse {
    let mut response = reply::failures_response(
        error.status(),
        &[Failure {
            index: None,
            field: None,
            reason: error.message(),
        }],
        Reply::Json,
    );
    error.decorate(&mut response, "POST");
    response
}
