//! Real services for tests: a tansu broker per test on a free loopback port (the binary
//! scripts/setup.sh builds), a real consumer reading what was published, a real `redis-server`
//! per test, a real Prometheus server scraping what a test serves, and a local RTSP camera.

mod prometheus_server;
mod redis_server;
mod rtsp_server;
pub use prometheus_server::{http_get, HttpAnswer, PrometheusServer, Sample};
pub use redis_server::RedisServer;
pub use rtsp_server::RtspServer;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, TopicPartitionList};

/// The FESS cache (`FESS_CACHE`, else `~/.cache/fess`), as scripts/lib.sh defines it.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FESS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/fess")
        })
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running tansu broker on 127.0.0.1, killed on drop.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            port,
            child: Some(child),
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker process (its in-memory topics go with it).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = Broker::start_on(self.port);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
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
        let consumer: BaseConsumer = ClientConfig::new()
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
        if tpl.count() == 0 {
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
            if !self.assigned {
                self.assigned = self.assign();
                if !self.assigned {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            }
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.seen.push(Consumed {
                    topic: m.topic().to_string(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    headers,
                    json: serde_json::from_slice(m.payload().unwrap_or_default())
                        .expect("JSON payload"),
                });
            }
        }
        done(&self.seen)
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

pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fess-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
