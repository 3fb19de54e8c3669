//! TLS and SASL towards Kafka, HTTPS and credentials towards ClickHouse (issue 19), against
//! real processes:
//! - a Tansu broker of the test's own with `--authentication` (SASL; its SCRAM-SHA-512 user
//!   made with `tansu user create` before authentication is switched on);
//! - Debian's stunnel4 terminating TLS in front of that broker and in front of the test
//!   ClickHouse, with a CA and a server certificate made here (rcgen), and a second CA that
//!   signed nothing of theirs, for the untrusted case.
//!
//! The broker is Tansu 0.6, whose own `--cert`/`--key` TLS is not wired to its listener; the
//! terminating proxy is how the clients' TLS is exercised. Tansu advertises the proxy's port,
//! so every connection librdkafka makes goes through TLS.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tributary_service::config::{
    ClickHouseConfig, KafkaConfig, KafkaSecurity, SaslMechanism, SecurityProtocol, WireCompression,
};
use tributary_service::shutdown::Shutdown;
use tributary_tests::{create_topics, free_local_addr, seed_000_json, Pipeline, Stack};

const USER: &str = "tributary";
const PASSWORD: &str = "s3cret-Scram";

/// A child process killed with the test.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test's own broker with SASL, and stunnel's TLS in front of it and of ClickHouse.
struct SecureStack {
    dir: PathBuf,
    /// `127.0.0.1:port` of stunnel's TLS listener for Kafka (what Tansu advertises).
    kafka_tls: String,
    /// `https://127.0.0.1:port` of stunnel's TLS listener for ClickHouse's HTTP interface.
    clickhouse_https: String,
    _processes: Vec<Process>,
}

fn tool(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} is needed for this test (set {env}); scripts/test.sh installs it",
        path.display()
    );
    path
}

fn wait_for_port(addr: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn(command: &mut Command, log: &Path) -> Process {
    let log = std::fs::File::create(log).unwrap();
    Process(
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}")),
    )
}

/// A CA: its certificate's PEM and the issuer that signs with it.
fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl SecureStack {
    /// Start the broker with `topics` and the user, then the TLS proxies.
    async fn start(topics: &[&str]) -> SecureStack {
        let dir = std::env::temp_dir().join(format!(
            "tributary-secure-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let ca = make_ca("Tributary test CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("other-ca.pem"), make_ca("Someone else's CA").pem()).unwrap();
        let key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();

        let home = std::env::var("HOME").unwrap_or_default();
        let tansu = tool(
            "TRIBUTARY_TANSU",
            &format!("{home}/.cache/tributary/tools/bin/tansu"),
        );
        let stunnel = tool("TRIBUTARY_STUNNEL", "/usr/bin/stunnel4");
        let plain = free_local_addr().to_string();
        let tls = free_local_addr().to_string();
        let https = free_local_addr().to_string();

        let broker = |authentication: bool, advertised: &str, log: &str| {
            let mut command = Command::new(&tansu);
            command
                .current_dir(&dir)
                .arg("broker")
                .args(["--storage-engine", "sqlite://tansu.db"])
                .args(["--listener-url", &format!("tcp://{plain}")])
                .args(["--advertised-listener-url", &format!("tcp://{advertised}")]);
            if authentication {
                command.arg("--authentication");
            }
            spawn(&mut command, &dir.join(log))
        };

        // Users and topics first, without authentication (Tansu admits nothing else before a
        // client authenticated, and a user can only be made by a client).
        {
            let _setup = broker(false, &plain, "tansu-setup.log");
            wait_for_port(&plain, "tansu (setup)");
            let made = Command::new(&tansu)
                .args(["user", "create", "--broker", &format!("tcp://{plain}")])
                .args(["--mechanism", "scram512", USER, PASSWORD])
                .output()
                .expect("tansu user create");
            assert!(made.status.success(), "tansu user create: {made:?}");
            create_topics(&plain, topics, 2).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&plain).is_ok() {
            assert!(Instant::now() < deadline, "the setup broker did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
        let tansu = broker(true, &tls, "tansu.log");
        wait_for_port(&plain, "tansu");

        let clickhouse = Stack::from_env()
            .clickhouse_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let config = format!(
            "foreground = yes\npid =\nsyslog = no\ndebug = info\n\
             cert = {dir}/server.pem\nkey = {dir}/server.key\n\
             [kafka]\naccept = {tls}\nconnect = {plain}\n\
             [clickhouse]\naccept = {https}\nconnect = {clickhouse}\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("stunnel.conf"), config).unwrap();
        let proxy = spawn(
            Command::new(&stunnel).arg(dir.join("stunnel.conf")),
            &dir.join("stunnel.log"),
        );
        wait_for_port(&tls, "stunnel (kafka)");
        wait_for_port(&https, "stunnel (clickhouse)");

        SecureStack {
            kafka_tls: tls,
            clickhouse_https: format!("https://{https}"),
            dir,
            _processes: vec![proxy, tansu],
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// `kafka` pointed at the TLS listener with SASL_SSL / SCRAM-SHA-512.
    fn kafka(&self, kafka: &KafkaConfig, password: &str, ca: PathBuf) -> KafkaConfig {
        KafkaConfig {
            brokers: self.kafka_tls.clone(),
            security: KafkaSecurity {
                protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some(SaslMechanism::ScramSha512),
                sasl_username: Some(USER.into()),
                sasl_password: Some(password.into()),
                ca_file: Some(ca),
            },
            ..kafka.clone()
        }
    }

    /// `clickhouse` pointed at the HTTPS listener, with LZ4 on the wire as to a hosted server
    /// (the loopback default sends none; this is where LZ4 inserts and results are run).
    fn clickhouse(&self, clickhouse: &ClickHouseConfig, ca: PathBuf) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_https.clone(),
            ca_file: Some(ca),
            compression: WireCompression::Lz4,
            ..clickhouse.clone()
        }
    }
}

impl Drop for SecureStack {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("broker and stunnel logs kept in {}", self.dir.display());
        }
    }
}

fn topics(pipeline: &Pipeline) -> [String; 3] {
    let t = &pipeline.kafka.topics;
    [t.raw.clone(), t.normalized.clone(), t.dlq.clone()]
}

#[tokio::test]
async fn the_pipeline_runs_over_sasl_ssl_kafka_and_https_clickhouse() {
    let mut pipeline = Pipeline::new("secure").await;
    let names = topics(&pipeline);
    let secure = SecureStack::start(&names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    pipeline.kafka = secure.kafka(&pipeline.kafka, PASSWORD, secure.ca());
    pipeline.clickhouse = secure.clickhouse(&pipeline.clickhouse, secure.ca());
    let pipeline = pipeline.start_all().await;

    let response = reqwest::Client::new()
        .post(format!("{}/api/analytics/events", pipeline.gateway_url))
        .header("content-type", "application/json")
        .body(seed_000_json())
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 202, "published over SASL_SSL");

    // Read back over HTTPS: the sink's insert and this query both went through stunnel.
    let seen = pipeline
        .wait_for_count(
            "SELECT count() FROM events FINAL",
            1,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        seen, 1,
        "the sample's event is stored through TLS end to end"
    );
    let log = std::fs::read_to_string(secure.dir.join("stunnel.log")).unwrap();
    assert!(
        log.contains("[kafka] accepted") && log.contains("[clickhouse] accepted"),
        "both proxies carried connections:\n{log}"
    );
    pipeline.stop().await;
}

/// Run `service` and expect it to stop with an error naming `wanted` within 30 s.
async fn refused<F>(what: &str, service: F, wanted: &[&str])
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(30), service)
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after 30 s, a hang instead of an error"));
    let error = format!("{:#}", outcome.expect_err(what));
    for needle in wanted {
        assert!(error.contains(needle), "{what}: {error:?} lacks {needle:?}");
    }
    eprintln!("{what}: stopped after {:?}: {error}", started.elapsed());
}

#[tokio::test]
async fn a_wrong_password_or_an_untrusted_certificate_stops_the_service_at_startup() {
    let pipeline = Pipeline::new("refused").await;
    let names = topics(&pipeline);
    let secure = SecureStack::start(&names.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let enricher = |kafka: KafkaConfig| {
        let mut config = tributary_enricher::Config {
            kafka,
            ..Default::default()
        };
        config.enricher.group = format!("{}-enricher", pipeline.name);
        config.enricher.admin_listen = "127.0.0.1:0".parse().unwrap();
        tributary_enricher::run(config, Shutdown::new())
    };
    let sink = |kafka: KafkaConfig, clickhouse: ClickHouseConfig| {
        let mut config = tributary_sink::Config {
            kafka,
            clickhouse,
            ..Default::default()
        };
        config.sink.group = format!("{}-sink", pipeline.name);
        config.sink.admin_listen = "127.0.0.1:0".parse().unwrap();
        tributary_sink::run(config, Shutdown::new())
    };

    // The right settings pass the check quickly.
    let good = secure.kafka(&pipeline.kafka, PASSWORD, secure.ca());
    tributary_service::preflight::check_kafka(&good)
        .await
        .expect("SASL_SSL with the right password and CA");
    tributary_service::preflight::clickhouse(
        &secure.clickhouse(&pipeline.clickhouse, secure.ca()),
        Duration::from_secs(10),
    )
    .await
    .expect("HTTPS with the right CA");

    refused(
        "enricher, wrong SASL password",
        enricher(secure.kafka(&pipeline.kafka, "wrong", secure.ca())),
        &["refused the connection", "SASL_PASSWORD"],
    )
    .await;
    refused(
        "enricher, broker certificate from an untrusted CA",
        enricher(secure.kafka(&pipeline.kafka, PASSWORD, secure.other_ca())),
        &["refused the connection", "certificate verify failed"],
    )
    .await;
    let mut wrong_password = secure.clickhouse(&pipeline.clickhouse, secure.ca());
    wrong_password.password = "wrong".into();
    refused(
        "sink, wrong ClickHouse password",
        sink(good.clone(), wrong_password),
        &["refused user \"default\"", "TRIBUTARY_CLICKHOUSE__PASSWORD"],
    )
    .await;
    refused(
        "sink, ClickHouse certificate from an untrusted CA",
        sink(
            good.clone(),
            secure.clickhouse(&pipeline.clickhouse, secure.other_ca()),
        ),
        &["TLS failed", "certificate verify failed"],
    )
    .await;
    refused(
        "sink, SASL settings without a password",
        sink(
            KafkaConfig {
                security: KafkaSecurity {
                    sasl_password: None,
                    ..good.security.clone()
                },
                ..good.clone()
            },
            pipeline.clickhouse.clone(),
        ),
        &["sasl_password"],
    )
    .await;
    pipeline.stop().await;
}
