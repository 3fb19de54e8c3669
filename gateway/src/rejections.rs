//! The last requests the gateway refused, for the events debugger (`tributary debugger`): a
//! bounded ring of the newest [`KEPT`], each with the family, path, status and the error body
//! the client got. The logs carry no values at all; these reasons may echo a client's value,
//! so e-mail addresses, phone numbers and IP addresses are masked before a reason is kept.
//! Served as JSON on the admin port at `/rejections`, only with the admin token.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use regex::Regex;
use serde::Serialize;
use tributary_service::admin::Routes;
use tributary_service::AdminConfig;

/// How many rejections are kept (the newest).
pub const KEPT: usize = 100;
/// Longest reason kept, in bytes; the rest is cut.
const REASON_MAX_BYTES: usize = 2000;

/// One refused request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rejection {
    /// When it was answered, epoch milliseconds (UTC).
    pub at_ms: i64,
    /// The family label (`s2s`, `activity`, ...) or `none` for an unknown path.
    pub family: String,
    pub path: String,
    pub status: u16,
    pub request_id: String,
    /// The error body the client got, redacted ([`redact`]) and cut to 2000 bytes.
    pub reason: String,
}

/// The ring of the last [`KEPT`] rejections; cheap to share.
#[derive(Debug, Default, Clone)]
pub struct Rejections(Arc<Mutex<VecDeque<Rejection>>>);

impl Rejections {
    /// Keep `rejection` (its reason redacted), dropping the oldest beyond [`KEPT`].
    pub fn record(&self, mut rejection: Rejection) {
        rejection.reason = redact(&rejection.reason);
        if rejection.reason.len() > REASON_MAX_BYTES {
            let mut cut = REASON_MAX_BYTES;
            while !rejection.reason.is_char_boundary(cut) {
                cut -= 1;
            }
            rejection.reason.truncate(cut);
            rejection.reason.push('…');
        }
        let mut ring = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(rejection);
    }

    /// The kept rejections, newest first.
    pub fn newest_first(&self) -> Vec<Rejection> {
        let ring = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().rev().cloned().collect()
    }

    /// The admin route `GET /rejections` (JSON array, newest first); 401 without the admin
    /// token, and answered 404 when no token is configured.
    pub fn admin_routes(&self, admin: AdminConfig) -> Routes {
        let rejections = self.clone();
        Arc::new(move |req| {
            if req.uri().path() != "/rejections" {
                return None;
            }
            let (status, body) = if admin.token().is_none() {
                (
                    StatusCode::NOT_FOUND,
                    b"no admin token configured\n".to_vec(),
                )
            } else if !admin.allows(req) {
                (StatusCode::UNAUTHORIZED, b"admin token required\n".to_vec())
            } else {
                let body = serde_json::to_vec(&rejections.newest_first()).unwrap_or_default();
                (StatusCode::OK, body)
            };
            Some(
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
        })
    }
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap());
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b").unwrap());
/// Candidates only: a match is masked when it parses as an IPv6 address (not `06:12:28`).
static IPV6: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]+").unwrap());
/// Candidates only: masked with seven or more digits and no date (`2021-12-29`) inside.
static PHONE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?\d[\d \-().]{5,}\d").unwrap());
static DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2}").unwrap());

/// Mask e-mail addresses (`<email>`), IP addresses (`<ip>`) and phone-like digit runs of seven
/// or more digits (`<phone>`) in `text`; dates and times stay.
pub fn redact(text: &str) -> String {
    let text = EMAIL.replace_all(text, "<email>");
    let text = IPV4.replace_all(&text, "<ip>");
    let text = IPV6.replace_all(&text, |c: &regex::Captures| {
        if c[0].parse::<std::net::Ipv6Addr>().is_ok() {
            "<ip>".to_string()
        } else {
            c[0].to_string()
        }
    });
    PHONE
        .replace_all(&text, |c: &regex::Captures| {
            let digits = c[0].chars().filter(char::is_ascii_digit).count();
            if digits >= 7 && !DATE.is_match(&c[0]) {
                "<phone>".to_string()
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked_and_the_rule_stays() {
        let cases = [
            (
                r#"{"error":"email jane.doe@example.com is invalid"}"#,
                r#"{"error":"email <email> is invalid"}"#,
            ),
            ("phone +1 (415) 555-0100 too long", "phone <phone> too long"),
            ("from 203.0.113.7", "from <ip>"),
            ("from 2001:db8::1", "from <ip>"),
            (
                "eventTimestamp must be within 2020-01-01",
                "eventTimestamp must be within 2020-01-01",
            ),
            ("idApp 666 unknown", "idApp 666 unknown"),
            (
                "ISO 8601 such as 2021-12-29T06:12:28Z or 2021-12-29 06:12:28+0530",
                "ISO 8601 such as 2021-12-29T06:12:28Z or 2021-12-29 06:12:28+0530",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_cuts_long_reasons() {
        let ring = Rejections::default();
        for i in 0..(KEPT + 5) {
            ring.record(Rejection {
                at_ms: i as i64,
                family: "s2s".into(),
                path: "/v1/customEvent/".into(),
                status: 400,
                request_id: i.to_string(),
                reason: "x".repeat(if i == KEPT + 4 { 5000 } else { 1 }),
            });
        }
        let kept = ring.newest_first();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].at_ms, (KEPT + 4) as i64);
        assert_eq!(kept[KEPT - 1].at_ms, 5);
        assert!(kept[0].reason.len() <= REASON_MAX_BYTES + '…'.len_utf8());
    }
}
