//! Kafka client setup shared by the services: one place for the properties that make the
//! pipeline safe (acks=all, idempotence, manual commits).

use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

fn base(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    client
}

fn with_overrides(mut client: ClientConfig, config: &KafkaConfig) -> ClientConfig {
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}

/// A producer that never reports success before every in-sync replica has the record and
/// never writes a record twice on retry.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    let mut client = base(config);
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "30000")
        .set("queue.buffering.max.kbytes", "262144");
    with_overrides(client, config).create()
}

/// A consumer in `group` that commits only when told to, starting from the earliest offset
/// when the group has none.
pub fn consumer(
    config: &KafkaConfig,
    group: &str,
) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let mut client = base(config);
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
