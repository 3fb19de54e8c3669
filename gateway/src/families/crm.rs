//! Seed 001, the CRM "Data Analytics Service": one analytics event per request, as a JSON
//! object, on three endpoints (paths match case-insensitively, a trailing `/` is ignored):
//!
//! | endpoint                      | entity of the event                                           |
//! |-------------------------------|---------------------------------------------------------------|
//! | `POST /api/v1/analytics_events` | `entity_type` (`lead` or `contact`) and `entity_id`, both required |
//! | `POST /api/v1/lead_analytics`   | `lead_id`; or, the browser-extension variant, `entity_id` with `tool_signature` `"browser_extension"` |
//! | `POST /api/v1/contact_analytics`| `contact_id`                                                   |
//!
//! Required on every endpoint, besides the entity: `customer_id`, `user_id`, `recording_id`,
//! `event_type`, `event_id`. Optional: `tool_signature`, `message`, `javascript_local_time`,
//! `apex_local_time`, `event_environment_path`, `name_parser_event_id`,
//! `recommendation_model_event_id` and `version_info` (an object whose values are all strings).
//!
//! Success is `201` with the stored record, shaped like the document's sample responses: the
//! request's fields in the order sent, then `entityType` (`lead_analytics_event` or
//! `contact_analytics_event`), `partitionKey` (`Lead analytics event|<batch id>` or
//! `Contact analytics event|<batch id>`), `sortKey` (the `customer_id`), `created_at` and
//! `updated_at` (both the receive time, `2018-09-03T17:06:05.719Z`).
//!
//! Every error has one shape, `{"error": <reason phrase>, "message": <sentence>, "errors":
//! [{"field", "message"}, ...]}`, where `errors` names every invalid or missing field (empty
//! for problems with the request as a whole): `422` for invalid or missing fields and for a
//! body that is JSON but not an object, `400` for an empty body or malformed JSON (the message
//! carries serde's line and column), `415` for a non-JSON `Content-Type`, and the transport
//! errors (`404`, `405`, `408`, `413`, `500`, `503`) with an empty `errors`.
//!
//! Decisions the document leaves open:
//! - Property names are case-sensitive (`Customer_ID` is an unknown field). `null` counts as
//!   absent. A required string that is empty or only blanks is refused ("must not be empty").
//! - String fields take JSON strings; JSON numbers are taken as their text (`42` -> `"42"`),
//!   as the other families bind them. Booleans, arrays and objects are refused. The record
//!   stores (and echoes) the text, so `"customer_id": 42` comes back as `"42"`.
//! - `version_info` must be an object whose values are all strings (numbers, `null`, nested
//!   values are refused, each named as `version_info.<key>`); it is echoed unchanged.
//! - `entity_type` matches case-insensitively and is stored lowercased. The analytics_events
//!   sample's own value, the placeholder `"lead or contact"`, is refused.
//! - `lead_analytics` / `contact_analytics` also take `entity_id` when it equals `lead_id` /
//!   `contact_id`; `entity_id` *instead of* the specific id only on `lead_analytics` with
//!   `tool_signature` `"browser_extension"` (matched case-insensitively, blanks trimmed). The
//!   browser-extension record keeps `entity_id` as sent and gets no invented `lead_id`; the
//!   resolved lead is `CrmEvent::entity_id`. `entity_type` may be sent to these endpoints
//!   only with the endpoint's own entity (`lead` / `contact`).
//! - An id field of another endpoint (`lead_id` or `contact_id` on analytics_events,
//!   `contact_id` on lead_analytics, `lead_id` on contact_analytics) is refused: it means the
//!   event went to the wrong endpoint, and silently dropping it would file it under the wrong
//!   entity. Fields the document does not define at all are ignored: kept in the published
//!   body (and `CrmEvent::raw`), but not part of the record nor echoed.
//! - The 201 echo includes every document field sent, also `javascript_local_time`,
//!   `version_info` etc. that the document's sample responses happen to omit; system fields
//!   always follow the request's fields in the lead sample's order (the contact sample puts
//!   `message` after `sortKey`, an accident of its storage, not a contract).
//! - `Content-Type` may be absent, `application/json`, `text/json` or `application/*+json`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hyper::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use tributary_schemas::Source;

use super::{json_response, AcceptContext, Accepted, HttpResponse, RequestParts, TransportError};

/// Largest request body accepted: one event, so 256 KiB is generous.
pub const BODY_LIMIT: usize = 256 * 1024;

/// The `tool_signature` of the browser-extension variant of `lead_analytics`.
pub const BROWSER_EXTENSION: &str = "browser_extension";

/// The three create endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    AnalyticsEvents,
    LeadAnalytics,
    ContactAnalytics,
}

impl Resource {
    pub const ALL: [Resource; 3] = [
        Resource::AnalyticsEvents,
        Resource::LeadAnalytics,
        Resource::ContactAnalytics,
    ];

    /// The endpoint of a request path: case-insensitive, trailing slashes ignored.
    pub fn from_path(path: &str) -> Option<Resource> {
        let lower = path.to_ascii_lowercase();
        Resource::ALL
            .into_iter()
            .find(|r| r.path() == lower.trim_end_matches('/'))
    }

    /// The endpoint a published batch came from.
    pub fn from_source(source: Source) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.source() == source)
    }

    pub fn source(self) -> Source {
        match self {
            Resource::AnalyticsEvents => Source::CrmAnalyticsEvents,
            Resource::LeadAnalytics => Source::CrmLeadAnalytics,
            Resource::ContactAnalytics => Source::CrmContactAnalytics,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Resource::AnalyticsEvents => "/api/v1/analytics_events",
            Resource::LeadAnalytics => "/api/v1/lead_analytics",
            Resource::ContactAnalytics => "/api/v1/contact_analytics",
        }
    }

    /// The entity every event of this endpoint belongs to (`None`: given by `entity_type`).
    pub fn fixed_entity(self) -> Option<EntityType> {
        match self {
            Resource::AnalyticsEvents => None,
            Resource::LeadAnalytics => Some(EntityType::Lead),
            Resource::ContactAnalytics => Some(EntityType::Contact),
        }
    }

    /// Whether `field` is a document field of this endpoint (and so part of the record).
    pub fn accepts_field(self, field: &str) -> bool {
        COMMON_FIELDS.contains(&field)
            || match self {
                Resource::AnalyticsEvents => matches!(field, "entity_id" | "entity_type"),
                Resource::LeadAnalytics => matches!(field, "lead_id" | "entity_id" | "entity_type"),
                Resource::ContactAnalytics => {
                    matches!(field, "contact_id" | "entity_id" | "entity_type")
                }
            }
    }

    /// Id fields of the other endpoints, refused here.
    fn foreign_fields(self) -> &'static [&'static str] {
        match self {
            Resource::AnalyticsEvents => &["lead_id", "contact_id"],
            Resource::LeadAnalytics => &["contact_id"],
            Resource::ContactAnalytics => &["lead_id"],
        }
    }
}

/// Fields every endpoint takes.
const COMMON_FIELDS: [&str; 13] = [
    "customer_id",
    "user_id",
    "tool_signature",
    "recording_id",
    "event_type",
    "event_id",
    "message",
    "javascript_local_time",
    "apex_local_time",
    "event_environment_path",
    "name_parser_event_id",
    "recommendation_model_event_id",
    "version_info",
];

/// The order field errors are listed in (the document's field order).
const FIELD_ORDER: [&str; 17] = [
    "customer_id",
    "lead_id",
    "contact_id",
    "entity_id",
    "entity_type",
    "user_id",
    "tool_signature",
    "recording_id",
    "event_type",
    "event_id",
    "message",
    "javascript_local_time",
    "apex_local_time",
    "event_environment_path",
    "name_parser_event_id",
    "recommendation_model_event_id",
    "version_info",
];

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    Lead,
    Contact,
}

impl EntityType {
    /// `lead` / `contact`, as in `entity_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Lead => "lead",
            EntityType::Contact => "contact",
        }
    }

    /// `entity_type` as sent: case-insensitive, surrounding blanks ignored.
    pub fn parse(text: &str) -> Option<EntityType> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("lead") {
            Some(EntityType::Lead)
        } else if t.eq_ignore_ascii_case("contact") {
            Some(EntityType::Contact)
        } else {
            None
        }
    }

    /// The record's `entityType`.
    pub fn record_type(self) -> &'static str {
        match self {
            EntityType::Lead => "lead_analytics_event",
            EntityType::Contact => "contact_analytics_event",
        }
    }

    /// The label before `|` in `partitionKey`.
    pub fn partition_label(self) -> &'static str {
        match self {
            EntityType::Lead => "Lead analytics event",
            EntityType::Contact => "Contact analytics event",
        }
    }
}

/// The record's `partitionKey`: `Lead analytics event|<batch id>`.
pub fn partition_key(entity: EntityType, batch_id: &str) -> String {
    format!("{}|{batch_id}", entity.partition_label())
}

/// Epoch milliseconds as ISO-8601 UTC with milliseconds: `2018-09-03T17:06:05.719Z`.
/// Values beyond chrono's range (±262,000 years) are clamped to it.
pub fn iso_millis(ms: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One validated analytics event.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmEvent {
    pub resource: Resource,
    pub customer_id: String,
    /// Resolved: `entity_type` on analytics_events, else the endpoint's entity.
    pub entity_type: EntityType,
    /// Resolved: `entity_id`, `lead_id` or `contact_id`, whichever identified the entity.
    pub entity_id: String,
    pub user_id: String,
    pub tool_signature: Option<String>,
    pub recording_id: String,
    pub event_type: String,
    pub event_id: String,
    pub message: Option<String>,
    pub javascript_local_time: Option<String>,
    pub apex_local_time: Option<String>,
    pub event_environment_path: Option<String>,
    pub name_parser_event_id: Option<String>,
    pub recommendation_model_event_id: Option<String>,
    /// Validated: every value is a JSON string.
    pub version_info: Option<Map<String, Value>>,
    /// The body exactly as sent, unknown fields included.
    pub raw: Map<String, Value>,
}

impl CrmEvent {
    /// The browser-extension variant of lead_analytics (`tool_signature` `browser_extension`).
    pub fn is_browser_extension(&self) -> bool {
        self.tool_signature
            .as_deref()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(BROWSER_EXTENSION))
    }

    /// The stored record, the 201 body: the document fields sent, in the order sent (strings
    /// as their text, `entity_type` lowercased), then `entityType`, `partitionKey`, `sortKey`,
    /// `created_at`, `updated_at`.
    pub fn record(&self, batch_id: &str, received_at_ms: i64) -> Map<String, Value> {
        let mut record = Map::new();
        for (field, value) in &self.raw {
            if value.is_null() || !self.resource.accepts_field(field) {
                continue;
            }
            let stored = match (field.as_str(), value) {
                ("entity_type", _) => Value::String(self.entity_type.as_str().to_string()),
                ("version_info", v) => v.clone(),
                (_, Value::String(s)) => Value::String(s.clone()),
                (_, Value::Number(n)) => Value::String(n.to_string()),
                (_, other) => other.clone(),
            };
            record.insert(field.clone(), stored);
        }
        let at = iso_millis(received_at_ms);
        record.insert("entityType".into(), self.entity_type.record_type().into());
        record.insert(
            "partitionKey".into(),
            partition_key(self.entity_type, batch_id).into(),
        );
        record.insert("sortKey".into(), self.customer_id.clone().into());
        record.insert("created_at".into(), at.clone().into());
        record.insert("updated_at".into(), at.into());
        record
    }
}

/// One invalid or missing field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (`customer_id`, `version_info.build`).
    pub field: String,
    pub message: String,
}

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    #[error("the request body is empty")]
    EmptyBody,
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("{}", invalid_summary(.0))]
    Invalid(Vec<FieldError>),
}

fn invalid_summary(errors: &[FieldError]) -> String {
    match errors.len() {
        1 => "1 field is invalid or missing".into(),
        n => format!("{n} fields are invalid or missing"),
    }
}

impl CrmError {
    pub fn status(&self) -> StatusCode {
        match self {
            CrmError::EmptyBody | CrmError::Json(_) => StatusCode::BAD_REQUEST,
            CrmError::NotAnObject | CrmError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The invalid or missing fields (empty for problems with the body as a whole).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            CrmError::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

/// Parse and validate one request body for `resource`. Used by the gateway (to accept or
/// reject) and by the enricher (to read an accepted batch), so both always agree.
pub fn parse(resource: Resource, body: &[u8]) -> Result<CrmEvent, CrmError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CrmError::EmptyBody);
    }
    let document: Value =
        serde_json::from_slice(body).map_err(|e| CrmError::Json(e.to_string()))?;
    validate(resource, &document)
}

/// A field as read: absent (or `null`), present, or refused (the error is recorded).
enum Read {
    Absent,
    Present(String),
    Refused,
}

/// Collects every field error instead of stopping at the first.
struct Checker<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// A string field: strings as sent, numbers as their text.
    fn read(&mut self, field: &str, allow_blank: bool) -> Read {
        match self.object.get(field) {
            None | Some(Value::Null) => Read::Absent,
            Some(Value::String(s)) if !allow_blank && s.trim().is_empty() => {
                self.fail(field, "must not be empty");
                Read::Refused
            }
            Some(Value::String(s)) => Read::Present(s.clone()),
            Some(Value::Number(n)) => Read::Present(n.to_string()),
            Some(_) => {
                self.fail(field, "must be a string");
                Read::Refused
            }
        }
    }

    fn optional(&mut self, field: &str) -> Option<String> {
        match self.read(field, true) {
            Read::Present(s) => Some(s),
            Read::Absent | Read::Refused => None,
        }
    }

    /// A required non-blank string field.
    fn required(&mut self, field: &str) -> String {
        match self.read(field, false) {
            Read::Present(s) => s,
            Read::Absent => {
                self.fail(field, "is required");
                String::new()
            }
            Read::Refused => String::new(),
        }
    }

    fn version_info(&mut self) -> Option<Map<String, Value>> {
        match self.object.get("version_info") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => {
                let before = self.errors.len();
                for (key, value) in map {
                    if !value.is_string() {
                        self.fail(&format!("version_info.{key}"), "must be a string");
                    }
                }
                (self.errors.len() == before).then(|| map.clone())
            }
            Some(_) => {
                self.fail("version_info", "must be an object of strings");
                None
            }
        }
    }

    /// The specific id of lead_analytics / contact_analytics, or `entity_id` standing in.
    fn specific_entity(
        &mut self,
        resource: Resource,
        entity: EntityType,
        browser_extension: bool,
    ) -> String {
        let id_field = match entity {
            EntityType::Lead => "lead_id",
            EntityType::Contact => "contact_id",
        };
        let specific = self.read(id_field, false);
        let entity_id = self.read("entity_id", false);
        if let Read::Present(sent) = self.read("entity_type", false) {
            if EntityType::parse(&sent) != Some(entity) {
                self.fail(
                    "entity_type",
                    format!("must be \"{}\" on {}", entity.as_str(), resource.path()),
                );
            }
        }
        match (specific, entity_id) {
            (Read::Present(id), Read::Present(other)) if id != other => {
                self.fail(
                    "entity_id",
                    format!("must equal {id_field} when both are given"),
                );
                id
            }
            (Read::Present(id), _) => id,
            (Read::Refused, _) => String::new(),
            (Read::Absent, Read::Present(id))
                if entity == EntityType::Lead && browser_extension =>
            {
                id
            }
            (Read::Absent, Read::Present(_)) => {
                let why = match entity {
                    EntityType::Lead => format!(
                        "is required (entity_id alone is accepted only with tool_signature \"{BROWSER_EXTENSION}\")"
                    ),
                    EntityType::Contact => {
                        "is required (entity_id alone is accepted only by the browser-extension variant of /api/v1/lead_analytics)".to_string()
                    }
                };
                self.fail(id_field, why);
                String::new()
            }
            (Read::Absent, Read::Absent | Read::Refused) => {
                self.fail(id_field, "is required");
                String::new()
            }
        }
    }
}

/// Validate a parsed body for `resource`.
pub fn validate(resource: Resource, document: &Value) -> Result<CrmEvent, CrmError> {
    let Value::Object(object) = document else {
        return Err(CrmError::NotAnObject);
    };
    let mut c = Checker {
        object,
        errors: Vec::new(),
    };
    let customer_id = c.required("customer_id");
    let user_id = c.required("user_id");
    let tool_signature = c.optional("tool_signature");
    let browser_extension = tool_signature
        .as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(BROWSER_EXTENSION));
    let (entity_type, entity_id) = match resource.fixed_entity() {
        None => {
            let entity_id = c.required("entity_id");
            let entity_type = match c.read("entity_type", false) {
                Read::Present(sent) => EntityType::parse(&sent).or_else(|| {
                    c.fail(
                        "entity_type",
                        format!("must be \"lead\" or \"contact\", got {}", shown(&sent)),
                    );
                    None
                }),
                Read::Absent => {
                    c.fail("entity_type", "is required (\"lead\" or \"contact\")");
                    None
                }
                Read::Refused => None,
            };
            (entity_type.unwrap_or(EntityType::Lead), entity_id)
        }
        Some(entity) => (
            entity,
            c.specific_entity(resource, entity, browser_extension),
        ),
    };
    for field in resource.foreign_fields() {
        if object.get(*field).is_some_and(|v| !v.is_null()) {
            let hint = match resource {
                Resource::AnalyticsEvents => "use entity_id with entity_type".to_string(),
                other => format!("it belongs to another endpoint than {}", other.path()),
            };
            c.fail(field, format!("is not accepted here; {hint}"));
        }
    }
    let event = CrmEvent {
        resource,
        customer_id,
        entity_type,
        entity_id,
        user_id,
        recording_id: c.required("recording_id"),
        event_type: c.required("event_type"),
        event_id: c.required("event_id"),
        tool_signature,
        message: c.optional("message"),
        javascript_local_time: c.optional("javascript_local_time"),
        apex_local_time: c.optional("apex_local_time"),
        event_environment_path: c.optional("event_environment_path"),
        name_parser_event_id: c.optional("name_parser_event_id"),
        recommendation_model_event_id: c.optional("recommendation_model_event_id"),
        version_info: c.version_info(),
        raw: object.clone(),
    };
    if c.errors.is_empty() {
        Ok(event)
    } else {
        let position = |e: &FieldError| {
            let base = e.field.split('.').next().unwrap_or_default();
            FIELD_ORDER
                .iter()
                .position(|f| *f == base)
                .unwrap_or(FIELD_ORDER.len())
        };
        c.errors.sort_by_key(position);
        Err(CrmError::Invalid(c.errors))
    }
}

/// A value sent by the client, quoted, at most 64 characters of it (messages stay short).
fn shown(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

fn is_json_media_type(content_type: Option<&str>) -> bool {
    match content_type {
        None | Some("application/json") | Some("text/json") => true,
        Some(other) => other.starts_with("application/") && other.ends_with("+json"),
    }
}

/// The one error shape of this family.
fn error_response(status: StatusCode, message: &str, errors: &[FieldError]) -> HttpResponse {
    json_response(
        status,
        &serde_json::json!({
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": message,
            "errors": errors,
        }),
    )
}

/// The response to a refused body.
pub fn error_body_response(error: &CrmError) -> HttpResponse {
    error_response(error.status(), &error.to_string(), error.field_errors())
}

/// Validate one request; on success the gateway publishes it and answers 201 with the record.
// The `Err` type is the shared family interface (`families/mod.rs`, `http.rs`).
#[allow(clippy::result_large_err)]
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let Some(resource) = Resource::from_path(req.path) else {
        return Err(transport_error(&TransportError::NotFound));
    };
    if !is_json_media_type(req.content_type.as_deref()) {
        return Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "unsupported Content-Type {:?}; send application/json",
                req.content_type.as_deref().unwrap_or_default()
            ),
            &[],
        ));
    }
    let event = parse(resource, body).map_err(|e| error_body_response(&e))?;
    let record = event.record(ctx.batch_id, ctx.received_at);
    Ok(Accepted {
        source: resource.source(),
        tenant: ctx.credentials.default_tenant.clone(),
        attributes: HashMap::new(),
        events: 1,
        reply: json_response(StatusCode::CREATED, &Value::Object(record)),
    })
}

/// Errors found before parsing, in this family's error shape (`Allow: POST` on 405).
pub fn transport_error(error: &TransportError) -> HttpResponse {
    transport_error_allowing(error, "POST")
}

/// [`transport_error`] with the `Allow` header of a 405 chosen by the caller: the search
/// endpoints (`GET`) share this error shape.
pub fn transport_error_allowing(error: &TransportError, allow: &'static str) -> HttpResponse {
    let mut response = error_response(error.status(), &error.message(), &[]);
    error.decorate(&mut response, allow);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantsConfig;
    use crate::credentials::Credentials;
    use http_body_util::BodyExt;
    use hyper::{HeaderMap, Method};
    use serde_json::json;

    // The document's request and response samples, verbatim.
    const SAMPLE_ANALYTICS_EVENTS: &str = r#"{
"customer_id": "customer_id",
"entity_id": "ID",
"entity_type": "lead or contact",
"user_id": "current user ID",
"tool_signature": "tool signature",
"recording_id": "gpdb recording ID",
"event_type": "view",
"event_id": "event ID",
"message": "message",
"javascript_local_time": "local_time",
"apex_local_time": "local_time",
"event_environment_path": "path",
"name_parser_event_id": "event_id",
"recommendation_model_event_id": "event_id",
"version_info": {
"key": "value"
}
}"#;

    const SAMPLE_LEAD: &str = r#"{
"customer_id": "customer_id",
"lead_id": "ID",
"user_id": "current user ID",
"tool_signature": "tool signature",
"recording_id": "gpdb recording ID",
"event_type": "view",
"event_id": "event ID",
"message": "message",
"javascript_local_time": "local_time",
"apex_local_time": "local_time",
"event_environment_path": "path",
"name_parser_event_id": "event_id",
"recommendation_model_event_id": "event_id",
"version_info": {
"key": "value"
}
}"#;

    const SAMPLE_LEAD_RESPONSE: &str = r#"{
"customer_id": "customer_id",
"lead_id": "ID",
"user_id": "current user ID",
"tool_signature": "tool signature",
"recording_id": "gpdb recording ID",
"event_type": "view",
"event_id": "event ID",
"message": "message",
"entityType": "lead_analytics_event",
"partitionKey": "Lead analytics event|a4d45290-af9b-11e8-b20e-0d4f82fa24f6",
"sortKey": "customer_id",
"created_at": "2018-09-03T17:06:05.719Z",
"updated_at": "2018-09-03T17:06:05.719Z"
}"#;

    const SAMPLE_CONTACT: &str = r#"{
"customer_id": "customer_id",
"contact_id": "ID",
"user_id": "current user ID",
"tool_signature": "tool signature",
"recording_id": "gpdb recording ID",
"event_type": "view",
"event_id": "event ID",
"message": "message",
"javascript_local_time": "local_time",
"apex_local_time": "local_time",
"event_environment_path": "path",
"name_parser_event_id": "event_id",
"recommendation_model_event_id": "event_id",
"version_info": {
"key": "value"
}
}"#;

    const SAMPLE_CONTACT_RESPONSE: &str = r#"{
"customer_id": "customer_id",
"contact_id": "ID",
"user_id": "current user ID",
"tool_signature": "tool signature",
"recording_id": "gpdb recording ID",
"event_type": "view",
"event_id": "event ID",
"entityType": "contact_analytics_event",
"partitionKey": "Contact analytics event|f52d2b90-af9b-11e8-b20e-0d4f82fa24f6",
"sortKey": "customer_id",
"message": "message",
"created_at": "2018-09-03T17:08:20.299Z",
"updated_at": "2018-09-03T17:08:20.299Z"
}"#;

    const SAMPLE_BROWSER_EXTENSION: &str = r#"{
"customer_id": "ID",
"entity_id": "ID",
"user_id": "ID",
"tool_signature": "browser_extension",
"recording_id": "gpdb recording ID",
"event_type": "view",
"event_id": "event ID",
"message": "message",
"javascript_local_time": "local_time",
"apex_local_time": "local_time",
"event_environment_path": "path",
"name_parser_event_id": "event_id",
"recommendation_model_event_id": "event_id",
"version_info": {
"key": "value"
}
}"#;

    fn ms(iso: &str) -> i64 {
        DateTime::parse_from_rfc3339(iso)
            .unwrap()
            .timestamp_millis()
    }

    fn credentials() -> Credentials {
        Credentials::from_config(&TenantsConfig::default()).unwrap()
    }

    #[allow(clippy::result_large_err)] // returns what `accept` returns
    fn call(
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        batch_id: &str,
        received_at: i64,
    ) -> Result<Accepted, HttpResponse> {
        let credentials = credentials();
        let headers = HeaderMap::new();
        let ctx = AcceptContext {
            credentials: &credentials,
            received_at,
            batch_id,
        };
        let req = RequestParts {
            method: &Method::POST,
            path,
            query: None,
            headers: &headers,
            content_type: content_type.map(str::to_string),
        };
        accept(&ctx, &req, body)
    }

    #[allow(clippy::result_large_err)] // returns what `accept` returns
    fn post(path: &str, body: &str) -> Result<Accepted, HttpResponse> {
        call(
            path,
            Some("application/json"),
            body.as_bytes(),
            "0190b1e2-0000-7000-8000-000000000000",
            ms("2024-07-01T10:00:00.123Z"),
        )
    }

    fn body_of(response: HttpResponse) -> Value {
        let bytes = futures::executor::block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn base(resource: Resource) -> Value {
        let mut body = json!({"customer_id": "c1"});
        match resource {
            Resource::AnalyticsEvents => {
                body["entity_id"] = json!("L1");
                body["entity_type"] = json!("lead");
            }
            Resource::LeadAnalytics => body["lead_id"] = json!("L1"),
            Resource::ContactAnalytics => body["contact_id"] = json!("C1"),
        }
        for (field, value) in [
            ("user_id", "u1"),
            ("recording_id", "r1"),
            ("event_type", "view"),
            ("event_id", "e1"),
        ] {
            body[field] = json!(value);
        }
        body
    }

    /// `None` removes the field.
    type Edit = (&'static str, Option<Value>);

    fn edited(resource: Resource, edits: &[Edit]) -> Value {
        let mut body = base(resource);
        for (field, value) in edits {
            let object = body.as_object_mut().unwrap();
            match value {
                Some(v) => {
                    object.insert(field.to_string(), v.clone());
                }
                None => {
                    object.remove(*field);
                }
            }
        }
        body
    }

    #[test]
    fn field_rules_valid_and_invalid() {
        use Resource::*;
        // (endpoint, edits of its minimal valid body, the field refused or None when accepted)
        let cases: Vec<(Resource, Vec<Edit>, Option<&str>)> = vec![
            (AnalyticsEvents, vec![], None),
            (LeadAnalytics, vec![], None),
            (ContactAnalytics, vec![], None),
            // customer_id, required everywhere
            (
                AnalyticsEvents,
                vec![("customer_id", None)],
                Some("customer_id"),
            ),
            (
                LeadAnalytics,
                vec![("customer_id", Some(json!(null)))],
                Some("customer_id"),
            ),
            (
                ContactAnalytics,
                vec![("customer_id", Some(json!("  ")))],
                Some("customer_id"),
            ),
            (LeadAnalytics, vec![("customer_id", Some(json!(42)))], None),
            (
                LeadAnalytics,
                vec![("customer_id", Some(json!(true)))],
                Some("customer_id"),
            ),
            (
                LeadAnalytics,
                vec![("customer_id", Some(json!(["c1"])))],
                Some("customer_id"),
            ),
            // the other required strings
            (AnalyticsEvents, vec![("user_id", None)], Some("user_id")),
            (
                ContactAnalytics,
                vec![("user_id", Some(json!({})))],
                Some("user_id"),
            ),
            (
                LeadAnalytics,
                vec![("recording_id", None)],
                Some("recording_id"),
            ),
            (
                LeadAnalytics,
                vec![("recording_id", Some(json!(["r1", "r2"])))],
                Some("recording_id"),
            ),
            (
                ContactAnalytics,
                vec![("event_type", None)],
                Some("event_type"),
            ),
            (
                ContactAnalytics,
                vec![("event_type", Some(json!("")))],
                Some("event_type"),
            ),
            (AnalyticsEvents, vec![("event_id", None)], Some("event_id")),
            (AnalyticsEvents, vec![("event_id", Some(json!(17)))], None),
            // optional strings
            (LeadAnalytics, vec![("message", Some(json!("")))], None),
            (
                LeadAnalytics,
                vec![("message", Some(json!({"text": "x"})))],
                Some("message"),
            ),
            (
                LeadAnalytics,
                vec![("tool_signature", Some(json!("vfp")))],
                None,
            ),
            (
                LeadAnalytics,
                vec![("tool_signature", Some(json!([])))],
                Some("tool_signature"),
            ),
            (
                ContactAnalytics,
                vec![("javascript_local_time", Some(json!("local_time")))],
                None,
            ),
            (
                ContactAnalytics,
                vec![("apex_local_time", Some(json!(false)))],
                Some("apex_local_time"),
            ),
            (
                AnalyticsEvents,
                vec![("event_environment_path", Some(json!({})))],
                Some("event_environment_path"),
            ),
            (
                AnalyticsEvents,
                vec![("name_parser_event_id", Some(json!(7)))],
                None,
            ),
            (
                AnalyticsEvents,
                vec![("recommendation_model_event_id", Some(json!([1])))],
                Some("recommendation_model_event_id"),
            ),
            // version_info: an object of strings
            (LeadAnalytics, vec![("version_info", Some(json!({})))], None),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!({"app": "1.2", "os": "x"})))],
                None,
            ),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!({"app": 1.2})))],
                Some("version_info.app"),
            ),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!({"app": null})))],
                Some("version_info.app"),
            ),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!({"app": {"v": "1"}})))],
                Some("version_info.app"),
            ),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!("1.2")))],
                Some("version_info"),
            ),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!(["1.2"])))],
                Some("version_info"),
            ),
            (
                LeadAnalytics,
                vec![("version_info", Some(json!(null)))],
                None,
            ),
            // analytics_events: entity_type + entity_id
            (
                AnalyticsEvents,
                vec![("entity_type", Some(json!("contact")))],
                None,
            ),
            (
                AnalyticsEvents,
                vec![("entity_type", Some(json!(" Lead ")))],
                None,
            ),
            (
                AnalyticsEvents,
                vec![("entity_type", Some(json!("lead or contact")))],
                Some("entity_type"),
            ),
            (
                AnalyticsEvents,
                vec![("entity_type", Some(json!("account")))],
                Some("entity_type"),
            ),
            (
                AnalyticsEvents,
                vec![("entity_type", None)],
                Some("entity_type"),
            ),
            (
                AnalyticsEvents,
                vec![("entity_type", Some(json!(1)))],
                Some("entity_type"),
            ),
            (
                AnalyticsEvents,
                vec![("entity_id", None)],
                Some("entity_id"),
            ),
            (
                AnalyticsEvents,
                vec![("entity_id", Some(json!("")))],
                Some("entity_id"),
            ),
            (
                AnalyticsEvents,
                vec![("lead_id", Some(json!("L1")))],
                Some("lead_id"),
            ),
            (
                AnalyticsEvents,
                vec![("contact_id", Some(json!("C1")))],
                Some("contact_id"),
            ),
            // lead_analytics: lead_id, or entity_id for the browser extension
            (LeadAnalytics, vec![("lead_id", None)], Some("lead_id")),
            (
                LeadAnalytics,
                vec![("lead_id", Some(json!("")))],
                Some("lead_id"),
            ),
            (
                LeadAnalytics,
                vec![("lead_id", Some(json!({})))],
                Some("lead_id"),
            ),
            (
                LeadAnalytics,
                vec![
                    ("lead_id", None),
                    ("entity_id", Some(json!("L1"))),
                    ("tool_signature", Some(json!("browser_extension"))),
                ],
                None,
            ),
            (
                LeadAnalytics,
                vec![
                    ("lead_id", None),
                    ("entity_id", Some(json!("L1"))),
                    ("tool_signature", Some(json!("Browser_Extension "))),
                ],
                None,
            ),
            (
                LeadAnalytics,
                vec![
                    ("lead_id", None),
                    ("entity_id", Some(json!("L1"))),
                    ("tool_signature", Some(json!("vfp"))),
                ],
                Some("lead_id"),
            ),
            (
                LeadAnalytics,
                vec![("lead_id", None), ("entity_id", Some(json!("L1")))],
                Some("lead_id"),
            ),
            (
                LeadAnalytics,
                vec![
                    ("lead_id", None),
                    ("tool_signature", Some(json!("browser_extension"))),
                ],
                Some("lead_id"),
            ),
            (LeadAnalytics, vec![("entity_id", Some(json!("L1")))], None),
            (
                LeadAnalytics,
                vec![("entity_id", Some(json!("L2")))],
                Some("entity_id"),
            ),
            (
                LeadAnalytics,
                vec![("entity_type", Some(json!("lead")))],
                None,
            ),
            (
                LeadAnalytics,
                vec![("entity_type", Some(json!("contact")))],
                Some("entity_type"),
            ),
            (
                LeadAnalytics,
                vec![("contact_id", Some(json!("C1")))],
                Some("contact_id"),
            ),
            // contact_analytics: contact_id
            (
                ContactAnalytics,
                vec![("contact_id", None)],
                Some("contact_id"),
            ),
            (ContactAnalytics, vec![("contact_id", Some(json!(9)))], None),
            (
                ContactAnalytics,
                vec![
                    ("contact_id", None),
                    ("entity_id", Some(json!("C1"))),
                    ("tool_signature", Some(json!("browser_extension"))),
                ],
                Some("contact_id"),
            ),
            (
                ContactAnalytics,
                vec![("entity_id", Some(json!("C1")))],
                None,
            ),
            (
                ContactAnalytics,
                vec![("entity_type", Some(json!("CONTACT")))],
                None,
            ),
            (
                ContactAnalytics,
                vec![("entity_type", Some(json!("lead")))],
                Some("entity_type"),
            ),
            (
                ContactAnalytics,
                vec![("lead_id", Some(json!("L1")))],
                Some("lead_id"),
            ),
            // fields the document does not define are ignored
            (
                ContactAnalytics,
                vec![
                    ("Customer_ID", Some(json!("x"))),
                    ("extra", Some(json!([1]))),
                ],
                None,
            ),
            (
                LeadAnalytics,
                vec![("customer_id", None), ("Customer_ID", Some(json!("c1")))],
                Some("customer_id"),
            ),
        ];
        let count = cases.len();
        for (resource, edits, refused) in cases {
            let body = edited(resource, &edits);
            let result = validate(resource, &body);
            match refused {
                None => assert!(result.is_ok(), "{resource:?} {body}: {result:?}"),
                Some(field) => {
                    let error = result.expect_err(&format!("{resource:?} {body} must be refused"));
                    let fields: Vec<_> = error
                        .field_errors()
                        .iter()
                        .map(|e| e.field.as_str())
                        .collect();
                    assert_eq!(fields, vec![field], "{resource:?} {body}");
                    assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
                }
            }
        }
        assert!(count >= 60, "{count}");
    }

    #[test]
    fn entities_are_resolved() {
        // (endpoint, edits, entity type, entity id, browser extension)
        let cases: Vec<(Resource, Vec<Edit>, EntityType, &str, bool)> = vec![
            (
                Resource::AnalyticsEvents,
                vec![],
                EntityType::Lead,
                "L1",
                false,
            ),
            (
                Resource::AnalyticsEvents,
                vec![("entity_type", Some(json!("Contact")))],
                EntityType::Contact,
                "L1",
                false,
            ),
            (
                Resource::LeadAnalytics,
                vec![],
                EntityType::Lead,
                "L1",
                false,
            ),
            (
                Resource::LeadAnalytics,
                vec![
                    ("lead_id", None),
                    ("entity_id", Some(json!("E7"))),
                    ("tool_signature", Some(json!("browser_extension"))),
                ],
                EntityType::Lead,
                "E7",
                true,
            ),
            (
                Resource::ContactAnalytics,
                vec![("contact_id", Some(json!(12)))],
                EntityType::Contact,
                "12",
                false,
            ),
        ];
        for (resource, edits, entity_type, entity_id, extension) in cases {
            let event = validate(resource, &edited(resource, &edits)).unwrap();
            assert_eq!(event.resource, resource);
            assert_eq!(event.entity_type, entity_type);
            assert_eq!(event.entity_id, entity_id);
            assert_eq!(event.is_browser_extension(), extension);
        }
    }

    #[test]
    fn every_invalid_or_missing_field_is_named_in_document_order() {
        let cases: &[(Resource, &str, &[&str])] = &[
            (
                Resource::AnalyticsEvents,
                "{}",
                &[
                    "customer_id",
                    "entity_id",
                    "entity_type",
                    "user_id",
                    "recording_id",
                    "event_type",
                    "event_id",
                ],
            ),
            (
                Resource::LeadAnalytics,
                "{}",
                &[
                    "customer_id",
                    "lead_id",
                    "user_id",
                    "recording_id",
                    "event_type",
                    "event_id",
                ],
            ),
            (
                Resource::ContactAnalytics,
                r#"{"event_id": 1, "version_info": {"a": 1, "b": "x", "c": true}, "message": [], "contact_id": ""}"#,
                &[
                    "customer_id",
                    "contact_id",
                    "user_id",
                    "recording_id",
                    "event_type",
                    "message",
                    "version_info.a",
                    "version_info.c",
                ],
            ),
        ];
        for (resource, body, want) in cases {
            let error = parse(*resource, body.as_bytes()).unwrap_err();
            let got: Vec<_> = error
                .field_errors()
                .iter()
                .map(|e| e.field.as_str())
                .collect();
            assert_eq!(&got, want, "{resource:?} {body}");
        }
    }

    #[test]
    fn body_level_problems() {
        // (body, status, words the message must contain)
        let cases: &[(&str, StatusCode, &str)] = &[
            ("", StatusCode::BAD_REQUEST, "empty"),
            (" \n ", StatusCode::BAD_REQUEST, "empty"),
            (
                "{\"customer_id\": ",
                StatusCode::BAD_REQUEST,
                "line 1 column 16",
            ),
            (
                "{\"customer_id\": c1}",
                StatusCode::BAD_REQUEST,
                "line 1 column 17",
            ),
            (
                "{}\n{}",
                StatusCode::BAD_REQUEST,
                "trailing characters at line 2 column 1",
            ),
            (
                "[]",
                StatusCode::UNPROCESSABLE_ENTITY,
                "must be a JSON object",
            ),
            (
                "[{\"customer_id\": \"c1\"}]",
                StatusCode::UNPROCESSABLE_ENTITY,
                "must be a JSON object",
            ),
            (
                "\"text\"",
                StatusCode::UNPROCESSABLE_ENTITY,
                "must be a JSON object",
            ),
            (
                "null",
                StatusCode::UNPROCESSABLE_ENTITY,
                "must be a JSON object",
            ),
        ];
        for (body, status, want) in cases {
            let error = parse(Resource::LeadAnalytics, body.as_bytes()).unwrap_err();
            assert_eq!(error.status(), *status, "{body:?}");
            assert!(error.to_string().contains(want), "{body:?}: {error}");
            let response = post("/api/v1/lead_analytics", body).err().unwrap();
            assert_eq!(response.status(), *status);
            let json = body_of(response);
            assert_eq!(json["error"], status.canonical_reason().unwrap());
            assert!(json["message"].as_str().unwrap().contains(want), "{json}");
            assert_eq!(json["errors"], json!([]));
        }
    }

    #[test]
    fn a_422_names_the_fields_in_one_shape() {
        let response = post(
            "/api/v1/contact_analytics",
            r#"{"customer_id": "c1", "user_id": true}"#,
        )
        .err()
        .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(
            body_of(response),
            json!({
                "error": "Unprocessable Entity",
                "message": "5 fields are invalid or missing",
                "errors": [
                    {"field": "contact_id", "message": "is required"},
                    {"field": "user_id", "message": "must be a string"},
                    {"field": "recording_id", "message": "is required"},
                    {"field": "event_type", "message": "is required"},
                    {"field": "event_id", "message": "is required"},
                ]
            })
        );
    }

    #[test]
    fn document_sample_lead_analytics_gets_the_documented_response() {
        let accepted = call(
            "/api/v1/lead_analytics",
            Some("application/json"),
            SAMPLE_LEAD.as_bytes(),
            "a4d45290-af9b-11e8-b20e-0d4f82fa24f6",
            ms("2018-09-03T17:06:05.719Z"),
        )
        .unwrap_or_else(|r| panic!("{}", body_of(r)));
        assert_eq!(accepted.source, Source::CrmLeadAnalytics);
        assert_eq!(accepted.tenant, "default");
        assert_eq!(accepted.events, 1);
        assert!(accepted.attributes.is_empty());
        assert_eq!(accepted.reply.status(), StatusCode::CREATED);
        let got = body_of(accepted.reply);
        let got = got.as_object().unwrap();
        let documented: Map<String, Value> = serde_json::from_str(SAMPLE_LEAD_RESPONSE).unwrap();
        // Every documented key with the documented value, in the documented order ...
        for (key, value) in &documented {
            assert_eq!(got.get(key), Some(value), "{key}");
        }
        let order: Vec<_> = got.keys().filter(|k| documented.contains_key(*k)).collect();
        assert_eq!(order, documented.keys().collect::<Vec<_>>());
        // ... plus the request fields the sample response omits, where they were sent.
        let keys: Vec<_> = got.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec![
                "customer_id",
                "lead_id",
                "user_id",
                "tool_signature",
                "recording_id",
                "event_type",
                "event_id",
                "message",
                "javascript_local_time",
                "apex_local_time",
                "event_environment_path",
                "name_parser_event_id",
                "recommendation_model_event_id",
                "version_info",
                "entityType",
                "partitionKey",
                "sortKey",
                "created_at",
                "updated_at",
            ]
        );
        assert_eq!(got["version_info"], json!({"key": "value"}));
    }

    #[test]
    fn document_sample_contact_analytics_gets_the_documented_values() {
        let accepted = call(
            "/api/v1/contact_analytics",
            None,
            SAMPLE_CONTACT.as_bytes(),
            "f52d2b90-af9b-11e8-b20e-0d4f82fa24f6",
            ms("2018-09-03T17:08:20.299Z"),
        )
        .unwrap_or_else(|r| panic!("{}", body_of(r)));
        assert_eq!(accepted.source, Source::CrmContactAnalytics);
        let got = body_of(accepted.reply);
        let got = got.as_object().unwrap();
        let documented: Map<String, Value> = serde_json::from_str(SAMPLE_CONTACT_RESPONSE).unwrap();
        for (key, value) in &documented {
            assert_eq!(got.get(key), Some(value), "{key}");
        }
        // Same order except `message`, which we keep where the request had it.
        let ours: Vec<_> = got
            .keys()
            .filter(|k| documented.contains_key(*k) && *k != "message")
            .collect();
        let theirs: Vec<_> = documented.keys().filter(|k| *k != "message").collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn document_sample_analytics_events_is_refused_for_its_placeholder_entity_type() {
        // The sample's entity_type is the placeholder "lead or contact": 422 naming it alone.
        let response = post("/api/v1/analytics_events", SAMPLE_ANALYTICS_EVENTS)
            .err()
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let errors = body_of(response)["errors"].clone();
        assert_eq!(
            errors,
            json!([{"field": "entity_type", "message": "must be \"lead\" or \"contact\", got \"lead or contact\""}])
        );
        // With either real value it is stored under that entity.
        for (value, entity_type, prefix) in [
            ("lead", "lead_analytics_event", "Lead analytics event|"),
            (
                "contact",
                "contact_analytics_event",
                "Contact analytics event|",
            ),
        ] {
            let body = SAMPLE_ANALYTICS_EVENTS.replace("lead or contact", value);
            let accepted = post("/api/v1/analytics_events", &body)
                .unwrap_or_else(|r| panic!("{}", body_of(r)));
            assert_eq!(accepted.source, Source::CrmAnalyticsEvents);
            let record = body_of(accepted.reply);
            assert_eq!(record["entity_type"], value);
            assert_eq!(record["entity_id"], "ID");
            assert_eq!(record["entityType"], entity_type);
            assert!(record["partitionKey"].as_str().unwrap().starts_with(prefix));
        }
    }

    #[test]
    fn document_sample_browser_extension_is_a_lead_event_keyed_by_entity_id() {
        let event = parse(Resource::LeadAnalytics, SAMPLE_BROWSER_EXTENSION.as_bytes()).unwrap();
        assert!(event.is_browser_extension());
        assert_eq!(event.entity_type, EntityType::Lead);
        assert_eq!(event.entity_id, "ID");
        let accepted = post("/api/v1/lead_analytics", SAMPLE_BROWSER_EXTENSION).unwrap();
        assert_eq!(accepted.reply.status(), StatusCode::CREATED);
        let record = body_of(accepted.reply);
        assert_eq!(record["entity_id"], "ID");
        assert!(record.get("lead_id").is_none(), "no invented lead_id");
        assert_eq!(record["entityType"], "lead_analytics_event");
        // The same body on contact_analytics has no contact.
        let response = post("/api/v1/contact_analytics", SAMPLE_BROWSER_EXTENSION)
            .err()
            .unwrap();
        assert_eq!(body_of(response)["errors"][0]["field"], "contact_id");
    }

    #[test]
    fn the_record_is_normalised_and_ignores_unknown_and_system_fields() {
        let body = json!({
            "event_id": 5, "extra": "x", "customer_id": 42, "entityType": "forged",
            "entity_type": "CONTACT", "sortKey": "forged", "user_id": "u", "entity_id": "E",
            "recording_id": "r", "event_type": "view", "message": null,
        });
        let event = validate(Resource::AnalyticsEvents, &body).unwrap();
        assert_eq!(event.customer_id, "42");
        assert_eq!(event.event_id, "5");
        assert_eq!(event.message, None);
        assert_eq!(event.raw.len(), 11);
        let record = event.record("b-1", 0);
        assert_eq!(
            Value::Object(record),
            json!({
                "event_id": "5", "customer_id": "42", "entity_type": "contact", "user_id": "u",
                "entity_id": "E", "recording_id": "r", "event_type": "view",
                "entityType": "contact_analytics_event",
                "partitionKey": "Contact analytics event|b-1", "sortKey": "42",
                "created_at": "1970-01-01T00:00:00.000Z", "updated_at": "1970-01-01T00:00:00.000Z",
            })
        );
        let keys: Vec<_> = event.record("b-1", 0).keys().cloned().collect();
        assert_eq!(keys[0], "event_id", "request order is kept");
    }

    #[test]
    fn paths_content_types_and_sources() {
        let body = base(Resource::LeadAnalytics).to_string();
        let cases: &[(&str, Option<&str>, Option<Source>, StatusCode)] = &[
            (
                "/api/v1/lead_analytics",
                Some("application/json"),
                Some(Source::CrmLeadAnalytics),
                StatusCode::CREATED,
            ),
            (
                "/API/V1/Lead_Analytics/",
                None,
                Some(Source::CrmLeadAnalytics),
                StatusCode::CREATED,
            ),
            (
                "/api/v1/lead_analytics",
                Some("text/json"),
                Some(Source::CrmLeadAnalytics),
                StatusCode::CREATED,
            ),
            (
                "/api/v1/lead_analytics",
                Some("application/vnd.crm+json"),
                Some(Source::CrmLeadAnalytics),
                StatusCode::CREATED,
            ),
            (
                "/api/v1/lead_analytics",
                Some("text/plain"),
                None,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "/api/v1/lead_analytics",
                Some("application/x-www-form-urlencoded"),
                None,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "/api/v1/lead_analytics/search",
                None,
                None,
                StatusCode::NOT_FOUND,
            ),
            ("/api/v1/leads", None, None, StatusCode::NOT_FOUND),
        ];
        for (path, content_type, source, status) in cases {
            match call(path, *content_type, body.as_bytes(), "b", 0) {
                Ok(accepted) => {
                    assert_eq!(Some(accepted.source), *source, "{path}");
                    assert_eq!(accepted.reply.status(), *status, "{path}");
                }
                Err(response) => {
                    assert_eq!(source, &None, "{path} {content_type:?}");
                    assert_eq!(response.status(), *status, "{path} {content_type:?}");
                    let json = body_of(response);
                    assert_eq!(json["errors"], json!([]));
                    assert!(json["message"].is_string());
                }
            }
        }
        for resource in Resource::ALL {
            assert_eq!(Resource::from_source(resource.source()), Some(resource));
            assert_eq!(Resource::from_path(resource.path()), Some(resource));
            assert_eq!(
                Resource::from_path(&format!("{}//", resource.path().to_uppercase())),
                Some(resource)
            );
        }
        assert_eq!(Resource::from_source(Source::MobileBatch), None);
        assert_eq!(Resource::from_path("/api/v1/analytics_events/x"), None);
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
            (TransportError::Timeout, 408, "Request Timeout"),
            (
                TransportError::BadContentEncoding("br".into()),
                400,
                "Bad Request",
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
        for (error, status, reason) in cases {
            let response = transport_error(&error);
            assert_eq!(response.status().as_u16(), status);
            let headers = response.headers().clone();
            let json = body_of(response);
            assert_eq!(json["error"], reason, "{error:?}");
            assert_eq!(json["message"], error.message());
            assert_eq!(json["errors"], json!([]));
            match error {
                TransportError::MethodNotAllowed => assert_eq!(headers["allow"], "POST"),
                TransportError::Unavailable { .. } => assert_eq!(headers["retry-after"], "5"),
                _ => {
                    assert!(headers.get("allow").is_none() && headers.get("retry-after").is_none())
                }
            }
        }
        let search = transport_error_allowing(&TransportError::MethodNotAllowed, "GET");
        assert_eq!(search.headers()["allow"], "GET");
    }

    #[test]
    fn helpers() {
        assert_eq!(
            iso_millis(ms("2018-09-03T17:06:05.719Z")),
            "2018-09-03T17:06:05.719Z"
        );
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso_millis(1_541_164_324_000), "2018-11-02T13:12:04.000Z");
        assert!(!iso_millis(i64::MAX).is_empty());
        assert!(!iso_millis(i64::MIN).is_empty());
        assert_eq!(
            partition_key(EntityType::Lead, "a4d45290-af9b-11e8-b20e-0d4f82fa24f6"),
            "Lead analytics event|a4d45290-af9b-11e8-b20e-0d4f82fa24f6"
        );
        assert_eq!(
            partition_key(EntityType::Contact, "x"),
            "Contact analytics event|x"
        );
        assert_eq!(EntityType::parse("LEAD"), Some(EntityType::Lead));
        assert_eq!(EntityType::parse("contacts"), None);
        assert_eq!(EntityType::Contact.as_str(), "contact");
    }
}
