use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use fess::gallery::redis_link::{LinkConfig, LinkEvent, RedisLink};
use fess::gallery::redis_settings::RedisSettings;
use fess::gallery::{DEFAULT_CACHE_KEY, DEFAULT_GALLERY_KEY};

use crate::pki::{Issued, Pki};
use crate::service::{Recipe, ServiceProcess};

/// The TLS side of a server that speaks only TLS: a CA of its own, the server's certificate
/// (for 127.0.0.1) and a client certificate it signed.
#[derive(Clone)]
pub struct RedisTls {
    pub ca: PathBuf,
    pub server: Issued,
    pub client: Issued,
    /// Whether the server asks clients for a certificate (`tls-auth-clients`).
    pub client_certs: bool,
}

/// How a server is started: kept for a restart.
#[derive(Clone, Default)]
struct Setup {
    password: Option<String>,
    tls: Option<RedisTls>,
    /// `--aclfile`: the users file.
    acl_file: Option<PathBuf>,
}

/// A real `redis-server` (Debian's, installed by scripts/setup.sh) on 127.0.0.1, killed on drop.
/// Nothing is saved to disk unless a test calls [`RedisServer::save`]; a restart then finds
/// what was saved, as a persistent production Redis would.
pub struct RedisServer {
    pub port: u16,
    setup: Setup,
    dir: PathBuf,
    process: ServiceProcess,
}

/// fessface's link to the gallery in `redis` (2-dimensional embeddings, polled every 100 ms,
/// `timeout` for each request) and the events it reports.
pub fn start_link(
    redis: RedisSettings,
    timeout: Duration,
) -> (RedisLink, mpsc::Receiver<LinkEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let link = RedisLink::start(
        LinkConfig {
            redis,
            gallery_key: DEFAULT_GALLERY_KEY.into(),
            cache_key: DEFAULT_CACHE_KEY.into(),
            timeout,
            poll: Duration::from_millis(100),
            dim: Some(2),
        },
        Box::new(move |e| {
            let _ = tx.lock().unwrap().send(e);
        }),
    );
    (link, rx)
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
        RedisServer::start_with(None, Setup::default(), None)
    }

    /// A server that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        let setup = Setup {
            password: Some(password.to_string()),
            ..Setup::default()
        };
        RedisServer::start_with(None, setup, None)
    }

    /// A server that speaks only TLS, with certificates made for it, asking clients for
    /// theirs when `client_certs`; its users are `users` (`user …` lines of an ACL file, read
    /// with `--aclfile`) and a password-less `admin`, which [`cli`](Self::cli) logs in as.
    pub fn with_tls(client_certs: bool, users: &[&str]) -> RedisServer {
        let dir = RedisServer::new_dir();
        let pki = Pki::new(&dir.join("pki"), "redis-test-ca");
        let tls = RedisTls {
            ca: pki.ca.clone(),
            server: pki.issue("redis", "IP:127.0.0.1,DNS:localhost"),
            client: pki.issue("fess-client", "DNS:fess-client"),
            client_certs,
        };
        let acl_file = dir.join("users.acl");
        let mut acl = vec!["user default off", "user admin on nopass ~* &* +@all"];
        acl.extend_from_slice(users);
        std::fs::write(&acl_file, acl.join("\n") + "\n").unwrap();
        let setup = Setup {
            tls: Some(tls),
            acl_file: Some(acl_file),
            ..Setup::default()
        };
        RedisServer::start_with(None, setup, Some(dir))
    }

    fn new_dir() -> PathBuf {
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let dir = crate::tmp_dir(&format!(
            "redis-{}",
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("creating the Redis folder");
        dir
    }

    /// The TLS files of a [`with_tls`](Self::with_tls) server.
    pub fn tls(&self) -> Option<&RedisTls> {
        self.setup.tls.as_ref()
    }

    fn start_with(port: Option<u16>, setup: Setup, dir: Option<PathBuf>) -> RedisServer {
        let dir = dir.unwrap_or_else(RedisServer::new_dir);
        let command = |port: u16| {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir);
            match &setup.tls {
                Some(tls) => {
                    let yes_no = if tls.client_certs { "yes" } else { "no" };
                    cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                        .arg("--tls-cert-file")
                        .arg(&tls.server.cert)
                        .arg("--tls-key-file")
                        .arg(&tls.server.key)
                        .arg("--tls-ca-cert-file")
                        .arg(&tls.ca)
                        .args(["--tls-auth-clients", yes_no]);
                }
                None => {
                    cmd.args(["--port", &port.to_string()]);
                }
            }
            if let Some(p) = &setup.password {
                cmd.args(["--requirepass", p]);
            }
            if let Some(acl) = &setup.acl_file {
                cmd.arg("--aclfile").arg(acl);
            }
            cmd
        };
        // A TLS server cannot be pinged in plain text: listening (checked to be ours) is ready.
        let accepts = |port: u16| TcpStream::connect(("127.0.0.1", port)).is_ok();
        let recipe = Recipe {
            name: "redis-server",
            command: &command,
            ready: if setup.tls.is_some() {
                &accepts
            } else {
                &answers_ping
            },
            timeout: Duration::from_secs(20),
        };
        let process = match port {
            Some(port) => ServiceProcess::start_on(&recipe, port),
            None => ServiceProcess::start(&recipe),
        };
        RedisServer {
            port: process.port,
            setup,
            dir,
            process,
        }
    }

    /// `redis://[:password@]127.0.0.1:PORT/`, `rediss://127.0.0.1:PORT/` for a TLS server.
    pub fn url(&self) -> String {
        match &self.setup.password {
            Some(p) => format!("{}://:{p}@127.0.0.1:{}/", self.scheme(), self.port),
            None => format!("{}://127.0.0.1:{}/", self.scheme(), self.port),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.setup.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// The URL logging in as the ACL user `user` with `password`.
    pub fn user_url(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{user}:{password}@127.0.0.1:{}/",
            self.scheme(),
            self.port
        )
    }

    /// How FESS reaches this server: its URL (and, for a TLS server, its CA and the client
    /// certificate it asks for).
    pub fn settings(&self) -> fess::gallery::redis_settings::RedisSettings {
        self.settings_for(&self.url())
    }

    /// [`settings`](Self::settings) with another URL (another user).
    pub fn settings_for(&self, url: &str) -> fess::gallery::redis_settings::RedisSettings {
        let mut s = fess::gallery::redis_settings::RedisSettings::for_url(url);
        if let Some(tls) = &self.setup.tls {
            s.ca_file = Some(tls.ca.clone());
            if tls.client_certs {
                s.cert_file = Some(tls.client.cert.clone());
                s.key_file = Some(tls.client.key.clone());
            }
        }
        s
    }

    /// Makes (or replaces) the ACL user `name` with `password` and the ACL `rules` (e.g.
    /// `["~*", "+@all", "-smembers"]`); returns the URL that logs in as that user.
    pub fn acl_user(&self, name: &str, password: &str, rules: &[&str]) -> String {
        let pass = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", name, "reset", "on", &pass];
        args.extend_from_slice(rules);
        assert_eq!(self.cli(&args).trim(), "OK", "ACL SETUSER {name} {rules:?}");
        self.user_url(name, password)
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
        *self =
            RedisServer::start_with(Some(self.port), self.setup.clone(), Some(self.dir.clone()));
    }

    /// Runs `redis-cli` against this server with `args`, returning its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(p) = &self.setup.password {
            cmd.env("REDISCLI_AUTH", p);
        }
        if let Some(tls) = &self.setup.tls {
            // admin has `nopass`: any password logs it in.
            cmd.args(["--tls", "--user", "admin", "--pass", "any"])
                .arg("--cacert")
                .arg(&tls.ca)
                .arg("--cert")
                .arg(&tls.client.cert)
                .arg("--key")
                .arg(&tls.client.key);
        }
        let out = cmd.args(args).output().expect("running redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
