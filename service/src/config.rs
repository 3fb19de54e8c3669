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
        }
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
    pub password: String,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "tributary".into(),
            user: "default".into(),
            password: String::new(),
        }
    }
}

impl ClickHouseConfig {
    /// A client for this server and database: LZ4-compressed responses (the only compression
    /// the crate decodes; ClickHouse 26.9 would otherwise pick ZSTD, so the client asks for LZ4
    /// with `network_compression_method`, whatever the server's profile), rows checked against the
    /// table's columns (the crate's validation), and `async_insert = 0`, so an acknowledged
    /// insert means the rows are stored whatever the server's default (1 since 26.2). The sink
    /// commits Kafka offsets only after such an acknowledgement.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client for this server without a default database (to create it), set up as
    /// [`client`](Self::client).
    pub fn server_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_compression(clickhouse::Compression::Lz4)
            .with_option("network_compression_method", "LZ4")
            .with_validation(true)
            .with_option("async_insert", "0")
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
}
