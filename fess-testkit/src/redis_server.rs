use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::service::{Recipe, ServiceProcess};

/// A real `redis-server` (Debian's, installed by scripts/setup.sh) on 127.0.0.1, nothing saved
/// to disk, killed on drop.
pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
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
        RedisServer::start_with(None, None)
    }

    /// A server that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(None, Some(password.to_string()))
    }

    fn start_with(port: Option<u16>, password: Option<String>) -> RedisServer {
        let command = |port: u16| {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"]);
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

    /// Kills the server; its data goes with it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port (empty).
    pub fn restart(&mut self) {
        self.kill();
        *self = RedisServer::start_with(Some(self.port), self.password.clone());
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
