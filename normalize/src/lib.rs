//! Tributary's normalization: one accepted request (`RawBatch`) split into canonical
//! `NormalizedEvent`s, with the rules every API family shares. The enricher runs it on
//! `events.raw`; the gateway runs the same code for tenants whose PII is hashed before Kafka
//! ([`before_kafka`]), so both produce the same events, `event_uid`s and hashes. No I/O
//! besides opening a GeoIP database, no clock, no logging. Each rule takes what a client sent
//! and returns the canonical value that goes into `NormalizedEvent`, or the reason it could
//! not; [`event`] records that reason as a time flag, a dropped-field count
//! (`tributary_enricher_fields_dropped_total`) or, when the event cannot be kept, the DLQ
//! reason.
//!
//! - [`sources`]: one module per API family, from its `tributary_wire` parse to `Draft`s.
//! - [`identity`]: e-mail, phone (E.164), device ids, the event's user key, PII hashing.
//! - [`time`]: epoch numbers of any unit, timestamp strings, clock-skew correction.
//! - [`geo`]: country names/codes to ISO 3166-1 alpha-2, lat/long checks, IP geolocation.
//! - [`revenue`]: ISO 4217 currency codes and exact decimal amounts.
//! - [`event`]: one event's draft through all of the above, as every source shares them.
//! - [`tenants`]: per-tenant rules (time zone, hashed fields) from [`config`].

pub mod before_kafka;
pub mod config;
pub mod event;
pub mod geo;
pub mod identity;
mod memo;
pub mod metrics;
pub mod revenue;
pub mod sources;
pub mod tenants;
pub mod time;

#[cfg(test)]
mod tests {
    /// Every function takes untrusted text: none may panic, whatever it is given.
    #[test]
    fn no_panics_on_arbitrary_text() {
        const ALPHABET: &[&str] = &[
            "0",
            "1",
            "9",
            "00",
            "+",
            "-",
            ".",
            ",",
            ":",
            "/",
            " ",
            "T",
            "Z",
            "e",
            "E",
            "@",
            "[",
            "]",
            "%",
            "(",
            ")",
            "a",
            "p",
            "m",
            "GMT",
            "é",
            "₹",
            "९",
            "\u{a0}",
            "2021-12-29",
            "12:06:28",
            "+05:30",
            "::",
            "ffff",
            "1580213208",
        ];
        let mut state: u64 = 0x5eed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        for _ in 0..5_000 {
            let len = next() % 8;
            let text: String = (0..len)
                .map(|_| ALPHABET[next() % ALPHABET.len()])
                .collect();
            let _ = super::time::parse_timestamp(&text, chrono_tz::Asia::Kolkata);
            let _ = super::identity::normalize_phone(&text, Some("IN"));
            let _ = super::identity::normalize_phone(&text, Some(&text));
            let _ = super::identity::normalize_email(&text);
            let _ = super::geo::country_to_alpha2(&text);
            let _ = super::geo::parse_ip(&text);
            let _ = super::revenue::parse_amount(&text);
            let _ = super::revenue::normalize_currency(&text);
        }
    }
}
