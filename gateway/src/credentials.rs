//! Credentials of the families that authenticate. Secrets are kept only as SHA-256 digests and
//! compared in constant time; they never reach a log line.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use hyper::header::{HeaderMap, AUTHORIZATION};

use crate::config::{CrmAccess, TenantsConfig};

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
    /// `tenants.crm_access`.
    pub crm_access: CrmAccess,
    crm: Vec<(Digest32, String)>,
}

/// Why a CRM request or search was refused its tenant (401 in the CRM error format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TenantKeyError {
    #[error("a tenant key is required: send Authorization: Bearer <key> or X-Api-Key: <key>")]
    Missing,
    #[error("the tenant key is not valid")]
    Invalid,
}

/// The key a CRM request or search presents: `X-Api-Key: KEY`, else `Authorization: Bearer
/// KEY` (scheme case-insensitive). Another `Authorization` scheme counts as an invalid key.
fn presented_key(headers: &HeaderMap) -> Option<Result<&str, TenantKeyError>> {
    if let Some(value) = headers.get("x-api-key") {
        return Some(
            value
                .to_str()
                .map(str::trim)
                .map_err(|_| TenantKeyError::Invalid),
        );
    }
    let value = headers.get(AUTHORIZATION)?;
    let key = value.to_str().ok().and_then(|v| {
        let (scheme, key) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
    });
    Some(key.ok_or(TenantKeyError::Invalid))
}

/// The tenant of `presented` among `keys`. Every key is compared, so timing tells nothing.
fn find_tenant<'a>(keys: &'a [(Digest32, String)], presented: &str) -> Option<&'a str> {
    let presented = digest(presented);
    let mut found = None;
    for (expected, tenant) in keys {
        if bool::from(presented.ct_eq(expected)) {
            found = Some(tenant.as_str());
        }
    }
    found
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
        let mut crm = Vec::new();
        for key in &config.crm_keys {
            let d = stored(&key.key, &key.key_sha256, "crm_keys.key")?;
            crm.push((d, key.tenant.clone()));
        }
        Ok(Credentials {
            default_tenant: config.default_tenant.clone(),
            s2s,
            activity,
            crm_access: config.crm_access,
            crm,
        })
    }

    /// Tenant of S2S app `id_app` when `token` is its token.
    pub fn s2s_tenant(&self, id_app: u64, token: &str) -> Option<&str> {
        let (expected, tenant) = self.s2s.get(&id_app)?;
        bool::from(digest(token).ct_eq(expected)).then_some(tenant.as_str())
    }

    /// Tenant of the activity API key `key`. Every key is compared, so timing tells nothing.
    pub fn activity_tenant(&self, key: &str) -> Option<&str> {
        find_tenant(&self.activity, key)
    }

    /// The tenant a CRM request or search acts for (`tenants.crm_access`, `tenants.crm_keys`):
    /// the tenant of a valid key; without a key, the default tenant when access is `open`.
    /// A key that is sent and unknown is refused in both modes.
    pub fn crm_tenant(&self, headers: &HeaderMap) -> Result<&str, TenantKeyError> {
        match presented_key(headers) {
            Some(Ok(key)) => find_tenant(&self.crm, key).ok_or(TenantKeyError::Invalid),
            Some(Err(error)) => Err(error),
            None if self.crm_access == CrmAccess::Open => Ok(&self.default_tenant),
            None => Err(TenantKeyError::Missing),
        }
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

    #[test]
    fn crm_tenant_follows_the_key_and_the_access_mode() {
        use crate::config::TenantKey;
        let mut config = TenantsConfig {
            crm_keys: vec![
                TenantKey {
                    tenant: "acme".into(),
                    key: Some("acme-key".into()),
                    key_sha256: None,
                },
                TenantKey {
                    tenant: "globex".into(),
                    key: None,
                    // sha256("secret")
                    key_sha256: Some(
                        "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b".into(),
                    ),
                },
            ],
            ..TenantsConfig::default()
        };
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                h.insert(*name, value.parse().unwrap());
            }
            h
        };
        use TenantKeyError::{Invalid, Missing};
        type Case<'a> = (
            &'a [(&'static str, &'a str)],
            Result<&'a str, TenantKeyError>,
            Result<&'a str, TenantKeyError>,
        );
        let cases: &[Case] = &[
            // (headers, open, required)
            (&[], Ok("default"), Err(Missing)),
            (
                &[("authorization", "Bearer acme-key")],
                Ok("acme"),
                Ok("acme"),
            ),
            (
                &[("authorization", "bearer  acme-key ")],
                Ok("acme"),
                Ok("acme"),
            ),
            (&[("x-api-key", "secret")], Ok("globex"), Ok("globex")),
            (
                &[
                    ("x-api-key", "secret"),
                    ("authorization", "Bearer acme-key"),
                ],
                Ok("globex"),
                Ok("globex"),
            ),
            (
                &[("authorization", "Bearer nope")],
                Err(Invalid),
                Err(Invalid),
            ),
            (
                &[("authorization", "Basic YWNtZS1rZXk=")],
                Err(Invalid),
                Err(Invalid),
            ),
            (&[("authorization", "acme-key")], Err(Invalid), Err(Invalid)),
            (&[("x-api-key", "")], Err(Invalid), Err(Invalid)),
            (
                &[("x-api-key", "demo-netcore-key")],
                Err(Invalid),
                Err(Invalid),
            ),
        ];
        for (pairs, open, required) in cases {
            config.crm_access = CrmAccess::Open;
            let c = Credentials::from_config(&config).unwrap();
            assert_eq!(c.crm_tenant(&headers(pairs)), *open, "open {pairs:?}");
            config.crm_access = CrmAccess::Required;
            let c = Credentials::from_config(&config).unwrap();
            assert_eq!(
                c.crm_tenant(&headers(pairs)),
                *required,
                "required {pairs:?}"
            );
        }
    }
}
