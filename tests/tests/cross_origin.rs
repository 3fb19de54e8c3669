//! Cross-origin reads per family (issue 19), on a real gateway and broker: the ingestion POSTs
//! answer any `Origin` by default, the search answers none unless `gateway.allowed_origins`
//! lists it, and a listed origin is echoed (with `Vary: Origin`) while others get no
//! `Access-Control-*` header, on preflights and on the answers themselves.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;
use tributary_tests::Pipeline;

const PAGE: &str = "https://page.example";
const CRM_APP: &str = "https://crm.example";
const SEARCH: &str =
    "/api/v1/lead_analytics/search?customer_id=c&user_id=u&lead_id=l&recording_id=r";

/// Status, `Access-Control-Allow-Origin` and `Access-Control-Allow-Methods` of one request.
async fn call(
    pipeline: &Pipeline,
    method: Method,
    path: &str,
    origin: &str,
) -> (u16, Option<String>, Option<String>) {
    let mut request = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", pipeline.gateway_url))
        .header("origin", origin);
    if method == Method::OPTIONS {
        request = request
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, x-api-key");
    } else if method == Method::POST {
        request = request.json(&json!({
            "customer_id": "c", "lead_id": "l", "user_id": "u", "recording_id": "r",
            "event_type": "view", "event_id": format!("cors-{}", uuid::Uuid::new_v4()),
        }));
    }
    let response = request.send().await.expect("gateway answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    (
        response.status().as_u16(),
        header("access-control-allow-origin"),
        header("access-control-allow-methods"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_is_open_to_any_origin_and_the_search_to_none_by_default() {
    let mut pipeline = Pipeline::new("cors_default").await;
    pipeline.start_gateway().await;

    let lead = "/api/v1/lead_analytics";
    let (status, allow, methods) = call(&pipeline, Method::OPTIONS, lead, PAGE).await;
    assert_eq!((status, allow.as_deref()), (204, Some("*")));
    assert_eq!(methods.as_deref(), Some("POST, OPTIONS"));
    let (status, allow, _) = call(&pipeline, Method::POST, lead, PAGE).await;
    assert_eq!((status, allow.as_deref()), (201, Some("*")));
    let (status, allow, _) = call(&pipeline, Method::POST, "/api/analytics/events", PAGE).await;
    assert_eq!(
        allow.as_deref(),
        Some("*"),
        "mobile batch answered {status}"
    );

    // The search: no preflight grant and no grant on the answer, whatever the status.
    let (status, allow, methods) = call(&pipeline, Method::OPTIONS, SEARCH, PAGE).await;
    assert_eq!((status, allow, methods), (204, None, None));
    let (_, allow, _) = call(&pipeline, Method::GET, SEARCH, PAGE).await;
    assert_eq!(allow, None);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_origins_are_echoed_and_others_refused() {
    let mut pipeline = Pipeline::new("cors_listed").await;
    pipeline
        .start_gateway_with(|config| {
            config.gateway.allowed_origins = BTreeMap::from([
                ("search".to_string(), vec![CRM_APP.to_string()]),
                ("crm".to_string(), vec![CRM_APP.to_string()]),
            ]);
        })
        .await;

    let (status, allow, methods) = call(&pipeline, Method::OPTIONS, SEARCH, CRM_APP).await;
    assert_eq!((status, allow.as_deref()), (204, Some(CRM_APP)));
    assert_eq!(methods.as_deref(), Some("GET, OPTIONS"));
    let response = reqwest::Client::new()
        .get(format!("{}{SEARCH}", pipeline.gateway_url))
        .header("origin", CRM_APP)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"]
            .to_str()
            .unwrap(),
        CRM_APP
    );
    assert!(response
        .headers()
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().eq_ignore_ascii_case("origin")));
    let (_, allow, _) = call(&pipeline, Method::GET, SEARCH, PAGE).await;
    assert_eq!(allow, None);

    // The CRM POSTs now answer only the listed origin; other families stay open.
    let lead = "/api/v1/lead_analytics";
    let (_, allow, _) = call(&pipeline, Method::OPTIONS, lead, PAGE).await;
    assert_eq!(allow, None);
    let (status, allow, _) = call(&pipeline, Method::POST, lead, CRM_APP).await;
    assert_eq!((status, allow.as_deref()), (201, Some(CRM_APP)));
    let (_, allow, _) = call(&pipeline, Method::OPTIONS, "/v1/activity/upload", PAGE).await;
    assert_eq!(allow.as_deref(), Some("*"));
    pipeline.stop().await;
}
