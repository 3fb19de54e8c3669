//! Document 003 over HTTP: `POST /v1/activity/upload` with `Authorization: Bearer API_KEY`.
//! `200 {"status":"success"}` when the whole request is stored; 401 (with `WWW-Authenticate:
//! Bearer`) for a missing, malformed or unknown key, checked before the body; 415 for a
//! non-JSON `Content-Type`; 400 for a refused body. Every error has the family's shape
//! (`reply.rs`). The wire rules are in [`tributary_wire::activity`].

mod reply;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;
use tributary_schemas::Source;
use tributary_wire::activity::ActivityUpload;
use tributary_wire::WireFormat;

pub use reply::error_body_response;

use super::TransportError;
use super::{json_response, AcceptContext, Accepted, FamilyRoute, HttpResponse, RequestParts};

/// This family's entry in [`super::FAMILIES`].
pub const ROUTE: FamilyRoute = FamilyRoute {
    label: "activity",
    owns: |path| path == "/v1/activity/upload",
    body_limit: ActivityUpload::BODY_LIMIT,
    checks_http_method: false,
    before_body,
    accept,
    transport_error,
};

/// Why the `Authorization` header was refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Unauthorized - Missing API Key: send Authorization: Bearer API_KEY")]
    Missing,
    #[error("Unauthorized - Malformed Authorization Header: expected Bearer API_KEY")]
    Malformed,
    #[error("Unauthorized - Invalid API Key")]
    Invalid,
}

/// The API key of `Authorization: Bearer KEY` (scheme case-insensitive). One header only.
pub fn bearer_key(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::Malformed);
    }
    let value = value.to_str().map_err(|_| AuthError::Malformed)?.trim();
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, key) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let key = key.trim_start();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() || key.contains(char::is_whitespace)
    {
        return Err(AuthError::Malformed);
    }
    Ok(key)
}

/// The tenant of the request's API key.
pub fn authenticate<'c>(
    ctx: &AcceptContext<'c>,
    headers: &HeaderMap,
) -> Result<&'c str, AuthError> {
    let key = bearer_key(headers)?;
    ctx.credentials
        .activity_tenant(key)
        .ok_or(AuthError::Invalid)
}

/// The API key is checked before the body is read (401 for a 5 MB upload costs nothing).
fn before_body<'c>(
    ctx: &AcceptContext<'c>,
    req: &RequestParts<'_>,
) -> Result<Option<&'c str>, HttpResponse> {
    authenticate(ctx, req.headers)
        .map(Some)
        .map_err(reply::unauthorized)
}

/// Authenticate and validate one request; on success the gateway publishes it and answers
/// `200 {"status":"success"}`.
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let tenant = authenticate(ctx, req.headers).map_err(reply::unauthorized)?;
    if !tributary_wire::is_json_media_type(req.content_type.as_deref()) {
        return Err(reply::fail_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "Unsupported Media Type - {:?}: send application/json",
                req.content_type.as_deref().unwrap_or_default()
            ),
            &[],
        ));
    }
    let activities = ActivityUpload::parse((), body).map_err(|e| error_body_response(&e))?;
    Ok(Accepted {
        source: Source::ActivityUpload,
        tenant: tenant.to_string(),
        attributes: HashMap::new(),
        events: activities.len(),
        reply: json_response(StatusCode::OK, &serde_json::json!({"status": "success"})),
    })
}

/// Errors found before parsing, in this family's error shape.
pub fn transport_error(error: &TransportError) -> HttpResponse {
    let mut response = reply::fail_response(error.status(), &error.message(), &[]);
    error.decorate(&mut response, "POST");
    response
}
