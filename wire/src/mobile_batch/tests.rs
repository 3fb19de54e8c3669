use super::form::{form_decode, form_key, FormKey, MAX_FORM_FAILURES};
use super::xml::position;
use super::*;
use super::{form, xml};
use crate::UTF8_BOM;
use serde_json::json;
use serde_json::{Map, Value};

/// The seed's JSON sample, verbatim.
const SEED_JSON: &str = include_str!("../../../fixtures/000_mobile_batch/request.json");

/// The seed's XML sample, verbatim.
const SEED_XML: &str = include_str!("../../../fixtures/000_mobile_batch/request.xml");

#[test]
fn the_fast_check_takes_the_common_shape_and_never_what_validate_refuses() {
    let one = |event: &str| format!(r#"{{"events":[{event}]}}"#);
    let base = r#""event_id":"e1","event_name":"open","timestamp_utc":1700000000"#;
    // (body, whether the fast path must take it)
    let cases = [
        (SEED_JSON.to_string(), true),
        (one(&format!("{{{base}}}")), true),
        (
            one(&format!(
                r#"{{{base},"payload":{{"a":[1,{{"b":null}}]}},"latitude":1}}"#
            )),
            true,
        ),
        (one(&format!(r#"{{{base},"user_id":null,"zip":""}}"#)), true),
        (one(&format!(r#"{{{base},"event_id":"e2"}}"#)), false), // duplicate key
        (
            one(r#"{"Event_Id":"e1","event_name":"open","timestamp_utc":1}"#),
            false,
        ),
        (one(&format!(r#"{{{base},"extra":1}}"#)), false), // kept in raw by validate
        (
            one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":"17"}"#),
            false,
        ),
        (
            one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":1.0}"#),
            false,
        ),
        (
            one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":-1}"#),
            false,
        ),
        (
            one(r#"{"event_id":" ","event_name":"open","timestamp_utc":1}"#),
            false,
        ),
        (
            one(r#"{"event_id":7,"event_name":"open","timestamp_utc":1}"#),
            false,
        ),
        (one(r#"{"event_name":"open","timestamp_utc":1}"#), false),
        (
            one(&format!(r#"{{{base},"user_id":18446744073709551615}}"#)),
            false,
        ),
        (one(&format!(r#"{{{base},"payload":[]}}"#)), false),
        (one(&format!(r#"{{{base},"latitude":1e400}}"#)), false),
        (
            one(&format!(r#"{{{base},"payload":{{"n":1e400}}}}"#)),
            false,
        ),
        (
            one(&format!(
                r#"{{{base},"payload":{{"d":{}{}}}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            )),
            false,
        ),
        // Numbers anywhere in the payload are checked, at any depth, of any size in range.
        (
            one(&format!(
                r#"{{{base},"payload":{{"a":[1,{{"b":[-2.5e300,"x",true]}}],"n":123456789012345678901234567890}}}}"#
            )),
            true,
        ),
        (
            one(&format!(
                r#"{{{base},"payload":{{"a":[1,{{"b":[1e400]}}]}}}}"#
            )),
            false,
        ),
        (
            one(&format!(r#"{{{base},"payload":{{"a":{{"b":-1e309}}}}}}"#)),
            false,
        ),
        (one(&format!(r#"{{{base},"payload":"text"}}"#)), false),
        (one(&format!(r#"{{{base},"payload":5}}"#)), false),
        (
            one(&format!(r#"{{{base},"payload":{{"a":1,"a":2}}}}"#)),
            true,
        ),
        (
            one(&format!(
                r#"{{{base},"payload":{{"$serde_json::private::Number":"1"}}}}"#
            )),
            false,
        ),
        (
            one(&format!(
                r#"{{{base},"payload":{{"d":{}{}}}}}"#,
                "[".repeat(120),
                "]".repeat(120)
            )),
            true,
        ),
        (r#"{"events":[]}"#.to_string(), false),
        (r#"{"events":[],"more":1}"#.to_string(), false),
        // serde's derived structs also read an array of their fields in order; the document
        // asks for objects, and `validate` refuses anything else.
        (one(&array_event()), false),
        (format!("[[{{{base}}}]]"), false),
        (
            format!(r#"{{"events":[{{{base}}},{}]}}"#, array_event()),
            false,
        ),
        (format!("{} x", one(&format!("{{{base}}}"))), false),
    ];
    let mut cases: Vec<(Vec<u8>, bool)> = cases
        .into_iter()
        .map(|(body, fast)| (body.into_bytes(), fast))
        .collect();
    // Not UTF-8 inside a string, and outside one.
    let mut bad = one(&format!(r#"{{{base},"city":"Zürich"}}"#)).into_bytes();
    let at = bad.windows(2).position(|w| w == "ü".as_bytes()).unwrap();
    bad.splice(at..at + 2, [0xfc]);
    cases.push((bad, false));
    cases.push((b"{\"events\":[\xff]}".to_vec(), false));
    for (body, fast) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let body = body.as_slice();
        let counted = fast::count(body);
        assert_eq!(counted.is_some(), fast, "{shown}");
        if let Some(n) = counted {
            assert_eq!(parse(Format::Json, body).map(|e| e.len()), Ok(n));
        }
        // Either way the gateway's answer is validate's.
        assert_eq!(
            check(Format::Json, body),
            parse(Format::Json, body).map(|e| e.len()),
            "{shown}"
        );
    }
}

#[test]
fn the_fast_parse_reads_what_parse_reads_byte_for_byte() {
    let one = |event: &str| format!(r#"{{"events":[{event}]}}"#);
    let base = r#""event_id":"e1","event_name":"open","timestamp_utc":1700000000"#;
    let with = |more: &str| one(&format!("{{{base},{more}}}"));
    // (body, whether the fast parse must read it)
    let cases = [
        (SEED_JSON.to_string(), true),
        (one(&format!("{{{base}}}")), true),
        // Whitespace between tokens goes, as serializing drops it; inside strings it stays.
        (
            format!(
                "\n{{ \"events\" : [ {{ {} , \"city\" : \" a  b \" }} ] }}\r\n",
                base.replace(',', " ,\t")
            ),
            true,
        ),
        // Numbers keep their digits, whatever their form ...
        (
            with(
                r#""payload":{"b":-0,"c":1.50,"d":0.0e+00,"e":12345678901234567890123,"f":[1e-400]},"latitude":12.971598765432101234,"longitude":-0.0"#,
            ),
            true,
        ),
        // ... but serde_json writes an exponent as `e+` or `e-`.
        (with(r#""payload":{"a":1E5}"#), false),
        (with(r#""payload":{"a":1e5}"#), false),
        (with(r#""payload":{"a":1E-5}"#), false),
        (with(r#""user_id":7,"duration_seconds":7"#), true),
        // serde_json reads `-0` as a float, which an integer field does not take.
        (with(r#""user_id":-0"#), false),
        // The escapes serde_json writes itself, and unescaped unicode.
        (
            with(
                r#""name":"Jane \"J\" Doe\\","city":"Zürich 日本 😀","payload":{"tab\t":"a\nb\u001fc"}"#,
            ),
            true,
        ),
        (
            with(r#""payload":{"a":{"b":[{"c":null,"d":true,"e":false}]},"b":{"a":1}}"#),
            true,
        ),
        (with(r#""payload":null,"user_id":null,"zip":"""#), true),
        (with(r#""payload":{}"#), true),
        // Escapes serde_json writes differently, repeated keys, deep nesting: the general parse.
        (with(r#""city":"a\/b""#), false),
        (with(r#""city":"\u00e9""#), false),
        (with(r#""city":"\u000a""#), false),
        (with(r#""city":"\u001F""#), false),
        (with(r#""city":"\u007f""#), false),
        (with(r#""city":"\ud83d\ude00""#), false),
        (with(r#""payload":{"k":1,"k":2}"#), false),
        (with(r#""payload":{"a":{"k":1,"k":2}}"#), false),
        (with(r#""payload":{"\u006b":1,"k":2}"#), false),
        (
            with(&format!(
                r#""payload":{{"d":{}{}}}"#,
                "[".repeat(120),
                "]".repeat(120)
            )),
            false,
        ),
        (with(r#""payload":{"n":1e400}"#), false),
        (with(r#""payload":[1]"#), false),
        (with(r#""latitude":1e400"#), false),
        (
            one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":0}"#),
            false,
        ),
        (
            one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":-0}"#),
            false,
        ),
        (with(r#""extra":1"#), false),
        (with(r#""event_id":"e2""#), false),
        (r#"{"events":[]}"#.to_string(), false),
        ("\u{feff}{}".to_string(), false),
        // Events as arrays of their fields, in a batch as an array of its one field.
        (one(&array_event()), false),
        (format!("[[{{{base}}}]]"), false),
        (format!(r#"{{"events":[{},{{{base}}}]}}"#, array_event()), false),
        // Several events, whitespace around and inside them, `payload` anywhere in its event
        // and with a `payload` key of its own: each event's own text and payload.
        (
            format!(
                "{{\"events\" :\n[ {{ \"payload\" : {{ \"payload\" : [ 1 , {{ \"a\" : 2 }} ] }} , {base} }} ,\n\t{{{base},\"payload\":{{}}}},{{{base}, \"payload\" : {{\"b\":\"}} ,\"}} }} , {{ {base} }} ] }}"
            ),
            true,
        ),
    ];
    for (body, fast_reads) in &cases {
        assert_eq!(
            fast::parse(body.as_bytes()).is_some(),
            *fast_reads,
            "{body}"
        );
        assert_eq!(fast::disagreement(body.as_bytes()), None, "{body}");
    }
    // Nesting: deep payloads the general parse takes are read up to the fast limit.
    for depth in [1, 50, 97, 98, 99, 100, 120, 125, 126, 127, 128, 200] {
        let body = with(&format!(
            r#""payload":{{"d":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ));
        assert_eq!(fast::disagreement(body.as_bytes()), None, "depth {depth}");
    }
    // Every event of a generated batch of many shapes agrees too.
    let events: Vec<String> = (0..300)
        .map(|i| {
            format!(
                r#"{{"event_id":"e{i}","event_name":"n{}","timestamp_utc":{},"payload":{{"i":{i},"s":"{}","f":{}.25}},"latitude":{}.5}}"#,
                i % 7,
                1_700_000_000_000_i64 + i,
                "x".repeat(i as usize % 13),
                i,
                i % 90
            )
        })
        .collect();
    let body = format!(r#"{{"events":[{}]}}"#, events.join(","));
    assert_eq!(fast::parse(body.as_bytes()).map(|e| e.len()), Some(300));
    assert_eq!(fast::disagreement(body.as_bytes()), None);
}

#[test]
fn the_seed_json_sample_is_accepted_with_every_field() {
    let events = parse(Format::Json, SEED_JSON.as_bytes()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], events[1]);
    let e = &events[0];
    assert_eq!(e.event_id, "sample string 1");
    assert_eq!(e.event_name, "sample string 2");
    assert_eq!(e.event_category.as_deref(), Some("sample string 3"));
    assert_eq!(e.timestamp_utc, crate::time::ClientTime::Instant(4000));
    assert_eq!(e.timestamp_raw, "4");
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

/// The typed fields only: `raw` keeps each format's own representation.
fn typed(events: Vec<AnalyticsEvent>) -> Vec<AnalyticsEvent> {
    events
        .into_iter()
        .map(|e| AnalyticsEvent {
            raw: Map::new(),
            ..e
        })
        .collect()
}

#[test]
fn the_seed_xml_sample_yields_the_same_events_as_the_json_sample() {
    let from_json = typed(parse(Format::Json, SEED_JSON.as_bytes()).unwrap());
    for content_type in ["application/xml", "text/xml"] {
        let format = Format::from_content_type(Some(content_type)).unwrap();
        let events = parse(format, SEED_XML.as_bytes()).unwrap();
        assert_eq!(events.len(), 2, "{content_type}");
        // Every element of the sample is kept, as the JSON sample keeps every property.
        assert_eq!(events[0].raw.len(), 20, "{content_type}");
        assert_eq!(
            events[0].payload,
            Some(Map::from_iter([
                ("sample string 1".to_string(), json!({})),
                ("sample string 3".to_string(), json!({})),
            ]))
        );
        assert_eq!(typed(events), from_json, "{content_type}");
    }
}

const I: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The index and field of a failure.
type FailureAt = (Option<usize>, &'static str);
/// Label, body, index, field, every piece the reason must contain.
type XmlProblemCase = (
    &'static str,
    Vec<u8>,
    Option<usize>,
    Option<&'static str>,
    Vec<&'static str>,
);
/// Label, body, index, field, a piece of the reason.
type FormProblemCase = (
    &'static str,
    String,
    Option<usize>,
    Option<&'static str>,
    &'static str,
);

/// A batch of one event whose `AnalyticsEventDto` holds `inner`, in the seed's layout.
fn xml_batch(inner: &str) -> String {
    format!(
        r#"<AnalyticsEventBatchReq xmlns:i="{I}" xmlns="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Domain.RequestAgg"><events xmlns:d2p1="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Models"><d2p1:AnalyticsEventDto>{inner}</d2p1:AnalyticsEventDto></events></AnalyticsEventBatchReq>"#
    )
}

const XML_REQUIRED: &str = "<d2p1:event_id>e1</d2p1:event_id><d2p1:event_name>open</d2p1:event_name><d2p1:timestamp_utc>1580213208</d2p1:timestamp_utc>";

fn xml_payload(entries: &str) -> String {
    format!(
        r#"{XML_REQUIRED}<d2p1:payload xmlns:d4p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">{entries}</d2p1:payload>"#
    )
}

fn entry(key: &str, value: &str) -> String {
    format!("<d4p1:KeyValueOfstringanyType><d4p1:Key>{key}</d4p1:Key>{value}</d4p1:KeyValueOfstringanyType>")
}

fn typed_value(ty: &str, text: &str) -> String {
    format!(
        r#"<d4p1:Value xmlns:d5p1="http://www.w3.org/2001/XMLSchema" i:type="d5p1:{ty}">{text}</d4p1:Value>"#
    )
}

#[test]
fn xml_elements_convert_to_the_json_shape() {
    let payload_types = xml_payload(
        &[
            entry("int", &typed_value("int", "42")),
            entry("long", &typed_value("long", " -9000000000 ")),
            entry(
                "ulong",
                &typed_value("unsignedLong", "18446744073709551615"),
            ),
            entry("double", &typed_value("double", "1.5")),
            entry("decimal", &typed_value("decimal", "10.25")),
            entry("yes", &typed_value("boolean", "true")),
            entry("no", &typed_value("boolean", "0")),
            entry("text", &typed_value("string", " a b ")),
            entry("blank", &typed_value("string", "")),
            entry("when", &typed_value("dateTime", "2020-01-28T12:06:48Z")),
            entry("untyped", "<d4p1:Value>plain</d4p1:Value>"),
            entry("object", "<d4p1:Value />"),
            entry("null", r#"<d4p1:Value i:nil="true" />"#),
            entry("missing", ""),
        ]
        .concat(),
    );
    let nested = xml_payload(&entry(
        "outer",
        &format!(
            "<d4p1:Value i:type=\"d4p1:ArrayOfKeyValueOfstringanyType\">{}</d4p1:Value>",
            entry("inner", &typed_value("int", "1"))
        ),
    ));
    let array = xml_payload(&entry(
        "list",
        &format!(
            "<d4p1:Value i:type=\"d4p1:ArrayOfanyType\">{}{}</d4p1:Value>",
            typed_value("int", "1").replace("d4p1:Value", "d4p1:anyType"),
            typed_value("string", "two").replace("d4p1:Value", "d4p1:anyType")
        ),
    ));
    let empty_array = xml_payload(&entry(
        "list",
        "<d4p1:Value i:type=\"d4p1:ArrayOfanyType\" />",
    ));
    // (label, AnalyticsEventDto content, field, value in the JSON shape; None = absent)
    let cases: Vec<(&str, String, &str, Option<Value>)> = vec![
        ("text", "<d2p1:city>Pune</d2p1:city>".into(), "city", Some(json!("Pune"))),
        ("entities", "<d2p1:name>Tom &amp; Jerry &lt;3 &#x41;&#66; &quot;&apos;&gt;</d2p1:name>".into(), "name", Some(json!("Tom & Jerry <3 AB \"'>"))),
        ("cdata", "<d2p1:name><![CDATA[<b>&amp;</b>]]></d2p1:name>".into(), "name", Some(json!("<b>&amp;</b>"))),
        ("text, cdata and comments", "<d2p1:name>a<![CDATA[&]]>b<!-- c -->c</d2p1:name>".into(), "name", Some(json!("a&bc"))),
        ("whitespace kept", "<d2p1:city>  Pune </d2p1:city>".into(), "city", Some(json!("  Pune "))),
        ("whitespace only", "<d2p1:city>  \n </d2p1:city>".into(), "city", Some(json!("  \n "))),
        ("self-closing", "<d2p1:city />".into(), "city", Some(json!(""))),
        ("empty pair", "<d2p1:city></d2p1:city>".into(), "city", Some(json!(""))),
        ("nil", r#"<d2p1:city i:nil="true" />"#.into(), "city", Some(Value::Null)),
        ("nil false", r#"<d2p1:city i:nil="false">x</d2p1:city>"#.into(), "city", Some(json!("x"))),
        ("unknown element", "<d2p1:app_version>1.2</d2p1:app_version>".into(), "app_version", Some(json!("1.2"))),
        ("unknown with children", "<d2p1:device><d2p1:os>ios</d2p1:os><d2p1:os>17</d2p1:os><d2p1:model>x</d2p1:model></d2p1:device>".into(), "device", Some(json!({"os": ["ios", "17"], "model": "x"}))),
        ("no namespaces", "<city>x</city>".into(), "city", Some(json!("x"))),
        ("other prefixes", "<a:city xmlns:a=\"urn:x\">x</a:city>".into(), "city", Some(json!("x"))),
        ("absent", String::new(), "city", None),
        ("empty payload", "<d2p1:payload />".into(), "payload", Some(json!({}))),
        ("nil payload", r#"<d2p1:payload i:nil="true" />"#.into(), "payload", Some(Value::Null)),
        ("text payload", "<d2p1:payload>x</d2p1:payload>".into(), "payload", Some(json!("x"))),
        ("typed payload values", payload_types, "payload", Some(json!({
            "int": 42, "long": -9000000000i64, "ulong": u64::MAX, "double": 1.5, "decimal": 10.25,
            "yes": true, "no": false, "text": " a b ", "blank": "", "when": "2020-01-28T12:06:48Z",
            "untyped": "plain", "object": {}, "null": null, "missing": null
        }))),
        ("nested dictionary", nested, "payload", Some(json!({"outer": {"inner": 1}}))),
        ("array", array, "payload", Some(json!({"list": [1, "two"]}))),
        ("empty array", empty_array, "payload", Some(json!({"list": []}))),
    ];
    for (label, inner, field, want) in cases {
        let inner = if inner.contains("event_id") {
            inner
        } else {
            format!("{XML_REQUIRED}{inner}")
        };
        let doc = xml::document(xml_batch(&inner).as_bytes())
            .unwrap_or_else(|f| panic!("{label}: {f:?}"));
        assert_eq!(doc["events"][0].get(field), want.as_ref(), "{label}");
        assert_eq!(doc["events"][0]["event_id"], json!("e1"), "{label}");
    }
}

#[test]
fn xml_documents_in_other_spellings_are_read_alike() {
    let plain = "<AnalyticsEventBatchReq><events><AnalyticsEventDto><event_id>e1</event_id><event_name>open</event_name><timestamp_utc>1</timestamp_utc></AnalyticsEventDto></events></AnalyticsEventBatchReq>";
    let want = json!({"events": [{"event_id": "e1", "event_name": "open", "timestamp_utc": "1"}]});
    let with_bom = [UTF8_BOM, plain.as_bytes()].concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain", plain.into()),
        (
            "declaration",
            format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{plain}").into_bytes(),
        ),
        ("bom", with_bom),
        (
            "bom and declaration",
            [
                UTF8_BOM,
                b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n",
                plain.as_bytes(),
            ]
            .concat(),
        ),
        (
            "comments and PIs",
            format!("<!-- hi --><?xml-stylesheet href=\"a\"?>{plain}\n<!-- bye -->\n").into_bytes(),
        ),
        (
            "pretty",
            plain
                .replace('>', ">\n  ")
                .replace("\n  e1", "e1")
                .replace("\n  open", "open")
                .replace("\n  1<", "1<")
                .into_bytes(),
        ),
        (
            "case",
            plain
                .replace("AnalyticsEventBatchReq", "analyticseventbatchreq")
                .replace("events", "Events")
                .replace("AnalyticsEventDto", "ANALYTICSEVENTDTO")
                .into_bytes(),
        ),
        (
            "ignored root children",
            plain
                .replace("<events>", "<version>2</version><events>")
                .into_bytes(),
        ),
    ];
    for (label, body) in cases {
        let doc = xml::document(&body).unwrap_or_else(|f| panic!("{label}: {f:?}"));
        let events = doc.get("events").unwrap();
        let key = |k: &str| {
            events[0]
                .as_object()
                .unwrap()
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(key("event_id"), Some(json!("e1")), "{label}");
        assert_eq!(events.as_array().unwrap().len(), 1, "{label}");
        if label.contains("plain") || label.contains("bom") || label.contains("declaration") {
            assert_eq!(doc, want, "{label}");
        }
        assert!(parse(Format::Xml, &body).is_ok(), "{label}");
    }
}

/// An event with an unknown field nested so that the deepest element is at `depth`.
fn nested_xml(depth: usize) -> String {
    let levels = depth - 3;
    let inner = format!("{}x{}", "<deep>".repeat(levels), "</deep>".repeat(levels));
    xml_batch(&format!("{XML_REQUIRED}{inner}"))
}

#[test]
fn xml_nesting_is_limited() {
    assert!(parse(Format::Xml, nested_xml(MAX_XML_DEPTH).as_bytes()).is_ok());
    let failures = parse(Format::Xml, nested_xml(MAX_XML_DEPTH + 1).as_bytes())
        .unwrap_err()
        .failures();
    assert!(
        failures[0].reason.contains("deeper than 32"),
        "{failures:?}"
    );
    let failures = parse(Format::Xml, nested_xml(10_000).as_bytes())
        .unwrap_err()
        .failures();
    assert!(
        failures[0].reason.contains("deeper than 32"),
        "{failures:?}"
    );
}

#[test]
fn xml_problems_are_failures_that_say_where() {
    let dto = |inner: &str| xml_batch(&format!("{XML_REQUIRED}{inner}")).into_bytes();
    let pl = |entries: &str| xml_batch(&xml_payload(entries)).into_bytes();
    // (label, body, index, field, every piece the reason must contain)
    let cases: Vec<XmlProblemCase> = vec![
        ("mismatched end tag", b"<AnalyticsEventBatchReq>\n  <events>\n  </evnts>".to_vec(), None, None, vec!["not valid XML at line 3, column 3 (byte 38)", "evnts"]),
        ("unclosed", b"<AnalyticsEventBatchReq>\n<events>".to_vec(), None, None, vec!["ends but <events> (opened at line 2, column 1 (byte 25)) is not closed"]),
        ("unclosed tag", b"<AnalyticsEventBatchReq><events".to_vec(), None, None, vec!["not valid XML at line 1, column 25"]),
        ("unknown entity", b"<AnalyticsEventBatchReq>\n<x>a &nbsp;</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["line 2, column 6", "&nbsp;"]),
        ("bare ampersand", b"<AnalyticsEventBatchReq><x>a & b</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["column 30", "&amp;"]),
        ("bad character reference", b"<AnalyticsEventBatchReq><x>&#xZZ;</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["character reference"]),
        ("wrong root", b"<?xml version=\"1.0\"?>\n<Batch><events/></Batch>".to_vec(), None, None, vec!["root element must be <AnalyticsEventBatchReq>, got <Batch> at line 2, column 1"]),
        ("doctype", b"<!DOCTYPE AnalyticsEventBatchReq><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["DOCTYPE", "line 1, column 1"]),
        ("external entity", b"<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<AnalyticsEventBatchReq><events><AnalyticsEventDto><event_id>&xxe;</event_id></AnalyticsEventDto></events></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["DOCTYPE", "line 2"]),
        ("entity expansion", b"<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]><AnalyticsEventBatchReq>&b;</AnalyticsEventBatchReq>".to_vec(), None, None, vec!["DOCTYPE"]),
        ("two roots", b"<AnalyticsEventBatchReq/><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["second root", "byte 25"]),
        ("text before root", b"hello <AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["text outside the root", "byte 0"]),
        ("text after root", b"<AnalyticsEventBatchReq/>\nbye".to_vec(), None, None, vec!["text outside the root", "line 1, column 26"]),
        ("end tag without start", b"</AnalyticsEventBatchReq>".to_vec(), None, None, vec!["not valid XML at line 1, column 1"]),
        ("mixed content", dto("<d2p1:city>a<b/>c</d2p1:city>"), None, None, vec!["<city> mixes text with child elements"]),
        ("nil with content", dto(r#"<d2p1:city i:nil="true">x</d2p1:city>"#), None, None, vec!["<city> has i:nil=\"true\" but also content"]),
        ("bad nil", dto(r#"<d2p1:city i:nil="yes" />"#), None, None, vec!["i:nil must be true or false, got \"yes\""]),
        ("bad attribute", b"<AnalyticsEventBatchReq a=1/>".to_vec(), None, None, vec!["not valid XML at line 1, column 1"]),
        ("duplicate field", dto("<d2p1:event_id>e2</d2p1:event_id>"), Some(0), Some("event_id"), vec!["is given more than once (again at line 1, column"]),
        ("duplicate field, other case", dto("<d2p1:CITY>a</d2p1:CITY><d2p1:city>b</d2p1:city>"), Some(0), Some("city"), vec!["more than once"]),
        ("duplicate events", b"<AnalyticsEventBatchReq><events/><Events/></AnalyticsEventBatchReq>".to_vec(), None, Some("events"), vec!["more than once", "byte 33"]),
        ("not an event", format!("<AnalyticsEventBatchReq><events><AnalyticsEventDto>{XML_REQUIRED}</AnalyticsEventDto><Event/></events></AnalyticsEventBatchReq>").into_bytes(), Some(1), None, vec!["expected <AnalyticsEventDto>, got <Event>"]),
        ("entry without key", pl("<d4p1:KeyValueOfstringanyType><d4p1:Value /></d4p1:KeyValueOfstringanyType>"), Some(0), Some("payload"), vec!["an entry has no <Key>"]),
        ("duplicate payload key", pl(&[entry("k", "<d4p1:Value />"), entry("k", "<d4p1:Value />")].concat()), Some(0), Some("payload"), vec!["key \"k\" is given more than once"]),
        ("two values", pl(&entry("k", "<d4p1:Value /><d4p1:Value />")), Some(0), Some("payload"), vec!["more than one <Value>"]),
        ("stray element in entry", pl(&entry("k", "<d4p1:Other />")), Some(0), Some("payload"), vec!["unexpected <Other>"]),
        ("not an entry", pl("<d4p1:Item>x</d4p1:Item>"), Some(0), Some("payload"), vec!["expected <KeyValueOfstringanyType> entries, got <Item>"]),
        ("bad int", pl(&entry("k", &typed_value("int", "4x"))), Some(0), Some("payload"), vec!["\"4x\" is not a valid xs:int"]),
        ("bad boolean", pl(&entry("k", &typed_value("boolean", "yes"))), Some(0), Some("payload"), vec!["xs:boolean"]),
        ("NaN", pl(&entry("k", &typed_value("double", "NaN"))), Some(0), Some("payload"), vec!["xs:double"]),
        ("utf-16 declared", b"<?xml version=\"1.0\" encoding=\"utf-16\"?><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["encoding=\"utf-16\"", "only UTF-8"]),
        ("utf-16 bytes", b"\xFF\xFE<\0A\0".to_vec(), None, None, vec!["UTF-16"]),
        ("invalid utf-8", b"<AnalyticsEventBatchReq><x>\xC3\x28</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["UTF-8", "byte 27"]),
        ("late declaration", b"<!-- x --><?xml version=\"1.0\"?><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["declaration must come first", "byte 10"]),
        ("no root", b"<?xml version=\"1.0\"?><!-- nothing -->".to_vec(), None, None, vec!["no root element"]),
        ("empty", Vec::new(), None, None, vec!["the request body is empty"]),
        ("blank", b" \r\n\t".to_vec(), None, None, vec!["the request body is empty"]),
        ("bom only", UTF8_BOM.to_vec(), None, None, vec!["the request body is empty"]),
    ];
    for (label, body, index, field, pieces) in cases {
        let failures = parse(Format::Xml, &body).unwrap_err().failures();
        assert_eq!(failures.len(), 1, "{label}: {failures:?}");
        let f = &failures[0];
        assert_eq!(
            (f.index, f.field.as_deref()),
            (index, field),
            "{label}: {f:?}"
        );
        for piece in pieces {
            assert!(
                f.reason.contains(piece),
                "{label}: {piece:?} not in {:?}",
                f.reason
            );
        }
    }
}

#[test]
fn xml_values_follow_the_json_rules() {
    let batch = |events: &str| {
        format!("<AnalyticsEventBatchReq xmlns:i=\"{I}\">{events}</AnalyticsEventBatchReq>")
    };
    let without = |field: &str| {
        XML_REQUIRED
            .split("<d2p1:")
            .filter(|p| {
                !p.is_empty() && !p.starts_with(field) && !p.starts_with(&format!("/d2p1:{field}"))
            })
            .map(|p| format!("<d2p1:{p}"))
            .collect::<String>()
            .replace("<d2p1:/", "</")
    };
    // (label, body, accepted or the failing (index, field))
    let cases: Vec<(&str, String, Result<(), FailureAt>)> = vec![
        ("numeric strings", xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id> 7 </d2p1:user_id><d2p1:latitude>12.97</d2p1:latitude><d2p1:duration_seconds>3</d2p1:duration_seconds>")), Ok(())),
        ("bad timestamp", xml_batch(&XML_REQUIRED.replace("1580213208", "yesterday")), Err((Some(0), "timestamp_utc"))),
        ("negative timestamp", xml_batch(&XML_REQUIRED.replace("1580213208", "-1")), Err((Some(0), "timestamp_utc"))),
        ("bad user_id", xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id>seven</d2p1:user_id>")), Err((Some(0), "user_id"))),
        ("empty user_id", xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id />")), Err((Some(0), "user_id"))),
        ("nil user_id", xml_batch(&format!(r#"{XML_REQUIRED}<d2p1:user_id i:nil="true" />"#)), Ok(())),
        ("bad latitude", xml_batch(&format!("{XML_REQUIRED}<d2p1:latitude>north</d2p1:latitude>")), Err((Some(0), "latitude"))),
        ("blank event_id", xml_batch(&XML_REQUIRED.replace(">e1<", ">  <")), Err((Some(0), "event_id"))),
        ("missing event_id", xml_batch(&without("event_id")), Err((Some(0), "event_id"))),
        ("nil event_name", xml_batch(&without("event_name").replace("<d2p1:event_id>", r#"<d2p1:event_name i:nil="true"/><d2p1:event_id>"#)), Err((Some(0), "event_name"))),
        ("text payload", xml_batch(&format!("{XML_REQUIRED}<d2p1:payload>x</d2p1:payload>")), Err((Some(0), "payload"))),
        ("nil events", batch(r#"<events i:nil="true"/>"#), Err((None, "events"))),
        ("no events", batch(""), Err((None, "events"))),
        ("empty events", batch("<events></events>"), Err((None, "events"))),
        ("text events", batch("<events>x</events>"), Err((None, "events"))),
    ];
    for (label, body, want) in cases {
        let got = parse(Format::Xml, body.as_bytes()).map_err(|e| e.failures());
        match (want, got) {
            (Ok(()), Ok(events)) => assert_eq!(events.len(), 1, "{label}"),
            (Err((index, field)), Err(failures)) => {
                assert_eq!(
                    (failures[0].index, failures[0].field.as_deref()),
                    (index, Some(field)),
                    "{label}: {failures:?}"
                )
            }
            (want, got) => panic!("{label}: wanted {want:?}, got {got:?}"),
        }
    }
    let typed = &parse(Format::Xml, xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id> 7 </d2p1:user_id><d2p1:latitude>12.97</d2p1:latitude><d2p1:City>Pune</d2p1:City>")).as_bytes()).unwrap()[0];
    assert_eq!(
        (typed.user_id, typed.latitude, typed.city.as_deref()),
        (Some(7), Some(12.97), Some("Pune"))
    );
    for (body, reason) in [
        (
            format!(r#"<AnalyticsEventBatchReq xmlns:i="{I}" i:nil="true"/>"#),
            "must be an object",
        ),
        (
            batch(r#"<events><AnalyticsEventDto i:nil="true"/></events>"#),
            "each event must be an object",
        ),
        (
            batch("<events><AnalyticsEventDto>x</AnalyticsEventDto></events>"),
            "each event must be an object",
        ),
    ] {
        let failures = parse(Format::Xml, body.as_bytes()).unwrap_err().failures();
        assert!(failures[0].reason.contains(reason), "{body}: {failures:?}");
    }
}

#[test]
fn positions_count_lines_and_characters() {
    let body = "ab\ncdé\nf".as_bytes();
    assert_eq!(position(body, 0), "line 1, column 1 (byte 0)");
    assert_eq!(position(body, 3), "line 2, column 1 (byte 3)");
    assert_eq!(position(body, 7), "line 2, column 4 (byte 7)");
    assert_eq!(position(body, 9), "line 3, column 2 (byte 9)");
    assert_eq!(position(body, 99), "line 3, column 2 (byte 9)");
}

const FORM_REQUIRED: &str =
    "events[0].event_id=e1&events[0].event_name=open&events[0].timestamp_utc=1580213208";

#[test]
fn form_keys_convert_to_the_json_shape() {
    let event = |extra: Value| {
        let mut e = json!({"event_id": "e1", "event_name": "open", "timestamp_utc": "1580213208"});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"events": [e]})
    };
    let with = |extra: &str| format!("{FORM_REQUIRED}&{extra}");
    // (label, body, the JSON shape)
    let cases: Vec<(&str, String, Value)> = vec![
        ("dots", FORM_REQUIRED.into(), event(json!({}))),
        ("brackets", "events[0][event_id]=e1&events[0][event_name]=open&events[0][timestamp_utc]=1580213208".into(), event(json!({}))),
        ("mixed styles", "events[0].event_id=e1&events[0][event_name]=open&events[0].timestamp_utc=1580213208".into(), event(json!({}))),
        ("payload with dots", with("events[0].payload.screen=home&events[0].payload.tab=2"), event(json!({"payload": {"screen": "home", "tab": "2"}}))),
        ("payload with brackets", with("events[0][payload][screen]=home"), event(json!({"payload": {"screen": "home"}}))),
        ("payload dot then bracket", with("events[0].payload[screen]=home"), event(json!({"payload": {"screen": "home"}}))),
        ("payload bracket then dot", with("events[0][payload].screen=home"), event(json!({"payload": {"screen": "home"}}))),
        ("payload key with dots", with("events[0].payload.a.b=1&events[0][payload][c.d]=2&events[0].payload[e[f]]=3"), event(json!({"payload": {"a.b": "1", "c.d": "2", "e[f]": "3"}}))),
        ("payload empty value", with("events[0].payload.k="), event(json!({"payload": {"k": ""}}))),
        ("encoded", "events%5B0%5D.event_id=e1&events[0].event_name=hello+world%21&events[0].timestamp_utc=1580213208&events[0].city=a%2Bb&events[0].name=%C3%A9t%C3%A9+%26+co&events[0].zip=100%&events[0].state=%zz".into(),
            json!({"events": [{"event_id": "e1", "event_name": "hello world!", "timestamp_utc": "1580213208", "city": "a+b", "name": "été & co", "zip": "100%", "state": "%zz"}]})),
        ("case", "Events[0].Event_Id=e1&EVENTS[0][EVENT_NAME]=open&events[0].timestamp_utc=1580213208".into(),
            json!({"events": [{"Event_Id": "e1", "EVENT_NAME": "open", "timestamp_utc": "1580213208"}]})),
        ("unknown top-level keys", format!("__RequestVerificationToken=abc&eventsCount=1&{FORM_REQUIRED}&x"), event(json!({}))),
        ("unknown field", with("events[0].app_version=1.2"), event(json!({"app_version": "1.2"}))),
        ("empty value is absent", with("events[0].city=&events[0].zip"), event(json!({"city": null, "zip": null}))),
        ("empty pieces", format!("&&{FORM_REQUIRED}&&"), event(json!({}))),
        ("any order", "events[1].event_id=b&events[0].event_id=a&events[1].event_name=n&events[0].event_name=n&events[0].timestamp_utc=1&events[1].timestamp_utc=2".into(),
            json!({"events": [{"event_id": "a", "event_name": "n", "timestamp_utc": "1"}, {"event_id": "b", "event_name": "n", "timestamp_utc": "2"}]})),
        ("no events", "a=1&b=2".into(), json!({})),
    ];
    for (label, body, want) in cases {
        let doc = form::document(body.as_bytes()).unwrap_or_else(|f| panic!("{label}: {f:?}"));
        assert_eq!(doc, want, "{label}");
    }
}

#[test]
fn form_problems_are_failures_that_name_the_key() {
    // (label, body, index, field, piece of the reason)
    let cases: Vec<FormProblemCase> = vec![
        (
            "gap",
            format!("{FORM_REQUIRED}&events[2].event_id=x"),
            None,
            Some("events"),
            "events[1] is missing: indices must run from 0 without gaps (the highest given is 2)",
        ),
        (
            "not from 0",
            FORM_REQUIRED.replace("[0]", "[1]"),
            None,
            Some("events"),
            "events[0] is missing",
        ),
        (
            "duplicate",
            format!("{FORM_REQUIRED}&events[0].event_id=e2"),
            Some(0),
            Some("event_id"),
            "is given more than once (form key \"events[0].event_id\")",
        ),
        (
            "duplicate across styles",
            format!("{FORM_REQUIRED}&events[0][event_id]=e2"),
            Some(0),
            Some("event_id"),
            "form key \"events[0][event_id]\"",
        ),
        (
            "duplicate in other case",
            format!("{FORM_REQUIRED}&events[0].EVENT_ID=e2"),
            Some(0),
            Some("event_id"),
            "more than once",
        ),
        (
            "duplicate payload key",
            format!("{FORM_REQUIRED}&events[0].payload.k=1&events[0][payload][k]=2"),
            Some(0),
            Some("payload"),
            "key \"k\" is given more than once (form key \"events[0][payload][k]\")",
        ),
        (
            "payload as value and keys",
            format!("{FORM_REQUIRED}&events[0].payload=x&events[0].payload.k=1"),
            Some(0),
            Some("payload"),
            "both as a value and as keys",
        ),
        (
            "payload keys then value",
            format!("{FORM_REQUIRED}&events[0].payload.k=1&events[0].payload=x"),
            Some(0),
            Some("payload"),
            "both as a value and as keys",
        ),
        (
            "no index",
            "events=1".into(),
            None,
            Some("events"),
            "is not a valid key; use events[N].field",
        ),
        (
            "no index, dot",
            "events.event_id=1".into(),
            None,
            Some("events.event_id"),
            "is not a valid key",
        ),
        (
            "word index",
            "events[x].event_id=1".into(),
            None,
            Some("events[x].event_id"),
            "an index is a plain number",
        ),
        (
            "negative index",
            "events[-1].event_id=1".into(),
            None,
            Some("events[-1].event_id"),
            "an index is a plain number",
        ),
        (
            "leading zero",
            "events[01].event_id=1".into(),
            None,
            Some("events[01].event_id"),
            "an index is a plain number",
        ),
        (
            "too far",
            "events[1000].event_id=1".into(),
            None,
            Some("events[1000].event_id"),
            "at most 1000 events",
        ),
        (
            "huge index",
            "events[99999999999999999999999].event_id=1".into(),
            None,
            Some("events[99999999999999999999999].event_id"),
            "at most 1000 events",
        ),
        (
            "no field",
            "events[0]=1".into(),
            None,
            Some("events[0]"),
            "is not a valid key",
        ),
        (
            "empty field",
            "events[0].=1".into(),
            None,
            Some("events[0]."),
            "is not a valid key",
        ),
        (
            "unclosed bracket",
            "events[0][event_id=1".into(),
            None,
            Some("events[0][event_id"),
            "is not a valid key",
        ),
        (
            "nested non-payload",
            "events[0].city.x=1".into(),
            None,
            Some("events[0].city.x"),
            "only payload takes keys",
        ),
        (
            "payload junk",
            "events[0][payload]x=1".into(),
            None,
            Some("events[0][payload]x"),
            "is not a valid key",
        ),
        (
            "empty payload key",
            "events[0].payload.=1".into(),
            None,
            Some("events[0].payload."),
            "empty payload key",
        ),
        (
            "bad utf-8 value",
            format!("{FORM_REQUIRED}&events[0].city=%FF"),
            None,
            Some("events[0].city"),
            "not valid UTF-8",
        ),
        (
            "bad utf-8 key",
            format!("{FORM_REQUIRED}&events[0].c%FFty=x"),
            None,
            Some("events[0].c%FFty"),
            "not valid UTF-8",
        ),
        (
            "empty",
            String::new(),
            None,
            None,
            "the request body is empty",
        ),
        (
            "blank",
            " \r\n".into(),
            None,
            None,
            "the request body is empty",
        ),
        (
            "only other keys",
            "a=1".into(),
            None,
            Some("events"),
            "is required",
        ),
        (
            "empty event_id",
            FORM_REQUIRED.replace("=e1", "="),
            Some(0),
            Some("event_id"),
            "is required",
        ),
        (
            "bad timestamp",
            FORM_REQUIRED.replace("1580213208", "soon"),
            Some(0),
            Some("timestamp_utc"),
            "must be a time",
        ),
        (
            "bad user_id",
            format!("{FORM_REQUIRED}&events[0].user_id=seven"),
            Some(0),
            Some("user_id"),
            "must be an integer",
        ),
        (
            "payload value",
            format!("{FORM_REQUIRED}&events[0].payload=x"),
            Some(0),
            Some("payload"),
            "must be an object",
        ),
    ];
    for (label, body, index, field, piece) in cases {
        let failures = parse(Format::Form, body.as_bytes()).unwrap_err().failures();
        assert_eq!(failures.len(), 1, "{label}: {failures:?}");
        let f = &failures[0];
        assert_eq!(
            (f.index, f.field.as_deref()),
            (index, field),
            "{label}: {f:?}"
        );
        assert!(
            f.reason.contains(piece),
            "{label}: {piece:?} not in {:?}",
            f.reason
        );
    }
}

#[test]
fn form_bodies_follow_the_json_rules() {
    let form = "events[0].event_id=sample+string+1&events[0].event_name=sample+string+2&events[0].event_category=sample+string+3\
        &events[0].timestamp_utc=4&events[0].session_id=sample+string+5&events[0].source=sample+string+6&events[0].user_id=7\
        &events[0].name=sample+string+8&events[0].country_code=sample+string+9&events[0].mobile_number=sample+string+10\
        &events[0].screen_name=sample+string+11&events[0].duration_seconds=1&events[0].ip=sample+string+12\
        &events[0].country=sample+string+13&events[0].state=sample+string+14&events[0].city=sample+string+15\
        &events[0].zip=sample+string+16&events[0].latitude=1.1&events[0].longitude=1.1";
    let mut from_json = typed(parse(Format::Json, SEED_JSON.as_bytes()).unwrap());
    from_json.truncate(1);
    from_json[0].payload = None;
    assert_eq!(
        typed(parse(Format::Form, form.as_bytes()).unwrap()),
        from_json
    );

    let many: String = (0..MAX_EVENTS)
        .map(|i| {
            format!("events[{i}].event_id=e&events[{i}].event_name=n&events[{i}].timestamp_utc=1&")
        })
        .collect();
    assert_eq!(
        parse(Format::Form, many.as_bytes()).unwrap().len(),
        MAX_EVENTS
    );

    // Every problem is listed, up to a limit.
    let failures = parse(
        Format::Form,
        format!("{FORM_REQUIRED}&events[0].event_id=x&events[0].city.x=1").as_bytes(),
    )
    .unwrap_err()
    .failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    let junk: String = (0..150).map(|i| format!("events[x{i}].a=1&")).collect();
    let failures = parse(Format::Form, junk.as_bytes()).unwrap_err().failures();
    assert_eq!(failures.len(), MAX_FORM_FAILURES + 1);
    assert!(failures[MAX_FORM_FAILURES]
        .reason
        .contains("stops after 100"));
}

#[test]
fn form_keys_parse() {
    assert_eq!(
        form_key("events[3].city"),
        FormKey::Field {
            index: 3,
            field: "city"
        }
    );
    assert_eq!(
        form_key("EVENTS[0][City]"),
        FormKey::Field {
            index: 0,
            field: "City"
        }
    );
    assert_eq!(
        form_key("events[1].Payload[a.b]"),
        FormKey::Payload {
            index: 1,
            field: "Payload",
            entry: "a.b"
        }
    );
    assert_eq!(form_key("eventsx[0].city"), FormKey::Other);
    assert_eq!(form_key("token"), FormKey::Other);
    assert!(matches!(form_key("events[0]"), FormKey::Bad(_)));
    assert_eq!(form_decode(b"a+b%20c%2b%C3%A9%4"), Some("a b c+é%4".into()));
    assert_eq!(form_decode(b"%C3"), None);
}

fn one(event: Value) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    validate(serde_json::json!({ "events": [event] })).map_err(|e| e.failures())
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
        ("timestamp_utc", 1.5.into(), true),
        ("timestamp_utc", 1659386157.403862.into(), true),
        ("timestamp_utc", "2021-12-29T06:12:28+0530".into(), true),
        ("timestamp_utc", "2016-12-31T23:59:60Z".into(), true),
        ("timestamp_utc", "2021-12-29".into(), false),
        ("timestamp_utc", true.into(), false),
        (
            "user_id",
            serde_json::from_str::<Value>("7510383332886585625306").unwrap(),
            false,
        ),
        (
            "user_id",
            serde_json::from_str::<Value>("9223372036854775807").unwrap(),
            true,
        ),
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
        let failures = parse(Format::Json, body).unwrap_err().failures();
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
    let failures = validate(doc).unwrap_err().failures();
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
    assert_eq!(validate(many).unwrap().len(), MAX_EVENTS);
    let too_many = serde_json::json!({ "events": vec![valid(); MAX_EVENTS + 1] });
    assert!(validate(too_many).is_err());
}

#[test]
fn property_names_match_case_insensitively() {
    let doc =
        serde_json::json!({"Events": [{"Event_Id": "a", "EVENT_NAME": "b", "timestamp_UTC": 1}]});
    let events = validate(doc).unwrap();
    assert_eq!(events[0].event_id, "a");
    assert_eq!(events[0].event_name, "b");
}

#[test]
fn content_types() {
    assert_eq!(
        Format::from_content_type(Some("text/json")),
        Some(Format::Json)
    );
    assert_eq!(Format::from_content_type(None), Some(Format::Json));
    assert_eq!(
        Format::from_content_type(Some("text/xml")),
        Some(Format::Xml)
    );
    assert_eq!(
        Format::from_content_type(Some("application/x-www-form-urlencoded")),
        Some(Format::Form)
    );
    assert_eq!(Format::from_content_type(Some("text/plain")), None);
}

/// An event as a JSON array of its 20 fields in the order the fast path's struct declares
/// them, which serde's derived `Deserialize` would read as that struct.
fn array_event() -> String {
    format!(r#"["e1","open",1700000000{}]"#, ",null".repeat(17))
}
