//! The stats protocol: every FESS source (an element, or a program using this crate) sends its
//! **cumulative** counters, gauges and histograms about once a second, and at EOS/stop, as one
//! JSON datagram to a Unix datagram socket where `fess-exporter` listens.
//!
//! Cumulative values make a lost datagram cost nothing; `source.started_ms` (with the pid)
//! tells the exporter a restarted source from a continuing one, so it can keep its totals
//! monotonic. Sending never blocks: with nobody listening the send fails at once and is counted.
//!
//! The socket is `FESS_STATS_SOCKET`, else `$XDG_RUNTIME_DIR/fess/stats.sock`, else
//! `/tmp/fess/stats.sock`. Whoever can write to its folder can replace the socket and read
//! every datagram, so both sides refuse a folder other users could write to ([`check_folder`]).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::sync::MutexExt;

use serde::{Deserialize, Serialize};

/// Version of the datagram layout.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest datagram a source sends (and the exporter accepts).
pub const MAX_DATAGRAM_BYTES: usize = 64 * 1024;
/// How often sources report.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Who is reporting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub pid: u32,
    /// The element's (or program's) name, unique within the process.
    pub name: String,
    /// `fessdetect`, `fessface`, `fesskafkasink` or `app`.
    pub kind: String,
    pub camera_id: String,
    /// When the source started (Unix ms): a new value means its counters restarted from zero.
    pub started_ms: u64,
}

/// One metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Value {
    Counter {
        value: u64,
    },
    Gauge {
        value: f64,
    },
    /// `counts[i]` observations ≤ `bounds[i]` (per bucket, not cumulative), the last one above
    /// every bound.
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// A `fess_` metric name as the exporter publishes it, e.g. `fess_detections_total`.
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub value: Value,
}

impl Metric {
    fn new(name: &str, labels: &[(&str, &str)], value: Value) -> Metric {
        Metric {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }

    pub fn counter(name: &str, labels: &[(&str, &str)], value: u64) -> Metric {
        Metric::new(name, labels, Value::Counter { value })
    }

    pub fn gauge(name: &str, labels: &[(&str, &str)], value: f64) -> Metric {
        Metric::new(name, labels, Value::Gauge { value })
    }

    pub fn histogram(
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
        count: u64,
    ) -> Metric {
        let value = Value::Histogram {
            bounds: bounds.to_vec(),
            counts: counts.to_vec(),
            sum,
            count,
        };
        Metric::new(name, labels, value)
    }
}

/// One report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datagram {
    pub v: u32,
    pub source: Source,
    /// When it was sent (Unix ms).
    pub sent_ms: u64,
    pub metrics: Vec<Metric>,
    /// What keeps the source from doing its job right now, in words (e.g. fessface's gallery
    /// that cannot be read): the exporter's `/health` shows them and turns `degraded`.
    /// Optional, so older sources stay valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The state of the camera a camera service (`fess run`) runs under `source.camera_id`:
    /// `/health` lists it. Optional, so older sources stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraStatus>,
}

/// Where a camera of `fess run` is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Its pipeline is starting; no frame has reached the analysis yet.
    Starting,
    /// Frames reach the analysis.
    Running,
    /// It failed (an error, an end of stream of a live source, a stall): waiting to be tried
    /// again, or tried again until its frames flow.
    Reconnecting,
    /// It ended: stopped, or a file played to its end.
    Stopped,
    /// It cannot run as configured (e.g. a property value the element refuses); not retried.
    Failed,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Running => "running",
            CameraState::Reconnecting => "reconnecting",
            CameraState::Stopped => "stopped",
            CameraState::Failed => "failed",
        }
    }
}

/// A camera's state as its service reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraStatus {
    pub state: CameraState,
    /// In this state since (Unix ms).
    pub since_ms: u64,
    /// Failures in a row (while reconnecting: the attempt that comes next is this plus one).
    #[serde(default)]
    pub attempt: u32,
    /// When it is tried again (Unix ms), while reconnecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try_ms: Option<u64>,
    /// Why it last failed, credentials masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Datagram {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("datagrams always serialise")
    }

    /// Parses and checks the layout (version, size); the exporter validates names and labels.
    pub fn parse(bytes: &[u8]) -> Result<Datagram, ParseError> {
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(ParseError::TooLarge(bytes.len()));
        }
        let d: Datagram =
            serde_json::from_slice(bytes).map_err(|e| ParseError::Malformed(e.to_string()))?;
        if d.v != PROTOCOL_VERSION {
            return Err(ParseError::Version(d.v));
        }
        Ok(d)
    }
}

/// Why bytes are not a datagram.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram of {0} bytes is over {MAX_DATAGRAM_BYTES}")]
    TooLarge(usize),
    #[error("not a stats datagram: {0}")]
    Malformed(String),
    #[error("protocol version {0} (expected {PROTOCOL_VERSION})")]
    Version(u32),
}

impl ParseError {
    /// A short label value: `too_large`, `malformed` or `version`.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::TooLarge(_) => "too_large",
            ParseError::Malformed(_) => "malformed",
            ParseError::Version(_) => "version",
        }
    }
}

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where sources send and the exporter listens.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FESS_STATS_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(d) => PathBuf::from(d).join("fess/stats.sock"),
        None => PathBuf::from("/tmp/fess/stats.sock"),
    }
}

/// The folder holding the socket `socket` (`.` for a bare file name).
pub fn folder_of(socket: &Path) -> &Path {
    socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Who uses the stats socket, for [`check_folder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    /// The exporter, which binds the socket: the folder must be its own (or root's).
    Listener,
    /// A source sending to it: the folder may also be another user's that only root (or we)
    /// could have handed over, as systemd's `RuntimeDirectory=` does for the exporter's user.
    Sender,
}

/// A stats socket folder whose socket could belong to another user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the stats socket folder {} (owner uid {owner}, mode {mode:04o}) {problem}: set \
     FESS_STATS_SOCKET to a socket in a folder of your own, or make this one yours and not \
     writable by group or others (chown, chmod 700)",
    folder.display()
)]
pub struct UnsafeFolder {
    pub folder: PathBuf,
    pub owner: u32,
    pub mode: u32,
    pub problem: String,
}

/// Checks the folder of the stats socket `socket` as ssh checks its files: nobody but its
/// owner may write to it, and the owner is us or root; a [`SocketRole::Sender`] also accepts
/// another user's folder whose parent only we or root can write to (e.g. `/run/fess` for the
/// exporter's user, but never `/tmp/fess` made by anyone). A folder that is not there passes:
/// binding or sending then fails with its own error.
pub fn check_folder(socket: &Path, role: SocketRole) -> Result<(), UnsafeFolder> {
    let folder = folder_of(socket);
    let Ok(meta) = std::fs::metadata(folder) else {
        return Ok(());
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let private = |m: &std::fs::Metadata| (m.uid() == me || m.uid() == 0) && m.mode() & 0o022 == 0;
    let problem = if meta.mode() & 0o022 != 0 {
        "is writable by group or others, who could replace the socket".to_string()
    } else if private(&meta) {
        return Ok(());
    } else if role == SocketRole::Listener {
        format!("belongs to another user (we are uid {me}), who could replace the socket")
    } else if std::fs::metadata(folder.join("..")).is_ok_and(|p| private(&p)) {
        return Ok(());
    } else {
        format!(
            "belongs to another user (we are uid {me}) and sits in a folder users other than \
             root and us can write to: anyone could have made it"
        )
    };
    Err(UnsafeFolder {
        folder: folder.to_path_buf(),
        owner: meta.uid(),
        mode: meta.mode() & 0o7777,
        problem,
    })
}

/// Sends one source's datagrams, never blocking.
#[derive(Debug)]
pub struct StatsReporter {
    source: Source,
    path: PathBuf,
    socket: Option<UnixDatagram>,
    last: Option<Instant>,
    /// Sent with every datagram until changed.
    problems: Vec<String>,
    camera: Option<CameraStatus>,
    /// Datagrams sent, failed (nobody listening, socket full, too big), and refused: not sent
    /// because the socket's folder is unsafe ([`check_folder`]).
    pub sent: u64,
    pub failed: u64,
    pub refused: u64,
    /// Why datagrams are refused now (warned about once, when it starts).
    unsafe_folder: Option<UnsafeFolder>,
}

impl StatsReporter {
    /// A reporter for `kind`/`name` to the default socket (see [`socket_path`]).
    pub fn new(kind: &str, name: &str, camera_id: &str) -> StatsReporter {
        StatsReporter::to_path(socket_path(), kind, name, camera_id)
    }

    pub fn to_path(path: PathBuf, kind: &str, name: &str, camera_id: &str) -> StatsReporter {
        let socket = UnixDatagram::unbound()
            .ok()
            .filter(|s| s.set_nonblocking(true).is_ok());
        StatsReporter {
            source: Source {
                pid: std::process::id(),
                name: name.into(),
                kind: kind.into(),
                camera_id: camera_id.into(),
                started_ms: unix_ms(SystemTime::now()),
            },
            path,
            socket,
            last: None,
            problems: Vec::new(),
            camera: None,
            sent: 0,
            failed: 0,
            refused: 0,
            unsafe_folder: None,
        }
    }

    /// Why datagrams are not sent now, if the socket's folder is unsafe.
    pub fn unsafe_folder(&self) -> Option<&UnsafeFolder> {
        self.unsafe_folder.as_ref()
    }

    pub fn set_camera_id(&mut self, camera_id: &str) {
        self.source.camera_id = camera_id.into();
    }

    /// The problems the next datagrams report (see [`Datagram::problems`]); empty when none.
    pub fn set_problems(&mut self, problems: Vec<String>) {
        self.problems = problems;
    }

    /// The camera state the next datagrams report (see [`Datagram::camera`]).
    pub fn set_camera_status(&mut self, status: Option<CameraStatus>) {
        self.camera = status;
    }

    /// True when a report is due (the first one, then every [`REPORT_INTERVAL`]).
    pub fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= REPORT_INTERVAL)
    }

    /// Sends `metrics` now; returns whether it went out. Failures are counted, never waited on.
    /// The folder is checked at every send (two `stat`s a second): it may be replaced any time.
    pub fn send(&mut self, metrics: Vec<Metric>) -> bool {
        self.last = Some(Instant::now());
        match check_folder(&self.path, SocketRole::Sender) {
            Ok(()) => self.unsafe_folder = None,
            Err(e) => {
                if self.unsafe_folder.as_ref() != Some(&e) {
                    eprintln!("fess: not sending stats to {}: {e}", self.path.display());
                }
                self.unsafe_folder = Some(e);
                self.refused += 1;
                return false;
            }
        }
        let d = Datagram {
            v: PROTOCOL_VERSION,
            source: self.source.clone(),
            sent_ms: unix_ms(SystemTime::now()),
            metrics,
            problems: self.problems.clone(),
            camera: self.camera.clone(),
        };
        let bytes = d.to_bytes();
        let ok = bytes.len() <= MAX_DATAGRAM_BYTES
            && self
                .socket
                .as_ref()
                .is_some_and(|s| s.send_to(&bytes, &self.path).is_ok());
        if ok {
            self.sent += 1;
        } else {
            self.failed += 1;
        }
        ok
    }
}

/// Bucket upper bounds (seconds) for latencies, from 1 ms to 5 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Bucket upper bounds (seconds) for stays in a zone, from a second to an hour.
pub const DWELL_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A cumulative histogram in Prometheus' shape: `counts[i]` counts observations ≤ `bounds[i]`
/// (not cumulative across buckets; the exporter sums them), plus overflow, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// An empty histogram of [`LATENCY_BUCKETS`].
impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&LATENCY_BUCKETS)
    }
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, d: Duration) {
        let v = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// As the metric `name` with `labels`.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Metric {
        Metric::histogram(
            name,
            labels,
            self.bounds,
            &self.counts,
            self.sum,
            self.count,
        )
    }
}

type SeriesKey = (String, Vec<(String, String)>);

/// The metrics of a program that is not a GStreamer element (the Python `metrics` module the
/// README's "fess-exporter" section maps to it):
/// counters incremented by label, gauges set, latencies observed, all reported to
/// `fess-exporter` through a [`StatsReporter`] of kind `app` at most once per
/// [`REPORT_INTERVAL`] and once more on drop, so they appear under the same names as the
/// elements' metrics.
///
/// ```
/// use fess::observability::stats::AppStats;
///
/// let metrics = AppStats::new("my-detector");
/// // Increment detection counter
/// metrics.inc("fess_detections_total", &[("camera_id", "cam_01"), ("object_class", "person")]);
/// // Record detection latency
/// let t = std::time::Instant::now();
/// metrics.observe("fess_detection_latency_seconds", &[("camera_id", "cam_01")], t.elapsed());
/// // Update system metrics
/// metrics.set("fess_kafka_queue_depth", &[], 3.0);
/// assert_eq!(metrics.snapshot().len(), 3);
/// ```
#[derive(Debug)]
pub struct AppStats {
    inner: std::sync::Mutex<(StatsReporter, BTreeMap<SeriesKey, Value>)>,
}

impl AppStats {
    /// Metrics of the program called `name`, sent to [`socket_path`].
    pub fn new(name: &str) -> AppStats {
        AppStats::to_path(socket_path(), name)
    }

    /// Metrics of the program called `name`, sent to `path`.
    pub fn to_path(path: PathBuf, name: &str) -> AppStats {
        AppStats {
            inner: std::sync::Mutex::new((
                StatsReporter::to_path(path, "app", name, ""),
                BTreeMap::new(),
            )),
        }
    }

    /// Adds one to the counter `name` (it should end in `_total`) with `labels`.
    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.inc_by(name, labels, 1);
    }

    /// Adds `n` to the counter `name` with `labels`.
    pub fn inc_by(&self, name: &str, labels: &[(&str, &str)], n: u64) {
        self.update(name, labels, Value::Counter { value: 0 }, |v| {
            if let Value::Counter { value } = v {
                *value += n;
            }
        });
    }

    /// Sets the gauge `name` with `labels`.
    pub fn set(&self, name: &str, labels: &[(&str, &str)], to: f64) {
        self.update(name, labels, Value::Gauge { value: to }, |v| {
            if let Value::Gauge { value } = v {
                *value = to;
            }
        });
    }

    /// Observes a duration in the histogram `name` (buckets [`LATENCY_BUCKETS`]).
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], took: Duration) {
        let empty = Value::Histogram {
            bounds: LATENCY_BUCKETS.to_vec(),
            counts: vec![0; LATENCY_BUCKETS.len() + 1],
            sum: 0.0,
            count: 0,
        };
        let s = took.as_secs_f64();
        self.update(name, labels, empty, |v| {
            if let Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            } = v
            {
                let i = bounds.iter().position(|b| s <= *b).unwrap_or(bounds.len());
                counts[i] += 1;
                *sum += s;
                *count += 1;
            }
        });
    }

    /// Everything recorded so far, as sent.
    pub fn snapshot(&self) -> Vec<Metric> {
        let inner = self.inner.locked();
        Self::metrics(&inner.1)
    }

    /// Sends the metrics now; returns whether the datagram went out.
    pub fn report(&self) -> bool {
        let mut inner = self.inner.locked();
        let m = Self::metrics(&inner.1);
        inner.0.send(m)
    }

    fn metrics(values: &BTreeMap<SeriesKey, Value>) -> Vec<Metric> {
        values
            .iter()
            .map(|((name, labels), value)| Metric {
                name: name.clone(),
                labels: labels.iter().cloned().collect(),
                value: value.clone(),
            })
            .collect()
    }

    fn update(&self, name: &str, labels: &[(&str, &str)], new: Value, f: impl FnOnce(&mut Value)) {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        let mut inner = self.inner.locked();
        f(inner.1.entry((name.to_string(), labels)).or_insert(new));
        if inner.0.due() {
            let m = Self::metrics(&inner.1);
            inner.0.send(m);
        }
    }
}

impl Drop for AppStats {
    fn drop(&mut self) {
        self.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn histogram_buckets_and_overflow() {
        let mut h = Histogram::new(&LATENCY_BUCKETS);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(60));
        h.observe(Duration::from_secs(9));
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[6], 1); // ≤ 0.075
        assert_eq!(h.counts[LATENCY_BUCKETS.len()], 1);
        assert_eq!(h.count, 3);
        assert!((h.sum - 9.0605).abs() < 1e-9);
    }

    /// A fresh folder of this test's own with `mode`.
    fn folder(test: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fess-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        mkdir(&dir, mode)
    }

    fn mkdir(dir: &Path, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        chmod(dir, mode);
        dir.to_path_buf()
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A socket someone bound in `dir`, and a reporter to it.
    fn socket_in(dir: &Path) -> (UnixDatagram, StatsReporter) {
        let path = dir.join("stats.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        (
            listener,
            StatsReporter::to_path(path, "fessdetect", "d0", "cam"),
        )
    }

    fn give_to_nobody(path: &Path) {
        std::os::unix::fs::chown(path, Some(65534), Some(65534))
            .expect("giving a folder to another user needs root, as the test command runs");
    }

    /// A socket listening at a fresh path of this test's own.
    fn listen(test: &str) -> (PathBuf, UnixDatagram) {
        let path = folder(test, 0o700).join("stats.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        (path, listener)
    }

    /// Whether a datagram waits at `listener`.
    fn received(listener: &UnixDatagram) -> bool {
        listener.set_nonblocking(true).unwrap();
        listener.recv(&mut [0u8; MAX_DATAGRAM_BYTES]).is_ok()
    }

    #[test]
    fn no_datagram_goes_to_a_folder_another_user_could_write_to() {
        let base = folder("unsafe-folders", 0o755);

        // World-writable: whoever wrote this socket could be anyone.
        let open = mkdir(&base.join("open"), 0o777);
        let (listener, mut r) = socket_in(&open);
        assert!(!r.send(vec![]));
        assert!(!r.send(vec![]));
        assert_eq!((r.sent, r.failed, r.refused), (0, 0, 2));
        assert!(!received(&listener));
        let why = r.unsafe_folder().unwrap().to_string();
        for part in [
            open.to_str().unwrap(),
            "owner uid 0",
            "mode 0777",
            "writable by group or others",
            "FESS_STATS_SOCKET",
        ] {
            assert!(why.contains(part), "{part}: {why}");
        }
        // Fixed: sent again.
        chmod(&open, 0o700);
        assert!(r.send(vec![]));
        assert!(r.unsafe_folder().is_none());
        assert!(received(&listener));

        // The attack of issue 20: another user made /tmp/fess (here in a folder like /tmp).
        let tmp = mkdir(&base.join("tmp"), 0o1777);
        let theirs = mkdir(&tmp.join("fess"), 0o755);
        give_to_nobody(&theirs);
        let (listener, mut r) = socket_in(&theirs);
        assert!(!r.send(vec![]));
        assert_eq!(r.refused, 1);
        assert!(!received(&listener));
        let why = r.unsafe_folder().unwrap().to_string();
        for part in [
            "owner uid 65534",
            "mode 0755",
            "another user (we are uid 0)",
            "anyone could have made it",
        ] {
            assert!(why.contains(part), "{part}: {why}");
        }

        // The same folder handed over in a folder only root can write to (systemd's
        // RuntimeDirectory for the exporter's user): sources send, the exporter itself refuses.
        let given = mkdir(&mkdir(&base.join("run"), 0o755).join("fess"), 0o750);
        give_to_nobody(&given);
        let (listener, mut r) = socket_in(&given);
        assert!(r.send(vec![]));
        assert!(received(&listener));
        let e = check_folder(&given.join("stats.sock"), SocketRole::Listener).unwrap_err();
        assert!(e.problem.contains("another user"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn datagrams_round_trip_and_garbage_is_refused() {
        let (path, listener) = listen("stats");
        let mut r = StatsReporter::to_path(path.clone(), "fessdetect", "detect0", "cam_01");
        assert!(r.due());
        let m = vec![
            Metric::counter(
                "fess_detections_total",
                &[("camera_id", "cam_01"), ("object_class", "person")],
                7,
            ),
            Metric::gauge("fess_kafka_queue_depth", &[], 3.0),
            Metric::histogram(
                "fess_detection_latency_seconds",
                &[("camera_id", "cam_01")],
                &[0.1, 1.0],
                &[2, 1, 0],
                0.35,
                3,
            ),
        ];
        assert!(r.send(m.clone()));
        assert!(!r.due());
        let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
        let n = listener.recv(&mut buf).unwrap();
        let d = Datagram::parse(&buf[..n]).unwrap();
        assert_eq!(d.source.kind, "fessdetect");
        assert_eq!(d.source.pid, std::process::id());
        assert_eq!(d.metrics, m);
        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
        assert!(text.contains(r#""type":"counter","value":7"#), "{text}");
        // No problems: the field is left out, as older sources send it.
        assert!(
            d.problems.is_empty() && !text.contains("problems"),
            "{text}"
        );
        r.set_problems(vec!["the face gallery cannot be read".into()]);
        assert!(r.send(vec![]));
        let n = listener.recv(&mut buf).unwrap();
        let told = Datagram::parse(&buf[..n]).unwrap();
        assert_eq!(told.problems, ["the face gallery cannot be read"]);

        assert!(Datagram::parse(b"garbage")
            .unwrap_err()
            .to_string()
            .contains("not a stats datagram"));
        let mut wrong = d.clone();
        wrong.v = 99;
        assert!(Datagram::parse(&wrong.to_bytes())
            .unwrap_err()
            .to_string()
            .contains("version 99"));
        assert!(Datagram::parse(&vec![b' '; MAX_DATAGRAM_BYTES + 1])
            .unwrap_err()
            .to_string()
            .contains("over"));

        // Nobody listening: fails at once, counted.
        drop(listener);
        let _ = std::fs::remove_file(&path);
        let t = Instant::now();
        assert!(!r.send(vec![]));
        assert!(t.elapsed() < Duration::from_millis(100));
        assert_eq!((r.sent, r.failed), (2, 1));
    }

    #[test]
    fn app_stats_report_cumulative_values_by_label() {
        let (path, listener) = listen("appstats");
        listener.set_nonblocking(true).unwrap();
        let app = AppStats::to_path(path.clone(), "loop");
        let person = [("camera_id", "cam_01"), ("object_class", "person")];
        app.inc("fess_detections_total", &person);
        app.inc_by("fess_detections_total", &person, 2);
        app.set("fess_kafka_queue_depth", &[], 4.0);
        app.observe(
            "fess_detection_latency_seconds",
            &[("camera_id", "cam_01")],
            Duration::from_millis(30),
        );
        drop(app);
        let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
        let mut last = None;
        while let Ok(n) = listener.recv(&mut buf) {
            last = Some(Datagram::parse(&buf[..n]).unwrap());
        }
        let d = last.expect("the final report on drop");
        assert_eq!(d.source.kind, "app");
        let find = |name: &str| d.metrics.iter().find(|m| m.name == name).unwrap().clone();
        assert_eq!(
            find("fess_detections_total").value,
            Value::Counter { value: 3 }
        );
        assert_eq!(
            find("fess_kafka_queue_depth").value,
            Value::Gauge { value: 4.0 }
        );
        match find("fess_detection_latency_seconds").value {
            Value::Histogram { counts, count, .. } => {
                assert_eq!((counts[5], count), (1, 1)); // ≤ 0.05 s
            }
            v => panic!("{v:?}"),
        }
    }
}
