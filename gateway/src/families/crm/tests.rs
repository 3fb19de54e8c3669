use super::*;
use chrono::DateTime;
use serde_json::{Map, Value};
use tributary_wire::crm::*;

use super::reply::status as status_of;
use crate::config::TenantsConfig;
use crate::credentials::Credentials;
use http_body_util::BodyExt;
use hyper::{HeaderMap, Method};
use serde_json::json;
use tributary_schemas::Source;

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
                assert_eq!(status_of(&error), StatusCode::UNPROCESSABLE_ENTITY);
            }
        }
    }
    assert!(count >= 60, "{count}");
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
        assert_eq!(status_of(&error), *status, "{body:?}");
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
        let accepted =
            post("/api/v1/analytics_events", &body).unwrap_or_else(|r| panic!("{}", body_of(r)));
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
