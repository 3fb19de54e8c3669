//! The gateway against hostile clients: one failing input per rule. Body limits per family
//! (S2S 10 KB), gzip bombs, nesting depth, slow headers and bodies, the connection limit,
//! credentials, secrets and PII kept out of logs, and error bodies that leak nothing.
//!
//! Each test serves the gateway in-process with its own config and an in-memory publisher
//! (no broker needed: every rule here is decided before publishing), through the same
//! `serve` the binary runs. Tests that must observe the process itself (log lines, peak
//! memory) re-run this test binary as a child and read its output.
//!
//! Constant-time key comparison is unit-tested where it lives, `gateway/src/credentials.rs`:
//! secrets are kept only as SHA-256 digests and compared with `subtle::ConstantTimeEq`
//! (`default_config_accepts_the_documents_own_credentials`,
//! `hashed_keys_work_and_bad_digests_are_config_errors`); here the near misses are checked
//! end to end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tributary_gateway::config::{GatewayConfig, TenantsConfig};
use tributary_gateway::credentials::Credentials;
use tributary_gateway::publish::MemoryPublisher;
use tributary_gateway::{serve, Gateway};
use tributary_service::Shutdown;
use tributary_wire::{activity, crm, mobile_batch, s2s};

const S2S_TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";
const ACTIVITY_KEY: &str = "demo-netcore-key";

/// A gateway served on a free loopback port until the value is dropped.
struct TestGateway {
    addr: SocketAddr,
    published: MemoryPublisher,
    shutdown: Shutdown,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn gateway(configure: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
    let mut config = GatewayConfig::default();
    configure(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let published = MemoryPublisher::default();
    let gateway = Arc::new(Gateway {
        config,
        credentials: Credentials::from_config(&TenantsConfig::default()).unwrap(),
        publisher: Arc::new(published.clone()),
        search: None,
        rate_limits: Default::default(),
        rejections: Default::default(),
        before_kafka: None,
    });
    let shutdown = Shutdown::new();
    tokio::spawn(serve(gateway, listener, shutdown.clone()));
    TestGateway {
        addr,
        published,
        shutdown,
    }
}

/// An HTTP/1.1 answer read off a raw socket.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    })
}

/// Send `head` (request line and headers, without the blank line) and `body` on a fresh
/// connection with `Connection: close`, and read the whole answer.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nHost: gateway.test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // The gateway may answer (413) before the body is sent; a refused write is then fine.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    parse_reply(&answer)
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&answer)))
}

/// A POST with a body and its `Content-Length`.
async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!("POST {path} HTTP/1.1\r\nContent-Length: {}", body.len());
    for (name, value) in headers {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    exchange(addr, &head, body).await
}

/// A POST whose body is sent chunked (no length declared up front).
async fn post_chunked(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut head = format!("POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked");
    for (name, value) in headers {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    let mut chunked = Vec::new();
    for chunk in body.chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    exchange(addr, &head, &chunked).await
}

/// Request headers as (name, value).
type Headers = Vec<(&'static str, &'static str)>;

/// One API family: a request to it that is valid apart from its body, and its body limit.
struct Family {
    name: &'static str,
    path: &'static str,
    headers: Headers,
    limit: usize,
}

fn families() -> Vec<Family> {
    let json = ("Content-Type", "application/json");
    let family = |name, path, headers, limit| Family {
        name,
        path,
        headers,
        limit,
    };
    vec![
        family(
            "mobile_batch",
            "/api/analytics/events",
            vec![json],
            mobile_batch::BODY_LIMIT,
        ),
        family("crm", "/api/v1/lead_analytics", vec![json], crm::BODY_LIMIT),
        family(
            "s2s",
            "/v1/customEventBatch/?idApp=666",
            vec![json, ("Authorization", S2S_TOKEN)],
            s2s::BODY_LIMIT,
        ),
        family(
            "activity",
            "/v1/activity/upload",
            vec![json, ("Authorization", "Bearer demo-netcore-key")],
            activity::BODY_LIMIT,
        ),
    ]
}

/// The family's own shape of a 413, so a client can tell what to fix.
fn assert_family_413(family: &str, reply: &Reply) {
    assert_eq!(reply.status, 413, "{family}: {reply:?}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    match family {
        "mobile_batch" => assert!(body[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Payload Too Large")),
        "crm" => assert_eq!(body["error"], "Payload Too Large"),
        "s2s" => assert_eq!(body, serde_json::json!({"error": "Payload Too Large"})),
        "activity" => assert_eq!(body["error"]["code"], 413),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_body_over_the_family_limit_is_refused_with_413_declared_or_streamed() {
    assert_eq!(s2s::BODY_LIMIT, 10 * 1024, "the S2S document's 10 KB");
    let gw = gateway(|_| {}).await;
    for Family {
        name: family,
        path,
        headers,
        limit,
    } in families()
    {
        // Declared too long: refused before a byte of the body is read.
        let length = (limit + 1).to_string();
        let mut head = format!("POST {path} HTTP/1.1\r\nContent-Length: {length}");
        for (name, value) in &headers {
            head.push_str(&format!("\r\n{name}: {value}"));
        }
        let started = Instant::now();
        let reply = exchange(gw.addr, &head, b"").await;
        assert_family_413(family, &reply);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{family}: not refused at once"
        );

        // Streamed without a length: refused once the limit is passed.
        let reply = post_chunked(gw.addr, path, &headers, &vec![b' '; limit + 1]).await;
        assert_family_413(family, &reply);
    }
    // Exactly at the limit is not a size problem (the body is then judged by its family).
    let at_limit = post(
        gw.addr,
        "/v1/customEventBatch/?idApp=666",
        &[("Authorization", S2S_TOKEN)],
        &vec![b' '; s2s::BODY_LIMIT],
    )
    .await;
    assert_eq!(at_limit.status, 400, "{at_limit:?}");
    assert!(gw.published.batches.lock().unwrap().is_empty());
}

/// Deflate's bits, least significant first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    used: u32,
}

impl Bits {
    /// A Huffman code of `len` bits, most significant bit first (RFC 1951, 3.1.1).
    fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            if self.used.is_multiple_of(8) {
                self.out.push(0);
            }
            let bit = ((code >> i) & 1) as u8;
            *self.out.last_mut().unwrap() |= bit << (self.used % 8);
            self.used += 1;
        }
    }
}

/// CRC-32 (gzip's) of `n` zero bytes.
fn crc32_of_zeros(n: usize) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for _ in 0..n {
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A gzip bomb of `size` zero bytes, about 160:1, written by hand (no compressor needed):
/// one fixed-Huffman block with a literal 0, then copies of 258 bytes at distance 1. Bombs
/// over 16 MB carry no real CRC: a reader that got that far has already lost.
fn gzip_zeros(size: usize) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.code(1, 1); // BFINAL
    bits.code(0b10, 2); // BTYPE 01 (fixed Huffman), written as bits 1, 0
    bits.code(0x30, 8); // literal 0
    let mut left = size - 1;
    while left >= 258 {
        bits.code(0xC5, 8); // length code 285: 258 bytes
        bits.code(0, 5); // distance code 0: distance 1
        left -= 258;
    }
    for _ in 0..left {
        bits.code(0x30, 8);
    }
    bits.code(0, 7); // end of block
    let crc = if size <= 16 << 20 {
        crc32_of_zeros(size)
    } else {
        0
    };
    let mut gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gzip.extend_from_slice(&bits.out);
    gzip.extend_from_slice(&crc.to_le_bytes());
    gzip.extend_from_slice(&(size as u32).to_le_bytes());
    gzip
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_quickly_without_inflating_it() {
    let gw = gateway(|_| {}).await;
    let bomb = gzip_zeros(10 * 1024 * 1024);
    assert!(
        bomb.len() < 80 * 1024,
        "10 MB of zeros travel as {} bytes",
        bomb.len()
    );
    for Family {
        name: family,
        path,
        mut headers,
        ..
    } in families()
    {
        headers.push(("Content-Encoding", "gzip"));
        let started = Instant::now();
        let reply = post(gw.addr, path, &headers, &bomb).await;
        assert_family_413(family, &reply);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{family}: took {:?}",
            started.elapsed()
        );
    }
    // A corrupt stream is a 400 in the family's format, not a 500.
    let reply = post(
        gw.addr,
        "/api/analytics/events",
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/json"),
        ],
        b"\x1f\x8b\x08\x00garbage",
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(gw.published.batches.lock().unwrap().is_empty());
}

/// Peak memory of this process (`VmHWM`, kB).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Re-run this test binary with only `test` selected and `HARDENING_CHILD=test`, so that the
/// child's stdout (tracing output) and peak memory are its own.
fn run_child(test: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("HARDENING_CHILD", test)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child {test} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn is_child(test: &str) -> bool {
    std::env::var("HARDENING_CHILD").as_deref() == Ok(test)
}

#[tokio::test]
async fn child_inflates_a_large_bomb() {
    if !is_child("child_inflates_a_large_bomb") {
        return;
    }
    // 512 MB of zeros in 3.3 MB: the gateway must stop inflating at its 5 MB limit.
    let bomb = gzip_zeros(512 * 1024 * 1024);
    let gw = gateway(|_| {}).await;
    let before = peak_rss_kb();
    let reply = post(
        gw.addr,
        "/api/analytics/events",
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/json"),
        ],
        &bomb,
    )
    .await;
    assert_eq!(reply.status, 413, "{reply:?}");
    println!("PEAK_GROWTH_KB={}", peak_rss_kb().saturating_sub(before));
}

#[test]
fn a_512_mb_gzip_bomb_costs_the_gateway_megabytes_not_the_bomb() {
    if std::env::var("HARDENING_CHILD").is_ok() {
        return;
    }
    let stdout = run_child("child_inflates_a_large_bomb");
    let growth: u64 = stdout
        .lines()
        .find_map(|l| l.split("PEAK_GROWTH_KB=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .expect("the child reports its peak memory")
        .parse()
        .unwrap();
    // The body limit (5 MB) plus its copies, never the 512 MB the bomb inflates to.
    assert!(growth < 64 * 1024, "peak memory grew by {growth} kB");
}

#[tokio::test]
async fn json_nested_beyond_serde_limit_is_a_400_not_a_crash() {
    let gw = gateway(|_| {}).await;
    // serde_json stops at 128 levels of nesting; deeper documents are malformed JSON.
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mobile_deep = format!(
        r#"{{"events":[{{"event_id":"e","event_name":"n","timestamp_utc":1,"payload":{{"p":{}}}}}]}}"#,
        deep(200_000)
    );
    let reply = post(
        gw.addr,
        "/api/analytics/events",
        &[("Content-Type", "application/json")],
        mobile_deep.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("recursion limit"), "{}", reply.body);

    for Family {
        name: family,
        path,
        headers,
        limit,
    } in families()
    {
        let depth = (limit / 2 - 16).min(100_000);
        let reply = post(gw.addr, path, &headers, deep(depth).as_bytes()).await;
        assert_eq!(reply.status, 400, "{family}: {reply:?}");
    }
    // Within the limit, nesting in a payload is just data.
    let ok = format!(
        r#"{{"events":[{{"event_id":"e","event_name":"n","timestamp_utc":1,"payload":{{"p":{}}}}}]}}"#,
        deep(100)
    );
    let reply = post(
        gw.addr,
        "/api/analytics/events",
        &[("Content-Type", "application/json")],
        ok.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
}

#[tokio::test]
async fn xml_nested_deeper_than_32_levels_is_a_400() {
    let gw = gateway(|_| {}).await;
    let nested = |depth: usize| {
        // root, events, AnalyticsEventDto, then an unknown field nested down to `depth`.
        let inner = depth - 3;
        format!(
            "<AnalyticsEventBatchReq><events><AnalyticsEventDto><event_id>e</event_id>\
             <event_name>n</event_name><timestamp_utc>1</timestamp_utc>{}x{}\
             </AnalyticsEventDto></events></AnalyticsEventBatchReq>",
            "<a>".repeat(inner),
            "</a>".repeat(inner)
        )
    };
    let xml = [("Content-Type", "application/xml")];
    let at = post(
        gw.addr,
        "/api/analytics/events",
        &xml,
        nested(32).as_bytes(),
    )
    .await;
    assert_eq!(at.status, 202, "{at:?}");
    for depth in [33, 500_000] {
        let started = Instant::now();
        let reply = post(
            gw.addr,
            "/api/analytics/events",
            &xml,
            nested(depth).as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 400, "depth {depth}: {reply:?}");
        assert!(
            reply.body.contains("nested deeper than 32"),
            "{}",
            reply.body
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// Wait until the server closes `stream` (read gives 0 or an error), feeding it `trickle`
/// every 100 ms meanwhile; `None` if it is still open after `limit`.
async fn closed_after(mut stream: TcpStream, trickle: &[u8], limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        if !trickle.is_empty() && stream.write_all(trickle).await.is_err() {
            return Some(started.elapsed());
        }
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // an answer (408) before the close is fine
            Err(_) => {}
        }
    }
    None
}

#[tokio::test]
async fn slow_headers_get_the_connection_closed() {
    let gw = gateway(|c| c.header_timeout_ms = 500).await;
    // Slowloris: headers trickle in, one short line every 100 ms, never finished.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /api/analytics/events HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = closed_after(stream, b"X-Slow: 1\r\n", Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "a slowloris client kept its connection: {closed:?}"
    );
}

#[tokio::test]
async fn silent_connections_are_closed_and_cannot_hold_the_connection_limit() {
    let gw = gateway(|c| {
        c.header_timeout_ms = 500;
        c.max_connections = 2;
    })
    .await;
    // Connected, silent, as many as the limit: they must not lock everyone else out.
    let silent = TcpStream::connect(gw.addr).await.unwrap();
    let _other = TcpStream::connect(gw.addr).await.unwrap();
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        post(gw.addr, "/api/analytics/events", &[], b"{}"),
    )
    .await
    .expect("a real client is served once the silent connections time out");
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let closed = closed_after(silent, b"", Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "a silent connection was kept open: {closed:?}"
    );

    // Kept alive after an answer, then silent: closed as well.
    let mut kept = TcpStream::connect(gw.addr).await.unwrap();
    kept.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 65536];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let closed = closed_after(kept, b"", Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "an idle keep-alive connection was kept open: {closed:?}"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let gw = gateway(|c| c.header_timeout_ms = 500).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // HTTP/2 with prior knowledge: the preface and an empty SETTINGS frame, then nothing.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let closed = closed_after(stream, b"", Duration::from_secs(8)).await;
    assert!(closed.is_some(), "an idle HTTP/2 connection was kept open");
}

#[tokio::test]
async fn a_client_that_stops_mid_body_gets_408() {
    let gw = gateway(|c| c.body_timeout_ms = 500).await;
    for Family {
        name: family,
        path,
        headers,
        ..
    } in families()
    {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000");
        for (name, value) in &headers {
            head.push_str(&format!("\r\n{name}: {value}"));
        }
        head.push_str("\r\n\r\n[{\"partial\":");
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until a whole answer arrived (the connection may stay open).
        while started.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) if parse_reply(&answer).is_some() => break,
                Err(_) => {}
            }
        }
        let reply = parse_reply(&answer).unwrap_or_else(|| panic!("{family}: no answer"));
        assert_eq!(reply.status, 408, "{family}: {reply:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{family}");
        assert!(serde_json::from_str::<serde_json::Value>(&reply.body).is_ok());
    }
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let gw = gateway(|c| {
        c.max_connections = 2;
        c.header_timeout_ms = 30_000;
    })
    .await;
    let first = TcpStream::connect(gw.addr).await.unwrap();
    let second = TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The third connection is only in the kernel's backlog: no answer while two are held.
    let third = tokio::spawn(post(gw.addr, "/openapi.json", &[], b""));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served beyond max_connections = 2"
    );

    drop(first);
    let reply = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a slot was free")
        .unwrap();
    assert_eq!(reply.status, 405, "{reply:?}");
    drop(second);
}

#[tokio::test]
async fn near_miss_credentials_are_all_refused_alike() {
    let gw = gateway(|_| {}).await;
    let item = br#"[{"customUserId":"1","customEventName":"e"}]"#;
    let last_changed = format!("{}R", &S2S_TOKEN[..S2S_TOKEN.len() - 1]);
    let first_changed = format!("X{}", &S2S_TOKEN[1..]);
    let longer = format!("{S2S_TOKEN}x");
    let s2s_tokens = [
        "",
        "x",
        &S2S_TOKEN[..S2S_TOKEN.len() - 1],
        &last_changed,
        &first_changed,
        &longer,
    ];
    let mut bodies = Vec::new();
    for token in s2s_tokens {
        let reply = post(
            gw.addr,
            "/v1/customEventBatch/?idApp=666",
            &[("Authorization", token)],
            item,
        )
        .await;
        assert_eq!(reply.status, 403, "{token:?}");
        bodies.push(reply.body);
    }
    // Another app's id with the right token: the same answer, nothing tells which part failed.
    let other_app = post(
        gw.addr,
        "/v1/customEventBatch/?idApp=667",
        &[("Authorization", S2S_TOKEN)],
        item,
    )
    .await;
    assert_eq!(other_app.status, 403);
    bodies.push(other_app.body);
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    let near = format!("Bearer {}", &ACTIVITY_KEY[..ACTIVITY_KEY.len() - 1]);
    let reply = post(
        gw.addr,
        "/v1/activity/upload",
        &[("Authorization", &near)],
        b"[]",
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.head.contains("www-authenticate: bearer"),
        "{}",
        reply.head
    );
    assert!(gw.published.batches.lock().unwrap().is_empty());
}

const EMAIL: &str = "jane.doe.secret@example.com";
const PHONE: &str = "+919876543210";

#[tokio::test]
async fn child_serves_requests_with_secrets() {
    if !is_child("child_serves_requests_with_secrets") {
        return;
    }
    tributary_service::telemetry::init_tracing();
    let gw = gateway(|_| {}).await;
    let s2s_ok = format!(r#"[{{"customUserId":"{EMAIL}","customEventName":"login"}}]"#);
    // Refused values: the rule must not echo them into (debug) logs.
    let s2s_bad =
        format!(r#"[{{"customUserId":"{EMAIL}","customEventName":"e","age":"{EMAIL}"}}]"#);
    let activity = format!(
        r#"[{{"asset_id":"a","activity_name":"x","timestamp":"{EMAIL}","identity":"{EMAIL}","activity_source":"web","activity_params":{{"phone":"{PHONE}"}}}}]"#
    );
    let mobile = format!(
        r#"{{"events":[{{"event_id":"e","event_name":"n","timestamp_utc":"{EMAIL}","mobile_number":"{PHONE}","name":"{EMAIL}"}}]}}"#
    );
    let crm = format!(r#"{{"customer_id":"{EMAIL}","lead_id":"l"}}"#);
    let s2s_auth = [("Authorization", S2S_TOKEN)];
    let answers = [
        post(
            gw.addr,
            "/v1/customEventBatch/?idApp=666",
            &s2s_auth,
            s2s_ok.as_bytes(),
        )
        .await,
        post(
            gw.addr,
            "/v1/customEventBatch/?idApp=666",
            &s2s_auth,
            s2s_bad.as_bytes(),
        )
        .await,
        post(
            gw.addr,
            "/v1/customEventBatch/?idApp=667",
            &[("Authorization", S2S_TOKEN)],
            s2s_ok.as_bytes(),
        )
        .await,
        post(
            gw.addr,
            "/v1/activity/upload",
            &[("Authorization", "Bearer demo-netcore-key")],
            activity.as_bytes(),
        )
        .await,
        post(
            gw.addr,
            "/v1/activity/upload",
            &[("Authorization", "Bearer demo-netcore-kez")],
            activity.as_bytes(),
        )
        .await,
        post(gw.addr, "/api/analytics/events", &[], mobile.as_bytes()).await,
        post(gw.addr, "/api/v1/lead_analytics", &[], crm.as_bytes()).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 400, 403, 400, 401, 400, 422]);
    gw.published
        .unavailable
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let unavailable = post(
        gw.addr,
        "/v1/customEventBatch/?idApp=666",
        &s2s_auth,
        s2s_ok.as_bytes(),
    )
    .await;
    assert_eq!(unavailable.status, 503);
    // Let the subscriber write the last lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[test]
fn keys_tokens_and_pii_never_reach_the_logs_even_at_trace_level() {
    if std::env::var("HARDENING_CHILD").is_ok() {
        return;
    }
    let logs = run_child("child_serves_requests_with_secrets");
    let served = logs.matches("request served").count();
    assert_eq!(served, 8, "the child's log lines were captured:\n{logs}");
    for secret in [
        S2S_TOKEN,
        ACTIVITY_KEY,
        "demo-netcore-kez",
        EMAIL,
        "jane.doe",
        PHONE,
        "9876543210",
    ] {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{secret:?} in the logs:\n{}",
            leaks.join("\n")
        );
    }
}

/// What must never appear in an answer: Rust paths and type names, source files, panics.
const INTERNALS: &[&str] = &[
    "::",
    ".rs:",
    "src/",
    "panicked",
    "backtrace",
    "RUST_",
    "thread '",
    "Error {",
    "Some(",
    "kind:",
    "/root/",
    "/home/",
    "/work/",
];

#[tokio::test]
async fn error_answers_leak_no_internals() {
    let gw = gateway(|_| {}).await;
    let json = ("Content-Type", "application/json");
    let s2s = ("Authorization", S2S_TOKEN);
    let bearer = ("Authorization", "Bearer demo-netcore-key");
    let invalid_utf8: &[u8] = b"{\"events\":[{\"event_id\":\"\xff\xfe\"}]}";
    let cases: Vec<(&str, &str, Headers, Vec<u8>)> = vec![
        ("POST", "/api/analytics/events", vec![json], b"{".to_vec()),
        (
            "POST",
            "/api/analytics/events",
            vec![json],
            invalid_utf8.to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![json],
            b"{\"events\":[{\"user_id\":{}}]}".to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![("Content-Type", "application/xml")],
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><AnalyticsEventBatchReq/>".to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![("Content-Type", "application/xml")],
            b"<a><b></a>".to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            b"events[99999999999999999999].x=%ff".to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![("Content-Type", "image/png")],
            b"x".to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![json, ("Content-Encoding", "br")],
            b"x".to_vec(),
        ),
        (
            "POST",
            "/api/analytics/events",
            vec![json, ("Content-Encoding", "gzip")],
            b"\x1f\x8b\x08garbage".to_vec(),
        ),
        (
            "POST",
            "/api/v1/lead_analytics",
            vec![json],
            b"[1,".to_vec(),
        ),
        (
            "POST",
            "/api/v1/lead_analytics",
            vec![json],
            b"{\"version_info\":{\"a\":[]}}".to_vec(),
        ),
        (
            "POST",
            "/api/v1/analytics_events",
            vec![json],
            invalid_utf8.to_vec(),
        ),
        (
            "POST",
            "/v1/customEvent/?idApp=666",
            vec![s2s],
            b"{\"total\":1e999999}".to_vec(),
        ),
        (
            "POST",
            "/v1/customRevenue/?idApp=666",
            vec![s2s],
            b"{\"total\":\"-1\"}".to_vec(),
        ),
        (
            "POST",
            "/v1/customEvent/?idApp=18446744073709551616",
            vec![s2s],
            b"{}".to_vec(),
        ),
        (
            "POST",
            "/v2/customEvent/?idApp=666",
            vec![s2s],
            b"{}".to_vec(),
        ),
        (
            "POST",
            "/v1/activity/upload",
            vec![bearer],
            b"[{\"timestamp\":\"2021-13-45T99:99:99+99:99\"}]".to_vec(),
        ),
        (
            "POST",
            "/v1/activity/upload",
            vec![bearer],
            invalid_utf8.to_vec(),
        ),
        (
            "GET",
            "/api/v1/lead_analytics/search?customer_id=x",
            vec![],
            Vec::new(),
        ),
        ("DELETE", "/api/analytics/events", vec![], Vec::new()),
        ("POST", "/nope/%00/..%2f..%2fetc/passwd", vec![], Vec::new()),
        ("GET", "/openapi.json/x", vec![], Vec::new()),
    ];
    for (method, path, headers, body) in cases {
        let mut head = format!("{method} {path} HTTP/1.1\r\nContent-Length: {}", body.len());
        for (name, value) in &headers {
            head.push_str(&format!("\r\n{name}: {value}"));
        }
        let reply = exchange(gw.addr, &head, &body).await;
        assert!(reply.status >= 400, "{method} {path}: {reply:?}");
        for needle in INTERNALS {
            assert!(
                !reply.body.contains(needle),
                "{method} {path} ({}) leaks {needle:?}: {}",
                reply.status,
                reply.body
            );
        }
    }
    // Malformed HTTP itself is answered by the HTTP layer with a bare 400.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(INTERNALS.iter().all(|n| !text.contains(n)), "{text}");
}

/// The family's own error shape for `status`, with `X-Request-Id`: what a client of that API
/// reads, also when the HTTP layer refused the request before any handler ran.
fn assert_family_error(family: &str, status: u16, reply: &Reply) {
    assert_eq!(reply.status, status, "{family}: {reply:?}");
    assert!(
        reply.head.contains("\r\nx-request-id: "),
        "{family}: {reply:?}"
    );
    assert!(
        reply.head.contains("content-type: application/json"),
        "{family}: {reply:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("{family}: {e}: {:?}", reply.body));
    let reason = reqwest::StatusCode::from_u16(status)
        .unwrap()
        .canonical_reason()
        .unwrap();
    match family {
        "mobile_batch" => assert!(
            body[0]["reason"].as_str().unwrap().starts_with(reason),
            "{body}"
        ),
        "crm" | "search" => {
            assert_eq!(body["error"], reason, "{body}");
            assert!(body["message"].as_str().unwrap().starts_with(reason));
        }
        "s2s" => assert_eq!(body, serde_json::json!({"error": reason})),
        "activity" => assert_eq!(body["error"]["code"], status, "{body}"),
        _ => unreachable!(),
    }
}

/// Every family's and the search's path, with the method its clients use.
fn endpoints() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut endpoints: Vec<_> = families()
        .into_iter()
        .map(|f| (f.name, "POST", f.path.split('?').next().unwrap()))
        .collect();
    endpoints.push(("search", "GET", "/api/v1/lead_analytics/search"));
    endpoints
}

#[tokio::test]
async fn a_uri_beyond_what_the_http_layer_reads_is_414_in_the_family_format() {
    let gw = gateway(|_| {}).await;
    let long = "a".repeat(70_000);
    for (family, method, path) in endpoints() {
        let head = format!("{method} {path}?customer_id=1&x={long} HTTP/1.1\r\nContent-Length: 0");
        let reply = exchange(gw.addr, &head, b"").await;
        assert_family_error(family, 414, &reply);
        assert!(reply.head.contains("connection: close"), "{reply:?}");
    }
    assert!(gw.published.batches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_head_too_large_or_with_too_many_fields_is_431_in_the_family_format() {
    let gw = gateway(|_| {}).await;
    for (family, method, path) in endpoints() {
        // One header beyond the head's buffer; the client's request id comes first and is
        // answered with.
        let head = format!(
            "{method} {path} HTTP/1.1\r\nX-Request-Id: big-head-1\r\nX-Padding: {}",
            "p".repeat(1024 * 1024)
        );
        let reply = exchange(gw.addr, &head, b"").await;
        assert_family_error(family, 431, &reply);
        assert!(reply.head.contains("x-request-id: big-head-1"), "{reply:?}");

        // More header fields than the HTTP layer reads.
        let mut head = format!("{method} {path} HTTP/1.1");
        for i in 0..200 {
            head.push_str(&format!("\r\nX-Field-{i}: v"));
        }
        assert_family_error(family, 431, &exchange(gw.addr, &head, b"").await);
    }
}

#[tokio::test]
async fn a_malformed_head_is_400_in_the_family_format() {
    let gw = gateway(|_| {}).await;
    for (family, method, path) in endpoints() {
        let head = format!("{method} {path} HTTP/1.1\r\nX-Request-Id: bad-1\r\nnot a header");
        let reply = exchange(gw.addr, &head, b"").await;
        assert_family_error(family, 400, &reply);
        assert!(reply.head.contains("x-request-id: bad-1"), "{reply:?}");
    }
    // Not HTTP at all: the generic shape, still with a request id.
    let reply = exchange(gw.addr, "\u{1}\u{2} garbage", b"").await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.head.contains("\r\nx-request-id: "), "{reply:?}");
}

#[tokio::test]
async fn a_refusal_after_answered_requests_on_one_connection_names_its_own_family() {
    let gw = gateway(|_| {}).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // A keep-alive request to the CRM family first, answered in full (422: not a record).
    let body = b"[]";
    let first = format!(
        "POST /api/v1/lead_analytics HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(first.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = vec![0; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let first_reply = parse_reply(&answer[..n]).unwrap();
    assert_eq!(first_reply.status, 422, "{first_reply:?}");
    // Then a request to the activity family whose target is too long: its own format.
    let second = format!(
        "POST /v1/activity/upload?x={} HTTP/1.1\r\nHost: g\r\n\r\n",
        "a".repeat(70_000)
    );
    let _ = stream.write_all(second.as_bytes()).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert_family_error("activity", 414, &parse_reply(&rest).unwrap());
}
