//! One config format for every service: a TOML file (every key optional, defaults below),
//! overridden by environment variables `TRIBUTARY_<SECTION>__<KEY>` (e.g.
//! `TRIBUTARY_KAFKA__BROKERS=10.0.0.1:9092`). Each service reads the sections it needs.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `[kafka]`: where the broker is and which topics the pipeline uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    pub topics: Topics,
    /// Extra librdkafka properties for every client, e.g. `"session.timeout.ms" = "6000"`.
    pub properties: BTreeMap<String, String>,
    /// Idempotent producers (`enable.idempotence`). On by default, for Apache Kafka; the local
    /// config turns it off for Tansu 0.6, whose sqlite storage panics on an idempotent
    /// producer's retried sequence after a restart or a freeze (README, "Reliability").
    /// `acks=all` holds either way, and a record written twice collapses by `event_uid`.
    pub idempotence: bool,
    /// `[kafka.watchdog]`: the consumers' stall watchdog (see `watchdog.rs`).
    pub watchdog: crate::watchdog::WatchdogConfig,
    /// Whether the broker deletes records on request (Kafka DeleteRecords), which
    /// `tributary dlq purge` needs. On by default, for Apache Kafka; the local config turns it
    /// off: Tansu 0.6's sqlite storage answers DeleteRecords with a panic (`todo!()` in
    /// `lite.rs`) that takes the broker down.
    pub delete_records: bool,
    /// `[kafka.security]`: TLS and SASL towards the broker (hosted Kafka needs both).
    pub security: KafkaSecurity,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topics: Topics::default(),
            properties: BTreeMap::new(),
            idempotence: true,
            watchdog: Default::default(),
            delete_records: true,
            security: KafkaSecurity::default(),
        }
    }
}

/// `[kafka.security]`: how every Kafka client of the project (services, `tributary`, lag
/// monitors) reaches a broker that wants TLS, SASL or both, as hosted Kafka does (Amazon MSK,
/// Confluent Cloud, Aiven: `SASL_SSL` with `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`).
/// Each field sets one librdkafka property (librdkafka's CONFIGURATION.md):
/// `protocol` → `security.protocol`, `sasl_mechanism` → `sasl.mechanism`, `sasl_username` /
/// `sasl_password` → `sasl.username` / `sasl.password`, `ca_file` → `ssl.ca.location`.
/// Secrets come from the environment: `TRIBUTARY_KAFKA__SECURITY__SASL_PASSWORD`.
/// Anything else librdkafka knows (client certificates, `ssl.endpoint.identification.algorithm`)
/// goes in `kafka.properties`, which wins over these.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSecurity {
    /// `PLAINTEXT` (the default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`, as Kafka spells them.
    pub protocol: SecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with a `SASL_*` protocol.
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    /// PEM file of the CA (or CAs) that signed the broker's certificate, for a private CA;
    /// without it the system's trust store (Debian's `ca-certificates`) is used.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Kafka's `security.protocol` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityProtocol {
    #[default]
    #[serde(rename = "PLAINTEXT", alias = "plaintext")]
    Plaintext,
    #[serde(rename = "SSL", alias = "ssl")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT", alias = "sasl_plaintext")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL", alias = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The value librdkafka takes for `security.protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// As Kafka's documents spell it (`SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// The SASL mechanisms librdkafka is built with here (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl KafkaSecurity {
    /// The librdkafka properties these settings stand for, or what is missing for them.
    ///
    /// # Errors
    /// A `SASL_*` protocol without a mechanism, user name or password, or SASL settings with a
    /// protocol that does not use them (a sign of a half-edited config).
    pub fn properties(&self) -> Result<Vec<(&'static str, String)>, String> {
        let mut properties = vec![("security.protocol", self.protocol.as_str().to_string())];
        // An empty value counts as unset (an environment variable passed through empty).
        let set = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        let (username, password) = (set(&self.sasl_username), set(&self.sasl_password));
        let sasl_set = self.sasl_mechanism.is_some() || username.is_some() || password.is_some();
        if self.protocol.uses_sasl() {
            let (Some(mechanism), Some(username), Some(password)) =
                (self.sasl_mechanism, username, password)
            else {
                return Err(format!(
                    "kafka.security.protocol = {:?} needs sasl_mechanism (PLAIN, SCRAM-SHA-256 or \
                     SCRAM-SHA-512), sasl_username and sasl_password \
                     (TRIBUTARY_KAFKA__SECURITY__SASL_PASSWORD)",
                    self.protocol.name()
                ));
            };
            properties.push(("sasl.mechanism", mechanism.as_str().to_string()));
            properties.push(("sasl.username", username));
            properties.push(("sasl.password", password));
        } else if sasl_set {
            return Err(format!(
                "kafka.security has SASL settings but protocol = {:?}: set protocol = \
                 \"SASL_SSL\" (or \"SASL_PLAINTEXT\") to use them",
                self.protocol.name()
            ));
        }
        if let Some(ca_file) = &self.ca_file {
            properties.push(("ssl.ca.location", ca_file.display().to_string()));
        }
        Ok(properties)
    }
}

/// `[kafka.topics]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topics {
    pub raw: String,
    pub normalized: String,
    pub dlq: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            raw: "events.raw".into(),
            normalized: "events.normalized".into(),
            dlq: "events.dlq".into(),
        }
    }
}

/// `[clickhouse]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    pub user: String,
    /// From the environment in production: `TRIBUTARY_CLICKHOUSE__PASSWORD`.
    pub password: String,
    /// For an `https://` url signed by a private CA: that CA's PEM file, trusted besides the
    /// system's store (ClickHouse Cloud's certificates need no file).
    pub ca_file: Option<std::path::PathBuf>,
    /// Compression of insert bodies and query results on the wire: `auto` (the default) is
    /// none when the url's host is a loopback address and LZ4 otherwise.
    pub compression: WireCompression,
}

/// `[clickhouse] compression`: how data crosses the HTTP connection to ClickHouse. LZ4 in
/// ClickHouse's compressed-block framing (the format of its own clients) shrinks an insert of
/// `events` several times, for CPU on both ends: worth it across a network, pure cost over
/// loopback, where it was a tenth of the sink's CPU (bench/PROFILE.md, "Inserts over loopback
/// without LZ4").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireCompression {
    /// `none` for a loopback host (`localhost`, 127.0.0.0/8, `::1`), else `lz4`.
    #[default]
    Auto,
    Lz4,
    None,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "tributary".into(),
            user: "default".into(),
            password: String::new(),
            ca_file: None,
            compression: WireCompression::Auto,
        }
    }
}

impl ClickHouseConfig {
    /// A client for this server and database: inserts and responses LZ4-compressed unless
    /// [`Self::wire_compression`] says none (LZ4 is the only compression the crate decodes;
    /// ClickHouse 26.9 would otherwise pick ZSTD, so the client asks for LZ4 with
    /// `network_compression_method`, whatever the server's profile), rows checked against the
    /// table's columns (the crate's validation), and `async_insert = 0`, so an acknowledged
    /// insert means the rows are stored whatever the server's default (1 since 26.2). The sink
    /// commits Kafka offsets only after such an acknowledgement.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client for this server without a default database (to create it), set up as
    /// [`client`](Self::client).
    ///
    /// An `https://` url is spoken over TLS (OpenSSL), checking the server's certificate
    /// against the system's store and `ca_file`. A `ca_file` that cannot be read or parsed
    /// leaves the client without it; [`crate::preflight::clickhouse`] reports it at startup.
    pub fn server_client(&self) -> clickhouse::Client {
        let ca = self.ca().unwrap_or_else(|error| {
            tracing::error!(%error, "clickhouse.ca_file is not used");
            None
        });
        let client = Self::http_client(ca)
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_validation(true)
            .with_option("async_insert", "0");
        match self.wire_compression() {
            WireCompression::Lz4 => client
                .with_compression(clickhouse::Compression::Lz4)
                .with_option("network_compression_method", "LZ4"),
            _ => client.with_compression(clickhouse::Compression::None),
        }
    }

    /// `compression` resolved: `Lz4` or `None`, never `Auto`. A url that does not parse is
    /// taken as remote (its requests fail with the parse error anyway).
    pub fn wire_compression(&self) -> WireCompression {
        match self.compression {
            WireCompression::Auto => {
                let url = url::Url::parse(&self.url).ok();
                let loopback = match url.as_ref().and_then(url::Url::host) {
                    Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                if loopback {
                    WireCompression::None
                } else {
                    WireCompression::Lz4
                }
            }
            chosen => chosen,
        }
    }
}

impl ClickHouseConfig {
    /// `ca_file`'s certificate, when one is set.
    ///
    /// # Errors
    /// `ca_file` unreadable or not a PEM certificate.
    pub fn ca(&self) -> Result<Option<native_tls::Certificate>, String> {
        Ok(match &self.ca_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    format!("clickhouse.ca_file {}: cannot read it: {e}", path.display())
                })?;
                Some(native_tls::Certificate::from_pem(&pem).map_err(|e| {
                    format!(
                        "clickhouse.ca_file {}: not a PEM certificate: {e}",
                        path.display()
                    )
                })?)
            }
        })
    }

    /// A client on hyper with OpenSSL: `http://` and `https://`, the system's trust store plus
    /// `ca`.
    fn http_client(ca: Option<native_tls::Certificate>) -> clickhouse::Client {
        use hyper_util::client::legacy::connect::HttpConnector;
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        http.enforce_http(false);
        let mut tls = native_tls::TlsConnector::builder();
        if let Some(ca) = ca {
            tls.add_root_certificate(ca);
        }
        let tls = tls.build().expect("OpenSSL's default TLS settings");
        let https =
            hyper_tls::HttpsConnector::from((http, tokio_native_tls::TlsConnector::from(tls)));
        // ClickHouse closes idle keep-alive connections after 3 s; reuse them for less.
        clickhouse::Client::with_http_client(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build(https),
        )
    }
}

/// `[admin]`: what operators' tools share. The events debugger page (`tributary debugger`) and
/// the gateway's `/rejections` admin endpoint answer only requests that carry `token`
/// (`Authorization: Bearer TOKEN` or `?token=TOKEN`); without a token they are off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The admin token; `None` (or empty) turns the token-guarded endpoints off.
    pub token: Option<String>,
}

impl AdminConfig {
    /// The token when one is set and not empty.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }

    /// Whether `req` carries the token, compared in constant time. Always false without a
    /// configured token.
    pub fn allows<B>(&self, req: &hyper::Request<B>) -> bool {
        let Some(want) = self.token() else {
            return false;
        };
        let bearer = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let query = req.uri().query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "token")
                .map(|(_, v)| v.to_string())
        });
        use subtle::ConstantTimeEq;
        [bearer, query]
            .into_iter()
            .flatten()
            .any(|got| bool::from(got.as_bytes().ct_eq(want.as_bytes())))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("bad config: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

/// The `--config` flag every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Config file (TOML); every key also reads TRIBUTARY_<SECTION>__<KEY> from the environment.
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    pub config: Option<std::path::PathBuf>,
}

impl ConfigArgs {
    /// Load the service's config; a bad file or value stops the service naming the key.
    pub fn load<T>(&self) -> Result<T, ConfigError>
    where
        T: Default + Serialize + DeserializeOwned,
    {
        load(self.config.as_deref())
    }
}

/// Load `T` from its defaults, then `file` (when given), then `TRIBUTARY_*` variables.
/// Errors name the offending key.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        if !file.exists() {
            return Err(ConfigError(Box::new(figment::Error::from(format!(
                "config file {} does not exist",
                file.display()
            )))));
        }
        figment = figment.merge(Toml::file(file));
    }
    figment
        .merge(Env::prefixed("TRIBUTARY_").split("__"))
        .extract()
        .map_err(|e| ConfigError(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Sample {
        kafka: KafkaConfig,
        clickhouse: ClickHouseConfig,
    }

    #[test]
    fn the_admin_token_is_required_and_nothing_passes_without_one() {
        let request = |uri: &str, auth: Option<&str>| {
            let mut builder = hyper::Request::builder().uri(uri);
            if let Some(auth) = auth {
                builder = builder.header("authorization", auth);
            }
            builder.body(()).unwrap()
        };
        let off = AdminConfig::default();
        assert!(!off.allows(&request("/?token=", None)));
        let on = AdminConfig {
            token: Some("s3cret".into()),
        };
        assert!(on.allows(&request("/?token=s3cret", None)));
        assert!(on.allows(&request("/", Some("Bearer s3cret"))));
        assert!(!on.allows(&request("/", None)));
        assert!(!on.allows(&request("/?token=s3cre", None)));
        assert!(!on.allows(&request("/", Some("Bearer nope"))));
    }

    #[test]
    fn file_overrides_defaults_and_bad_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "t.toml",
                "[kafka]\nbrokers = \"k:1\"\n[kafka.topics]\nraw = \"r\"",
            )?;
            let c: Sample = load(Some(Path::new("t.toml"))).unwrap();
            assert_eq!(c.kafka.brokers, "k:1");
            assert_eq!(c.kafka.topics.raw, "r");
            assert_eq!(c.kafka.topics.dlq, "events.dlq");
            assert_eq!(c.clickhouse.database, "tributary");

            jail.set_env("TRIBUTARY_CLICKHOUSE__DATABASE", "other");
            let c: Sample = load(Some(Path::new("t.toml"))).unwrap();
            assert_eq!(c.clickhouse.database, "other");

            jail.create_file("bad.toml", "[kafka]\nbrokerz = \"x\"")?;
            let err = load::<Sample>(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(err.to_string().contains("brokerz"), "{err}");

            assert!(load::<Sample>(Some(Path::new("missing.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn wire_compression_is_off_over_loopback_and_lz4_elsewhere_unless_chosen() {
        let resolved = |url: &str, compression: WireCompression| {
            ClickHouseConfig {
                url: url.into(),
                compression,
                ..Default::default()
            }
            .wire_compression()
        };
        use WireCompression::{Auto, Lz4, None};
        for url in [
            "http://127.0.0.1:8123",
            "http://127.8.9.10:8123",
            "http://localhost:8123",
            "http://LocalHost:8123/",
            "https://[::1]:8443",
        ] {
            assert_eq!(resolved(url, Auto), None, "{url}");
            assert_eq!(resolved(url, Lz4), Lz4, "{url}");
        }
        for url in [
            "http://10.0.0.5:8123",
            "https://abc123.eu-west-1.aws.clickhouse.cloud:8443",
            "http://localhost.example.com:8123",
            "http://[2001:db8::1]:8123",
            "not a url",
        ] {
            assert_eq!(resolved(url, Auto), Lz4, "{url}");
            assert_eq!(resolved(url, None), None, "{url}");
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[clickhouse]\ncompression = \"none\"")?;
            let c: Sample = load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(c.clickhouse.compression, None);
            jail.create_file("bad.toml", "[clickhouse]\ncompression = \"zstd\"")?;
            let err = load::<Sample>(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(err.to_string().contains("compression"), "{err}");
            Ok(())
        });
    }
}
