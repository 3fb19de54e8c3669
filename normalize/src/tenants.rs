//! Tenant rules: the settings that shape normalization (time zone, PII hashing and its salt,
//! the GeoIP database), resolved once at start from `[enricher]` config and per tenant.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::config::EnricherConfig;
use crate::geo::GeoIp;

/// A PII field a tenant may ask to store only as a salted hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiKind {
    Email,
    Phone,
    Ip,
    Name,
}

impl PiiKind {
    pub fn parse(name: &str) -> Option<PiiKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "email" | "e-mail" => Some(PiiKind::Email),
            "phone" | "mobile_number" | "mobile" => Some(PiiKind::Phone),
            "ip" => Some(PiiKind::Ip),
            "name" => Some(PiiKind::Name),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Ip => "ip",
            PiiKind::Name => "name",
        }
    }
}

/// One tenant's normalization rules.
#[derive(Debug, Clone)]
pub struct TenantRules {
    pub zone: chrono_tz::Tz,
    pub hash: HashSet<PiiKind>,
    pub salt: String,
    /// The gateway applies these rules before publishing (`hash_before_kafka`).
    pub before_kafka: bool,
}

/// Everything normalization needs besides the event.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    pub default_zone: chrono_tz::Tz,
    pub tenants: BTreeMap<String, TenantRules>,
    pub geoip: Option<Arc<GeoIp>>,
}

impl Default for NormalizeContext {
    fn default() -> Self {
        NormalizeContext {
            default_zone: chrono_tz::UTC,
            tenants: BTreeMap::new(),
            geoip: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("enricher.{key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ContextError {
    ContextError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

impl NormalizeContext {
    /// Resolve `[enricher]` settings; errors name the offending key.
    pub fn from_config(config: &EnricherConfig) -> Result<Self, ContextError> {
        let zone = |key: &str, name: &str| {
            name.parse::<chrono_tz::Tz>()
                .map_err(|_| invalid(key, format!("unknown IANA time zone {name:?}")))
        };
        let default_zone = zone("default_time_zone", &config.default_time_zone)?;
        let mut tenants = BTreeMap::new();
        for (name, settings) in &config.tenants {
            let key = |k: &str| format!("tenants.{name}.{k}");
            let tz = match &settings.time_zone {
                Some(tz) => zone(&key("time_zone"), tz)?,
                None => default_zone,
            };
            let mut hash = HashSet::new();
            for field in &settings.hash_fields {
                hash.insert(PiiKind::parse(field).ok_or_else(|| {
                    invalid(
                        key("hash_fields"),
                        format!("{field:?} is not one of email, phone, ip, name"),
                    )
                })?);
            }
            let salt = settings.hash_salt.clone().unwrap_or_default();
            if !hash.is_empty() && salt.is_empty() {
                return Err(invalid(
                    key("hash_salt"),
                    "required when hash_fields is set",
                ));
            }
            if settings.hash_before_kafka && hash.is_empty() {
                return Err(invalid(
                    key("hash_before_kafka"),
                    "needs hash_fields (the fields to hash before Kafka)",
                ));
            }
            tenants.insert(
                name.clone(),
                TenantRules {
                    zone: tz,
                    hash,
                    salt,
                    before_kafka: settings.hash_before_kafka,
                },
            );
        }
        let geoip = match &config.geoip_database {
            Some(path) => Some(Arc::new(GeoIp::open(path).map_err(|e| {
                invalid("geoip_database", format!("{}: {e}", path.display()))
            })?)),
            None => None,
        };
        Ok(NormalizeContext {
            default_zone,
            tenants,
            geoip,
        })
    }

    /// The rules of `tenant` (defaults when it has none of its own).
    pub fn rules(&self, tenant: &str) -> TenantRules {
        self.tenants.get(tenant).cloned().unwrap_or(TenantRules {
            zone: self.default_zone,
            hash: HashSet::new(),
            salt: String::new(),
            before_kafka: false,
        })
    }

    /// True when `tenant`'s PII is hashed at the gateway (`hash_before_kafka`).
    pub fn hashes_before_kafka(&self, tenant: &str) -> bool {
        self.tenants
            .get(tenant)
            .is_some_and(|rules| rules.before_kafka)
    }
}
