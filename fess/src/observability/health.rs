//! The health check: [`HealthChecker::get_health_status`] reaches Redis and Kafka with short,
//! bounded timeouts, reads the host's CPU, memory and disk, and returns a [`HealthStatus`] that
//! serialises to the health JSON of the README's "Health status".
//!
//! `fess-exporter` runs it in a background thread, adds the [`PipelinesComponent`] it builds
//! from the stats it hears, and serves the result as `/health`.
//!
//! # Status rules
//!
//! Each component has a status (`healthy`, `degraded`, `unhealthy`, or `disabled` when it is
//! not checked) and the overall status is the worst of what the components imply:
//! - Kafka unreachable: **degraded** at once (events are queued and spooled), **unhealthy** once it
//!   has been unreachable for [`HealthChecker::kafka_grace`] (default 60 s) in a row.
//! - Redis unreachable: **degraded** (faces are recognised from the last gallery snapshot; the
//!   recognition cache and gallery changes wait for Redis).
//! - System: **degraded** when CPU, memory or disk use is at or above its threshold
//!   ([`SystemThresholds`], 90 % by default).
//! - Pipelines (added by the exporter): **unhealthy** when fewer cameras report than required,
//!   **degraded** when a reporting camera's frames stopped advancing or one of its sources
//!   reports a problem (a fessface whose gallery cannot be read, with the reason).
//!
//! Nothing here logs or returns a password: errors are the client's reason, never the URL.
//!
//! # Example
//!
//! ```
//! use fess::observability::health::{HealthChecker, Status};
//! use fess::delivery::kafka_config::KafkaSettings;
//!
//! use fess::gallery::redis_settings::RedisSettings;
//!
//! // Initialize components: REDIS_* and KAFKA_* from the environment or ./.env.
//! let redis = RedisSettings::from_env();
//! let kafka = KafkaSettings::from_env()?;
//!
//! // Create health checker
//! let health_checker = HealthChecker::new(Some(&redis), Some(&kafka))?;
//!
//! // Get overall health status
//! let status = health_checker.get_health_status();
//! println!("{}", serde_json::to_string_pretty(&status)?);
//! assert!(status.components.redis.healthy && status.components.kafka.healthy);
//! assert_ne!(status.status, Status::Unhealthy);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, Producer};
use serde::{Deserialize, Serialize};
use sysinfo::{Disks, System};

use crate::delivery::client_errors::ReportingContext;
use crate::delivery::kafka_config::KafkaSettings;
use crate::events::now_timestamp;
use crate::gallery::redis_settings::RedisSettings;
use crate::sync::MutexExt;

/// Default bound of each network check (connect plus reply).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Default time Kafka may stay unreachable before the overall status is `unhealthy`.
pub const DEFAULT_KAFKA_GRACE: Duration = Duration::from_secs(60);

/// A component's or the whole system's state, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not checked (no Redis or Kafka configured); counts as healthy.
    Disabled,
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    /// Whether a component in this state counts as healthy (`healthy` in the JSON).
    pub fn is_healthy(self) -> bool {
        matches!(self, Status::Disabled | Status::Healthy)
    }
}

/// `components.redis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisComponent {
    pub status: Status,
    pub healthy: bool,
    /// Round trip of a `PING`, in milliseconds (absent when it failed or is disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `components.kafka`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaComponent {
    pub status: Status,
    pub healthy: bool,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `components.system`: the host's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemComponent {
    pub status: Status,
    pub healthy: bool,
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub memory_available_mb: u64,
    pub disk_percent: f64,
    pub disk_free_gb: f64,
    /// Total minus available memory, in bytes (not serialised; `fess_memory_usage_bytes`).
    #[serde(skip)]
    pub memory_used_bytes: u64,
}

/// One camera as `fess-exporter` hears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraHealth {
    /// Frames per second over the last few seconds.
    pub fps: f64,
    /// Seconds since its frame count last advanced (absent when no frame count is reported).
    pub last_frame_age_seconds: Option<f64>,
    /// The kinds of source reporting for it (`fessdetect`, `fessface`, …).
    pub sources: Vec<String>,
    /// What its sources report keeps them from doing their job (see
    /// [`crate::observability::stats::Datagram::problems`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Its state, when a camera service (`fess run`) runs it; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::observability::stats::CameraState>,
    /// Seconds in that state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_seconds: Option<f64>,
    /// Failures in a row, while reconnecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Seconds until the next try, while reconnecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try_seconds: Option<f64>,
    /// Why it last failed (credentials masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl CameraHealth {
    /// Whether the camera keeps `/health` from being healthy: frames not advancing for
    /// `stale_after`, a problem reported, or a service reconnecting it or unable to run it.
    fn troubled(&self, stale_after: Duration) -> bool {
        use crate::observability::stats::CameraState;
        self.last_frame_age_seconds
            .is_some_and(|a| a >= stale_after.as_secs_f64())
            || !self.problems.is_empty()
            || matches!(
                self.state,
                Some(CameraState::Reconnecting | CameraState::Failed)
            )
    }
}

/// `components.pipelines`, added by `fess-exporter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelinesComponent {
    pub status: Status,
    pub healthy: bool,
    /// Cameras with a source heard from recently.
    pub active_cameras: usize,
    pub cameras: std::collections::BTreeMap<String, CameraHealth>,
}

impl PipelinesComponent {
    /// Applies the pipeline rules: unhealthy below `min_cameras` active cameras, degraded when a
    /// camera's frames have not advanced for `stale_after` or a camera has a problem.
    pub fn evaluate(
        cameras: std::collections::BTreeMap<String, CameraHealth>,
        min_cameras: usize,
        stale_after: Duration,
    ) -> PipelinesComponent {
        let stale = cameras.values().any(|c| c.troubled(stale_after));
        let status = if cameras.len() < min_cameras {
            Status::Unhealthy
        } else if stale {
            Status::Degraded
        } else {
            Status::Healthy
        };
        PipelinesComponent {
            status,
            healthy: status.is_healthy(),
            active_cameras: cameras.len(),
            cameras,
        }
    }
}

/// `components`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Components {
    pub redis: RedisComponent,
    pub kafka: KafkaComponent,
    pub system: SystemComponent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipelines: Option<PipelinesComponent>,
}

/// The health response (README, "Health status").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthStatus {
    pub status: Status,
    /// ISO-8601 UTC, like the events' timestamps.
    pub timestamp: String,
    pub components: Components,
    /// How long Kafka has been unreachable in a row (not serialised; drives the rule).
    #[serde(skip)]
    pub kafka_down_for: Option<Duration>,
}

impl HealthStatus {
    /// Adds the pipelines component and applies its rule to the overall status.
    pub fn with_pipelines(mut self, pipelines: PipelinesComponent) -> HealthStatus {
        self.status = self.status.max(pipelines.status);
        self.components.pipelines = Some(pipelines);
        self
    }
}

/// Levels at which the system component turns `degraded`, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystemThresholds {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_percent: f64,
}

impl Default for SystemThresholds {
    fn default() -> Self {
        SystemThresholds {
            cpu_percent: 90.0,
            memory_percent: 90.0,
            disk_percent: 90.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("Redis for the health check: {0}")]
    Redis(String),
    #[error("Kafka client for the health check: {0}")]
    Kafka(String),
    #[error("cannot read the system's load: {0}")]
    System(String),
}

struct Probe {
    sys: System,
    disks: Disks,
    cpu_refreshed: Instant,
}

/// Checks Redis, Kafka and the host; see the module documentation for the rules.
pub struct HealthChecker {
    /// The settings, for naming faults, and their client.
    redis: Option<(RedisSettings, redis::Client)>,
    kafka: Option<BaseProducer<ReportingContext>>,
    timeout: Duration,
    kafka_grace: Duration,
    thresholds: SystemThresholds,
    disk_path: PathBuf,
    probe: Mutex<Probe>,
    kafka_down_since: Mutex<Option<Instant>>,
}

impl HealthChecker {
    /// A checker for the Redis of `redis` and the Kafka cluster of `kafka` (either may be
    /// `None`: that component is then `disabled`). Connects nothing yet.
    pub fn new(
        redis: Option<&RedisSettings>,
        kafka: Option<&KafkaSettings>,
    ) -> Result<HealthChecker, HealthError> {
        let redis = redis
            .map(|r| {
                let client = r.client().map_err(|e| HealthError::Redis(e.to_string()))?;
                Ok((r.clone(), client))
            })
            .transpose()?;
        let timeout = DEFAULT_CHECK_TIMEOUT;
        let kafka = kafka.map(|k| kafka_client(k, timeout)).transpose()?;
        let mut sys = System::new().map_err(|e| HealthError::System(e.to_string()))?;
        sys.refresh_cpu_usage();
        let disks =
            Disks::new_with_refreshed_list().map_err(|e| HealthError::System(e.to_string()))?;
        Ok(HealthChecker {
            redis,
            kafka,
            timeout,
            kafka_grace: DEFAULT_KAFKA_GRACE,
            thresholds: SystemThresholds::default(),
            disk_path: PathBuf::from("/"),
            probe: Mutex::new(Probe {
                sys,
                disks,
                cpu_refreshed: Instant::now(),
            }),
            kafka_down_since: Mutex::new(None),
        })
    }

    /// Bound of each Redis and Kafka check (default [`DEFAULT_CHECK_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long Kafka may be unreachable before the status is `unhealthy`
    /// (default [`DEFAULT_KAFKA_GRACE`]).
    pub fn kafka_grace(mut self, grace: Duration) -> Self {
        self.kafka_grace = grace;
        self
    }

    /// When the system component turns `degraded`.
    pub fn thresholds(mut self, thresholds: SystemThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// The disk reported is the one holding `path` (default `/`; the spool folder is a good choice).
    pub fn disk_path(mut self, path: &Path) -> Self {
        self.disk_path = path.to_path_buf();
        self
    }

    /// Checks everything now; takes at most about two [`timeout`](Self::timeout)s.
    pub fn get_health_status(&self) -> HealthStatus {
        let redis = self.check_redis();
        let kafka = self.check_kafka();
        let kafka_down_for = {
            let mut since = self.kafka_down_since.locked();
            if kafka.status == Status::Unhealthy {
                Some(since.get_or_insert_with(Instant::now).elapsed())
            } else {
                *since = None;
                None
            }
        };
        let system = self.check_system();
        let mut status = Status::Healthy;
        if kafka_down_for.is_some_and(|d| d >= self.kafka_grace) {
            status = Status::Unhealthy;
        }
        for s in [redis.status, kafka.status, system.status] {
            if !s.is_healthy() {
                status = status.max(Status::Degraded);
            }
        }
        HealthStatus {
            status,
            timestamp: now_timestamp(),
            components: Components {
                redis,
                kafka,
                system,
                pipelines: None,
            },
            kafka_down_for,
        }
    }

    fn check_redis(&self) -> RedisComponent {
        let Some((settings, client)) = &self.redis else {
            return RedisComponent {
                status: Status::Disabled,
                healthy: true,
                latency_ms: None,
                error: None,
            };
        };
        let started = Instant::now();
        let ping = || -> redis::RedisResult<()> {
            let mut con = client.get_connection_with_timeout(self.timeout)?;
            con.set_read_timeout(Some(self.timeout))?;
            con.set_write_timeout(Some(self.timeout))?;
            redis::cmd("PING").query::<String>(&mut con).map(|_| ())
        };
        match ping() {
            Ok(()) => RedisComponent {
                status: Status::Healthy,
                healthy: true,
                latency_ms: Some(round2(started.elapsed().as_secs_f64() * 1000.0)),
                error: None,
            },
            // What failed, in the words the gallery uses: a refused password, certificate or
            // permission is not "unreachable".
            Err(e) => RedisComponent {
                status: Status::Unhealthy,
                healthy: false,
                latency_ms: None,
                error: Some(format!(
                    "{} ({e})",
                    settings.new_connection_fault(&e, "PING")
                )),
            },
        }
    }

    fn check_kafka(&self) -> KafkaComponent {
        let Some(producer) = &self.kafka else {
            return KafkaComponent {
                status: Status::Disabled,
                healthy: true,
                error: None,
            };
        };
        let security = &producer.context().failures;
        let metadata = producer.client().fetch_metadata(None, self.timeout);
        // Error callbacks wait in the client's queue until it is polled; a refused login is
        // reported just after the request it broke.
        if metadata.is_err() {
            producer.poll(Duration::from_millis(200));
        }
        match metadata {
            Ok(md) if !md.brokers().is_empty() => {
                security.clear();
                KafkaComponent {
                    status: Status::Healthy,
                    healthy: true,
                    error: None,
                }
            }
            Ok(_) => KafkaComponent {
                status: Status::Unhealthy,
                healthy: false,
                error: Some("the cluster lists no brokers".into()),
            },
            // A refused password or certificate is the answer, not "no answer".
            Err(e) => KafkaComponent {
                status: Status::Unhealthy,
                healthy: false,
                error: Some(security.last().unwrap_or_else(|| {
                    security.redact(&format!(
                        "no broker answered within {:?}: {e}",
                        self.timeout
                    ))
                })),
            },
        }
    }

    fn check_system(&self) -> SystemComponent {
        let mut p = self.probe.locked();
        // CPU use is measured between two refreshes; too close together it reads 0.
        let since = p.cpu_refreshed.elapsed();
        if since < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL {
            std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL - since);
        }
        p.sys.refresh_cpu_usage();
        p.cpu_refreshed = Instant::now();
        p.sys.refresh_memory();
        p.disks.refresh(true);
        let total = p.sys.total_memory();
        let available = p.sys.available_memory();
        let (disk_total, disk_free) = disk_space(&p.disks, &self.disk_path);
        let cpu_percent = round2(f64::from(p.sys.global_cpu_usage()));
        let memory_percent = round2(percent(total.saturating_sub(available), total));
        let disk_percent = round2(percent(disk_total.saturating_sub(disk_free), disk_total));
        let t = self.thresholds;
        let status = if cpu_percent >= t.cpu_percent
            || memory_percent >= t.memory_percent
            || disk_percent >= t.disk_percent
        {
            Status::Degraded
        } else {
            Status::Healthy
        };
        SystemComponent {
            status,
            healthy: status.is_healthy(),
            cpu_percent,
            memory_percent,
            memory_available_mb: available >> 20,
            disk_percent,
            disk_free_gb: round2(disk_free as f64 / f64::from(1u32 << 30)),
            memory_used_bytes: total.saturating_sub(available),
        }
    }
}

/// A producer used only for metadata requests: it reconnects quickly once the broker is back.
fn kafka_client(
    k: &KafkaSettings,
    timeout: Duration,
) -> Result<BaseProducer<ReportingContext>, HealthError> {
    let mut cfg = k
        .connection_config()
        .map_err(|e| HealthError::Kafka(e.to_string()))?;
    let ms = timeout.as_millis();
    cfg.set("client.id", format!("{}-health", k.client_id))
        .set("socket.timeout.ms", ms.max(10).to_string())
        // librdkafka's minimum.
        .set(
            "socket.connection.setup.timeout.ms",
            ms.max(1000).to_string(),
        )
        .set("reconnect.backoff.max.ms", "1000")
        .set("log_level", "0");
    let context = ReportingContext::new("fess: health check", k.secret_values());
    cfg.create_with_context(context)
        .map_err(|e| HealthError::Kafka(crate::delivery::kafka_config::client_error(&e)))
}

/// Total and free bytes of the disk mounted deepest along `path` (the largest disk if none is).
fn disk_space(disks: &Disks, path: &Path) -> (u64, u64) {
    disks
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .or_else(|| disks.iter().max_by_key(|d| d.total_space()))
        .map_or((0, 0), |d| (d.total_space(), d.available_space()))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn camera(age: Option<f64>) -> CameraHealth {
        CameraHealth {
            fps: 10.0,
            last_frame_age_seconds: age,
            sources: vec!["fessdetect".into()],
            ..CameraHealth::default()
        }
    }

    #[test]
    fn pipeline_rules() {
        let none = PipelinesComponent::evaluate(BTreeMap::new(), 1, Duration::from_secs(10));
        assert_eq!((none.status, none.healthy), (Status::Unhealthy, false));
        let optional = PipelinesComponent::evaluate(BTreeMap::new(), 0, Duration::from_secs(10));
        assert_eq!(optional.status, Status::Healthy);
        let cams = BTreeMap::from([
            ("a".to_string(), camera(Some(0.5))),
            ("b".to_string(), camera(None)),
        ]);
        let ok = PipelinesComponent::evaluate(cams.clone(), 2, Duration::from_secs(10));
        assert_eq!((ok.status, ok.active_cameras), (Status::Healthy, 2));
        let mut stale = cams;
        stale.insert("c".into(), camera(Some(30.0)));
        let p = PipelinesComponent::evaluate(stale, 1, Duration::from_secs(10));
        assert_eq!(p.status, Status::Degraded);
        let mut blind = camera(Some(0.5));
        blind
            .problems
            .push("the face gallery cannot be read".into());
        let cams = BTreeMap::from([("a".to_string(), blind)]);
        let p = PipelinesComponent::evaluate(cams, 1, Duration::from_secs(10));
        assert_eq!(p.status, Status::Degraded);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v["cameras"]["a"]["problems"][0],
            "the face gallery cannot be read"
        );
        use crate::observability::stats::CameraState;
        for (state, status) in [
            (CameraState::Running, Status::Healthy),
            (CameraState::Stopped, Status::Healthy),
            (CameraState::Reconnecting, Status::Degraded),
            (CameraState::Failed, Status::Degraded),
        ] {
            let served = CameraHealth {
                state: Some(state),
                ..camera(Some(0.5))
            };
            let cams = BTreeMap::from([("a".to_string(), served)]);
            let p = PipelinesComponent::evaluate(cams, 1, Duration::from_secs(10));
            assert_eq!(p.status, status, "{state:?}");
        }
    }

    #[test]
    fn disabled_components_and_the_documents_shape() {
        let checker = HealthChecker::new(None, None).unwrap();
        let h = checker.get_health_status();
        assert_eq!(h.components.redis.status, Status::Disabled);
        assert!(h.components.kafka.healthy);
        let v = serde_json::to_value(&h).unwrap();
        let sys = &v["components"]["system"];
        for key in [
            "cpu_percent",
            "memory_percent",
            "memory_available_mb",
            "disk_percent",
            "disk_free_gb",
        ] {
            assert!(sys[key].is_number(), "{key} in {v}");
        }
        assert!(sys["memory_percent"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v.get("kafka_down_for").is_none() && v["components"].get("pipelines").is_none());
        assert!(chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok());

        let worse = h.with_pipelines(PipelinesComponent::evaluate(
            BTreeMap::new(),
            1,
            Duration::from_secs(5),
        ));
        assert_eq!(worse.status, Status::Unhealthy);
    }

    #[test]
    fn unreachable_services_fail_fast_without_secrets() {
        // Nothing listens on port 1: refused at once, never hanging.
        let kafka = KafkaSettings {
            bootstrap_servers: "127.0.0.1:1".into(),
            extra: vec![("sasl.password".into(), "hunter2".into())],
            ..Default::default()
        };
        let redis = RedisSettings::for_url("redis://:hunter2@127.0.0.1:1/");
        let checker = HealthChecker::new(Some(&redis), Some(&kafka))
            .unwrap()
            .timeout(Duration::from_millis(500))
            .kafka_grace(Duration::ZERO);
        let h = checker.get_health_status();
        assert_eq!(h.components.redis.status, Status::Unhealthy);
        assert_eq!(h.components.kafka.status, Status::Unhealthy);
        assert_eq!(h.status, Status::Unhealthy);
        let json = serde_json::to_string(&h).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        let e = HealthChecker::new(Some(&RedisSettings::for_url("http://nope")), None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("Redis URL http://nope"), "{e}");
    }
}
