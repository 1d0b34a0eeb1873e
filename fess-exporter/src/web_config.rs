//! `--web.config.file`: TLS and basic authentication, configured the way every Prometheus
//! exporter takes them (the exporter-toolkit web configuration file):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths: from the file's folder
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: ca.crt
//!   min_version: TLS12              # default; TLS13 for 1.3 only
//! basic_auth_users:
//!   prometheus: $2y$10$…            # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! Keys this exporter does not implement are refused by name rather than ignored: a setting
//! that silently does nothing is worse than none.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fess::sync::MutexExt;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode, SslVersion};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebFile {
    tls_server_config: Option<TlsFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// What the HTTP server enforces.
pub struct WebConfig {
    /// Serves HTTPS with it when set.
    pub tls: Option<SslAcceptor>,
    /// Asks for one of these users when set.
    pub auth: Option<BasicAuth>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.as_ref().map(|a| a.users.len()))
            .finish()
    }
}

fn bad(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("web config {}: {why}", path.display())
}

impl WebConfig {
    /// Reads and checks the file: every certificate and key is loaded now, so a mistake stops
    /// the start instead of failing every connection.
    pub fn load(path: &Path) -> anyhow::Result<WebConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, e))?;
        // An empty file (or only comments) is allowed and means plain HTTP, no users.
        let file: WebFile = if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }) {
            WebFile {
                tls_server_config: None,
                basic_auth_users: None,
            }
        } else {
            serde_norway::from_str(&text).map_err(|e| bad(path, e))?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = file
            .tls_server_config
            .map(|t| acceptor(&t, dir).map_err(|e| bad(path, e)))
            .transpose()?;
        let auth = file
            .basic_auth_users
            .map(|users| BasicAuth::new(users).map_err(|e| bad(path, e)))
            .transpose()?;
        Ok(WebConfig { tls, auth })
    }
}

fn resolve(dir: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_relative() {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

fn version(v: &str) -> Result<SslVersion, String> {
    match v {
        "TLS10" => Ok(SslVersion::TLS1),
        "TLS11" => Ok(SslVersion::TLS1_1),
        "TLS12" => Ok(SslVersion::TLS1_2),
        "TLS13" => Ok(SslVersion::TLS1_3),
        other => Err(format!(
            "unknown TLS version {other:?} (TLS10, TLS11, TLS12 or TLS13)"
        )),
    }
}

fn acceptor(t: &TlsFile, dir: &Path) -> Result<SslAcceptor, String> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err("tls_server_config needs cert_file and key_file".into());
    };
    let (cert, key) = (resolve(dir, cert), resolve(dir, key));
    let mut b =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(|e| e.to_string())?;
    b.set_certificate_chain_file(&cert)
        .map_err(|e| format!("cert_file {}: {e}", cert.display()))?;
    b.set_private_key_file(&key, SslFiletype::PEM)
        .map_err(|e| format!("key_file {}: {e}", key.display()))?;
    b.check_private_key()
        .map_err(|_| format!("key_file {} does not match cert_file", key.display()))?;
    let min = version(t.min_version.as_deref().unwrap_or("TLS12"))?;
    b.set_min_proto_version(Some(min))
        .map_err(|e| e.to_string())?;
    if let Some(max) = &t.max_version {
        b.set_max_proto_version(Some(version(max)?))
            .map_err(|e| e.to_string())?;
    }
    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let (mode, verify) = match auth_type {
        "NoClientCert" => (SslVerifyMode::NONE, false),
        "RequestClientCert" => (SslVerifyMode::PEER, false),
        "RequireAnyClientCert" => (
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            false,
        ),
        "VerifyClientCertIfGiven" => (SslVerifyMode::PEER, true),
        "RequireAndVerifyClientCert" => (
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            true,
        ),
        other => {
            return Err(format!(
                "unknown client_auth_type {other:?} (NoClientCert, RequestClientCert, \
                 RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    match (&t.client_ca_file, verify) {
        (Some(ca), _) if auth_type == "NoClientCert" => {
            return Err(format!(
                "client_ca_file {ca} is given but client_auth_type is NoClientCert: set \
                 client_auth_type (RequireAndVerifyClientCert) or drop client_ca_file"
            ))
        }
        (Some(ca), _) => {
            let ca = resolve(dir, ca);
            b.set_ca_file(&ca)
                .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
        }
        (None, true) => {
            return Err(format!("client_auth_type {auth_type} needs client_ca_file"));
        }
        (None, false) => {}
    }
    if verify {
        b.set_verify(mode);
    } else {
        // Asked for, not checked: the toolkit's Request/RequireAny types.
        b.set_verify_callback(mode, |_, _| true);
    }
    Ok(b.build())
}

/// The users of `basic_auth_users` and their bcrypt hashes.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Results of checked (user, SHA-256 of the password) pairs: bcrypt takes tens of
    /// milliseconds by design, a scraper asks every few seconds.
    checked: Mutex<HashMap<(String, [u8; 32]), bool>>,
    /// Checked for unknown users, so that they take as long as known ones.
    dummy: String,
}

/// Cached results kept at most: a flood of wrong passwords must not grow memory.
const MAX_CHECKED: usize = 1024;

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        for (user, hash) in &users {
            if user.contains(':') {
                return Err(format!("basic_auth_users: user {user:?} contains ':'"));
            }
            // A hash that does not parse would refuse its user forever: say so now.
            if bcrypt::verify("", hash).is_err() {
                return Err(format!(
                    "basic_auth_users: the hash of {user:?} is not a bcrypt hash ($2y$…)"
                ));
            }
        }
        let cost = users
            .values()
            .filter_map(|h| h.get(4..6)?.parse().ok())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy = bcrypt::hash("fess-exporter", cost).map_err(|e| e.to_string())?;
        Ok(BasicAuth {
            users,
            checked: Mutex::default(),
            dummy,
        })
    }

    /// Whether an `Authorization` header value logs in one of the users.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let key = (user.clone(), openssl::sha::sha256(password.as_bytes()));
        if let Some(ok) = self.checked.locked().get(&key) {
            return *ok;
        }
        let ok = match self.users.get(&user) {
            Some(hash) => bcrypt::verify(&password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(&password, &self.dummy);
                false
            }
        };
        let mut checked = self.checked.locked();
        if checked.len() >= MAX_CHECKED {
            checked.clear();
        }
        checked.insert(key, ok);
        ok
    }
}

/// `Basic base64(user:password)` → (user, password).
fn decode_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = openssl::base64::decode_block(encoded.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn basic_auth_checks_bcrypt_hashes_and_caches() {
        let hash = bcrypt::hash("s3cret", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)])).unwrap();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                openssl::base64::encode_block(format!("{u}:{p}").as_bytes())
            )
        };
        assert!(auth.allows(Some(&header("prom", "s3cret"))));
        assert!(auth.allows(Some(&header("prom", "s3cret"))), "cached");
        assert!(!auth.allows(Some(&header("prom", "wrong"))));
        assert!(!auth.allows(Some(&header("nobody", "s3cret"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some("Bearer abc")));
        assert!(!auth.allows(Some("Basic !!!")));
        let e = BasicAuth::new(BTreeMap::from([("prom".into(), "plain".into())]));
        assert!(e.err().unwrap().contains("not a bcrypt hash"));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("fess-web-config-{}", std::process::id()));
        let cases = [
            (
                "unknown.yml",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: []\n",
                "cipher_suites",
            ),
            (
                "missing.yml",
                "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
                "nope.crt",
            ),
            (
                "half.yml",
                "tls_server_config:\n  cert_file: a.crt\n",
                "needs cert_file and key_file",
            ),
            (
                "users.yml",
                "basic_auth_users:\n  prom: not-a-hash\n",
                "not a bcrypt hash",
            ),
            ("yaml.yml", "basic_auth_users: [\n", "web config"),
        ];
        for (name, text, expected) in cases {
            let e = WebConfig::load(&write(&dir, name, text))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected) && e.contains(name), "{name}: {e}");
        }
        let empty = WebConfig::load(&write(&dir, "empty.yml", "# nothing\n")).unwrap();
        assert!(empty.tls.is_none() && empty.auth.is_none());
        let e = WebConfig::load(&dir.join("absent.yml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.yml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
