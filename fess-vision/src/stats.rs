//! Cumulative counters an element keeps for the exporter: plain data, no GStreamer.

use std::collections::BTreeMap;

/// Bucket upper bounds (seconds) for per-frame latencies, and their histogram: the stats
/// protocol's.
use fess::observability::stats::{Histogram, LATENCY_BUCKETS};

/// Why a frame was not inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    /// The motion gate saw no change.
    NoMotion,
    /// Between two runs of `inference-interval`.
    Interval,
    /// The shared engine served another camera's frame first.
    Busy,
    /// Within `detect-fps`' budget: the last inference is too recent.
    Budget,
    /// Already late downstream (QoS): inference would only add latency.
    Late,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NoMotion => "no_motion",
            SkipReason::Interval => "interval",
            SkipReason::Busy => "busy",
            SkipReason::Budget => "budget",
            SkipReason::Late => "late",
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

impl DetectStats {
    /// The counters as stats-protocol metrics for `camera_id`, named as the exporter publishes them.
    pub fn metrics(&self, camera_id: &str) -> Vec<fess::observability::stats::Metric> {
        use fess::observability::stats::Metric;
        let cam = [("camera_id", camera_id)];
        let mut m = vec![
            Metric::counter("fess_frames_total", &cam, self.frames),
            Metric::counter("fess_inferences_total", &cam, self.inferences),
        ];
        for reason in [SkipReason::NoMotion, SkipReason::Interval] {
            m.push(Metric::counter(
                "fess_frames_skipped_total",
                &[("camera_id", camera_id), ("reason", reason.as_str())],
                self.skipped.get(&reason).copied().unwrap_or(0),
            ));
        }
        for (class, n) in &self.detections {
            m.push(Metric::counter(
                "fess_detections_total",
                &[("camera_id", camera_id), ("object_class", class)],
                *n,
            ));
        }
        for (name, h) in [
            ("fess_inference_latency_seconds", &self.inference_latency),
            ("fess_detection_latency_seconds", &self.frame_latency),
        ] {
            m.push(h.metric(name, &cam));
        }
        m
    }
}

/// Everything `fessface` counts since it started.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceStats {
    pub frames: u64,
    /// Frames the face detector ran on (see `detection-interval`).
    pub searched: u64,
    /// Faces found (per frame: a face seen on ten frames counts ten).
    pub faces: u64,
    /// Faces that went through the embedding model.
    pub embeddings: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Recognitions by outcome: once per face track and identity, not per frame.
    pub recognitions: BTreeMap<fess::gallery::Status, u64>,
    pub redis_up: bool,
    /// Why the gallery could not be read at the last attempt; `None` when it could.
    pub gallery_unreadable: Option<String>,
    pub gallery_persons: u64,
    pub gallery_version: u64,
    /// Whole per-frame work of the element.
    pub latency: Histogram,
}

impl Default for FaceStats {
    fn default() -> Self {
        FaceStats {
            frames: 0,
            searched: 0,
            faces: 0,
            embeddings: 0,
            cache_hits: 0,
            cache_misses: 0,
            recognitions: BTreeMap::new(),
            redis_up: false,
            gallery_unreadable: None,
            gallery_persons: 0,
            gallery_version: 0,
            latency: Histogram::new(&LATENCY_BUCKETS),
        }
    }
}

impl FaceStats {
    /// The counters as stats-protocol metrics for `camera_id`, named as the exporter publishes them.
    pub fn metrics(&self, camera_id: &str) -> Vec<fess::observability::stats::Metric> {
        use fess::observability::stats::Metric;
        let cam = [("camera_id", camera_id)];
        let mut m = vec![
            Metric::counter("fess_faces_detected_total", &cam, self.faces),
            Metric::counter("fess_face_embeddings_total", &cam, self.embeddings),
            Metric::counter("fess_face_cache_hits_total", &cam, self.cache_hits),
            Metric::counter("fess_face_cache_misses_total", &cam, self.cache_misses),
            Metric::gauge("fess_redis_up", &[], if self.redis_up { 1.0 } else { 0.0 }),
            Metric::gauge("fess_gallery_persons", &[], self.gallery_persons as f64),
            Metric::gauge(
                "fess_gallery_up",
                &cam,
                if self.gallery_unreadable.is_none() {
                    1.0
                } else {
                    0.0
                },
            ),
        ];
        for status in fess::gallery::Status::ALL {
            m.push(Metric::counter(
                "fess_face_recognitions_total",
                &[("camera_id", camera_id), ("status", status.as_str())],
                self.recognitions.get(&status).copied().unwrap_or(0),
            ));
        }
        m.push(self.latency.metric("fess_face_latency_seconds", &cam));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_metric_sent_is_in_the_catalogue() {
        let mut d = DetectStats::default();
        d.skip(SkipReason::Busy);
        d.detected("person");
        let mut f = FaceStats::default();
        f.recognitions.insert(fess::gallery::Status::Unknown, 1);
        for m in d.metrics("cam").iter().chain(&f.metrics("cam")) {
            if let Err(e) = fess::observability::metrics::check(m) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn metrics_carry_every_counter_with_its_labels() {
        let mut s = DetectStats {
            frames: 10,
            inferences: 7,
            ..Default::default()
        };
        s.skip(SkipReason::NoMotion);
        s.detected("person");
        s.inference_latency.observe(Duration::from_millis(30));
        let m = s.metrics("cam_01");
        let find = |name: &str, label: Option<(&str, &str)>| {
            m.iter()
                .find(|x| {
                    x.name == name
                        && label.is_none_or(|(k, v)| x.labels.get(k).map(String::as_str) == Some(v))
                })
                .unwrap_or_else(|| panic!("{name} missing"))
                .value
                .clone()
        };
        use fess::observability::stats::Value;
        assert_eq!(
            find("fess_frames_total", None),
            Value::Counter { value: 10 }
        );
        assert_eq!(
            find("fess_frames_skipped_total", Some(("reason", "no_motion"))),
            Value::Counter { value: 1 }
        );
        assert_eq!(
            find("fess_frames_skipped_total", Some(("reason", "interval"))),
            Value::Counter { value: 0 }
        );
        assert_eq!(
            find("fess_detections_total", Some(("object_class", "person"))),
            Value::Counter { value: 1 }
        );
        let Value::Histogram { count, .. } = find("fess_inference_latency_seconds", None) else {
            panic!()
        };
        assert_eq!(count, 1);
        assert!(m
            .iter()
            .all(|x| x.labels.get("camera_id").map(String::as_str) == Some("cam_01")));
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
