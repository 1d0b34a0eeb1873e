//! The aggregation: datagrams from many sources in, monotonic totals per series out.
//!
//! Sources report cumulative values. The store keeps each live source's last values (by the
//! labels it sent) and adds only the difference to the published total, so a lost datagram
//! costs nothing and a restarted source (a new `started_ms`, or values that went down) starts a
//! new difference from zero instead of making a total go backwards. Gauges are per source and
//! are added up over live sources (names ending in `_up` take the minimum).
//!
//! Bounds: label values past their cap (distinct cameras, or distinct values of one label of
//! one metric) are folded into `_other` and counted; sources, metric names and series past
//! their caps are refused and counted. A source silent for the forget time is dropped, and a
//! camera no live source reports is dropped with its series, which frees its slot.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use fess::observability::health::CameraHealth;
use fess::observability::stats::{
    unix_ms, CameraState, CameraStatus, Datagram, Metric, ParseError, Value, REPORT_INTERVAL,
};

use crate::validate::{self, Reject, MAX_LABELS};
use fess::observability::metrics::Kind;

/// The label value that stands for every value past a cap.
pub const OTHER: &str = "_other";
/// The series whose rate is a camera's fps.
pub const FRAMES_METRIC: &str = "fess_frames_total";
/// The window `fess_fps` is measured over.
pub const FPS_WINDOW: Duration = Duration::from_secs(5);

/// Caps on what sources can make the exporter hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Distinct active cameras; more are folded into `camera_id="_other"`.
    pub max_cameras: usize,
    /// Distinct values of any other label of one metric; more are folded into `_other`.
    pub max_label_values: usize,
    /// Live sources; datagrams from more are refused.
    pub max_sources: usize,
    /// Distinct metric names.
    pub max_metric_names: usize,
    /// Series over all metrics.
    pub max_series: usize,
    /// Metrics in one datagram, and series one source may report (fessdetect with 80 classes
    /// sends 86). With the other caps this bounds memory: each source keeps at most this many
    /// last values.
    pub max_metrics_per_datagram: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_cameras: 256,
            max_label_values: 128,
            max_sources: 256,
            max_metric_names: 128,
            max_series: 100_000,
            max_metrics_per_datagram: 512,
        }
    }
}

/// Label pairs sorted by name.
pub type Labels = Vec<(String, String)>;
/// A source: its pid and name.
pub type SourceKey = (u32, String);

/// The published state of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    Counter(u64),
    /// The latest value of each live source reporting it.
    Gauge(BTreeMap<SourceKey, f64>),
    Histogram {
        bounds: Vec<f64>,
        /// Per bucket, the last one above every bound.
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

impl Series {
    /// A series of `value`'s kind with nothing added yet.
    fn empty_for(value: &Value) -> Series {
        match value {
            Value::Counter { .. } => Series::Counter(0),
            Value::Gauge { .. } => Series::Gauge(BTreeMap::new()),
            Value::Histogram { bounds, .. } => Series::Histogram {
                bounds: bounds.clone(),
                counts: vec![0; bounds.len() + 1],
                sum: 0.0,
                count: 0,
            },
        }
    }

    /// Adds what a source's cumulative `value` grew by since its `last` one (all of it after a
    /// restart, when a value went down); a gauge takes the source's value. Returns a counter's
    /// new total.
    fn add(
        &mut self,
        source: &SourceKey,
        last: &mut Option<Last>,
        value: Value,
    ) -> Result<Option<u64>, Reject> {
        match (self, value) {
            (Series::Counter(total), Value::Counter { value }) => {
                let before = match last {
                    Some(Last::Counter(v)) if *v <= value => *v,
                    _ => 0,
                };
                *total += value - before;
                *last = Some(Last::Counter(value));
                Ok(Some(*total))
            }
            (Series::Gauge(by_source), Value::Gauge { value }) => {
                match by_source.get_mut(source) {
                    Some(v) => *v = value,
                    None => {
                        by_source.insert(source.clone(), value);
                    }
                }
                *last = Some(Last::Gauge);
                Ok(None)
            }
            (
                Series::Histogram {
                    bounds: have,
                    counts: totals,
                    sum: total_sum,
                    count: total_count,
                },
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                },
            ) => {
                if *have != bounds {
                    return Err(Reject::BucketMismatch);
                }
                let zero = vec![0; counts.len()];
                let (c0, s0, n0) = match &*last {
                    Some(Last::Histogram(c, s, n))
                        if *n <= count && c.iter().zip(&counts).all(|(a, b)| a <= b) =>
                    {
                        (c, *s, *n)
                    }
                    _ => (&zero, 0.0, 0),
                };
                for ((t, new), old) in totals.iter_mut().zip(&counts).zip(c0) {
                    *t += new - old;
                }
                *total_sum += sum - s0;
                *total_count += count - n0;
                *last = Some(Last::Histogram(counts, sum, count));
                Ok(None)
            }
            _ => Err(Reject::TypeConflict),
        }
    }
}

/// One metric name and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub kind: Kind,
    pub series: BTreeMap<Labels, Series>,
}

/// A source's last cumulative value of one of its series.
enum Last {
    Counter(u64),
    Histogram(Vec<u64>, f64, u64),
    Gauge,
}

struct SourceState {
    kind: String,
    started_ms: u64,
    last_seen: Instant,
    /// Its latest datagram's problems (validated).
    problems: Vec<String>,
    /// The camera state a camera service reports in its latest datagram (validated).
    camera: Option<CameraStatus>,
    /// Cameras in its latest datagram (after folding).
    cameras: BTreeSet<String>,
    /// By metric name and the labels it sent (before folding, so two folded series never
    /// share a last value).
    tracked: HashMap<(String, Labels), Tracked>,
}

/// One series of one source: where it goes after folding (decided once, so the usual datagram
/// allocates nothing for it) and its last value.
struct Tracked {
    folded: Labels,
    last: Option<Last>,
}

#[derive(Default)]
struct Camera {
    /// (when, fess_frames_total) as received.
    samples: VecDeque<(Instant, u64)>,
    last_advance: Option<Instant>,
}

const MAX_SAMPLES: usize = 64;

/// What the exporter counts about its input.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub received: u64,
    pub datagrams_rejected: BTreeMap<Reject, u64>,
    pub metrics_rejected: BTreeMap<Reject, u64>,
    /// Label values folded into `_other`, by label name.
    pub folded: BTreeMap<String, u64>,
    pub forgotten: u64,
}

/// The capped label values: camera slots (with their frame samples) and other values by
/// metric and label.
struct Slots {
    max_cameras: usize,
    max_label_values: usize,
    cameras: HashMap<String, Camera>,
    label_values: HashMap<String, HashMap<String, HashSet<String>>>,
    folded: BTreeMap<String, u64>,
}

impl Slots {
    /// `id` if it has (or gets) one of the camera slots, else `_other` (counted).
    fn camera(&mut self, id: &str) -> String {
        if id == OTHER || self.cameras.contains_key(id) {
            return id.to_string();
        }
        if self.cameras.len() < self.max_cameras {
            self.cameras.insert(id.to_string(), Camera::default());
            return id.to_string();
        }
        *self.folded.entry("camera_id".into()).or_default() += 1;
        OTHER.to_string()
    }

    fn label(&mut self, metric: &str, label: &str, value: &str) -> String {
        if !self.label_values.contains_key(metric) {
            self.label_values.insert(metric.to_string(), HashMap::new());
        }
        let by_label = self.label_values.get_mut(metric).expect("inserted above");
        if !by_label.contains_key(label) {
            by_label.insert(label.to_string(), HashSet::new());
        }
        let seen = by_label.get_mut(label).expect("inserted above");
        if seen.contains(value) {
            return value.to_string();
        }
        if seen.len() < self.max_label_values {
            seen.insert(value.to_string());
            return value.to_string();
        }
        *self.folded.entry(label.to_string()).or_default() += 1;
        OTHER.to_string()
    }

    /// A camera's frame count as received, for its fps and whether it still advances.
    fn sample_frames(&mut self, camera: &str, total: u64, now: Instant) {
        let Some(c) = self.cameras.get_mut(camera) else {
            return;
        };
        if c.samples.back().is_none_or(|(_, v)| *v < total) {
            c.last_advance = Some(now);
        }
        c.samples.push_back((now, total));
        while c.samples.len() > MAX_SAMPLES
            || c.samples
                .front()
                .is_some_and(|(t, _)| now - *t > 2 * FPS_WINDOW)
        {
            c.samples.pop_front();
        }
    }

    /// The labels a series is published under.
    fn fold(&mut self, metric: &str, sent: &Labels) -> Labels {
        sent.iter()
            .map(|(k, v)| {
                let v = if k == "camera_id" {
                    self.camera(v)
                } else {
                    self.label(metric, k, v)
                };
                (k.clone(), v)
            })
            .collect()
    }
}

/// Everything heard from the sources.
pub struct Store {
    limits: Limits,
    families: BTreeMap<String, Family>,
    sources: HashMap<SourceKey, SourceState>,
    slots: Slots,
    series_count: usize,
    counts: Counts,
}

impl Store {
    pub fn new(limits: Limits) -> Store {
        Store {
            families: BTreeMap::new(),
            sources: HashMap::new(),
            slots: Slots {
                max_cameras: limits.max_cameras,
                max_label_values: limits.max_label_values,
                cameras: HashMap::new(),
                label_values: HashMap::new(),
                folded: BTreeMap::new(),
            },
            series_count: 0,
            counts: Counts::default(),
            limits,
        }
    }

    pub fn families(&self) -> &BTreeMap<String, Family> {
        &self.families
    }

    /// What was received, refused, folded and forgotten.
    pub fn counts(&self) -> Counts {
        Counts {
            folded: self.slots.folded.clone(),
            ..self.counts.clone()
        }
    }

    pub fn series_count(&self) -> usize {
        self.series_count
    }

    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Parses and ingests one datagram's bytes.
    pub fn ingest_bytes(&mut self, bytes: &[u8], now: Instant) -> Result<(), Reject> {
        self.ingest_parsed(Datagram::parse(bytes), now)
    }

    /// Ingests a datagram, or counts why it could not be parsed.
    pub fn ingest_parsed(
        &mut self,
        parsed: Result<Datagram, ParseError>,
        now: Instant,
    ) -> Result<(), Reject> {
        match parsed {
            Ok(d) => self.ingest(d, now),
            Err(e) => {
                self.counts.received += 1;
                Err(self.refuse(Reject::from(&e)))
            }
        }
    }

    fn refuse(&mut self, why: Reject) -> Reject {
        *self.counts.datagrams_rejected.entry(why).or_default() += 1;
        why
    }

    /// Takes in one parsed datagram. Single metrics that are refused are counted and skipped;
    /// the result is an error only when the whole datagram is refused.
    pub fn ingest(&mut self, d: Datagram, now: Instant) -> Result<(), Reject> {
        self.counts.received += 1;
        if let Err(why) = validate::source(&d.source) {
            return Err(self.refuse(why));
        }
        if d.metrics.len() > self.limits.max_metrics_per_datagram {
            return Err(self.refuse(Reject::TooManyMetrics));
        }
        let key = (d.source.pid, d.source.name.clone());
        let mut state = match self.sources.remove(&key) {
            Some(s) => s,
            None if self.sources.len() >= self.limits.max_sources => {
                return Err(self.refuse(Reject::TooManySources))
            }
            None => SourceState {
                kind: d.source.kind.clone(),
                started_ms: d.source.started_ms,
                last_seen: now,
                problems: Vec::new(),
                camera: None,
                cameras: BTreeSet::new(),
                tracked: HashMap::new(),
            },
        };
        if state.started_ms != d.source.started_ms {
            // Restarted: its counters begin again from zero.
            state.tracked.clear();
            state.started_ms = d.source.started_ms;
        }
        state.kind = d.source.kind.clone();
        state.last_seen = now;
        state.problems = validate::problems(d.problems);
        state.camera = d.camera.map(validate::camera_status);
        let mut cameras = BTreeSet::new();
        if !d.source.camera_id.is_empty() {
            let cam = self.slots.camera(&d.source.camera_id);
            if cam != OTHER {
                cameras.insert(cam);
            }
        }
        for m in d.metrics {
            if let Err(why) = self.metric(&key, &mut state, &mut cameras, m, now) {
                *self.counts.metrics_rejected.entry(why).or_default() += 1;
            }
        }
        state.cameras = cameras;
        self.sources.insert(key, state);
        Ok(())
    }

    /// Takes in one metric of `key`'s datagram: checked, folded into its published series, and
    /// its camera noted (with the frame count's sample for the fps).
    fn metric(
        &mut self,
        key: &SourceKey,
        state: &mut SourceState,
        cameras: &mut BTreeSet<String>,
        m: Metric,
        now: Instant,
    ) -> Result<(), Reject> {
        let kind = Kind::of(&m.value);
        self.admit(&m, kind)?;
        let is_frames = m.name == FRAMES_METRIC;
        let full = state.tracked.len() >= self.limits.max_metrics_per_datagram;
        let family = self
            .families
            .get_mut(&m.name)
            .expect("present or inserted by admit");
        let tracked = match state
            .tracked
            .entry((m.name, m.labels.into_iter().collect()))
        {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(_) if full => return Err(Reject::TooManySeries),
            Entry::Vacant(v) => {
                let (name, sent) = v.key();
                let folded = self.slots.fold(name, sent);
                v.insert(Tracked { folded, last: None })
            }
        };
        let new_series = !family.series.contains_key(&tracked.folded);
        if new_series && self.series_count >= self.limits.max_series {
            return Err(Reject::TooManySeries);
        }
        // Only a new series clones its labels: the usual datagram allocates nothing here.
        let series = if new_series {
            family
                .series
                .entry(tracked.folded.clone())
                .or_insert_with(|| Series::empty_for(&m.value))
        } else {
            family.series.get_mut(&tracked.folded).expect("present")
        };
        let total = series.add(key, &mut tracked.last, m.value)?;
        if new_series {
            self.series_count += 1;
        }
        let camera = tracked
            .folded
            .iter()
            .find(|(k, v)| k == "camera_id" && v != OTHER)
            .map(|(_, v)| v.as_str());
        if let Some(cam) = camera {
            if let (true, Some(total)) = (is_frames, total) {
                self.slots.sample_frames(cam, total, now);
            }
            if !cameras.contains(cam) {
                cameras.insert(cam.to_string());
            }
        }
        Ok(())
    }

    /// Checks a metric's name, labels and value, and that its family exists with its kind
    /// (made when there is room for another name).
    fn admit(&mut self, m: &Metric, kind: Kind) -> Result<(), Reject> {
        validate::metric_name(&m.name, kind)?;
        match self.families.get(&m.name) {
            Some(f) if f.kind != kind => return Err(Reject::TypeConflict),
            Some(_) => {}
            None if self.families.len() >= self.limits.max_metric_names => {
                return Err(Reject::TooManyNames)
            }
            None => {
                let family = Family {
                    kind,
                    series: BTreeMap::new(),
                };
                self.families.insert(m.name.clone(), family);
            }
        }
        if m.labels.len() > MAX_LABELS
            || !m
                .labels
                .iter()
                .all(|(k, v)| validate::label_name(k) && validate::label_value(v))
        {
            return Err(Reject::BadLabel);
        }
        validate::value(&m.value)
    }

    /// Forgets sources silent for `after`, then cameras no live source reports, with their
    /// series. Returns how many sources went.
    pub fn forget_silent(&mut self, now: Instant, after: Duration) -> usize {
        let gone: Vec<SourceKey> = self
            .sources
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_seen) >= after)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.sources.remove(k);
        }
        self.counts.forgotten += gone.len() as u64;
        let live: HashSet<&String> = self.sources.values().flat_map(|s| &s.cameras).collect();
        let dead_cameras: HashSet<String> = self
            .slots
            .cameras
            .keys()
            .filter(|c| !live.contains(c))
            .cloned()
            .collect();
        if gone.is_empty() && dead_cameras.is_empty() {
            return 0;
        }
        let gone: HashSet<SourceKey> = gone.into_iter().collect();
        for c in &dead_cameras {
            self.slots.cameras.remove(c);
        }
        // Live sources must fold those cameras afresh if they report them again.
        for s in self.sources.values_mut() {
            s.tracked.retain(|_, t| {
                !t.folded
                    .iter()
                    .any(|(k, v)| k == "camera_id" && dead_cameras.contains(v))
            });
        }
        let mut removed = 0;
        for f in self.families.values_mut() {
            f.series.retain(|labels, s| {
                let dead_camera = labels
                    .iter()
                    .any(|(k, v)| k == "camera_id" && dead_cameras.contains(v));
                if let Series::Gauge(by_source) = s {
                    by_source.retain(|k, _| !gone.contains(k));
                }
                let keep = !dead_camera && !matches!(s, Series::Gauge(m) if m.is_empty());
                removed += usize::from(!keep);
                keep
            });
        }
        self.families.retain(|_, f| !f.series.is_empty());
        self.series_count -= removed;
        gone.len()
    }

    /// Active cameras (reported by a live source): fps, last frame age, source kinds and the
    /// problems their sources report.
    pub fn cameras(&self, now: Instant) -> BTreeMap<String, CameraHealth> {
        let mut out: BTreeMap<String, CameraHealth> = BTreeMap::new();
        for s in self.sources.values() {
            for cam in &s.cameras {
                let c = out.entry(cam.clone()).or_insert_with(|| {
                    let state = self.slots.cameras.get(cam);
                    CameraHealth {
                        fps: state.map_or(0.0, |c| fps(&c.samples, now)),
                        last_frame_age_seconds: state
                            .and_then(|c| c.last_advance)
                            .map(|t| now.saturating_duration_since(t).as_secs_f64()),
                        ..CameraHealth::default()
                    }
                });
                if let Some(status) = &s.camera {
                    served_state(c, status, unix_ms(SystemTime::now()));
                }
                if !c.sources.contains(&s.kind) {
                    c.sources.push(s.kind.clone());
                    c.sources.sort();
                }
                for p in &s.problems {
                    if !c.problems.contains(p) {
                        c.problems.push(p.clone());
                    }
                }
            }
        }
        out
    }
}

/// A camera service's report of `c` as `/health` shows it, the times relative to `now_ms`.
fn served_state(c: &mut CameraHealth, status: &CameraStatus, now_ms: u64) {
    let seconds = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
    c.state = Some(status.state);
    c.state_seconds = Some(seconds(status.since_ms, now_ms));
    let reconnecting = status.state == CameraState::Reconnecting;
    c.attempt = reconnecting.then_some(status.attempt);
    c.next_try_seconds = status
        .next_try_ms
        .filter(|_| reconnecting)
        .map(|t| seconds(now_ms, t));
    c.last_error = status.last_error.clone();
}

/// Frames per second from (time, cumulative frames) samples: the rise over the last
/// [`FPS_WINDOW`] of samples, 0 when the newest sample is too old to say the camera still runs.
pub fn fps(samples: &VecDeque<(Instant, u64)>, now: Instant) -> f64 {
    let Some(&(t1, v1)) = samples.back() else {
        return 0.0;
    };
    if now.saturating_duration_since(t1) > REPORT_INTERVAL * 5 / 2 {
        return 0.0;
    }
    let Some(&(t0, v0)) = samples.iter().find(|(t, _)| t1 - *t <= FPS_WINDOW) else {
        return 0.0;
    };
    let span = (t1 - t0).as_secs_f64();
    if span <= 0.0 {
        return 0.0;
    }
    (v1 - v0) as f64 / span
}

#[cfg(test)]
mod tests {
    use super::*;
    use fess::observability::stats::{Source, PROTOCOL_VERSION};

    fn datagram(pid: u32, started_ms: u64, camera: &str, metrics: Vec<Metric>) -> Datagram {
        Datagram {
            v: PROTOCOL_VERSION,
            source: Source {
                pid,
                name: "detect0".into(),
                kind: "fessdetect".into(),
                camera_id: camera.into(),
                started_ms,
            },
            sent_ms: 0,
            metrics,
            problems: Vec::new(),
            camera: None,
        }
    }

    fn frames(camera: &str, n: u64) -> Metric {
        Metric::counter(FRAMES_METRIC, &[("camera_id", camera)], n)
    }

    fn total(store: &Store, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match store.families().get(name)?.series.get(&labels)? {
            Series::Counter(v) => Some(*v),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn totals_stay_monotonic_across_restarts_and_lost_datagrams() {
        let mut s = Store::new(Limits::default());
        let t = Instant::now();
        s.ingest(datagram(1, 100, "cam", vec![frames("cam", 10)]), t)
            .unwrap();
        // One lost datagram costs nothing: values are cumulative.
        s.ingest(datagram(1, 100, "cam", vec![frames("cam", 30)]), t)
            .unwrap();
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", "cam")]), Some(30));
        // Restarted in the same process (new started_ms): counts from zero again.
        s.ingest(datagram(1, 200, "cam", vec![frames("cam", 5)]), t)
            .unwrap();
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", "cam")]), Some(35));
        // A second process for the same camera adds its own.
        s.ingest(datagram(2, 300, "cam", vec![frames("cam", 7)]), t)
            .unwrap();
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", "cam")]), Some(42));
        // A counter that went down without a new start time is a reset too.
        s.ingest(datagram(2, 300, "cam", vec![frames("cam", 2)]), t)
            .unwrap();
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", "cam")]), Some(44));
    }

    #[test]
    fn histograms_add_differences_and_refuse_other_bounds() {
        let mut s = Store::new(Limits::default());
        let t = Instant::now();
        let h = |counts: &[u64], sum| {
            let n = counts.iter().sum();
            Metric::histogram(
                "fess_detection_latency_seconds",
                &[("camera_id", "c")],
                &[0.1, 1.0],
                counts,
                sum,
                n,
            )
        };
        s.ingest(datagram(1, 1, "c", vec![h(&[1, 0, 0], 0.05)]), t)
            .unwrap();
        s.ingest(datagram(1, 1, "c", vec![h(&[2, 1, 0], 0.6)]), t)
            .unwrap();
        s.ingest(datagram(1, 2, "c", vec![h(&[0, 0, 1], 2.0)]), t)
            .unwrap();
        let series = &s.families()["fess_detection_latency_seconds"].series;
        let (
            _,
            Series::Histogram {
                counts, count, sum, ..
            },
        ) = series.iter().next().unwrap()
        else {
            panic!()
        };
        assert_eq!((counts.as_slice(), *count), (&[2, 1, 1][..], 4));
        assert!((sum - 2.6).abs() < 1e-9);
        let other = Metric::histogram(
            "fess_detection_latency_seconds",
            &[("camera_id", "c")],
            &[0.5],
            &[1, 0],
            0.1,
            1,
        );
        s.ingest(datagram(1, 2, "c", vec![other]), t).unwrap();
        assert_eq!(s.counts().metrics_rejected[&Reject::BucketMismatch], 1);
    }

    #[test]
    fn gauges_are_per_source_and_go_with_it() {
        let mut s = Store::new(Limits::default());
        let t = Instant::now();
        let q = |v| Metric::gauge("fess_kafka_queue_depth", &[], v);
        s.ingest(datagram(1, 1, "a", vec![q(3.0)]), t).unwrap();
        s.ingest(
            datagram(2, 1, "b", vec![q(4.0)]),
            t + Duration::from_secs(5),
        )
        .unwrap();
        let Series::Gauge(m) = &s.families()["fess_kafka_queue_depth"].series[&vec![]] else {
            panic!()
        };
        assert_eq!(m.values().sum::<f64>(), 7.0);
        assert_eq!(
            s.forget_silent(t + Duration::from_secs(6), Duration::from_secs(3)),
            1
        );
        let Series::Gauge(m) = &s.families()["fess_kafka_queue_depth"].series[&vec![]] else {
            panic!()
        };
        assert_eq!(m.values().sum::<f64>(), 4.0);
        assert_eq!(
            s.cameras(t + Duration::from_secs(6))
                .keys()
                .collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn caps_fold_and_refuse_and_forgetting_frees_slots() {
        let limits = Limits {
            max_cameras: 2,
            max_label_values: 2,
            max_sources: 3,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let t = Instant::now();
        for (pid, cam) in [(1, "a"), (2, "b"), (3, "c")] {
            s.ingest(datagram(pid, 1, cam, vec![frames(cam, 1)]), t)
                .unwrap();
        }
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", OTHER)]), Some(1));
        assert_eq!(s.counts().folded["camera_id"], 2); // source camera and label
        assert_eq!(s.cameras(t).len(), 2);
        assert_eq!(
            s.ingest(datagram(4, 1, "d", vec![]), t),
            Err(Reject::TooManySources)
        );
        let classes: Vec<Metric> = ["person", "car", "dog"]
            .iter()
            .map(|c| {
                Metric::counter(
                    "fess_detections_total",
                    &[("camera_id", "a"), ("object_class", c)],
                    1,
                )
            })
            .collect();
        s.ingest(datagram(1, 1, "a", classes), t).unwrap();
        assert_eq!(
            total(
                &s,
                "fess_detections_total",
                &[("camera_id", "a"), ("object_class", OTHER)]
            ),
            Some(1)
        );
        // Camera a's source goes silent: its camera and series go, and a new camera fits.
        s.ingest(
            datagram(2, 1, "b", vec![frames("b", 2)]),
            t + Duration::from_secs(10),
        )
        .unwrap();
        s.ingest(
            datagram(3, 1, "c", vec![frames("c", 2)]),
            t + Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            s.forget_silent(t + Duration::from_secs(10), Duration::from_secs(5)),
            1
        );
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", "a")]), None);
        assert!(total(
            &s,
            "fess_detections_total",
            &[("camera_id", "a"), ("object_class", "person")]
        )
        .is_none());
        s.ingest(
            datagram(5, 1, "e", vec![frames("e", 1)]),
            t + Duration::from_secs(10),
        )
        .unwrap();
        assert!(s.cameras(t + Duration::from_secs(10)).contains_key("e"));
    }

    #[test]
    fn a_dropped_camera_is_folded_afresh_so_the_cap_holds() {
        let limits = Limits {
            max_cameras: 1,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let t = Instant::now();
        s.ingest(datagram(1, 1, "", vec![frames("a", 1)]), t)
            .unwrap();
        // The source stops reporting a: the sweep drops it and frees its slot.
        s.ingest(datagram(1, 1, "", vec![frames("b", 1)]), t)
            .unwrap();
        assert_eq!(s.forget_silent(t, Duration::from_secs(60)), 0);
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", "a")]), None);
        // a comes back and takes the free slot; c finds none.
        let both = vec![frames("a", 2), frames("c", 1)];
        s.ingest(datagram(1, 1, "", both), t).unwrap();
        assert_eq!(s.cameras(t).keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(total(&s, FRAMES_METRIC, &[("camera_id", OTHER)]), Some(2));
    }

    #[test]
    fn bad_metrics_are_counted_by_reason() {
        let mut s = Store::new(Limits::default());
        let t = Instant::now();
        let metrics = vec![
            Metric::counter("fess_detections", &[], 1),
            Metric::gauge("fess_fps", &[], 1.0),
            Metric::counter("fess_x_total", &[("bad label", "v")], 1),
            Metric::gauge("fess_g", &[], f64::INFINITY),
            Metric::counter("fess_ok_total", &[("camera_id", "c")], 1),
        ];
        s.ingest(datagram(1, 1, "c", metrics), t).unwrap();
        s.ingest(
            datagram(1, 1, "c", vec![Metric::gauge("fess_ok_total", &[], 1.0)]),
            t,
        )
        .unwrap();
        let q = Metric::gauge("fess_q", &[], 1.0);
        let h = Metric::histogram("fess_q", &[], &[1.0], &[1, 0], 0.5, 1);
        s.ingest(datagram(1, 1, "c", vec![q, h]), t).unwrap();
        let r = &s.counts().metrics_rejected;
        for why in [
            Reject::Reserved,
            Reject::BadLabel,
            Reject::BadValue,
            Reject::TypeConflict,
        ] {
            assert_eq!(r.get(&why), Some(&1), "{why:?} in {r:?}");
        }
        // Names of the wrong form for their type: a counter without _total, a gauge with it.
        assert_eq!(r.get(&Reject::BadName), Some(&2));
        assert_eq!(total(&s, "fess_ok_total", &[("camera_id", "c")]), Some(1));
        assert_eq!(s.ingest_bytes(b"{", t), Err(Reject::Malformed));
        assert_eq!(s.counts().datagrams_rejected[&Reject::Malformed], 1);
    }

    #[test]
    fn fps_from_frame_samples() {
        let t = Instant::now();
        let samples: VecDeque<(Instant, u64)> = (0..=8)
            .map(|i| (t + Duration::from_secs(i), i * 10))
            .collect();
        let now = t + Duration::from_secs(8);
        assert!((fps(&samples, now) - 10.0).abs() < 1e-9);
        assert_eq!(fps(&samples, now + Duration::from_secs(3)), 0.0);
        assert_eq!(fps(&VecDeque::new(), now), 0.0);
        let mut s = Store::new(Limits::default());
        for i in 0..=4u64 {
            s.ingest(
                datagram(1, 1, "cam", vec![frames("cam", i * 25)]),
                t + Duration::from_secs(i),
            )
            .unwrap();
        }
        let cams = s.cameras(t + Duration::from_secs(4));
        assert!((cams["cam"].fps - 25.0).abs() < 1e-9, "{cams:?}");
        assert_eq!(cams["cam"].last_frame_age_seconds, Some(0.0));
        assert_eq!(cams["cam"].sources, ["fessdetect"]);
        assert!(cams["cam"].problems.is_empty());
        // A source's problems are the camera's until its next datagram has none.
        let mut told = datagram(1, 1, "cam", vec![frames("cam", 125)]);
        told.problems = vec!["the face gallery cannot be read".into()];
        s.ingest(told, t + Duration::from_secs(5)).unwrap();
        let cams = s.cameras(t + Duration::from_secs(5));
        assert_eq!(cams["cam"].problems, ["the face gallery cannot be read"]);
        s.ingest(
            datagram(1, 1, "cam", vec![frames("cam", 150)]),
            t + Duration::from_secs(6),
        )
        .unwrap();
        assert!(s.cameras(t + Duration::from_secs(6))["cam"]
            .problems
            .is_empty());
    }

    #[test]
    fn a_camera_services_state_reaches_health_bounded() {
        let t = Instant::now();
        let mut s = Store::new(Limits::default());
        let mut d = datagram(1, 1, "gate", Vec::new());
        d.source.kind = "camera".into();
        let now = unix_ms(SystemTime::now());
        d.camera = Some(CameraStatus {
            state: CameraState::Reconnecting,
            since_ms: now - 3_000,
            attempt: 4,
            next_try_ms: Some(now + 8_000),
            last_error: Some(format!("\u{1b}[2J{}", "x".repeat(2000))),
        });
        s.ingest(d, t).unwrap();
        let gate = &s.cameras(t)["gate"];
        assert_eq!(gate.state, Some(CameraState::Reconnecting));
        assert_eq!(gate.attempt, Some(4));
        let next = gate.next_try_seconds.unwrap();
        assert!((7.0..=8.0).contains(&next), "{next}");
        assert!(gate.state_seconds.unwrap() >= 3.0);
        let error = gate.last_error.as_deref().unwrap();
        // Cut, with the escape sequence spelled out.
        assert!(
            error.chars().count() <= validate::MAX_PROBLEM_CHARS + 16,
            "{error}"
        );
        assert!(!error.contains('\u{1b}'));
    }
}
