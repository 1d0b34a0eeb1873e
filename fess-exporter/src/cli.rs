//! Flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fess::observability::health::SystemThresholds;

use crate::exporter::PipelineRules;
use crate::http::HttpConfig;
use crate::store::Limits;
use crate::web_config::WebConfig;

/// Variables behind flags, also taken from `./.env` (the process environment wins). The other
/// `KAFKA_*` settings are read from both by `fess::delivery::kafka_config::KafkaSettings` itself.
pub const ENV_VARS: [&str; 11] = [
    "FESS_EXPORTER_LISTEN",
    "FESS_STATS_SOCKET",
    "REDIS_URL",
    "REDIS_TLS_CA_FILE",
    "REDIS_TLS_CERT_FILE",
    "REDIS_TLS_KEY_FILE",
    "REDIS_PASSWORD_FILE",
    "FESS_EXPORTER_WEB_CONFIG",
    "FESS_EXPORTER_OPEN_PROBES",
    "KAFKA_BOOTSTRAP_SERVERS",
    "FESS_KAFKA_CONFIG",
];

const AFTER_HELP: &str = "\
Endpoints (loopback by default; --listen 0.0.0.0:9410 to serve the network):
  /metrics  Prometheus text format: every element's counters as monotonic totals, fess_fps,
            fess_active_cameras, host CPU and memory, fess_component_up, fess_build_info and the
            exporter's own counts (fess_exporter_*: datagrams received and rejected by reason,
            label values folded into \"_other\", sources forgotten).
  /health   The health JSON (redis, kafka, system, pipelines); 503 when unhealthy.
  /livez    200 while the process answers (never depends on Redis or Kafka).
  /readyz   200 when healthy or degraded, 503 when unhealthy.

Health status (the worst of):
  unhealthy  Kafka unreachable for --kafka-grace in a row; fewer than --min-cameras active cameras.
  degraded   Kafka unreachable (shorter); Redis unreachable; CPU, memory or disk at --max-cpu-percent,
             --max-memory-percent or --max-disk-percent (90) or more;
             an active camera whose frames have not advanced for --stale-after, or whose source
             reports a problem (e.g. fessface's gallery cannot be read; the reason is in /health).
  healthy    otherwise. Redis and Kafka are checked every --check-interval in the background with
             --check-timeout each, so /health answers at once from the latest results.

Stats: elements send datagrams to the stats socket (FESS_STATS_SOCKET, else
$XDG_RUNTIME_DIR/fess/stats.sock, else /tmp/fess/stats.sock), created with mode 0660; run the
pipelines as the exporter's user or group. Its folder is created with mode 0700; a folder another
user owns, or group or others can write to, is refused (they could replace the socket). A source
silent for --forget-after is forgotten and its cameras become inactive (their series are dropped;
a returning camera starts from 0, which Prometheus' rate() reads as a reset).

Variables are read from the environment, then from ./.env. Passwords in REDIS_URL and
FESS_KAFKA_CONFIG never appear in logs, metrics or /health.";

/// fess-exporter: the FESS sidecar. Turns the stats datagrams of every FESS element (and of
/// programs using `fess::observability::stats`) into Prometheus metrics, and serves a health report of Redis,
/// Kafka, the host and the pipelines.
#[derive(Parser, Debug)]
#[command(name = "fess-exporter", version, after_long_help = AFTER_HELP)]
pub struct Args {
    /// Address of the HTTP server (port 0 picks a free one; the log says which).
    #[arg(long, env = "FESS_EXPORTER_LISTEN", default_value = "127.0.0.1:9410")]
    pub listen: SocketAddr,

    /// The stats socket to create (default: see below).
    #[arg(long, env = "FESS_STATS_SOCKET")]
    pub stats_socket: Option<PathBuf>,

    /// Redis to check: redis://[user:password@]host:port/ or rediss:// for TLS.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = fess::gallery::redis_url::DEFAULT_REDIS_URL,
        hide_env_values = true
    )]
    pub redis_url: String,

    /// PEM CA certificate(s) the rediss:// server's certificate must chain to (instead of the
    /// system's).
    #[arg(long, env = "REDIS_TLS_CA_FILE", value_name = "FILE")]
    pub redis_tls_ca_file: Option<String>,

    /// PEM client certificate, for a rediss:// server that asks for one.
    #[arg(long, env = "REDIS_TLS_CERT_FILE", value_name = "FILE")]
    pub redis_tls_cert_file: Option<String>,

    /// PEM private key of --redis-tls-cert-file.
    #[arg(long, env = "REDIS_TLS_KEY_FILE", value_name = "FILE")]
    pub redis_tls_key_file: Option<String>,

    /// File holding the Redis password, instead of the URL (relative: in
    /// $CREDENTIALS_DIRECTORY).
    #[arg(long, env = "REDIS_PASSWORD_FILE", value_name = "FILE")]
    pub redis_password_file: Option<String>,

    /// Do not check Redis (its component is "disabled").
    #[arg(long)]
    pub no_redis: bool,

    /// Kafka brokers to check, host:port[,host:port...]. KAFKA_ACKS, KAFKA_COMPRESSION,
    /// KAFKA_LINGER_MS and KAFKA_BATCH_SIZE are read too, as the publisher reads them.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "localhost:9092"
    )]
    pub kafka_bootstrap_servers: String,

    /// Further librdkafka properties for the Kafka check, key=value;key=value (TLS, SASL), as
    /// the pipelines take them; a value @FILE is read from FILE (relative: in
    /// $CREDENTIALS_DIRECTORY).
    #[arg(long, env = "FESS_KAFKA_CONFIG", hide_env_values = true)]
    pub kafka_config: Option<String>,

    /// Do not check Kafka (its component is "disabled").
    #[arg(long)]
    pub no_kafka: bool,

    /// Seconds between background health checks.
    #[arg(long, default_value = "2", value_parser = seconds)]
    pub check_interval: Duration,

    /// Bound of each Redis and Kafka check, in seconds.
    #[arg(long, default_value = "1", value_parser = seconds)]
    pub check_timeout: Duration,

    /// Seconds Kafka may stay unreachable before /health says unhealthy.
    #[arg(long, default_value = "60", value_parser = seconds)]
    pub kafka_grace: Duration,

    /// Active cameras below which /health says unhealthy (0: pipelines are optional).
    #[arg(long, default_value_t = 1)]
    pub min_cameras: usize,

    /// Seconds without new frames after which an active camera makes /health degraded.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub stale_after: Duration,

    /// Seconds of silence after which a source is forgotten and its cameras become inactive.
    #[arg(long, default_value = "30", value_parser = seconds)]
    pub forget_after: Duration,

    /// CPU use (percent, over the last check interval) at which the system is degraded.
    #[arg(long, default_value_t = SystemThresholds::default().cpu_percent)]
    pub max_cpu_percent: f64,

    /// Memory use (percent) at which the system is degraded.
    #[arg(long, default_value_t = SystemThresholds::default().memory_percent)]
    pub max_memory_percent: f64,

    /// Disk use (percent, of --disk-path's disk) at which the system is degraded.
    #[arg(long, default_value_t = SystemThresholds::default().disk_percent)]
    pub max_disk_percent: f64,

    /// The disk /health reports is the one holding this path (e.g. the spool folder).
    #[arg(long, default_value = "/")]
    pub disk_path: PathBuf,

    /// Distinct cameras held; more are folded into camera_id="_other".
    #[arg(long, default_value_t = Limits::default().max_cameras)]
    pub max_cameras: usize,

    /// Distinct values of any other label of one metric (object classes, topics...); more are
    /// folded into "_other".
    #[arg(long, default_value_t = Limits::default().max_label_values)]
    pub max_label_values: usize,

    /// Live sources held; datagrams from more are refused.
    #[arg(long, default_value_t = Limits::default().max_sources)]
    pub max_sources: usize,

    /// Series held over all metrics; more are refused.
    #[arg(long, default_value_t = Limits::default().max_series)]
    pub max_series: usize,

    /// Threads answering HTTP requests.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub http_workers: u16,

    /// Requests served at once, /livez and /readyz aside (they are always answered); more get
    /// 503.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub http_max_connections: u16,

    /// Seconds a client has to send its request, and each write of the answer may take.
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub http_timeout: Duration,

    /// The web configuration file of Prometheus exporters: TLS (tls_server_config) and basic
    /// authentication (basic_auth_users, bcrypt hashes) for every endpoint; unset: plain HTTP,
    /// no authentication.
    #[arg(
        long = "web.config.file",
        env = "FESS_EXPORTER_WEB_CONFIG",
        value_name = "FILE"
    )]
    pub web_config_file: Option<PathBuf>,

    /// With basic authentication, still answer /livez and /readyz without it (for probes that
    /// cannot send credentials).
    #[arg(long = "web.open-probes", env = "FESS_EXPORTER_OPEN_PROBES")]
    pub web_open_probes: bool,
}

impl Args {
    pub fn limits(&self) -> Limits {
        Limits {
            max_cameras: self.max_cameras,
            max_label_values: self.max_label_values,
            max_sources: self.max_sources,
            max_series: self.max_series,
            ..Limits::default()
        }
    }

    pub fn thresholds(&self) -> SystemThresholds {
        SystemThresholds {
            cpu_percent: self.max_cpu_percent,
            memory_percent: self.max_memory_percent,
            disk_percent: self.max_disk_percent,
        }
    }

    pub fn rules(&self) -> PipelineRules {
        PipelineRules {
            min_cameras: self.min_cameras,
            stale_after: self.stale_after,
            forget_after: self.forget_after,
        }
    }

    /// The HTTP server's settings, the web configuration file read and checked.
    pub fn http(&self) -> anyhow::Result<HttpConfig> {
        let web = self
            .web_config_file
            .as_deref()
            .map(WebConfig::load)
            .transpose()?
            .map(std::sync::Arc::new);
        Ok(HttpConfig {
            listen: self.listen,
            workers: self.http_workers.into(),
            max_connections: self.http_max_connections.into(),
            timeout: self.http_timeout,
            web,
            open_probes: self.web_open_probes,
        })
    }
}

/// Seconds, fractions allowed (`2`, `0.5`), or with a unit (`500ms`, `2s`).
pub fn seconds(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = match s.strip_suffix("ms") {
        Some(n) => (n, 1e-3),
        None => (s.strip_suffix('s').unwrap_or(s), 1.0),
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds (e.g. 2, 0.5, 500ms)"))?;
    if !(0.0..=86_400.0 * 365.0).contains(&(v * scale)) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("3s"), Ok(Duration::from_secs(3)));
        assert!(seconds("soon").unwrap_err().contains("not a number"));
        assert!(seconds("-1").is_err() && seconds("NaN").is_err());
    }

    #[test]
    fn bad_flags_are_explained() {
        let e = Args::try_parse_from(["fess-exporter", "--listen", "nowhere"]).unwrap_err();
        assert!(e.to_string().contains("--listen"), "{e}");
        let e = Args::try_parse_from(["fess-exporter", "--forget-after", "x"]).unwrap_err();
        assert!(e.to_string().contains("not a number of seconds"), "{e}");
    }
}
