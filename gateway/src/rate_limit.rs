//! Per-tenant rate limits (`[gateway.rate_limits]`, issue 19): events per second and bytes
//! per second, each a GCRA token bucket (`governor`) with its own burst, one pair per tenant.
//!
//! A request is checked once its family has accepted it (the tenant and the number of events
//! are known then) and before anything is published: over either limit, the whole request is
//! refused with 429 and `Retry-After` in its family's error format, and nothing of it reaches
//! the broker. The events bucket is charged first; a request it passes but the bytes bucket
//! refuses has still used its events, so a tenant over its bytes limit is held a little below
//! its events limit too, never above either. A request larger than a burst can never fit the
//! bucket; it is charged the whole burst instead (accepted only when the bucket is full), so
//! it waits its turn rather than being refused forever.
//!
//! A refusal's wait is remembered per tenant: until it has passed, a request whose head names
//! the tenant (activity and CRM keys, the S2S `idApp`) is refused before its body is read
//! ([`RateLimits::still_refused`]), and answered when the wait is over (held at most 1 s), so
//! a client retrying in a tight loop costs the gateway little more than its headers, at the
//! pace of its limit, and the other tenants keep their latency.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::metrics;

/// One tenant's limits. A rate of 0 means no limit on that dimension (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantQuota {
    /// Events per second, sustained.
    pub events_per_second: u32,
    /// Events a tenant may send at once when it has been quiet (the bucket's size); 0 means
    /// one second's worth (`events_per_second`).
    pub events_burst: u32,
    /// Request body bytes per second (after `Content-Encoding` is undone), sustained.
    pub bytes_per_second: u32,
    /// Bytes at once when quiet; 0 means one second's worth (`bytes_per_second`).
    pub bytes_burst: u32,
}

impl TenantQuota {
    fn is_unlimited(&self) -> bool {
        self.events_per_second == 0 && self.bytes_per_second == 0
    }
}

/// `[gateway.rate_limits]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// The limits of every tenant not listed in `tenants`; each tenant gets buckets of its
    /// own of this size. All zero (no limit) by default.
    pub default: TenantQuota,
    /// Limits by tenant name (`[gateway.rate_limits.tenants.acme]`).
    pub tenants: BTreeMap<String, TenantQuota>,
}

/// One tenant's buckets; `None` where that dimension is unlimited.
struct Buckets {
    events: Option<DefaultDirectRateLimiter>,
    bytes: Option<DefaultDirectRateLimiter>,
    /// Until when the last refusal told the tenant to wait (its `Retry-After`).
    refused_until: Mutex<Option<Instant>>,
}

fn bucket(rate: u32, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Buckets {
    fn new(quota: &TenantQuota) -> Buckets {
        Buckets {
            events: bucket(quota.events_per_second, quota.events_burst),
            bytes: bucket(quota.bytes_per_second, quota.bytes_burst),
            refused_until: Mutex::new(None),
        }
    }
}

/// Take `amount` cells from `bucket` (at most its burst); how long to wait when it is short.
fn take(bucket: &DefaultDirectRateLimiter, amount: usize, burst: u32) -> Result<(), Duration> {
    let Some(n) = NonZeroU32::new(amount.min(burst as usize) as u32) else {
        return Ok(());
    };
    match bucket.check_n(n) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        // Cannot happen: n is at most the burst.
        Err(_) => Err(Duration::from_secs(1)),
    }
}

/// The limits and every tenant's buckets, shared by all connections.
#[derive(Default)]
pub struct RateLimits {
    config: RateLimitsConfig,
    buckets: RwLock<HashMap<String, Arc<Buckets>>>,
}

impl RateLimits {
    pub fn new(config: &RateLimitsConfig) -> RateLimits {
        RateLimits {
            config: config.clone(),
            buckets: RwLock::default(),
        }
    }

    fn quota(&self, tenant: &str) -> &TenantQuota {
        self.config
            .tenants
            .get(tenant)
            .unwrap_or(&self.config.default)
    }

    fn buckets(&self, tenant: &str) -> Arc<Buckets> {
        if let Some(b) = self.buckets.read().expect("not poisoned").get(tenant) {
            return b.clone();
        }
        // Tenants come from the configured credentials and the default tenant: a bounded set.
        let mut all = self.buckets.write().expect("not poisoned");
        all.entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Buckets::new(self.quota(tenant))))
            .clone()
    }

    /// Charge one request of `events` events and `bytes` body bytes to `tenant`: `Ok` to
    /// publish it, `Err(wait)` to refuse it whole (429, `Retry-After` from `wait`). Counted in
    /// `tributary_gateway_tenant_requests_total{tenant, outcome}`.
    pub fn check(&self, tenant: &str, events: usize, bytes: usize) -> Result<(), Duration> {
        let quota = *self.quota(tenant);
        let buckets = self.buckets(tenant);
        let verdict = (|| {
            let events_burst = quota.events_burst.max(quota.events_per_second);
            if let Some(b) = &buckets.events {
                take(b, events, events_burst)?;
            }
            let bytes_burst = quota.bytes_burst.max(quota.bytes_per_second);
            if let Some(b) = &buckets.bytes {
                take(b, bytes, bytes_burst)?;
            }
            Ok(())
        })();
        if let Err(wait) = verdict {
            *buckets.refused_until.lock().expect("not poisoned") = Some(Instant::now() + wait);
        }
        metrics::observe_rate_limit(tenant, verdict.is_ok(), events);
        verdict
    }

    /// `Some(rest of the wait)` while `tenant` is inside the wait its last refusal gave it:
    /// the gateway then refuses its requests from their head alone, without reading the body
    /// (counted as limited, with 0 events). Until then no bucket could take the request that
    /// was refused, so this is stricter only for a smaller request sent during the wait,
    /// which `Retry-After` asked the client not to send.
    pub fn still_refused(&self, tenant: &str) -> Option<Duration> {
        if self.quota(tenant).is_unlimited() {
            return None;
        }
        let buckets = self.buckets(tenant);
        let until = (*buckets.refused_until.lock().expect("not poisoned"))?;
        let wait = until.checked_duration_since(Instant::now())?;
        metrics::observe_rate_limit(tenant, false, 0);
        Some(wait)
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u32 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).clamp(1, u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(quota: TenantQuota) -> RateLimits {
        RateLimits::new(&RateLimitsConfig {
            default: TenantQuota::default(),
            tenants: BTreeMap::from([("acme".to_string(), quota)]),
        })
    }

    #[test]
    fn unlisted_tenants_are_unlimited_by_default() {
        let l = limits(TenantQuota {
            events_per_second: 1,
            ..Default::default()
        });
        for _ in 0..1000 {
            assert_eq!(l.check("other", 1000, 1 << 20), Ok(()));
        }
    }

    #[test]
    fn events_burst_then_refusal_with_a_wait() {
        let l = limits(TenantQuota {
            events_per_second: 10,
            events_burst: 20,
            ..Default::default()
        });
        assert_eq!(l.check("acme", 15, 0), Ok(()));
        assert_eq!(l.check("acme", 5, 0), Ok(()));
        let wait = l.check("acme", 5, 0).unwrap_err();
        assert!(wait > Duration::from_millis(300) && wait <= Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        // Another tenant has buckets of its own.
        assert_eq!(l.check("other", 100, 0), Ok(()));
    }

    #[test]
    fn bytes_are_limited_on_their_own_and_a_request_over_the_burst_takes_all_of_it() {
        let l = limits(TenantQuota {
            bytes_per_second: 1000,
            ..Default::default()
        });
        assert_eq!(l.check("acme", 1, 5000), Ok(()), "a full bucket admits it");
        assert!(l.check("acme", 1, 1).is_err(), "and is empty after");
    }

    #[test]
    fn a_refused_tenant_stays_refused_for_the_wait_it_was_given() {
        let l = limits(TenantQuota {
            events_per_second: 10,
            ..Default::default()
        });
        assert_eq!(l.still_refused("acme"), None);
        l.check("acme", 10, 0).unwrap();
        assert_eq!(
            l.still_refused("acme"),
            None,
            "accepted: nothing to wait for"
        );
        let wait = l.check("acme", 5, 0).unwrap_err();
        let rest = l.still_refused("acme").expect("inside the wait");
        assert!(rest <= wait && rest > wait / 2, "{rest:?} of {wait:?}");
        assert_eq!(
            l.still_refused("other"),
            None,
            "tenants have their own buckets"
        );
        std::thread::sleep(wait + Duration::from_millis(20));
        assert_eq!(l.still_refused("acme"), None);
        l.check("acme", 5, 0).unwrap();
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
