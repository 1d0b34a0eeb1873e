//! The EventPublisher and the health check against a broker reached only over TLS (tansu behind
//! stunnel), with SCRAM users or client certificates: events arrive; a wrong password, a
//! certificate that does not verify or a missing client certificate is named in the warnings
//! and the health report (never a secret), and the events wait in the spool until the
//! configuration is fixed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fess::delivery::kafka_config::KafkaSettings;
use fess::delivery::publisher::{EventPublisher, PublisherBuilder, PublisherStats};
use fess::events::AlertLevel;
use fess::observability::health::HealthChecker;
use fess_testkit::*;

const TOPICS: [&str; 3] = [
    "motion.detection.events",
    "face.recognition.events",
    "alert.events",
];
const PASSWORD: &str = "Pw-9f3kQ-scram";
const WRONG: &str = "Wrong-7xZq2-pw";

type Lines = Arc<Mutex<Vec<String>>>;

/// A publisher to `bootstrap` with `config`, whose every log line is kept in `lines`. zstd:
/// tansu's SQL storage (the one keeping SCRAM users) cannot serve snappy batches back.
fn publisher(bootstrap: &str, config: &str, lines: &Lines) -> PublisherBuilder {
    let keep = lines.clone();
    EventPublisher::builder()
        .bootstrap_servers(bootstrap)
        .topics(TOPICS[0], TOPICS[1], TOPICS[2])
        .compression("zstd")
        .kafka_config(config)
        .flush_timeout(Duration::from_secs(10))
        .on_log(move |sev, msg| keep.lock().unwrap().push(format!("{sev:?}: {msg}")))
}

/// Waits up to 30 s for a warning holding every one of `parts`.
fn warned(lines: &Lines, parts: &[&str]) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let found = lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with("Warning") && parts.iter().all(|p| l.contains(p)))
            .cloned();
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn assert_no_secret(lines: &Lines, secrets: &[&str]) {
    for l in lines.lock().unwrap().iter() {
        for s in secrets {
            assert!(!l.contains(s), "a log line shows a secret: {l}");
        }
    }
}

/// The SCRAM client settings of `user` with the password in `password_file`.
fn scram(broker: &SecureBroker, mechanism: &str, user: &str, password_file: &str) -> String {
    format!(
        "security.protocol=SASL_SSL;sasl.mechanism={mechanism};sasl.username={user};\
         sasl.password=@{password_file};ssl.ca.location={}",
        broker.pki.ca.display()
    )
}

fn password_file(broker: &SecureBroker, name: &str, password: &str) -> String {
    let path = broker.dir().join(name);
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path.display().to_string()
}

fn scram_broker(name: &str) -> SecureBroker {
    SecureBroker::start(
        &tmp_dir(name),
        &SecureOptions {
            users: vec![
                ("fess256".into(), PASSWORD.into(), "scram256"),
                ("fess512".into(), PASSWORD.into(), "scram512"),
            ],
            ..Default::default()
        },
    )
}

/// A reader logged in as fess512.
fn reader(broker: &SecureBroker) -> Reader {
    let ca = broker.pki.ca.display().to_string();
    Reader::with_config(
        &broker.bootstrap(),
        &TOPICS,
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "fess512"),
            ("sasl.password", PASSWORD),
            ("ssl.ca.location", &ca),
        ],
    )
}

/// Closes `p` (what it could not deliver stays in its spool) and lets its spool go.
fn closed(p: EventPublisher) -> PublisherStats {
    p.close();
    p.stats()
}

/// Waits until `p`'s check of the broker failed (warned in `lines`): it tried and got nowhere.
fn refused(p: EventPublisher, lines: &Lines) -> PublisherStats {
    assert!(
        warned(lines, &["not reachable yet"]).is_some(),
        "{:?}",
        lines.lock().unwrap()
    );
    let stats = closed(p);
    assert_eq!(stats.topics[2].1.success, 0, "delivered: {stats:?}");
    stats
}

/// Waits up to 60 s until `p` has sent everything, its spool's backlog included.
fn sent_everything(p: &EventPublisher) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let s = p.stats();
        if s.spool_records == 0 && s.queued == 0 && s.broker_up {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn alerts(p: &EventPublisher, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            p.publish_alert("cam_01", AlertLevel::Warning, &format!("alert {i}"))
                .unwrap()
        })
        .collect()
}

/// Reads until every id of `ids` arrived; returns how often each arrived.
fn read_all(reader: &mut Reader, ids: &[String]) -> usize {
    let done = reader.read_until(Duration::from_secs(60), |seen| {
        ids.iter()
            .all(|id| seen.iter().any(|c| c.json["event_id"] == id.as_str()))
    });
    assert!(done, "not every event arrived: {} read", reader.seen.len());
    reader
        .seen
        .iter()
        .filter(|c| ids.iter().any(|id| c.json["event_id"] == id.as_str()))
        .count()
}

#[test]
fn scram_over_tls_delivers_zstd_compressed_events() {
    let broker = scram_broker("scram-ok");
    let file = password_file(&broker, "kafka-password", PASSWORD);
    let lines = Lines::default();
    let mut ids = Vec::new();
    for (mechanism, user) in [("SCRAM-SHA-256", "fess256"), ("SCRAM-SHA-512", "fess512")] {
        let p = publisher(
            &broker.bootstrap(),
            &scram(&broker, mechanism, user, &file),
            &lines,
        )
        .build()
        .unwrap();
        ids.extend(alerts(&p, 10));
        assert!(
            p.flush(Duration::from_secs(30)),
            "{mechanism}: not delivered"
        );
        let stats = p.stats();
        assert_eq!(stats.topics[2].1.success, 10, "{mechanism}: {stats:?}");
        assert_eq!(stats.security_error, None);
        p.close();
    }
    let mut reader = reader(&broker);
    assert_eq!(read_all(&mut reader, &ids), 20, "each event once");
    assert_no_secret(&lines, &[PASSWORD]);
}

#[test]
fn a_wrong_password_is_named_and_the_events_wait_for_the_right_one() {
    let broker = scram_broker("scram-wrong");
    let wrong = password_file(&broker, "wrong-password", WRONG);
    let right = password_file(&broker, "kafka-password", PASSWORD);
    let spool = broker.dir().join("spool");
    let lines = Lines::default();
    let p = publisher(
        &broker.bootstrap(),
        &scram(&broker, "SCRAM-SHA-256", "fess256", &wrong),
        &lines,
    )
    .spool_dir(&spool)
    .flush_timeout(Duration::from_secs(1))
    .build()
    .unwrap();
    let ids = alerts(&p, 5);
    let line = warned(&lines, &["Kafka authentication failed"]);
    assert!(
        line.is_some(),
        "no warning names the cause: {:?}",
        lines.lock().unwrap()
    );
    let why = p.stats().security_error.expect("the cause in the stats");
    assert!(why.contains("authentication failed"), "{why}");
    assert!(warned(&lines, &["not reachable yet", "authentication failed"]).is_some());
    let stats = closed(p);
    assert_eq!(stats.spool_records, 5, "the events wait in the spool");
    assert_eq!(stats.topics[2].1.success, 0);

    // The health check says the same, not "unreachable".
    let mut settings = KafkaSettings {
        bootstrap_servers: broker.bootstrap(),
        ..Default::default()
    };
    settings.extra = fess::delivery::kafka_config::parse_extra(&scram(
        &broker,
        "SCRAM-SHA-256",
        "fess256",
        &wrong,
    ))
    .unwrap();
    let health = HealthChecker::new(None, Some(&settings)).unwrap();
    let error = health.get_health_status().components.kafka.error;
    let error = error.expect("kafka unhealthy");
    assert!(error.contains("authentication failed"), "{error}");
    assert!(
        !error.contains(WRONG) && !error.contains(PASSWORD),
        "{error}"
    );

    let fixed = publisher(
        &broker.bootstrap(),
        &scram(&broker, "SCRAM-SHA-256", "fess256", &right),
        &lines,
    )
    .spool_dir(&spool)
    .build()
    .unwrap();
    assert!(sent_everything(&fixed), "the spooled events are sent");
    let stats = closed(fixed);
    assert_eq!(stats.topics[2].1.success, 5, "{stats:?}");
    let mut reader = reader(&broker);
    assert_eq!(read_all(&mut reader, &ids), 5, "each spooled event once");
    assert_no_secret(&lines, &[PASSWORD, WRONG]);
}

#[test]
fn a_server_certificate_that_does_not_verify_is_refused() {
    let broker = scram_broker("tls-untrusted");
    let file = password_file(&broker, "kafka-password", PASSWORD);
    let spool = broker.dir().join("spool");
    let lines = Lines::default();
    // The test CA is not among the system's: no ssl.ca.location, no trust.
    let untrusted = scram(&broker, "SCRAM-SHA-256", "fess256", &file)
        .replace(&format!(";ssl.ca.location={}", broker.pki.ca.display()), "");
    let p = publisher(&broker.bootstrap(), &untrusted, &lines)
        .spool_dir(&spool)
        .flush_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let ids = alerts(&p, 3);
    let line = warned(
        &lines,
        &["Kafka TLS connection failed", "certificate verify failed"],
    );
    assert!(line.is_some(), "{:?}", lines.lock().unwrap());
    assert_eq!(closed(p).spool_records, 3);
    // Plaintext to the TLS port is no way round it: nothing is delivered.
    let plain_lines = Lines::default();
    let plain = publisher(&broker.bootstrap(), "", &plain_lines)
        .spool_dir(&spool)
        .flush_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(refused(plain, &plain_lines).spool_records, 3);
    // Trusting the CA fixes it.
    let fixed = publisher(
        &broker.bootstrap(),
        &scram(&broker, "SCRAM-SHA-256", "fess256", &file),
        &lines,
    )
    .spool_dir(&spool)
    .build()
    .unwrap();
    assert!(sent_everything(&fixed));
    closed(fixed);
    let mut reader = reader(&broker);
    assert_eq!(read_all(&mut reader, &ids), 3);
    assert_no_secret(&lines, &[PASSWORD]);
}

#[test]
fn the_host_name_is_verified() {
    let broker = SecureBroker::start(
        &tmp_dir("tls-hostname"),
        &SecureOptions {
            server_names: Some("DNS:kafka.example".into()),
            ..Default::default()
        },
    );
    let lines = Lines::default();
    let config = format!(
        "security.protocol=SSL;ssl.ca.location={}",
        broker.pki.ca.display()
    );
    let p = publisher(&broker.bootstrap(), &config, &lines)
        .spool_dir(broker.dir().join("spool"))
        .flush_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    alerts(&p, 1);
    let line = warned(&lines, &["Kafka TLS connection failed"]).unwrap_or_default();
    assert!(
        line.contains("certificate verify failed") || line.contains("ostname"),
        "{line} {:?}",
        lines.lock().unwrap()
    );
    assert_eq!(closed(p).spool_records, 1);
}

#[test]
fn mutual_tls_needs_a_client_certificate_from_the_ca() {
    let broker = SecureBroker::start(
        &tmp_dir("mtls"),
        &SecureOptions {
            client_certs: true,
            ..Default::default()
        },
    );
    let spool = broker.dir().join("spool");
    let ca = broker.pki.ca.display().to_string();
    let lines = Lines::default();
    let no_cert = format!("security.protocol=SSL;ssl.ca.location={ca}");
    let p = publisher(&broker.bootstrap(), &no_cert, &lines)
        .spool_dir(&spool)
        .flush_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut ids = alerts(&p, 2);
    assert_eq!(
        refused(p, &lines).spool_records,
        2,
        "without a client certificate"
    );

    // A certificate from another CA is refused too.
    let stranger = Pki::new(&broker.dir().join("other-pki"), "other-ca").issue("fess", "DNS:fess");
    let with = |cert: &Issued| {
        format!(
            "{no_cert};ssl.certificate.location={};ssl.key.location={}",
            cert.cert.display(),
            cert.key.display()
        )
    };
    let stranger_lines = Lines::default();
    let p = publisher(&broker.bootstrap(), &with(&stranger), &stranger_lines)
        .spool_dir(&spool)
        .flush_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    ids.extend(alerts(&p, 1));
    let stats = refused(p, &stranger_lines);
    assert_eq!(stats.spool_records, 3, "with a stranger's certificate");

    let client = broker.client_cert("fess-client");
    let p = publisher(&broker.bootstrap(), &with(&client), &lines)
        .spool_dir(&spool)
        .build()
        .unwrap();
    ids.extend(alerts(&p, 2));
    assert!(sent_everything(&p));
    closed(p);
    let client_config = [
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca.as_str()),
        ("ssl.certificate.location", client.cert.to_str().unwrap()),
        ("ssl.key.location", client.key.to_str().unwrap()),
    ];
    let mut reader = Reader::with_config(&broker.bootstrap(), &TOPICS, &client_config);
    assert_eq!(read_all(&mut reader, &ids), 5);
}

#[test]
fn a_secret_file_that_cannot_be_read_is_refused_at_build() {
    let lines = Lines::default();
    let e = publisher(
        "127.0.0.1:9",
        "sasl.mechanism=PLAIN;sasl.username=u;sasl.password=@/nonexistent/kafka-password",
        &lines,
    )
    .build()
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains("sasl.password") && e.contains("/nonexistent/kafka-password"),
        "{e}"
    );
}

/// Every SASL mechanism and codec the build promises is in librdkafka: a client configured
/// with it is created (librdkafka refuses one it was built without, e.g. "No provider for SASL
/// mechanism GSSAPI", "libzstd not available at build time"). PLAIN, OAUTHBEARER and GSSAPI
/// cannot log in here (tansu has no PLAIN, there is no identity provider or KDC): this proves
/// the build, the SCRAM tests above prove the path.
#[test]
fn every_mechanism_and_codec_the_build_promises_is_there() {
    let configs = [
        "security.protocol=SASL_SSL;sasl.mechanism=PLAIN;sasl.username=u;sasl.password=p",
        "security.protocol=SASL_SSL;sasl.mechanism=SCRAM-SHA-512;sasl.username=u;sasl.password=p",
        "security.protocol=SASL_SSL;sasl.mechanism=OAUTHBEARER;\
         enable.sasl.oauthbearer.unsecure.jwt=true;sasl.oauthbearer.config=principal=fess",
        "security.protocol=SASL_SSL;sasl.mechanism=OAUTHBEARER;sasl.oauthbearer.method=oidc;\
         sasl.oauthbearer.client.id=fess;sasl.oauthbearer.client.secret=s;\
         sasl.oauthbearer.token.endpoint.url=https://127.0.0.1:9/token",
        // No kinit at start: there is no Kerberos here.
        "security.protocol=SASL_PLAINTEXT;sasl.mechanism=GSSAPI;\
         sasl.kerberos.service.name=kafka;sasl.kerberos.min.time.before.relogin=0",
        "security.protocol=SSL",
    ];
    for config in configs {
        let settings = KafkaSettings {
            bootstrap_servers: "127.0.0.1:9".into(),
            compression: "zstd".into(),
            extra: fess::delivery::kafka_config::parse_extra(config).unwrap(),
            ..Default::default()
        };
        let client = settings
            .client_config()
            .unwrap()
            .create::<rdkafka::producer::BaseProducer>();
        assert!(client.is_ok(), "{config}: {:?}", client.err());
    }
}
