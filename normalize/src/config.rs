//! `[enricher]`: the enricher's settings, which the gateway also reads for the tenants whose
//! events it normalizes before Kafka (`hash_before_kafka`, see [`crate::before_kafka`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[enricher]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnricherConfig {
    /// Consumer group; every enricher process of one pipeline shares it.
    pub group: String,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub admin_listen: SocketAddr,
    /// Raw messages being normalized and produced at once.
    pub max_in_flight: usize,
    /// How often stored offsets are committed.
    pub commit_interval_ms: u64,
    /// Zone for timestamps sent without one (IANA name), unless the tenant sets its own.
    pub default_time_zone: String,
    /// MaxMind-format database (GeoLite2-City, DB-IP Lite) for IP lookups; none when unset.
    pub geoip_database: Option<PathBuf>,
    /// Per-tenant settings, keyed by tenant name.
    pub tenants: BTreeMap<String, TenantSettings>,
}

impl Default for EnricherConfig {
    fn default() -> Self {
        EnricherConfig {
            group: "tributary-enricher".into(),
            admin_listen: "127.0.0.1:9102".parse().unwrap(),
            max_in_flight: 64,
            commit_interval_ms: 1000,
            default_time_zone: "UTC".into(),
            geoip_database: None,
            tenants: BTreeMap::new(),
        }
    }
}

/// `[enricher.tenants.<name>]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// IANA zone for timestamps sent without one.
    pub time_zone: Option<String>,
    /// PII fields to store as salted SHA-256: any of email, phone, ip, name.
    pub hash_fields: Vec<String>,
    /// Salt for the hashes; required when `hash_fields` is not empty.
    pub hash_salt: Option<String>,
    /// Apply `hash_fields` before Kafka: the gateway normalizes this tenant's requests itself
    /// (this code and these settings, so `user_key`s and hashes are the same either way) and
    /// publishes them hashed, so no clear value of those fields reaches any topic. Needs
    /// `hash_fields`. GeoIP fill-in then uses `geoip_database` as the gateway reads it.
    pub hash_before_kafka: bool,
}
