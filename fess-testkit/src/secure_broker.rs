//! A Kafka broker reached only over TLS, optionally with SCRAM users and client certificates:
//! tansu (which speaks SASL SCRAM but serves no TLS itself) behind stunnel, the real TLS
//! terminator Debian ships. tansu advertises stunnel's port, so every connection a client
//! makes after bootstrapping goes through TLS too.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::pki::{Issued, Pki};
use crate::service::{free_port, Recipe, ServiceProcess};
use crate::{answers_api_versions, tansu_path};

/// What the broker asks of its clients.
#[derive(Debug, Clone, Default)]
pub struct SecureOptions {
    /// SCRAM users (name, password, `scram256` or `scram512`); none: no authentication.
    pub users: Vec<(String, String, &'static str)>,
    /// Client certificates signed by the test CA are required (mutual TLS).
    pub client_certs: bool,
    /// The names the broker's certificate is for (default `IP:127.0.0.1,DNS:localhost`, the
    /// address clients use).
    pub server_names: Option<String>,
}

/// tansu behind stunnel, both killed on drop.
pub struct SecureBroker {
    /// stunnel's TLS port: the only one clients use.
    pub port: u16,
    /// The CA the broker's certificate chains to (and client certificates must, with
    /// `client_certs`).
    pub pki: Pki,
    /// The broker's certificate.
    pub server: Issued,
    tansu: ServiceProcess,
    _stunnel: ServiceProcess,
    dir: PathBuf,
}

fn tansu_recipe<'a>(command: &'a dyn Fn(u16) -> Command, name: &'static str) -> Recipe<'a> {
    Recipe {
        name,
        command,
        ready: &answers_api_versions,
        timeout: Duration::from_secs(30),
    }
}

impl SecureBroker {
    /// Certificates in `dir` (created), the broker's data there too.
    pub fn start(dir: &Path, options: &SecureOptions) -> SecureBroker {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let pki = Pki::new(&dir.join("pki"), "fess-test-ca");
        let names = options.server_names.as_deref();
        let server = pki.issue("broker", names.unwrap_or("IP:127.0.0.1,DNS:localhost"));
        let tls_port = free_port();
        let data = dir.join("tansu");
        std::fs::create_dir_all(&data).unwrap();
        let authenticate = !options.users.is_empty();
        let command = |auth: bool| {
            let data = data.clone();
            move |port: u16| {
                let mut cmd = Command::new(tansu_path());
                // SCRAM credentials are kept only by tansu's SQL storage; its path is relative.
                cmd.current_dir(&data)
                    .args(["broker", "--listener-url"])
                    .arg(format!("tcp://127.0.0.1:{port}"))
                    .arg("--advertised-listener-url")
                    .arg(format!("tcp://127.0.0.1:{tls_port}"))
                    .args(["--storage-engine", "sqlite://tansu.db"]);
                if auth {
                    cmd.arg("--authentication");
                }
                cmd
            }
        };
        let open = command(false);
        let mut tansu = ServiceProcess::start(&tansu_recipe(&open, "tansu"));
        if authenticate {
            // Users are created while the broker still lets anyone in, then it restarts
            // requiring them.
            for (name, password, mechanism) in &options.users {
                let out = Command::new(tansu_path())
                    .current_dir(&data)
                    .args(["user", "create", "--broker"])
                    .arg(format!("tcp://127.0.0.1:{}", tansu.port))
                    .args(["--mechanism", mechanism, name, password])
                    .output()
                    .expect("running tansu user create");
                assert!(
                    out.status.success(),
                    "tansu user create {name}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let port = tansu.port;
            tansu.kill();
            let closed = command(true);
            tansu = ServiceProcess::start_on(&tansu_recipe(&closed, "tansu"), port);
        }
        let conf = dir.join("stunnel.conf");
        let mut text = format!(
            "foreground = yes\npid =\ndebug = notice\n[kafka]\naccept = 127.0.0.1:{tls_port}\n\
             connect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
            tansu.port,
            server.cert.display(),
            server.key.display()
        );
        if options.client_certs {
            text.push_str(&format!(
                "CAfile = {}\nverifyChain = yes\n",
                pki.ca.display()
            ));
        }
        std::fs::write(&conf, text).unwrap();
        let stunnel_command = |_port: u16| {
            let mut cmd = Command::new("stunnel4");
            cmd.arg(&conf);
            cmd
        };
        let accepts = |port: u16| TcpStream::connect(("127.0.0.1", port)).is_ok();
        let stunnel = ServiceProcess::start_on(
            &Recipe {
                name: "stunnel",
                command: &stunnel_command,
                ready: &accepts,
                timeout: Duration::from_secs(20),
            },
            tls_port,
        );
        SecureBroker {
            port: tls_port,
            pki,
            server,
            tansu,
            _stunnel: stunnel,
            dir: dir.to_path_buf(),
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's own plaintext port, behind stunnel (for showing it is never used).
    pub fn plaintext_port(&self) -> u16 {
        self.tansu.port
    }

    /// A client certificate signed by the broker's CA.
    pub fn client_cert(&self, name: &str) -> Issued {
        self.pki.issue(name, &format!("DNS:{name}"))
    }

    /// A folder for the test's own files, removed with the broker's.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
