//! What the exporter accepts from a datagram: names, labels and values it can publish without
//! breaking the text format or growing without bound.

use fess::observability::stats::{CameraStatus, Source, Value};

use fess::observability::metrics::{self as catalog, Kind};

/// Longest metric or source name (label values: the catalogue's `MAX_LABEL_VALUE_LEN`).
pub const MAX_TEXT_LEN: usize = catalog::MAX_LABEL_VALUE_LEN;
/// Most labels on one metric.
pub const MAX_LABELS: usize = 8;
/// Most histogram bounds.
pub const MAX_BUCKETS: usize = 64;
/// Most problems kept per datagram, and the longest (in characters): the rest is cut.
pub const MAX_PROBLEMS: usize = 4;
pub const MAX_PROBLEM_CHARS: usize = 500;

/// Why a datagram, or one metric in it, was refused: the `reason` label of
/// `fess_exporter_datagrams_rejected_total` and `fess_exporter_metrics_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reject {
    /// Over the datagram size cap.
    TooLarge,
    /// Not JSON of the datagram's shape.
    Malformed,
    /// Another protocol version.
    Version,
    /// The source's name, kind or camera id is not acceptable.
    BadSource,
    /// More live sources than `--max-sources`.
    TooManySources,
    /// More metrics in one datagram than allowed.
    TooManyMetrics,
    /// Not a `fess_` metric name of the right form for its type.
    BadName,
    /// A name the exporter computes itself.
    Reserved,
    /// The name was seen before with another type, or the catalogue gives it another.
    TypeConflict,
    /// More distinct metric names than `--max-metric-names`.
    TooManyNames,
    /// A label name or value that is not acceptable.
    BadLabel,
    /// A value that is not finite, or a histogram that does not add up.
    BadValue,
    /// Histogram bounds other than the series already has.
    BucketMismatch,
    /// More series than `--max-series`.
    TooManySeries,
}

impl Reject {
    pub const ALL: [Reject; 14] = [
        Reject::TooLarge,
        Reject::Malformed,
        Reject::Version,
        Reject::BadSource,
        Reject::TooManySources,
        Reject::TooManyMetrics,
        Reject::BadName,
        Reject::Reserved,
        Reject::TypeConflict,
        Reject::TooManyNames,
        Reject::BadLabel,
        Reject::BadValue,
        Reject::BucketMismatch,
        Reject::TooManySeries,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::TooLarge => "too_large",
            Reject::Malformed => "malformed",
            Reject::Version => "version",
            Reject::BadSource => "bad_source",
            Reject::TooManySources => "too_many_sources",
            Reject::TooManyMetrics => "too_many_metrics",
            Reject::BadName => "bad_name",
            Reject::Reserved => "reserved",
            Reject::TypeConflict => "type_conflict",
            Reject::TooManyNames => "too_many_names",
            Reject::BadLabel => "bad_label",
            Reject::BadValue => "bad_value",
            Reject::BucketMismatch => "bucket_mismatch",
            Reject::TooManySeries => "too_many_series",
        }
    }
}

impl From<&fess::observability::stats::ParseError> for Reject {
    fn from(e: &fess::observability::stats::ParseError) -> Reject {
        match e {
            fess::observability::stats::ParseError::TooLarge(_) => Reject::TooLarge,
            fess::observability::stats::ParseError::Malformed(_) => Reject::Malformed,
            fess::observability::stats::ParseError::Version(_) => Reject::Version,
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A `fess_` name the text format takes unambiguously: counters end in `_total`; nothing
/// else ends in `_total`, `_bucket`, `_count` or `_sum`, which histograms and counters produce.
pub fn metric_name(name: &str, kind: Kind) -> Result<(), Reject> {
    if name.len() > MAX_TEXT_LEN || !name.starts_with("fess_") || !is_identifier(name) {
        return Err(Reject::BadName);
    }
    if catalog::is_reserved(name) {
        return Err(Reject::Reserved);
    }
    // A catalogued name keeps its catalogued type, whoever reports it.
    if catalog::REPORTED
        .iter()
        .any(|e| e.name == name && e.kind != kind)
    {
        return Err(Reject::TypeConflict);
    }
    let suffixed = ["_total", "_bucket", "_count", "_sum"]
        .iter()
        .any(|s| name.ends_with(s));
    let ok = match kind {
        Kind::Counter => name.ends_with("_total"),
        Kind::Gauge | Kind::Histogram => !suffixed,
    };
    if ok {
        Ok(())
    } else {
        Err(Reject::BadName)
    }
}

/// A label name: an identifier, not reserved by Prometheus (`__…`, `le`, `quantile`).
pub fn label_name(name: &str) -> bool {
    name.len() <= MAX_TEXT_LEN
        && is_identifier(name)
        && !name.starts_with("__")
        && name != "le"
        && name != "quantile"
}

/// A label value the text format carries safely (the catalogue's rule, which the rules files'
/// line and zone names are held to as well).
pub use catalog::is_label_value as label_value;

/// The source's identity: a name, a lowercase kind, and a camera id that is empty or a valid
/// label value.
pub fn source(s: &Source) -> Result<(), Reject> {
    let kind_ok = !s.kind.is_empty()
        && s.kind.len() <= 32
        && s.kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let ok =
        label_value(&s.name) && kind_ok && (s.camera_id.is_empty() || label_value(&s.camera_id));
    if ok {
        Ok(())
    } else {
        Err(Reject::BadSource)
    }
}

/// Finite gauges; histograms with increasing finite bounds whose buckets add up to the count.
pub fn value(v: &Value) -> Result<(), Reject> {
    let ok = match v {
        Value::Counter { .. } => true,
        Value::Gauge { value } => value.is_finite(),
        Value::Histogram {
            bounds,
            counts,
            sum,
            count,
        } => {
            !bounds.is_empty()
                && bounds.len() <= MAX_BUCKETS
                && bounds.iter().all(|b| b.is_finite())
                && bounds.windows(2).all(|w| w[0] < w[1])
                && counts.len() == bounds.len() + 1
                && counts.iter().try_fold(0u64, |a, c| a.checked_add(*c)) == Some(*count)
                && sum.is_finite()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Reject::BadValue)
    }
}

/// A source's problems as `/health` shows them: at most [`MAX_PROBLEMS`], each cut to
/// [`MAX_PROBLEM_CHARS`] with its control characters escaped (a source cannot grow the report
/// or forge its lines).
pub fn problems(problems: Vec<String>) -> Vec<String> {
    problems
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .take(MAX_PROBLEMS)
        .map(|p| shown_text(&p))
        .collect()
}

/// `text` cut to [`MAX_PROBLEM_CHARS`], its control characters escaped.
fn shown_text(text: &str) -> String {
    let cut: String = text.chars().take(MAX_PROBLEM_CHARS).collect();
    let mut shown = fess::gallery::printable(&cut);
    if cut.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// A camera service's report of a camera, its error text bounded like a problem's.
pub fn camera_status(mut status: CameraStatus) -> CameraStatus {
    status.last_error = status
        .last_error
        .filter(|e| !e.trim().is_empty())
        .map(|e| shown_text(&e));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_bounded_and_printable() {
        let many: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
        assert_eq!(problems(many), ["p0", "p1", "p2", "p3"]);
        let long = problems(vec![
            "x".repeat(100_000),
            " ".into(),
            "a\nb\u{1b}[2J".into(),
        ]);
        assert_eq!(long[0], format!("{}…", "x".repeat(MAX_PROBLEM_CHARS)));
        assert_eq!(long[1], "a\\nb\\u{1b}[2J");
        assert_eq!(long.len(), 2);
    }

    #[test]
    fn names() {
        assert!(metric_name("fess_detections_total", Kind::Counter).is_ok());
        assert!(metric_name("fess_kafka_queue_depth", Kind::Gauge).is_ok());
        assert!(metric_name("fess_detection_latency_seconds", Kind::Histogram).is_ok());
        for (bad, kind) in [
            ("detections_total", Kind::Counter),
            ("fess_detections", Kind::Counter),
            ("fess_queue_total", Kind::Gauge),
            ("fess_x_count", Kind::Gauge),
            ("fess_lat_bucket", Kind::Histogram),
            ("fess_bad-name_total", Kind::Counter),
            ("fess_é_total", Kind::Counter),
        ] {
            assert_eq!(metric_name(bad, kind), Err(Reject::BadName), "{bad}");
        }
        assert_eq!(metric_name("fess_fps", Kind::Gauge), Err(Reject::Reserved));
        assert_eq!(
            metric_name("fess_redis_up", Kind::Histogram),
            Err(Reject::TypeConflict)
        );
        assert_eq!(
            metric_name("fess_exporter_datagrams_received_total", Kind::Counter),
            Err(Reject::Reserved)
        );
        assert_eq!(
            metric_name(&format!("fess_{}_total", "x".repeat(200)), Kind::Counter),
            Err(Reject::BadName)
        );
    }

    #[test]
    fn labels() {
        assert!(label_name("camera_id") && label_name("object_class"));
        assert!(!label_name("__name__") && !label_name("le") && !label_name("1x"));
        assert!(label_value("file:///media/vtest.avi") && label_value("cam 01"));
        for bad in [
            "",
            "a\"b",
            "a\\b",
            "line\nbreak",
            "caméra",
            &"x".repeat(129),
        ] {
            assert!(!label_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        assert!(value(&Value::Gauge { value: 1.5 }).is_ok());
        assert_eq!(
            value(&Value::Gauge { value: f64::NAN }),
            Err(Reject::BadValue)
        );
        let h = |bounds: Vec<f64>, counts: Vec<u64>, count| Value::Histogram {
            bounds,
            counts,
            sum: 1.0,
            count,
        };
        assert!(value(&h(vec![0.1, 1.0], vec![1, 2, 0], 3)).is_ok());
        assert!(value(&h(vec![1.0, 0.1], vec![1, 2, 0], 3)).is_err());
        assert!(value(&h(vec![0.1, 1.0], vec![1, 2], 3)).is_err());
        assert!(value(&h(vec![0.1, 1.0], vec![1, 2, 0], 4)).is_err());
        assert!(value(&h(vec![0.1, f64::INFINITY], vec![1, 2, 0], 3)).is_err());
        assert!(value(&h(vec![0.1], vec![u64::MAX, 1], 0)).is_err());
    }

    #[test]
    fn sources() {
        let s = Source {
            pid: 1,
            name: "detect0".into(),
            kind: "fessdetect".into(),
            camera_id: String::new(),
            started_ms: 0,
        };
        assert!(source(&s).is_ok());
        let bad_kind = Source {
            kind: "Detect!".into(),
            ..s.clone()
        };
        assert_eq!(source(&bad_kind), Err(Reject::BadSource));
        let bad_camera = Source {
            camera_id: "a\nb".into(),
            ..s
        };
        assert_eq!(source(&bad_camera), Err(Reject::BadSource));
    }
}
