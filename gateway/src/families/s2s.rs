//! Placeholder: the s2s family is not implemented yet.

use hyper::StatusCode;

use super::{json_response, AcceptContext, Accepted, HttpResponse, RequestParts, TransportError};

pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn accept(
    _ctx: &AcceptContext<'_>,
    _req: &RequestParts<'_>,
    _body: &[u8],
) -> Result<Accepted, HttpResponse> {
    Err(json_response(
        StatusCode::NOT_IMPLEMENTED,
        &serde_json::json!({"error": "Not Implemented"}),
    ))
}

pub fn transport_error(error: &TransportError) -> HttpResponse {
    let mut response = json_response(error.status(), &serde_json::json!({"error": error.message()}));
    error.decorate(&mut response, "POST");
    response
}
