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

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tributary_schemas::Source;

use crate::fields::shown;

#[cfg(test)]
mod tests;

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
    /// The invalid or missing fields (empty for problems with the body as a whole).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            CrmError::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

/// Document 001's wire format; see [`crate::WireFormat`]. One request is one record.
pub struct Crm;

impl crate::WireFormat for Crm {
    type Variant = Resource;
    type Event = CrmEvent;
    type Error = CrmError;
    const BODY_LIMIT: usize = BODY_LIMIT;

    fn parse(resource: Resource, body: &[u8]) -> Result<Vec<CrmEvent>, CrmError> {
        parse(resource, body).map(|event| vec![event])
    }
}

/// Parse and validate one request body for `resource`. Used by the gateway (to accept or
/// reject) and by the enricher (to read an accepted batch), so both always agree.
pub fn parse(resource: Resource, body: &[u8]) -> Result<CrmEvent, CrmError> {
    if crate::is_blank(body) {
        return Err(CrmError::EmptyBody);
    }
    let document = crate::parse_json(body).map_err(CrmError::Json)?;
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
