//! Cumulative counters an element keeps for the exporter: plain data, no GStreamer.

use std::collections::BTreeMap;
use std::time::Duration;

/// Bucket upper bounds (seconds) for per-frame latencies, from 1 ms to 5 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
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
}

/// Why a frame was not inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    /// The motion gate saw no change.
    NoMotion,
    /// Between two runs of `inference-interval`.
    Interval,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NoMotion => "no_motion",
            SkipReason::Interval => "interval",
        }
    }
}

/// Everything `fessdetect` counts since it started.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectStats {
    pub frames: u64,
    pub inferences: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Objects found by inference, by class label.
    pub detections: BTreeMap<String, u64>,
    /// Model run alone.
    pub inference_latency: Histogram,
    /// Whole per-frame work of the element (preprocess, inference, decode, track, metadata).
    pub frame_latency: Histogram,
}

impl Default for DetectStats {
    fn default() -> Self {
        DetectStats {
            frames: 0,
            inferences: 0,
            skipped: BTreeMap::new(),
            detections: BTreeMap::new(),
            inference_latency: Histogram::new(&LATENCY_BUCKETS),
            frame_latency: Histogram::new(&LATENCY_BUCKETS),
        }
    }
}

impl DetectStats {
    pub fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    pub fn detected(&mut self, label: &str) {
        match self.detections.get_mut(label) {
            Some(n) => *n += 1,
            None => {
                self.detections.insert(label.to_string(), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn counters() {
        let mut s = DetectStats::default();
        s.skip(SkipReason::NoMotion);
        s.skip(SkipReason::NoMotion);
        s.detected("person");
        assert_eq!(s.skipped[&SkipReason::NoMotion], 2);
        assert_eq!(s.detections["person"], 1);
    }
}
