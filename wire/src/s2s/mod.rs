//! Seed 002: the myTracker-style server-to-server import API,
//! `POST /v1/<method>/?idApp=N` with `Authorization: <token>` and a JSON body of at most 10 KB.
//! Methods: `registration`, `login`, `customEvent`, `customRevenue` (one JSON object) and their
//! `...Batch` forms (a JSON array of 1 to 20 such objects). Every answer is a small JSON object:
//! `{"message":"OK"}` on success, `{"error":"..."}` with the document's texts otherwise
//! ([`S2sError::error_text`]).
//!
//! The gateway checks the request (version, method, HTTP method, `idApp`, token) before the
//! body; see its `families::s2s`. The body rules are these:
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
//! * Common: `eventTimestamp` 0..=4294967295 epoch seconds, a fraction allowed
//!   (`1659386157.403862`), or any other form of [`crate::time`] (ISO 8601); `customUserId` at most 1024 chars; `ipv4` at most
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
//!   `"0.0000001"`; a sign, `.5` and `5.` are refused). The gateway refuses more
//!   ([`check_storable`]): a code that names no currency, and a `total` beyond what
//!   `revenue_amount` Decimal(38, 9) stores exactly.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};
use tributary_schemas::Source;

use crate::fields;
use crate::time::{self, ClientTime};

#[cfg(test)]
mod tests;

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
    /// `eventTimestamp`: epoch seconds 0..=4294967295 with any fraction, or ISO 8601
    /// ([`crate::time`]), read to the millisecond.
    pub event_timestamp: Option<ClientTime>,
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

/// Document 002's wire format; see [`crate::WireFormat`]. The variant is the method and
/// whether it is the `...Batch` form.
pub struct S2s;

impl crate::WireFormat for S2s {
    type Variant = (Method, bool);
    type Event = S2sEvent;
    type Error = S2sError;
    const BODY_LIMIT: usize = BODY_LIMIT;

    fn parse((method, batch): (Method, bool), body: &[u8]) -> Result<Vec<S2sEvent>, S2sError> {
        parse(method, batch, body)
    }
}

/// Parse and validate a request body of `method` (`batch` for the `...Batch` endpoint). Pure and
/// deterministic: the gateway uses it to accept or refuse, the enricher to split an accepted
/// batch into events, so both always agree.
pub fn parse(method: Method, batch: bool, body: &[u8]) -> Result<Vec<S2sEvent>, S2sError> {
    let body = crate::without_bom(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(S2sError::Empty);
    }
    let document = crate::parse_json(body).map_err(S2sError::BadJson)?;
    validate(method, batch, &document)
}

/// `total`'s decimal places, trailing zeros aside: the scale of `revenue_amount`
/// Decimal(38, 9).
const MAX_TOTAL_DECIMALS: usize = 9;
/// `total`'s digits before the point: with 9 after, 28 digits in all, which the enricher's
/// exact decimal (`rust_decimal`, 96 bits) holds.
const MAX_TOTAL_INTEGER_DIGITS: usize = 19;

/// What the gateway refuses beyond [`parse`]: a `currency` that names no ISO 4217 currency
/// (`ABC`, `XXX`, `XTS`; `crate::money::normalize_currency`), or a `total` that
/// `revenue_amount` Decimal(38, 9) and the enricher's exact decimal cannot hold: more than 9
/// decimal places (trailing zeros aside), or 10^19 and above. The enricher refuses such an
/// event alone and dead-letters it; answering 400 instead means that no accepted request
/// loses an event later. [`parse`] stays as lenient as before, so a record an older gateway
/// accepted still splits event by event. `batch`: whether `events` came from a `...Batch`
/// endpoint (the error then names the item).
pub fn check_storable(events: &[S2sEvent], batch: bool) -> Result<(), S2sError> {
    for (i, event) in events.iter().enumerate() {
        let index = batch.then_some(i);
        if let Some(code) = &event.currency {
            if let Err(error) = crate::money::normalize_currency(code) {
                return Err(bad_request(
                    index,
                    Some("currency"),
                    format!("must be the ISO 4217 code of a currency such as USD: {error}"),
                ));
            }
        }
        if let Some(total) = &event.total {
            // `total` is plain decimal text here (`plain_decimal`).
            let (int, frac) = total.split_once('.').unwrap_or((total, ""));
            if frac.trim_end_matches('0').len() > MAX_TOTAL_DECIMALS {
                return Err(bad_request(
                    index,
                    Some("total"),
                    format!("must have at most {MAX_TOTAL_DECIMALS} decimal places"),
                ));
            }
            if int.trim_start_matches('0').len() > MAX_TOTAL_INTEGER_DIGITS {
                return Err(bad_request(
                    index,
                    Some("total"),
                    format!("must be below 10^{MAX_TOTAL_INTEGER_DIGITS}"),
                ));
            }
        }
    }
    Ok(())
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

    /// The event's time: the document's "Number from 0 to 4294967295" (epoch seconds, a
    /// fraction allowed: `1659386157.403862`), as a JSON number or numeric string, or an ISO
    /// 8601 string; empty counts as absent.
    fn event_time(&self, field: &'static str) -> Result<Option<ClientTime>, S2sError> {
        let value = match self.object.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(value) => value,
        };
        let epoch = match value {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => Some(s.trim().to_string()),
            _ => None,
        };
        if let Some(epoch) = epoch {
            let seconds: f64 = epoch.parse().unwrap_or(f64::NAN);
            if !(0.0..=f64::from(u32::MAX)).contains(&seconds) {
                return Err(self.fail(
                    field,
                    format!("must be from 0 to 4294967295 (epoch seconds), got {epoch}"),
                ));
            }
        }
        time::read_json(value).map_err(|problem| self.fail(field, problem.to_string()))
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
        event_timestamp: item.event_time("eventTimestamp")?,
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
