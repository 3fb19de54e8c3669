//! Document 001's one error shape, `{"error": <reason phrase>, "message": ..., "errors":
//! [{"field", "message"}]}`, for every refusal of the family and of the search endpoints.

use hyper::StatusCode;
use tributary_wire::crm::{CrmError, FieldError};

use crate::credentials::TenantKeyError;
use crate::families::{json_response, HttpResponse, TransportError};

/// The one error shape of this family.
pub fn error_response(status: StatusCode, message: &str, errors: &[FieldError]) -> HttpResponse {
    json_response(
        status,
        &serde_json::json!({
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": message,
            "errors": errors,
        }),
    )
}

/// The status of a refused body: 400 when it is not JSON at all, 422 when it is JSON that
/// fails the document's field rules.
pub fn status(error: &CrmError) -> StatusCode {
    match error {
        CrmError::EmptyBody | CrmError::Json(_) => StatusCode::BAD_REQUEST,
        CrmError::NotAnObject | CrmError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The response to a refused body.
pub fn error_body_response(error: &CrmError) -> HttpResponse {
    error_response(status(error), &error.to_string(), error.field_errors())
}

/// Errors found before parsing, in this family's error shape, with the `Allow` header of a
/// 405 chosen by the caller: `POST` for the family, `GET` for the search endpoints.
pub fn transport_error_allowing(error: &TransportError, allow: &'static str) -> HttpResponse {
    let mut response = error_response(error.status(), &error.message(), &[]);
    error.decorate(&mut response, allow);
    response
}

/// 401 for a missing or unknown tenant key (`tenants.crm_access`), with
/// `WWW-Authenticate: Bearer` naming the scheme to use.
pub fn unauthorized(error: TenantKeyError) -> HttpResponse {
    let mut response = error_response(StatusCode::UNAUTHORIZED, &error.to_string(), &[]);
    response.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Bearer"),
    );
    response
}
