//! Seed 000: `POST /api/analytics/events`, a batch of analytics events from the mobile/web app,
//! as JSON (`application/json`, `text/json`), DataContract XML (`application/xml`, `text/xml`)
//! or `application/x-www-form-urlencoded`. 202 with an empty body when the whole batch is
//! stored; 400 with the list of failure reasons (event index, field, reason) otherwise, and
//! then nothing of the request is published.
//!
//! Required per event: `event_id`, `event_name` (non-empty strings) and `timestamp_utc`
//! (the document's integer epoch seconds or milliseconds; also any form of [`crate::time`]:
//! a fraction, microseconds, ISO 8601 with or without a zone). Every other field is optional and
//! type-checked: `user_id` and `duration_seconds` integers, `latitude`/`longitude` numbers,
//! `payload` an object of any JSON values, the rest strings. Numbers sent as numeric strings
//! are accepted, as the original ASP.NET binder did. Property names match case-insensitively.
//!
//! # One set of rules for three wire formats
//!
//! XML and form bodies are first converted to the JSON shape of the same request
//! (`{"events": [{...}]}`, every scalar a string) and then go through the same [`validate`]
//! as JSON, so the rules and the failure messages are the same; `raw` holds that JSON shape.
//! Problems of the wire format itself (malformed XML, a bad form key) are reported as failures
//! too, before validation; each says where (XML: line, column and byte offset).
//!
//! ## DataContract XML
//!
//! The layout `DataContractSerializer` writes for `AnalyticsEventBatchReq` (the seed's sample):
//! - Elements match by *local* name, case-insensitively; namespaces and prefixes (`d2p1:`,
//!   `d4p1:`) are not checked, and member order is free. The root must be
//!   `AnalyticsEventBatchReq`; its `events` holds `AnalyticsEventDto` elements (anything else
//!   there is a failure naming the index); other children of the root are ignored, like
//!   unknown JSON properties.
//! - An event field's text is its value, verbatim (entities and CDATA decoded, whitespace
//!   kept, so `<event_id> </event_id>` is "must not be empty"); `<city/>` is `""`, as the
//!   serializer reads it. Unknown fields are kept as strings (elements with children as
//!   objects) and end up in `raw`. A field given twice is a failure.
//! - Any element with `i:nil="true"` (the prefix is not checked) is `null`, i.e. absent; it
//!   must then be empty.
//! - `payload` is a list of `KeyValueOfstringanyType` with `Key` and `Value` (a missing
//!   `Value` is `null`; a missing `Key` or a key given twice is a failure); `<payload/>` is
//!   `{}`. A `Value` (`xs:anyType`) becomes: `null` with `i:nil="true"`; `{}` when empty and
//!   untyped, because that is how the serializer writes `new object()` (the seed's sample,
//!   whose JSON twin has `{}`); a JSON number for `i:type` int, long, short, byte, the
//!   unsigned kinds, integer, decimal, double and float; `true`/`false` for boolean (a value
//!   that does not parse as its type is a failure); an object for `ArrayOfKeyValueOf...`
//!   types or nested `KeyValueOf...` entries (a nested dictionary); an array for other
//!   `ArrayOf...` types; an object for other child elements (repeated names become arrays);
//!   otherwise (string, dateTime, guid, untyped text, ...) the text as a string.
//! - Safety and encoding: `<!DOCTYPE>` is refused (no DTDs, so no external or expanding
//!   entities; only the five predefined entities and character references are decoded);
//!   nesting deeper than [`MAX_XML_DEPTH`] is refused; the body must be UTF-8 (a UTF-8 BOM is
//!   skipped, a declaration naming another encoding is refused); exactly one root element,
//!   no text outside it, no text mixed with child elements, and the XML declaration, if
//!   any, first. Conversion stops at the first such problem; only a converted document is
//!   validated, and validation lists every field failure of every event.
//!
//! ## Form bodies
//!
//! ASP.NET-style indexed keys, with `events` matched case-insensitively:
//! `events[0].event_id=...` or `events[0][event_id]=...` (both styles may be mixed), and
//! payload entries as `events[0].payload.key`, `events[0][payload][key]`,
//! `events[0].payload[key]` or `events[0][payload].key`; after `payload.` the rest of the key
//! is the entry's name (it may contain dots), a bracketed name runs to the final `]`. Payload
//! values are strings (nested values cannot be expressed); other values are strings coerced
//! by validation. Decisions:
//! - `+` is a space and `%XX` a byte; the result must be UTF-8 (no silent replacement).
//! - An empty field value (`events[0].city=`) is absent (ASP.NET's ConvertEmptyStringToNull),
//!   so an empty `event_id` is "is required"; an empty payload value stays `""`.
//! - Indices may come in any order but must run from 0 without gaps: a gap is a failure
//!   naming the first missing index (ASP.NET silently stopped binding there). An index must be
//!   a plain number below [`MAX_EVENTS`] (no sign, no leading zeros).
//! - A field (case-insensitively, whichever key style) or payload entry given twice is a
//!   failure naming the key; so is a malformed key under `events` (`events=1`,
//!   `events[x].id`, `events[0]`, `events[0].city.x`).
//! - Keys that do not start with `events` (an anti-forgery token, say) are ignored, like
//!   unknown JSON properties; a body with none is "events is required".
//! - Every conversion problem is listed (at most 100); only a body without any is validated.
//!
use serde::Serialize;
use serde_json::{Map, Value};

use crate::fields;
use crate::time::{self, ClientTime};

mod form;
mod json;
#[cfg(test)]
mod tests;
mod xml;

pub use json::fast;

/// Largest request body accepted (as sent, before gzip inflation).
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Most events one request may carry.
pub const MAX_EVENTS: usize = 1000;
/// Deepest element nesting an XML body may use (the batch itself needs 6: root, `events`,
/// `AnalyticsEventDto`, `payload`, `KeyValueOfstringanyType`, `Value`).
pub const MAX_XML_DEPTH: usize = 32;

/// One analytics event as the client sent it (`AnalyticsEventDto`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyticsEvent {
    pub event_id: String,
    pub event_name: String,
    pub event_category: Option<String>,
    /// The event's time ([`crate::time`]: epoch s/ms/µs, or ISO 8601 with or without a zone).
    pub timestamp_utc: ClientTime,
    /// `timestamp_utc` exactly as sent (a number's own digits).
    pub timestamp_raw: String,
    pub session_id: Option<String>,
    pub source: Option<String>,
    pub user_id: Option<i64>,
    pub name: Option<String>,
    pub country_code: Option<String>,
    pub mobile_number: Option<String>,
    pub screen_name: Option<String>,
    pub duration_seconds: Option<i64>,
    pub payload: Option<Map<String, Value>>,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The event's fields exactly as sent (XML and form bodies as their JSON equivalent).
    pub raw: Map<String, Value>,
}

/// One failure reason of a rejected request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Index of the event in `events`, or `null` for a problem with the request as a whole.
    pub index: Option<usize>,
    /// The field at fault (`events`, `event_id`, ...), or `null` for the body as a whole.
    pub field: Option<String>,
    pub reason: String,
}

impl Failure {
    /// A failure of the request as a whole (`index` null).
    pub fn request(field: Option<&str>, reason: impl Into<String>) -> Self {
        Failure {
            index: None,
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// A failure of event `index`.
    pub fn event(index: usize, field: Option<&str>, reason: impl Into<String>) -> Self {
        Failure {
            index: Some(index),
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }
}

/// The wire format of a request, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
    Form,
}

impl Format {
    /// The format of a request with this media type (lowercased, without parameters).
    pub fn for_content_type(content_type: Option<&str>) -> Result<Format, MobileBatchError> {
        Format::from_content_type(content_type).ok_or_else(|| {
            MobileBatchError::UnsupportedMediaType(content_type.unwrap_or_default().to_string())
        })
    }

    /// `None` for a media type this endpoint does not take. A missing type is read as JSON.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Format> {
        match content_type {
            None | Some("application/json") | Some("text/json") => Some(Format::Json),
            Some("application/xml") | Some("text/xml") => Some(Format::Xml),
            Some("application/x-www-form-urlencoded") => Some(Format::Form),
            Some(_) => None,
        }
    }
}

/// Why a request was refused (document 000: "400 with the list of failure reasons").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MobileBatchError {
    /// A `Content-Type` that is none of the three formats (the gateway answers 415).
    #[error("unsupported Content-Type {0:?}; use application/json, text/json, application/xml, text/xml or application/x-www-form-urlencoded")]
    UnsupportedMediaType(String),
    /// Every failure of every event, or of the request as a whole (400); never empty.
    #[error("{} failure(s), the first: {}", .0.len(), .0.first().map(|f| f.reason.as_str()).unwrap_or_default())]
    Invalid(Vec<Failure>),
}

impl MobileBatchError {
    /// The failure list this error answers with.
    pub fn failures(&self) -> Vec<Failure> {
        match self {
            MobileBatchError::UnsupportedMediaType(_) => {
                vec![Failure::request(None, self.to_string())]
            }
            MobileBatchError::Invalid(failures) => failures.clone(),
        }
    }
}

/// Document 000's wire format; see [`crate::WireFormat`].
pub struct MobileBatch;

impl crate::WireFormat for MobileBatch {
    type Variant = Format;
    type Event = AnalyticsEvent;
    type Error = MobileBatchError;
    const BODY_LIMIT: usize = BODY_LIMIT;

    fn parse(format: Format, body: &[u8]) -> Result<Vec<AnalyticsEvent>, MobileBatchError> {
        parse(format, body)
    }
}

/// Parse and validate a request body. Used by the gateway (to accept or reject) and by the
/// enricher (to split an accepted batch), so both always agree.
pub fn parse(format: Format, body: &[u8]) -> Result<Vec<AnalyticsEvent>, MobileBatchError> {
    document(format, body)
        .and_then(|document| validate_with(document, true))
        .map_err(MobileBatchError::Invalid)
}

/// The body as a JSON-shaped document, whatever its format (a leading byte-order mark skipped).
fn document(format: Format, body: &[u8]) -> Result<Value, Vec<Failure>> {
    match format {
        Format::Json => json::document(crate::without_bom(body)),
        Format::Xml => xml::document(body),
        Format::Form => form::document(crate::without_bom(body)),
    }
}

/// `parse` without keeping anything: how many events, or every failure. The gateway needs
/// only this; building owned events it would throw away was 14% of its CPU in `Map::clone`
/// (bench/PROFILE.md, finding 3).
pub fn check(format: Format, body: &[u8]) -> Result<usize, MobileBatchError> {
    if format == Format::Json {
        if let Some(events) = fast::count(crate::without_bom(body)) {
            return Ok(events);
        }
    }
    document(format, body)
        .and_then(|document| validate_with(document, false))
        .map(|events| events.len())
        .map_err(MobileBatchError::Invalid)
}

pub(crate) fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// `get_ci`, taking the value out (a `null` is left in its place).
pub(crate) fn take_ci(object: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(value) = object.get_mut(key) {
        return Some(value.take());
    }
    object
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.take())
}

/// Validate the JSON shape of a request: `{"events": [AnalyticsEventDto, ...]}`. The
/// document is taken by value so each event's object moves into its `raw` uncopied.
pub fn validate(document: Value) -> Result<Vec<AnalyticsEvent>, MobileBatchError> {
    validate_with(document, true).map_err(MobileBatchError::Invalid)
}

/// `validate`; with `keep` false the events carry no `payload` or `raw` copies (only checked).
fn validate_with(document: Value, keep: bool) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    let Value::Object(mut top) = document else {
        return Err(vec![Failure::request(
            None,
            "the body must be an object with an events list",
        )]);
    };
    let events = match take_ci(&mut top, "events") {
        None | Some(Value::Null) => {
            return Err(vec![Failure::request(Some("events"), "is required")]);
        }
        Some(Value::Array(events)) => events,
        Some(_) => return Err(vec![Failure::request(Some("events"), "must be a list")]),
    };
    if events.is_empty() {
        return Err(vec![Failure::request(
            Some("events"),
            "must contain at least one event",
        )]);
    }
    if events.len() > MAX_EVENTS {
        return Err(vec![Failure::request(
            Some("events"),
            format!(
                "must contain at most {MAX_EVENTS} events, got {}",
                events.len()
            ),
        )]);
    }
    let mut failures = Vec::new();
    let mut parsed = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        match validate_event(index, event, keep) {
            Ok(event) => parsed.push(event),
            Err(mut f) => failures.append(&mut f),
        }
    }
    if failures.is_empty() {
        Ok(parsed)
    } else {
        Err(failures)
    }
}

/// Collects every failure of one event instead of stopping at the first.
struct Checker<'a> {
    index: usize,
    object: &'a Map<String, Value>,
    failures: Vec<Failure>,
}

impl<'a> Checker<'a> {
    fn fail(&mut self, field: &str, reason: String) {
        self.failures.push(Failure {
            index: Some(self.index),
            field: Some(field.to_string()),
            reason,
        });
    }

    /// An optional field read with `reader`; a type error is recorded and read as absent.
    fn optional<T>(
        &mut self,
        field: &str,
        reader: fn(Option<&Value>) -> Result<Option<T>, fields::FieldProblem>,
    ) -> Option<T> {
        match reader(get_ci(self.object, field)) {
            Ok(value) => value,
            Err(problem) => {
                self.fail(field, problem);
                None
            }
        }
    }

    /// A required non-blank string field.
    fn required_text(&mut self, field: &str) -> String {
        match self.optional(field, fields::string) {
            Some(v) if !v.trim().is_empty() => v,
            Some(_) => {
                self.fail(field, "must not be empty".into());
                String::new()
            }
            None if self
                .failures
                .iter()
                .any(|f| f.field.as_deref() == Some(field)) =>
            {
                String::new()
            }
            None => {
                self.fail(field, "is required".into());
                String::new()
            }
        }
    }
}

fn validate_event(index: usize, event: Value, keep: bool) -> Result<AnalyticsEvent, Vec<Failure>> {
    let Value::Object(object) = event else {
        return Err(vec![Failure {
            index: Some(index),
            field: None,
            reason: "each event must be an object".into(),
        }]);
    };
    let mut c = Checker {
        index,
        object: &object,
        failures: Vec::new(),
    };
    let event_id = c.required_text("event_id");
    let event_name = c.required_text("event_name");
    let sent_time = get_ci(&object, "timestamp_utc");
    let timestamp_utc = match sent_time.map(time::read_json).transpose() {
        Ok(Some(Some(t))) => t,
        Ok(_) => {
            c.fail("timestamp_utc", "is required".into());
            ClientTime::default()
        }
        Err(problem) => {
            c.fail("timestamp_utc", problem.to_string());
            ClientTime::default()
        }
    };
    let timestamp_raw = match sent_time {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let mut parsed = AnalyticsEvent {
        event_id,
        event_name,
        timestamp_utc,
        timestamp_raw,
        event_category: c.optional("event_category", fields::string),
        session_id: c.optional("session_id", fields::string),
        source: c.optional("source", fields::string),
        user_id: c.optional("user_id", fields::integer),
        name: c.optional("name", fields::string),
        country_code: c.optional("country_code", fields::string),
        mobile_number: c.optional("mobile_number", fields::string),
        screen_name: c.optional("screen_name", fields::string),
        duration_seconds: c.optional("duration_seconds", fields::integer),
        payload: if keep {
            c.optional("payload", fields::object)
        } else {
            c.optional("payload", |value| fields::object_type(value).map(|()| None))
        },
        ip: c.optional("ip", fields::string),
        country: c.optional("country", fields::string),
        state: c.optional("state", fields::string),
        city: c.optional("city", fields::string),
        zip: c.optional("zip", fields::string),
        latitude: c.optional("latitude", fields::number),
        longitude: c.optional("longitude", fields::number),
        raw: Map::new(),
    };
    let failures = c.failures;
    if !failures.is_empty() {
        return Err(failures);
    }
    if keep {
        parsed.raw = object;
    }
    Ok(parsed)
}
