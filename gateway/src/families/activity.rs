//! Seed 003, the Netcore-style "Add Activity API": `POST /v1/activity/upload` with
//! `Authorization: Bearer API_KEY` and a JSON array of 1 to 1000 activities (a single activity
//! object is taken as a list of one). `200 {"status":"success"}` when the whole request is
//! stored; otherwise nothing of it is published and the error is
//! `{"status":"fail","error":{"code":<status>,"message":<sentence>}}`; a 400 for bad
//! activities adds `"errors"`, every problem found (at most [`MAX_LISTED_PROBLEMS`]).
//!
//! Required per activity (names are case-sensitive; `null`, an empty or all-blank string
//! count as absent, and an absent parameter is a "Missing Parameter"):
//! - `activity_name`: a string.
//! - `asset_id`: a string. **Decision**: the table says required, yet the document's own bulk
//!   sample gives it only on the first of three activities. So `asset_id` is required on the
//!   *first* activity of a request, and a later activity without one inherits the first
//!   activity's (`Activity::asset_id_inherited`). A later activity may name another asset.
//! - `timestamp`: an ISO-8601 string `YYYY-MM-DDTHH:MM:SS`, optional fraction of 1 to 9
//!   digits, then `Z`, an offset `±HH:MM`, or nothing. Zone-less timestamps (as in both
//!   samples) are read as UTC, and `Activity::timestamp_has_zone` says so. Nothing else (no
//!   epoch numbers, no date-only, no space instead of `T`). Age is not checked: the document
//!   stores events older than 24 h (they only trigger no journey); the future is not
//!   checked either, so parsing stays pure.
//! - `identity` or `annonid`, at least one: `identity` a string or an integer (the document's
//!   "String/Integer"), `annonid` a string. Both may be given.
//! - `activity_source`: `"web"` or `"app"`, case-insensitive, stored lowercased.
//! - `activity_params`: an object (`{}` is accepted). **Decision**: an array directly in it
//!   (the "Product Array", `items`) must not be empty: Netcore silently drops such events
//!   ("Do Not Pass an Empty Array"), we refuse them with a 400 instead.
//!
//! String parameters take JSON strings; integers are taken as their decimal text (an integer
//! `identity` is the documented case, the others get the same leniency). Fractions, booleans,
//! arrays and objects are refused. Unknown parameters are ignored (kept in `Activity::raw`
//! and in the published body).
//!
//! Errors: 401 for a missing or malformed `Authorization` or an unknown key (with
//! `WWW-Authenticate: Bearer`), checked before the body is read as JSON; 415 for a
//! non-JSON `Content-Type` (absent is fine); 400 for an empty body, malformed JSON (serde's
//! message with line and column), a body that is neither array nor object, an empty list
//! ("never silently accepted"), more than 1000 activities, or invalid activities, named in
//! the document's style with a 1-based activity number: `Missing Parameter - Activity Name
//! (activity 2)`. The transport errors (404, 405, 408, 413, 500, 503) use the same shape.
//!
//! Both of the document's samples are invalid JSON as written (see the tests): the first has
//! unquoted `Purchase` and `CUSTOMER_ID`, the bulk one lacks the closing `}` of its second
//! and third activities. Both are refused with 400 naming line and column; repaired, both
//! are accepted.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use hyper::StatusCode;
use serde_json::{Map, Value};
use tributary_schemas::Source;

use super::{json_response, AcceptContext, Accepted, HttpResponse, RequestParts, TransportError};

/// Largest request body accepted (as sent, before gzip inflation): 1000 activities with
/// product arrays fit easily.
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Most activities one request may carry (the document's "Max:1000").
pub const MAX_ACTIVITIES: usize = 1000;
/// Most problems listed in a 400's `errors`.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// `activity_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivitySource {
    Web,
    App,
}

impl ActivitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivitySource::Web => "web",
            ActivitySource::App => "app",
        }
    }

    /// Case-insensitive, surrounding blanks ignored.
    pub fn parse(text: &str) -> Option<ActivitySource> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("web") {
            Some(ActivitySource::Web)
        } else if t.eq_ignore_ascii_case("app") {
            Some(ActivitySource::App)
        } else {
            None
        }
    }
}

/// One validated activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub activity_name: String,
    /// As sent, or inherited from the first activity of the request.
    pub asset_id: String,
    pub asset_id_inherited: bool,
    /// `timestamp` exactly as sent.
    pub timestamp_raw: String,
    /// The instant; a zone-less timestamp is read as UTC (offset `+00:00`).
    pub timestamp: DateTime<FixedOffset>,
    /// Whether `timestamp` carried `Z` or an offset.
    pub timestamp_has_zone: bool,
    /// Integers as their decimal text.
    pub identity: Option<String>,
    pub annonid: Option<String>,
    pub activity_source: ActivitySource,
    pub activity_params: Map<String, Value>,
    /// The activity exactly as sent, unknown parameters included.
    pub raw: Map<String, Value>,
}

impl Activity {
    /// The instant in UTC.
    pub fn timestamp_utc(&self) -> DateTime<Utc> {
        self.timestamp.with_timezone(&Utc)
    }
}

/// A parameter named in an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parameter {
    /// The activity as a whole (not an object).
    Activity,
    ActivityName,
    AssetId,
    Timestamp,
    Identity,
    Annonid,
    /// Neither `identity` nor `annonid` was given.
    IdentityOrAnnonid,
    ActivitySource,
    ActivityParams,
}

impl Parameter {
    /// The JSON name.
    pub fn key(self) -> &'static str {
        match self {
            Parameter::Activity => "activity",
            Parameter::ActivityName => "activity_name",
            Parameter::AssetId => "asset_id",
            Parameter::Timestamp => "timestamp",
            Parameter::Identity => "identity",
            Parameter::Annonid => "annonid",
            Parameter::IdentityOrAnnonid => "identity",
            Parameter::ActivitySource => "activity_source",
            Parameter::ActivityParams => "activity_params",
        }
    }

    /// The name in messages, in the document's style (`Activity Name`).
    pub fn label(self) -> &'static str {
        match self {
            Parameter::Activity => "Activity",
            Parameter::ActivityName => "Activity Name",
            Parameter::AssetId => "Asset ID",
            Parameter::Timestamp => "Timestamp",
            Parameter::Identity => "Identity",
            Parameter::Annonid => "Annonid",
            Parameter::IdentityOrAnnonid => "Identity or Annonid",
            Parameter::ActivitySource => "Activity Source",
            Parameter::ActivityParams => "Activity Params",
        }
    }
}

/// What is wrong with a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    Missing,
    Invalid(String),
}

/// One problem of one activity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Problem {
    /// 1-based position of the activity in the request.
    pub activity: usize,
    pub parameter: Parameter,
    pub kind: ProblemKind,
}

impl Problem {
    fn describe(&self) -> String {
        let (n, label) = (self.activity, self.parameter.label());
        match &self.kind {
            ProblemKind::Missing => format!("Missing Parameter - {label} (activity {n})"),
            ProblemKind::Invalid(why) => {
                format!("Invalid Parameter - {label} (activity {n}): {why}")
            }
        }
    }
}

/// Why a request body was refused (always 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivityError {
    #[error("Bad Request - Empty Body: send a JSON array of 1 to {MAX_ACTIVITIES} activities")]
    EmptyBody,
    #[error("Bad Request - Invalid JSON: {0}")]
    Json(String),
    #[error("Bad Request - the body must be a JSON array of activities or one activity object")]
    NotAnArrayOrObject,
    #[error("Bad Request - Empty Activity List: send 1 to {MAX_ACTIVITIES} activities")]
    EmptyList,
    #[error("Bad Request - Too Many Activities: {0} sent, at most {MAX_ACTIVITIES} per request")]
    TooMany(usize),
    #[error("{}", invalid_summary(.0))]
    Invalid(Vec<Problem>),
}

fn invalid_summary(problems: &[Problem]) -> String {
    match problems {
        [] => "Bad Request".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

impl ActivityError {
    /// Every problem of every activity (empty for problems with the body as a whole).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ActivityError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

/// Parse and validate a request body. Used by the gateway (to accept or reject) and by the
/// enricher (to split an accepted batch), so both always agree.
pub fn parse(body: &[u8]) -> Result<Vec<Activity>, ActivityError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ActivityError::EmptyBody);
    }
    let document: Value =
        serde_json::from_slice(body).map_err(|e| ActivityError::Json(e.to_string()))?;
    validate(document)
}

/// Validate a parsed body: an array of activities, or one activity object. The document is
/// taken by value so each activity's object moves into its `raw` uncopied.
pub fn validate(document: Value) -> Result<Vec<Activity>, ActivityError> {
    let activities: Vec<Value> = match document {
        Value::Array(list) => list,
        object @ Value::Object(_) => vec![object],
        _ => return Err(ActivityError::NotAnArrayOrObject),
    };
    if activities.is_empty() {
        return Err(ActivityError::EmptyList);
    }
    if activities.len() > MAX_ACTIVITIES {
        return Err(ActivityError::TooMany(activities.len()));
    }
    // The first activity's asset_id is the request's default (see the module doc).
    let default_asset = activities[0]
        .as_object()
        .and_then(|first| text(first.get("asset_id")).ok().flatten());
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(activities.len());
    for (index, activity) in activities.into_iter().enumerate() {
        match validate_activity(index + 1, activity, default_asset.as_deref()) {
            Ok(activity) => parsed.push(activity),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(ActivityError::Invalid(problems))
    }
}

/// A string parameter: strings as sent, integers as their text; blank counts as absent.
fn text(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(_) => Err("must be a string".into()),
    }
}

/// Collects every problem of one activity.
struct Checker<'a> {
    activity: usize,
    object: &'a Map<String, Value>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn fail(&mut self, parameter: Parameter, kind: ProblemKind) {
        self.problems.push(Problem {
            activity: self.activity,
            parameter,
            kind,
        });
    }

    fn invalid(&mut self, parameter: Parameter, why: impl Into<String>) {
        self.fail(parameter, ProblemKind::Invalid(why.into()));
    }

    /// A string parameter; a refused value is recorded and read as absent.
    fn optional(&mut self, parameter: Parameter) -> Result<Option<String>, ()> {
        text(self.object.get(parameter.key())).map_err(|why| self.invalid(parameter, why))
    }

    fn required(&mut self, parameter: Parameter) -> String {
        match self.optional(parameter) {
            Ok(Some(value)) => value,
            Ok(None) => {
                self.fail(parameter, ProblemKind::Missing);
                String::new()
            }
            Err(()) => String::new(),
        }
    }
}

fn validate_activity(
    number: usize,
    value: Value,
    default_asset: Option<&str>,
) -> Result<Activity, Vec<Problem>> {
    let Value::Object(object) = value else {
        return Err(vec![Problem {
            activity: number,
            parameter: Parameter::Activity,
            kind: ProblemKind::Invalid("each activity must be a JSON object".into()),
        }]);
    };
    let mut c = Checker {
        activity: number,
        object: &object,
        problems: Vec::new(),
    };
    let activity_name = c.required(Parameter::ActivityName);

    let (asset_id, asset_id_inherited) = match c.optional(Parameter::AssetId) {
        Ok(Some(asset)) => (asset, false),
        // Not the first activity: inherit. With no default the first activity's asset_id is
        // missing or invalid, and that is reported there, once.
        Ok(None) if number > 1 => (default_asset.unwrap_or_default().to_string(), true),
        Ok(None) => {
            c.fail(Parameter::AssetId, ProblemKind::Missing);
            (String::new(), false)
        }
        Err(()) => (String::new(), false),
    };

    let timestamp_raw = match object.get("timestamp") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            c.fail(Parameter::Timestamp, ProblemKind::Missing);
            None
        }
        Some(other) => {
            c.invalid(
                Parameter::Timestamp,
                format!(
                    "must be an ISO-8601 string like 2021-12-29T12:06:28Z, got {}",
                    json_type(other)
                ),
            );
            None
        }
    };
    let timestamp = timestamp_raw.as_deref().and_then(|raw| {
        parse_timestamp(raw)
            .map_err(|why| c.invalid(Parameter::Timestamp, why))
            .ok()
    });

    let identity = text(object.get("identity"))
        .map_err(|_| c.invalid(Parameter::Identity, "must be a string or an integer"));
    let annonid = c.optional(Parameter::Annonid);
    if matches!((&identity, &annonid), (Ok(None), Ok(None))) {
        c.fail(Parameter::IdentityOrAnnonid, ProblemKind::Missing);
    }

    let activity_source = match object.get("activity_source") {
        None | Some(Value::Null) => {
            c.fail(Parameter::ActivitySource, ProblemKind::Missing);
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            c.fail(Parameter::ActivitySource, ProblemKind::Missing);
            None
        }
        Some(Value::String(s)) => ActivitySource::parse(s).or_else(|| {
            c.invalid(
                Parameter::ActivitySource,
                format!("must be \"web\" or \"app\", got {}", shown(s)),
            );
            None
        }),
        Some(other) => {
            c.invalid(
                Parameter::ActivitySource,
                format!("must be \"web\" or \"app\", got {}", json_type(other)),
            );
            None
        }
    };

    let activity_params = match object.get("activity_params") {
        None | Some(Value::Null) => {
            c.fail(Parameter::ActivityParams, ProblemKind::Missing);
            None
        }
        Some(Value::Object(params)) => {
            let empty: Vec<&str> = params
                .iter()
                .filter(|(_, v)| v.as_array().is_some_and(Vec::is_empty))
                .map(|(k, _)| k.as_str())
                .collect();
            for key in &empty {
                c.invalid(
                    Parameter::ActivityParams,
                    format!("{key:?} must not be an empty array (Do Not Pass an Empty Array)"),
                );
            }
            empty.is_empty().then(|| params.clone())
        }
        Some(_) => {
            c.invalid(Parameter::ActivityParams, "must be an object");
            None
        }
    };

    let problems = c.problems;
    match (
        problems.is_empty(),
        timestamp,
        activity_source,
        activity_params,
    ) {
        (true, Some((timestamp, timestamp_has_zone)), Some(activity_source), Some(params)) => {
            Ok(Activity {
                activity_name,
                asset_id,
                asset_id_inherited,
                timestamp_raw: timestamp_raw.unwrap_or_default(),
                timestamp,
                timestamp_has_zone,
                identity: identity.ok().flatten(),
                annonid: annonid.ok().flatten(),
                activity_source,
                activity_params: params,
                raw: object,
            })
        }
        _ => Err(problems),
    }
}

/// A value sent by the client, quoted, at most 64 characters of it (messages stay short).
fn shown(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The JSON type of a refused value, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const TIMESTAMP_FORMATS: &str =
    "must be ISO-8601 like 2021-12-29T12:06:28Z, 2021-12-29T06:12:28+05:30 or 2020-04-28T16:47:37";

/// An ISO-8601 timestamp as the document shows them: `2021-12-29T12:06:28Z`,
/// `2021-12-29T06:12:28+05:30`, `2020-04-28T16:47:37` (read as UTC), each with an optional
/// fraction of 1 to 9 digits. Returns the instant and whether a zone was given.
pub fn parse_timestamp(raw: &str) -> Result<(DateTime<FixedOffset>, bool), String> {
    let bad = || format!("{TIMESTAMP_FORMATS}, got {}", shown(raw));
    let b = raw.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
        })
    };
    let shape_ok = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    let fields = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = fields
    else {
        return Err(bad());
    };
    if !shape_ok {
        return Err(bad());
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let count = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 || count > 9 {
            return Err(bad());
        }
        nanos = after_dot[..count]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
            * 10u32.pow((9 - count) as u32);
        rest = &after_dot[count..];
    }
    let offset_secs = match rest {
        [] => None,
        [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            let hours = i32::from((h1 - b'0') * 10 + (h2 - b'0'));
            let minutes = i32::from((m1 - b'0') * 10 + (m2 - b'0'));
            if hours > 23 || minutes > 59 {
                return Err(format!(
                    "{TIMESTAMP_FORMATS}; the offset is out of range in {raw:?}"
                ));
            }
            let secs = hours * 3600 + minutes * 60;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => return Err(bad()),
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)
        .ok_or_else(|| format!("{} is not a calendar date", shown(raw)))?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| format!("{} is not a valid time of day", shown(raw)))?;
    let local = NaiveDateTime::new(date, time);
    let offset = FixedOffset::east_opt(offset_secs.unwrap_or(0)).ok_or_else(bad)?;
    let at = offset
        .from_local_datetime(&local)
        .single()
        .ok_or_else(bad)?;
    Ok((at, offset_secs.is_some()))
}

/// Why the `Authorization` header was refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Unauthorized - Missing API Key: send Authorization: Bearer API_KEY")]
    Missing,
    #[error("Unauthorized - Malformed Authorization Header: expected Bearer API_KEY")]
    Malformed,
    #[error("Unauthorized - Invalid API Key")]
    Invalid,
}

/// The API key of `Authorization: Bearer KEY` (scheme case-insensitive). One header only.
pub fn bearer_key(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::Malformed);
    }
    let value = value.to_str().map_err(|_| AuthError::Malformed)?.trim();
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, key) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let key = key.trim_start();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() || key.contains(char::is_whitespace)
    {
        return Err(AuthError::Malformed);
    }
    Ok(key)
}

/// The tenant of the request's API key.
pub fn authenticate<'c>(
    ctx: &AcceptContext<'c>,
    headers: &HeaderMap,
) -> Result<&'c str, AuthError> {
    let key = bearer_key(headers)?;
    ctx.credentials
        .activity_tenant(key)
        .ok_or(AuthError::Invalid)
}

fn fail_response(status: StatusCode, message: &str, problems: &[Problem]) -> HttpResponse {
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

fn unauthorized(error: AuthError) -> HttpResponse {
    let mut response = fail_response(StatusCode::UNAUTHORIZED, &error.to_string(), &[]);
    response
        .headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    response
}

fn is_json_media_type(content_type: Option<&str>) -> bool {
    match content_type {
        None | Some("application/json") | Some("text/json") => true,
        Some(other) => other.starts_with("application/") && other.ends_with("+json"),
    }
}

/// Authenticate and validate one request; on success the gateway publishes it and answers
/// `200 {"status":"success"}`.
// The `Err` type is the shared family interface (`families/mod.rs`, `http.rs`).
#[allow(clippy::result_large_err)]
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let tenant = authenticate(ctx, req.headers).map_err(unauthorized)?;
    if !is_json_media_type(req.content_type.as_deref()) {
        return Err(fail_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "Unsupported Media Type - {:?}: send application/json",
                req.content_type.as_deref().unwrap_or_default()
            ),
            &[],
        ));
    }
    let activities = parse(body).map_err(|e| error_body_response(&e))?;
    Ok(Accepted {
        source: Source::ActivityUpload,
        tenant: tenant.to_string(),
        attributes: HashMap::new(),
        events: activities.len(),
        reply: json_response(StatusCode::OK, &serde_json::json!({"status": "success"})),
    })
}

/// Errors found before parsing, in this family's error shape.
pub fn transport_error(error: &TransportError) -> HttpResponse {
    let mut response = fail_response(error.status(), &error.message(), &[]);
    error.decorate(&mut response, "POST");
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ActivityKey, TenantsConfig};
    use crate::credentials::Credentials;
    use http_body_util::BodyExt;
    use hyper::Method;
    use serde_json::json;

    /// The document's first "Sample JSON", verbatim.
    const SAMPLE_SINGLE: &str = r#"[{
"asset_id": "sdbsjdh623jhmsndbkfs",
"activity_name":Purchase,
"timestamp":"2020-04-28T16:47:37",
"identity":CUSTOMER_ID,
"activity_source":"web",
"activity_params":
{
"customer_user_id": "xxxxxx",
"total_item_qty": 2,
"currency": "INR",
"items": [
{
"mrp": 250.1,
"l2_category": "Moisturizers",
"l3_category": "Serums & Essence",
"l1_category": "Skin",
"price": 250.3,
"quantity": 1,
"product_name": "L'Oreal Paris Revitalift Crystal Micro-Essence"
},
{
"l1_category": "Makeup",
"quantity": 1,
"mrp": 620.3,
"product_name": "Maybelline New York Instant Age Rewind Eraser Dark Circles Treatment Concealer - 150 Neutralizer",
"price": 496.8
}
]
}
}]"#;

    /// The document's bulk "Sample JSON", verbatim.
    const SAMPLE_BULK: &str = r#"[
{
"asset_id": "sdbsjdh623jhmsndbkfs",
"activity_name":"Purchase",
"timestamp":"2020-04-28T16:47:37",
"identity":"CUSTOMER_ID",
"activity_source":"web",
"activity_params": {
"customer_user_id": "xxxxxx",
"total_item_qty": 2,
"currency": "INR",
"items": [
{
"mrp": 250.0,
"l2_category": "Moisturizers",
"l3_category": "Serums & Essence",
"l1_category": "Skin",
"price": 250.0,
"quantity": 1,
"product_name": "L'Oreal Paris Revitalift Crystal Micro-Essence"
},
{
"l1_category": "Makeup",
"quantity": 1,
"mrp": 620.20,
"product_name": "Maybelline New York Instant Age Rewind Eraser Dark Circles Treatment Concealer - 150 Neutralizer",
"price": 496.1
}
]}
},
{
"activity_name":"Checkout",
"timestamp":"2020-04-28T16:40:37Z",
"identity":"CUSTOMER_ID",
"activity_source":"web",
"activity_params": {
"customer_user_id": "xxxxxx",
"total_item_qty": "2",
"currency": "INR",
"items": [
{
"mrp": "250.0",
"l2_category": "Moisturizers",
"l3_category": "Serums & Essence",
"l1_category": "Skin",
"price": "250.0",
"quantity": "1",
"product_name": "L'Oreal Paris Revitalift Crystal Micro-Essence"
},
{
"l1_category": "Makeup",
"quantity": "1",
"mrp": "620.0",
"product_name": "Maybelline New York Instant Age Rewind Eraser Dark Circles Treatment Concealer - 150 Neutralizer",
"price": "496.0"
}
]
},
{
"activity_name":"Add To Cart",
"timestamp":"2020-04-25T10:20:37Z",
"identity":"CUSTOMER_ID",
"activity_source":"web",
"activity_params": {
"customer_user_id": "xxxxxx",
"total_item_qty": "2",
"currency": "INR",
"items": [
{
"mrp": "250.0",
"l2_category": "Moisturizers",
"l3_category": "Serums & Essence",
"l1_category": "Skin",
"price": "250.0",
"quantity": "1",
"product_name": "L'Oreal Paris Revitalift Crystal Micro-Essence"
},
{
"l1_category": "Makeup",
"quantity": "1",
"mrp": "620.0",
"product_name": "Maybelline New York Instant Age Rewind Eraser Dark Circles Treatment Concealer - 150 Neutralizer",
"price": "496.0"
}
]
}
]"#;

    /// The first sample with `Purchase` and `CUSTOMER_ID` quoted: the two fixes it needs.
    fn repaired_single() -> String {
        SAMPLE_SINGLE
            .replace(":Purchase,", ":\"Purchase\",")
            .replace(":CUSTOMER_ID,", ":\"CUSTOMER_ID\",")
    }

    /// The bulk sample with the missing `}` of its second and third activities added.
    fn repaired_bulk() -> String {
        let mut lines: Vec<String> = SAMPLE_BULK.lines().map(str::to_string).collect();
        assert_eq!(lines[57], "},", "line 58 closes the 2nd activity's params");
        assert_eq!(lines[85], "}", "line 86 closes the 3rd activity's params");
        lines[57] = "}\n},".into();
        lines[85] = "}\n}".into();
        lines.join("\n")
    }

    const KEY: &str = "demo-netcore-key";

    fn credentials() -> Credentials {
        let mut config = TenantsConfig::default();
        config.activity_keys.push(ActivityKey {
            tenant: "acme".into(),
            key: Some("acme-key".into()),
            key_sha256: None,
        });
        Credentials::from_config(&config).unwrap()
    }

    #[allow(clippy::result_large_err)] // returns what `accept` returns
    fn call(
        authorization: &[&[u8]],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Accepted, HttpResponse> {
        let credentials = credentials();
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        let ctx = AcceptContext {
            credentials: &credentials,
            received_at: 1_700_000_000_000,
            batch_id: "b",
        };
        let req = RequestParts {
            method: &Method::POST,
            path: "/v1/activity/upload",
            query: None,
            headers: &headers,
            content_type: content_type.map(str::to_string),
        };
        accept(&ctx, &req, body)
    }

    #[allow(clippy::result_large_err)] // returns what `accept` returns
    fn post(body: &str) -> Result<Accepted, HttpResponse> {
        call(
            &[b"Bearer demo-netcore-key"],
            Some("application/json"),
            body.as_bytes(),
        )
    }

    fn body_of(response: HttpResponse) -> Value {
        let bytes = futures::executor::block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn valid() -> Value {
        json!({
            "asset_id": "a1",
            "activity_name": "Purchase",
            "timestamp": "2021-12-29T12:06:28Z",
            "identity": "c1",
            "activity_source": "web",
            "activity_params": {"currency": "INR"},
        })
    }

    /// `None` removes the parameter.
    type Edit = (&'static str, Option<Value>);

    fn edited(edits: &[Edit]) -> Value {
        let mut activity = valid();
        let object = activity.as_object_mut().unwrap();
        for (key, value) in edits {
            match value {
                Some(v) => {
                    object.insert(key.to_string(), v.clone());
                }
                None => {
                    object.remove(*key);
                }
            }
        }
        activity
    }

    /// The problem a case expects: the parameter and whether it is "Missing".
    type Expected = Option<(Parameter, bool)>;

    fn missing(parameter: Parameter) -> Expected {
        Some((parameter, true))
    }

    fn invalid(parameter: Parameter) -> Expected {
        Some((parameter, false))
    }

    #[test]
    fn parameter_rules_valid_and_invalid() {
        use Parameter::*;
        // (edits of a valid activity, the problem expected: parameter and whether "Missing")
        let cases: Vec<(Vec<Edit>, Expected)> = vec![
            (vec![], None),
            // activity_name
            (vec![("activity_name", None)], missing(ActivityName)),
            (
                vec![("activity_name", Some(json!(null)))],
                missing(ActivityName),
            ),
            (
                vec![("activity_name", Some(json!(" ")))],
                missing(ActivityName),
            ),
            (vec![("activity_name", Some(json!(5)))], None),
            (
                vec![("activity_name", Some(json!(1.5)))],
                invalid(ActivityName),
            ),
            (
                vec![("activity_name", Some(json!({"name": "x"})))],
                invalid(ActivityName),
            ),
            // asset_id (on the first activity)
            (vec![("asset_id", None)], missing(AssetId)),
            (vec![("asset_id", Some(json!("")))], missing(AssetId)),
            (vec![("asset_id", Some(json!(["a1"])))], invalid(AssetId)),
            (vec![("asset_id", Some(json!(123)))], None),
            // timestamp
            (vec![("timestamp", None)], missing(Timestamp)),
            (vec![("timestamp", Some(json!("")))], missing(Timestamp)),
            (
                vec![("timestamp", Some(json!(1640779588)))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T06:12:28+05:30")))],
                None,
            ),
            (
                vec![("timestamp", Some(json!("2020-04-28T16:47:37")))],
                None,
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28.123Z")))],
                None,
            ),
            (
                vec![(
                    "timestamp",
                    Some(json!("2021-12-29T12:06:28.123456789-08:00")),
                )],
                None,
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29 12:06:28Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28+0530")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28+05")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-02-30T12:06:28Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T24:00:00Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:60Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28+24:00")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28.Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28.1234567890Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!(" 2021-12-29T12:06:28Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("+2021-12-29T12:06:28Z")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("2021-12-29T12:06:28Z ")))],
                invalid(Timestamp),
            ),
            (
                vec![("timestamp", Some(json!("yesterday")))],
                invalid(Timestamp),
            ),
            // identity / annonid
            (
                vec![("identity", None), ("annonid", Some(json!("anon-1")))],
                None,
            ),
            (vec![("annonid", Some(json!("anon-1")))], None),
            (vec![("identity", None)], missing(IdentityOrAnnonid)),
            (
                vec![("identity", Some(json!("")))],
                missing(IdentityOrAnnonid),
            ),
            (
                vec![
                    ("identity", Some(json!(""))),
                    ("annonid", Some(json!("anon-1"))),
                ],
                None,
            ),
            (vec![("identity", Some(json!(919876543210u64)))], None),
            (vec![("identity", Some(json!(1.5)))], invalid(Identity)),
            (vec![("identity", Some(json!(true)))], invalid(Identity)),
            (vec![("identity", Some(json!(["c1"])))], invalid(Identity)),
            (vec![("annonid", Some(json!({})))], invalid(Annonid)),
            (vec![("identity", None), ("annonid", Some(json!(77)))], None),
            // activity_source
            (vec![("activity_source", Some(json!("app")))], None),
            (vec![("activity_source", Some(json!("WEB")))], None),
            (
                vec![("activity_source", Some(json!("ios")))],
                invalid(ActivitySource),
            ),
            (
                vec![("activity_source", Some(json!(1)))],
                invalid(ActivitySource),
            ),
            (vec![("activity_source", None)], missing(ActivitySource)),
            (
                vec![("activity_source", Some(json!("")))],
                missing(ActivitySource),
            ),
            // activity_params
            (vec![("activity_params", None)], missing(ActivityParams)),
            (
                vec![("activity_params", Some(json!([])))],
                invalid(ActivityParams),
            ),
            (
                vec![("activity_params", Some(json!("x")))],
                invalid(ActivityParams),
            ),
            (vec![("activity_params", Some(json!({})))], None),
            (
                vec![("activity_params", Some(json!({"items": []})))],
                invalid(ActivityParams),
            ),
            (
                vec![("activity_params", Some(json!({"tags": []})))],
                invalid(ActivityParams),
            ),
            (
                vec![("activity_params", Some(json!({"items": [{"sku": 1}]})))],
                None,
            ),
            (
                vec![("activity_params", Some(json!({"cart": {"items": []}})))],
                None,
            ),
            // unknown parameters are ignored
            (
                vec![
                    ("Activity_Name", Some(json!([]))),
                    ("extra", Some(json!({}))),
                ],
                None,
            ),
        ];
        let count = cases.len();
        for (edits, want) in cases {
            let activity = edited(&edits);
            let result = validate(json!([activity.clone()]));
            match want {
                None => assert!(result.is_ok(), "{activity}: {result:?}"),
                Some((parameter, is_missing)) => {
                    let error = result.expect_err(&format!("{activity} must be refused"));
                    let problems = error.problems();
                    assert_eq!(problems.len(), 1, "{activity}: {problems:?}");
                    assert_eq!(problems[0].activity, 1);
                    assert_eq!(problems[0].parameter, parameter, "{activity}");
                    assert_eq!(
                        problems[0].kind == ProblemKind::Missing,
                        is_missing,
                        "{activity}"
                    );
                }
            }
        }
        assert!(count >= 60, "{count}");
    }

    #[test]
    fn timestamps_are_read_with_their_zone() {
        // (as sent, the instant in UTC, whether a zone was given)
        let cases = [
            ("2021-12-29T12:06:28Z", "2021-12-29T12:06:28+00:00", true),
            (
                "2021-12-29T06:12:28+05:30",
                "2021-12-29T00:42:28+00:00",
                true,
            ),
            (
                "2021-12-29T06:12:28-05:30",
                "2021-12-29T11:42:28+00:00",
                true,
            ),
            ("2020-04-28T16:47:37", "2020-04-28T16:47:37+00:00", false),
            (
                "2020-04-28T16:47:37.5",
                "2020-04-28T16:47:37.500+00:00",
                false,
            ),
            (
                "2020-02-29T00:00:00.000001+00:00",
                "2020-02-29T00:00:00.000001+00:00",
                true,
            ),
        ];
        for (raw, utc, zoned) in cases {
            let (at, has_zone) = parse_timestamp(raw).unwrap();
            assert_eq!(
                at.with_timezone(&Utc),
                DateTime::parse_from_rfc3339(utc).unwrap(),
                "{raw}"
            );
            assert_eq!(has_zone, zoned, "{raw}");
        }
        let (at, _) = parse_timestamp("2021-12-29T06:12:28+05:30").unwrap();
        assert_eq!(
            at.offset().local_minus_utc(),
            5 * 3600 + 30 * 60,
            "the offset is kept"
        );
        let why = parse_timestamp("29/12/2021").unwrap_err();
        assert!(
            why.contains("2021-12-29T12:06:28Z") && why.contains("29/12/2021"),
            "{why}"
        );
        let long = parse_timestamp(&"9".repeat(10_000)).unwrap_err();
        assert!(long.len() < 250, "{long}");
        assert!(parse_timestamp("2021-13-01T00:00:00Z")
            .unwrap_err()
            .contains("calendar date"));
        assert!(
            parse_timestamp("2021-12-٢9T00:00:00Z").is_err(),
            "non-ASCII digits"
        );
    }

    #[test]
    fn asset_id_is_required_on_the_first_activity_and_inherited_by_later_ones() {
        let no_asset = edited(&[("asset_id", None)]);
        let other_asset = edited(&[("asset_id", Some(json!("a2")))]);
        let list = json!([valid(), no_asset.clone(), other_asset, no_asset.clone()]);
        let activities = validate(list).unwrap();
        let got: Vec<_> = activities
            .iter()
            .map(|a| (a.asset_id.as_str(), a.asset_id_inherited))
            .collect();
        assert_eq!(
            got,
            vec![("a1", false), ("a1", true), ("a2", false), ("a1", true)]
        );
        // Without one on the first activity the request is refused, and only activity 1 is named.
        let error = validate(json!([no_asset.clone(), no_asset.clone(), valid()])).unwrap_err();
        assert_eq!(
            error
                .problems()
                .iter()
                .map(Problem::to_string)
                .collect::<Vec<_>>(),
            vec!["Missing Parameter - Asset ID (activity 1)"]
        );
        let error = validate(json!([
            edited(&[("asset_id", Some(json!(false)))]),
            no_asset
        ]))
        .unwrap_err();
        assert_eq!(error.problems().len(), 1);
        assert_eq!(error.problems()[0].parameter, Parameter::AssetId);
    }

    #[test]
    fn document_sample_single_as_written_is_invalid_json() {
        // `"activity_name":Purchase` and `"identity":CUSTOMER_ID` are unquoted: not JSON. The
        // parser stops at the first, line 3 column 17, and the request is refused with a 400
        // naming it, rather than guessing what the document meant.
        assert_eq!(
            parse(SAMPLE_SINGLE.as_bytes()),
            Err(ActivityError::Json(
                "expected value at line 3 column 17".into()
            ))
        );
        let response = post(SAMPLE_SINGLE).err().unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body_of(response),
            json!({"status": "fail", "error": {"code": 400, "message": "Bad Request - Invalid JSON: expected value at line 3 column 17"}})
        );
        // Quoted, it is one valid activity with a zone-less (UTC) timestamp.
        let activities = parse(repaired_single().as_bytes()).unwrap();
        assert_eq!(activities.len(), 1);
        let a = &activities[0];
        assert_eq!(a.activity_name, "Purchase");
        assert_eq!(a.asset_id, "sdbsjdh623jhmsndbkfs");
        assert_eq!(a.identity.as_deref(), Some("CUSTOMER_ID"));
        assert_eq!(a.annonid, None);
        assert_eq!(a.activity_source, ActivitySource::Web);
        assert_eq!(a.timestamp_raw, "2020-04-28T16:47:37");
        assert!(!a.timestamp_has_zone);
        assert_eq!(a.timestamp_utc().to_rfc3339(), "2020-04-28T16:47:37+00:00");
        assert_eq!(a.activity_params["items"].as_array().unwrap().len(), 2);
        assert_eq!(a.raw.len(), 6);
    }

    #[test]
    fn document_sample_bulk_as_written_is_invalid_json() {
        // The second activity's object is never closed: after its `activity_params` (`},` on
        // line 58) the parser expects another key but finds the third activity's `{`.
        assert_eq!(
            parse(SAMPLE_BULK.as_bytes()),
            Err(ActivityError::Json(
                "key must be a string at line 59 column 1".into()
            ))
        );
        let response = post(SAMPLE_BULK).err().unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(body_of(response)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 59 column 1"));
        // With both missing braces added (the third activity lacks one too), all three are
        // accepted; activities 2 and 3 have no asset_id and inherit the first one's.
        let activities = parse(repaired_bulk().as_bytes()).unwrap();
        let got: Vec<_> = activities
            .iter()
            .map(|a| {
                (
                    a.activity_name.as_str(),
                    a.asset_id.as_str(),
                    a.asset_id_inherited,
                    a.timestamp_has_zone,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Purchase", "sdbsjdh623jhmsndbkfs", false, false),
                ("Checkout", "sdbsjdh623jhmsndbkfs", true, true),
                ("Add To Cart", "sdbsjdh623jhmsndbkfs", true, true),
            ]
        );
        // With only the second activity's brace added, the third one is still unclosed: the
        // parser meets the array's closing `]` (now on line 88) while inside that object.
        let half = SAMPLE_BULK.replacen(
            "]\n},\n{\n\"activity_name\":\"Add",
            "]\n}\n},\n{\n\"activity_name\":\"Add",
            1,
        );
        assert_eq!(
            parse(half.as_bytes()),
            Err(ActivityError::Json(
                "expected `,` or `}` at line 88 column 1".into()
            ))
        );
        let accepted = post(&repaired_bulk()).unwrap();
        assert_eq!(accepted.events, 3);
    }

    #[test]
    fn every_problem_is_named_with_its_activity_number() {
        let body = json!([
            valid(),
            edited(&[
                ("activity_name", None),
                ("timestamp", Some(json!("2021-12-29")))
            ]),
            "not an activity",
            edited(&[("identity", None), ("activity_source", Some(json!("ios")))]),
        ]);
        let error = validate(body.clone()).unwrap_err();
        let messages: Vec<_> = error.problems().iter().map(Problem::to_string).collect();
        assert_eq!(
            messages,
            vec![
                "Missing Parameter - Activity Name (activity 2)".to_string(),
                "Invalid Parameter - Timestamp (activity 2): must be ISO-8601 like 2021-12-29T12:06:28Z, 2021-12-29T06:12:28+05:30 or 2020-04-28T16:47:37, got \"2021-12-29\"".to_string(),
                "Invalid Parameter - Activity (activity 3): each activity must be a JSON object".to_string(),
                "Missing Parameter - Identity or Annonid (activity 4)".to_string(),
                "Invalid Parameter - Activity Source (activity 4): must be \"web\" or \"app\", got \"ios\"".to_string(),
            ]
        );
        let response = post(&body.to_string()).err().unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let json = body_of(response);
        assert_eq!(json["status"], "fail");
        assert_eq!(json["error"]["code"], 400);
        assert_eq!(
            json["error"]["message"],
            "Missing Parameter - Activity Name (activity 2) (and 4 more problems)"
        );
        assert_eq!(json["error"]["errors"], json!(messages));
    }

    #[test]
    fn the_problem_list_is_capped() {
        let list = vec![edited(&[("activity_name", None)]); MAX_ACTIVITIES];
        let response = post(&Value::from(list).to_string()).err().unwrap();
        let errors = body_of(response)["error"]["errors"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(errors.len(), MAX_LISTED_PROBLEMS + 1);
        assert_eq!(errors[MAX_LISTED_PROBLEMS], "... and 900 more problems");
    }

    #[test]
    fn body_level_problems() {
        let many = |n: usize| Value::from(vec![valid(); n]).to_string();
        // (body, Ok(activities) or Err(words the message must contain))
        let cases: Vec<(String, Result<usize, &str>)> = vec![
            (String::new(), Err("Empty Body")),
            (" \r\n".into(), Err("Empty Body")),
            (
                "[".into(),
                Err("Invalid JSON: EOF while parsing a list at line 1 column 1"),
            ),
            (
                "[{\"activity_name\": 'x'}]".into(),
                Err("Invalid JSON: expected value at line 1 column 20"),
            ),
            (
                "[] []".into(),
                Err("trailing characters at line 1 column 4"),
            ),
            ("[]".into(), Err("Empty Activity List")),
            ("\"Purchase\"".into(), Err("must be a JSON array")),
            ("42".into(), Err("must be a JSON array")),
            ("null".into(), Err("must be a JSON array")),
            (
                "[null]".into(),
                Err("Invalid Parameter - Activity (activity 1)"),
            ),
            ("[[]]".into(), Err("each activity must be a JSON object")),
            (valid().to_string(), Ok(1)),
            (many(1), Ok(1)),
            (many(MAX_ACTIVITIES), Ok(MAX_ACTIVITIES)),
            (
                many(MAX_ACTIVITIES + 1),
                Err("Too Many Activities: 1001 sent, at most 1000"),
            ),
        ];
        for (body, want) in cases {
            let short: String = body.chars().take(40).collect();
            match (post(&body), want) {
                (Ok(accepted), Ok(n)) => {
                    assert_eq!(accepted.events, n, "{short}");
                    assert_eq!(parse(body.as_bytes()).unwrap().len(), n);
                }
                (Err(response), Err(words)) => {
                    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{short}");
                    let json = body_of(response);
                    let message = json["error"]["message"].as_str().unwrap();
                    assert!(message.contains(words), "{short}: {message}");
                    assert_eq!(json["error"]["code"], 400);
                    assert_eq!(json["status"], "fail");
                }
                (result, want) => panic!("{short}: {:?} but wanted {want:?}", result.is_ok()),
            }
        }
    }

    #[test]
    fn success_reply_and_batch_facts() {
        let body = json!([
            valid(),
            edited(&[
                ("asset_id", None),
                ("identity", None),
                ("annonid", Some(json!("x")))
            ])
        ]);
        let accepted = call(&[b"Bearer acme-key"], None, body.to_string().as_bytes())
            .unwrap_or_else(|r| panic!("{}", body_of(r)));
        assert_eq!(accepted.source, Source::ActivityUpload);
        assert_eq!(accepted.tenant, "acme");
        assert_eq!(accepted.events, 2);
        assert!(accepted.attributes.is_empty());
        assert_eq!(accepted.reply.status(), StatusCode::OK);
        assert!(accepted.reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(body_of(accepted.reply), json!({"status": "success"}));
    }

    /// The tenant, or why the caller is refused.
    type AuthOutcome = Result<&'static str, AuthError>;

    #[test]
    fn authorization() {
        let body = Value::from(vec![valid()]).to_string();
        // (Authorization headers, Ok(tenant) or Err(the 401 message))
        let cases: Vec<(Vec<&[u8]>, AuthOutcome)> = vec![
            (vec![b"Bearer demo-netcore-key"], Ok("default")),
            (vec![b"bearer demo-netcore-key"], Ok("default")),
            (vec![b"BEARER   demo-netcore-key"], Ok("default")),
            (vec![b"Bearer acme-key"], Ok("acme")),
            (vec![], Err(AuthError::Missing)),
            (vec![b""], Err(AuthError::Missing)),
            (vec![b"Bearer wrong-key"], Err(AuthError::Invalid)),
            (vec![b"Bearer DEMO-NETCORE-KEY"], Err(AuthError::Invalid)),
            (vec![b"Bearer"], Err(AuthError::Malformed)),
            (vec![b"Bearer "], Err(AuthError::Malformed)),
            (vec![b"demo-netcore-key"], Err(AuthError::Malformed)),
            (vec![b"Basic ZGVtbzprZXk="], Err(AuthError::Malformed)),
            (vec![b"Token demo-netcore-key"], Err(AuthError::Malformed)),
            (
                vec![b"Bearer demo-netcore-key extra"],
                Err(AuthError::Malformed),
            ),
            (
                vec![b"Bearer demo-netcore-key\xff"],
                Err(AuthError::Malformed),
            ),
            (
                vec![b"Bearer demo-netcore-key", b"Bearer acme-key"],
                Err(AuthError::Malformed),
            ),
        ];
        for (headers, want) in cases {
            let shown: Vec<_> = headers.iter().map(|h| String::from_utf8_lossy(h)).collect();
            match (call(&headers, None, body.as_bytes()), want) {
                (Ok(accepted), Ok(tenant)) => assert_eq!(accepted.tenant, tenant, "{shown:?}"),
                (Err(response), Err(error)) => {
                    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{shown:?}");
                    assert_eq!(response.headers()["www-authenticate"], "Bearer");
                    assert_eq!(
                        body_of(response),
                        json!({"status": "fail", "error": {"code": 401, "message": error.to_string()}}),
                        "{shown:?}"
                    );
                }
                (result, want) => panic!("{shown:?}: ok={} but wanted {want:?}", result.is_ok()),
            }
        }
        assert_eq!(
            AuthError::Invalid.to_string(),
            "Unauthorized - Invalid API Key"
        );
        // Authentication comes first: a bad body from an unknown caller is a 401, not a 400.
        let response = call(&[b"Bearer nope"], None, b"not json").err().unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = call(&[], Some("text/plain"), b"").err().unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(KEY, "demo-netcore-key");
    }

    #[test]
    fn content_types() {
        let body = Value::from(vec![valid()]).to_string();
        let cases = [
            (None, true),
            (Some("application/json"), true),
            (Some("text/json"), true),
            (Some("application/vnd.netcore+json"), true),
            (Some("text/plain"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (Some("application/xml"), false),
        ];
        for (content_type, ok) in cases {
            let result = call(&[b"Bearer demo-netcore-key"], content_type, body.as_bytes());
            assert_eq!(result.is_ok(), ok, "{content_type:?}");
            if let Err(response) = result {
                assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
                let json = body_of(response);
                assert_eq!(json["error"]["code"], 415);
                assert!(json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("application/json"));
            }
        }
    }

    #[test]
    fn transport_errors_use_the_family_shape_and_headers() {
        let cases = [
            (TransportError::NotFound, 404, "Not Found"),
            (TransportError::MethodNotAllowed, 405, "Method Not Allowed"),
            (
                TransportError::PayloadTooLarge { limit: 10 },
                413,
                "Payload Too Large",
            ),
            (TransportError::Timeout, 408, "Request Time Out"),
            (
                TransportError::BadContentEncoding("br".into()),
                400,
                "Bad Content-Encoding",
            ),
            (
                TransportError::Unavailable {
                    retry_after_secs: 5,
                },
                503,
                "Service Unavailable",
            ),
            (TransportError::Internal, 500, "Internal Server Error"),
        ];
        for (error, code, words) in cases {
            let response = transport_error(&error);
            assert_eq!(response.status().as_u16(), code);
            let headers = response.headers().clone();
            let json = body_of(response);
            assert_eq!(json["status"], "fail");
            assert_eq!(json["error"]["code"], code);
            assert!(
                json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(words),
                "{json}"
            );
            assert!(json["error"].get("errors").is_none());
            match error {
                TransportError::MethodNotAllowed => assert_eq!(headers["allow"], "POST"),
                TransportError::Unavailable { .. } => assert_eq!(headers["retry-after"], "5"),
                _ => {
                    assert!(headers.get("allow").is_none() && headers.get("retry-after").is_none())
                }
            }
        }
    }

    #[test]
    fn sources_and_parameters() {
        assert_eq!(ActivitySource::parse(" App "), Some(ActivitySource::App));
        assert_eq!(ActivitySource::parse("mobile"), None);
        assert_eq!(ActivitySource::Web.as_str(), "web");
        assert_eq!(Parameter::ActivityName.key(), "activity_name");
        assert_eq!(Parameter::AssetId.label(), "Asset ID");
    }
}
