//! How to reach Redis: the URL, and for `rediss://` the CA to trust and the client certificate
//! and key to show, and the password from a file. Each is a setting of its own with one rule
//! for every FESS program (README, "Redis with TLS and ACL users"): the element property or
//! flag, else its variable (environment or `.env`), else the default.

use std::path::{Path, PathBuf};

use crate::gallery::redis_url::{self, DEFAULT_REDIS_URL};
use crate::gallery::RedisFault;

/// The variables behind the settings.
pub const URL_VAR: &str = "REDIS_URL";
pub const CA_VAR: &str = "REDIS_TLS_CA_FILE";
pub const CERT_VAR: &str = "REDIS_TLS_CERT_FILE";
pub const KEY_VAR: &str = "REDIS_TLS_KEY_FILE";
pub const PASSWORD_FILE_VAR: &str = "REDIS_PASSWORD_FILE";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RedisSettingsError {
    #[error("Redis URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("{setting}: {reason}")]
    File { setting: String, reason: String },
    #[error("{0}")]
    Conflict(String),
}

/// Where Redis is and how to prove who we are to it. `Debug` shows no password.
#[derive(Clone, PartialEq, Default)]
pub struct RedisSettings {
    /// `redis://`, `rediss://` (TLS) or `unix://`, with `user:password@` for an ACL user.
    pub url: String,
    /// PEM CA certificate(s) the server's certificate must chain to, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and its private key, for servers that ask for one
    /// (`tls-auth-clients yes`, Redis' default).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The password in a file ([`crate::secret_files`]), instead of in the URL.
    pub password_file: Option<String>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.shown_url())
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("password_file", &self.password_file)
            .finish()
    }
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

impl RedisSettings {
    /// Only a URL: the system's CA certificates, no client certificate.
    pub fn for_url(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_string(),
            ..Default::default()
        }
    }

    /// The variables (environment or `.env`), else the defaults.
    pub fn from_env() -> RedisSettings {
        let var = |k: &str| crate::env::var(k).filter(|v| !v.trim().is_empty());
        RedisSettings {
            url: var(URL_VAR).unwrap_or_else(|| DEFAULT_REDIS_URL.to_string()),
            ca_file: var(CA_VAR).map(PathBuf::from),
            cert_file: var(CERT_VAR).map(PathBuf::from),
            key_file: var(KEY_VAR).map(PathBuf::from),
            password_file: var(PASSWORD_FILE_VAR),
        }
    }

    /// These settings with each one given (a property or flag that is set) replacing the
    /// variable's.
    pub fn overridden(
        mut self,
        url: Option<&str>,
        ca_file: Option<&str>,
        cert_file: Option<&str>,
        key_file: Option<&str>,
        password_file: Option<&str>,
    ) -> RedisSettings {
        if let Some(v) = nonempty(url) {
            self.url = v.to_string();
        }
        let path = |v: Option<&str>, into: &mut Option<PathBuf>| {
            if let Some(v) = nonempty(v) {
                *into = Some(PathBuf::from(v));
            }
        };
        path(ca_file, &mut self.ca_file);
        path(cert_file, &mut self.cert_file);
        path(key_file, &mut self.key_file);
        if let Some(v) = nonempty(password_file) {
            self.password_file = Some(v.to_string());
        }
        self
    }

    /// The URL as it may be shown (no password, no query).
    pub fn shown_url(&self) -> String {
        redis_url::redact(&self.url)
    }

    fn is_tls(&self) -> bool {
        self.url.starts_with("rediss://")
    }

    /// Classifies an error of a new connection's first requests (the handshake, AUTH, the
    /// first command). Under TLS 1.3 a server checks the client's certificate only after the
    /// client has ended its handshake and sent those requests, and then closing on unread
    /// data can turn its alert into a bare reset: over TLS without a certificate of ours, a
    /// connection dropped at once is that refusal, and saying "unreachable" would send the
    /// operator to the network instead of REDIS_TLS_CERT_FILE.
    pub fn new_connection_fault(&self, e: &redis::RedisError, command: &str) -> RedisFault {
        let fault = RedisFault::of(e, command);
        let dropped = e.is_connection_dropped() && !e.is_connection_refusal();
        if fault == RedisFault::Unreachable && dropped && self.is_tls() && self.cert_file.is_none()
        {
            RedisFault::ClientCertificate
        } else {
            fault
        }
    }

    fn is_insecure(&self) -> bool {
        self.is_tls() && self.url.ends_with("#insecure")
    }

    /// What the operator must hear about these settings even though they work: `#insecure`
    /// turns off every check of the server's certificate and name.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.is_insecure() {
            w.push(format!(
                "INSECURE: {} ends in #insecure: the Redis server's certificate and name are not \
                 checked, so anyone between here and Redis can read and forge the gallery; give \
                 its CA with {CA_VAR} (redis-tls-ca-file, --redis-tls-ca-file) instead",
                self.shown_url()
            ));
        }
        w
    }

    /// A client for these settings (connects nothing yet): the password file read, the TLS
    /// files loaded and checked.
    pub fn client(&self) -> Result<redis::Client, RedisSettingsError> {
        use redis::IntoConnectionInfo;
        let shown = self.shown_url();
        let url_err = |e: redis::RedisError| RedisSettingsError::Url {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let mut info = self.url.as_str().into_connection_info().map_err(url_err)?;
        if let Some(file) = &self.password_file {
            let password =
                crate::secret_files::read(file).map_err(|reason| RedisSettingsError::File {
                    setting: PASSWORD_FILE_VAR.into(),
                    reason,
                })?;
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let files = [&self.ca_file, &self.cert_file, &self.key_file];
        if files.iter().all(|f| f.is_none()) {
            return redis::Client::open(info).map_err(url_err);
        }
        if !self.is_tls() {
            return Err(RedisSettingsError::Conflict(format!(
                "{CA_VAR}, {CERT_VAR} and {KEY_VAR} are for TLS, but {shown} is not rediss://"
            )));
        }
        if self.is_insecure() {
            return Err(RedisSettingsError::Conflict(format!(
                "{shown} ends in #insecure, which ignores {CA_VAR}, {CERT_VAR} and {KEY_VAR}: \
                 drop #insecure"
            )));
        }
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read_pem(CERT_VAR, cert)?,
                client_key: pkcs8_key(key)?,
            }),
            (None, None) => None,
            _ => {
                return Err(RedisSettingsError::Conflict(format!(
                    "a client certificate needs both {CERT_VAR} and {KEY_VAR}"
                )))
            }
        };
        let root_cert = self
            .ca_file
            .as_ref()
            .map(|ca| read_pem(CA_VAR, ca))
            .transpose()?;
        redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(url_err)
    }
}

fn file_err(setting: &str, path: &Path, why: impl std::fmt::Display) -> RedisSettingsError {
    RedisSettingsError::File {
        setting: setting.into(),
        reason: format!("{}: {why}", path.display()),
    }
}

/// A PEM file's bytes, refused early when it holds no PEM block.
fn read_pem(setting: &str, path: &Path) -> Result<Vec<u8>, RedisSettingsError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(setting, path, e))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(file_err(setting, path, "not a PEM file"));
    }
    Ok(bytes)
}

/// The client key as PKCS#8 PEM, the one form the TLS library takes: a traditional RSA or EC
/// key (`openssl genrsa`, `openssl ecparam -genkey`) is converted, not refused.
fn pkcs8_key(path: &Path) -> Result<Vec<u8>, RedisSettingsError> {
    let pem = read_pem(KEY_VAR, path)?;
    let key = openssl::pkey::PKey::private_key_from_pem(&pem)
        .map_err(|_| file_err(KEY_VAR, path, "not a PEM private key (or it is encrypted)"))?;
    key.private_key_to_pem_pkcs8()
        .map_err(|e| file_err(KEY_VAR, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_tls_connection_dropped_without_our_certificate_is_the_certificate() {
        use std::io::{Error, ErrorKind};
        let reset = || redis::RedisError::from(Error::from(ErrorKind::ConnectionReset));
        let refused = redis::RedisError::from(Error::from(ErrorKind::ConnectionRefused));
        let tls = settings("rediss://h:6380/");
        assert_eq!(
            tls.new_connection_fault(&reset(), "PING"),
            RedisFault::ClientCertificate
        );
        let eof = redis::RedisError::from(Error::from(ErrorKind::UnexpectedEof));
        assert_eq!(
            tls.new_connection_fault(&eof, "PING"),
            RedisFault::ClientCertificate
        );
        // Refused before any TLS, a certificate of ours, or no TLS: the network's fault.
        assert_eq!(
            tls.new_connection_fault(&refused, "PING"),
            RedisFault::Unreachable
        );
        let mut with_cert = tls.clone();
        with_cert.cert_file = Some("/c.pem".into());
        assert_eq!(
            with_cert.new_connection_fault(&reset(), "PING"),
            RedisFault::Unreachable
        );
        assert_eq!(
            settings("redis://h:6379/").new_connection_fault(&reset(), "PING"),
            RedisFault::Unreachable
        );
    }

    #[test]
    fn the_given_setting_wins_over_the_variable() {
        let s = settings("redis://a:6379/").overridden(
            Some("rediss://b:6380/"),
            Some("/ca.pem"),
            None,
            Some(""),
            None,
        );
        assert_eq!(s.url, "rediss://b:6380/");
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(s.key_file, None, "an empty value is unset");
        let s = s.overridden(None, None, None, None, None);
        assert_eq!(s.url, "rediss://b:6380/");
    }

    #[test]
    fn conflicting_settings_are_refused_clearly() {
        let mut s = settings("redis://:pw@127.0.0.1:6379/");
        s.ca_file = Some("/etc/ssl/certs/ca-certificates.crt".into());
        let e = s.client().unwrap_err().to_string();
        assert!(e.contains("not rediss://") && !e.contains("pw@"), "{e}");
        s.url = "rediss://127.0.0.1:6379/#insecure".into();
        assert!(s
            .client()
            .unwrap_err()
            .to_string()
            .contains("drop #insecure"));
        s.ca_file = None;
        s.cert_file = Some("/c.pem".into());
        s.url = "rediss://127.0.0.1:6379/".into();
        assert!(s.client().unwrap_err().to_string().contains("needs both"));
        s.key_file = Some("/nonexistent/k.pem".into());
        s.cert_file = Some("/nonexistent/c.pem".into());
        let e = s.client().unwrap_err().to_string();
        assert!(
            e.starts_with("REDIS_TLS_CERT_FILE: /nonexistent/c.pem"),
            "{e}"
        );
    }

    #[test]
    fn insecure_is_warned_and_secrets_never_shown() {
        let s = settings("rediss://fess:s3cret@127.0.0.1:6379/#insecure");
        let w = s.warnings().join(" ");
        assert!(w.starts_with("INSECURE") && !w.contains("s3cret"), "{w}");
        assert!(settings("rediss://h:1/").warnings().is_empty());
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn the_password_file_is_read_and_named_when_missing() {
        let mut s = settings("redis://fess@127.0.0.1:6379/");
        s.password_file = Some("/nonexistent/redis-password".into());
        let e = s.client().unwrap_err().to_string();
        assert!(
            e.contains("REDIS_PASSWORD_FILE") && e.contains("/nonexistent/redis-password"),
            "{e}"
        );
    }
}
