//! The debugger's HTTP routes, every one behind the admin token (401 without it):
//! `GET /` the page, `GET /stream` its live updates (server-sent events, at most four a
//! second), `POST /dlq/replay` (form field `id`) replays one dead letter and returns to the page,
//! `POST /erase` erases one person (form or query fields `tenant` and exactly one of `user_key`,
//! `email`, `phone`, `identity`; the same as `tributary erase`) and answers the JSON report.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tributary_service::Shutdown;

use super::page;
use super::Debugger;

type Body = BoxBody<Bytes, Infallible>;

/// Live updates are sent at most this often, however fast events arrive.
const UPDATE_EVERY: Duration = Duration::from_millis(250);

pub async fn serve(debugger: Debugger, listener: TcpListener, shutdown: Shutdown) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, "debugger accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => return,
        };
        let (debugger, shutdown) = (debugger.clone(), shutdown.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (debugger, shutdown) = (debugger.clone(), shutdown.clone());
                async move { Ok::<_, Infallible>(route(debugger, req, shutdown).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

async fn route(debugger: Debugger, req: Request<Incoming>, shutdown: Shutdown) -> Response<Body> {
    if !debugger.config.admin.allows(&req) {
        return full(
            StatusCode::UNAUTHORIZED,
            "text/html; charset=utf-8",
            page::refused(),
        );
    }
    let token = debugger.token();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => {
            let html =
                debugger.read(|state| page::page(state, &token, tributary_service::now_ms()));
            full(StatusCode::OK, "text/html; charset=utf-8", html)
        }
        (&Method::GET, "/stream") => stream(debugger, token, shutdown),
        (&Method::POST, "/dlq/replay") => replay(debugger, req, &token).await,
        (&Method::POST, "/erase") => erase(debugger, req).await,
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// Server-sent events: an `update` with every section at once, then one after each change,
/// no more often than [`UPDATE_EVERY`]; a comment every 15 s keeps proxies from closing it.
fn stream(debugger: Debugger, token: String, shutdown: Shutdown) -> Response<Body> {
    let changes = debugger.subscribe();
    let frames = futures::stream::unfold(
        (debugger, changes, token, shutdown, true),
        |(debugger, mut changes, token, shutdown, first)| async move {
            if !first {
                tokio::time::sleep(UPDATE_EVERY).await;
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return None; },
                    _ = tokio::time::sleep(Duration::from_secs(15)) => {
                        let ping = Bytes::from_static(b": still here\n\n");
                        return Some((ping, (debugger, changes, token, shutdown, false)));
                    }
                    _ = shutdown.wait() => return None,
                }
            }
            changes.mark_unchanged();
            let now = tributary_service::now_ms();
            let sections = debugger.read(|state| {
                page::SECTIONS
                    .iter()
                    .map(|id| {
                        (
                            (*id).to_string(),
                            serde_json::Value::from(page::section(id, state, &token, now)),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
            });
            let data = serde_json::to_string(&sections).unwrap_or_default();
            let event = Bytes::from(format!("event: update\ndata: {data}\n\n"));
            Some((event, (debugger, changes, token, shutdown, false)))
        },
    )
    .map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-store")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

/// Replay the letter named by the form's `id`, note the outcome, and go back to the page.
async fn replay(debugger: Debugger, req: Request<Incoming>, token: &str) -> Response<Body> {
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return full(StatusCode::BAD_REQUEST, "text/plain", "unreadable form\n"),
    };
    let Some(id) = form_field(&body, "id") else {
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "the form needs an id\n",
        );
    };
    let letter = debugger.read(|state| state.letters.iter().find(|l| l.id() == id).cloned());
    let outcome = match letter {
        None => format!("no dead letter {id} on the page any more"),
        Some(letter) => match crate::dlq::Replayer::new(&debugger.config.kafka) {
            Ok(replayer) => match replayer.replay(&letter).await {
                Ok(topic) => {
                    tracing::info!(letter = %id, %topic, "dead letter replayed from the debugger");
                    format!(
                        "replayed to {topic} at {}",
                        crate::dlq::iso(tributary_service::now_ms())
                    )
                }
                Err(e) => format!("replay failed: {e}"),
            },
            Err(e) => format!("replay failed: {e}"),
        },
    };
    debugger.update(|state| {
        state.replayed.insert(id, outcome);
    });
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", format!("/?token={token}"))
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

/// Erase one person (see the module docs): 200 with the report, 400 when the fields do not
/// name exactly one person, 503 when erasure is not configured or ClickHouse fails.
async fn erase(debugger: Debugger, req: Request<Incoming>) -> Response<Body> {
    let json =
        |status, value: serde_json::Value| full(status, "application/json", value.to_string());
    let query = req.uri().query().unwrap_or("").as_bytes().to_vec();
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "unreadable body"}),
            )
        }
    };
    let field = |name| form_field(&body, name).or_else(|| form_field(&query, name));
    let args = tributary_sink::erasure::ErasureArgs {
        tenant: field("tenant").unwrap_or_default(),
        user_key: field("user_key"),
        email: field("email"),
        phone: field("phone"),
        identity: field("identity"),
    };
    let Some(request) = args.try_request("admin-http".into()) else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "name exactly one of user_key, email, phone, identity, and the tenant"}),
        );
    };
    let Some(sink) = debugger.config.erasure.clone() else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "erasure is not configured for this debugger"}),
        );
    };
    match tributary_sink::erasure::run(&sink, &request).await {
        Ok(report) => {
            tracing::info!(tenant = %report.tenant, kind = %report.identity_kind, "person erased from the admin endpoint");
            json(
                StatusCode::OK,
                serde_json::to_value(&report).unwrap_or_default(),
            )
        }
        Err(error) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": format!("erasure failed: {error:#}")}),
        ),
    }
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
