//! Where an event happened: country names and codes to ISO 3166-1 alpha-2, latitude/longitude
//! checks, tidying of free-text place fields, and IP geolocation from a MaxMind-format
//! database (GeoLite2/GeoIP2 City or Country, DB-IP lite).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use celes::Country;

use crate::memo::{self, Memo};

/// Common spellings the `celes` tables lack, keyed like `country_key` produces them.
const COUNTRY_ALIASES: &[(&str, &str)] = &[
    // "UK" is exceptionally reserved by ISO 3166 for the United Kingdom, whose code is GB.
    ("uk", "GB"),
    ("uae", "AE"),
    ("turkiye", "TR"),
    ("ksa", "SA"),
];

/// Placeholder texts that mean "no value" in place fields.
const PLACEHOLDERS: &[&str] = &["null", "undefined", "none", "n/a", "-", "--"];

/// A country name, alias or code as ISO 3166-1 alpha-2 (uppercase).
///
/// Understands alpha-2 and alpha-3 codes, three-digit numeric codes, English short and
/// official names and common aliases in any case, with any spacing or punctuation
/// (`"India"`, `" india "`, `"IND"`, `"356"`, `"United States"`, `"U.S.A."`,
/// `"United Kingdom"`, `"Great Britain"`), the ISO list's inverted form
/// (`"Korea, Republic of"`), and a few aliases beyond the tables (`"UK"`, `"UAE"`,
/// `"Turkiye"`, `"KSA"`). Anything else is `None`: an unknown country is left empty rather
/// than guessed.
///
/// Answers are cached per thread by the text sent: a mobile batch is one device's events, so
/// the same country comes a hundred times, and building the lookup key takes three
/// allocations.
pub fn country_to_alpha2(raw: &str) -> Option<&'static str> {
    thread_local! {
        static CACHE: Memo<Option<&'static str>> = RefCell::new(HashMap::new());
    }
    memo::get_or_compute(&CACHE, raw, 4_096, || country_to_alpha2_uncached(raw))
}

fn country_to_alpha2_uncached(raw: &str) -> Option<&'static str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Some(alpha2) = lookup_country(trimmed) {
        return Some(alpha2);
    }
    // "Korea, Republic of" -> "Republic of Korea".
    let (head, tail) = trimmed.split_once(',')?;
    lookup_country(&format!("{} {}", tail.trim(), head.trim()))
}

fn lookup_country(text: &str) -> Option<&'static str> {
    let key = country_key(text);
    if key.is_empty() {
        return None;
    }
    if let Some((_, alpha2)) = COUNTRY_ALIASES.iter().find(|(alias, _)| *alias == key) {
        return Some(alpha2);
    }
    Country::from_str(&key).ok().map(|country| country.alpha2)
}

/// Lowercase, `&` as `and`, without spaces and punctuation: the shape of `celes`' keys.
fn country_key(text: &str) -> String {
    text.to_lowercase()
        .replace('&', "and")
        .chars()
        .filter(|c| {
            !(c.is_whitespace() || matches!(c, '.' | ',' | '-' | '_' | '\'' | '’' | '(' | ')'))
        })
        .collect()
}

/// What was wrong with a latitude/longitude pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GeoProblem {
    #[error("only one of latitude and longitude is present")]
    Incomplete,
    #[error("latitude or longitude is not a finite number")]
    NotFinite,
    #[error("latitude outside -90..90 or longitude outside -180..180")]
    OutOfRange,
    #[error("latitude and longitude are both 0 (an unset location)")]
    NullIsland,
}

impl GeoProblem {
    /// Low-cardinality code for metrics (`tributary_enricher_fields_dropped_total`).
    pub fn code(&self) -> &'static str {
        match self {
            GeoProblem::Incomplete => "incomplete",
            GeoProblem::NotFinite => "not_finite",
            GeoProblem::OutOfRange => "out_of_range",
            GeoProblem::NullIsland => "null_island",
        }
    }
}

/// Keep a latitude/longitude pair only if it is a usable position.
///
/// Both must be present, finite and within -90..=90 / -180..=180; otherwise both are dropped
/// and the problem returned (half a position is no position). `(0, 0)` — "null island", in
/// the ocean off West Africa — is what unset location fields serialize as, so it is dropped
/// too. Nothing is guessed: swapped coordinates are not swapped back. No values and no
/// problem when neither is present.
pub fn check_lat_long(
    lat: Option<f64>,
    lon: Option<f64>,
) -> (Option<f64>, Option<f64>, Option<GeoProblem>) {
    let problem = match (lat, lon) {
        (None, None) => return (None, None, None),
        (Some(_), None) | (None, Some(_)) => GeoProblem::Incomplete,
        (Some(lat), Some(lon)) if !lat.is_finite() || !lon.is_finite() => GeoProblem::NotFinite,
        (Some(lat), Some(lon))
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) =>
        {
            GeoProblem::OutOfRange
        }
        (Some(lat), Some(lon)) if lat == 0.0 && lon == 0.0 => GeoProblem::NullIsland,
        (Some(lat), Some(lon)) => return (Some(lat), Some(lon), None),
    };
    (None, None, Some(problem))
}

/// A free-text place field (city, state, zip) trimmed, with inner whitespace runs collapsed
/// to one space; empty and placeholder values (`null`, `undefined`, `none`, `n/a`, `-`, `--`,
/// any case) are `None`.
/// Takes the text by value and gives back the same `String` when it is already tidy, which
/// it nearly always is: no allocation in the common case.
pub fn tidy(raw: String) -> Option<String> {
    let tidied = if is_tidy(&raw) {
        raw
    } else {
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    if tidied.is_empty()
        || PLACEHOLDERS
            .iter()
            .any(|placeholder| tidied.eq_ignore_ascii_case(placeholder))
    {
        return None;
    }
    Some(tidied)
}

/// [`tidy`] of borrowed text (the GeoIP database's names).
fn tidy_str(text: &str) -> Option<String> {
    tidy(text.to_string())
}

/// Whether `text` is what [`tidy`]'s whitespace rule makes of it: no whitespace at either end,
/// and each inner run of whitespace (`char::is_whitespace`, as `split_whitespace` splits) a
/// single ASCII space.
fn is_tidy(text: &str) -> bool {
    let mut after_space = true;
    for c in text.chars() {
        if c.is_whitespace() {
            if c != ' ' || after_space {
                return false;
            }
            after_space = true;
        } else {
            after_space = false;
        }
    }
    !after_space || text.is_empty()
}

/// An IP address from a client or header field.
///
/// Trims; takes the first entry of a comma-separated list (`X-Forwarded-For` puts the client
/// first); accepts IPv4 and IPv6, `[v6]`, `[v6]:port`, `v4:port`, and a `%zone` suffix (dropped);
/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes the IPv4 address.
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let first = raw.split(',').next()?.trim();
    let host = if let Some(rest) = first.strip_prefix('[') {
        // "[2001:db8::1]" or "[2001:db8::1]:443"
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside
    } else if let Some((host, port)) = first.split_once(':').filter(|(h, p)| {
        // Exactly one colon: an IPv4 address with a port.
        !p.contains(':') && h.parse::<Ipv4Addr>().is_ok()
    }) {
        if !is_port(port) {
            return None;
        }
        host
    } else {
        first
    };
    let host = host.split_once('%').map_or(host, |(addr, _zone)| addr);
    let ip: IpAddr = host.parse().ok()?;
    Some(ip.to_canonical())
}

/// `ip` as text (`IpAddr`'s `Display`: the canonical form), written into `sent`, the text it
/// was parsed from: the buffer is long enough nearly always, so no allocation per event.
pub fn ip_text(ip: IpAddr, mut sent: String) -> String {
    use std::fmt::Write;
    sent.clear();
    write!(sent, "{ip}").expect("writing to a String does not fail");
    sent
}

fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u16>().is_ok()
}

/// Whether an address can be geolocated: false for unspecified, loopback, private (RFC 1918,
/// IPv6 unique-local), shared CGNAT (100.64/10), link-local, documentation, benchmarking,
/// multicast, broadcast and reserved (240/4) addresses — none of them says where a client is.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation, RFC 3849
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only, RFC 6666
}

/// Why a GeoIP database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot open GeoIP database: {0}")]
    Open(#[source] maxminddb::MaxMindDbError),
    #[error("GeoIP lookup failed: {0}")]
    Lookup(#[source] maxminddb::MaxMindDbError),
}

/// What a GeoIP database says about an address (English names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpGeo {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// The largest subdivision (state, province).
    pub region: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// IANA time zone name, useful to read local-time strings of the same event.
    pub time_zone: Option<String>,
}

impl IpGeo {
    fn is_empty(&self) -> bool {
        self == &IpGeo::default()
    }
}

/// A MaxMind-format database (GeoLite2/GeoIP2 City or Country, DB-IP lite) held in memory.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.reader.metadata();
        f.debug_struct("GeoIp")
            .field("database_type", &meta.database_type)
            .field("build_epoch", &meta.build_epoch)
            .finish()
    }
}

impl GeoIp {
    /// Read the database file at `path` into memory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GeoIpError> {
        maxminddb::Reader::open_readfile(path)
            .map(|reader| GeoIp { reader })
            .map_err(GeoIpError::Open)
    }

    /// Use a database already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoIpError> {
        maxminddb::Reader::from_source(bytes)
            .map(|reader| GeoIp { reader })
            .map_err(GeoIpError::Open)
    }

    /// The database's type as its metadata states it (e.g. `GeoLite2-City`).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Look an address up; `None` for addresses that are not public ([`is_public_ip`]), that
    /// the database does not cover, or whose record cannot be decoded.
    pub fn lookup(&self, ip: IpAddr) -> Option<IpGeo> {
        self.try_lookup(ip).ok().flatten()
    }

    /// Like [`GeoIp::lookup`], but tells a damaged database apart from "not found".
    pub fn try_lookup(&self, ip: IpAddr) -> Result<Option<IpGeo>, GeoIpError> {
        let ip = ip.to_canonical();
        if !is_public_ip(ip) {
            return Ok(None);
        }
        let result = self.reader.lookup(ip).map_err(GeoIpError::Lookup)?;
        let Some(city) = result
            .decode::<maxminddb::geoip2::City<'_>>()
            .map_err(GeoIpError::Lookup)?
        else {
            return Ok(None);
        };
        let (latitude, longitude, _) =
            check_lat_long(city.location.latitude, city.location.longitude);
        let geo = IpGeo {
            country: city
                .country
                .iso_code
                .and_then(country_to_alpha2)
                .map(str::to_string),
            region: city
                .subdivisions
                .first()
                .and_then(|sub| sub.names.english)
                .and_then(tidy_str),
            city: city.city.names.english.and_then(tidy_str),
            postal_code: city.postal.code.and_then(tidy_str),
            latitude,
            longitude,
            time_zone: city.location.time_zone.map(str::to_string),
        };
        Ok((!geo.is_empty()).then_some(geo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        let cases: &[(&str, Option<&str>)] = &[
            ("India", Some("IN")),
            (" india ", Some("IN")),
            ("INDIA", Some("IN")),
            ("IND", Some("IN")),
            ("in", Some("IN")),
            ("IN", Some("IN")),
            ("356", Some("IN")),
            ("United States", Some("US")),
            ("united  states", Some("US")),
            ("United States of America", Some("US")),
            ("USA", Some("US")),
            ("U.S.A.", Some("US")),
            ("US", Some("US")),
            ("America", Some("US")),
            ("United Kingdom", Some("GB")),
            ("UK", Some("GB")),
            ("u.k.", Some("GB")),
            ("GB", Some("GB")),
            ("Great Britain", Some("GB")),
            ("Germany", Some("DE")),
            ("DEU", Some("DE")),
            ("Korea, Republic of", Some("KR")),
            ("South Korea", Some("KR")),
            ("Viet Nam", Some("VN")),
            ("Trinidad & Tobago", Some("TT")),
            ("Türkiye", Some("TR")),
            ("Turkiye", Some("TR")),
            ("UAE", Some("AE")),
            ("Russia", Some("RU")),
            ("Netherlands", Some("NL")),
            ("", None),
            ("   ", None),
            ("Atlantis", None),
            ("sample string 13", None),
            ("XX", None),
            ("ZZZ", None),
            ("91", None),
            ("N/A", None),
            ("unknown", None),
            ("Korea, Atlantis", None),
        ];
        for (raw, want) in cases {
            assert_eq!(country_to_alpha2(raw), *want, "input {raw:?}");
        }
    }

    #[test]
    fn lat_long() {
        type Case = (
            Option<f64>,
            Option<f64>,
            (Option<f64>, Option<f64>, Option<GeoProblem>),
        );
        let cases: &[Case] = &[
            (Some(12.97), Some(77.59), (Some(12.97), Some(77.59), None)),
            (
                Some(-33.87),
                Some(151.21),
                (Some(-33.87), Some(151.21), None),
            ),
            (Some(90.0), Some(-180.0), (Some(90.0), Some(-180.0), None)),
            (Some(0.0), Some(77.59), (Some(0.0), Some(77.59), None)),
            (None, None, (None, None, None)),
            (
                Some(12.97),
                None,
                (None, None, Some(GeoProblem::Incomplete)),
            ),
            (
                None,
                Some(77.59),
                (None, None, Some(GeoProblem::Incomplete)),
            ),
            (
                Some(f64::NAN),
                Some(1.0),
                (None, None, Some(GeoProblem::NotFinite)),
            ),
            (
                Some(1.0),
                Some(f64::INFINITY),
                (None, None, Some(GeoProblem::NotFinite)),
            ),
            (
                Some(90.5),
                Some(0.0),
                (None, None, Some(GeoProblem::OutOfRange)),
            ),
            (
                Some(77.59),
                Some(180.1),
                (None, None, Some(GeoProblem::OutOfRange)),
            ),
            (
                Some(-91.0),
                Some(10.0),
                (None, None, Some(GeoProblem::OutOfRange)),
            ),
            (
                Some(0.0),
                Some(0.0),
                (None, None, Some(GeoProblem::NullIsland)),
            ),
            (
                Some(-0.0),
                Some(0.0),
                (None, None, Some(GeoProblem::NullIsland)),
            ),
        ];
        for (lat, lon, want) in cases {
            assert_eq!(check_lat_long(*lat, *lon), *want, "lat {lat:?} lon {lon:?}");
        }
    }

    #[test]
    fn tidy_place_fields() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Bengaluru", Some("Bengaluru")),
            ("  New   York \t City ", Some("New York City")),
            ("560 001", Some("560 001")),
            ("\u{a0}Paris\u{a0}", Some("Paris")),
            ("New\u{a0}York", Some("New York")),
            ("New\tYork", Some("New York")),
            ("New  York", Some("New York")),
            ("New York ", Some("New York")),
            ("", None),
            ("  \n ", None),
            ("null", None),
            ("N/A", None),
            ("Undefined", None),
            ("-", None),
        ];
        for (raw, want) in cases {
            assert_eq!(tidy(raw.to_string()).as_deref(), *want, "input {raw:?}");
        }
    }

    #[test]
    fn ip_parsing() {
        let cases: &[(&str, Option<&str>)] = &[
            ("125.125.125.125", Some("125.125.125.125")),
            (" 81.2.69.142 ", Some("81.2.69.142")),
            ("81.2.69.142:8080", Some("81.2.69.142")),
            ("81.2.69.142, 10.0.0.1", Some("81.2.69.142")),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                Some("2001:db8:85a3::8a2e:370:7334"),
            ),
            ("[2a02:cf40::1]", Some("2a02:cf40::1")),
            ("[2a02:cf40::1]:443", Some("2a02:cf40::1")),
            ("fe80::1%eth0", Some("fe80::1")),
            ("::ffff:81.2.69.142", Some("81.2.69.142")),
            ("::1", Some("::1")),
            ("", None),
            ("sample string 12", None),
            ("256.1.1.1", None),
            ("81.2.69", None),
            ("81.2.69.142:99999", None),
            ("[2a02:cf40::1]x", None),
            ("2a02:cf40::1:443:", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_ip(raw),
                want.map(|w| w.parse::<IpAddr>().unwrap()),
                "input {raw:?}"
            );
            // The text written into the sent text's buffer is the address's own text.
            assert_eq!(
                parse_ip(raw).map(|ip| ip_text(ip, raw.to_string())),
                want.map(|w| w.parse::<IpAddr>().unwrap().to_string()),
                "input {raw:?}"
            );
        }
    }

    #[test]
    fn public_addresses() {
        let cases: &[(&str, bool)] = &[
            ("81.2.69.142", true),
            ("8.8.8.8", true),
            ("2a02:cf40::1", true),
            ("2001:4860:4860::8888", true),
            ("::ffff:81.2.69.142", true),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.10", false),
            ("127.0.0.1", false),
            ("0.0.0.0", false),
            ("169.254.10.1", false),
            ("100.64.0.1", false),
            ("192.0.2.1", false),
            ("198.18.0.1", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("240.0.0.1", false),
            ("::", false),
            ("::1", false),
            ("fe80::1", false),
            ("fd12:3456::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("::ffff:192.168.1.1", false),
        ];
        for (raw, want) in cases {
            let ip: IpAddr = raw.parse().unwrap();
            assert_eq!(is_public_ip(ip), *want, "input {raw:?}");
        }
    }

    /// A GeoLite2-City-shaped database (the same value types MaxMind uses: uint32 geoname
    /// ids, uint16 accuracy radius, doubles for coordinates), built with `mmdb-writer` and
    /// read back by `maxminddb`.
    fn city_db() -> Vec<u8> {
        use ipnet::IpNet;
        use mmdb_writer::Value;

        let names = |en: &str| {
            Value::map([
                ("en", Value::from(en)),
                ("de", Value::from(format!("{en} (de)"))),
            ])
        };
        let record = |iso: &str, region: &str, city: &str, lat: f64, lon: f64, tz: &str| {
            Value::map([
                (
                    "city",
                    Value::map([
                        ("geoname_id", Value::from(2_643_743u32)),
                        ("names", names(city)),
                    ]),
                ),
                (
                    "continent",
                    Value::map([("code", Value::from("EU")), ("names", names("Europe"))]),
                ),
                (
                    "country",
                    Value::map([("iso_code", Value::from(iso)), ("names", names(iso))]),
                ),
                (
                    "location",
                    Value::map([
                        ("accuracy_radius", Value::from(100u16)),
                        ("latitude", Value::from(lat)),
                        ("longitude", Value::from(lon)),
                        ("time_zone", Value::from(tz)),
                    ]),
                ),
                ("postal", Value::map([("code", Value::from("SW1A"))])),
                (
                    "subdivisions",
                    Value::array([Value::map([
                        ("iso_code", Value::from("X")),
                        ("names", names(region)),
                    ])]),
                ),
            ])
        };
        let mut writer = mmdb_writer::Writer::new("GeoLite2-City");
        let london = record("GB", "England", "London", 51.5142, -0.0931, "Europe/London");
        let bengaluru = record(
            "IN",
            "Karnataka",
            "Bengaluru",
            12.9719,
            77.5937,
            "Asia/Kolkata",
        );
        let ocean = Value::map([
            ("country", Value::map([("iso_code", Value::from("US"))])),
            (
                "location",
                Value::map([
                    ("latitude", Value::from(0.0)),
                    ("longitude", Value::from(0.0)),
                ]),
            ),
        ]);
        let entries = [
            ("81.2.69.0/24", &london),
            ("2a02:cf40::/29", &london),
            ("49.207.0.0/16", &bengaluru),
            ("2401:4900::/32", &bengaluru),
            ("8.8.0.0/16", &ocean),
        ];
        for (net, value) in entries {
            writer
                .insert_value(net.parse::<IpNet>().unwrap(), value.clone())
                .unwrap();
        }
        writer.to_bytes().unwrap()
    }

    #[test]
    fn geoip_lookups() {
        let db = GeoIp::from_bytes(city_db()).unwrap();
        assert_eq!(db.database_type(), "GeoLite2-City");
        let london = IpGeo {
            country: Some("GB".into()),
            region: Some("England".into()),
            city: Some("London".into()),
            postal_code: Some("SW1A".into()),
            latitude: Some(51.5142),
            longitude: Some(-0.0931),
            time_zone: Some("Europe/London".into()),
        };
        let bengaluru = IpGeo {
            country: Some("IN".into()),
            region: Some("Karnataka".into()),
            city: Some("Bengaluru".into()),
            postal_code: Some("SW1A".into()),
            latitude: Some(12.9719),
            longitude: Some(77.5937),
            time_zone: Some("Asia/Kolkata".into()),
        };
        let ocean = IpGeo {
            country: Some("US".into()),
            ..Default::default()
        };
        let cases: &[(&str, Option<&IpGeo>)] = &[
            ("81.2.69.142", Some(&london)),
            ("::ffff:81.2.69.142", Some(&london)),
            ("2a02:cf40::1", Some(&london)),
            ("49.207.12.34", Some(&bengaluru)),
            ("2401:4900:1c00::1", Some(&bengaluru)),
            // Null-island coordinates are dropped, the country kept.
            ("8.8.8.8", Some(&ocean)),
            // Not in the database.
            ("1.1.1.1", None),
            ("2606:4700::1111", None),
            // Never looked up.
            ("192.168.1.10", None),
            ("10.0.0.1", None),
            ("127.0.0.1", None),
            ("::1", None),
            ("fe80::1", None),
            ("fd00::1", None),
        ];
        for (raw, want) in cases {
            let ip = parse_ip(raw).unwrap();
            assert_eq!(db.lookup(ip).as_ref(), *want, "input {raw:?}");
        }
    }

    #[test]
    fn geoip_open_errors() {
        assert!(matches!(
            GeoIp::from_bytes(b"not a database".to_vec()),
            Err(GeoIpError::Open(_))
        ));
        assert!(matches!(
            GeoIp::open("/nonexistent/GeoLite2-City.mmdb"),
            Err(GeoIpError::Open(_))
        ));
        let path = std::env::temp_dir().join(format!("tributary-geo-{}.mmdb", std::process::id()));
        std::fs::write(&path, city_db()).unwrap();
        let db = GeoIp::open(&path);
        std::fs::remove_file(&path).unwrap();
        let db = db.unwrap();
        assert_eq!(
            db.lookup("81.2.69.1".parse().unwrap()).and_then(|g| g.city),
            Some("London".into())
        );
    }
}
