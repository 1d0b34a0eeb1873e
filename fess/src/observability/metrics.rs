//! The one catalogue of the metrics FESS publishes (names, kinds, label names, help): what the
//! elements and programs report over the stats protocol, and what the exporter computes. The
//! elements' tests check every metric they send against it ([`check`]), the exporter takes its
//! help texts and reserved names from it. Names a program reports that are not listed here are
//! published too (if valid) with a generic help text.

use crate::observability::stats::{Metric, Value};

/// How a metric behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The kind of a reported value.
    pub fn of(v: &Value) -> Kind {
        match v {
            Value::Counter { .. } => Kind::Counter,
            Value::Gauge { .. } => Kind::Gauge,
            Value::Histogram { .. } => Kind::Histogram,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One published metric: name, kind, labels and help.
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static str,
    pub help: &'static str,
}

const fn entry(name: &'static str, kind: Kind, labels: &'static str, help: &'static str) -> Entry {
    Entry {
        name,
        kind,
        labels,
        help,
    }
}

/// Metrics the elements (and programs using `fess::observability::stats`) report.
pub const REPORTED: &[Entry] = &[
    entry("fess_frames_total", Kind::Counter, "camera_id", "Frames seen by fessdetect."),
    entry("fess_inferences_total", Kind::Counter, "camera_id", "Frames the detector ran on."),
    entry("fess_frames_skipped_total", Kind::Counter, "camera_id, reason", "Frames not inferred, by reason (no_motion, interval, busy, budget, late)."),
    entry("fess_detections_total", Kind::Counter, "camera_id, object_class", "Objects detected, by camera and object class."),
    entry("fess_inference_latency_seconds", Kind::Histogram, "camera_id", "Time of one model run."),
    entry("fess_detection_latency_seconds", Kind::Histogram, "camera_id", "Detection processing time per frame (preprocess, inference, decode, tracking)."),
    entry("fess_face_recognitions_total", Kind::Counter, "camera_id, status", "Face recognitions, by camera and authorization status (authorized, unauthorized, unknown)."),
    entry("fess_face_cache_hits_total", Kind::Counter, "camera_id", "Recognitions answered from the cache."),
    entry("fess_face_cache_misses_total", Kind::Counter, "camera_id", "Recognitions that missed the cache."),
    entry("fess_faces_detected_total", Kind::Counter, "camera_id", "Faces detected."),
    entry("fess_face_embeddings_total", Kind::Counter, "camera_id", "Face embeddings computed."),
    entry("fess_face_latency_seconds", Kind::Histogram, "camera_id", "Face detection and recognition time per frame."),
    entry("fess_redis_up", Kind::Gauge, "", "Whether fessface reaches Redis (1) or not (0); the minimum over sources."),
    entry("fess_gallery_persons", Kind::Gauge, "", "Persons in the face gallery."),
    entry("fess_gallery_up", Kind::Gauge, "camera_id", "Whether fessface could read its face gallery at its last attempt (1) or not (0: Redis unreachable or refusing, or the gallery unreadable; /health says why)."),
    entry("fess_events_built_total", Kind::Counter, "camera_id, type", "Events built by fesskafkasink, by type (motion, face, alert)."),
    entry("fess_line_crossings_total", Kind::Counter, "camera_id, line, direction, object_class", "Tracked objects that crossed a counting line of the rules file, by line, direction (the line's own names, in/out by default) and object class; each track counts once per direction."),
    entry("fess_zone_objects", Kind::Gauge, "camera_id, zone, object_class", "Objects in a zone of the rules file now, by zone and object class."),
    entry("fess_zone_dwell_seconds", Kind::Histogram, "camera_id, zone, object_class", "Length of completed stays of tracked objects in a zone (ended by leaving it or by the track ending), on the stream's running time."),
    entry("fess_kafka_events_sent_total", Kind::Counter, "topic, status", "Kafka events sent, by topic and status (success, error, dropped, spooled)."),
    entry("fess_kafka_queue_depth", Kind::Gauge, "", "Events queued for or in flight to Kafka, summed over sources."),
    entry("fess_kafka_spool_bytes", Kind::Gauge, "", "Bytes of the events waiting in the on-disk spools to be sent (again), summed over sources."),
    entry("fess_kafka_events_recovered_total", Kind::Counter, "", "Events an earlier run left unacknowledged in a spool and sent again (at least once: some may arrive twice, with the same event_id)."),
    entry("fess_kafka_spool_damaged_total", Kind::Counter, "", "Spool records found torn or failing their checksum: counted, skipped, never sent."),
    entry("fess_kafka_spool_lost_total", Kind::Counter, "", "Events that waited in a spool folder deleted under the running sink: gone with it (the folder is made again and the loss warned about)."),
    entry("fess_kafka_broker_up", Kind::Gauge, "", "Whether the publishers reach the Kafka cluster (1) or not (0); the minimum over sources."),
    entry("fess_event_latency_seconds", Kind::Histogram, "camera_id", "From the capture of a frame to Kafka's acknowledgement of an event built on it (events delivered on their first try; those that waited in the spool count as spooled)."),
    entry("fess_camera_up", Kind::Gauge, "camera_id", "Whether fess run has the camera running, frames reaching the analysis (1), or not (0: starting, reconnecting, stopped or failed; /health says which and why)."),
    entry("fess_camera_restarts_total", Kind::Counter, "camera_id, reason", "Times fess run restarted a camera's pipeline, by reason (error, eos, stall)."),
    entry("fess_camera_last_frame_age_seconds", Kind::Gauge, "camera_id", "Seconds since a frame of the camera last reached the analysis (since its start while none has)."),
];

/// Metrics the exporter computes itself; sources may not report these names.
pub const DERIVED: &[Entry] = &[
    entry("fess_active_cameras", Kind::Gauge, "", "Number of active cameras (with a source heard from within --forget-after)."),
    entry("fess_fps", Kind::Gauge, "camera_id", "FPS per camera, from fess_frames_total over the last seconds."),
    entry("fess_memory_usage_bytes", Kind::Gauge, "", "System memory usage (total minus available)."),
    entry("fess_cpu_usage_percent", Kind::Gauge, "", "CPU usage percentage of the host."),
    entry("fess_component_up", Kind::Gauge, "component", "Whether a component of /health is healthy (1) or not (0): redis, kafka, system, pipelines."),
    entry("fess_build_info", Kind::Gauge, "version", "The exporter's version; always 1."),
    entry("fess_exporter_datagrams_received_total", Kind::Counter, "", "Stats datagrams received."),
    entry("fess_exporter_datagrams_accepted_total", Kind::Counter, "", "Stats datagrams accepted (single metrics in them may still be refused)."),
    entry("fess_exporter_datagrams_rejected_total", Kind::Counter, "reason", "Whole datagrams refused, by reason."),
    entry("fess_exporter_metrics_rejected_total", Kind::Counter, "reason", "Single metrics refused from accepted datagrams, by reason."),
    entry("fess_exporter_series_folded_total", Kind::Counter, "label", "Metrics whose label value went to \"_other\" because its cap was reached, by label name."),
    entry("fess_exporter_sources", Kind::Gauge, "", "Sources heard from within --forget-after."),
    entry("fess_exporter_sources_forgotten_total", Kind::Counter, "", "Sources forgotten after going silent."),
    entry("fess_exporter_series", Kind::Gauge, "", "Series the exporter holds for sources' metrics."),
];

/// Help text for a name sources report.
pub fn help(name: &str) -> &'static str {
    REPORTED
        .iter()
        .find(|e| e.name == name)
        .map_or("Reported by a FESS source.", |e| e.help)
}

/// Longest label value (camera ids, classes, topics, line and zone names).
pub const MAX_LABEL_VALUE_LEN: usize = 128;

/// Whether the exporter publishes `v` as a label value: 1–128 bytes of printable ASCII without
/// quotes or backslashes (camera ids such as `file:///videos/a.avi` or `rtsp://cam-1/stream`
/// pass).
pub fn is_label_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_LABEL_VALUE_LEN
        && v.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// Whether `name` is one the exporter computes (sources may not report it).
pub fn is_reserved(name: &str) -> bool {
    name.starts_with("fess_exporter_") || DERIVED.iter().any(|e| e.name == name)
}

impl Entry {
    /// The label names, in the catalogue's order.
    pub fn label_names(&self) -> impl Iterator<Item = &'static str> {
        self.labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }
}

/// Whether `metric` is a reported one of the catalogue, with its kind and exactly its labels.
pub fn check(metric: &Metric) -> Result<(), CatalogueError> {
    let entry = REPORTED
        .iter()
        .find(|e| e.name == metric.name)
        .ok_or_else(|| CatalogueError::Unknown(metric.name.clone()))?;
    let kind = Kind::of(&metric.value);
    if kind != entry.kind {
        return Err(CatalogueError::Kind {
            name: metric.name.clone(),
            catalogue: entry.kind.as_str(),
            reported: kind.as_str(),
        });
    }
    let mut want: Vec<&str> = entry.label_names().collect();
    want.sort_unstable();
    let got: Vec<&str> = metric.labels.keys().map(String::as_str).collect();
    if got != want {
        return Err(CatalogueError::Labels {
            name: metric.name.clone(),
            got: got.iter().map(|l| l.to_string()).collect(),
            want: want.iter().map(|l| l.to_string()).collect(),
        });
    }
    Ok(())
}

/// How a reported metric differs from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("{0} is not in the metric catalogue")]
    Unknown(String),
    #[error("{name} is a {catalogue} in the catalogue, reported as a {reported}")]
    Kind {
        name: String,
        catalogue: &'static str,
        reported: &'static str,
    },
    #[error("{name} has labels {got:?}, the catalogue says {want:?}")]
    Labels {
        name: String,
        got: Vec<String>,
        want: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_reported_ones_are_not_reserved() {
        let mut names: Vec<&str> = REPORTED.iter().chain(DERIVED).map(|e| e.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(REPORTED.iter().all(|e| !is_reserved(e.name)));
        assert!(DERIVED.iter().all(|e| is_reserved(e.name)));
    }

    #[test]
    fn check_refuses_unknown_names_other_kinds_and_other_labels() {
        let cam = [("camera_id", "c")];
        assert!(check(&Metric::counter("fess_frames_total", &cam, 1)).is_ok());
        assert!(check(&Metric::counter("fess_frame_total", &cam, 1))
            .unwrap_err()
            .to_string()
            .contains("not in the metric catalogue"));
        assert!(check(&Metric::gauge("fess_frames_total", &cam, 1.0))
            .unwrap_err()
            .to_string()
            .contains("a counter"));
        assert!(check(&Metric::counter("fess_frames_total", &[], 1))
            .unwrap_err()
            .to_string()
            .contains("labels"));
        let two = [("camera_id", "c"), ("reason", "busy")];
        assert!(check(&Metric::counter("fess_frames_skipped_total", &two, 1)).is_ok());
    }
}
