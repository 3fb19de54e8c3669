//! `tributary-gateway` configuration: the shared `[kafka]` and `[clickhouse]` sections plus
//! `[gateway]` and the credentials of the families that authenticate.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tributary_service::{AdminConfig, ClickHouseConfig, KafkaConfig};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub gateway: GatewayConfig,
    pub tenants: TenantsConfig,
    /// `[admin]`: the token that guards `/rejections` on the admin port.
    pub admin: AdminConfig,
    /// `[enricher]`, read for its tenants with `hash_before_kafka`: the gateway normalizes and
    /// hashes their requests itself, by these settings (`tributary_normalize::before_kafka`).
    pub enricher: tributary_normalize::config::EnricherConfig,
}

/// `[gateway]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where the public HTTP APIs listen.
    pub listen: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub admin_listen: SocketAddr,
    /// How long the gateway waits for the broker's acknowledgement before answering 503.
    pub publish_timeout_ms: u64,
    /// How long a client may take to send headers, and then the whole body (408 after that).
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    /// Largest body a gzip-encoded request may inflate to.
    pub max_inflated_bytes: usize,
    /// Concurrent connections served; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Proxies (addresses or CIDR ranges, `10.0.0.0/8`) whose `X-Forwarded-For` / `Forwarded`
    /// headers name the real sender. Empty by default: the TCP peer is the sender, and those
    /// headers, which any client can write, are ignored (`sender.rs`).
    #[serde(deserialize_with = "crate::sender::deserialize_proxies")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Web origins whose pages may read each endpoint's answers (CORS), keyed by family label
    /// (`mobile_batch`, `crm`, `s2s`, `activity`) or `search`: `["*"]` for any, or
    /// `"https://host[:port]"` entries. Unlisted families allow any origin; the search allows
    /// none unless listed (`cors.rs`).
    pub allowed_origins: std::collections::BTreeMap<String, Vec<String>>,
    /// Per-tenant events/s and bytes/s with bursts (`rate_limit.rs`); none by default.
    pub rate_limits: crate::rate_limit::RateLimitsConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: "127.0.0.1:8080".parse().unwrap(),
            admin_listen: "127.0.0.1:9101".parse().unwrap(),
            publish_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            max_inflated_bytes: 8 * 1024 * 1024,
            max_connections: 4096,
            trusted_proxies: Vec::new(),
            allowed_origins: Default::default(),
            rate_limits: Default::default(),
        }
    }
}

/// `[tenants]`: who may send what, and as which tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantsConfig {
    /// Tenant of the families that do not authenticate (mobile batch, CRM).
    pub default_tenant: String,
    /// myTracker-style apps: `idApp` and its `Authorization` token.
    pub s2s_apps: Vec<S2sApp>,
    /// Netcore-style API keys (`Authorization: Bearer KEY`).
    pub activity_keys: Vec<ActivityKey>,
    /// Whether the CRM family (seed 001) and its search need a tenant key.
    pub crm_access: CrmAccess,
    /// Tenant keys of the CRM family and the search (`Authorization: Bearer KEY` or
    /// `X-Api-Key: KEY`): a key names the tenant its CRM events are filed under and the only
    /// tenant whose rows its searches read.
    pub crm_keys: Vec<TenantKey>,
}

/// `tenants.crm_access`: who may use the CRM family and the search.
///
/// Seed 001 shows no credentials, so `open` is the compatible default: a request without a
/// key is served as `tenants.default_tenant`. A key that is sent must be valid in both modes
/// (401 otherwise), so a client that means to authenticate never falls back silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrmAccess {
    /// No key needed; keyless requests are the default tenant's (the gateway warns at start).
    #[default]
    Open,
    /// Every CRM request and search needs a valid key: 401 in the CRM error format otherwise.
    Required,
}

impl Default for TenantsConfig {
    fn default() -> Self {
        TenantsConfig {
            default_tenant: "default".into(),
            s2s_apps: vec![S2sApp {
                id_app: 666,
                tenant: "default".into(),
                token: Some("skjdfASFasf03asdffar3asJHB32r".into()),
                token_sha256: None,
            }],
            activity_keys: vec![ActivityKey {
                tenant: "default".into(),
                key: Some("demo-netcore-key".into()),
                key_sha256: None,
            }],
            crm_access: CrmAccess::Open,
            crm_keys: Vec::new(),
        }
    }
}

/// One S2S app. Give `token` in plain text or `token_sha256` (hex of its SHA-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S2sApp {
    pub id_app: u64,
    pub tenant: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_sha256: Option<String>,
}

/// One activity API key (`tenants.activity_keys`).
pub type ActivityKey = TenantKey;

/// One API key naming its tenant: an activity key, or a key of the CRM family and the search.
/// Give `key` in plain text or `key_sha256` (hex of its SHA-256, what a production config
/// should hold).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantKey {
    pub tenant: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_sha256: Option<String>,
}
