//! Real services for tests: a tansu broker per test on a free loopback port (the binary
//! scripts/setup.sh builds; behind stunnel with TLS, SCRAM users or client certificates made
//! for the test), a real consumer reading what was published, a real `redis-server`
//! per test, a real Prometheus server scraping what a test serves, a local RTSP camera, and
//! clips of exactly N frames.

mod clip;
mod exporter;
mod pki;
mod prometheus_server;
mod redis_server;
mod rtsp_server;
mod secure_broker;
mod service;
mod systemd;
mod tmpfs;
pub use clip::{clip, wait_eos};
pub use exporter::{rss_kb, sample, ExporterProcess};
pub use pki::{Issued, Pki};
pub use prometheus_server::{http_get, HttpAnswer, PrometheusServer, Sample};
pub use redis_server::{start_link, RedisServer, RedisTls};
pub use rtsp_server::RtspServer;
pub use secure_broker::{SecureBroker, SecureOptions};
pub use service::free_port;
pub use systemd::verify_unit;
pub use tmpfs::Tmpfs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use service::{Recipe, ServiceProcess};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, TopicPartitionList};

pub use fess::dirs::cache_dir;

/// A binary of the workspace (`fess-exporter`, `fess-test-rtsp-server`): tests run from
/// target/<profile>/deps, the binaries sit one level up.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(Path::parent).expect("a target dir");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is not built (cargo build --release --workspace first)",
        bin.display()
    );
    bin
}

/// A test media file that scripts/setup.sh put in the cache.
pub fn media(name: &str) -> PathBuf {
    let p = cache_dir().join("media").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh first",
        p.display()
    );
    p
}

/// The tansu binary that scripts/setup.sh builds.
pub fn tansu_path() -> PathBuf {
    let p = std::env::var_os("FESS_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("tansu/bin/tansu"));
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh first",
        p.display()
    );
    p
}

/// A running tansu broker on 127.0.0.1, killed on drop.
pub struct Broker {
    pub port: u16,
    process: ServiceProcess,
}

/// Whether a Kafka broker answers an ApiVersions (v0) request on `port` without error.
pub(crate) fn answers_api_versions(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let correlation: i32 = 0x0fe5;
    let client = b"fess-testkit";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&correlation.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    let mut request = (body.len() as i32).to_be_bytes().to_vec();
    request.extend_from_slice(&body);
    // Size, correlation id, error code.
    let mut head = [0u8; 10];
    s.write_all(&request).is_ok()
        && s.read_exact(&mut head).is_ok()
        && head[4..8] == correlation.to_be_bytes()
        && head[8..10] == [0, 0]
}

impl Broker {
    pub fn start() -> Broker {
        Broker::started(ServiceProcess::start(&Broker::recipe()))
    }

    /// Starts a broker on `port`, a port from [`free_port`] that clients were already given.
    pub fn start_on(port: u16) -> Broker {
        Broker::started(ServiceProcess::start_on(&Broker::recipe(), port))
    }

    fn started(process: ServiceProcess) -> Broker {
        Broker {
            port: process.port,
            process,
        }
    }

    fn recipe() -> Recipe<'static> {
        fn command(port: u16) -> Command {
            let url = format!("tcp://127.0.0.1:{port}");
            let mut cmd = Command::new(tansu_path());
            cmd.args(["broker", "--listener-url", &url])
                .args(["--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"]);
            cmd
        }
        Recipe {
            name: "tansu",
            command: &command,
            ready: &answers_api_versions,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker process (its in-memory topics go with it).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = Broker::start_on(self.port);
    }
}

/// Validators of the three event schemas (`EventKind::json_schema`, formats checked).
static SCHEMAS: std::sync::LazyLock<Vec<(fess::events::EventKind, jsonschema::Validator)>> =
    std::sync::LazyLock::new(|| {
        fess::events::EventKind::ALL
            .into_iter()
            .map(|kind| {
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&kind.json_schema())
                    .expect("the generated schemas are valid JSON Schema");
                (kind, validator)
            })
            .collect()
    });

/// Checks an event message against the schema of its `event_type`.
pub fn check_event_schema(json: &serde_json::Value) -> Result<(), String> {
    let event_type = json.get("event_type").and_then(|t| t.as_str());
    let kind = event_type
        .and_then(fess::events::EventKind::of_event_type)
        // An unknown type is checked against the motion schema, which refuses its event_type.
        .unwrap_or(fess::events::EventKind::Motion);
    let (_, validator) = SCHEMAS
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("a validator per kind");
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub topic: String,
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub json: serde_json::Value,
}

impl Consumed {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.as_str())
    }
}

/// A consumer reading every partition of `topics` from the start (no group: assignment is
/// explicit, so a restarted in-memory broker is simply read again from offset 0).
pub struct Reader {
    consumer: BaseConsumer,
    topics: Vec<String>,
    assigned: bool,
    pub seen: Vec<Consumed>,
}

impl Reader {
    pub fn new(bootstrap: &str, topics: &[&str]) -> Reader {
        Reader::with_config(bootstrap, topics, &[])
    }

    /// A reader that also sets these librdkafka properties (TLS, SASL).
    pub fn with_config(bootstrap: &str, topics: &[&str], properties: &[(&str, &str)]) -> Reader {
        let mut config = ClientConfig::new();
        for (k, v) in properties {
            config.set(*k, *v);
        }
        let consumer: BaseConsumer = config
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "fess-tests")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        Reader {
            consumer,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            assigned: false,
            seen: Vec::new(),
        }
    }

    fn assign(&mut self) -> bool {
        let Ok(md) = self.consumer.fetch_metadata(None, Duration::from_secs(2)) else {
            return false;
        };
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            if self.topics.iter().any(|n| n == t.name()) {
                for p in t.partitions() {
                    tpl.add_partition_offset(t.name(), p.id(), rdkafka::Offset::Beginning)
                        .unwrap();
                }
            }
        }
        // All of them, or a topic created a moment later would never be read.
        let found: std::collections::BTreeSet<String> = tpl
            .elements()
            .iter()
            .map(|e| e.topic().to_string())
            .collect();
        if found.len() < self.topics.len() {
            return false;
        }
        self.consumer.assign(&tpl).is_ok()
    }

    /// Polls until `done(seen)` or the timeout; returns whether `done` was reached.
    pub fn read_until(&mut self, timeout: Duration, done: impl Fn(&[Consumed]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if done(&self.seen) {
                return true;
            }
            self.poll_once();
        }
        done(&self.seen)
    }

    /// Waits until every topic exists and is assigned (a restarted broker has none until a
    /// publisher creates them).
    pub fn wait_for_topics(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.assigned && Instant::now() < deadline {
            self.poll_once();
        }
        self.assigned
    }

    /// Assigns the topics' partitions if not yet done, else reads at most one message.
    fn poll_once(&mut self) {
        if !self.assigned {
            self.assigned = self.assign();
            if !self.assigned {
                std::thread::sleep(Duration::from_millis(200));
            }
            return;
        }
        if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let json: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON payload");
            // Every message a test reads back is held to the published schemas.
            if let Err(e) = check_event_schema(&json) {
                panic!("a message on {} breaks its schema: {e}\n{json}", m.topic());
            }
            self.seen.push(Consumed {
                topic: m.topic().to_string(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                headers,
                json,
            });
        }
    }

    /// Forgets the assignment (after the broker restarted with new, empty topics).
    pub fn reassign(&mut self) {
        let _ = self.consumer.unassign();
        self.assigned = false;
    }

    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.seen
            .iter()
            .map(|c| c.json["event_id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Cases for a bounded fuzzing test: `default` in the test command, `FESS_FUZZ_CASES` for a
/// longer run.
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("FESS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A PNG file of a few bytes (signature and header only) that declares `width` × `height`
/// pixels: what a hostile "image" looks like to a decoder that trusts its header.
pub fn png_declaring(path: &Path, width: u32, height: u32) {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32fast::hash(&ihdr).to_be_bytes());
    std::fs::write(path, png).unwrap();
}

pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fess-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
