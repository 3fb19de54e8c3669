//! Lead/contact search of seed 001 over ClickHouse (not implemented yet).

use hyper::StatusCode;

use crate::families::{json_response, HttpResponse};

/// Answers `GET /api/v1/{lead,contact}_analytics/search`.
#[derive(Clone)]
pub struct Search {
    pub client: clickhouse::Client,
}

impl Search {
    pub async fn handle(&self, _path: &str, _query: Option<&str>) -> HttpResponse {
        json_response(
            StatusCode::NOT_IMPLEMENTED,
            &serde_json::json!({"error": "Not Implemented"}),
        )
    }
}
