//! What the operators' tools read from the services' config: `[kafka]`, `[admin]`,
//! `[debugger]`, and from the services' sections only what they need (the gateway's admin
//! address, the consumer groups whose lag the debugger shows).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tributary_service::{AdminConfig, KafkaConfig};

/// The tools' view of `config/tributary.toml`; other keys of the file are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub admin: AdminConfig,
    pub debugger: DebuggerConfig,
    pub gateway: GatewaySection,
    pub enricher: GroupSection,
    pub sink: GroupSection,
    /// The sink's view of the same file (ClickHouse, the tenants' hashing, erasure timing), for
    /// `tributary erase` and the debugger's `POST /erase`; the command line loads it.
    /// `None`: the debugger answers `POST /erase` with 503.
    #[serde(skip)]
    pub erasure: Option<std::sync::Arc<tributary_sink::Config>>,
}

/// `[debugger]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebuggerConfig {
    /// Where the page listens: a loopback or admin network address, never the public port.
    pub listen: SocketAddr,
    /// The gateway's admin address, where it serves its last rejections (`/rejections`).
    /// Unset: `gateway.admin_listen`.
    pub gateway_admin: Option<SocketAddr>,
}

impl Default for DebuggerConfig {
    fn default() -> Self {
        DebuggerConfig {
            listen: "127.0.0.1:9104".parse().unwrap(),
            gateway_admin: None,
        }
    }
}

/// `[gateway]`: only its admin address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewaySection {
    pub admin_listen: SocketAddr,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            admin_listen: "127.0.0.1:9101".parse().unwrap(),
        }
    }
}

/// `[enricher]` / `[sink]`: only the consumer group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupSection {
    /// Empty: the service's default group (`tributary-enricher`, `tributary-sink`).
    pub group: String,
}

impl Config {
    /// The enricher's consumer group.
    pub fn enricher_group(&self) -> &str {
        non_empty(&self.enricher.group, "tributary-enricher")
    }
    /// The sink's consumer group.
    pub fn sink_group(&self) -> &str {
        non_empty(&self.sink.group, "tributary-sink")
    }
    /// Where the gateway's `/rejections` is.
    pub fn gateway_admin(&self) -> SocketAddr {
        self.debugger
            .gateway_admin
            .unwrap_or(self.gateway.admin_listen)
    }
}

fn non_empty<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value
    }
}
