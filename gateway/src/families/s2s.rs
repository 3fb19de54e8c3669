//! Seed 002: the myTracker-style server-to-server import API,
//! `POST /v1/<method>/?idApp=N` with `Authorization: <token>` and a JSON body of at most 10 KB.
//! Methods: `registration`, `login`, `customEvent`, `customRevenue` (one JSON object) and their
//! `...Batch` forms (a JSON array of 1 to 20 such objects). Every answer is a small JSON object:
//! `{"message":"OK"}` on success, `{"error":"..."}` with the document's texts otherwise.
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
//! # Validation rules
//!
//! * Shape: single methods take one JSON object, batch methods a JSON array of 1 to
//!   [`MAX_BATCH`] objects; anything else is a Bad Request. One bad item rejects the whole batch.
//! * Field names are case-sensitive, as spelled in the document. Unknown fields are allowed and
//!   kept in [`S2sEvent::raw`], which is every item exactly as sent. Fields that belong to another
//!   method (`customEventName` sent to `registration`, `total` sent to `customEvent`, ...) are
//!   treated as unknown fields: kept in `raw`, neither validated nor typed.
//! * `null`, and for string fields an empty or whitespace-only string, count as absent (so an
//!   empty `customUserId` does not satisfy the user identifier rule).
//! * Number fields take JSON numbers or numeric strings (the document's examples send
//!   `"age":"25"`); integral floats (`25.0`) count. Booleans, objects and arrays are refused.
//! * String fields take JSON strings; a JSON number is taken as its text (`"customUserId": 1234`),
//!   booleans, objects and arrays are refused. Lengths count characters, not bytes.
//! * Common: `eventTimestamp` 0..=4294967295; `customUserId` at most 1024 chars; `ipv4` at most
//!   15 chars and a dotted-quad IPv4 address (Rust's parser: no leading zeros in an octet);
//!   `ipv6` at most 45 chars and an IPv6 address (no zone id); `idGender` 0..=2; `age` 0..=128;
//!   `connectionType` 0..=2; `bluetoothEnabled` 0..=2; `instanceId`, `idfa`, `iosVendorId`,
//!   `gaid` exactly 36 chars; `androidId` exactly 16 chars (the table's rule: the document's own
//!   example `"000000000000000"` has 15 and is refused); `lvid` exactly 32 chars;
//!   `adTrackingEnabled` and `adBlocker` 0 or 1; `userAgent` at most 2048 chars. Identifiers are
//!   checked for length only, as documented, not for UUID or hex syntax.
//! * `registration`, `login`: `customUserId` required.
//! * `customEvent`: `customEventName` required, 1..=255 chars; a user identifier: `customUserId`
//!   or one of `instanceId`, `lvid`, `gaid`, `androidId`, `idfa`, `iosVendorId`.
//!   `customEventParams` optional: an object of name => value with names 1..=255 chars and values
//!   1..=255 chars, strings or numbers (taken as their text; `null`, booleans, objects and arrays
//!   are refused); `{}` and `[]` (what PHP's `json_encode` makes of an empty array) mean no
//!   parameters.
//! * `customRevenue`: `eventTimestamp` required (the method's "Required parameters" — this is
//!   applied to `customRevenueBatch` items too, so the document's own `customRevenueBatch`
//!   example, which has no `eventTimestamp`, is refused; see the tests); the user identifier rule
//!   as for `customEvent`; `idTransaction` required, 1..=255 chars; `currency` required, exactly
//!   3 ASCII letters, upper-cased (`usd` -> `USD`; numeric ISO 4217 codes are refused despite the
//!   table's wording, its example being `"USD"`); `total` required, >= 0, a JSON number or a
//!   numeric string, kept as exact plain decimal text (`1.99` stays `"1.99"`, `"10.990"` stays
//!   `"10.990"`, leading zeros of the integer part dropped, an exponent expanded: `1e-7` ->
//!   `"0.0000001"`; a sign, `.5` and `5.` are refused).

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;
use serde_json::{Map, Value};
use tributary_schemas::Source;

use super::{
    fields, json_response, AcceptContext, Accepted, HttpResponse, RequestParts, TransportError,
};

/// The document's "Limit on the maximum size of imported data - 10Kb".
pub const BODY_LIMIT: usize = 10 * 1024;
/// Most items a batch method takes ("Array. Maximum size 20").
pub const MAX_BATCH: usize = 20;
/// The only API version served.
pub const API_VERSION: &str = "v1";

/// The fields that identify a user or device for `customEvent` and `customRevenue`.
const IDENTIFIERS: &str =
    "customUserId or one of instanceId, lvid, gaid, androidId, idfa, iosVendorId";
/// Largest exponent magnitude accepted in `total` (`1e64`), so expansion stays small.
const MAX_TOTAL_EXPONENT: i64 = 64;

/// An S2S API method; each has a single and a batch endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Registration,
    Login,
    CustomEvent,
    CustomRevenue,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Registration,
        Method::Login,
        Method::CustomEvent,
        Method::CustomRevenue,
    ];

    /// The method's name in the path, without `Batch`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Registration => "registration",
            Method::Login => "login",
            Method::CustomEvent => "customEvent",
            Method::CustomRevenue => "customRevenue",
        }
    }

    /// `customEvent` -> `(CustomEvent, false)`, `customEventBatch` -> `(CustomEvent, true)`.
    /// Case-sensitive; `None` for anything else.
    pub fn from_path_segment(segment: &str) -> Option<(Method, bool)> {
        let (name, batch) = match segment.strip_suffix("Batch") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        Method::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .map(|m| (m, batch))
    }

    /// The `Source` an accepted request of this endpoint is published under.
    pub fn source(self, batch: bool) -> Source {
        match (self, batch) {
            (Method::Registration, false) => Source::S2sRegistration,
            (Method::Registration, true) => Source::S2sRegistrationBatch,
            (Method::Login, false) => Source::S2sLogin,
            (Method::Login, true) => Source::S2sLoginBatch,
            (Method::CustomEvent, false) => Source::S2sCustomEvent,
            (Method::CustomEvent, true) => Source::S2sCustomEventBatch,
            (Method::CustomRevenue, false) => Source::S2sCustomRevenue,
            (Method::CustomRevenue, true) => Source::S2sCustomRevenueBatch,
        }
    }

    /// The endpoint of an S2S `Source`; `None` for other families.
    pub fn from_source(source: Source) -> Option<(Method, bool)> {
        Method::ALL
            .into_iter()
            .flat_map(|m| [(m, false), (m, true)])
            .find(|&(m, batch)| m.source(batch) == source)
    }

    /// `customEvent` and `customRevenue` need `customUserId` or a device identifier;
    /// `registration` and `login` need `customUserId` itself.
    fn needs_any_identifier(self) -> bool {
        matches!(self, Method::CustomEvent | Method::CustomRevenue)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One validated S2S event. `None` means "not sent" (or `null`/empty); the document's defaults
/// (event time = receive time, `connectionType` 0, `bluetoothEnabled` 0, `adTrackingEnabled` 1,
/// `adBlocker` 0) are left to the consumer so `raw` and the typed view never disagree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S2sEvent {
    /// Epoch seconds.
    pub event_timestamp: Option<u32>,
    pub custom_user_id: Option<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// 0 unknown, 1 man, 2 woman.
    pub id_gender: Option<u8>,
    pub age: Option<u8>,
    /// 0 unknown, 1 mobile, 2 wi-fi.
    pub connection_type: Option<u8>,
    /// 0 unknown, 1 on, 2 off.
    pub bluetooth_enabled: Option<u8>,
    pub instance_id: Option<String>,
    pub ad_tracking_enabled: Option<bool>,
    pub idfa: Option<String>,
    pub ios_vendor_id: Option<String>,
    pub gaid: Option<String>,
    pub android_id: Option<String>,
    pub lvid: Option<String>,
    pub ad_blocker: Option<bool>,
    pub user_agent: Option<String>,
    /// `customEvent` only.
    pub custom_event_name: Option<String>,
    /// `customEvent` only: name => value in the order sent.
    pub custom_event_params: Option<Vec<(String, String)>>,
    /// `customRevenue` only.
    pub id_transaction: Option<String>,
    /// `customRevenue` only: three upper-case ASCII letters.
    pub currency: Option<String>,
    /// `customRevenue` only: exact plain decimal text, >= 0.
    pub total: Option<String>,
    /// The item exactly as sent, unknown fields included.
    pub raw: Map<String, Value>,
}

/// Why a body failed validation: which item, which field, which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Index of the item in a batch; `None` for a single method or the body as a whole.
    pub index: Option<usize>,
    /// The field at fault; `None` for the shape of the body or of an item.
    pub field: Option<&'static str>,
    pub rule: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(index) = self.index {
            write!(f, "item {index}: ")?;
        }
        if let Some(field) = self.field {
            write!(f, "{field} ")?;
        }
        f.write_str(&self.rule)
    }
}

/// Why a body was refused; each variant has its own error text in the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S2sError {
    #[error("the request body is empty")]
    Empty,
    #[error("the body is not valid JSON: {0}")]
    BadJson(String),
    #[error("{0}")]
    BadRequest(Invalid),
}

impl S2sError {
    /// The document's `error` text for this problem.
    pub fn error_text(&self) -> &'static str {
        match self {
            S2sError::Empty => "Empty post data",
            S2sError::BadJson(_) => "Bad json",
            S2sError::BadRequest(_) => "Bad Request",
        }
    }
}

fn bad_request(
    index: Option<usize>,
    field: Option<&'static str>,
    rule: impl Into<String>,
) -> S2sError {
    S2sError::BadRequest(Invalid {
        index,
        field,
        rule: rule.into(),
    })
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parse and validate a request body of `method` (`batch` for the `...Batch` endpoint). Pure and
/// deterministic: the gateway uses it to accept or refuse, the enricher to split an accepted
/// batch into events, so both always agree.
pub fn parse(method: Method, batch: bool, body: &[u8]) -> Result<Vec<S2sEvent>, S2sError> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(S2sError::Empty);
    }
    let document: Value =
        serde_json::from_slice(body).map_err(|e| S2sError::BadJson(e.to_string()))?;
    validate(method, batch, &document)
}

/// Validate an already parsed body (see [`parse`]).
pub fn validate(method: Method, batch: bool, document: &Value) -> Result<Vec<S2sEvent>, S2sError> {
    match (batch, document) {
        (false, Value::Object(item)) => Ok(vec![parse_item(method, None, item)?]),
        (false, _) => Err(bad_request(
            None,
            None,
            format!("{method} takes one JSON object"),
        )),
        (true, Value::Array(items)) if (1..=MAX_BATCH).contains(&items.len()) => items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::Object(item) => parse_item(method, Some(index), item),
                _ => Err(bad_request(Some(index), None, "must be a JSON object")),
            })
            .collect(),
        (true, Value::Array(items)) => Err(bad_request(
            None,
            None,
            format!(
                "{method}Batch takes 1 to {MAX_BATCH} items, got {}",
                items.len()
            ),
        )),
        (true, _) => Err(bad_request(
            None,
            None,
            format!("{method}Batch takes a JSON array of objects"),
        )),
    }
}

/// Typed reads of one item's fields; each failure names the item and the field.
struct Item<'a> {
    index: Option<usize>,
    object: &'a Map<String, Value>,
}

impl Item<'_> {
    fn fail(&self, field: &'static str, rule: impl Into<String>) -> S2sError {
        bad_request(self.index, Some(field), rule)
    }

    /// A string (or a number taken as its text); empty or whitespace-only counts as absent.
    fn text(&self, field: &'static str) -> Result<Option<String>, S2sError> {
        let value = match self.object.get(field) {
            Some(Value::Bool(_)) => return Err(self.fail(field, "must be a string")),
            value => fields::string(value).map_err(|problem| self.fail(field, problem))?,
        };
        Ok(value.filter(|s| !s.trim().is_empty()))
    }

    /// A string of `min..=max` characters.
    fn text_between(
        &self,
        field: &'static str,
        min: usize,
        max: usize,
    ) -> Result<Option<String>, S2sError> {
        let Some(value) = self.text(field)? else {
            return Ok(None);
        };
        let chars = value.chars().count();
        if chars < min || chars > max {
            let rule = if min == max {
                format!("must be exactly {min} characters, got {chars}")
            } else {
                format!("must be {min} to {max} characters, got {chars}")
            };
            return Err(self.fail(field, rule));
        }
        Ok(Some(value))
    }

    fn text_at_most(&self, field: &'static str, max: usize) -> Result<Option<String>, S2sError> {
        self.text_between(field, 0, max)
    }

    fn text_exactly(&self, field: &'static str, chars: usize) -> Result<Option<String>, S2sError> {
        self.text_between(field, chars, chars)
    }

    /// An integer in `min..=max`, as a JSON number or a numeric string.
    fn integer<T: TryFrom<i64>>(
        &self,
        field: &'static str,
        min: i64,
        max: i64,
    ) -> Result<Option<T>, S2sError> {
        let Some(value) =
            fields::integer(self.object.get(field)).map_err(|problem| self.fail(field, problem))?
        else {
            return Ok(None);
        };
        if !(min..=max).contains(&value) {
            return Err(self.fail(field, format!("must be from {min} to {max}, got {value}")));
        }
        T::try_from(value)
            .map(Some)
            .map_err(|_| self.fail(field, format!("must be from {min} to {max}, got {value}")))
    }

    /// A 0/1 switch.
    fn flag(&self, field: &'static str) -> Result<Option<bool>, S2sError> {
        Ok(self.integer::<u8>(field, 0, 1)?.map(|v| v == 1))
    }

    /// An IP address of at most `max` characters.
    fn address<A: std::str::FromStr>(
        &self,
        field: &'static str,
        max: usize,
        kind: &str,
    ) -> Result<Option<A>, S2sError> {
        self.text_at_most(field, max)?
            .map(|text| {
                text.parse::<A>()
                    .map_err(|_| self.fail(field, format!("must be an {kind} address")))
            })
            .transpose()
    }

    fn custom_event_params(&self) -> Result<Option<Vec<(String, String)>>, S2sError> {
        const FIELD: &str = "customEventParams";
        let map = match self.object.get(FIELD) {
            None | Some(Value::Null) => return Ok(None),
            // PHP's json_encode writes an empty associative array as `[]`.
            Some(Value::Array(items)) if items.is_empty() => return Ok(Some(Vec::new())),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(self.fail(FIELD, "must be an object of name => value")),
        };
        map.iter()
            .map(|(name, value)| {
                let name_chars = name.chars().count();
                if !(1..=255).contains(&name_chars) {
                    return Err(self.fail(
                        FIELD,
                        format!("names must be 1 to 255 characters, got {name_chars}"),
                    ));
                }
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(self.fail(FIELD, format!("value of {name:?} must be a string")))
                    }
                };
                let value_chars = value.chars().count();
                if !(1..=255).contains(&value_chars) {
                    return Err(self.fail(
                        FIELD,
                        format!("value of {name:?} must be 1 to 255 characters, got {value_chars}"),
                    ));
                }
                Ok((name.clone(), value))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn currency(&self) -> Result<Option<String>, S2sError> {
        const FIELD: &str = "currency";
        self.text(FIELD)?
            .map(|code| {
                if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
                    Ok(code.to_ascii_uppercase())
                } else {
                    Err(self.fail(FIELD, "must be 3 letters (ISO 4217 code such as USD)"))
                }
            })
            .transpose()
    }

    fn total(&self) -> Result<Option<String>, S2sError> {
        const FIELD: &str = "total";
        fields::decimal_text(self.object.get(FIELD))
            .and_then(|text| text.map(|t| plain_decimal(&t)).transpose())
            .map_err(|problem| self.fail(FIELD, problem))
    }
}

/// `digits[.digits][(e|E)[+|-]digits]` as plain decimal text: the exponent expanded, leading
/// zeros of the integer part dropped, the fraction kept as written.
fn plain_decimal(text: &str) -> Result<String, fields::FieldProblem> {
    if text.starts_with('-') {
        return Err("must be >= 0".into());
    }
    let not_plain = || format!("must be a plain decimal number such as 1.99, got {text:?}");
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (text, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (mantissa.contains('.') && !digits(frac)) {
        return Err(not_plain());
    }
    let exponent = match exponent {
        None => 0,
        Some(e) => e.parse::<i64>().map_err(|_| not_plain())?,
    };
    if exponent.abs() > MAX_TOTAL_EXPONENT {
        return Err(format!("is out of range, got {text:?}"));
    }
    let all = format!("{int}{frac}");
    // Where the decimal point falls in `all`; `int.len()` is bounded by the body limit.
    let point = int.len() as i64 + exponent;
    let (int, frac) = if point <= 0 {
        (
            String::new(),
            "0".repeat(point.unsigned_abs() as usize) + &all,
        )
    } else if point as usize >= all.len() {
        (
            all.clone() + &"0".repeat(point as usize - all.len()),
            String::new(),
        )
    } else {
        let (i, f) = all.split_at(point as usize);
        (i.to_string(), f.to_string())
    };
    let int = match int.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    Ok(if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    })
}

fn parse_item(
    method: Method,
    index: Option<usize>,
    object: &Map<String, Value>,
) -> Result<S2sEvent, S2sError> {
    let item = Item { index, object };
    let mut event = S2sEvent {
        event_timestamp: item.integer("eventTimestamp", 0, u32::MAX.into())?,
        custom_user_id: item.text_at_most("customUserId", 1024)?,
        ipv4: item.address("ipv4", 15, "IPv4")?,
        ipv6: item.address("ipv6", 45, "IPv6")?,
        id_gender: item.integer("idGender", 0, 2)?,
        age: item.integer("age", 0, 128)?,
        connection_type: item.integer("connectionType", 0, 2)?,
        bluetooth_enabled: item.integer("bluetoothEnabled", 0, 2)?,
        instance_id: item.text_exactly("instanceId", 36)?,
        ad_tracking_enabled: item.flag("adTrackingEnabled")?,
        idfa: item.text_exactly("idfa", 36)?,
        ios_vendor_id: item.text_exactly("iosVendorId", 36)?,
        gaid: item.text_exactly("gaid", 36)?,
        android_id: item.text_exactly("androidId", 16)?,
        lvid: item.text_exactly("lvid", 32)?,
        ad_blocker: item.flag("adBlocker")?,
        user_agent: item.text_at_most("userAgent", 2048)?,
        raw: object.clone(),
        ..S2sEvent::default()
    };
    match method {
        Method::Registration | Method::Login => {}
        Method::CustomEvent => {
            event.custom_event_name = item.text_between("customEventName", 1, 255)?;
            event.custom_event_params = item.custom_event_params()?;
            if event.custom_event_name.is_none() {
                return Err(item.fail("customEventName", "is required"));
            }
        }
        Method::CustomRevenue => {
            event.id_transaction = item.text_between("idTransaction", 1, 255)?;
            event.currency = item.currency()?;
            event.total = item.total()?;
            if event.event_timestamp.is_none() {
                return Err(item.fail("eventTimestamp", "is required"));
            }
            for (field, value) in [
                ("idTransaction", &event.id_transaction),
                ("currency", &event.currency),
                ("total", &event.total),
            ] {
                if value.is_none() {
                    return Err(item.fail(field, "is required"));
                }
            }
        }
    }
    if method.needs_any_identifier() {
        let identified = [
            &event.custom_user_id,
            &event.instance_id,
            &event.lvid,
            &event.gaid,
            &event.android_id,
            &event.idfa,
            &event.ios_vendor_id,
        ]
        .iter()
        .any(|id| id.is_some());
        if !identified {
            return Err(item.fail("customUserId", format!("is required: {IDENTIFIERS}")));
        }
    } else if event.custom_user_id.is_none() {
        return Err(item.fail("customUserId", "is required"));
    }
    Ok(event)
}

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

/// Check one request in the order of the module documentation; on success the gateway publishes
/// it and answers 200 `{"message":"OK"}`.
// The `Err` type is the shared family interface (`families/mod.rs`, `http.rs`).
#[allow(clippy::result_large_err)]
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
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
    let events = parse(method, batch, body).map_err(|error| {
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
        TransportError::Internal => "Internal Server Error",
    };
    let mut response = error_response(error.status(), text);
    error.decorate(&mut response, "POST");
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantsConfig;
    use crate::credentials::Credentials;
    use http_body_util::BodyExt;
    use hyper::header::HeaderValue;
    use serde_json::json;

    const TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";
    const ZEROS_36: &str = "00000000-0000-0000-0000-000000000000";
    const ZEROS_32: &str = "00000000000000000000000000000000";

    /// The document's "Example query" body, verbatim.
    const DOC_EXAMPLE: &str = r#"{"customUserId": "1", "customEventName": "levelUp",
"customEventParams": {"level": "2"}, "idGender": "1",
"age": "25", "eventTimestamp": "1580213208",
"instanceId": "00000000-0000-0000-0000-000000000000"}"#;

    const DOC_REGISTRATION_BATCH: &str = r#"[
{"customUserId": "1111", "lvid":"00000000000000000000000000000000"},
{"customUserId": "2222", "lvid":"00000000000000000000000000000000"}
]"#;

    /// The document's loginBatch example is the same text as its registrationBatch example.
    const DOC_LOGIN_BATCH: &str = DOC_REGISTRATION_BATCH;

    const DOC_CUSTOM_EVENT_BATCH: &str = r#"[
{"customUserId": "1111", "lvid":"00000000000000000000000000000000", "customEventName": "messageReceived"},
{"customUserId": "2222", "lvid":"00000000000000000000000000000000", "customEventName": "messageReceived"}
]"#;

    const DOC_CUSTOM_REVENUE_BATCH: &str = r#"[
{"customUserId": "1111", "lvid":"00000000000000000000000000000000", "idTransaction": "order1", "currency":"USD", "total": 1.99},
{"customUserId": "2222", "lvid":"00000000000000000000000000000000", "idTransaction": "order2", "currency":"USD", "total": 10.99}
]"#;

    // ---- the document's examples -------------------------------------------------------------

    #[test]
    fn the_documents_example_query_is_accepted_as_written() {
        let events = parse(Method::CustomEvent, false, DOC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.custom_user_id.as_deref(), Some("1"));
        assert_eq!(e.custom_event_name.as_deref(), Some("levelUp"));
        assert_eq!(
            e.custom_event_params,
            Some(vec![("level".to_string(), "2".to_string())])
        );
        assert_eq!(e.id_gender, Some(1));
        assert_eq!(e.age, Some(25));
        assert_eq!(e.event_timestamp, Some(1580213208));
        assert_eq!(e.instance_id.as_deref(), Some(ZEROS_36));
        assert_eq!(e.raw.len(), 7);
        assert_eq!(e.raw["age"], json!("25"));
    }

    #[test]
    fn the_documents_batch_examples_are_accepted_as_written() {
        let cases = [
            (Method::Registration, DOC_REGISTRATION_BATCH),
            (Method::Login, DOC_LOGIN_BATCH),
            (Method::CustomEvent, DOC_CUSTOM_EVENT_BATCH),
        ];
        for (method, body) in cases {
            let events = parse(method, true, body.as_bytes()).unwrap();
            assert_eq!(events.len(), 2, "{method}");
            assert_eq!(events[1].custom_user_id.as_deref(), Some("2222"));
            assert_eq!(events[1].lvid.as_deref(), Some(ZEROS_32));
        }
        let events = parse(Method::CustomEvent, true, DOC_CUSTOM_EVENT_BATCH.as_bytes()).unwrap();
        assert_eq!(
            events[0].custom_event_name.as_deref(),
            Some("messageReceived")
        );
    }

    /// The document's customRevenueBatch example omits `eventTimestamp`, which the customRevenue
    /// method lists as required (and the batch "is similar to customRevenue"). The rule wins over
    /// the example: the example is refused for exactly that field, and is accepted once each item
    /// carries a timestamp, keeping `total` as exact text.
    #[test]
    fn the_documents_revenue_batch_example_lacks_the_required_event_timestamp() {
        let err = parse(
            Method::CustomRevenue,
            true,
            DOC_CUSTOM_REVENUE_BATCH.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            bad_request(Some(0), Some("eventTimestamp"), "is required")
        );

        let mut items: Value = serde_json::from_str(DOC_CUSTOM_REVENUE_BATCH).unwrap();
        for item in items.as_array_mut().unwrap() {
            item["eventTimestamp"] = json!("1577191920");
        }
        let events = validate(Method::CustomRevenue, true, &items).unwrap();
        assert_eq!(events[0].total.as_deref(), Some("1.99"));
        assert_eq!(events[1].total.as_deref(), Some("10.99"));
        assert_eq!(events[1].currency.as_deref(), Some("USD"));
        assert_eq!(events[1].id_transaction.as_deref(), Some("order2"));
    }

    #[test]
    fn every_example_of_the_parameter_table_is_accepted_and_typed() {
        let body = json!({
            "eventTimestamp": "1577191920",
            "customUserId": "1234",
            "ipv4": "125.125.125.125",
            "ipv6": "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "idGender": "1",
            "age": "38",
            "connectionType": "1",
            "bluetoothEnabled": "2",
            "instanceId": ZEROS_36,
            "adTrackingEnabled": "0",
            "idfa": ZEROS_36,
            "iosVendorId": ZEROS_36,
            "gaid": ZEROS_36,
            "androidId": "0000000000000000",
            "lvid": ZEROS_32,
            "adBlocker": "0",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.87 Safari/537.36",
        });
        let e = validate(Method::Registration, false, &body)
            .unwrap()
            .remove(0);
        assert_eq!(e.event_timestamp, Some(1577191920));
        assert_eq!(e.custom_user_id.as_deref(), Some("1234"));
        assert_eq!(e.ipv4, Some(Ipv4Addr::new(125, 125, 125, 125)));
        assert_eq!(e.ipv6, "2001:db8:85a3::8a2e:370:7334".parse().ok());
        assert_eq!(
            (e.id_gender, e.age, e.connection_type, e.bluetooth_enabled),
            (Some(1), Some(38), Some(1), Some(2))
        );
        assert_eq!(e.instance_id.as_deref(), Some(ZEROS_36));
        assert_eq!(e.ad_tracking_enabled, Some(false));
        assert_eq!(e.idfa.as_deref(), Some(ZEROS_36));
        assert_eq!(e.ios_vendor_id.as_deref(), Some(ZEROS_36));
        assert_eq!(e.gaid.as_deref(), Some(ZEROS_36));
        assert_eq!(e.android_id.as_deref(), Some("0000000000000000"));
        assert_eq!(e.lvid.as_deref(), Some(ZEROS_32));
        assert_eq!(e.ad_blocker, Some(false));
        assert!(e.user_agent.unwrap().starts_with("Mozilla/5.0"));
        assert_eq!(e.raw.len(), 17);
    }

    /// The table's androidId example has 15 zeros while its rule says 16 symbols; the rule wins.
    #[test]
    fn the_documents_android_id_example_has_15_chars_and_is_refused() {
        let body = json!({"customUserId": "1", "androidId": "000000000000000"});
        let err = validate(Method::Registration, false, &body).unwrap_err();
        assert_eq!(
            err,
            bad_request(
                None,
                Some("androidId"),
                "must be exactly 16 characters, got 15"
            )
        );
    }

    // ---- field rules -------------------------------------------------------------------------

    /// A valid item of `method`.
    fn base(method: Method) -> Value {
        match method {
            Method::Registration | Method::Login => json!({"customUserId": "u1"}),
            Method::CustomEvent => json!({"customUserId": "u1", "customEventName": "levelUp"}),
            Method::CustomRevenue => json!({
                "customUserId": "u1", "eventTimestamp": 1577191920,
                "idTransaction": "order1", "currency": "USD", "total": 1.99
            }),
        }
    }

    /// `base(method)` with `field` set to `value`, or removed when `value` is `null`.
    fn with(method: Method, field: &str, value: &Value) -> Value {
        let mut item = base(method);
        let object = item.as_object_mut().unwrap();
        if value.is_null() {
            object.remove(field);
        } else {
            object.insert(field.to_string(), value.clone());
        }
        item
    }

    fn s(text: &str) -> Value {
        Value::String(text.to_string())
    }

    /// `n` two-byte characters: lengths count characters, not bytes.
    fn chars(n: usize) -> Value {
        s(&"é".repeat(n))
    }

    #[test]
    fn common_field_rules_valid_and_invalid() {
        // (field, value, accepted) on a registration item.
        #[rustfmt::skip]
        let cases: Vec<(&str, Value, bool)> = vec![
            ("eventTimestamp", json!(0), true),
            ("eventTimestamp", json!(4294967295u64), true),
            ("eventTimestamp", s("1577191920"), true),
            ("eventTimestamp", json!(1577191920.0), true),
            ("eventTimestamp", json!(4294967296u64), false),
            ("eventTimestamp", json!(-1), false),
            ("eventTimestamp", s("yesterday"), false),
            ("eventTimestamp", json!(1.5), false),
            ("eventTimestamp", json!(true), false),
            ("customUserId", json!(1234), true),
            ("customUserId", chars(1024), true),
            ("customUserId", chars(1025), false),
            ("customUserId", json!(["1"]), false),
            ("customUserId", json!(false), false),
            ("ipv4", s("125.125.125.125"), true),
            ("ipv4", s("125.125.125.1250"), false),
            ("ipv4", s("1.2.3"), false),
            ("ipv4", s("::1"), false),
            ("ipv4", json!(1), false),
            ("ipv6", s("2001:0db8:85a3:0000:0000:8a2e:0370:7334"), true),
            ("ipv6", s("::ffff:125.125.125.125"), true),
            ("ipv6", s("2001:0db8:85a3:0000:0000:8a2e:0370:7334:1"), false),
            ("ipv6", s("0000:0000:0000:0000:0000:0000:0000:0000:0000:1"), false),
            ("ipv6", s("125.125.125.125"), false),
            ("idGender", s("2"), true),
            ("idGender", json!(0), true),
            ("idGender", json!(3), false),
            ("idGender", s("man"), false),
            ("age", json!(128), true),
            ("age", s("0"), true),
            ("age", json!(129), false),
            ("age", json!(-1), false),
            ("connectionType", s("2"), true),
            ("connectionType", json!(3), false),
            ("bluetoothEnabled", s("2"), true),
            ("bluetoothEnabled", json!(-1), false),
            ("instanceId", s(ZEROS_36), true),
            ("instanceId", chars(35), false),
            ("instanceId", chars(37), false),
            ("adTrackingEnabled", s("1"), true),
            ("adTrackingEnabled", json!(0), true),
            ("adTrackingEnabled", json!(2), false),
            ("adTrackingEnabled", json!(true), false),
            ("idfa", chars(36), true),
            ("idfa", chars(32), false),
            ("iosVendorId", s(ZEROS_36), true),
            ("iosVendorId", s("x"), false),
            ("gaid", s(ZEROS_36), true),
            ("gaid", json!({}), false),
            ("androidId", s("0123456789abcdef"), true),
            ("androidId", s("0123456789abcdef0"), false),
            ("lvid", s(ZEROS_32), true),
            ("lvid", chars(31), false),
            ("adBlocker", s("1"), true),
            ("adBlocker", s("2"), false),
            ("userAgent", chars(2048), true),
            ("userAgent", chars(2049), false),
            ("someFutureField", json!({"any": ["thing"]}), true),
        ];
        for (field, value, accepted) in cases {
            let item = with(Method::Registration, field, &value);
            let result = validate(Method::Registration, false, &item);
            assert_eq!(result.is_ok(), accepted, "{field} = {value}: {result:?}");
            match result {
                Ok(events) => assert_eq!(events[0].raw.get(field), Some(&value)),
                Err(S2sError::BadRequest(invalid)) => {
                    assert_eq!(invalid.index, None);
                    assert_eq!(invalid.field, Some(field), "{invalid}");
                }
                Err(other) => panic!("{field} = {value}: {other:?}"),
            }
        }
    }

    #[test]
    fn method_rules_valid_and_invalid() {
        use Method::*;
        let long = "é".repeat(256);
        // (method, field, value (null = removed), accepted, field named in the failure)
        #[rustfmt::skip]
        let cases: Vec<(Method, &str, Value, bool, &str)> = vec![
            // registration / login: customUserId itself is required.
            (Registration, "customUserId", s("u1"), true, ""),
            (Registration, "customUserId", Value::Null, false, "customUserId"),
            (Registration, "customUserId", s(""), false, "customUserId"),
            (Registration, "customUserId", s("   "), false, "customUserId"),
            (Login, "customUserId", json!(42), true, ""),
            (Login, "customUserId", Value::Null, false, "customUserId"),
            (Login, "lvid", s(ZEROS_32), true, ""),
            // Fields of other methods are unknown fields here: kept in raw, not validated.
            (Login, "customEventName", json!({}), true, ""),
            (Registration, "total", s("free"), true, ""),
            // customEvent: name 1..=255, identifier rule, params.
            (CustomEvent, "customEventName", s("messageReceived"), true, ""),
            (CustomEvent, "customEventName", chars(255), true, ""),
            (CustomEvent, "customEventName", s(&long), false, "customEventName"),
            (CustomEvent, "customEventName", Value::Null, false, "customEventName"),
            (CustomEvent, "customEventName", s(""), false, "customEventName"),
            (CustomEvent, "customEventName", json!(["a"]), false, "customEventName"),
            (CustomEvent, "customUserId", Value::Null, false, "customUserId"),
            (CustomEvent, "customUserId", s(""), false, "customUserId"),
            (CustomEvent, "customEventParams", json!({"level": "2", "k": "v"}), true, ""),
            (CustomEvent, "customEventParams", json!({"level": 2}), true, ""),
            (CustomEvent, "customEventParams", json!({}), true, ""),
            (CustomEvent, "customEventParams", json!([]), true, ""),
            (CustomEvent, "customEventParams", json!({(long.clone()): "v"}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"": "v"}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"k": ""}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"k": long.clone()}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"k": null}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"k": true}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"k": {"a": "b"}}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!({"k": ["v"]}), false, "customEventParams"),
            (CustomEvent, "customEventParams", json!(["level", "2"]), false, "customEventParams"),
            (CustomEvent, "customEventParams", s("level=2"), false, "customEventParams"),
            // customRevenue: timestamp, transaction, currency, total, identifier rule.
            (CustomRevenue, "eventTimestamp", s("1577191920"), true, ""),
            (CustomRevenue, "eventTimestamp", json!(0), true, ""),
            (CustomRevenue, "eventTimestamp", Value::Null, false, "eventTimestamp"),
            (CustomRevenue, "idTransaction", json!(1234), true, ""),
            (CustomRevenue, "idTransaction", chars(255), true, ""),
            (CustomRevenue, "idTransaction", chars(256), false, "idTransaction"),
            (CustomRevenue, "idTransaction", Value::Null, false, "idTransaction"),
            (CustomRevenue, "currency", s("usd"), true, ""),
            (CustomRevenue, "currency", s("EUR"), true, ""),
            (CustomRevenue, "currency", s("US"), false, "currency"),
            (CustomRevenue, "currency", s("USDT"), false, "currency"),
            (CustomRevenue, "currency", s("840"), false, "currency"),
            (CustomRevenue, "currency", s("ÜSD"), false, "currency"),
            (CustomRevenue, "currency", Value::Null, false, "currency"),
            (CustomRevenue, "total", json!(0), true, ""),
            (CustomRevenue, "total", s("10.990"), true, ""),
            (CustomRevenue, "total", json!(-0.01), false, "total"),
            (CustomRevenue, "total", s("-1"), false, "total"),
            (CustomRevenue, "total", s("free"), false, "total"),
            (CustomRevenue, "total", s(""), false, "total"),
            (CustomRevenue, "total", s("NaN"), false, "total"),
            (CustomRevenue, "total", s(".5"), false, "total"),
            (CustomRevenue, "total", s("1e999"), false, "total"),
            (CustomRevenue, "total", json!(true), false, "total"),
            (CustomRevenue, "total", Value::Null, false, "total"),
            (CustomRevenue, "customUserId", Value::Null, false, "customUserId"),
            (CustomRevenue, "customUserId", s(" "), false, "customUserId"),
        ];
        for (method, field, value, accepted, failed_field) in cases {
            let item = with(method, field, &value);
            let result = validate(method, false, &item);
            let label = format!("{method}: {field} = {value}: {result:?}");
            assert_eq!(result.is_ok(), accepted, "{label}");
            if let Err(error) = result {
                let S2sError::BadRequest(invalid) = error else {
                    panic!("{label}")
                };
                assert_eq!(invalid.field, Some(failed_field), "{label}");
            }
        }
    }

    #[test]
    fn any_device_identifier_satisfies_the_identifier_rule() {
        let identifiers = [
            ("instanceId", s(ZEROS_36)),
            ("lvid", s(ZEROS_32)),
            ("gaid", s(ZEROS_36)),
            ("androidId", s("0000000000000000")),
            ("idfa", s(ZEROS_36)),
            ("iosVendorId", s(ZEROS_36)),
        ];
        for method in [Method::CustomEvent, Method::CustomRevenue] {
            for (field, value) in &identifiers {
                let mut item = with(method, "customUserId", &Value::Null);
                item[*field] = value.clone();
                assert!(validate(method, false, &item).is_ok(), "{method} {field}");
            }
        }
        // A device identifier is not enough for registration and login.
        for method in [Method::Registration, Method::Login] {
            for (field, value) in &identifiers {
                let item = json!({ *field: value });
                assert!(validate(method, false, &item).is_err(), "{method} {field}");
            }
        }
    }

    #[test]
    fn totals_are_kept_as_exact_plain_decimal_text() {
        #[rustfmt::skip]
        let cases: &[(Value, &str)] = &[
            (json!(1.99), "1.99"),
            (s("1.99"), "1.99"),
            (s(" 1.99 "), "1.99"),
            (json!(10.99), "10.99"),
            (s("10.990"), "10.990"),
            (json!(0), "0"),
            (json!(100), "100"),
            (s("007.50"), "7.50"),
            (json!(1e-7), "0.0000001"),
            (s("1.5E2"), "150"),
            (s("1.25e1"), "12.5"),
            (s("12e-1"), "1.2"),
            (s("123456789012345678901234567890.01"), "123456789012345678901234567890.01"),
        ];
        for (total, want) in cases {
            let item = with(Method::CustomRevenue, "total", total);
            let events = validate(Method::CustomRevenue, false, &item).unwrap();
            assert_eq!(events[0].total.as_deref(), Some(*want), "{total}");
        }
        for refused in [
            "+1", "5.", ".5", "1.2.3", "1e", "0x10", "-0", "1e65", "inf", "",
        ] {
            assert!(plain_decimal(refused).is_err(), "{refused}");
        }
    }

    // ---- body shape --------------------------------------------------------------------------

    #[test]
    fn body_shape_rules() {
        let item = base(Method::Login);
        let bad = json!({"customUserId": ""});
        // (batch, body, Ok(number of events) or Err(index of the failing item))
        #[rustfmt::skip]
        let cases: Vec<(bool, Value, Result<usize, Option<usize>>)> = vec![
            (false, item.clone(), Ok(1)),
            (false, json!([item.clone()]), Err(None)),
            (false, json!("customUserId"), Err(None)),
            (false, Value::Null, Err(None)),
            (true, json!([item.clone()]), Ok(1)),
            (true, Value::Array(vec![item.clone(); MAX_BATCH]), Ok(MAX_BATCH)),
            (true, Value::Array(vec![item.clone(); MAX_BATCH + 1]), Err(None)),
            (true, json!([]), Err(None)),
            (true, item.clone(), Err(None)),
            (true, json!([item.clone(), 1]), Err(Some(1))),
            (true, json!([item.clone(), [item.clone()]]), Err(Some(1))),
            (true, json!([item.clone(), item.clone(), bad]), Err(Some(2))),
        ];
        for (batch, body, want) in cases {
            let got = validate(Method::Login, batch, &body);
            match (&got, want) {
                (Ok(events), Ok(n)) => assert_eq!(events.len(), n),
                (Err(S2sError::BadRequest(invalid)), Err(index)) => {
                    assert_eq!(invalid.index, index, "{invalid}")
                }
                _ => panic!("batch={batch} {body}: {got:?}"),
            }
        }
    }

    #[test]
    fn empty_and_malformed_bodies() {
        #[rustfmt::skip]
        let cases: &[(&[u8], &str)] = &[
            (b"", "Empty post data"),
            (b" \r\n\t ", "Empty post data"),
            (b"\xEF\xBB\xBF", "Empty post data"),
            (b"{\"customUserId\": ", "Bad json"),
            (b"{\"customUserId\": \"1\"} x", "Bad json"),
            (b"\xff\xfe", "Bad json"),
            (b"customUserId=1", "Bad json"),
            // The document's customEventParams fragment ends with a comma: not JSON.
            (br#"{"customUserId": "1", "customEventParams":{ "name1":"value1", "name2":"value2", }}"#, "Bad json"),
            (b"{\"customUserId\": 1e400}", "Bad json"),
            (b"{}", "Bad Request"),
            (b"\xEF\xBB\xBF{\"customUserId\": \"1\"}", ""),
        ];
        for (body, want) in cases {
            let got = parse(Method::Registration, false, body);
            let text = got.as_ref().map_or_else(S2sError::error_text, |_| "");
            assert_eq!(text, *want, "{:?}: {got:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn failures_name_item_field_and_rule() {
        let body = json!([base(Method::Login), {"customUserId": "u", "age": "200"}]);
        let err = validate(Method::Login, true, &body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "item 1: age must be from 0 to 128, got 200"
        );
        assert_eq!(err.error_text(), "Bad Request");
    }

    #[test]
    fn parse_is_deterministic() {
        let a = parse(Method::CustomEvent, false, DOC_EXAMPLE.as_bytes()).unwrap();
        let b = parse(Method::CustomEvent, false, DOC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(a, b);
    }

    // ---- methods and sources -----------------------------------------------------------------

    #[test]
    fn path_segments_and_sources() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<(Method, bool)>)] = &[
            ("registration", Some((Method::Registration, false))),
            ("registrationBatch", Some((Method::Registration, true))),
            ("login", Some((Method::Login, false))),
            ("loginBatch", Some((Method::Login, true))),
            ("customEvent", Some((Method::CustomEvent, false))),
            ("customEventBatch", Some((Method::CustomEvent, true))),
            ("customRevenue", Some((Method::CustomRevenue, false))),
            ("customRevenueBatch", Some((Method::CustomRevenue, true))),
            ("customevent", None),
            ("CustomEvent", None),
            ("customEventbatch", None),
            ("customEventBatchBatch", None),
            ("Batch", None),
            ("", None),
            ("unknownMethod", None),
        ];
        for (segment, want) in cases {
            assert_eq!(Method::from_path_segment(segment), *want, "{segment}");
        }
        let s2s: Vec<_> = Source::ALL
            .iter()
            .filter(|s| s.family() == tributary_schemas::Family::S2s)
            .collect();
        assert_eq!(s2s.len(), 8);
        for source in s2s {
            let (method, batch) = Method::from_source(*source).unwrap();
            assert_eq!(method.source(batch), *source);
            let segment = source.as_str().trim_start_matches("s2s.");
            assert_eq!(Method::from_path_segment(segment), Some((method, batch)));
        }
        assert_eq!(Method::from_source(Source::MobileBatch), None);
    }

    // ---- accept ------------------------------------------------------------------------------

    // Returns what `accept` returns.
    #[allow(clippy::result_large_err)]
    fn call(
        method: hyper::Method,
        path: &str,
        query: Option<&str>,
        authorization: &[&str],
        body: &str,
    ) -> Result<Accepted, HttpResponse> {
        let credentials = Credentials::from_config(&TenantsConfig::default()).unwrap();
        let ctx = AcceptContext {
            credentials: &credentials,
            received_at: 0,
            batch_id: "batch",
        };
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        let req = RequestParts {
            method: &method,
            path,
            query,
            headers: &headers,
            // What curl -d sends, as in the document's example; not checked.
            content_type: Some("application/x-www-form-urlencoded".into()),
        };
        accept(&ctx, &req, body.as_bytes())
    }

    fn body_of(response: HttpResponse) -> String {
        let bytes = futures::executor::block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn accept_answers_the_documents_ok_and_publishes_the_endpoint() {
        #[rustfmt::skip]
        let cases = [
            ("/v1/customEvent/", DOC_EXAMPLE, Source::S2sCustomEvent, 1),
            ("/v1/customEvent", DOC_EXAMPLE, Source::S2sCustomEvent, 1),
            ("/v1/registrationBatch/", DOC_REGISTRATION_BATCH, Source::S2sRegistrationBatch, 2),
            ("/v1/loginBatch/", DOC_LOGIN_BATCH, Source::S2sLoginBatch, 2),
            ("/v1/customEventBatch/", DOC_CUSTOM_EVENT_BATCH, Source::S2sCustomEventBatch, 2),
        ];
        for (path, body, source, events) in cases {
            let Ok(accepted) = call(hyper::Method::POST, path, Some("idApp=666"), &[TOKEN], body)
            else {
                panic!("{path} refused")
            };
            assert_eq!(accepted.source, source);
            assert_eq!(accepted.tenant, "default");
            assert_eq!(accepted.events, events);
            assert_eq!(
                accepted.attributes,
                HashMap::from([("idApp".to_string(), "666".to_string())])
            );
            assert_eq!(accepted.reply.status(), StatusCode::OK);
            assert_eq!(
                accepted.reply.headers()["content-type"],
                "application/json; charset=utf-8"
            );
            assert_eq!(body_of(accepted.reply), r#"{"message":"OK"}"#);
        }
    }

    /// HTTP method, path, query, `Authorization` values, body; expected status and body.
    type AcceptCase<'a> = (
        hyper::Method,
        &'a str,
        Option<&'a str>,
        Vec<&'a str>,
        &'a str,
        u16,
        &'a str,
    );

    #[test]
    fn accept_checks_in_order_and_answers_the_documents_errors() {
        use hyper::Method as Http;
        let bearer = format!("Bearer {TOKEN}");
        let lower_bearer = format!("bearer {TOKEN}");
        let padded = format!("  {TOKEN} ");
        let id = Some("idApp=666");
        let ok = DOC_EXAMPLE;
        let path = "/v1/customEvent/";
        const OK: &str = r#"{"message":"OK"}"#;
        const BAD: &str = r#"{"error":"Bad Request"}"#;
        const FORBIDDEN: &str = r#"{"error":"Forbidden"}"#;
        const VERSION: &str = r#"{"error":"Bad api version"}"#;
        const NOT_FOUND: &str = r#"{"error":"Method not found"}"#;
        const NOT_ALLOWED: &str = r#"{"error":"Method Not Allowed"}"#;
        #[rustfmt::skip]
        let cases: Vec<AcceptCase> = vec![
            (Http::POST, path, id, vec![TOKEN], ok, 200, OK),
            (Http::POST, path, id, vec![&bearer], ok, 200, OK),
            (Http::POST, path, id, vec![&lower_bearer], ok, 200, OK),
            (Http::POST, path, id, vec![&padded], ok, 200, OK),
            (Http::POST, path, Some("x=1&idApp=0666"), vec![TOKEN], ok, 200, OK),
            // 1. version
            (Http::POST, "/v2/customEvent/", id, vec![TOKEN], ok, 400, VERSION),
            (Http::POST, "/V1/customEvent/", id, vec![TOKEN], ok, 400, VERSION),
            (Http::GET, "/v2/unknownMethod/", None, vec![], "", 400, VERSION),
            // 2. method
            (Http::POST, "/v1/unknownMethod/", id, vec![TOKEN], ok, 404, NOT_FOUND),
            (Http::POST, "/v1/customevent/", id, vec![TOKEN], ok, 404, NOT_FOUND),
            (Http::GET, "/v1/unknownMethod/", None, vec![], "", 404, NOT_FOUND),
            // 3. HTTP method
            (Http::GET, path, id, vec![TOKEN], "", 405, NOT_ALLOWED),
            (Http::PUT, path, id, vec![TOKEN], ok, 405, NOT_ALLOWED),
            (Http::GET, path, None, vec![], "", 405, NOT_ALLOWED),
            // 4. idApp
            (Http::POST, path, None, vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp="), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp=0"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp=-666"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp=%2B666"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp=XXX"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp=99999999999999999999"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idApp=666&idApp=666"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, Some("idapp=666"), vec![TOKEN], ok, 400, BAD),
            (Http::POST, path, None, vec![], "", 400, BAD),
            // 5. Authorization
            (Http::POST, path, id, vec![], ok, 403, FORBIDDEN),
            (Http::POST, path, id, vec!["skjdfASFasf03asdffar3asJHB32R"], ok, 403, FORBIDDEN),
            (Http::POST, path, id, vec!["Bearer "], ok, 403, FORBIDDEN),
            (Http::POST, path, id, vec![TOKEN, TOKEN], ok, 403, FORBIDDEN),
            (Http::POST, path, Some("idApp=667"), vec![TOKEN], ok, 403, FORBIDDEN),
            (Http::POST, path, id, vec![], "", 403, FORBIDDEN),
            // 6. empty body
            (Http::POST, path, id, vec![TOKEN], "", 400, r#"{"error":"Empty post data"}"#),
            (Http::POST, path, id, vec![TOKEN], " \n", 400, r#"{"error":"Empty post data"}"#),
            // 7. JSON
            (Http::POST, path, id, vec![TOKEN], r#"{"customUserId": "#, 400, r#"{"error":"Bad json"}"#),
            (Http::POST, path, id, vec![TOKEN], "customUserId=1", 400, r#"{"error":"Bad json"}"#),
            // 8. validation
            (Http::POST, path, id, vec![TOKEN], r#"{"customUserId": "1"}"#, 400, BAD),
            (Http::POST, "/v1/customEventBatch/", id, vec![TOKEN], ok, 400, BAD),
            (Http::POST, "/v1/customRevenueBatch/", id, vec![TOKEN], DOC_CUSTOM_REVENUE_BATCH, 400, BAD),
        ];
        for (http, path, query, auth, body, status, want) in cases {
            let label = format!("{http} {path} {query:?} {auth:?} {body:?}");
            let response = match call(http, path, query, &auth, body) {
                Ok(accepted) => accepted.reply,
                Err(response) => response,
            };
            assert_eq!(response.status().as_u16(), status, "{label}");
            assert_eq!(
                response.headers().get("allow").is_some(),
                status == 405,
                "{label}"
            );
            if status == 405 {
                assert_eq!(response.headers()["allow"], "POST", "{label}");
            }
            assert_eq!(body_of(response), want, "{label}");
        }
    }

    #[test]
    fn transport_errors_in_this_familys_format() {
        #[rustfmt::skip]
        let cases = [
            (TransportError::NotFound, 404, r#"{"error":"Method not found"}"#),
            (TransportError::MethodNotAllowed, 405, r#"{"error":"Method Not Allowed"}"#),
            (TransportError::PayloadTooLarge { limit: BODY_LIMIT }, 413, r#"{"error":"Payload Too Large"}"#),
            (TransportError::Timeout, 408, r#"{"error":"Request Timeout"}"#),
            (TransportError::BadContentEncoding("br".into()), 400, r#"{"error":"Bad Request"}"#),
            (TransportError::Unavailable { retry_after_secs: 5 }, 503, r#"{"error":"Service Unavailable"}"#),
            (TransportError::Internal, 500, r#"{"error":"Internal Server Error"}"#),
        ];
        for (error, status, want) in cases {
            let response = transport_error(&error);
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            match error {
                TransportError::MethodNotAllowed => {
                    assert_eq!(response.headers()["allow"], "POST")
                }
                TransportError::Unavailable { .. } => {
                    assert_eq!(response.headers()["retry-after"], "5")
                }
                _ => {}
            }
            assert_eq!(body_of(response), want, "{error:?}");
        }
        assert_eq!(BODY_LIMIT, 10 * 1024);
    }
}
