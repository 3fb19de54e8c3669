//! Document 000's failure lists as replies: negotiated like ASP.NET Web API.
//!
//! Failure lists (400, and 415 for an unsupported `Content-Type`) are negotiated like ASP.NET
//! Web API: the highest-`q` literal `application/json`, `text/json`, `application/xml` or
//! `text/xml` in `Accept` wins, JSON on a tie (the formatter order). Without such a
//! preference (no `Accept`, only `*/*` or other ranges, only types we do not write) the
//! request's own media type answers: an `application/xml` or `text/xml` request gets XML of
//! that type, a `text/json` one `text/json`, every other request `application/json` (unlike
//! ASP.NET, which sent JSON for `*/*`; curl sends `*/*` by default). A type refused with
//! `q=0` is not used for that fallback. XML failures are written
//! as `DataContractSerializer` would, with `i:nil` for a missing index or field:
//! `<ArrayOfFailure xmlns:i=".." xmlns=".."><Failure><index>0</index><field>event_id</field>
//! <reason>is required</reason></Failure></ArrayOfFailure>`. `transport_error` has no
//! request to negotiate with and always answers JSON.

use std::fmt::Write as _;

use hyper::header::{HeaderMap, ACCEPT};
use hyper::StatusCode;
use tributary_wire::mobile_batch::Failure;

use crate::families::{bytes_response, json_response, HttpResponse};

/// The format of a failure reply, from content negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Json,
    TextJson,
    Xml,
    TextXml,
}

impl Reply {
    pub fn from_media_type(media: &str) -> Option<Reply> {
        match media {
            "application/json" => Some(Reply::Json),
            "text/json" => Some(Reply::TextJson),
            "application/xml" => Some(Reply::Xml),
            "text/xml" => Some(Reply::TextXml),
            _ => None,
        }
    }

    fn is_xml(self) -> bool {
        matches!(self, Reply::Xml | Reply::TextXml)
    }

    fn content_type(self) -> &'static str {
        match self {
            Reply::Json => "application/json; charset=utf-8",
            Reply::TextJson => "text/json; charset=utf-8",
            Reply::Xml => "application/xml; charset=utf-8",
            Reply::TextXml => "text/xml; charset=utf-8",
        }
    }

    /// ASP.NET-style negotiation: the highest-`q` media type of `Accept` this endpoint writes
    /// (JSON on a tie), else the request's own media type when it is one of those
    /// (`content_type`: without parameters, lowercased), else JSON. Ranges (`*/*`, `text/*`)
    /// express no preference; `q=0` refuses a type.
    pub fn negotiate(headers: &HeaderMap, content_type: Option<&str>) -> Reply {
        let mut best: Option<(f32, Reply)> = None;
        let mut refused = Vec::new();
        for value in headers.get_all(ACCEPT) {
            let Ok(value) = value.to_str() else {
                continue;
            };
            'ranges: for range in value.split(',') {
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
                let mut q = 1.0f32;
                for param in parts {
                    let Some((name, value)) = param.split_once('=') else {
                        continue;
                    };
                    if name.trim().eq_ignore_ascii_case("q") {
                        match value.trim().parse::<f32>() {
                            Ok(v) if (0.0..=1.0).contains(&v) => q = v,
                            _ => continue 'ranges,
                        }
                    }
                }
                let Some(reply) = Reply::from_media_type(&media) else {
                    continue;
                };
                if q <= 0.0 {
                    refused.push(reply);
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((best_q, best_reply)) => {
                        q > best_q || (q >= best_q && best_reply.is_xml() && !reply.is_xml())
                    }
                };
                if better {
                    best = Some((q, reply));
                }
            }
        }
        if let Some((_, reply)) = best {
            return reply;
        }
        match content_type
            .and_then(Reply::from_media_type)
            .filter(|r| !refused.contains(r))
        {
            Some(own) => own,
            None => Reply::Json,
        }
    }
}

pub fn failures_response(status: StatusCode, failures: &[Failure], reply: Reply) -> HttpResponse {
    match reply {
        Reply::Json => json_response(
            status,
            &serde_json::to_value(failures).expect("failures serialize"),
        ),
        Reply::TextJson => bytes_response(
            status,
            reply.content_type(),
            serde_json::to_vec(failures).expect("failures serialize"),
        ),
        Reply::Xml | Reply::TextXml => bytes_response(
            status,
            reply.content_type(),
            failures_xml(failures).into_bytes(),
        ),
    }
}

/// Namespace of the failure list in XML replies (`DataContractSerializer` style).
pub const FAILURE_XML_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/Tributary.Gateway";

/// XML character data: markup escaped, and characters XML 1.0 cannot carry replaced by U+FFFD.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The failure list as `DataContractSerializer` writes a `List<Failure>`.
pub(super) fn failures_xml(failures: &[Failure]) -> String {
    let mut out = format!(
        "<ArrayOfFailure xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{FAILURE_XML_NAMESPACE}\">"
    );
    for failure in failures {
        out.push_str("<Failure>");
        match failure.index {
            Some(index) => {
                let _ = write!(out, "<index>{index}</index>");
            }
            None => out.push_str("<index i:nil=\"true\" />"),
        }
        match &failure.field {
            Some(field) => {
                let _ = write!(out, "<field>{}</field>", xml_escape(field));
            }
            None => out.push_str("<field i:nil=\"true\" />"),
        }
        let _ = write!(
            out,
            "<reason>{}</reason></Failure>",
            xml_escape(&failure.reason)
        );
    }
    out.push_str("</ArrayOfFailure>");
    out
}
