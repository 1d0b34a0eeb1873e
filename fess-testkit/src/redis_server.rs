use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::service::{Recipe, ServiceProcess};

/// A real `redis-server` (Debian's, installed by scripts/setup.sh) on 127.0.0.1, killed on drop.
/// Nothing is saved to disk unless a test calls [`RedisServer::save`]; a restart then finds
/// what was saved, as a persistent production Redis would.
pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    dir: PathBuf,
    process: ServiceProcess,
}

/// Whether a Redis server answers `PING` on `port` (`+PONG`, or `-NOAUTH` from one that wants
/// a password: both are Redis speaking).
fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 64];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(None, None, None)
    }

    /// A server that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(None, Some(password.to_string()), None)
    }

    fn start_with(
        port: Option<u16>,
        password: Option<String>,
        dir: Option<PathBuf>,
    ) -> RedisServer {
        let dir = dir.unwrap_or_else(|| {
            static SERVERS: AtomicU64 = AtomicU64::new(0);
            let dir = crate::tmp_dir(&format!(
                "redis-{}",
                SERVERS.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("creating the Redis folder");
            dir
        });
        let command = |port: u16| {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir);
            if let Some(p) = &password {
                cmd.args(["--requirepass", p]);
            }
            cmd
        };
        let recipe = Recipe {
            name: "redis-server",
            command: &command,
            ready: &answers_ping,
            timeout: Duration::from_secs(20),
        };
        let process = match port {
            Some(port) => ServiceProcess::start_on(&recipe, port),
            None => ServiceProcess::start(&recipe),
        };
        RedisServer {
            port: process.port,
            password,
            dir,
            process,
        }
    }

    /// `redis://[:password@]127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// Makes (or replaces) the ACL user `name` with `password` and the ACL `rules` (e.g.
    /// `["~*", "+@all", "-smembers"]`); returns the URL that logs in as that user.
    pub fn acl_user(&self, name: &str, password: &str, rules: &[&str]) -> String {
        let pass = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", name, "reset", "on", &pass];
        args.extend_from_slice(rules);
        assert_eq!(self.cli(&args).trim(), "OK", "ACL SETUSER {name} {rules:?}");
        format!("redis://{name}:{password}@127.0.0.1:{}/", self.port)
    }

    /// Kills the server; its data goes with it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Writes the data to disk now (`SAVE`), for the next [`RedisServer::restart`] to load.
    pub fn save(&self) {
        assert_eq!(self.cli(&["SAVE"]).trim(), "OK");
    }

    /// Starts it again on the same port: empty, or with what [`RedisServer::save`] saved.
    pub fn restart(&mut self) {
        self.kill();
        *self = RedisServer::start_with(
            Some(self.port),
            self.password.clone(),
            Some(self.dir.clone()),
        );
    }

    /// Runs `redis-cli` against this server with `args`, returning its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            cmd.env("REDISCLI_AUTH", p);
        }
        let out = cmd.args(args).output().expect("running redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
