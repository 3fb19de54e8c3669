use super::*;
use hyper::header::HeaderValue;
use serde_json::Value;
use tributary_wire::activity::*;

use super::reply::MAX_LISTED_PROBLEMS;
use crate::config::{ActivityKey, TenantsConfig};
use crate::credentials::Credentials;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::json;

const KEY: &str = "demo-netcore-key";

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
    assert_eq!(
        a.timestamp,
        tributary_wire::time::ClientTime::Local(
            chrono::NaiveDateTime::parse_from_str("2020-04-28T16:47:37", "%Y-%m-%dT%H:%M:%S")
                .unwrap()
        )
    );
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
                matches!(a.timestamp, tributary_wire::time::ClientTime::Instant(_)),
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
            "Invalid Parameter - Timestamp (activity 2): must be a time: use epoch seconds, milliseconds or microseconds, or ISO 8601 such as 2021-12-29T06:12:28Z, 2021-12-29T06:12:28.123+05:30 or 2021-12-29 06:12:28+0530, got \"2021-12-29\"".to_string(),
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
