//! Cross-origin access (CORS) per family: which web origins a browser lets read the gateway's
//! answers (`gateway.allowed_origins`, issue 19).
//!
//! The ingestion families stay open to any origin by default: web apps and browser extensions
//! post from anywhere (seeds 000 and 001) and carry no cookies. The search is closed by
//! default: a page the user visits must not read leads from a gateway only that user's browser
//! reaches (an intranet deployment). `OPTIONS` preflights and every answer follow one policy;
//! an origin that is not allowed gets no `Access-Control-*` header at all, so the browser
//! refuses to hand the answer to the page.

use std::collections::BTreeMap;

use hyper::header::{HeaderValue, VARY};

use crate::families::{HttpResponse, FAMILIES};

/// The `gateway.allowed_origins` key of the search endpoints; the families use their label.
pub const SEARCH: &str = "search";

/// Allows every origin.
pub const ANY: &str = "*";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CorsError {
    #[error(
        "gateway.allowed_origins.{0}: not a family (mobile_batch, crm, s2s, activity) or search"
    )]
    UnknownEndpoint(String),
    #[error(
        "gateway.allowed_origins.{endpoint}: {origin:?} is not an origin; write \"*\" or \
         scheme://host[:port] without a path, e.g. \"https://crm.example.com\""
    )]
    BadOrigin { endpoint: String, origin: String },
}

/// The origins of `endpoint` (a family label or [`SEARCH`]) when `allowed_origins` does not
/// list it: any for the families, none for the search.
fn default_origins(endpoint: &str) -> &'static [&'static str] {
    if endpoint == SEARCH {
        &[]
    } else {
        &[ANY]
    }
}

/// Check `allowed_origins` at start: known endpoints, well-formed origins.
pub fn validate(allowed_origins: &BTreeMap<String, Vec<String>>) -> Result<(), CorsError> {
    for (endpoint, origins) in allowed_origins {
        if endpoint != SEARCH && !FAMILIES.iter().any(|f| f.label == endpoint) {
            return Err(CorsError::UnknownEndpoint(endpoint.clone()));
        }
        for origin in origins {
            if origin != ANY && !is_origin(origin) {
                return Err(CorsError::BadOrigin {
                    endpoint: endpoint.clone(),
                    origin: origin.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `scheme://host[:port]`, as a browser sends it in `Origin`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' '])
}

/// What `endpoint` answers to a request from `origin` (`None`: no `Origin` header): the
/// `Access-Control-Allow-Origin` value, or `None` when this origin may not read.
pub fn allowed_origin(
    allowed_origins: &BTreeMap<String, Vec<String>>,
    endpoint: &str,
    origin: Option<&HeaderValue>,
) -> Option<HeaderValue> {
    let listed: Vec<&str> = match allowed_origins.get(endpoint) {
        Some(origins) => origins.iter().map(String::as_str).collect(),
        None => default_origins(endpoint).to_vec(),
    };
    if listed.contains(&ANY) {
        return Some(HeaderValue::from_static(ANY));
    }
    let origin = origin?;
    // Origins compare case-insensitively in scheme and host; browsers send them lowercased.
    let text = origin.to_str().ok()?;
    listed
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

/// Add the CORS headers of `endpoint` to `response` for the request's `Origin` header.
/// `preflight_methods` is set on an `OPTIONS` preflight answer.
pub fn decorate(
    response: &mut HttpResponse,
    allowed_origins: &BTreeMap<String, Vec<String>>,
    endpoint: &str,
    origin: Option<&HeaderValue>,
    preflight_methods: Option<&'static str>,
) {
    let allowed = allowed_origin(allowed_origins, endpoint, origin);
    let headers = response.headers_mut();
    let Some(allowed) = allowed else {
        headers.append(VARY, HeaderValue::from_static("origin"));
        return;
    };
    if allowed != ANY {
        // A cache must not hand one origin's answer to another.
        headers.append(VARY, HeaderValue::from_static("origin"));
    }
    headers.insert("access-control-allow-origin", allowed);
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("x-request-id, retry-after"),
    );
    if let Some(methods) = preflight_methods {
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static(methods),
        );
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static(
                "authorization, x-api-key, content-type, content-encoding, accept, x-request-id",
            ),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("86400"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn families_are_open_and_the_search_closed_unless_configured() {
        let app = HeaderValue::from_static("https://app.example");
        let crm_site = HeaderValue::from_static("https://crm.example");
        let none = config(&[]);
        let listed = config(&[
            ("search", &["https://crm.example"]),
            ("crm", &["https://crm.example", "https://other.example"]),
        ]);
        // (config, endpoint, Origin header, Access-Control-Allow-Origin)
        type Case<'a> = (
            &'a BTreeMap<String, Vec<String>>,
            &'a str,
            Option<&'a HeaderValue>,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            (&none, "crm", Some(&app), Some("*")),
            (&none, "crm", None, Some("*")),
            (&none, "mobile_batch", Some(&app), Some("*")),
            (&none, "search", Some(&app), None),
            (&none, "search", None, None),
            (
                &listed,
                "search",
                Some(&crm_site),
                Some("https://crm.example"),
            ),
            (&listed, "search", Some(&app), None),
            (&listed, "crm", Some(&crm_site), Some("https://crm.example")),
            (&listed, "crm", Some(&app), None),
            (&listed, "crm", None, None),
            (&listed, "s2s", Some(&app), Some("*")),
        ];
        for (config, endpoint, origin, want) in cases {
            let got = allowed_origin(config, endpoint, *origin);
            assert_eq!(
                got.as_ref().map(|v| v.to_str().unwrap()),
                *want,
                "{endpoint} {origin:?} {config:?}"
            );
        }
    }

    #[test]
    fn config_names_known_endpoints_and_real_origins() {
        assert_eq!(
            validate(&config(&[("search", &["https://a.example:8443"])])),
            Ok(())
        );
        assert_eq!(
            validate(&config(&[("crm", &["*"]), ("activity", &[])])),
            Ok(())
        );
        assert!(matches!(
            validate(&config(&[("leads", &["*"])])),
            Err(CorsError::UnknownEndpoint(_))
        ));
        for bad in [
            "crm.example",
            "https://crm.example/",
            "https://",
            "http://a b",
        ] {
            assert!(
                matches!(
                    validate(&config(&[("search", &[bad])])),
                    Err(CorsError::BadOrigin { .. })
                ),
                "{bad}"
            );
        }
    }
}
