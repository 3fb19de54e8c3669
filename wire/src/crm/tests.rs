use super::*;
use serde_json::json;

fn ms(iso: &str) -> i64 {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .timestamp_millis()
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
