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

/// One activity API key. Give `key` in plain text or `key_sha256` (hex of its SHA-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityKey {
    pub tenant: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_sha256: Option<String>,
}
