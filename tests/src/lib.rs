//! A harness for end-to-end tests: it points the three services at the real broker and
//! ClickHouse started by `scripts/test.sh` (or `deploy/local/stack up`), gives every test its
//! own topics, consumer groups and database, and runs the services in-process through the same
//! `run` functions the binaries call.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use tokio::net::TcpListener;
use tributary_service::{ClickHouseConfig, KafkaConfig, Shutdown, Topics};

/// Where the test stack runs. Tests fail loudly when it is not there: a test that needs a
/// server never passes by skipping.
pub struct Stack {
    pub brokers: String,
    pub clickhouse_url: String,
}

impl Stack {
    pub fn from_env() -> Stack {
        let brokers = std::env::var("TRIBUTARY_TEST_KAFKA").expect(
            "TRIBUTARY_TEST_KAFKA is not set: run the tests with scripts/test.sh, which starts the broker and ClickHouse",
        );
        let clickhouse_url = std::env::var("TRIBUTARY_TEST_CLICKHOUSE_URL")
            .expect("TRIBUTARY_TEST_CLICKHOUSE_URL is not set: run the tests with scripts/test.sh");
        Stack {
            brokers,
            clickhouse_url,
        }
    }
}

/// One test's private slice of the stack.
pub struct Pipeline {
    pub name: String,
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub gateway_url: String,
    pub shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Kafka properties that make group joins fast on a test broker.
fn test_kafka(stack: &Stack, topics: Topics) -> KafkaConfig {
    let mut kafka = KafkaConfig {
        brokers: stack.brokers.clone(),
        topics,
        ..Default::default()
    };
    for (k, v) in std::env::var("TRIBUTARY_TEST_KAFKA_PROPERTIES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
    {
        kafka.properties.insert(k.into(), v.into());
    }
    kafka
}

/// Create `topics` with `partitions` each on the broker.
pub async fn create_topics(brokers: &str, topics: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new: Vec<_> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("create topics");
    for result in results {
        if let Err((topic, code)) = result {
            assert!(
                code == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                "creating {topic}: {code:?}"
            );
        }
    }
}

impl Pipeline {
    /// Fresh topics, groups and database named after `test`, with nothing started yet.
    pub async fn new(test: &str) -> Pipeline {
        tributary_service::telemetry::init_tracing();
        let stack = Stack::from_env();
        let name = format!("{test}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let topics = Topics {
            raw: format!("{name}.raw"),
            normalized: format!("{name}.normalized"),
            dlq: format!("{name}.dlq"),
        };
        create_topics(
            &stack.brokers,
            &[&topics.raw, &topics.normalized, &topics.dlq],
            2,
        )
        .await;
        Pipeline {
            kafka: test_kafka(&stack, topics),
            clickhouse: ClickHouseConfig {
                url: stack.clickhouse_url.clone(),
                database: format!("t_{name}"),
                ..Default::default()
            },
            name,
            gateway_url: String::new(),
            shutdown: Shutdown::new(),
            tasks: Vec::new(),
        }
    }

    /// Start gateway, enricher and sink; returns once the gateway listens.
    pub async fn start_all(mut self) -> Pipeline {
        self.start_gateway().await;
        self.start_enricher();
        self.start_sink().await;
        self
    }

    pub async fn start_gateway(&mut self) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.gateway_url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = tributary_gateway::Config {
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            ..Default::default()
        };
        config.gateway.admin_listen = "127.0.0.1:0".parse().unwrap();
        config.gateway.publish_timeout_ms = 5000;
        let shutdown = self.shutdown.clone();
        self.tasks.push(tokio::spawn(tributary_gateway::run(
            config, listener, shutdown,
        )));
    }

    pub fn start_enricher(&mut self) {
        self.start_enricher_with(|_| {});
    }

    pub async fn start_sink(&mut self) {
        let mut config = tributary_sink::Config {
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            ..Default::default()
        };
        config.sink.group = format!("{}-sink", self.name);
        config.sink.admin_listen = "127.0.0.1:0".parse().unwrap();
        config.sink.batch.max_wait_ms = 200;
        // Apply the schema before anything is posted so queries never race the migration.
        tributary_sink::migrate::migrate(&config.clickhouse)
            .await
            .expect("migrate test database");
        self.tasks.push(tokio::spawn(tributary_sink::run(
            config,
            self.shutdown.clone(),
        )));
    }

    /// A ClickHouse client for this test's database.
    pub fn clickhouse(&self) -> clickhouse::Client {
        tributary_sink::clickhouse_client(&self.clickhouse)
    }

    /// Poll `count_sql` (one UInt64) until it reaches `want` or `timeout` passes.
    pub async fn wait_for_count(&self, count_sql: &str, want: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let client = self.clickhouse();
        loop {
            let got: u64 = match client.query(count_sql).fetch_one().await {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("waiting for {count_sql:?}: {e}");
                    0
                }
            };
            if got >= want || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Rows and distinct `event_uid`s of `events` matching `condition` (SQL), counted without
    /// `FINAL` after a settling pause and a forced merge: what is stored, not what queries
    /// collapse to.
    pub async fn stored_after_merge(&self, condition: &str) -> (u64, u64) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let client = self.clickhouse();
        client
            .query("OPTIMIZE TABLE events FINAL")
            .execute()
            .await
            .expect("merge events");
        client
            .query(&format!(
                "SELECT count(), uniqExact(event_uid) FROM events WHERE {condition}"
            ))
            .fetch_one()
            .await
            .expect("count stored rows")
    }

    /// Stop every service and drop the test database.
    pub async fn stop(self) {
        self.shutdown.trigger();
        for task in self.tasks {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("service failed: {e:#}"),
                Ok(Err(e)) => panic!("service panicked: {e}"),
                Err(_) => panic!("service did not stop within 30 s"),
            }
        }
        let server = self.clickhouse.server_client();
        let _ = server
            .query(&format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.clickhouse.database
            ))
            .execute()
            .await;
    }
}

/// A sample the project cut from an API document, as printed (`fixtures/`, see its README).
pub fn fixture(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// The JSON request sample of seed 000, exactly as the document prints it.
pub fn seed_000_json() -> String {
    fixture("000_mobile_batch/request.json")
}

// =============================================================================================
// Operations helpers (tests/tests/operations.rs): services started one instance at a time,
// each with its own Shutdown and a known admin address, and /metrics scraping.
// =============================================================================================

/// One running service process, stoppable on its own (a pod going away mid-stream).
pub struct Instance {
    /// Where its `/metrics`, `/healthz` and `/readyz` listen.
    pub admin: std::net::SocketAddr,
    /// The public HTTP address, for a gateway.
    pub url: Option<String>,
    pub shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    fn spawn<F>(
        admin: std::net::SocketAddr,
        url: Option<String>,
        pipeline: &Pipeline,
        run: F,
    ) -> Instance
    where
        F: FnOnce(Shutdown) -> tokio::task::JoinHandle<anyhow::Result<()>>,
    {
        let shutdown = Shutdown::new();
        // Stopping the pipeline stops its instances too.
        let (all, this) = (pipeline.shutdown.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = all.wait() => this.trigger(),
                _ = this.wait() => {},
            }
        });
        Instance {
            admin,
            url,
            task: run(shutdown.clone()),
            shutdown,
        }
    }

    /// `http://<admin>/<path>`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}/{}", self.admin, path.trim_start_matches('/'))
    }

    /// Wait until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = reqwest::get(self.admin_url("readyz")).await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready",
                self.admin
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrape this instance's `/metrics`.
    pub async fn scrape(&self) -> Scrape {
        Scrape::from_admin(self.admin).await
    }

    /// Trigger this instance's shutdown and wait for it to finish cleanly.
    pub async fn stop(self) {
        self.shutdown.trigger();
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("service at {} failed: {e:#}", self.admin),
            Ok(Err(e)) => panic!("service at {} panicked: {e}", self.admin),
            Err(_) => panic!("service at {} did not stop within 30 s", self.admin),
        }
    }
}

/// A loopback address nothing listens on right now. The services bind their admin port from
/// config and do not hand the bound address back, so tests choose it first.
pub fn free_local_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

impl Pipeline {
    /// Move this pipeline to fresh topics with `partitions` partitions each (the default is 2),
    /// before any service starts.
    pub async fn with_partitions(mut self, partitions: i32) -> Pipeline {
        let topics = Topics {
            raw: format!("{}.p{partitions}.raw", self.name),
            normalized: format!("{}.p{partitions}.normalized", self.name),
            dlq: format!("{}.p{partitions}.dlq", self.name),
        };
        create_topics(
            &self.kafka.brokers,
            &[&topics.raw, &topics.normalized, &topics.dlq],
            partitions,
        )
        .await;
        self.kafka.topics = topics;
        self
    }

    /// Consumer groups of this pipeline's enrichers and sinks.
    pub fn enricher_group(&self) -> String {
        format!("{}-enricher", self.name)
    }
    pub fn sink_group(&self) -> String {
        format!("{}-sink", self.name)
    }

    /// A gateway with its own shutdown and admin address; the first one also sets `gateway_url`.
    pub async fn start_gateway_instance(&mut self) -> Instance {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        if self.gateway_url.is_empty() {
            self.gateway_url = url.clone();
        }
        let admin = free_local_addr();
        let mut config = tributary_gateway::Config {
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            ..Default::default()
        };
        config.gateway.admin_listen = admin;
        config.gateway.publish_timeout_ms = 5000;
        Instance::spawn(admin, Some(url), self, |shutdown| {
            tokio::spawn(tributary_gateway::run(config, listener, shutdown))
        })
    }

    /// An enricher in this pipeline's enricher group, with its own shutdown and admin address.
    pub fn start_enricher_instance(&mut self) -> Instance {
        let admin = free_local_addr();
        let mut config = tributary_enricher::Config {
            kafka: self.kafka.clone(),
            ..Default::default()
        };
        config.enricher.group = self.enricher_group();
        config.enricher.admin_listen = admin;
        Instance::spawn(admin, None, self, |shutdown| {
            tokio::spawn(tributary_enricher::run(config, shutdown))
        })
    }

    /// A sink in this pipeline's sink group, with its own shutdown and admin address.
    pub async fn start_sink_instance(&mut self) -> Instance {
        let admin = free_local_addr();
        let mut config = tributary_sink::Config {
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            ..Default::default()
        };
        config.sink.group = self.sink_group();
        config.sink.admin_listen = admin;
        config.sink.batch.max_wait_ms = 200;
        tributary_sink::migrate::migrate(&config.clickhouse)
            .await
            .expect("migrate test database");
        Instance::spawn(admin, None, self, |shutdown| {
            tokio::spawn(tributary_sink::run(config, shutdown))
        })
    }

    /// Members of `group` the broker reports (DescribeGroups), or why it cannot say.
    pub fn group_members(&self, group: &str) -> Result<usize, String> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka.brokers)
            .create()
            .map_err(|e| e.to_string())?;
        let list = consumer
            .fetch_group_list(Some(group), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        let info = list
            .groups()
            .iter()
            .find(|g| g.name() == group)
            .ok_or_else(|| format!("group {group} not listed"))?;
        Ok(info.members().len())
    }
}

/// Label pairs of one sample, in exposition order.
type Labels = Vec<(String, String)>;

/// One scrape of a Prometheus text endpoint: every sample with its labels.
#[derive(Debug, Default)]
pub struct Scrape {
    samples: Vec<(String, Labels, f64)>,
}

impl Scrape {
    /// GET `http://<admin>/metrics` and parse it.
    pub async fn from_admin(admin: std::net::SocketAddr) -> Scrape {
        let response = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap_or_else(|e| panic!("scraping {admin}: {e}"));
        assert_eq!(response.status(), 200, "/metrics on {admin}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/plain"),
            "/metrics content-type {content_type:?}"
        );
        Scrape::parse(&response.text().await.unwrap())
    }

    /// Parse the text exposition format (`name{l="v",...} value` lines, `#` comments).
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = match line.rsplit_once(' ') {
                Some(split) => split,
                None => panic!("bad metrics line {line:?}"),
            };
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), Vec::new()),
                Some((name, rest)) => (
                    name.to_string(),
                    parse_labels(rest.strip_suffix('}').expect("closing brace")),
                ),
            };
            samples.push((name, labels, value));
        }
        Scrape { samples }
    }

    /// Sum of the samples named `name` whose labels include every pair of `labels`; 0 when none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, v)| v).sum()
    }

    /// Whether any sample named `name` with `labels` is exposed.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    /// Label values of `label` among the samples named `name` with `labels`.
    pub fn label_values(&self, name: &str, labels: &[(&str, &str)], label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .matching(name, labels)
            .filter_map(|(l, _)| l.iter().find(|(k, _)| k == label).map(|(_, v)| v.clone()))
            .collect();
        values.sort();
        values.dedup();
        values
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = (&'a [(String, String)], f64)> + 'a {
        self.samples
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, l, v)| (l.as_slice(), *v))
    }
}

fn parse_labels(text: &str) -> Labels {
    let mut labels = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek() == Some(&',') || chars.peek() == Some(&' ') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} value is quoted");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key, value));
    }
}

// =============================================================================================
// Gateway API helpers (tests/tests/gateway_api.rs, tests/tests/openapi.rs): a gateway with a
// custom config, reading back this test's raw topic, and the seed documents' request samples
// as printed (`fixtures/`).
// =============================================================================================

impl Pipeline {
    /// Start only the gateway, as `start_gateway` does, with `edit` applied to its config first
    /// (a broker nobody listens on, a short publish timeout, ...).
    pub async fn start_gateway_with(&mut self, edit: impl FnOnce(&mut tributary_gateway::Config)) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.gateway_url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = tributary_gateway::Config {
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            ..Default::default()
        };
        config.gateway.admin_listen = "127.0.0.1:0".parse().unwrap();
        config.gateway.publish_timeout_ms = 5000;
        edit(&mut config);
        let shutdown = self.shutdown.clone();
        self.tasks.push(tokio::spawn(tributary_gateway::run(
            config, listener, shutdown,
        )));
    }

    /// Start the enricher as `start_enricher` does, with `edit` applied to its config first.
    pub fn start_enricher_with(&mut self, edit: impl FnOnce(&mut tributary_enricher::Config)) {
        let mut config = tributary_enricher::Config {
            kafka: self.kafka.clone(),
            ..Default::default()
        };
        config.enricher.group = format!("{}-enricher", self.name);
        config.enricher.admin_listen = "127.0.0.1:0".parse().unwrap();
        edit(&mut config);
        self.tasks.push(tokio::spawn(tributary_enricher::run(
            config,
            self.shutdown.clone(),
        )));
    }

    /// A consumer's settings for reading this test's topics by assignment (group
    /// `<test>-<role>`, nothing committed).
    fn reader_config(&self, role: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.kafka.properties {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &self.kafka.brokers)
            .set("group.id", format!("{}-{role}", self.name))
            .set("enable.auto.commit", "false");
        config
    }

    /// Every record value on `topic` now, from offset 0 of each partition to its high
    /// watermark, as stored (for tests that look at the bytes themselves).
    pub async fn topic_payloads(&self, topic: &str) -> Vec<Vec<u8>> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Message, Offset, TopicPartitionList};

        let consumer: BaseConsumer = self
            .reader_config("bytes-reader")
            .create()
            .expect("topic consumer");
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(10);
            let metadata = consumer
                .fetch_metadata(Some(&topic), timeout)
                .expect("topic metadata");
            let mut partitions = TopicPartitionList::new();
            let mut left = 0i64;
            for partition in metadata.topics()[0].partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, partition.id(), timeout)
                    .expect("watermarks");
                left += high - low;
                partitions
                    .add_partition_offset(&topic, partition.id(), Offset::Beginning)
                    .expect("partition offset");
            }
            consumer.assign(&partitions).expect("assign partitions");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let mut payloads = Vec::new();
            while left > 0 && std::time::Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(500)) {
                    Some(Ok(message)) => {
                        left -= 1;
                        payloads.push(message.payload().unwrap_or_default().to_vec());
                    }
                    Some(Err(error)) => panic!("reading {topic}: {error}"),
                    None => {}
                }
            }
            assert_eq!(left, 0, "records of {topic} not read in 30 s");
            payloads
        })
        .await
        .expect("reader thread")
    }

    /// The batches on this test's raw topic, read from the start of every partition until `want`
    /// arrived or `timeout` passed; then whatever arrived, for the caller to assert on.
    pub async fn raw_batches(
        &self,
        want: usize,
        timeout: Duration,
    ) -> Vec<tributary_schemas::RawBatch> {
        use rdkafka::consumer::{Consumer, StreamConsumer};
        use rdkafka::{Message, Offset, TopicPartitionList};

        let topic = &self.kafka.topics.raw;
        let consumer: StreamConsumer = self
            .reader_config("raw-reader")
            .create()
            .expect("raw topic consumer");
        // Assigned rather than subscribed: nothing waits for a group join.
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("raw topic metadata");
        let mut partitions = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            partitions
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("partition offset");
        }
        consumer.assign(&partitions).expect("assign raw partitions");
        let deadline = tokio::time::Instant::now() + timeout;
        let mut batches = Vec::new();
        while batches.len() < want {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Err(_) => break,
                Ok(Err(error)) => panic!("reading {topic}: {error}"),
                Ok(Ok(message)) => {
                    let payload = message.payload().expect("a raw record has a payload");
                    batches.push(
                        tributary_schemas::decode(payload)
                            .unwrap_or_else(|e| panic!("a record on {topic} is no RawBatch: {e}")),
                    );
                }
            }
        }
        batches
    }
}

/// The DataContract XML request sample of seed 000, exactly as the document prints it.
pub fn seed_000_xml() -> String {
    fixture("000_mobile_batch/request.xml")
}

/// The request body of the `nth` (from 0) example of `POST {path}` in seed 001, as printed
/// (`/api/v1/lead_analytics` has two: the lead sample and the browser-extension sample).
pub fn seed_001_request(path: &str, nth: usize) -> String {
    let name = path.trim_start_matches("/api/v1/");
    match nth {
        0 => fixture(&format!("001_crm/{name}.request.json")),
        1 if name == "lead_analytics" => {
            fixture("001_crm/lead_analytics.browser_extension.request.json")
        }
        _ => panic!("seed 001 has no example {nth} of POST {path}"),
    }
}

/// The body of seed 002's "Example query" (`curl ... -d '...'`), as printed.
pub fn seed_002_curl_body() -> String {
    fixture("002_s2s/customEvent.curl.json")
}

/// The example array of seed 002's batch method `method` (`registrationBatch`, ...), as printed.
pub fn seed_002_batch_example(method: &str) -> String {
    fixture(&format!("002_s2s/{method}.json"))
}

/// The `nth` (from 0) "Sample JSON" of seed 003, as printed (neither is valid JSON as written).
pub fn seed_003_sample(nth: usize) -> String {
    match nth {
        0 => fixture("003_activity/sample_single.as_printed.json"),
        1 => fixture("003_activity/sample_bulk.as_printed.json"),
        _ => panic!("seed 003 has no sample {nth}"),
    }
}

/// Dead letters for the DLQ tool's and the debugger's tests: a request the enricher refused
/// whole, as it would have written it.
pub mod dead_letters {
    use std::collections::HashMap;
    use std::time::Duration;

    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::ClientConfig;
    use tributary_schemas::{DlqRecord, RawBatch};
    use tributary_service::KafkaConfig;

    /// An activity upload of two events, as the gateway would have published it.
    pub fn activity_batch(customer: &str) -> RawBatch {
        let body = serde_json::json!([
            {"asset_id": "dlq-test", "activity_name": "Purchase", "timestamp": "2026-04-28T16:47:37",
             "identity": customer, "activity_source": "web", "activity_params": {"n": 1}},
            {"asset_id": "dlq-test", "activity_name": "Refund", "timestamp": "2026-04-28T16:48:37",
             "identity": customer, "activity_source": "web", "activity_params": {"n": 2}}
        ]);
        RawBatch {
            batch_id: uuid::Uuid::now_v7().to_string(),
            source: "activity.upload".into(),
            tenant: "default".into(),
            received_at: tributary_service::now_ms(),
            request_id: format!("dlq-{customer}"),
            client_ip: Some("127.0.0.1".into()),
            user_agent: None,
            content_type: "application/json".into(),
            body_encoding: "identity".into(),
            body: serde_json::to_vec(&body).unwrap(),
            attributes: HashMap::new(),
        }
    }

    /// Write a dead letter for `batch` as if the enricher had refused it whole.
    pub async fn dead_letter(kafka: &KafkaConfig, batch: &RawBatch, reason: &str, failed_at: i64) {
        let record = DlqRecord {
            stage: "enricher".into(),
            reason: reason.into(),
            detail: "the tenant's rules were missing (fixed since)".into(),
            source_topic: kafka.topics.raw.clone(),
            source_partition: 0,
            source_offset: 0,
            tenant: Some(batch.tenant.clone()),
            event_uid: None,
            failed_at,
            original: tributary_schemas::encode(batch).unwrap(),
        };
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &kafka.brokers)
            .create()
            .unwrap();
        let payload = tributary_schemas::encode(&record).unwrap();
        producer
            .send(
                FutureRecord::to(&kafka.topics.dlq)
                    .key(&record.key())
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("the broker takes the dead letter");
    }
}
