//! The wire formats of Tributary's four API families, one module each, all of the same shape.
//! The documents are the spec (`shared/seeds/`, with their samples copied into `fixtures/`):
//!
//! | module | document | what a request carries |
//! |---|---|---|
//! | [`mobile_batch`] | 000, mobile/web analytics batch | JSON, DataContract XML or a form, 1..=1000 events |
//! | [`crm`] | 001, CRM Data Analytics Service v1 | one lead/contact analytics record |
//! | [`s2s`] | 002, S2S import | one item or a batch of 1..=20 |
//! | [`activity`] | 003, activity upload | 1..=1000 activities |
//!
//! Each family module has the same parts: the request's event type, a `Variant` (what picks
//! the request's shape from its HTTP request: body format, resource or method), one error enum,
//! `BODY_LIMIT`, and `parse(variant, body)`, a pure function the gateway runs to accept or
//! refuse and the enricher runs to split an accepted batch, so both always agree. [`WireFormat`]
//! states that shape once; HTTP (status codes, error bodies, authentication) stays in the
//! gateway, which maps each error enum to its family's format in one place.
//!
//! Rules every family shares live here and in [`fields`]: a leading UTF-8 byte-order mark is
//! skipped in every body (files written by Windows tools start with one), and a body of only
//! whitespace is empty.

pub mod activity;
pub mod crm;
pub mod fields;
pub mod mobile_batch;
pub mod money;
pub mod s2s;
pub mod time;

/// One API family's wire format.
pub trait WireFormat {
    /// What selects the request's shape, taken from the HTTP request by the gateway and
    /// carried in `RawBatch.source` / `content_type` to the enricher.
    type Variant: Copy + std::fmt::Debug;
    /// One event (item, record, activity) as the client sent it, validated.
    type Event;
    /// Why a body is refused: one enum per family.
    type Error: std::error::Error;
    /// Largest body the family takes, in bytes, as sent or after gzip inflation.
    const BODY_LIMIT: usize;
    /// Parse and validate a whole request body: every event, or the reason it is refused
    /// whole (a request is never half-accepted).
    fn parse(variant: Self::Variant, body: &[u8]) -> Result<Vec<Self::Event>, Self::Error>;
}

/// The UTF-8 byte-order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `body` without a leading UTF-8 byte-order mark.
pub fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(UTF8_BOM).unwrap_or(body)
}

/// True when `body` is empty or only ASCII whitespace (after any byte-order mark).
pub fn is_blank(body: &[u8]) -> bool {
    without_bom(body).iter().all(u8::is_ascii_whitespace)
}

/// Parse a JSON body (a leading byte-order mark skipped). Every number keeps the digits sent
/// (serde_json's `arbitrary_precision`), but a number beyond `f64`'s range (`1e400`) is still
/// refused, as serde_json refuses it without that feature: no client means one.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, String> {
    let value: serde_json::Value =
        serde_json::from_slice(without_bom(body)).map_err(|e| e.to_string())?;
    match out_of_range_number(&value) {
        Some(number) => Err(format!("number out of range: {number}")),
        None => Ok(value),
    }
}

/// The first number in `value` that `f64` cannot hold, if any.
pub fn out_of_range_number(value: &serde_json::Value) -> Option<&serde_json::Number> {
    use serde_json::Value;
    match value {
        Value::Number(n) => n.as_f64().is_none_or(|f| !f.is_finite()).then_some(n),
        Value::Array(items) => items.iter().find_map(out_of_range_number),
        Value::Object(map) => map.values().find_map(out_of_range_number),
        _ => None,
    }
}

/// True for a media type (lowercased, without parameters) that carries JSON: none at all,
/// `application/json`, `text/json` or `application/*+json`.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    match content_type {
        None | Some("application/json") | Some("text/json") => true,
        Some(other) => other.starts_with("application/") && other.ends_with("+json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_marks_and_blank_bodies() {
        assert_eq!(without_bom(b"\xEF\xBB\xBF{}"), b"{}");
        assert_eq!(without_bom(b"{}"), b"{}");
        assert_eq!(without_bom(b"\xEF\xBB{}"), b"\xEF\xBB{}");
        assert!(is_blank(b"\xEF\xBB\xBF \n"));
        assert!(is_blank(b""));
        assert!(!is_blank(b"\xEF\xBB\xBF[]"));
    }

    #[test]
    fn json_media_types() {
        for (media, json) in [
            (None, true),
            (Some("application/json"), true),
            (Some("text/json"), true),
            (Some("application/vnd.api+json"), true),
            (Some("text/plain"), false),
            (Some("application/xml"), false),
        ] {
            assert_eq!(is_json_media_type(media), json, "{media:?}");
        }
    }
}
