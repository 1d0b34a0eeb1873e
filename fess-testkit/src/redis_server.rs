use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// A real `redis-server` (Debian's, installed by scripts/setup.sh) on 127.0.0.1, nothing saved
/// to disk, killed on drop.
pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(free_port(), None)
    }

    /// A server that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(free_port(), Some(password.to_string()))
    }

    fn start_with(port: u16, password: Option<String>) -> RedisServer {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd
            .spawn()
            .expect("starting redis-server (installed by scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer {
            port,
            password,
            child: Some(child),
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty).
    pub fn restart(&mut self) {
        self.kill();
        *self = RedisServer::start_with(self.port, self.password.clone());
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
