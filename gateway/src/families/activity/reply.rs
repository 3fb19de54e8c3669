//! Document 003's error shape, `{"status":"fail","error":{"code","message","errors"?}}`, for
//! every refusal of the family.

use hyper::header::HeaderValue;
use hyper::StatusCode;
use tributary_wire::activity::{ActivityError, Problem};

use super::AuthError;
use crate::families::{json_response, HttpResponse};

/// Most problems listed in a 400's `errors`.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// The family's error body with `status`, `message` and every problem (at most
/// [`MAX_LISTED_PROBLEMS`], then a line counting the rest).
pub fn fail_response(status: StatusCode, message: &str, problems: &[Problem]) -> HttpResponse {
    let mut error = serde_json::json!({"code": status.as_u16(), "message": message});
    if !problems.is_empty() {
        let mut listed: Vec<String> = problems
            .iter()
            .take(MAX_LISTED_PROBLEMS)
            .map(Problem::to_string)
            .collect();
        if problems.len() > MAX_LISTED_PROBLEMS {
            listed.push(format!(
                "... and {} more problems",
                problems.len() - MAX_LISTED_PROBLEMS
            ));
        }
        error["errors"] = listed.into();
    }
    json_response(
        status,
        &serde_json::json!({"status": "fail", "error": error}),
    )
}

/// The 400 for a refused body.
pub fn error_body_response(error: &ActivityError) -> HttpResponse {
    fail_response(
        StatusCode::BAD_REQUEST,
        &error.to_string(),
        error.problems(),
    )
}

/// The 401 for a refused `Authorization`, with `WWW-Authenticate: Bearer`.
pub fn unauthorized(error: AuthError) -> HttpResponse {
    let mut response = fail_response(StatusCode::UNAUTHORIZED, &error.to_string(), &[]);
    response
        .headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    response
}
