//! The consumers' stall watchdog (`service/src/watchdog.rs`) against the real broker: a group
//! member kept from its group's backlog rejoins by itself, counts its rejoins, fails
//! `/healthz` when rejoining does not help, and is healthy again once it makes progress.

use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use tributary_service::lag::spawn_group_monitor;
use tributary_service::watchdog::{Health, Watchdog, WatchdogConfig};
use tributary_service::{kafka, KafkaConfig, Shutdown};
use tributary_tests::{create_topics, Scrape, Stack};

fn config(brokers: &str) -> KafkaConfig {
    let mut kafka = KafkaConfig {
        brokers: brokers.into(),
        ..Default::default()
    };
    for (k, v) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ] {
        kafka.properties.insert(k.into(), v.into());
    }
    kafka
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_kept_from_the_backlog_rejoins_fails_healthz_and_heals_with_progress() {
    let stack = Stack::from_env();
    let name = format!("watchdog_{}", uuid::Uuid::new_v4().simple());
    let (topic, group) = (format!("{name}.in"), format!("{name}-group"));
    create_topics(&stack.brokers, &[topic.as_str()], 1).await;
    let kafka = config(&stack.brokers);
    let producer = kafka::producer(&kafka).unwrap();
    for n in 0..10 {
        let key = n.to_string();
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload("x"),
                Duration::from_secs(10),
            )
            .await
            .expect("produced");
    }

    // The holder takes the only partition and never commits: the group's lag stays.
    let holder: StreamConsumer = kafka::consumer(&kafka, &group).unwrap();
    holder.subscribe(&[topic.as_str()]).unwrap();
    let holding = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), holder.recv()).await
            {
            }
            if !holder.assignment().map(|a| a.count() == 0).unwrap_or(true) {
                break;
            }
        }
        holder
    });
    let holder = holding.await.unwrap();
    assert_eq!(
        holder.assignment().unwrap().count(),
        1,
        "the holder got the partition"
    );
    let keep_polling = Shutdown::new();
    let holder_task = {
        let stop = keep_polling.clone();
        tokio::spawn(async move {
            while !stop.is_triggered() {
                let _ = tokio::time::timeout(Duration::from_millis(100), holder.recv()).await;
            }
            holder
        })
    };

    // The watched member: no partition (or one it cannot commit on), while the group has lag.
    let watched: StreamConsumer = kafka::consumer(&kafka, &group).unwrap();
    watched.subscribe(&[topic.as_str()]).unwrap();
    let shutdown = Shutdown::new();
    let (_, measurements) = spawn_group_monitor(
        &kafka,
        &group,
        &topic,
        Duration::from_millis(300),
        shutdown.clone(),
    )
    .unwrap();
    let health = Health::default();
    let mut watchdog = Watchdog::new(
        &WatchdogConfig {
            enabled: true,
            stall_after_ms: 3_000,
            max_rejoins_without_progress: 2,
        },
        &group,
        &topic,
        measurements,
        health.clone(),
    );
    let rejoins = || {
        Scrape::parse(&metrics_text()).sum("tributary_consumer_rejoins_total", &[("group", &group)])
    };
    assert_eq!(rejoins(), 0.0, "exported at 0 from the start");

    // Phase 1: kept from the backlog, it rejoins and then fails /healthz.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut unhealthy_after = None;
    while Instant::now() < deadline && unhealthy_after.is_none() {
        tokio::select! {
            _ = watchdog.measured() => {
                watchdog.check(&watched, false);
                if !health.is_healthy() {
                    unhealthy_after = Some(rejoins());
                }
            }
            // Polled like a pipeline polls; whatever it reads it does not commit.
            _ = tokio::time::timeout(Duration::from_millis(100), watched.recv()) => {}
        }
    }
    assert_eq!(
        unhealthy_after,
        Some(2.0),
        "two rejoins without progress fail /healthz"
    );

    // Phase 2: the holder leaves; the watched member gets the partition on a rejoin or the
    // rebalance, commits what it reads, and is healthy again.
    keep_polling.trigger();
    let holder = holder_task.await.unwrap();
    tokio::task::spawn_blocking(move || drop(holder))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && !health.is_healthy() {
        tokio::select! {
            _ = watchdog.measured() => { watchdog.check(&watched, false); }
            received = tokio::time::timeout(Duration::from_millis(100), watched.recv()) => {
                if let Ok(Ok(message)) = received {
                    let mut list = TopicPartitionList::new();
                    list.add_partition_offset(&topic, message.partition(), Offset::Offset(message.offset() + 1)).unwrap();
                    let _ = watched.commit(&list, CommitMode::Sync);
                }
            }
        }
    }
    assert!(
        health.is_healthy(),
        "committed progress makes it healthy again"
    );
    shutdown.trigger();
    tokio::task::spawn_blocking(move || drop(watched))
        .await
        .unwrap();
}

fn metrics_text() -> String {
    use prometheus::{Encoder, TextEncoder};
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&prometheus::gather(), &mut buf)
        .unwrap();
    String::from_utf8(buf).unwrap()
}
