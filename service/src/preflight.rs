//! Startup checks of the connections to Kafka and ClickHouse: a wrong password, an untrusted
//! certificate or a half-written `[kafka.security]` stops a service at once with an error that
//! names the setting to fix, instead of a service that runs and never gets anything through
//! (issue 19, "a clear error at startup, not a hang").
//!
//! A peer that is only down is not an error here: the services are built to wait for it (the
//! broker restarts under the fault suite), so the checks log and return after their time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{ClickHouseConfig, KafkaConfig};

/// How long a check waits for a peer that does not answer before the service starts anyway.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Why a service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// `[kafka.security]` or `kafka.properties` cannot make a client.
    #[error("kafka: {0}")]
    KafkaConfig(String),
    /// The broker answered and refused this client: SASL credentials or TLS.
    #[error(
        "kafka at {brokers} refused the connection: {reason}. Check [kafka.security] \
         (protocol, sasl_mechanism, sasl_username, TRIBUTARY_KAFKA__SECURITY__SASL_PASSWORD, \
         ca_file) against the broker's listener"
    )]
    KafkaRefused { brokers: String, reason: String },
    /// `clickhouse.ca_file` cannot be used.
    #[error("clickhouse: {0}")]
    ClickHouseConfig(String),
    /// ClickHouse answered and refused the user or password.
    #[error(
        "clickhouse at {url} refused user {user:?}: {reason}. Check clickhouse.user and \
         TRIBUTARY_CLICKHOUSE__PASSWORD"
    )]
    ClickHouseCredentials {
        url: String,
        user: String,
        reason: String,
    },
    /// The TLS handshake with ClickHouse failed (certificate not trusted, wrong host name, not
    /// TLS at all).
    #[error(
        "clickhouse at {url}: TLS failed: {reason}. Check the url's scheme and host, and \
         clickhouse.ca_file for a private CA"
    )]
    ClickHouseTls { url: String, reason: String },
}

/// Records what librdkafka reports as the broker refusing this client.
#[derive(Default)]
struct Refusals {
    first: Mutex<Option<String>>,
}

impl Refusals {
    /// Whether an error librdkafka reports (error code, its text) means the broker refused this
    /// client rather than being unreachable: SASL failures and TLS handshake failures.
    fn is_refusal(code: Option<RDKafkaErrorCode>, reason: &str) -> bool {
        matches!(
            code,
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SSL
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::IllegalSASLState
                    | RDKafkaErrorCode::UnsupportedSASLMechanism
            )
        ) || [
            "SSL handshake failed",
            "certificate verify failed",
            "SASL authentication",
        ]
        .iter()
        .any(|needle| reason.contains(needle))
    }
}

impl ClientContext for Refusals {
    fn error(&self, error: KafkaError, reason: &str) {
        if Self::is_refusal(error.rdkafka_error_code(), reason) {
            self.first
                .lock()
                .unwrap()
                .get_or_insert_with(|| reason.to_string());
        } else {
            tracing::debug!(%error, reason, "kafka preflight");
        }
    }
}

impl ConsumerContext for Refusals {}

/// Connect to the brokers as the services do and fetch the cluster's metadata.
///
/// Returns `Ok` once the metadata arrives, or after `patience` without an answer (a broker
/// that is down; logged). Blocks the calling thread: call it from `spawn_blocking` or before
/// the runtime's work starts.
///
/// # Errors
/// [`PreflightError::KafkaConfig`] when no client can be made from the config,
/// [`PreflightError::KafkaRefused`] when the broker refused the SASL credentials or the TLS
/// handshake failed (untrusted certificate, wrong host name).
pub fn kafka(config: &KafkaConfig, patience: Duration) -> Result<(), PreflightError> {
    let client = crate::kafka::client_config(config)
        .map_err(|e| PreflightError::KafkaConfig(e.to_string()))?;
    let consumer: BaseConsumer<Refusals> = client
        .create_with_context(Refusals::default())
        .map_err(|e| PreflightError::KafkaConfig(e.to_string()))?;
    let deadline = Instant::now() + patience;
    loop {
        let answer = consumer.fetch_metadata(None, Duration::from_millis(500));
        // Error events reach the context only when the client is polled.
        let _ = consumer.poll(Duration::from_millis(100));
        if let Some(reason) = consumer.context().first.lock().unwrap().clone() {
            return Err(PreflightError::KafkaRefused {
                brokers: config.brokers.clone(),
                reason,
            });
        }
        match answer {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                tracing::warn!(
                    brokers = %config.brokers,
                    %error,
                    "kafka does not answer yet; starting anyway, the clients keep retrying"
                );
                return Ok(());
            }
            Err(_) => {}
        }
    }
}

/// [`kafka`] with [`PATIENCE`], on a blocking thread: what each service runs first.
///
/// # Errors
/// As [`kafka`].
pub async fn check_kafka(config: &KafkaConfig) -> Result<(), PreflightError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || kafka(&config, PATIENCE))
        .await
        .expect("the kafka preflight does not panic")
}

/// Ask ClickHouse `SELECT 1` with the configured user, password and TLS settings.
///
/// Returns `Ok` when it answers, or when it cannot be reached within `patience` (logged).
///
/// # Errors
/// [`PreflightError::ClickHouseConfig`] for an unusable `ca_file`,
/// [`PreflightError::ClickHouseCredentials`] when ClickHouse refuses the user or password
/// (its errors 516 `AUTHENTICATION_FAILED`, 194 `REQUIRED_PASSWORD`, 193 `WRONG_PASSWORD`,
/// 192 `UNKNOWN_USER`),
/// [`PreflightError::ClickHouseTls`] when the TLS handshake fails.
pub async fn clickhouse(
    config: &ClickHouseConfig,
    patience: Duration,
) -> Result<(), PreflightError> {
    config.ca().map_err(PreflightError::ClickHouseConfig)?;
    let answer = tokio::time::timeout(
        patience,
        config.server_client().query("SELECT 1").fetch_one::<u8>(),
    )
    .await;
    let error = match answer {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(error)) => error,
        Err(_) => {
            tracing::warn!(url = %config.url, "clickhouse does not answer yet; starting anyway");
            return Ok(());
        }
    };
    let reason = chain(&error);
    if let clickhouse::error::Error::BadResponse(text) = &error {
        if [
            "Authentication failed",
            "AUTHENTICATION_FAILED",
            "REQUIRED_PASSWORD",
            "WRONG_PASSWORD",
            "UNKNOWN_USER",
        ]
        .iter()
        .any(|needle| text.contains(needle))
        {
            return Err(PreflightError::ClickHouseCredentials {
                url: config.url.clone(),
                user: config.user.clone(),
                reason,
            });
        }
    }
    let lower = reason.to_ascii_lowercase();
    if ["certificate", "ssl", "tls", "handshake"]
        .iter()
        .any(|needle| lower.contains(needle))
    {
        return Err(PreflightError::ClickHouseTls {
            url: config.url.clone(),
            reason,
        });
    }
    tracing::warn!(url = %config.url, %reason, "clickhouse cannot be asked yet; starting anyway");
    Ok(())
}

/// An error and its sources, `: `-separated (hyper hides the TLS cause two levels down).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KafkaSecurity, SaslMechanism, SecurityProtocol};

    #[test]
    fn refusals_are_sasl_and_tls_failures_not_a_broker_that_is_down() {
        let refusal = |code, reason| Refusals::is_refusal(Some(code), reason);
        assert!(refusal(
            RDKafkaErrorCode::Authentication,
            "SASL authentication error: Authentication failed"
        ));
        assert!(refusal(
            RDKafkaErrorCode::SSL,
            "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed"
        ));
        assert!(Refusals::is_refusal(
            None,
            "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed"
        ));
        assert!(!refusal(
            RDKafkaErrorCode::AllBrokersDown,
            "1/1 brokers are down"
        ));
        assert!(!refusal(
            RDKafkaErrorCode::BrokerTransportFailure,
            "Connect to ipv4#127.0.0.1:9 failed: Connection refused"
        ));
    }

    #[test]
    fn an_incomplete_security_section_is_a_config_error_naming_what_is_missing() {
        let config = KafkaConfig {
            security: KafkaSecurity {
                protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some(SaslMechanism::ScramSha512),
                sasl_username: Some("tributary".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = kafka(&config, Duration::from_millis(10)).unwrap_err();
        assert!(
            matches!(&err, PreflightError::KafkaConfig(m) if m.contains("sasl_password")),
            "{err}"
        );

        let stray = KafkaConfig {
            security: KafkaSecurity {
                sasl_username: Some("tributary".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = kafka(&stray, Duration::from_millis(10)).unwrap_err();
        assert!(err.to_string().contains("SASL_SSL"), "{err}");
    }

    #[test]
    fn security_settings_become_librdkafka_properties() {
        let security = KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha256),
            sasl_username: Some("u".into()),
            sasl_password: Some("p".into()),
            ca_file: Some("/etc/ca.pem".into()),
        };
        assert_eq!(
            security.properties().unwrap(),
            vec![
                ("security.protocol", "sasl_ssl".to_string()),
                ("sasl.mechanism", "SCRAM-SHA-256".to_string()),
                ("sasl.username", "u".to_string()),
                ("sasl.password", "p".to_string()),
                ("ssl.ca.location", "/etc/ca.pem".to_string()),
            ]
        );
        assert_eq!(
            KafkaSecurity::default().properties().unwrap(),
            vec![("security.protocol", "plaintext".to_string())]
        );
    }

    #[tokio::test]
    async fn an_unreadable_ca_file_stops_the_service() {
        let config = ClickHouseConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let err = clickhouse(&config, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
