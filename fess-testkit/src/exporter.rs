//! The exporter binary as tests run it: on a free port, with its own stats socket.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{http_get, tmp_dir, workspace_binary, HttpAnswer};

/// A running `fess-exporter`, killed on drop.
pub struct ExporterProcess {
    child: Child,
    pub addr: SocketAddr,
    pub socket: PathBuf,
    pub log: Arc<Mutex<String>>,
}

impl ExporterProcess {
    /// Starts it with `args` (plus `--listen 127.0.0.1:0` and a stats socket in a folder of
    /// the test's own) and waits until it serves.
    pub fn start(test: &str, args: &[&str]) -> ExporterProcess {
        let dir = tmp_dir(&format!("exporter-{test}"));
        let socket = dir.join("stats.sock");
        let mut child = Command::new(workspace_binary("fess-exporter"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("FESS_STATS_SOCKET", &socket)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let (stderr, lines) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .strip_prefix("fess-exporter: serving ")
                    .and_then(|l| l.split_once("://"))
                    .and_then(|(_, l)| l.split('/').next())
                {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
                let mut l = lines.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("the exporter did not start:\n{}", log.lock().unwrap())
            });
        ExporterProcess {
            child,
            addr,
            socket,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn get(&self, path: &str) -> HttpAnswer {
        http_get(self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn metrics(&self) -> String {
        let a = self.get("/metrics");
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    pub fn health(&self) -> serde_json::Value {
        let body = self.get("/health").body;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// Polls `/health` until `done` or the timeout; returns the last answer and whether `done`
    /// was reached.
    pub fn health_until(
        &self,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> (serde_json::Value, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let h = self.health();
            if done(&h) || Instant::now() >= deadline {
                let ok = done(&h);
                return (h, ok);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Resident memory in kB, from /proc.
    pub fn rss_kb(&self) -> u64 {
        rss_kb(self.pid())
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

impl Drop for ExporterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of `pid` in kB.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The value of the series `series` (name and labels exactly as rendered) in `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}
