//! The Redis flags of the commands that read or write the gallery: each names a setting of
//! `RedisSettings`, whose variable (environment or `.env`) it overrides.

use fess::gallery::redis_settings::RedisSettings;

#[derive(clap::Args, Debug)]
pub struct RedisArgs {
    /// Redis holding the gallery: redis://[user:password@]host:port/db, rediss:// for TLS
    /// (default: REDIS_URL, else redis://127.0.0.1:6379/).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// PEM CA certificate(s) the rediss:// server's certificate must chain to, instead of the
    /// system's (default: REDIS_TLS_CA_FILE).
    #[arg(long, value_name = "FILE")]
    redis_tls_ca_file: Option<String>,
    /// PEM client certificate, for a server that asks for one (default: REDIS_TLS_CERT_FILE).
    #[arg(long, value_name = "FILE")]
    redis_tls_cert_file: Option<String>,
    /// PEM private key of --redis-tls-cert-file (default: REDIS_TLS_KEY_FILE).
    #[arg(long, value_name = "FILE")]
    redis_tls_key_file: Option<String>,
    /// File holding the Redis password, instead of the URL; relative: in
    /// $CREDENTIALS_DIRECTORY (default: REDIS_PASSWORD_FILE).
    #[arg(long, value_name = "FILE")]
    redis_password_file: Option<String>,
}

impl RedisArgs {
    /// The settings: each flag given, else its variable, else the default; `#insecure` warned
    /// about on stderr.
    pub fn settings(&self) -> RedisSettings {
        let s = RedisSettings::from_env().overridden(
            self.redis_url.as_deref(),
            self.redis_tls_ca_file.as_deref(),
            self.redis_tls_cert_file.as_deref(),
            self.redis_tls_key_file.as_deref(),
            self.redis_password_file.as_deref(),
        );
        for w in s.warnings() {
            eprintln!("fess: warning: {w}");
        }
        s
    }
}
