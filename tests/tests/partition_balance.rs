//! The gateway's and the enricher's partition choice against the real broker: the balancer
//! learns a topic's partition count from the broker's metadata and spreads records over all
//! of them, a full batch on one after the other; a topic the broker does not have stays "by
//! key" and is not created by asking.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tributary_service::balance::{producer_config, PartitionBalancer, IN_FLIGHT_LIMIT};
use tributary_service::kafka::{RenewingProducer, RENEW_AFTER};
use tributary_service::{KafkaConfig, Shutdown};
use tributary_tests::{create_topics, Stack};

fn topics_on_broker(brokers: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("metadata client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect()
}

#[tokio::test]
async fn the_balancer_learns_the_partition_count_and_creates_no_topic() {
    let stack = Stack::from_env();
    let suffix = std::process::id();
    let present = format!("balance-present-{suffix}");
    let missing = format!("balance-missing-{suffix}");
    create_topics(&stack.brokers, &[&present], 5).await;
    let config = KafkaConfig {
        brokers: stack.brokers.clone(),
        ..Default::default()
    };
    let producer = RenewingProducer::new(&producer_config(&config), RENEW_AFTER).expect("producer");
    let shutdown = Shutdown::new();
    let known = PartitionBalancer::spawn(&present, producer.clone(), shutdown.clone());
    let unknown = PartitionBalancer::spawn(&missing, producer.clone(), shutdown.clone());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while known.claim().await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the partition count of {present} was never read"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 25 records in flight at once: a full batch (the in-flight limit) on each of the five
    // partitions, one partition after the other.
    let mut claims = Vec::new();
    for _ in 0..5 * IN_FLIGHT_LIMIT {
        claims.push(known.claim().await.unwrap());
    }
    let mut per_partition = [0; 5];
    for claim in &claims {
        per_partition[claim.partition as usize] += 1;
    }
    assert_eq!(per_partition, [IN_FLIGHT_LIMIT; 5]);
    let switches = claims
        .windows(2)
        .filter(|w| w[0].partition != w[1].partition)
        .count();
    assert_eq!(
        switches, 4,
        "records left a partition before its batch was full"
    );

    assert!(
        unknown.claim().await.is_none(),
        "a missing topic goes by key"
    );
    assert!(
        !topics_on_broker(&stack.brokers).contains(&missing),
        "reading the partition count created {missing}"
    );
    shutdown.trigger();
}
