//! `gateway/openapi.json` against the live gateway (real broker): every documented operation is
//! called with the document's own examples (`x-expected-status` says which are refused), and
//! every answer must be a status the document lists for that operation, with the documented
//! headers and a body that validates against the documented schema. Also: the document is
//! served byte for byte, other methods and unknown paths answer as documented, every POST's
//! 503 is documented, and every example matches its own schema (refused ones must not).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};
use tributary_tests::{free_local_addr, Pipeline};

const HTTP_METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gateway/openapi.json")
}

/// OpenAPI 3.0 schema object -> JSON Schema (draft 7): `nullable` becomes a `null` type,
/// `#/components/schemas/X` becomes `#/definitions/X`, annotations are dropped.
fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "$ref" => Value::String(
                value
                    .as_str()
                    .expect("$ref is a string")
                    .replace("#/components/schemas/", "#/definitions/"),
            ),
            "properties" => Value::Object(
                value
                    .as_object()
                    .expect("properties is an object")
                    .iter()
                    .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
                    .collect(),
            ),
            "items" | "not" | "additionalProperties" => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .expect("a list of schemas")
                    .iter()
                    .map(to_json_schema)
                    .collect(),
            ),
            "nullable" | "example" | "xml" | "description" | "readOnly" | "writeOnly" => continue,
            _ if key.starts_with("x-") => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(kind)) = out.get("type").cloned() {
            out.insert("type".into(), json!([kind, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    Value::Object(out)
}

struct Document {
    root: Value,
    /// `components/schemas` as JSON Schema.
    definitions: Value,
}

/// One request built from the document.
#[derive(Clone)]
struct Call {
    label: String,
    method: reqwest::Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    /// Media type and bytes.
    body: Option<(String, Vec<u8>)>,
    /// The example's `x-expected-status`.
    expect: Option<u16>,
}

impl Call {
    /// A copy to change, labelled `what`, with no expected status.
    fn variant(&self, what: &str) -> Call {
        Call {
            label: format!("{} {what}", self.label),
            expect: None,
            ..self.clone()
        }
    }
}

impl Document {
    fn load() -> Document {
        let root: Value =
            serde_json::from_slice(&std::fs::read(document_path()).expect("gateway/openapi.json"))
                .expect("the document is JSON");
        assert_eq!(root["openapi"], "3.0.3");
        let definitions = Value::Object(
            root["components"]["schemas"]
                .as_object()
                .expect("components/schemas")
                .iter()
                .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
                .collect(),
        );
        Document { root, definitions }
    }

    /// Follow local `$ref`s until a value that is not one.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(target) = value.get("$ref").and_then(Value::as_str) {
            let pointer = target.strip_prefix('#').expect("only local references");
            value = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling reference {target}"));
        }
        value
    }

    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let root = json!({"definitions": self.definitions, "allOf": [to_json_schema(schema)]});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Every (path, method, operation).
    fn operations(&self) -> Vec<(&str, &str, &Value)> {
        let mut out = Vec::new();
        for (path, item) in self.root["paths"].as_object().expect("paths") {
            for method in HTTP_METHODS {
                if let Some(operation) = item.get(method) {
                    out.push((path.as_str(), method, operation));
                }
            }
        }
        out
    }

    fn parameters<'a>(&'a self, operation: &'a Value) -> impl Iterator<Item = &'a Value> {
        operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
    }

    /// The `Authorization` header of the operation's security scheme, from its `x-example`.
    fn credentials(&self, operation: &Value) -> Option<(String, String)> {
        let requirement = operation["security"].as_array()?.first()?.as_object()?;
        let name = requirement.keys().next()?;
        let scheme = &self.root["components"]["securitySchemes"][name];
        let secret = scheme["x-example"]
            .as_str()
            .unwrap_or_else(|| panic!("security scheme {name} has no x-example"));
        Some(match (scheme["type"].as_str(), scheme["scheme"].as_str()) {
            (Some("apiKey"), _) => {
                assert_eq!(scheme["in"], "header", "{name}");
                (scheme["name"].as_str().unwrap().to_string(), secret.into())
            }
            (Some("http"), Some("bearer")) => ("Authorization".into(), format!("Bearer {secret}")),
            other => panic!("security scheme {name}: {other:?} not handled"),
        })
    }

    /// One call per request-body example of `operation` (one bare call without a body), each
    /// with the parameters' examples and the credentials.
    fn calls(&self, path: &str, method: &str, operation: &Value) -> Vec<Call> {
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for parameter in self.parameters(operation) {
            let Some(example) = parameter.get("example") else {
                assert_ne!(
                    parameter["required"], true,
                    "{method} {path}: required parameter {} has no example",
                    parameter["name"]
                );
                continue;
            };
            let name = parameter["name"].as_str().unwrap().to_string();
            let values = match example {
                Value::Array(items) => items.clone(),
                single => vec![single.clone()],
            };
            for value in values {
                let text = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                match parameter["in"].as_str() {
                    Some("query") => query.push((name.clone(), text)),
                    Some("header") => headers.push((name.clone(), text)),
                    other => panic!("{method} {path}: parameter in {other:?}"),
                }
            }
        }
        headers.extend(self.credentials(operation));
        let call = |label: String, body, expect| Call {
            label,
            method: method.to_uppercase().parse().unwrap(),
            path: path.to_string(),
            query: query.clone(),
            headers: headers.clone(),
            body,
            expect,
        };
        let Some(request_body) = operation.get("requestBody").map(|b| self.resolve(b)) else {
            return vec![call(
                format!("{} {path}", method.to_uppercase()),
                None,
                None,
            )];
        };
        let mut calls = Vec::new();
        for (media, content) in request_body["content"].as_object().expect("content") {
            for (name, example) in content["examples"].as_object().into_iter().flatten() {
                let example = self.resolve(example);
                let value = &example["value"];
                let bytes = if media.ends_with("json") {
                    serde_json::to_vec(value).unwrap()
                } else {
                    value
                        .as_str()
                        .unwrap_or_else(|| panic!("{path} {media} {name}: a raw body is a string"))
                        .as_bytes()
                        .to_vec()
                };
                let expect = example["x-expected-status"].as_u64().map(|s| s as u16);
                assert!(
                    expect.is_some(),
                    "{method} {path} {media} example {name} has no x-expected-status"
                );
                calls.push(call(
                    format!("{} {path} {media} example {name}", method.to_uppercase()),
                    Some((media.clone(), bytes)),
                    expect,
                ));
            }
        }
        assert!(
            !calls.is_empty(),
            "{method} {path}: a request body without examples"
        );
        calls
    }

    /// Assert that an answer is documented by `response` (a Response Object): its required
    /// headers, its media type and a body valid against the schema (JSON) or XML.
    fn check_answer(&self, label: &str, response: &Value, headers: &HeaderMap, body: &[u8]) {
        let response = self.resolve(response);
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let header = self.resolve(header);
            let value = headers.get(name.as_str()).map(|v| v.to_str().unwrap());
            if header["required"] == true {
                assert!(
                    value.is_some(),
                    "{label}: header {name} is documented as sent"
                );
            }
            if let (Some(value), Some(allowed)) = (value, header["schema"]["enum"].as_array()) {
                assert!(allowed.contains(&json!(value)), "{label}: {name}: {value}");
            }
        }
        let Some(content) = response.get("content") else {
            assert!(
                body.is_empty(),
                "{label}: documented without a body, got {:?}",
                String::from_utf8_lossy(body)
            );
            return;
        };
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("{label}: an answer with a body has a Content-Type"));
        let media = content_type
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_ascii_lowercase();
        let documented = content.get(&media).unwrap_or_else(|| {
            panic!(
                "{label}: {media} is not among the documented {:?}",
                content.as_object().unwrap().keys().collect::<Vec<_>>()
            )
        });
        if media.ends_with("json") {
            let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
                panic!(
                    "{label}: {media} body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(body)
                )
            });
            let errors = self.errors(&documented["schema"], &value);
            assert!(
                errors.is_empty(),
                "{label}: the body does not match the documented schema: {errors:?}\n{value}"
            );
        } else {
            assert!(media.ends_with("xml"), "{label}: {media}");
            assert!(
                body.starts_with(b"<"),
                "{label}: {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn send(client: &reqwest::Client, base: &str, call: &Call) -> Answer {
    let mut request = client
        .request(call.method.clone(), format!("{base}{}", call.path))
        .query(&call.query);
    for (name, value) in &call.headers {
        request = request.header(name, value);
    }
    if let Some((media, bytes)) = &call.body {
        request = request.header("content-type", media).body(bytes.clone());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", call.label));
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

/// The answer's status is one `operation` lists, and the answer is shaped as listed.
fn assert_documented(document: &Document, operation: &Value, call: &Call, answer: &Answer) {
    let label = &call.label;
    let status = answer.status.to_string();
    let response = operation["responses"].get(&status).unwrap_or_else(|| {
        panic!(
            "{label}: answered {status}, which the document does not list ({:?}): {}",
            operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&answer.body)
        )
    });
    document.check_answer(label, response, &answer.headers, &answer.body);
    // A client's X-Request-Id comes back.
    if let Some((_, id)) = call.headers.iter().find(|(n, _)| n == "X-Request-Id") {
        assert_eq!(
            answer
                .headers
                .get("x-request-id")
                .map(|v| v.to_str().unwrap()),
            Some(id.as_str()),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_document_is_served_byte_for_byte_at_get_openapi_json() {
    let mut pipeline = Pipeline::new("openapi_served").await;
    pipeline.start_gateway().await;
    let response = reqwest::get(format!("{}/openapi.json", pipeline.gateway_url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.bytes().await.unwrap();
    let file = std::fs::read(document_path()).unwrap();
    assert!(
        served.as_ref() == file.as_slice(),
        "GET /openapi.json differs from gateway/openapi.json"
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_documented_example_gets_a_documented_status_and_body() {
    let document = Document::load();
    // The whole pipeline, so that the searches find the CRM examples once the sink stored them.
    let pipeline = Pipeline::new("openapi_examples").await.start_all().await;
    let client = reqwest::Client::new();
    let mut sent = 0;
    for (path, method, operation) in document.operations() {
        let calls = document.calls(path, method, operation);
        for call in &calls {
            let answer = send(&client, &pipeline.gateway_url, call).await;
            assert_documented(&document, operation, call, &answer);
            if let Some(expect) = call.expect {
                assert_eq!(
                    answer.status,
                    expect,
                    "{}: {}",
                    call.label,
                    String::from_utf8_lossy(&answer.body)
                );
            }
            sent += 1;
        }
        // The refusals the document implies: no credentials on a secured operation, no
        // query on one with required query parameters.
        let mut refusals = Vec::new();
        if document.credentials(operation).is_some() {
            let mut call = calls[0].variant("without credentials");
            call.headers.retain(|(name, _)| name != "Authorization");
            refusals.push(call);
        }
        if document
            .parameters(operation)
            .any(|p| p["in"] == "query" && p["required"] == true)
        {
            let mut call = calls[0].variant("without its query");
            call.query.clear();
            refusals.push(call);
        }
        for call in refusals {
            let answer = send(&client, &pipeline.gateway_url, &call).await;
            assert!(
                (400..500).contains(&answer.status),
                "{}: {}",
                call.label,
                answer.status
            );
            assert_documented(&document, operation, &call, &answer);
            sent += 1;
        }
    }
    assert!(sent >= 45, "only {sent} requests built from the document");

    // Each search finds the CRM examples it names once the sink stored them, in the documented
    // shape.
    for (path, method, operation) in document.operations() {
        if !path.ends_with("/search") {
            continue;
        }
        let call = document.calls(path, method, operation).remove(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = send(&client, &pipeline.gateway_url, &call).await;
            assert_documented(&document, operation, &call, &answer);
            let found = answer.status == 200
                && serde_json::from_slice::<Value>(&answer.body).unwrap()["recordings"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty());
            if found {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: nothing found: {}",
                call.label,
                String::from_utf8_lossy(&answer.body)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_methods_and_unknown_paths_get_the_documented_errors() {
    let document = Document::load();
    let mut pipeline = Pipeline::new("openapi_405").await;
    pipeline.start_gateway().await;
    let client = reqwest::Client::new();
    let responses = &document.root["components"]["responses"];
    for (path, item) in document.root["paths"].as_object().unwrap() {
        let name = item["x-method-not-allowed"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} has no x-method-not-allowed"));
        let allowed: Vec<String> = HTTP_METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
            let label = format!("{method} {path}");
            let response = client
                .request(method, format!("{}{path}", pipeline.gateway_url))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "{label}");
            let headers = response.headers().clone();
            assert_eq!(headers["allow"], allowed.join(", "), "{label}");
            let body = response.bytes().await.unwrap();
            document.check_answer(&label, &responses[name], &headers, &body);
        }
    }
    for (method, path, name) in [
        (reqwest::Method::GET, "/nope", "NotFound"),
        (
            reqwest::Method::POST,
            "/api/v1/lead_analytics/x",
            "NotFound",
        ),
        (
            reqwest::Method::POST,
            "/v2/customEvent/",
            "S2sBadApiVersion",
        ),
        (
            reqwest::Method::POST,
            "/v1/unknownMethod/",
            "S2sMethodNotFound",
        ),
        (
            reqwest::Method::POST,
            "/v1/customevent/",
            "S2sMethodNotFound",
        ),
    ] {
        let label = format!("{method} {path}");
        let response = client
            .request(method, format!("{}{path}", pipeline.gateway_url))
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        let documented = &responses[name];
        let example = &documented["content"]["application/json"]["example"];
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            *example,
            "{label}"
        );
        assert!([400, 404].contains(&status), "{label}: {status}");
        document.check_answer(&label, documented, &headers, &body);
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_broker_does_not_answer_every_post_gets_its_documented_503() {
    let document = Document::load();
    let mut pipeline = Pipeline::new("openapi_503").await;
    let closed = free_local_addr();
    pipeline
        .start_gateway_with(|config| {
            config.kafka.brokers = closed.to_string();
            config.gateway.publish_timeout_ms = 1500;
        })
        .await;
    let client = reqwest::Client::new();
    // The first accepted example of every POST operation and media type.
    let mut checks: Vec<(&Value, Call)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (path, method, operation) in document.operations() {
        if method != "post" {
            continue;
        }
        for call in document.calls(path, method, operation) {
            let media = call.body.as_ref().map(|(media, _)| media.clone());
            if call.expect.is_some_and(|s| s < 300) && seen.insert((path, media)) {
                checks.push((operation, call));
            }
        }
    }
    let answers = futures::future::join_all(
        checks
            .iter()
            .map(|(_, call)| send(&client, &pipeline.gateway_url, call)),
    )
    .await;
    assert!(checks.len() >= 16, "{} POST examples", checks.len());
    for ((operation, call), answer) in checks.iter().zip(&answers) {
        assert_eq!(answer.status, 503, "{}", call.label);
        assert_documented(&document, operation, call, answer);
    }
    pipeline.stop().await;
}

#[test]
fn every_example_matches_its_schema_and_every_refused_example_breaks_it() {
    let document = Document::load();
    let mut checked = 0;
    for (path, method, operation) in document.operations() {
        if let Some(body) = operation.get("requestBody").map(|b| document.resolve(b)) {
            for (media, content) in body["content"].as_object().unwrap() {
                if !media.ends_with("json") {
                    continue;
                }
                for (name, example) in content["examples"].as_object().into_iter().flatten() {
                    let example = document.resolve(example);
                    let errors = document.errors(&content["schema"], &example["value"]);
                    let accepted = example["x-expected-status"].as_u64().unwrap() < 300;
                    assert_eq!(
                        errors.is_empty(),
                        accepted,
                        "{method} {path} {media} example {name}: {errors:?}"
                    );
                    checked += 1;
                }
            }
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            let response = document.resolve(response);
            for (media, content) in response["content"].as_object().into_iter().flatten() {
                if !media.ends_with("json") {
                    continue;
                }
                let examples = content["examples"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, e)| &document.resolve(e)["value"])
                    .chain(content.get("example"));
                for example in examples {
                    let errors = document.errors(&content["schema"], example);
                    assert!(
                        errors.is_empty(),
                        "{method} {path} {status} {media}: {errors:?}\n{example}"
                    );
                    checked += 1;
                }
            }
        }
    }
    for (name, response) in document.root["components"]["responses"]
        .as_object()
        .unwrap()
    {
        for (media, content) in response["content"].as_object().into_iter().flatten() {
            if let Some(example) = content.get("example") {
                let errors = document.errors(&content["schema"], example);
                assert!(errors.is_empty(), "response {name} {media}: {errors:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} examples checked");
}
