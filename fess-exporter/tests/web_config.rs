//! `--web.config.file`: the exporter serves HTTPS with basic authentication (and, if asked,
//! client certificates); the real Prometheus scrapes it with `scheme: https`, `basic_auth` and
//! `tls_config`, a client without credentials or certificate is refused, and no password shows.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fess_testkit::{tmp_dir, ExporterProcess, Issued, Pki, PrometheusServer};

const PASSWORD: &str = "Scrape-pw-8812";

struct Site {
    dir: std::path::PathBuf,
    pki: Pki,
    server: Issued,
}

fn site(name: &str) -> Site {
    let dir = tmp_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::new(&dir.join("pki"), "exporter-test-ca");
    let server = pki.issue("exporter", "IP:127.0.0.1,DNS:localhost");
    Site { dir, pki, server }
}

/// A web configuration with the server certificate, the `prom` user and `extra` TLS lines.
fn web_config(site: &Site, tls_extra: &str) -> std::path::PathBuf {
    let hash = bcrypt::hash(PASSWORD, 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let path = site.dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{tls_extra}\
             basic_auth_users:\n  prom: '{hash}'\n",
            site.server.cert.display(),
            site.server.key.display()
        ),
    )
    .unwrap();
    path
}

/// `curl` (installed by scripts/setup.sh) against the exporter: the status code, or 0 when
/// no HTTP answer came (refused handshake).
fn curl(addr: SocketAddr, path: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/stderr",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(format!("https://{addr}{path}"))
        .output()
        .expect("curl");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ca_arg(site: &Site) -> [String; 2] {
    ["--cacert".into(), site.pki.ca.display().to_string()]
}

fn up(prom: &PrometheusServer, job: &str) -> Option<f64> {
    prom.query(&format!("up{{job=\"{job}\"}}"))
        .first()
        .map(|s| s.1)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_scrapes_over_https_with_basic_auth_and_others_are_refused() {
    let site = site("web-https");
    let config = web_config(&site, "");
    let config_arg = config.display().to_string();
    let exporter = ExporterProcess::start(
        "web-https",
        &["--no-redis", "--no-kafka", "--web.config.file", &config_arg],
    );
    let addr = exporter.addr;
    let ca = ca_arg(&site);
    let (ca0, ca1) = (ca[0].as_str(), ca[1].as_str());
    let user = format!("prom:{PASSWORD}");

    // curl: credentials over TLS → 200; none or wrong → 401 asking for Basic; plain HTTP and
    // an untrusted server certificate never get an answer.
    let (code, body) = curl(addr, "/metrics", &[ca0, ca1, "-u", &user]);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("fess_exporter_datagrams_received_total"),
        "{body}"
    );
    let (code, _) = curl(addr, "/metrics", &[ca0, ca1]);
    assert_eq!(code, 401);
    let head = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", ca0, ca1])
        .arg(format!("https://{addr}/health"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(head.contains("www-authenticate: basic"), "{head}");
    assert_eq!(
        curl(addr, "/health", &[ca0, ca1, "-u", "prom:wrong"]).0,
        401
    );
    assert_eq!(
        curl(addr, "/livez", &[ca0, ca1]).0,
        401,
        "probes need it too"
    );
    assert_eq!(curl(addr, "/livez", &[ca0, ca1, "-u", &user]).0, 200);
    assert_eq!(
        curl(addr, "/metrics", &["-u", &user]).0,
        0,
        "untrusted certificate"
    );
    let plain = fess_testkit::http_get(addr, "/metrics");
    assert!(
        plain.map_or(true, |a| a.status != 200),
        "plain HTTP answered"
    );

    // The real Prometheus: the right password → up 1; a wrong one → up 0, told 401.
    let password_file = site.dir.join("scrape-password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let wrong_file = site.dir.join("wrong-password");
    std::fs::write(&wrong_file, "nope").unwrap();
    let job = |password: &Path| {
        format!(
            "    scheme: https\n    basic_auth:\n      username: prom\n      password_file: {}\n\
             \x20   tls_config:\n      ca_file: {}\n",
            password.display(),
            site.pki.ca.display()
        )
    };
    let (good, bad) = (job(&password_file), job(&wrong_file));
    let targets = [addr];
    let prom = PrometheusServer::start_jobs(
        &[("fess", &targets, &good), ("fess-wrong", &targets, &bad)],
        Duration::from_millis(500),
        &[],
    );
    wait_until("both jobs scraped", || {
        up(&prom, "fess") == Some(1.0) && up(&prom, "fess-wrong").is_some()
    });
    assert_eq!(up(&prom, "fess-wrong"), Some(0.0));
    let targets = prom.api("targets");
    let wrong = targets["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == "fess-wrong")
        .unwrap()
        .clone();
    assert!(
        wrong["lastError"].as_str().unwrap().contains("401"),
        "{wrong}"
    );
    let scraped = prom.query("fess_exporter_datagrams_received_total{job=\"fess\"}");
    assert!(!scraped.is_empty(), "no exporter series scraped");

    let log = exporter.log.lock().unwrap().clone();
    assert!(!log.contains(PASSWORD), "{log}");
}

#[test]
fn client_certificates_and_open_probes() {
    let site = site("web-mtls");
    let config = web_config(
        &site,
        &format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            site.pki.ca.display()
        ),
    );
    let config_arg = config.display().to_string();
    let exporter = ExporterProcess::start(
        "web-mtls",
        &[
            "--no-redis",
            "--no-kafka",
            "--web.config.file",
            &config_arg,
            "--web.open-probes",
        ],
    );
    let addr = exporter.addr;
    let ca = ca_arg(&site);
    let (ca0, ca1) = (ca[0].as_str(), ca[1].as_str());
    let client = site.pki.issue("prometheus", "DNS:prometheus");
    let (cert, key) = (
        client.cert.display().to_string(),
        client.key.display().to_string(),
    );
    let user = format!("prom:{PASSWORD}");
    let with_cert = [ca0, ca1, "--cert", &cert, "--key", &key];
    assert_eq!(
        curl(addr, "/metrics", &[&with_cert[..], &["-u", &user]].concat()).0,
        200
    );
    assert_eq!(
        curl(addr, "/metrics", &[ca0, ca1, "-u", &user]).0,
        0,
        "no client certificate"
    );
    let stranger = Pki::new(&site.dir.join("other"), "other-ca").issue("x", "DNS:x");
    let (s_cert, s_key) = (
        stranger.cert.display().to_string(),
        stranger.key.display().to_string(),
    );
    let strange = [ca0, ca1, "--cert", &s_cert, "--key", &s_key, "-u", &user];
    assert_eq!(
        curl(addr, "/metrics", &strange).0,
        0,
        "a stranger's certificate"
    );
    // Probes without credentials (still over mutual TLS).
    assert_eq!(curl(addr, "/livez", &with_cert).0, 200);
    // Answered (503: no camera reports yet), not refused.
    let (ready, _) = curl(addr, "/readyz", &with_cert);
    assert!(ready == 200 || ready == 503, "{ready}");
    assert_eq!(curl(addr, "/health", &with_cert).0, 401);
}

#[test]
fn a_bad_web_config_stops_the_start_with_the_reason() {
    let dir = tmp_dir("web-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("web.yml");
    std::fs::write(
        &config,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    )
    .unwrap();
    let out = Command::new(fess_testkit::workspace_binary("fess-exporter"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-redis",
            "--no-kafka",
            "--web.config.file",
        ])
        .arg(&config)
        .env("FESS_STATS_SOCKET", dir.join("stats.sock"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("web.yml") && err.contains("missing.crt"),
        "{err}"
    );
}
