//! `GET /openapi.json`: the checked-in OpenAPI document of every endpoint.

use hyper::StatusCode;

use crate::families::{bytes_response, HttpResponse};

pub const DOCUMENT: &str = include_str!("../openapi.json");

pub fn response() -> HttpResponse {
    bytes_response(
        StatusCode::OK,
        "application/json",
        DOCUMENT.as_bytes().to_vec(),
    )
}
