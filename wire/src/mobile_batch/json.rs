//! Document 000's JSON bodies: the general parse into a `Value` (then [`super::validate`]), and
//! the fast check of the common shape.

use serde_json::Value;

use super::Failure;

/// The common case checked without building a `Value`: a JSON body holding only `events`,
/// whose events use only the document's field names, spelled exactly, each once, with JSON
/// types no looser than `validate` takes. Parsing into a `Value` was 4.5 of the gateway's
/// 5.6 µs per event (bench/PROFILE.md). Anything else — other keys or spellings, numbers
/// sent as strings, blank or missing required fields, empty or oversized batches, bad JSON —
/// answers `None`, and `validate` decides and words the failures. So `count` can only be
/// stricter than `validate`: whatever it accepts, `parse` (what the enricher runs) accepts
/// with the same number of events (unit tests and the `mobile_batch_json` fuzz target check
/// exactly that).
pub mod fast {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::{Map, Value};

    use crate::mobile_batch::MAX_EVENTS;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch<'a> {
        #[serde(borrow)]
        events: Vec<Event<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only to check them
    struct Event<'a> {
        #[serde(borrow)]
        event_id: Cow<'a, str>,
        #[serde(borrow)]
        event_name: Cow<'a, str>,
        timestamp_utc: i64,
        #[serde(borrow)]
        event_category: Option<Cow<'a, str>>,
        #[serde(borrow)]
        session_id: Option<Cow<'a, str>>,
        #[serde(borrow)]
        source: Option<Cow<'a, str>>,
        user_id: Option<i64>,
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        country_code: Option<Cow<'a, str>>,
        #[serde(borrow)]
        mobile_number: Option<Cow<'a, str>>,
        #[serde(borrow)]
        screen_name: Option<Cow<'a, str>>,
        duration_seconds: Option<i64>,
        // A `Value` map, not `IgnoredAny`: serde_json skips ignored values without its depth
        // limit or number range checks, which `validate`'s `Value` parse applies.
        payload: Option<Map<String, Value>>,
        #[serde(borrow)]
        ip: Option<Cow<'a, str>>,
        #[serde(borrow)]
        country: Option<Cow<'a, str>>,
        #[serde(borrow)]
        state: Option<Cow<'a, str>>,
        #[serde(borrow)]
        city: Option<Cow<'a, str>>,
        #[serde(borrow)]
        zip: Option<Cow<'a, str>>,
        latitude: Option<f64>,
        longitude: Option<f64>,
    }

    /// How many events `body` holds when it is a valid batch of the common shape; `None`
    /// when `validate` must decide.
    pub fn count(body: &[u8]) -> Option<usize> {
        let batch: Batch<'_> = serde_json::from_slice(body).ok()?;
        let valid = !batch.events.is_empty()
            && batch.events.len() <= MAX_EVENTS
            && batch.events.iter().all(|e| {
                !e.event_id.trim().is_empty()
                    && !e.event_name.trim().is_empty()
                    && e.timestamp_utc >= 0
                    && e.payload.as_ref().is_none_or(|payload| {
                        payload
                            .values()
                            .all(|v| crate::out_of_range_number(v).is_none())
                    })
            });
        valid.then_some(batch.events.len())
    }
}

pub(super) fn empty_body() -> Vec<Failure> {
    vec![Failure::request(None, "the request body is empty")]
}

pub(super) fn document(body: &[u8]) -> Result<Value, Vec<Failure>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    crate::parse_json(body).map_err(|e| {
        vec![Failure::request(
            None,
            format!("the body is not valid JSON: {e}"),
        )]
    })
}
