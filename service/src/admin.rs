//! The admin port every service exposes: `/metrics` (Prometheus text), `/healthz` (the process
//! is alive and able to heal itself; 503 once the consumers' stall watchdog gave up, see
//! `watchdog.rs`) and `/readyz` (its dependencies answer).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus::{Encoder, TextEncoder};
use tokio::net::{TcpListener, TcpSocket};

use crate::shutdown::Shutdown;
use crate::watchdog::Health;

/// Readiness flag: the service sets it from its own dependency checks.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serve the admin endpoints on `listener` until shutdown (`/healthz` always 200).
pub async fn serve(listener: TcpListener, readiness: Readiness, shutdown: Shutdown) {
    serve_with_health(listener, readiness, Health::default(), shutdown).await
}

/// Routes a service adds to its admin port (the gateway's `/rejections`): `Some(response)` for
/// the requests it owns, `None` for the standard endpoints.
pub type Routes = Arc<dyn Fn(&Request<Incoming>) -> Option<Response<Full<Bytes>>> + Send + Sync>;

/// Serve the admin endpoints on `listener` until shutdown; `/healthz` follows `health`.
pub async fn serve_with_health(
    listener: TcpListener,
    readiness: Readiness,
    health: Health,
    shutdown: Shutdown,
) {
    serve_with_routes(listener, readiness, health, None, shutdown).await
}

/// [`serve_with_health`] plus the service's own `routes`, asked first.
pub async fn serve_with_routes(
    listener: TcpListener,
    readiness: Readiness,
    health: Health,
    routes: Option<Routes>,
    shutdown: Shutdown,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => { tracing::warn!(error = %e, "admin accept failed"); continue; }
            },
            _ = shutdown.wait() => return,
        };
        let (readiness, health, routes) = (readiness.clone(), health.clone(), routes.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (readiness, health) = (readiness.clone(), health.clone());
                let own = routes.as_ref().and_then(|routes| routes(&req));
                async move {
                    Ok::<_, Infallible>(own.unwrap_or_else(|| route(req, &readiness, &health)))
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn route(req: Request<Incoming>, readiness: &Readiness, health: &Health) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/metrics" => {
            let mut buf = Vec::new();
            let encoder = TextEncoder::new();
            let _ = encoder.encode(&prometheus::gather(), &mut buf);
            Response::builder()
                .header("content-type", encoder.format_type())
                .body(Full::from(buf))
                .unwrap()
        }
        "/healthz" if health.is_healthy() => text(StatusCode::OK, "ok\n"),
        "/healthz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy: the consumer stays stalled after rejoining its group; restart me\n",
        ),
        "/readyz" if readiness.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::from(body))
        .unwrap()
}

/// Bind `addr` and serve the admin endpoints in the background; returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    readiness: Readiness,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    spawn_with_health(addr, readiness, Health::default(), shutdown).await
}

/// [`spawn`] with `/healthz` following `health`.
pub async fn spawn_with_health(
    addr: SocketAddr,
    readiness: Readiness,
    health: Health,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    spawn_with_routes(addr, readiness, health, None, shutdown).await
}

/// [`spawn_with_health`] plus the service's own `routes`.
pub async fn spawn_with_routes(
    addr: SocketAddr,
    readiness: Readiness,
    health: Health,
    routes: Option<Routes>,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    let listener = bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve_with_routes(
        listener, readiness, health, routes, shutdown,
    ));
    Ok(local)
}

/// How long [`bind`] retries an address still in use.
const BIND_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Bind a listener with `SO_REUSEADDR`, so a restart right after `kill -9` binds even while the
/// old process's connections linger in TIME_WAIT; an address still in use (the old process
/// not yet gone) is retried for [`BIND_RETRY_FOR`] before the error is returned.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let deadline = std::time::Instant::now() + BIND_RETRY_FOR;
    loop {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                tracing::warn!(%addr, "admin address in use; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn rebinds_at_once_after_the_previous_listener_died_with_connections_open() {
        let shutdown = Shutdown::new();
        let health = Health::default();
        let addr = spawn_with_health(
            "127.0.0.1:0".parse().unwrap(),
            Readiness::default(),
            health.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        // A scrape that leaves the server side in TIME_WAIT (the server closes first).
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        health.set(false);
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 503"));
        shutdown.trigger();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let again = tokio::time::timeout(std::time::Duration::from_secs(5), bind(addr))
            .await
            .expect("binds within the retry window")
            .expect("the same address binds again");
        assert_eq!(again.local_addr().unwrap(), addr);
    }
}
