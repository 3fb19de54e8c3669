use super::*;
use crate::time::ClientTime;
use serde_json::json;

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
    assert_eq!(
        e.event_timestamp,
        Some(ClientTime::Instant(1_580_213_208_000))
    );
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
    assert_eq!(
        e.event_timestamp,
        Some(ClientTime::Instant(1_577_191_920_000))
    );
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
        ("eventTimestamp", json!(1.5), true),
        ("eventTimestamp", json!(1659386157.403862), true),
        ("eventTimestamp", json!(4294967295.5), false),
        ("eventTimestamp", s("1659386157.403862"), true),
        ("eventTimestamp", s("2021-12-29T06:12:28+0530"), true),
        ("eventTimestamp", s("2016-12-31T23:59:60Z"), true),
        ("eventTimestamp", json!(1580213208123u64), false),
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
fn the_gateway_refuses_revenue_the_tables_cannot_hold() {
    let storable = |field: &str, value: Value| {
        let item = with(Method::CustomRevenue, field, &value);
        let events = validate(Method::CustomRevenue, false, &item).expect("parse takes it");
        check_storable(&events, false)
    };
    for (field, value) in [
        ("currency", s("usd")),
        ("currency", s("XAU")),
        ("total", s("9999999999999999999.999999999")),
        ("total", s("0.10000000000")),
        ("total", json!(1e18)),
        ("total", s("0007.5")),
    ] {
        assert_eq!(storable(field, value.clone()), Ok(()), "{field} {value}");
    }
    for (field, value) in [
        ("currency", s("ABC")),
        ("currency", s("xxx")),
        ("currency", s("XTS")),
        ("total", s("0.0000000001")),
        ("total", json!(0.1234567891)),
        ("total", s("1e-10")),
        ("total", s("10000000000000000000")),
        ("total", s("1e19")),
        ("total", s("99999999999999999999999999999.999999999")),
    ] {
        match storable(field, value.clone()) {
            Err(S2sError::BadRequest(invalid)) => {
                assert_eq!(invalid.field, Some(field), "{value}");
                assert_eq!(invalid.index, None);
            }
            other => panic!("{field} {value}: {other:?}"),
        }
    }
    // In a batch the error names the item.
    let items = json!([
        {"customUserId": "1", "eventTimestamp": 1, "idTransaction": "a", "currency": "USD", "total": 1},
        {"customUserId": "1", "eventTimestamp": 1, "idTransaction": "b", "currency": "ABC", "total": 1}
    ]);
    let events = validate(Method::CustomRevenue, true, &items).unwrap();
    match check_storable(&events, true) {
        Err(S2sError::BadRequest(invalid)) => assert_eq!(invalid.index, Some(1)),
        other => panic!("{other:?}"),
    }
}
