//! Who sent a request: the TCP peer, or, when the peer is a configured trusted proxy
//! (`gateway.trusted_proxies`), the client that proxy forwarded for. The sender is request
//! metadata (`RawBatch.client_ip`, stored as `sender_ip`); it is never a user's address
//! except for the mobile batch (DESIGN.md, conventions).
//!
//! Forwarding headers are read only from trusted peers: RFC 7239 `Forwarded` (`for=`) when
//! present, else `X-Forwarded-For`. The hops are read from the right (the nearest proxy's
//! entry) past every trusted address; the first untrusted one is the sender. A hop that is
//! not an address (`unknown`, an obfuscated name, garbage) stops the walk at the last
//! address known good, so a client cannot inject a sender behind a proxy.

use std::net::IpAddr;

use hyper::header::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The sender of a request that arrived from `peer` with `headers`.
pub fn sender(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut sender = peer;
    for hop in forwarded_hops(headers).iter().rev() {
        let Some(ip) = hop else {
            return sender;
        };
        sender = *ip;
        if !is_trusted(ip) {
            return sender;
        }
    }
    sender
}

/// The `for=` hops of `Forwarded`, else the entries of `X-Forwarded-For`, left to right;
/// `None` for a hop that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| node_address(value.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]:443`.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

/// `gateway.trusted_proxies`: addresses (`10.1.2.3`) or CIDR ranges (`10.0.0.0/8`).
pub fn deserialize_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{text:?} is not an address or CIDR range (e.g. 10.0.0.0/8)"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        type Headers = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Headers, &str)] = &[
            // No proxy configured for this peer: the headers are the client's own words.
            (
                "198.51.100.7",
                &[("x-forwarded-for", "203.0.113.9")],
                "198.51.100.7",
            ),
            ("10.0.0.5", &[], "10.0.0.5"),
            (
                "10.0.0.5",
                &[("x-forwarded-for", "203.0.113.9")],
                "203.0.113.9",
            ),
            // A spoofed first hop is skipped: the nearest untrusted hop is the sender.
            (
                "10.0.0.5",
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.7")],
                "203.0.113.9",
            ),
            (
                "10.0.0.5",
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.9"),
                ],
                "203.0.113.9",
            ),
            ("10.0.0.5", &[("x-forwarded-for", "10.0.0.9")], "10.0.0.9"),
            (
                "10.0.0.5",
                &[("x-forwarded-for", "garbage, 203.0.113.9:4711")],
                "203.0.113.9",
            ),
            (
                "10.0.0.5",
                &[("x-forwarded-for", "203.0.113.9, unknown")],
                "10.0.0.5",
            ),
            (
                "10.0.0.5",
                &[(
                    "forwarded",
                    "for=192.0.2.60;proto=http, for=\"[2001:db8::1]:443\"",
                )],
                "2001:db8::1",
            ),
            (
                "10.0.0.5",
                &[
                    ("forwarded", "For=192.0.2.60"),
                    ("x-forwarded-for", "203.0.113.9"),
                ],
                "192.0.2.60",
            ),
        ];
        for (peer, pairs, want) in cases {
            assert_eq!(
                sender(ip(peer), &headers(pairs), &trusted),
                ip(want),
                "{peer} {pairs:?}"
            );
        }
        assert_eq!(
            sender(
                ip("10.0.0.5"),
                &headers(&[("x-forwarded-for", "203.0.113.9")]),
                &[]
            ),
            ip("10.0.0.5"),
            "nothing is trusted by default"
        );
    }

    #[test]
    fn proxies_are_addresses_or_ranges_and_errors_name_the_value() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(deserialize_with = "deserialize_proxies")]
            proxies: Vec<IpNet>,
        }
        let ok: Holder =
            serde_json::from_str(r#"{"proxies": ["10.0.0.0/8", "192.0.2.1", "::1"]}"#).unwrap();
        assert_eq!(ok.proxies.len(), 3);
        assert!(ok.proxies[1].contains(&"192.0.2.1".parse::<IpAddr>().unwrap()));
        let err = serde_json::from_str::<Holder>(r#"{"proxies": ["ingress"]}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("\"ingress\""), "{err}");
    }
}
