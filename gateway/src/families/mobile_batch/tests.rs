use super::*;
use hyper::header::{HeaderMap, ACCEPT};
use hyper::StatusCode;
use tributary_wire::mobile_batch::*;

use super::reply::failures_xml;
use serde_json::Value;

const I: &str = "http://www.w3.org/2001/XMLSchema-instance";

const FORM_REQUIRED: &str =
    "events[0].event_id=e1&events[0].event_name=open&events[0].timestamp_utc=1580213208";

fn credentials() -> crate::credentials::Credentials {
    crate::credentials::Credentials::from_config(&crate::config::TenantsConfig::default()).unwrap()
}

fn ctx(credentials: &crate::credentials::Credentials) -> AcceptContext<'_> {
    AcceptContext {
        credentials,
        received_at: 0,
        batch_id: "batch",
    }
}

fn request<'a>(content_type: &str, headers: &'a HeaderMap) -> RequestParts<'a> {
    RequestParts {
        method: &hyper::Method::POST,
        path: "/api/analytics/events",
        query: None,
        headers,
        content_type: (!content_type.is_empty()).then(|| content_type.to_string()),
    }
}

fn accept_header(accept: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(accept) = accept {
        headers.insert(ACCEPT, accept.parse().unwrap());
    }
    headers
}

#[test]
fn failure_replies_are_negotiated() {
    use Reply::*;
    // (Accept, request Content-Type, reply)
    let cases: &[(Option<&str>, Option<&str>, Reply)] = &[
        (None, None, Json),
        (None, Some("application/json"), Json),
        (None, Some("text/json"), TextJson),
        (None, Some("application/x-www-form-urlencoded"), Json),
        (None, Some("application/xml"), Xml),
        (None, Some("text/xml"), TextXml),
        (None, Some("text/plain"), Json),
        (Some("application/xml"), Some("application/json"), Xml),
        (Some("text/xml"), None, TextXml),
        (
            Some("Application/XML; charset=utf-8"),
            Some("application/json"),
            Xml,
        ),
        (Some("application/json"), Some("application/xml"), Json),
        (Some("*/*"), Some("application/xml"), Xml),
        (Some("*/*"), Some("application/json"), Json),
        (Some("text/*, application/*"), Some("text/xml"), TextXml),
        (Some("text/html"), Some("application/xml"), Xml),
        (Some("application/json;q=0.5, application/xml"), None, Xml),
        (
            Some("application/xml;q=0.9, text/json;q=0.8"),
            Some("text/xml"),
            Xml,
        ),
        (
            Some("application/xml, application/json"),
            Some("application/xml"),
            Json,
        ),
        (Some("text/xml, text/json"), None, TextJson),
        (Some("application/xml;q=0"), Some("application/xml"), Json),
        (
            Some("application/xml;q=0, */*"),
            Some("application/xml"),
            Json,
        ),
        (
            Some("application/xml;q=2, application/json;q=0.1"),
            None,
            Json,
        ),
        (
            Some("application/xml;q=abc"),
            Some("application/json"),
            Json,
        ),
        (
            Some("application/json;q=0.1, text/xml;q=0.2"),
            None,
            TextXml,
        ),
    ];
    for (accept, content_type, want) in cases {
        let headers = accept_header(*accept);
        assert_eq!(
            Reply::negotiate(&headers, *content_type),
            *want,
            "{accept:?} {content_type:?}"
        );
    }
    let mut headers = HeaderMap::new();
    headers.append(ACCEPT, "application/json;q=0.5".parse().unwrap());
    headers.append(ACCEPT, "text/xml".parse().unwrap());
    assert_eq!(Reply::negotiate(&headers, None), TextXml);
}

fn body_of(response: HttpResponse) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
        .unwrap()
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

fn refused(
    content_type: &str,
    accept_value: Option<&str>,
    body: &[u8],
) -> (StatusCode, String, String) {
    let credentials = credentials();
    let headers = accept_header(accept_value);
    match accept(&ctx(&credentials), &request(content_type, &headers), body) {
        Ok(_) => panic!("accepted"),
        Err(response) => body_of(response),
    }
}

#[test]
fn failures_are_rendered_as_xml_when_negotiated() {
    let no_id = br#"{"events": [{"event_name": "open", "timestamp_utc": 1}]}"#;
    let (status, content_type, body) = refused("application/json", Some("application/xml"), no_id);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/xml; charset=utf-8");
    assert_eq!(
        body,
        format!("<ArrayOfFailure xmlns:i=\"{I}\" xmlns=\"{FAILURE_XML_NAMESPACE}\"><Failure><index>0</index><field>event_id</field><reason>is required</reason></Failure></ArrayOfFailure>")
    );

    // An XML request without Accept gets XML of its own media type.
    let (status, content_type, body) = refused("text/xml", None, b"<Batch/>");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "text/xml; charset=utf-8");
    assert!(body.contains(r#"<Failure><index i:nil="true" /><field i:nil="true" /><reason>the root element must be &lt;AnalyticsEventBatchReq&gt;, got &lt;Batch&gt; at line 1, column 1 (byte 0)</reason></Failure>"#), "{body}");

    // ... unless it asks for JSON.
    let (_, content_type, body) = refused("application/xml", Some("application/json"), b"<Batch/>");
    assert_eq!(content_type, "application/json; charset=utf-8");
    let failures: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(failures[0]["index"], Value::Null);

    // A form request gets JSON, a text/json one text/json.
    let (_, content_type, _) = refused("application/x-www-form-urlencoded", None, b"a=1");
    assert_eq!(content_type, "application/json; charset=utf-8");
    let (_, content_type, body) = refused("text/json", None, b"{}");
    assert_eq!(content_type, "text/json; charset=utf-8");
    assert!(body.contains("\"field\":\"events\""), "{body}");

    // An unsupported Content-Type is answered in the negotiated format too.
    let (status, content_type, body) = refused("text/plain", Some("text/xml"), b"x");
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(content_type, "text/xml; charset=utf-8");
    assert!(
        body.contains("unsupported Content-Type &quot;text/plain&quot;"),
        "{body}"
    );

    // Success is 202 without a body, whatever Accept says.
    let credentials = credentials();
    let headers = accept_header(Some("application/xml"));
    let Ok(accepted) = accept(
        &ctx(&credentials),
        &request("application/x-www-form-urlencoded", &headers),
        FORM_REQUIRED.as_bytes(),
    ) else {
        panic!("refused");
    };
    let (status, _, body) = body_of(accepted.reply);
    assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, ""));

    // Transport errors stay JSON.
    let (status, content_type, _) = body_of(transport_error(&TransportError::Timeout));
    assert_eq!(
        (status, content_type.as_str()),
        (
            StatusCode::REQUEST_TIMEOUT,
            "application/json; charset=utf-8"
        )
    );
}

#[test]
fn xml_failure_lists_escape_and_parse_back() {
    let failures = vec![
        Failure::event(3, Some("a<b>&\"c'"), "bad\r\n\tvalue \u{0} \u{FFFF} é"),
        Failure::request(None, "x"),
    ];
    let xml = failures_xml(&failures);
    assert!(xml.contains("<field>a&lt;b&gt;&amp;&quot;c&apos;</field><reason>bad&#xD;\n\tvalue \u{FFFD} \u{FFFD} é</reason>"), "{xml}");
    let failures = read_failures_xml(&xml);
    assert_eq!(
        failures[0],
        vec![
            ("index".to_string(), false, "3".to_string()),
            ("field".to_string(), false, "a<b>&\"c'".to_string()),
            (
                "reason".to_string(),
                false,
                "bad\r\n\tvalue \u{FFFD} \u{FFFD} é".to_string()
            )
        ]
    );
    let second: Vec<_> = failures[1]
        .iter()
        .map(|(name, nil, _)| (name.as_str(), *nil))
        .collect();
    assert_eq!(
        second,
        vec![("index", true), ("field", true), ("reason", false)]
    );
}

/// Each `<Failure>` of an `ArrayOfFailure` as (element, has `i:nil`, text), read back with an
/// independent XML reader.
fn read_failures_xml(xml: &str) -> Vec<Vec<(String, bool, String)>> {
    use quick_xml::events::{BytesStart, Event};
    let field = |e: &BytesStart<'_>| {
        let nil = e
            .attributes()
            .any(|a| a.unwrap().key.local_name().as_ref() == b"nil");
        let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
        (name, nil, String::new())
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut failures: Vec<Vec<(String, bool, String)>> = Vec::new();
    let mut in_field = false;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) if e.local_name().as_ref() == b"Failure" => failures.push(Vec::new()),
            Event::Start(e) if !failures.is_empty() => {
                failures.last_mut().unwrap().push(field(&e));
                in_field = true;
            }
            Event::Empty(e) if !failures.is_empty() => failures.last_mut().unwrap().push(field(&e)),
            Event::End(_) => in_field = false,
            Event::Text(t) if in_field => {
                let last = failures.last_mut().unwrap().last_mut().unwrap();
                last.2.push_str(&t.unescape().unwrap());
            }
            Event::Eof => return failures,
            _ => {}
        }
    }
}

/// The document's JSON and XML samples, as printed (`fixtures/`), are accepted whole.
#[test]
fn the_seed_samples_are_accepted_in_every_media_type_they_name() {
    let json = include_str!("../../../../fixtures/000_mobile_batch/request.json");
    let xml = include_str!("../../../../fixtures/000_mobile_batch/request.xml");
    for (content_type, body) in [
        ("application/json", json),
        ("text/json", json),
        ("application/xml", xml),
        ("text/xml", xml),
    ] {
        let Ok(accepted) = accept(
            &ctx(&credentials()),
            &request(content_type, &HeaderMap::new()),
            body.as_bytes(),
        ) else {
            panic!("{content_type}: the sample is refused");
        };
        assert_eq!(accepted.events, 2, "{content_type}");
        assert_eq!(accepted.reply.status(), StatusCode::ACCEPTED);
    }
}
