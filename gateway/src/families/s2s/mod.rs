//! Document 002 over HTTP: `POST /v1/<method>/?idApp=N` with `Authorization: <token>`.
//! The body rules are in [`tributary_wire::s2s`]; the request's own checks are here.
//!
//! # Order of checks
//!
//! The first failing check answers; later ones are not run.
//!
//! 1. API version: the first path segment must be exactly `v1` (case-sensitive, so `V1` and
//!    `v01` are refused) -> 400 `{"error":"Bad api version"}`.
//! 2. API method: the second segment, case-sensitive as in the document, with any trailing `/`
//!    -> 404 `{"error":"Method not found"}`.
//! 3. HTTP method: only `POST` -> 405 `{"error":"Method Not Allowed"}` with `Allow: POST`. It is
//!    checked after the path so that a `GET` of an unknown method still says "Method not found".
//! 4. `idApp` query parameter: present exactly once, ASCII digits only, a positive integer that
//!    fits in 64 bits (leading zeros allowed: `0666` is app 666) -> 400 `{"error":"Bad Request"}`.
//!    The name is case-sensitive (`idapp` is not read).
//! 5. `Authorization`: exactly one header whose value is the app's token, as in the document's
//!    curl example; `Bearer <token>` (scheme case-insensitive) is accepted too. A missing, repeated
//!    or wrong token and an unknown `idApp` all answer 403 `{"error":"Forbidden"}`, so the answer
//!    does not tell which apps exist.
//! 6. Body: empty or only whitespace -> 400 `{"error":"Empty post data"}`. A leading UTF-8 BOM is
//!    skipped. `Content-Type` is not checked: the document's own curl example (`-d`) sends
//!    `application/x-www-form-urlencoded`.
//! 7. JSON syntax (including trailing garbage, invalid UTF-8 and numbers beyond `f64`)
//!    -> 400 `{"error":"Bad json"}`.
//! 8. Validation (below) -> 400 `{"error":"Bad Request"}`. The body stays exactly the document's;
//!    the reason (item index, field, rule) is logged at debug level and carried by
//!    [`S2sError::BadRequest`] for the enricher and the tests. Validation stops at the first
//!    problem.
//!
//! Problems found by the HTTP layer before `accept` runs ([`transport_error`]): unknown route
//! 404 "Method not found"; non-POST 405 "Method Not Allowed" + `Allow: POST`; a body over
//! [`BODY_LIMIT`] (as sent or after gzip/deflate inflation) 413 `{"error":"Payload Too Large"}`
//! (the document lists no status for its 10 KB limit; 413 tells the client exactly what to fix,
//! and clients that treat every 4xx as "do not retry" behave as they would on a 400); body
//! timeout 408 "Request Timeout"; unusable `Content-Encoding` 400 "Bad Request"; broker not
//! acknowledging 503 "Service Unavailable" + `Retry-After`; anything else 500
//! "Internal Server Error" (the document's text).
//!

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;
use tributary_wire::s2s::{self, Method, S2s, S2sError, API_VERSION};
use tributary_wire::WireFormat;

use super::TransportError;
use super::{json_response, AcceptContext, Accepted, FamilyRoute, HttpResponse, RequestParts};

/// This family's entry in [`super::FAMILIES`]. It answers its own 405 after its path checks
/// (a `GET` of an unknown method still says "Method not found").
pub const ROUTE: FamilyRoute = FamilyRoute {
    label: "s2s",
    owns: is_s2s_path,
    body_limit: S2s::BODY_LIMIT,
    checks_http_method: true,
    before_body,
    accept,
    transport_error,
};

/// `/vN/method` with one path segment after a version-like first segment: the S2S import API
/// (which answers unknown methods and versions in its own format).
fn is_s2s_path(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(version), Some(method), None) => {
            version.len() > 1
                && version.starts_with('v')
                && version[1..].bytes().all(|b| b.is_ascii_digit())
                && !method.is_empty()
        }
        _ => false,
    }
}

/// The family's one error shape, `{"error": "<the document's text>"}`.
fn error_response(status: StatusCode, error: &str) -> HttpResponse {
    json_response(status, &serde_json::json!({ "error": error }))
}

/// Why a path is not an endpoint of this API.
enum BadPath {
    Version,
    Method,
}

/// The endpoint of `/v1/<method>/`; the first two checks of the module's order.
fn endpoint(path: &str) -> Result<(Method, bool), BadPath> {
    let (version, name) = path
        .trim_matches('/')
        .split_once('/')
        .ok_or(BadPath::Method)?;
    if version != API_VERSION {
        return Err(BadPath::Version);
    }
    Method::from_path_segment(name).ok_or(BadPath::Method)
}

/// `idApp` from the query: exactly once, digits only, positive.
fn id_app(query: Option<&str>) -> Option<u64> {
    let mut values = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "idApp")
        .map(|(_, value)| value);
    let value = values.next()?;
    if values.next().is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().filter(|&id| id > 0)
}

/// The token of the single `Authorization` header: the raw value, or `Bearer <token>`.
fn token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// What the checks before the body found.
struct Checked<'c> {
    method: Method,
    batch: bool,
    id_app: u64,
    tenant: &'c str,
}

/// Checks 1 to 5 of the module documentation, which need no body.
fn check_request<'c>(
    ctx: &AcceptContext<'c>,
    req: &RequestParts<'_>,
) -> Result<Checked<'c>, HttpResponse> {
    let (method, batch) = endpoint(req.path).map_err(|bad| match bad {
        BadPath::Version => error_response(StatusCode::BAD_REQUEST, "Bad api version"),
        BadPath::Method => transport_error(&TransportError::NotFound),
    })?;
    if req.method != hyper::Method::POST {
        return Err(transport_error(&TransportError::MethodNotAllowed));
    }
    let Some(id_app) = id_app(req.query) else {
        tracing::debug!("s2s request refused: idApp is missing or not a positive integer");
        return Err(error_response(StatusCode::BAD_REQUEST, "Bad Request"));
    };
    let Some(tenant) = token(req.headers).and_then(|t| ctx.credentials.s2s_tenant(id_app, t))
    else {
        tracing::debug!(id_app, "s2s request refused: missing or wrong token");
        return Err(error_response(StatusCode::FORBIDDEN, "Forbidden"));
    };
    Ok(Checked {
        method,
        batch,
        id_app,
        tenant,
    })
}

/// Checks 1 to 5 before the body is read: a `GET` with `Content-Encoding: gzip` is a 405,
/// not a body that failed to inflate.
fn before_body<'c>(
    ctx: &AcceptContext<'c>,
    req: &RequestParts<'_>,
) -> Result<Option<&'c str>, HttpResponse> {
    check_request(ctx, req).map(|checked| Some(checked.tenant))
}

/// Check one request in the order of the module documentation; on success the gateway publishes
/// it and answers 200 `{"message":"OK"}`.
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let Checked {
        method,
        batch,
        id_app,
        tenant,
    } = check_request(ctx, req)?;
    let events = S2s::parse((method, batch), body)
        .and_then(|events| s2s::check_storable(&events, batch).map(|()| events))
        .map_err(|error| {
        // The reason may quote the client's value (PII): log where, never what.
        let (item, field) = match &error {
            S2sError::BadRequest(invalid) => (invalid.index, invalid.field),
            _ => (None, None),
        };
        tracing::debug!(id_app, %method, batch, error = error.error_text(), ?item, ?field, "s2s request refused");
        error_response(StatusCode::BAD_REQUEST, error.error_text())
    })?;
    Ok(Accepted {
        source: method.source(batch),
        tenant: tenant.to_string(),
        attributes: HashMap::from([("idApp".to_string(), id_app.to_string())]),
        events: events.len(),
        // The document's status table shows `"ОK"` with a Cyrillic `О`; that is a typo, the
        // reply uses the Latin letters.
        reply: json_response(StatusCode::OK, &serde_json::json!({ "message": "OK" })),
    })
}

/// Problems found before `accept` runs, in this family's `{"error": ...}` format.
pub fn transport_error(error: &TransportError) -> HttpResponse {
    let text = match error {
        TransportError::NotFound => "Method not found",
        TransportError::MethodNotAllowed => "Method Not Allowed",
        TransportError::PayloadTooLarge { .. } => "Payload Too Large",
        TransportError::Timeout => "Request Timeout",
        TransportError::BadContentEncoding(_) => "Bad Request",
        TransportError::Unavailable { .. } => "Service Unavailable",
        TransportError::TooManyRequests { .. } => "Too Many Requests",
        TransportError::Internal => "Internal Server Error",
        TransportError::UriTooLong => "URI Too Long",
        TransportError::HeadersTooLarge => "Request Header Fields Too Large",
        TransportError::MalformedRequest => "Bad Request",
    };
    let mut response = error_response(error.status(), text);
    error.decorate(&mut response, "POST");
    response
}
