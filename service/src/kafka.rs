//! Kafka client setup shared by the services: one place for the properties that make the
//! pipeline safe (acks=all, idempotence, manual commits), and a producer that replaces itself
//! when it is broken for good ([`RenewingProducer`]).

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus::{register_int_counter_vec, IntCounterVec};
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

use crate::config::KafkaConfig;
use crate::producer::KafkaProducer;

fn base(config: &KafkaConfig) -> Result<ClientConfig, KafkaError> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (key, value) in config
        .security
        .properties()
        .map_err(KafkaError::ClientCreation)?
    {
        client.set(key, value);
    }
    Ok(client)
}

/// The properties every client of the project starts from: the brokers, `[kafka.security]`
/// and `kafka.properties` (which win). Callers add their role's settings.
///
/// # Errors
/// `[kafka.security]` incomplete ([`crate::config::KafkaSecurity::properties`]), as
/// `KafkaError::ClientCreation`.
pub fn client_config(config: &KafkaConfig) -> Result<ClientConfig, KafkaError> {
    Ok(with_overrides(base(config)?, config))
}

fn with_overrides(mut client: ClientConfig, config: &KafkaConfig) -> ClientConfig {
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}

/// How long a producer holds a partition's first record for more to join it in one produce
/// request (`linger.ms`) unless `kafka.properties` says otherwise. The producers of balanced
/// topics linger longer ([`crate::balance::producer_config`]).
pub const LINGER: Duration = Duration::from_millis(5);

/// The librdkafka properties that set the linger: `linger.ms` and its alias.
pub const LINGER_PROPERTIES: [&str; 2] = ["linger.ms", "queue.buffering.max.ms"];

/// The linger of producers made from `config`: `kafka.properties`' `linger.ms` or
/// `queue.buffering.max.ms` (milliseconds, fractions allowed, as librdkafka reads them), else
/// [`LINGER`]. A value that is not a number is librdkafka's to refuse; it counts as [`LINGER`].
pub fn linger(config: &KafkaConfig) -> Duration {
    LINGER_PROPERTIES
        .iter()
        .filter_map(|key| config.properties.get(*key))
        .filter_map(|ms| ms.trim().parse::<f64>().ok())
        .find_map(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        .unwrap_or(LINGER)
}

/// A producer that never reports success before every in-sync replica has the record and,
/// with `kafka.idempotence` (the default), never writes a record twice on retry.
pub fn producer(config: &KafkaConfig) -> Result<KafkaProducer, rdkafka::error::KafkaError> {
    KafkaProducer::new(&producer_client_config(config)?)
}

fn producer_client_config(config: &KafkaConfig) -> Result<ClientConfig, KafkaError> {
    let mut client = base(config)?;
    client
        .set("acks", "all")
        .set("enable.idempotence", config.idempotence.to_string())
        .set("compression.type", "lz4")
        .set("linger.ms", LINGER.as_millis().to_string())
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "30000")
        .set("queue.buffering.max.kbytes", "262144");
    Ok(with_overrides(client, config))
}

/// A consumer in `group` that commits only when told to, starting from the earliest offset
/// when the group has none.
pub fn consumer(
    config: &KafkaConfig,
    group: &str,
) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let mut client = base(config)?;
    client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "60000")
        .set("fetch.wait.max.ms", "50");
    with_overrides(client, config).create()
}

/// How long every send of a producer may fail before it is replaced (see [`RenewingProducer`]):
/// longer than a broker restart or a rebalance, shorter than anyone's patience.
pub const RENEW_AFTER: Duration = Duration::from_secs(60);

static RENEWALS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_kafka_producer_renewals_total",
        "Producers replaced by a new one (new producer id), by reason (fatal, persistent_errors)",
        &["reason"]
    )
    .unwrap()
});

/// A producer that replaces itself with a new client (a new producer id) when librdkafka
/// reports a fatal error (an idempotent producer's sequence gap or fencing: Apache Kafka
/// requires a new producer then) or when every send failed for [`RENEW_AFTER`] (a broker that
/// answers but cannot store, such as Tansu 0.6 after its storage task panicked). Clones share
/// the current client. Callers take [`RenewingProducer::current`] for each send and report
/// its outcome.
#[derive(Clone)]
pub struct RenewingProducer {
    inner: Arc<RenewingInner>,
}

struct RenewingInner {
    config: KafkaConfig,
    renew_after: Duration,
    state: Mutex<RenewingState>,
}

struct RenewingState {
    current: KafkaProducer,
    /// First failure since the last success.
    failing_since: Option<Instant>,
}

impl RenewingProducer {
    /// A [`producer`] for `config`, renewed after `renew_after` of failures only.
    pub fn new(config: &KafkaConfig, renew_after: Duration) -> Result<Self, KafkaError> {
        for reason in ["fatal", "persistent_errors"] {
            RENEWALS.with_label_values(&[reason]);
        }
        Ok(RenewingProducer {
            inner: Arc::new(RenewingInner {
                config: config.clone(),
                renew_after,
                state: Mutex::new(RenewingState {
                    current: producer(config)?,
                    failing_since: None,
                }),
            }),
        })
    }

    /// How long its records linger for a batch ([`linger`]).
    pub fn linger(&self) -> Duration {
        linger(&self.inner.config)
    }

    /// The client to send with now.
    pub fn current(&self) -> KafkaProducer {
        self.lock().current.clone()
    }

    /// A send succeeded.
    pub fn succeeded(&self) {
        self.lock().failing_since = None;
    }

    /// A send with `used` failed with `error`: replace the client when it is fatal or failures
    /// lasted [`RENEW_AFTER`]. Returns whether it was replaced.
    pub fn failed(&self, used: &KafkaProducer, error: &KafkaError) -> bool {
        let mut state = self.lock();
        // Only the client that failed is replaced, once, however many sends report it.
        if !same_client(&state.current, used) {
            return false;
        }
        let now = Instant::now();
        let since = *state.failing_since.get_or_insert(now);
        let fatal = used.client().fatal_error();
        let reason = if fatal.is_some() {
            "fatal"
        } else if now.duration_since(since) >= self.inner.renew_after {
            "persistent_errors"
        } else {
            return false;
        };
        match producer(&self.inner.config) {
            Ok(fresh) => {
                tracing::warn!(%error, ?fatal, reason, failing_for = ?now.duration_since(since),
                    "replacing the Kafka producer with a new one (new producer id)");
                RENEWALS.with_label_values(&[reason]).inc();
                let old = std::mem::replace(&mut state.current, fresh);
                state.failing_since = None;
                // Dropping a producer purges and flushes it, which blocks: not on this thread.
                std::thread::spawn(move || drop(old));
                true
            }
            Err(error) => {
                tracing::error!(%error, "creating a new Kafka producer failed");
                false
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RenewingState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn same_client(a: &KafkaProducer, b: &KafkaProducer) -> bool {
    std::ptr::eq(a.client().native_ptr(), b.client().native_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linger_is_the_one_librdkafka_is_given() {
        let mut config = KafkaConfig::default();
        assert_eq!(linger(&config), LINGER);
        let client = producer_client_config(&config).unwrap();
        assert_eq!(client.get("linger.ms"), Some("5"));
        config
            .properties
            .insert("queue.buffering.max.ms".into(), "7.5".into());
        assert_eq!(linger(&config), Duration::from_micros(7500));
        config.properties.insert("linger.ms".into(), "0".into());
        assert_eq!(linger(&config), Duration::ZERO, "linger.ms first");
        for refused in ["soon", "-1", "NaN", "1e30"] {
            config.properties.insert("linger.ms".into(), refused.into());
            assert_eq!(linger(&config), Duration::from_micros(7500), "{refused}");
        }
    }

    #[test]
    fn persistent_errors_replace_the_client_once() {
        let config = KafkaConfig {
            brokers: "127.0.0.1:1".into(),
            ..Default::default()
        };
        let renewing = RenewingProducer::new(&config, Duration::from_millis(50)).unwrap();
        let first = renewing.current();
        let error =
            KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::MessageTimedOut);
        assert!(
            !renewing.failed(&first, &error),
            "the first failure starts the clock"
        );
        std::thread::sleep(Duration::from_millis(60));
        renewing.succeeded();
        assert!(
            !renewing.failed(&first, &error),
            "a success in between restarts it"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            renewing.failed(&first, &error),
            "failing for the bound replaces it"
        );
        let second = renewing.current();
        assert!(!same_client(&first, &second));
        assert!(
            !renewing.failed(&first, &error),
            "late reports of the old client are ignored"
        );
        assert!(same_client(&second, &renewing.current()));
    }
}
