//! Seed 003, the Netcore-style "Add Activity API": `POST /v1/activity/upload` with
//! `Authorization: Bearer API_KEY` and a JSON array of 1 to 1000 activities (a single activity
//! object is taken as a list of one). `200 {"status":"success"}` when the whole request is
//! stored; otherwise nothing of it is published and the error is
//! `{"status":"fail","error":{"code":<status>,"message":<sentence>}}`; a 400 for bad
//! activities adds `"errors"`, every problem found (at most 100, listed by the gateway).
//!
//! Required per activity (names are case-sensitive; `null`, an empty or all-blank string
//! count as absent, and an absent parameter is a "Missing Parameter"):
//! - `activity_name`: a string.
//! - `asset_id`: a string. **Decision**: the table says required, yet the document's own bulk
//!   sample gives it only on the first of three activities. So `asset_id` is required on the
//!   *first* activity of a request, and a later activity without one inherits the first
//!   activity's (`Activity::asset_id_inherited`). A later activity may name another asset.
//! - `timestamp`: the document's ISO-8601 (`2021-12-29T12:06:28Z`, `2020-04-28T16:47:37`),
//!   and every other form of [`crate::time`]: `±hh:mm`, `±hhmm`, `±hh`, a space for `T`, any
//!   fraction, a leap second, epoch numbers. Zone-less timestamps (as in both samples) are
//!   read in the tenant's time zone downstream. Age is not checked: the document stores events
//!   older than 24 h (they only trigger no journey); the future is not checked either, so
//!   parsing stays pure.
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

use serde_json::{Map, Value};

use crate::fields::{json_type, shown};
use crate::time::{self, ClientTime};

#[cfg(test)]
mod tests;

/// Largest request body accepted (as sent, before gzip inflation): 1000 activities with
/// product arrays fit easily.
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Most activities one request may carry (the document's "Max:1000").
pub const MAX_ACTIVITIES: usize = 1000;

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
    /// The time ([`crate::time`]); a zoneless one is read in the tenant's zone downstream.
    pub timestamp: ClientTime,
    /// Integers as their decimal text.
    pub identity: Option<String>,
    pub annonid: Option<String>,
    pub activity_source: ActivitySource,
    pub activity_params: Map<String, Value>,
    /// The activity exactly as sent, unknown parameters included.
    pub raw: Map<String, Value>,
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

/// Document 003's wire format; see [`crate::WireFormat`]. The upload has one shape, so its
/// variant is `()`.
pub struct ActivityUpload;

impl crate::WireFormat for ActivityUpload {
    type Variant = ();
    type Event = Activity;
    type Error = ActivityError;
    const BODY_LIMIT: usize = BODY_LIMIT;

    fn parse((): (), body: &[u8]) -> Result<Vec<Activity>, ActivityError> {
        parse(body)
    }
}

/// Parse and validate a request body. Used by the gateway (to accept or reject) and by the
/// enricher (to split an accepted batch), so both always agree.
pub fn parse(body: &[u8]) -> Result<Vec<Activity>, ActivityError> {
    if crate::is_blank(body) {
        return Err(ActivityError::EmptyBody);
    }
    let document = crate::parse_json(body).map_err(ActivityError::Json)?;
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
        Some(Value::Number(n)) if crate::fields::is_integer_text(&n.to_string()) => {
            Ok(Some(n.to_string()))
        }
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
        Some(Value::Number(n)) => Some(n.to_string()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            c.fail(Parameter::Timestamp, ProblemKind::Missing);
            None
        }
        Some(other) => {
            c.invalid(
                Parameter::Timestamp,
                format!("{}, got {}", time::TIME_FORMS, json_type(other)),
            );
            None
        }
    };
    let timestamp = timestamp_raw.as_deref().and_then(|raw| {
        time::read_text(raw)
            .map_err(|why| c.invalid(Parameter::Timestamp, why.to_string()))
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
        (true, Some(timestamp), Some(activity_source), Some(params)) => Ok(Activity {
            activity_name,
            asset_id,
            asset_id_inherited,
            timestamp_raw: timestamp_raw.unwrap_or_default(),
            timestamp,
            identity: identity.ok().flatten(),
            annonid: annonid.ok().flatten(),
            activity_source,
            activity_params: params,
            raw: object,
        }),
        _ => Err(problems),
    }
}
