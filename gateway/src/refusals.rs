//! hyper's own refusals, answered in the family's format.
//!
//! hyper answers some requests itself, before any handler of ours runs, with a bare status and
//! no body (hyper 1.x `proto/h1/role.rs`, `Server::on_error`):
//! - `414 URI Too Long`: a request target over 65,534 bytes (hyper's fixed `MAX_URI_LEN`);
//! - `431 Request Header Fields Too Large`: a head beyond the read buffer, or more header
//!   fields than `max_headers`;
//! - `400 Bad Request`: a request line or header that does not parse.
//!
//! Such an answer carries neither `X-Request-Id` nor the error body a client of that API
//! reads. [`RefusalRewriter`] sits between the socket and hyper. It keeps the first bytes of
//! each request (its request line, and the head as far as it fits in [`REQUEST_START_BYTES`]),
//! and when hyper writes one of its automatic error heads it writes the family's response
//! instead: the status stays, the body is the family's, with `X-Request-Id` (the client's when
//! it fits the head kept, else a new one), `Date` and `Connection: close` (hyper closes the
//! connection after such an error). Every response of ours carries `X-Request-Id`, which is
//! how an automatic head is told apart.
//!
//! Known limit: a pipelined request (sent before the previous answer was written) is
//! attributed to the request whose bytes began the read; HTTP/2 has no such refusals.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::families::{HttpResponse, TransportError};

/// How much of each request's first bytes is kept: the request line's path and, usually, the
/// whole head. Bounded so a long head costs no more than this per connection.
pub const REQUEST_START_BYTES: usize = 8 * 1024;

/// What a refusal is rendered with: the request's method and path (as far as they were read),
/// the refusal, and the request id to answer with.
pub type RenderRefusal = fn(&RequestStart<'_>, &TransportError) -> HttpResponse;

/// The start of a refused request, read off the bytes kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStart<'a> {
    /// The request line's method, when one was read (`GET`, `POST`).
    pub method: Option<&'a str>,
    /// The path of the request target, without its query; `/` when none could be read.
    pub path: &'a str,
    /// The client's `X-Request-Id`, when the head kept holds one.
    pub request_id: Option<&'a str>,
}

impl<'a> RequestStart<'a> {
    /// Read the request line and, if present in `bytes`, an `X-Request-Id` header.
    pub fn parse(bytes: &'a [u8]) -> RequestStart<'a> {
        let line_end = bytes
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(bytes.len());
        let mut words = bytes[..line_end]
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty());
        let method = words.next().and_then(|w| std::str::from_utf8(w).ok());
        let path = words
            .next()
            .map(|target| {
                let end = target
                    .iter()
                    .position(|&b| b == b'?' || b == b'#')
                    .unwrap_or(target.len());
                &target[..end]
            })
            .and_then(|p| std::str::from_utf8(p).ok())
            .filter(|p| p.starts_with('/'))
            .unwrap_or("/");
        let request_id = bytes
            .get(line_end..)
            .unwrap_or_default()
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let (name, value) = line.split_at(colon);
                name.eq_ignore_ascii_case(b"x-request-id")
                    .then(|| value[1..].trim_ascii())
            })
            .filter_map(|v| std::str::from_utf8(v).ok())
            .find(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
        RequestStart {
            method,
            path,
            request_id,
        }
    }
}

/// The refusal hyper's automatic status stands for; `None` for any other status.
fn refusal_of(status: u16) -> Option<TransportError> {
    match status {
        400 => Some(TransportError::MalformedRequest),
        414 => Some(TransportError::UriTooLong),
        431 => Some(TransportError::HeadersTooLarge),
        _ => None,
    }
}

/// The status of an automatic error head at the start of `written`: hyper's heads are
/// `HTTP/1.x 4nn …` and carry no `X-Request-Id`; ours always do.
fn automatic_refusal(written: &[u8]) -> Option<TransportError> {
    if written.len() < 12 || !written.starts_with(b"HTTP/1.") || written[9] != b'4' {
        return None;
    }
    let status = std::str::from_utf8(&written[9..12]).ok()?.parse().ok()?;
    let head_end = written
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(written.len());
    let has_request_id = written[..head_end]
        .split(|&b| b == b'\n')
        .any(|line| line.len() > 13 && line[..13].eq_ignore_ascii_case(b"x-request-id:"));
    if has_request_id {
        return None;
    }
    refusal_of(status)
}

/// `response` as HTTP/1.1 bytes, with `X-Request-Id`, `Date`, `Content-Length` and
/// `Connection: close`.
fn serialize(mut response: HttpResponse, request_id: &str) -> Vec<u8> {
    let status = response.status();
    let body = full_bytes(response.body_mut());
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    let mut header = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in response.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "x-request-id"
        ) {
            header(name.as_str(), value.as_bytes());
        }
    }
    header("x-request-id", request_id.as_bytes());
    header(
        "date",
        httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes(),
    );
    header("content-length", body.len().to_string().as_bytes());
    header("connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// The bytes of a `Full` body, which is always ready.
fn full_bytes(body: &mut Full<Bytes>) -> Bytes {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// The socket as hyper sees it, with hyper's automatic refusals rewritten (module docs).
pub struct RefusalRewriter<S> {
    inner: S,
    render: RenderRefusal,
    /// The first bytes read since the last response began.
    request_start: Vec<u8>,
    /// A response was written since `request_start` was filled: the next read begins a new
    /// request.
    responded: bool,
    /// The family's response replacing hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> RefusalRewriter<S> {
    pub fn new(inner: S, render: RenderRefusal) -> Self {
        RefusalRewriter {
            inner,
            render,
            request_start: Vec::new(),
            responded: false,
            replacement: None,
        }
    }

    fn remember(&mut self, read: &[u8]) {
        if self.responded {
            self.request_start.clear();
            self.responded = false;
        }
        let room = REQUEST_START_BYTES.saturating_sub(self.request_start.len());
        self.request_start
            .extend_from_slice(&read[..room.min(read.len())]);
    }

    fn replace(&mut self, refusal: &TransportError) {
        let start = RequestStart::parse(&self.request_start);
        let request_id = start
            .request_id
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let response = (self.render)(&start, refusal);
        tracing::info!(
            status = response.status().as_u16(),
            request_id,
            method = start.method.unwrap_or(""),
            path = start.path,
            "request refused by the HTTP layer"
        );
        self.replacement = Some((serialize(response, &request_id), 0));
    }
}

impl<S: AsyncWrite + Unpin> RefusalRewriter<S> {
    /// Write what is left of the replacement; ready once it is all written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RefusalRewriter<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                this.remember(read);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RefusalRewriter<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_some() {
            // hyper's refusal is already replaced, and hyper closes after it: what it still
            // writes of its own head is dropped.
            std::task::ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        if let Some(refusal) = automatic_refusal(buf) {
            this.replace(&refusal);
            this.responded = true;
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        this.responded = true;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each response head from the start of one buffer, where
    // an automatic refusal can be recognised.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_start_gives_method_path_and_request_id() {
        let start = RequestStart::parse(
            b"GET /api/v1/lead_analytics/search?customer_id=1 HTTP/1.1\r\nHost: x\r\nX-Request-ID:  abc-1 \r\n\r\n",
        );
        assert_eq!(start.method, Some("GET"));
        assert_eq!(start.path, "/api/v1/lead_analytics/search");
        assert_eq!(start.request_id, Some("abc-1"));

        // A request line cut short by the bytes kept: the path so far, no id.
        let start = RequestStart::parse(b"POST /v1/activity/upload?x=aaaaaaaa");
        assert_eq!(start.path, "/v1/activity/upload");
        assert_eq!(start.request_id, None);

        // Nothing readable: the root path.
        assert_eq!(RequestStart::parse(b"\x16\x03\x01").path, "/");
        assert_eq!(RequestStart::parse(b"").method, None);
    }

    #[test]
    fn only_heads_without_a_request_id_are_automatic() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_refusal(hyper), Some(TransportError::UriTooLong));
        let ours = b"HTTP/1.1 414 URI Too Long\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(automatic_refusal(ours), None);
        assert_eq!(automatic_refusal(b"HTTP/1.1 404 Not Found\r\n\r\n"), None);
        assert_eq!(automatic_refusal(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(automatic_refusal(b"{\"a\":1}"), None);
    }
}
