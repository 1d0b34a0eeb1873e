use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::service::{Recipe, ServiceProcess};
use crate::tmp_dir;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 GET with short timeouts.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<HttpAnswer> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    })
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One sample of an instant query: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// A real Prometheus server (Debian's `prometheus`, installed by scripts/setup.sh) on
/// 127.0.0.1, scraping the given targets, with its storage in a temporary folder; killed on drop.
pub struct PrometheusServer {
    pub port: u16,
    process: ServiceProcess,
    dir: PathBuf,
}

impl PrometheusServer {
    /// Scrapes `targets` (`host:port`, path `/metrics`) every `interval`, and evaluates the
    /// rules in `rule_files` as often.
    pub fn start(
        targets: &[SocketAddr],
        interval: Duration,
        rule_files: &[&Path],
    ) -> PrometheusServer {
        PrometheusServer::start_jobs(&[("fess", targets, "")], interval, rule_files)
    }

    /// One scrape job per `(name, targets, settings)`, `settings` being further YAML lines of
    /// the job (`scheme: https`, `basic_auth: …`, `tls_config: …`), indented by four spaces.
    pub fn start_jobs(
        jobs: &[(&str, &[SocketAddr], &str)],
        interval: Duration,
        rule_files: &[&Path],
    ) -> PrometheusServer {
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let dir = tmp_dir(&format!(
            "prometheus-{}",
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let secs = format!("{}ms", interval.as_millis().max(100));
        let jobs: String = jobs
            .iter()
            .map(|(name, targets, settings)| {
                let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
                format!(
                    "  - job_name: {name}\n{settings}    static_configs:\n      - targets: [{}]\n",
                    targets.join(", ")
                )
            })
            .collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - '{}'\n", p.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: {secs}\n  scrape_timeout: {secs}\n  evaluation_interval: {secs}\n\
             rule_files:\n{}\
             scrape_configs:\n{jobs}",
            if rules.is_empty() { "  []\n".to_string() } else { rules.concat() },
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let command = |port: u16| {
            let mut cmd = Command::new("prometheus");
            cmd.arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{port}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn");
            cmd
        };
        let ready = |port: u16| {
            http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/-/ready")
                .is_ok_and(|a| a.status == 200)
        };
        let process = ServiceProcess::start(&Recipe {
            name: "prometheus",
            command: &command,
            ready: &ready,
            timeout: Duration::from_secs(30),
        });
        PrometheusServer {
            port: process.port,
            process,
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `GET /api/v1/<path>` as JSON (`data` of a successful answer).
    pub fn api(&self, path: &str) -> serde_json::Value {
        let a = http_get(self.addr(), &format!("/api/v1/{path}"))
            .unwrap_or_else(|e| panic!("prometheus /api/v1/{path}: {e}"));
        let v: serde_json::Value = serde_json::from_str(&a.body)
            .unwrap_or_else(|e| panic!("prometheus answered {} {}: {e}", a.status, a.body));
        assert_eq!(v["status"], "success", "{path}: {v}");
        v["data"].clone()
    }

    /// An instant query's samples.
    pub fn query(&self, promql: &str) -> Vec<Sample> {
        let data = self.api(&format!("query?query={}", url_encode(promql)));
        data["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{promql}: not a vector: {data}"))
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// Queries until `done(samples)` or the timeout; returns the last samples and whether
    /// `done` was reached.
    pub fn query_until(
        &self,
        promql: &str,
        timeout: Duration,
        done: impl Fn(&[Sample]) -> bool,
    ) -> (Vec<Sample>, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let samples = self.query(promql);
            if done(&samples) {
                return (samples, true);
            }
            if Instant::now() >= deadline {
                return (samples, false);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
