//! Tributary's HTTP edge: the four API families of `shared/seeds/`, each validated to the letter
//! of its document, published whole to `events.raw` before the client hears 2xx; plus the
//! lead/contact search endpoints over ClickHouse.

pub mod config;
pub mod cors;
pub mod credentials;
pub mod families;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod publish;
pub mod rate_limit;
pub mod refusals;
pub mod rejections;
pub mod search;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tributary_service::admin::{self, Readiness};
use tributary_service::balance::PartitionBalancer;
use tributary_service::{kafka, Shutdown};

pub use config::Config;
pub use http::{serve, Gateway};

/// Build the gateway from `config` (Kafka producer, credentials, search client) and serve it on
/// `listener` until `shutdown`. The binary and the integration tests run this same function.
pub async fn run(config: Config, listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
    let credentials = credentials::Credentials::from_config(&config.tenants)?;
    cors::validate(&config.gateway.allowed_origins)?;
    if credentials.crm_access == config::CrmAccess::Open {
        tracing::warn!(
            default_tenant = %credentials.default_tenant,
            "tenants.crm_access = \"open\": the CRM API and the lead/contact search answer \
             requests without a key as the default tenant; anyone who can reach the gateway \
             can read that tenant's leads. Set tenants.crm_access = \"required\" and \
             tenants.crm_keys in production"
        );
    }
    // Tenants whose PII is hashed before Kafka are normalized here, by the enricher's rules
    // (read only when some tenant asks: they name files, such as the GeoIP database).
    let before_kafka = if config
        .enricher
        .tenants
        .values()
        .any(|t| t.hash_before_kafka)
    {
        let ctx = tributary_normalize::sources::NormalizeContext::from_config(&config.enricher)?;
        tracing::info!(
            tenants = ?ctx.tenants.iter().filter(|(_, r)| r.before_kafka).map(|(n, _)| n).collect::<Vec<_>>(),
            "hashing these tenants' PII before Kafka"
        );
        Some(Arc::new(ctx))
    } else {
        None
    };
    tributary_service::preflight::check_kafka(&config.kafka).await?;
    // The search reads ClickHouse; ingestion goes on without it, but not with a wrong
    // password or an untrusted certificate.
    tributary_service::preflight::clickhouse(
        &config.clickhouse,
        tributary_service::preflight::PATIENCE,
    )
    .await?;
    let timeout = Duration::from_millis(config.gateway.publish_timeout_ms);
    let mut kafka_config = tributary_service::balance::producer_config(&config.kafka);
    kafka_config
        .properties
        .entry("message.timeout.ms".into())
        .or_insert_with(|| config.gateway.publish_timeout_ms.to_string());
    let producer = kafka::RenewingProducer::new(&kafka_config, kafka::RENEW_AFTER)?;
    let readiness = Readiness::default();
    spawn_readiness_probe(producer.clone(), readiness.clone(), shutdown.clone());
    let balancer =
        PartitionBalancer::spawn(&config.kafka.topics.raw, producer.clone(), shutdown.clone());
    let rejections = rejections::Rejections::default();
    let admin = admin::spawn_with_routes(
        config.gateway.admin_listen,
        readiness,
        Default::default(),
        Some(rejections.admin_routes(config.admin.clone())),
        shutdown.clone(),
    )
    .await?;
    let search = search::Search {
        client: config.clickhouse.client(),
    };
    let gateway = Arc::new(Gateway {
        rate_limits: rate_limit::RateLimits::new(&config.gateway.rate_limits),
        config: config.gateway.clone(),
        credentials,
        publisher: Arc::new(publish::KafkaPublisher::new(producer, balancer, timeout)),
        search: Some(search),
        rejections,
        before_kafka,
    });
    tracing::info!(listen = %listener.local_addr()?, %admin, "gateway serving");
    serve(gateway, listener, shutdown).await;
    Ok(())
}

/// Ready while the broker answers metadata requests.
fn spawn_readiness_probe(
    producer: kafka::RenewingProducer,
    readiness: Readiness,
    shutdown: Shutdown,
) {
    tokio::spawn(async move {
        while !shutdown.is_triggered() {
            let client = producer.current();
            let ok = tokio::task::spawn_blocking(move || {
                client
                    .client()
                    .fetch_metadata(None, Duration::from_secs(2))
                    .is_ok()
            })
            .await
            .unwrap_or(false);
            readiness.set(ok);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {},
                _ = shutdown.wait() => {},
            }
        }
    });
}
