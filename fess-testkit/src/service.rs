//! Starting a test service without races. Tests run in parallel (threads of one binary, and
//! several binaries at once), so "pick a free port, release it, start the server on it" can
//! hand two tests the same port: one server fails to bind and the other test's server answers
//! its readiness check. Here, instead:
//! - ports are reserved across every test process (a lock file per port, held until the
//!   process exits) and taken below the kernel's ephemeral range, so neither another test nor
//!   an outgoing connection or a `:0` listener gets them;
//! - a start is complete only when the process we spawned is still alive, owns the listening
//!   socket (checked in `/proc`) and answers a protocol-level ping;
//! - a start that lost its port (the process exited) is retried on a new one.

use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Port locks held for the life of the process.
static RESERVED: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// Ports below this are never handed out by the kernel for `:0` or outgoing connections.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// A loopback TCP port that no other test (in any process using this kit) gets, free now.
pub fn free_port() -> u16 {
    let dir = std::env::temp_dir().join("fess-test-ports");
    std::fs::create_dir_all(&dir).expect("creating the port lock folder");
    let low = 10_000u16;
    let high = ephemeral_low().max(low + 1000);
    for _ in 0..1000 {
        let port = low + (random() % u64::from(high - low)) as u16;
        let Ok(lock) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{port}.lock")))
        else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // another test holds it
        }
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue; // something outside the kit uses it; the lock is dropped
        }
        RESERVED.lock().unwrap().push(lock);
        return port;
    }
    panic!("no free loopback port found in {low}..{high}");
}

/// Inodes of the sockets listening on `port` (IPv4 and IPv6).
fn listening_inodes(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // State 0A is LISTEN.
            if local_port == Some(port) && f.get(3) == Some(&"0A") {
                if let Some(inode) = f.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    inodes
}

/// Whether process `pid` holds a socket listening on `port`.
fn owns_listener(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| inodes.iter().any(|i| target == Path::new(i)))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A service process started by a test, killed on drop.
pub(crate) struct ServiceProcess {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// How to start one kind of service.
pub(crate) struct Recipe<'a> {
    /// Shown in messages (`redis-server`, `tansu`, ...).
    pub name: &'static str,
    /// The command that serves on the given port.
    pub command: &'a dyn Fn(u16) -> Command,
    /// A protocol-level ping: true once the service on the port answers as it should.
    pub ready: &'a dyn Fn(u16) -> bool,
    /// Longest wait for one start.
    pub timeout: Duration,
}

impl ServiceProcess {
    /// Starts the service on a reserved port, on a new one if the start loses its port.
    pub fn start(recipe: &Recipe) -> ServiceProcess {
        let mut last = String::new();
        for _ in 0..5 {
            match ServiceProcess::try_start(recipe, free_port()) {
                Ok(s) => return s,
                Err(e) => last = e,
            }
        }
        panic!("{} did not start after 5 attempts: {last}", recipe.name);
    }

    /// Starts the service on `port` (a port the test already gave to a client); a start that
    /// fails while the old process releases the port is retried on the same port.
    pub fn start_on(recipe: &Recipe, port: u16) -> ServiceProcess {
        let mut last = String::new();
        for _ in 0..5 {
            match ServiceProcess::try_start(recipe, port) {
                Ok(s) => return s,
                Err(e) => last = e,
            }
        }
        panic!("{} did not start on port {port}: {last}", recipe.name);
    }

    fn try_start(recipe: &Recipe, port: u16) -> Result<ServiceProcess, String> {
        // A name of its own per start: a restart must not share the log of the process it
        // replaces (whose drop removes it).
        static STARTS: AtomicU64 = AtomicU64::new(0);
        let log = std::env::temp_dir().join(format!(
            "fess-{}-{}-{}.log",
            recipe.name,
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = (recipe.command)(port)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", recipe.name));
        let mut service = ServiceProcess {
            port,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + recipe.timeout;
        loop {
            let child = service.child.as_mut().expect("just started");
            if let Ok(Some(status)) = child.try_wait() {
                let msg = format!("exited ({status}) on port {port}:\n{}", tail(&service.log));
                service.child = None;
                return Err(msg);
            }
            // Ours is the process listening and the one answering: checked before and after
            // the ping, so an answer from another process on the same port never counts.
            let pid = child.id();
            if owns_listener(pid, port) && (recipe.ready)(port) && owns_listener(pid, port) {
                return Ok(service);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready on port {port} within {:?}:\n{}",
                    recipe.timeout,
                    tail(&service.log)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (a `kill` signal name such as `STOP` or `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the service is running");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill (procps, installed by scripts/setup.sh)");
        assert!(sent.success(), "kill -{signal} {}", child.id());
    }

    /// Kills the process and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
        // FESS_KEEP_LOGS=1 keeps the services' logs in the temp folder, for a failure's story.
        if std::env::var_os("FESS_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
