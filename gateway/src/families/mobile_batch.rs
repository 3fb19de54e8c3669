//! Seed 000: `POST /api/analytics/events`, a batch of analytics events from the mobile/web app,
//! as JSON (`application/json`, `text/json`), DataContract XML (`application/xml`, `text/xml`)
//! or `application/x-www-form-urlencoded`. 202 with an empty body when the whole batch is
//! stored; 400 with the list of failure reasons (event index, field, reason) otherwise, and
//! then nothing of the request is published.
//!
//! Required per event: `event_id`, `event_name` (non-empty strings) and `timestamp_utc`
//! (integer epoch seconds or milliseconds, >= 0). Every other field is optional and
//! type-checked: `user_id` and `duration_seconds` integers, `latitude`/`longitude` numbers,
//! `payload` an object of any JSON values, the rest strings. Numbers sent as numeric strings
//! are accepted, as the original ASP.NET binder did. Property names match case-insensitively.

use std::collections::HashMap;

use hyper::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use tributary_schemas::Source;

use super::{
    fields, json_response, AcceptContext, Accepted, HttpResponse, RequestParts, TransportError,
};

/// Largest request body accepted (as sent, before gzip inflation).
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Most events one request may carry.
pub const MAX_EVENTS: usize = 1000;

/// One analytics event as the client sent it (`AnalyticsEventDto`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyticsEvent {
    pub event_id: String,
    pub event_name: String,
    pub event_category: Option<String>,
    pub timestamp_utc: i64,
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
    fn request(field: Option<&str>, reason: impl Into<String>) -> Self {
        Failure {
            index: None,
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

/// Parse and validate a request body. Used by the gateway (to accept or reject) and by the
/// enricher (to split an accepted batch), so both always agree.
pub fn parse(format: Format, body: &[u8]) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    let document = match format {
        Format::Json => parse_json(body)?,
        Format::Xml => xml_document(body)?,
        Format::Form => form_document(body)?,
    };
    validate(&document)
}

fn parse_json(body: &[u8]) -> Result<Value, Vec<Failure>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![Failure::request(None, "the request body is empty")]);
    }
    serde_json::from_slice(body)
        .map_err(|e| vec![Failure::request(None, format!("the body is not valid JSON: {e}"))])
}

/// DataContract XML to the JSON shape of the same request.
fn xml_document(_body: &[u8]) -> Result<Value, Vec<Failure>> {
    Err(vec![Failure::request(None, "XML bodies are not supported yet")])
}

/// ASP.NET-style indexed form keys to the JSON shape of the same request.
fn form_document(_body: &[u8]) -> Result<Value, Vec<Failure>> {
    Err(vec![Failure::request(None, "form bodies are not supported yet")])
}

fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .get(key)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Validate the JSON shape of a request: `{"events": [AnalyticsEventDto, ...]}`.
pub fn validate(document: &Value) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    let Value::Object(top) = document else {
        return Err(vec![Failure::request(
            None,
            "the body must be an object with an events list",
        )]);
    };
    let events = match get_ci(top, "events") {
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
            format!("must contain at most {MAX_EVENTS} events, got {}", events.len()),
        )]);
    }
    let mut failures = Vec::new();
    let mut parsed = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        match validate_event(index, event) {
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
            None if self.failures.iter().any(|f| f.field.as_deref() == Some(field)) => String::new(),
            None => {
                self.fail(field, "is required".into());
                String::new()
            }
        }
    }
}

fn validate_event(index: usize, event: &Value) -> Result<AnalyticsEvent, Vec<Failure>> {
    let Value::Object(object) = event else {
        return Err(vec![Failure {
            index: Some(index),
            field: None,
            reason: "each event must be an object".into(),
        }]);
    };
    let mut c = Checker {
        index,
        object,
        failures: Vec::new(),
    };
    let event_id = c.required_text("event_id");
    let event_name = c.required_text("event_name");
    let timestamp_utc = match fields::integer(get_ci(object, "timestamp_utc")) {
        Ok(Some(t)) if t >= 0 => t,
        Ok(Some(_)) => {
            c.fail("timestamp_utc", "must be >= 0 (epoch seconds or milliseconds)".into());
            0
        }
        Ok(None) => {
            c.fail("timestamp_utc", "is required".into());
            0
        }
        Err(problem) => {
            c.fail("timestamp_utc", problem);
            0
        }
    };
    let parsed = AnalyticsEvent {
        event_id,
        event_name,
        timestamp_utc,
        event_category: c.optional("event_category", fields::string),
        session_id: c.optional("session_id", fields::string),
        source: c.optional("source", fields::string),
        user_id: c.optional("user_id", fields::integer),
        name: c.optional("name", fields::string),
        country_code: c.optional("country_code", fields::string),
        mobile_number: c.optional("mobile_number", fields::string),
        screen_name: c.optional("screen_name", fields::string),
        duration_seconds: c.optional("duration_seconds", fields::integer),
        payload: c.optional("payload", fields::object),
        ip: c.optional("ip", fields::string),
        country: c.optional("country", fields::string),
        state: c.optional("state", fields::string),
        city: c.optional("city", fields::string),
        zip: c.optional("zip", fields::string),
        latitude: c.optional("latitude", fields::number),
        longitude: c.optional("longitude", fields::number),
        raw: object.clone(),
    };
    if c.failures.is_empty() {
        Ok(parsed)
    } else {
        Err(c.failures)
    }
}

/// Validate one request; on success the gateway publishes it and answers 202.
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let Some(format) = Format::from_content_type(req.content_type.as_deref()) else {
        return Err(failures_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &[Failure::request(
                None,
                format!(
                    "unsupported Content-Type {:?}; use application/json, text/json, application/xml, text/xml or application/x-www-form-urlencoded",
                    req.content_type.as_deref().unwrap_or_default()
                ),
            )],
        ));
    };
    match parse(format, body) {
        Ok(events) => Ok(Accepted {
            source: Source::MobileBatch,
            tenant: ctx.credentials.default_tenant.clone(),
            attributes: HashMap::new(),
            events: events.len(),
            reply: super::empty_response(StatusCode::ACCEPTED),
        }),
        Err(failures) => Err(failures_response(StatusCode::BAD_REQUEST, &failures)),
    }
}

fn failures_response(status: StatusCode, failures: &[Failure]) -> HttpResponse {
    json_response(status, &serde_json::to_value(failures).expect("failures serialize"))
}

/// Errors found before parsing, as a failure list like every other error of this family.
pub fn transport_error(error: &TransportError) -> HttpResponse {
    let mut response = failures_response(error.status(), &[Failure::request(None, error.message())]);
    error.decorate(&mut response, "POST");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_JSON: &str = r#"{
"events": [
{
"event_id": "sample string 1",
"event_name": "sample string 2",
"event_category": "sample string 3",
"timestamp_utc": 4,
"session_id": "sample string 5",
"source": "sample string 6",
"user_id": 7,
"name": "sample string 8",
"country_code": "sample string 9",
"mobile_number": "sample string 10",
"screen_name": "sample string 11",
"duration_seconds": 1,
"payload": {
"sample string 1": {},
"sample string 3": {}
},
"ip": "sample string 12",
"country": "sample string 13",
"state": "sample string 14",
"city": "sample string 15",
"zip": "sample string 16",
"latitude": 1.1,
"longitude": 1.1
}
]
}"#;

    #[test]
    fn the_seed_json_sample_is_accepted_with_every_field() {
        let events = parse(Format::Json, SEED_JSON.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.event_id, "sample string 1");
        assert_eq!(e.event_name, "sample string 2");
        assert_eq!(e.event_category.as_deref(), Some("sample string 3"));
        assert_eq!(e.timestamp_utc, 4);
        assert_eq!(e.session_id.as_deref(), Some("sample string 5"));
        assert_eq!(e.source.as_deref(), Some("sample string 6"));
        assert_eq!(e.user_id, Some(7));
        assert_eq!(e.name.as_deref(), Some("sample string 8"));
        assert_eq!(e.country_code.as_deref(), Some("sample string 9"));
        assert_eq!(e.mobile_number.as_deref(), Some("sample string 10"));
        assert_eq!(e.screen_name.as_deref(), Some("sample string 11"));
        assert_eq!(e.duration_seconds, Some(1));
        assert_eq!(e.payload.as_ref().unwrap().len(), 2);
        assert_eq!(e.ip.as_deref(), Some("sample string 12"));
        assert_eq!(e.country.as_deref(), Some("sample string 13"));
        assert_eq!(e.state.as_deref(), Some("sample string 14"));
        assert_eq!(e.city.as_deref(), Some("sample string 15"));
        assert_eq!(e.zip.as_deref(), Some("sample string 16"));
        assert_eq!(e.latitude, Some(1.1));
        assert_eq!(e.longitude, Some(1.1));
        assert_eq!(e.raw.len(), 20);
    }

    fn one(event: Value) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
        validate(&serde_json::json!({ "events": [event] }))
    }

    fn valid() -> Value {
        serde_json::json!({"event_id": "e1", "event_name": "open", "timestamp_utc": 1580213208})
    }

    #[test]
    fn field_rules_valid_and_invalid() {
        // (field, value, accepted)
        let cases: Vec<(&str, Value, bool)> = vec![
            ("event_id", Value::Null, false),
            ("event_id", "".into(), false),
            ("event_id", 12.into(), true),
            ("event_id", serde_json::json!({}), false),
            ("event_name", "  ".into(), false),
            ("event_name", serde_json::json!([]), false),
            ("timestamp_utc", Value::Null, false),
            ("timestamp_utc", "1580213208".into(), true),
            ("timestamp_utc", 1580213208123i64.into(), true),
            ("timestamp_utc", (-1).into(), false),
            ("timestamp_utc", "yesterday".into(), false),
            ("timestamp_utc", 1.5.into(), false),
            ("user_id", 7.into(), true),
            ("user_id", "7".into(), true),
            ("user_id", "seven".into(), false),
            ("duration_seconds", "1".into(), true),
            ("duration_seconds", 1.25.into(), false),
            ("latitude", 12.97.into(), true),
            ("latitude", "12.97".into(), true),
            ("latitude", "north".into(), false),
            ("longitude", true.into(), false),
            ("payload", serde_json::json!({"a": [1, {"b": null}]}), true),
            ("payload", serde_json::json!([1]), false),
            ("payload", "x".into(), false),
            ("city", serde_json::json!({"name": "x"}), false),
            ("mobile_number", 919876543210i64.into(), true),
        ];
        for (field, value, accepted) in cases {
            let mut event = valid();
            if value.is_null() {
                event.as_object_mut().unwrap().remove(field);
            } else {
                event[field] = value.clone();
            }
            let result = one(event);
            assert_eq!(result.is_ok(), accepted, "{field} = {value}: {result:?}");
            if let Err(failures) = result {
                assert_eq!(failures[0].index, Some(0));
                assert_eq!(failures[0].field.as_deref(), Some(field));
            }
        }
    }

    #[test]
    fn request_level_problems_are_reported_without_an_index() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"{\"events\": [", "line 1 column 12"),
            (b"[]", "object"),
            (b"{}", "required"),
            (b"{\"events\": {}}", "list"),
            (b"{\"events\": []}", "at least one"),
            (b"{\"events\": [1]}", "must be an object"),
        ];
        for (body, want) in cases {
            let failures = parse(Format::Json, body).unwrap_err();
            assert!(
                failures[0].reason.contains(want),
                "{:?}: {failures:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn every_failure_of_every_event_is_listed_and_nothing_is_half_accepted() {
        let doc = serde_json::json!({"events": [valid(), {"event_name": "x"}, valid(), {"event_id": "e", "event_name": "n", "timestamp_utc": "t"}]});
        let failures = validate(&doc).unwrap_err();
        let got: Vec<_> = failures
            .iter()
            .map(|f| (f.index.unwrap(), f.field.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "event_id".to_string()),
                (1, "timestamp_utc".to_string()),
                (3, "timestamp_utc".to_string())
            ]
        );
    }

    #[test]
    fn batch_size_limit() {
        let many = serde_json::json!({ "events": vec![valid(); MAX_EVENTS] });
        assert_eq!(validate(&many).unwrap().len(), MAX_EVENTS);
        let too_many = serde_json::json!({ "events": vec![valid(); MAX_EVENTS + 1] });
        assert!(validate(&too_many).is_err());
    }

    #[test]
    fn property_names_match_case_insensitively() {
        let doc = serde_json::json!({"Events": [{"Event_Id": "a", "EVENT_NAME": "b", "timestamp_UTC": 1}]});
        let events = validate(&doc).unwrap();
        assert_eq!(events[0].event_id, "a");
        assert_eq!(events[0].event_name, "b");
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::from_content_type(Some("text/json")), Some(Format::Json));
        assert_eq!(Format::from_content_type(None), Some(Format::Json));
        assert_eq!(Format::from_content_type(Some("text/xml")), Some(Format::Xml));
        assert_eq!(
            Format::from_content_type(Some("application/x-www-form-urlencoded")),
            Some(Format::Form)
        );
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
    }
}
