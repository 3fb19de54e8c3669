//! The four API families over HTTP, one folder each of the same shape: `mod.rs` (`accept`:
//! authenticate and validate one request -> [`Accepted`], and `transport_error`), `reply.rs`
//! (the family's error bodies, mapped from its `tributary_wire` error enum in one place) and
//! `tests.rs`. Each registers one [`FamilyRoute`] in [`FAMILIES`]: routing, body limits,
//! accepting and error rendering all read that table, so a fifth family is one folder and
//! one line there. Parsing and validation live in `tributary_wire`.

pub mod activity;
pub mod crm;
pub mod mobile_batch;
pub mod s2s;

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use tributary_schemas::Source;

use crate::credentials::Credentials;

pub type HttpResponse = hyper::Response<Full<Bytes>>;

/// Every family the gateway serves, in routing order (the S2S family's `/vN/<method>` pattern
/// is the widest, so it is last).
pub const FAMILIES: &[FamilyRoute] =
    &[mobile_batch::ROUTE, crm::ROUTE, activity::ROUTE, s2s::ROUTE];

/// What the HTTP edge needs of one family.
pub struct FamilyRoute {
    /// Low-cardinality name for metrics and logs (`mobile_batch`, `crm`, `s2s`, `activity`).
    pub label: &'static str,
    /// Whether this family serves `path` (lowercased, without a trailing `/`).
    pub owns: fn(&str) -> bool,
    /// Largest body in bytes, as sent or after inflation (each document's limit).
    pub body_limit: usize,
    /// The family answers a non-`POST` itself, in its own order of checks (S2S); otherwise
    /// the edge answers 405 before reading the body.
    pub checks_http_method: bool,
    /// The checks that need no body (path, HTTP method, credentials), run before the body is
    /// read: a refused request is answered without reading, inflating or parsing it.
    pub before_body: BeforeBodyFn,
    /// Authenticate and validate one request.
    pub accept: AcceptFn,
    /// The family's error body for problems found before `accept` runs.
    pub transport_error: fn(&TransportError) -> HttpResponse,
}

/// A family's checks before the body: `Ok(Some(tenant))` when the request's head names its
/// tenant (a key, an app id), so that a tenant already refused by its rate limits is answered
/// without reading the body (`rate_limit.rs`).
#[allow(clippy::result_large_err)]
pub type BeforeBodyFn =
    for<'c> fn(&AcceptContext<'c>, &RequestParts<'_>) -> Result<Option<&'c str>, HttpResponse>;

/// For a family that decides everything from the body.
#[allow(clippy::result_large_err)]
pub fn nothing_before_body<'c>(
    _: &AcceptContext<'c>,
    _: &RequestParts<'_>,
) -> Result<Option<&'c str>, HttpResponse> {
    Ok(None)
}

/// A family's `accept`: the request is published and answered with `Accepted::reply`, or
/// refused with the family's own error response (boxing it would buy nothing on this path).
#[allow(clippy::result_large_err)]
pub type AcceptFn =
    fn(&AcceptContext<'_>, &RequestParts<'_>, &[u8]) -> Result<Accepted, HttpResponse>;

/// What a family sees of an HTTP request besides its body.
#[derive(Debug)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// Media type without parameters, lowercased (`application/json`); `None` when absent.
    pub content_type: Option<String>,
}

/// Everything a family needs to decide on a request.
#[derive(Debug, Clone, Copy)]
pub struct AcceptContext<'a> {
    pub credentials: &'a Credentials,
    /// Receive time, epoch ms UTC.
    pub received_at: i64,
    /// The batch id the gateway will publish under (CRM echoes it in `partitionKey`).
    pub batch_id: &'a str,
}

/// A request that passed validation and authentication: publish it, then reply.
pub struct Accepted {
    pub source: Source,
    pub tenant: String,
    pub attributes: HashMap<String, String>,
    pub events: usize,
    /// The success response, sent only after the broker acknowledged the batch.
    pub reply: HttpResponse,
}

/// Problems found before a family's parser runs; each family renders them in its own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    NotFound,
    MethodNotAllowed,
    /// The body (as sent, or after gzip inflation) exceeds the limit.
    PayloadTooLarge {
        limit: usize,
    },
    /// The body did not arrive in time.
    Timeout,
    /// `Content-Encoding` we cannot undo, or a corrupt gzip stream.
    BadContentEncoding(String),
    /// The broker did not acknowledge in time: retry later.
    Unavailable {
        retry_after_secs: u32,
    },
    /// The tenant is over its rate limits (`gateway.rate_limits`): nothing was published.
    TooManyRequests {
        retry_after_secs: u32,
    },
    Internal,
    /// The request target is longer than the HTTP layer reads (65,534 bytes; see
    /// `crate::refusals`).
    UriTooLong,
    /// The head is larger than the HTTP layer reads, or has too many header fields.
    HeadersTooLarge,
    /// The request line or a header does not parse as HTTP/1.1 (RFC 9112, section 3).
    MalformedRequest,
}

impl TransportError {
    pub fn status(&self) -> StatusCode {
        match self {
            TransportError::NotFound => StatusCode::NOT_FOUND,
            TransportError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TransportError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            TransportError::Timeout => StatusCode::REQUEST_TIMEOUT,
            TransportError::BadContentEncoding(_) => StatusCode::BAD_REQUEST,
            TransportError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            TransportError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            TransportError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            TransportError::UriTooLong => StatusCode::URI_TOO_LONG,
            TransportError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            TransportError::MalformedRequest => StatusCode::BAD_REQUEST,
        }
    }

    /// A short sentence for error bodies that carry a message.
    pub fn message(&self) -> String {
        match self {
            TransportError::NotFound => "Not Found".into(),
            TransportError::MethodNotAllowed => "Method Not Allowed".into(),
            TransportError::PayloadTooLarge { limit } => {
                format!("Payload Too Large: the body exceeds {limit} bytes")
            }
            TransportError::Timeout => "Request Time Out".into(),
            TransportError::BadContentEncoding(why) => format!("Bad Content-Encoding: {why}"),
            TransportError::Unavailable { .. } => {
                "Service Unavailable: the event store did not acknowledge in time, retry later"
                    .into()
            }
            TransportError::TooManyRequests { retry_after_secs } => format!(
                "Too Many Requests: over this tenant's rate limit, nothing was stored; \
                 retry after {retry_after_secs} s"
            ),
            TransportError::Internal => "Internal Server Error".into(),
            TransportError::UriTooLong => {
                "URI Too Long: the request target exceeds 65534 bytes; send long values in the \
                 body, or fewer of them"
                    .into()
            }
            TransportError::HeadersTooLarge => {
                "Request Header Fields Too Large: the request head is too large or has too many \
                 header fields"
                    .into()
            }
            TransportError::MalformedRequest => {
                "Bad Request: the request line or a header is not valid HTTP/1.1".into()
            }
        }
    }

    /// Headers every family adds to this error (`Retry-After`, `Allow`).
    pub fn decorate(&self, response: &mut HttpResponse, allow: &'static str) {
        let headers = response.headers_mut();
        match self {
            TransportError::Unavailable { retry_after_secs }
            | TransportError::TooManyRequests { retry_after_secs } => {
                headers.insert("retry-after", HeaderValue::from(*retry_after_secs));
            }
            TransportError::MethodNotAllowed => {
                headers.insert("allow", HeaderValue::from_static(allow));
            }
            _ => {}
        }
    }
}

/// A JSON response with `status` and `body`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    bytes_response(
        status,
        "application/json; charset=utf-8",
        serde_json::to_vec(body).expect("a Value always serializes"),
    )
}

/// A response with the given content type and bytes.
pub fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> HttpResponse {
    let mut response = hyper::Response::new(Full::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A response without a body.
pub fn empty_response(status: StatusCode) -> HttpResponse {
    let mut response = hyper::Response::new(Full::default());
    *response.status_mut() = status;
    response
}
