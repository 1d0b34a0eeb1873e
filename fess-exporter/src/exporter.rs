//! The exporter's shared state: the store behind a lock, the latest health check, and the
//! settings that turn them into `/metrics` and `/health`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fess::observability::health::{HealthStatus, PipelinesComponent};
use fess::observability::stats::Datagram;
use fess::sync::MutexExt;

use crate::render;
use crate::store::{Limits, Store};
use crate::validate::Reject;

/// How pipelines are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRules {
    /// Fewer active cameras make `/health` unhealthy (0: pipelines are optional).
    pub min_cameras: usize,
    /// A camera whose frames have not advanced for this long makes `/health` degraded.
    pub stale_after: Duration,
    /// A source silent this long is forgotten and its cameras become inactive.
    pub forget_after: Duration,
}

impl Default for PipelineRules {
    fn default() -> Self {
        PipelineRules {
            min_cameras: 1,
            stale_after: Duration::from_secs(10),
            forget_after: Duration::from_secs(30),
        }
    }
}

/// Everything the threads of the exporter share.
pub struct Exporter {
    store: Mutex<Store>,
    checked: Mutex<Option<HealthStatus>>,
    rules: PipelineRules,
}

impl Exporter {
    pub fn new(limits: Limits, rules: PipelineRules) -> Exporter {
        Exporter {
            store: Mutex::new(Store::new(limits)),
            checked: Mutex::new(None),
            rules,
        }
    }

    /// Takes in one datagram's bytes (parsed before taking the lock).
    pub fn ingest(&self, bytes: &[u8], now: Instant) -> Result<(), Reject> {
        let parsed = Datagram::parse(bytes);
        self.store.locked().ingest_parsed(parsed, now)
    }

    /// Forgets silent sources (see [`PipelineRules::forget_after`]); returns how many went.
    pub fn forget_silent(&self, now: Instant) -> usize {
        self.store
            .locked()
            .forget_silent(now, self.rules.forget_after)
    }

    /// Stores the latest result of the background checks.
    pub fn set_checked(&self, h: HealthStatus) {
        *self.checked.locked() = Some(h);
    }

    /// The latest checks with the pipelines as they are now (`None` before the first check).
    pub fn health(&self, now: Instant) -> Option<HealthStatus> {
        let checked = self.checked.locked().clone()?;
        let cameras = self.store.locked().cameras(now);
        let pipelines =
            PipelinesComponent::evaluate(cameras, self.rules.min_cameras, self.rules.stale_after);
        Some(checked.with_pipelines(pipelines))
    }

    /// `/metrics`.
    pub fn metrics(&self, now: Instant) -> String {
        let health = self.health(now);
        render::render(&self.store.locked(), health.as_ref(), now)
    }

    /// Series held, for tests and the benchmark.
    pub fn series_count(&self) -> usize {
        self.store.locked().series_count()
    }
}
