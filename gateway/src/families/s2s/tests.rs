use super::*;
use crate::config::TenantsConfig;
use crate::credentials::Credentials;
use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use tributary_schemas::Source;
use tributary_wire::s2s::*;

// ---- field rules -------------------------------------------------------------------------

/// HTTP method, path, query, `Authorization` values, body; expected status and body.
type AcceptCase<'a> = (
    hyper::Method,
    &'a str,
    Option<&'a str>,
    Vec<&'a str>,
    &'a str,
    u16,
    &'a str,
);

#[test]
fn accept_checks_in_order_and_answers_the_documents_errors() {
    use hyper::Method as Http;
    let bearer = format!("Bearer {TOKEN}");
    let lower_bearer = format!("bearer {TOKEN}");
    let padded = format!("  {TOKEN} ");
    let id = Some("idApp=666");
    let ok = DOC_EXAMPLE;
    let path = "/v1/customEvent/";
    const OK: &str = r#"{"message":"OK"}"#;
    const BAD: &str = r#"{"error":"Bad Request"}"#;
    const FORBIDDEN: &str = r#"{"error":"Forbidden"}"#;
    const VERSION: &str = r#"{"error":"Bad api version"}"#;
    const NOT_FOUND: &str = r#"{"error":"Method not found"}"#;
    const NOT_ALLOWED: &str = r#"{"error":"Method Not Allowed"}"#;
    const REVENUE: &str = r#"{"customUserId":"1","eventTimestamp":1,"idTransaction":"t","currency":"USD","total":19.99}"#;
    let unknown_currency = REVENUE.replace("USD", "ABC");
    let too_precise = REVENUE.replace("19.99", "0.0000000001");
    let too_large = REVENUE.replace("19.99", "99999999999999999999999999999.999999999");
    #[rustfmt::skip]
    let cases: Vec<AcceptCase> = vec![
        (Http::POST, path, id, vec![TOKEN], ok, 200, OK),
        (Http::POST, path, id, vec![&bearer], ok, 200, OK),
        (Http::POST, path, id, vec![&lower_bearer], ok, 200, OK),
        (Http::POST, path, id, vec![&padded], ok, 200, OK),
        (Http::POST, path, Some("x=1&idApp=0666"), vec![TOKEN], ok, 200, OK),
        // 1. version
        (Http::POST, "/v2/customEvent/", id, vec![TOKEN], ok, 400, VERSION),
        (Http::POST, "/V1/customEvent/", id, vec![TOKEN], ok, 400, VERSION),
        (Http::GET, "/v2/unknownMethod/", None, vec![], "", 400, VERSION),
        // 2. method
        (Http::POST, "/v1/unknownMethod/", id, vec![TOKEN], ok, 404, NOT_FOUND),
        (Http::POST, "/v1/customevent/", id, vec![TOKEN], ok, 404, NOT_FOUND),
        (Http::GET, "/v1/unknownMethod/", None, vec![], "", 404, NOT_FOUND),
        // 3. HTTP method
        (Http::GET, path, id, vec![TOKEN], "", 405, NOT_ALLOWED),
        (Http::PUT, path, id, vec![TOKEN], ok, 405, NOT_ALLOWED),
        (Http::GET, path, None, vec![], "", 405, NOT_ALLOWED),
        // 4. idApp
        (Http::POST, path, None, vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp="), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp=0"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp=-666"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp=%2B666"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp=XXX"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp=99999999999999999999"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idApp=666&idApp=666"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, Some("idapp=666"), vec![TOKEN], ok, 400, BAD),
        (Http::POST, path, None, vec![], "", 400, BAD),
        // 5. Authorization
        (Http::POST, path, id, vec![], ok, 403, FORBIDDEN),
        (Http::POST, path, id, vec!["skjdfASFasf03asdffar3asJHB32R"], ok, 403, FORBIDDEN),
        (Http::POST, path, id, vec!["Bearer "], ok, 403, FORBIDDEN),
        (Http::POST, path, id, vec![TOKEN, TOKEN], ok, 403, FORBIDDEN),
        (Http::POST, path, Some("idApp=667"), vec![TOKEN], ok, 403, FORBIDDEN),
        (Http::POST, path, id, vec![], "", 403, FORBIDDEN),
        // 6. empty body
        (Http::POST, path, id, vec![TOKEN], "", 400, r#"{"error":"Empty post data"}"#),
        (Http::POST, path, id, vec![TOKEN], " \n", 400, r#"{"error":"Empty post data"}"#),
        // 7. JSON
        (Http::POST, path, id, vec![TOKEN], r#"{"customUserId": "#, 400, r#"{"error":"Bad json"}"#),
        (Http::POST, path, id, vec![TOKEN], "customUserId=1", 400, r#"{"error":"Bad json"}"#),
        // 8. validation
        (Http::POST, path, id, vec![TOKEN], r#"{"customUserId": "1"}"#, 400, BAD),
        (Http::POST, "/v1/customEventBatch/", id, vec![TOKEN], ok, 400, BAD),
        (Http::POST, "/v1/customRevenueBatch/", id, vec![TOKEN], DOC_CUSTOM_REVENUE_BATCH, 400, BAD),
        // 9. what the tables could not store: refused, never accepted and dead-lettered later
        (Http::POST, "/v1/customRevenue/", id, vec![TOKEN], REVENUE, 200, OK),
        (Http::POST, "/v1/customRevenue/", id, vec![TOKEN], &unknown_currency, 400, BAD),
        (Http::POST, "/v1/customRevenue/", id, vec![TOKEN], &too_precise, 400, BAD),
        (Http::POST, "/v1/customRevenue/", id, vec![TOKEN], &too_large, 400, BAD),
    ];
    for (http, path, query, auth, body, status, want) in cases {
        let label = format!("{http} {path} {query:?} {auth:?} {body:?}");
        let response = match call(http, path, query, &auth, body) {
            Ok(accepted) => accepted.reply,
            Err(response) => response,
        };
        assert_eq!(response.status().as_u16(), status, "{label}");
        assert_eq!(
            response.headers().get("allow").is_some(),
            status == 405,
            "{label}"
        );
        if status == 405 {
            assert_eq!(response.headers()["allow"], "POST", "{label}");
        }
        assert_eq!(body_of(response), want, "{label}");
    }
}

const TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";

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

// ---- accept ------------------------------------------------------------------------------

// Returns what `accept` returns.
#[allow(clippy::result_large_err)]
fn call(
    method: hyper::Method,
    path: &str,
    query: Option<&str>,
    authorization: &[&str],
    body: &str,
) -> Result<Accepted, HttpResponse> {
    let credentials = Credentials::from_config(&TenantsConfig::default()).unwrap();
    let ctx = AcceptContext {
        credentials: &credentials,
        received_at: 0,
        batch_id: "batch",
    };
    let mut headers = HeaderMap::new();
    for value in authorization {
        headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    let req = RequestParts {
        method: &method,
        path,
        query,
        headers: &headers,
        // What curl -d sends, as in the document's example; not checked.
        content_type: Some("application/x-www-form-urlencoded".into()),
    };
    accept(&ctx, &req, body.as_bytes())
}

fn body_of(response: HttpResponse) -> String {
    let bytes = futures::executor::block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn accept_answers_the_documents_ok_and_publishes_the_endpoint() {
    #[rustfmt::skip]
    let cases = [
        ("/v1/customEvent/", DOC_EXAMPLE, Source::S2sCustomEvent, 1),
        ("/v1/customEvent", DOC_EXAMPLE, Source::S2sCustomEvent, 1),
        ("/v1/registrationBatch/", DOC_REGISTRATION_BATCH, Source::S2sRegistrationBatch, 2),
        ("/v1/loginBatch/", DOC_LOGIN_BATCH, Source::S2sLoginBatch, 2),
        ("/v1/customEventBatch/", DOC_CUSTOM_EVENT_BATCH, Source::S2sCustomEventBatch, 2),
    ];
    for (path, body, source, events) in cases {
        let Ok(accepted) = call(hyper::Method::POST, path, Some("idApp=666"), &[TOKEN], body)
        else {
            panic!("{path} refused")
        };
        assert_eq!(accepted.source, source);
        assert_eq!(accepted.tenant, "default");
        assert_eq!(accepted.events, events);
        assert_eq!(
            accepted.attributes,
            HashMap::from([("idApp".to_string(), "666".to_string())])
        );
        assert_eq!(accepted.reply.status(), StatusCode::OK);
        assert_eq!(
            accepted.reply.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(body_of(accepted.reply), r#"{"message":"OK"}"#);
    }
}

#[test]
fn transport_errors_in_this_familys_format() {
    #[rustfmt::skip]
    let cases = [
        (TransportError::NotFound, 404, r#"{"error":"Method not found"}"#),
        (TransportError::MethodNotAllowed, 405, r#"{"error":"Method Not Allowed"}"#),
        (TransportError::PayloadTooLarge { limit: BODY_LIMIT }, 413, r#"{"error":"Payload Too Large"}"#),
        (TransportError::Timeout, 408, r#"{"error":"Request Timeout"}"#),
        (TransportError::BadContentEncoding("br".into()), 400, r#"{"error":"Bad Request"}"#),
        (TransportError::Unavailable { retry_after_secs: 5 }, 503, r#"{"error":"Service Unavailable"}"#),
        (TransportError::Internal, 500, r#"{"error":"Internal Server Error"}"#),
    ];
    for (error, status, want) in cases {
        let response = transport_error(&error);
        assert_eq!(response.status().as_u16(), status, "{error:?}");
        match error {
            TransportError::MethodNotAllowed => {
                assert_eq!(response.headers()["allow"], "POST")
            }
            TransportError::Unavailable { .. } => {
                assert_eq!(response.headers()["retry-after"], "5")
            }
            _ => {}
        }
        assert_eq!(body_of(response), want, "{error:?}");
    }
    assert_eq!(BODY_LIMIT, 10 * 1024);
}
