//! The HTTP edge: routing, request ids, body limits and timeouts, gzip, then the family's
//! `accept`, publishing, and the family's reply. Everything family-specific lives in
//! `families/`; this file only knows which family owns which path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, USER_AGENT,
};
use hyper::{Method, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;
use tributary_normalize::sources::NormalizeContext;
use tributary_schemas::{compress_body, RawBatch};
use tributary_service::Shutdown;

use crate::config::GatewayConfig;
use crate::cors;
use crate::credentials::Credentials;
use crate::families::{
    self, AcceptContext, FamilyRoute, HttpResponse, RequestParts, TransportError,
};
use crate::metrics;
use crate::publish::Publisher;
use crate::rate_limit::{retry_after_secs, RateLimits};
use crate::refusals::{RefusalRewriter, RequestStart};
use crate::search::Search;

/// Longest a refusal from the request's head is held before it is answered (see
/// `dispatch`): long enough to pace a client that ignores `Retry-After`, short enough that a
/// held connection costs little.
const REFUSAL_HOLD_MAX: Duration = Duration::from_secs(1);

/// Everything a request handler needs; shared by all connections.
pub struct Gateway {
    pub config: GatewayConfig,
    pub credentials: Credentials,
    pub publisher: Arc<dyn Publisher>,
    pub search: Option<Search>,
    /// Every tenant's buckets (`config.rate_limits`).
    pub rate_limits: RateLimits,
    /// The last refused requests, for the events debugger (admin `/rejections`).
    pub rejections: crate::rejections::Rejections,
    /// The enricher's rules, when some tenant's PII is hashed before Kafka
    /// (`[enricher.tenants.<name>] hash_before_kafka`); `None` otherwise.
    pub before_kafka: Option<Arc<NormalizeContext>>,
}

/// Which handler owns a request.
#[derive(Clone, Copy)]
enum Endpoint {
    Family(&'static FamilyRoute),
    Search,
    OpenApi,
    NotFound,
}

impl Endpoint {
    fn route(path: &str) -> Endpoint {
        let lower = path.to_ascii_lowercase();
        let trimmed = lower.trim_end_matches('/');
        match trimmed {
            "/api/v1/lead_analytics/search" | "/api/v1/contact_analytics/search" => {
                Endpoint::Search
            }
            "/openapi.json" => Endpoint::OpenApi,
            _ => families::FAMILIES
                .iter()
                .find(|family| (family.owns)(trimmed))
                .map_or(Endpoint::NotFound, Endpoint::Family),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Endpoint::Family(family) => family.label,
            Endpoint::Search => "search",
            Endpoint::OpenApi => "openapi",
            Endpoint::NotFound => "none",
        }
    }

    /// The methods a preflight allows.
    fn methods(self) -> &'static str {
        match self {
            Endpoint::Family(_) => "POST, OPTIONS",
            _ => "GET, OPTIONS",
        }
    }

    fn transport_error(self, error: &TransportError) -> HttpResponse {
        match self {
            Endpoint::Family(family) => (family.transport_error)(error),
            Endpoint::Search => families::crm::transport_error_allowing(error, "GET"),
            Endpoint::OpenApi | Endpoint::NotFound => {
                let mut response = families::json_response(
                    error.status(),
                    &serde_json::json!({"error": error.message()}),
                );
                error.decorate(&mut response, "GET");
                response
            }
        }
    }
}

/// The client's `X-Request-Id` when it is short and printable, else a new one.
fn request_id(req: &Request<Incoming>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn media_type(req: &Request<Incoming>) -> Option<String> {
    let value = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

/// Read the whole body within the limit and the deadline, undoing `Content-Encoding: gzip`.
async fn read_body(
    req: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, TransportError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(TransportError::PayloadTooLarge { limit });
    }
    let encoding = req
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let collected = tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect())
        .await
        .map_err(|_| TransportError::Timeout)?;
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(TransportError::PayloadTooLarge { limit })
        }
        Err(_) => return Err(TransportError::Timeout),
    };
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") | Some("x-gzip") => inflate(flate2::read::GzDecoder::new(&body[..]), limit),
        Some("deflate") => inflate(flate2::read::ZlibDecoder::new(&body[..]), limit),
        Some(other) => Err(TransportError::BadContentEncoding(format!(
            "unsupported Content-Encoding {other:?}; use gzip, deflate or identity"
        ))),
    }
}

/// Inflate at most `limit` bytes: a bomb stops at the limit, never fills memory.
fn inflate(decoder: impl std::io::Read, limit: usize) -> Result<Bytes, TransportError> {
    use std::io::Read;
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| TransportError::BadContentEncoding(format!("corrupt compressed body: {e}")))?;
    if out.len() > limit {
        return Err(TransportError::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

async fn handle(gateway: Arc<Gateway>, req: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
    let id = request_id(&req);
    let endpoint = Endpoint::route(req.uri().path());
    let path = req.uri().path().to_string();
    let span =
        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %path);
    let started = std::time::Instant::now();
    let origin = req.headers().get(ORIGIN).cloned();
    let preflight = (req.method() == Method::OPTIONS && !matches!(endpoint, Endpoint::NotFound))
        .then(|| endpoint.methods());
    let mut response = dispatch(&gateway, endpoint, req, peer, &id)
        .instrument(span.clone())
        .await;
    let status = response.status();
    metrics::observe_request(endpoint.label(), status.as_u16(), started.elapsed());
    if status.is_client_error() && req_path_is_api(endpoint) {
        response = remember_rejection(&gateway, endpoint, &path, &id, response).await;
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            endpoint = endpoint.label(),
            "request served"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    cors::decorate(
        &mut response,
        &gateway.config.allowed_origins,
        endpoint.label(),
        origin.as_ref(),
        preflight,
    );
    response
}

/// A CORS preflight for a known endpoint: `cors::decorate` adds what the origin may do.
fn preflight() -> HttpResponse {
    families::empty_response(hyper::StatusCode::NO_CONTENT)
}

/// Rejections of the event APIs are kept for the debugger; not the search's or unknown paths'.
fn req_path_is_api(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Family(_))
}

/// Keep a copy of a refused request's error body in the gateway's rejection ring.
async fn remember_rejection(
    gateway: &Gateway,
    endpoint: Endpoint,
    path: &str,
    request_id: &str,
    response: HttpResponse,
) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    gateway.rejections.record(crate::rejections::Rejection {
        at_ms: tributary_service::now_ms(),
        family: endpoint.label().to_string(),
        path: path.to_string(),
        status: parts.status.as_u16(),
        request_id: request_id.to_string(),
        reason: String::from_utf8_lossy(&body).into_owned(),
    });
    HttpResponse::from_parts(parts, http_body_util::Full::new(body))
}

async fn dispatch(
    gateway: &Gateway,
    endpoint: Endpoint,
    req: Request<Incoming>,
    peer: SocketAddr,
    request_id: &str,
) -> HttpResponse {
    if req.method() == Method::OPTIONS && !matches!(endpoint, Endpoint::NotFound) {
        return preflight();
    }
    let family = match endpoint {
        Endpoint::Family(family) => family,
        Endpoint::NotFound => return endpoint.transport_error(&TransportError::NotFound),
        Endpoint::OpenApi if req.method() == Method::GET => return crate::openapi::response(),
        Endpoint::Search if req.method() == Method::GET => {
            let tenant = match gateway.credentials.crm_tenant(req.headers()) {
                Ok(tenant) => tenant,
                Err(error) => return families::crm::unauthorized(error),
            };
            return match &gateway.search {
                Some(search) => {
                    search
                        .handle(tenant, req.uri().path(), req.uri().query())
                        .await
                }
                None => endpoint.transport_error(&TransportError::Internal),
            };
        }
        Endpoint::OpenApi | Endpoint::Search => {
            return endpoint.transport_error(&TransportError::MethodNotAllowed)
        }
    };
    if req.method() != Method::POST && !family.checks_http_method {
        return endpoint.transport_error(&TransportError::MethodNotAllowed);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers = req.headers().clone();
    let content_type = media_type(&req);
    let parts = RequestParts {
        method: &method,
        path: &path,
        query: query.as_deref(),
        headers: &headers,
        content_type: content_type.clone(),
    };
    let batch_id = uuid::Uuid::now_v7().to_string();
    let received_at = tributary_service::now_ms();
    let ctx = AcceptContext {
        credentials: &gateway.credentials,
        received_at,
        batch_id: &batch_id,
    };
    // What the family decides without the body (path, method, credentials) is answered
    // before the body is read, decoded or inflated.
    let named_tenant = match (family.before_body)(&ctx, &parts) {
        Ok(tenant) => tenant,
        Err(rejection) => {
            metrics::observe_rejected(endpoint.label(), rejection.status().as_u16());
            return rejection;
        }
    };
    // A tenant still inside the wait its last refusal gave it is refused again unread: a
    // client flooding in a loop costs the gateway its headers, not its bodies. The answer is
    // held until that wait is over (at most `REFUSAL_HOLD_MAX`), as `Retry-After` asked the
    // client to wait anyway: a client ignoring it then loops at the pace of the limit, not at
    // the pace of the gateway's refusals.
    if let Some(wait) = named_tenant.and_then(|t| gateway.rate_limits.still_refused(t)) {
        tokio::time::sleep(wait.min(REFUSAL_HOLD_MAX)).await;
        let limited = endpoint.transport_error(&TransportError::TooManyRequests {
            retry_after_secs: retry_after_secs(wait.saturating_sub(REFUSAL_HOLD_MAX)),
        });
        metrics::observe_rejected(endpoint.label(), limited.status().as_u16());
        return limited;
    }
    let timeout = Duration::from_millis(gateway.config.body_timeout_ms);
    let limit = family.body_limit.min(gateway.config.max_inflated_bytes);
    let body = match read_body(req, limit, timeout).await {
        Ok(body) => body,
        Err(error) => return endpoint.transport_error(&error),
    };
    let accepted = match (family.accept)(&ctx, &parts, &body) {
        Ok(accepted) => accepted,
        Err(rejection) => {
            metrics::observe_rejected(endpoint.label(), rejection.status().as_u16());
            return rejection;
        }
    };
    // The whole request, or none of it: checked before anything is published.
    if let Err(wait) = gateway
        .rate_limits
        .check(&accepted.tenant, accepted.events, body.len())
    {
        let limited = endpoint.transport_error(&TransportError::TooManyRequests {
            retry_after_secs: retry_after_secs(wait),
        });
        metrics::observe_rejected(endpoint.label(), limited.status().as_u16());
        return limited;
    }
    let (encoding, stored) = compress_body(&body);
    let mut batch = RawBatch {
        batch_id,
        source: accepted.source.as_str().to_string(),
        tenant: accepted.tenant,
        received_at,
        request_id: request_id.to_string(),
        client_ip: Some(
            crate::sender::sender(peer.ip(), &headers, &gateway.config.trusted_proxies).to_string(),
        ),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        content_type: content_type.unwrap_or_default(),
        body_encoding: encoding.as_str().to_string(),
        body: stored,
        attributes: accepted.attributes,
    };
    if let Some(ctx) = &gateway.before_kafka {
        if ctx.hashes_before_kafka(&batch.tenant) {
            batch = match normalize_before_kafka(batch, body.clone(), ctx.clone()).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(%error, "normalizing before Kafka failed; answering 500");
                    return endpoint.transport_error(&TransportError::Internal);
                }
            };
        }
    }
    let publish_started = std::time::Instant::now();
    match gateway.publisher.publish(batch).await {
        Ok(()) => {
            metrics::observe_published(
                accepted.source.as_str(),
                accepted.events,
                body.len(),
                publish_started.elapsed(),
            );
            accepted.reply
        }
        Err(error) => {
            tracing::warn!(%error, "publish failed; answering 503");
            metrics::observe_publish_failure(accepted.source.as_str());
            endpoint.transport_error(&TransportError::Unavailable {
                retry_after_secs: 5,
            })
        }
    }
}

/// `batch` as published for a tenant whose PII is hashed before Kafka
/// (`tributary_normalize::before_kafka::rewrite`); `body` is the request's body in clear.
/// Runs off the async workers: a 1,000-event request is tens of milliseconds of CPU.
async fn normalize_before_kafka(
    batch: RawBatch,
    body: Bytes,
    ctx: Arc<NormalizeContext>,
) -> Result<RawBatch, String> {
    tokio::task::spawn_blocking(move || {
        tributary_normalize::before_kafka::rewrite(batch, body.to_vec(), &ctx)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The family's answer to a request the HTTP layer refused before any handler ran (see
/// `crate::refusals`), counted like every other answer. It carries no CORS headers: the
/// request's `Origin` may lie beyond the bytes kept, so a browser sees only the status.
fn render_refusal(start: &RequestStart<'_>, refusal: &TransportError) -> HttpResponse {
    let endpoint = Endpoint::route(start.path);
    let response = endpoint.transport_error(refusal);
    metrics::observe_request(endpoint.label(), response.status().as_u16(), Duration::ZERO);
    response
}

/// Requests in flight on one connection and when it was last active: a connection with no
/// request in flight for the idle timeout is closed, so silent or abandoned connections cannot
/// hold the connection limit.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(tributary_service::now_ms() as u64, Ordering::Relaxed);
    }

    /// Resolves once the connection has been idle for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let since = (tributary_service::now_ms() as u64)
                .saturating_sub(self.last_ms.load(Ordering::Relaxed));
            let idle_ms = idle.as_millis() as u64;
            if self.in_flight.load(Ordering::Relaxed) == 0 && since >= idle_ms {
                return;
            }
            let wait = idle_ms.saturating_sub(since).max(idle_ms / 4).max(10);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// Serve the public APIs on `listener` until `shutdown`, then finish in-flight requests.
pub async fn serve(gateway: Arc<Gateway>, listener: TcpListener, shutdown: Shutdown) {
    let max_connections = gateway.config.max_connections.max(1);
    let connections = Arc::new(Semaphore::new(max_connections));
    let idle = Duration::from_millis(gateway.config.header_timeout_ms);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle);
    // HTTP/2 peers that stop answering pings are dropped.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(idle))
        .keep_alive_timeout(idle);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("semaphore never closes"),
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        activity.touch();
        let service = {
            let gateway = gateway.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |req| {
                let gateway = gateway.clone();
                let activity = activity.clone();
                activity.in_flight.fetch_add(1, Ordering::Relaxed);
                async move {
                    let response = handle(gateway, req, peer).await;
                    activity.touch();
                    activity.in_flight.fetch_sub(1, Ordering::Relaxed);
                    Ok::<_, std::convert::Infallible>(response)
                }
            })
        };
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(RefusalRewriter::new(stream, render_refusal)),
                service,
            )
            .into_owned();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let mut closing = false;
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    _ = activity.idle_for(idle), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = shutdown.wait(), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
            drop(permit);
        });
    }
    tracing::info!("gateway stops accepting; finishing in-flight requests");
    // Every connection holds a permit until it is done: having them all back means drained.
    let drained = connections.acquire_many(max_connections as u32);
    let _ = tokio::time::timeout(Duration::from_secs(30), drained).await;
    gateway.publisher.flush(Duration::from_secs(10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            ("/api/analytics/events", "mobile_batch"),
            ("/API/Analytics/Events/", "mobile_batch"),
            ("/api/v1/lead_analytics", "crm"),
            ("/api/v1/contact_analytics/search", "search"),
            ("/v1/activity/upload", "activity"),
            ("/v1/customEvent/", "s2s"),
            ("/v2/customEvent", "s2s"),
            ("/v1/nope/", "s2s"),
            ("/v1/a/b", "none"),
            ("/vx/customEvent", "none"),
            ("/", "none"),
            ("/openapi.json", "openapi"),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::route(path).label(), want, "{path}");
        }
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b'a'; 10 * 1024 * 1024]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 20_000);
        assert_eq!(
            inflate(flate2::read::GzDecoder::new(&bomb[..]), 10 * 1024),
            Err(TransportError::PayloadTooLarge { limit: 10 * 1024 })
        );
        assert!(matches!(
            inflate(flate2::read::GzDecoder::new(&b"not gzip"[..]), 1024),
            Err(TransportError::BadContentEncoding(_))
        ));
    }
}
