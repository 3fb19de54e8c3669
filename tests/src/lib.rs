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
        let mut config = tributary_enricher::Config {
            kafka: self.kafka.clone(),
            ..Default::default()
        };
        config.enricher.group = format!("{}-enricher", self.name);
        config.enricher.admin_listen = "127.0.0.1:0".parse().unwrap();
        self.tasks.push(tokio::spawn(tributary_enricher::run(
            config,
            self.shutdown.clone(),
        )));
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
        let server = clickhouse::Client::default().with_url(&self.clickhouse.url);
        let _ = server
            .query(&format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.clickhouse.database
            ))
            .execute()
            .await;
    }
}

/// The JSON request sample of seed 000, exactly as the document prints it.
pub fn seed_000_json() -> String {
    let text = std::fs::read_to_string(seed_path("000_ce11c2da22697c2b.txt")).expect("seed 000");
    let start = text.find('{').expect("sample start");
    let end = text.find("application/xml, text/xml").expect("sample end");
    text[start..end].trim().to_string()
}

/// Path of a seed document (`shared/seeds/` beside the repository).
pub fn seed_path(file: &str) -> std::path::PathBuf {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    repo.join("../shared/seeds").join(file)
}
