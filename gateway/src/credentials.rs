//! Credentials of the families that authenticate. Secrets are kept only as SHA-256 digests and
//! compared in constant time; they never reach a log line.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::TenantsConfig;

type Digest32 = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("tenants.{0}: give exactly one of the plain secret or its sha256")]
    Ambiguous(&'static str),
    #[error("tenants.{0}: sha256 must be 64 hex digits")]
    BadDigest(&'static str),
}

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub default_tenant: String,
    s2s: HashMap<u64, (Digest32, String)>,
    activity: Vec<(Digest32, String)>,
}

fn digest(secret: &str) -> Digest32 {
    Sha256::digest(secret.as_bytes()).into()
}

fn stored(
    plain: &Option<String>,
    hashed: &Option<String>,
    what: &'static str,
) -> Result<Digest32, CredentialsError> {
    match (plain, hashed) {
        (Some(p), None) => Ok(digest(p)),
        (None, Some(h)) => {
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                .collect::<Option<_>>()
                .ok_or(CredentialsError::BadDigest(what))?;
            bytes
                .try_into()
                .map_err(|_| CredentialsError::BadDigest(what))
        }
        _ => Err(CredentialsError::Ambiguous(what)),
    }
}

impl Credentials {
    pub fn from_config(config: &TenantsConfig) -> Result<Self, CredentialsError> {
        let mut s2s = HashMap::new();
        for app in &config.s2s_apps {
            let d = stored(&app.token, &app.token_sha256, "s2s_apps.token")?;
            s2s.insert(app.id_app, (d, app.tenant.clone()));
        }
        let mut activity = Vec::new();
        for key in &config.activity_keys {
            let d = stored(&key.key, &key.key_sha256, "activity_keys.key")?;
            activity.push((d, key.tenant.clone()));
        }
        Ok(Credentials {
            default_tenant: config.default_tenant.clone(),
            s2s,
            activity,
        })
    }

    /// Tenant of S2S app `id_app` when `token` is its token.
    pub fn s2s_tenant(&self, id_app: u64, token: &str) -> Option<&str> {
        let (expected, tenant) = self.s2s.get(&id_app)?;
        bool::from(digest(token).ct_eq(expected)).then_some(tenant.as_str())
    }

    /// Tenant of the activity API key `key`. Every key is compared, so timing tells nothing.
    pub fn activity_tenant(&self, key: &str) -> Option<&str> {
        let presented = digest(key);
        let mut found = None;
        for (expected, tenant) in &self.activity {
            if bool::from(presented.ct_eq(expected)) {
                found = Some(tenant.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ActivityKey, TenantsConfig};

    #[test]
    fn default_config_accepts_the_documents_own_credentials() {
        let c = Credentials::from_config(&TenantsConfig::default()).unwrap();
        assert_eq!(
            c.s2s_tenant(666, "skjdfASFasf03asdffar3asJHB32r"),
            Some("default")
        );
        assert_eq!(c.s2s_tenant(666, "skjdfASFasf03asdffar3asJHB32R"), None);
        assert_eq!(c.s2s_tenant(667, "skjdfASFasf03asdffar3asJHB32r"), None);
        assert_eq!(c.activity_tenant("demo-netcore-key"), Some("default"));
        assert_eq!(c.activity_tenant("demo-netcore-key "), None);
    }

    #[test]
    fn hashed_keys_work_and_bad_digests_are_config_errors() {
        let mut config = TenantsConfig {
            activity_keys: vec![ActivityKey {
                tenant: "acme".into(),
                key: None,
                key_sha256: Some(
                    // sha256("secret")
                    "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b".into(),
                ),
            }],
            ..TenantsConfig::default()
        };
        let c = Credentials::from_config(&config).unwrap();
        assert_eq!(c.activity_tenant("secret"), Some("acme"));

        config.activity_keys[0].key_sha256 = Some("zz".into());
        assert!(Credentials::from_config(&config).is_err());
        config.activity_keys[0].key = Some("both".into());
        assert!(Credentials::from_config(&config).is_err());
    }
}
