//! `/metrics`: the store and the latest health check in the Prometheus text format, through
//! the `prometheus` crate's data model and encoder.

use std::collections::BTreeMap;
use std::time::Instant;

use fess::observability::health::{HealthStatus, Status};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::store::{Series, Store};
use crate::validate::Reject;
use fess::observability::metrics::{self as catalog, Kind};

/// The Content-Type of `/metrics`.
pub fn content_type() -> &'static str {
    prometheus::TEXT_FORMAT
}

/// Every metric, as `/metrics` serves it.
pub fn render(store: &Store, health: Option<&HealthStatus>, now: Instant) -> String {
    let mut families: Vec<MetricFamily> = store
        .families()
        .iter()
        .map(|(name, f)| {
            let metrics = f
                .series
                .iter()
                .map(|(labels, s)| series(name, labels, s))
                .collect();
            family(name, catalog::help(name), f.kind, metrics)
        })
        .collect();
    families.extend(derived(store, health, now));
    families.retain(|f| !f.get_metric().is_empty());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::with_capacity(64 * 1024);
    TextEncoder::new()
        .encode(&families, &mut out)
        .expect("families are checked non-empty and named");
    String::from_utf8(out).expect("the text format is UTF-8")
}

fn series(name: &str, labels: &[(String, String)], s: &Series) -> proto::Metric {
    let mut m = proto::Metric::from_label(label_pairs(labels));
    match s {
        Series::Counter(v) => {
            let mut c = proto::Counter::default();
            c.set_value(*v as f64);
            m.set_counter(c);
        }
        Series::Gauge(by_source) => {
            let values = by_source.values().copied();
            // Up/down flags: one source down means down; quantities add up.
            let v = if name.ends_with("_up") {
                values.fold(f64::INFINITY, f64::min)
            } else {
                values.sum()
            };
            let mut g = proto::Gauge::default();
            g.set_value(v);
            m.set_gauge(g);
        }
        Series::Histogram {
            bounds,
            counts,
            sum,
            count,
        } => {
            let mut h = proto::Histogram::default();
            let mut cumulative = 0;
            let buckets = bounds
                .iter()
                .zip(counts)
                .map(|(b, c)| {
                    cumulative += c;
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(*b);
                    bucket.set_cumulative_count(cumulative);
                    bucket
                })
                .collect();
            h.set_bucket(buckets);
            h.set_sample_sum(*sum);
            h.set_sample_count(*count);
            m.set_histogram(h);
        }
    }
    m
}

fn label_pairs(labels: &[(String, String)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(k, v)| {
            let mut p = LabelPair::default();
            p.set_name(k.clone());
            p.set_value(v.clone());
            p
        })
        .collect()
}

fn family(name: &str, help: &str, kind: Kind, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(match kind {
        Kind::Counter => MetricType::COUNTER,
        Kind::Gauge => MetricType::GAUGE,
        Kind::Histogram => MetricType::HISTOGRAM,
    });
    f.set_metric(metrics);
    f
}

fn value(kind: Kind, labels: &[(&str, &str)], v: f64) -> proto::Metric {
    let owned: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut m = proto::Metric::from_label(label_pairs(&owned));
    if kind == Kind::Counter {
        let mut c = proto::Counter::default();
        c.set_value(v);
        m.set_counter(c);
    } else {
        let mut g = proto::Gauge::default();
        g.set_value(v);
        m.set_gauge(g);
    }
    m
}

/// One counter per reason, zeros included, so alerts can rely on the series.
fn by_reason(counts: &BTreeMap<Reject, u64>) -> Vec<proto::Metric> {
    Reject::ALL
        .iter()
        .map(|r| {
            let n = counts.get(r).copied().unwrap_or(0);
            value(Kind::Counter, &[("reason", r.as_str())], n as f64)
        })
        .collect()
}

/// The metrics the exporter computes, named in [`fess::observability::metrics::DERIVED`].
fn derived(store: &Store, health: Option<&HealthStatus>, now: Instant) -> Vec<MetricFamily> {
    let cameras = store.cameras(now);
    let counts = store.counts();
    let mut out: Vec<(&str, Vec<proto::Metric>)> = vec![
        (
            "fess_active_cameras",
            vec![value(Kind::Gauge, &[], cameras.len() as f64)],
        ),
        (
            "fess_fps",
            cameras
                .iter()
                .map(|(c, h)| value(Kind::Gauge, &[("camera_id", c)], h.fps))
                .collect(),
        ),
        (
            "fess_build_info",
            vec![value(
                Kind::Gauge,
                &[("version", env!("CARGO_PKG_VERSION"))],
                1.0,
            )],
        ),
        (
            "fess_exporter_datagrams_received_total",
            vec![value(Kind::Counter, &[], counts.received as f64)],
        ),
        (
            "fess_exporter_datagrams_accepted_total",
            vec![value(
                Kind::Counter,
                &[],
                (counts.received - counts.datagrams_rejected.values().sum::<u64>()) as f64,
            )],
        ),
        (
            "fess_exporter_datagrams_rejected_total",
            by_reason(&counts.datagrams_rejected),
        ),
        (
            "fess_exporter_metrics_rejected_total",
            by_reason(&counts.metrics_rejected),
        ),
        (
            "fess_exporter_series_folded_total",
            counts
                .folded
                .iter()
                .map(|(l, n)| value(Kind::Counter, &[("label", l)], *n as f64))
                .collect(),
        ),
        (
            "fess_exporter_sources",
            vec![value(Kind::Gauge, &[], store.source_count() as f64)],
        ),
        (
            "fess_exporter_sources_forgotten_total",
            vec![value(Kind::Counter, &[], counts.forgotten as f64)],
        ),
        (
            "fess_exporter_series",
            vec![value(Kind::Gauge, &[], store.series_count() as f64)],
        ),
    ];
    if let Some(h) = health {
        let sys = &h.components.system;
        out.push((
            "fess_memory_usage_bytes",
            vec![value(Kind::Gauge, &[], sys.memory_used_bytes as f64)],
        ));
        out.push((
            "fess_cpu_usage_percent",
            vec![value(Kind::Gauge, &[], sys.cpu_percent)],
        ));
        let c = &h.components;
        let mut up = vec![
            ("redis", c.redis.status),
            ("kafka", c.kafka.status),
            ("system", c.system.status),
        ];
        if let Some(p) = &c.pipelines {
            up.push(("pipelines", p.status));
        }
        out.push((
            "fess_component_up",
            up.into_iter()
                .filter(|(_, s)| *s != Status::Disabled)
                .map(|(name, s)| {
                    let v = if s.is_healthy() { 1.0 } else { 0.0 };
                    value(Kind::Gauge, &[("component", name)], v)
                })
                .collect(),
        ));
    }
    out.into_iter()
        .map(|(name, metrics)| {
            let e = catalog::DERIVED
                .iter()
                .find(|e| e.name == name)
                .expect("every derived metric is in the catalog");
            family(name, e.help, e.kind, metrics)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Limits;
    use fess::observability::stats::{Datagram, Metric, Source, PROTOCOL_VERSION};

    #[test]
    fn text_format_with_help_types_cumulative_buckets_and_derived_metrics() {
        let mut store = Store::new(Limits::default());
        let now = Instant::now();
        let d = Datagram {
            v: PROTOCOL_VERSION,
            source: Source {
                pid: 1,
                name: "detect0".into(),
                kind: "fessdetect".into(),
                camera_id: "cam_01".into(),
                started_ms: 1,
            },
            sent_ms: 0,
            metrics: vec![
                Metric::counter(
                    "fess_detections_total",
                    &[("camera_id", "cam_01"), ("object_class", "person")],
                    7,
                ),
                Metric::histogram(
                    "fess_detection_latency_seconds",
                    &[("camera_id", "cam_01")],
                    &[0.1, 1.0],
                    &[2, 1, 1],
                    1.5,
                    4,
                ),
                Metric::gauge("fess_kafka_broker_up", &[], 1.0),
            ],
            problems: Vec::new(),
            camera: None,
        };
        store.ingest(d, now).unwrap();
        let text = render(&store, None, now);
        for line in [
            "# HELP fess_detections_total Objects detected, by camera and object class.",
            "# TYPE fess_detections_total counter",
            "fess_detections_total{camera_id=\"cam_01\",object_class=\"person\"} 7",
            "# TYPE fess_detection_latency_seconds histogram",
            "fess_detection_latency_seconds_bucket{camera_id=\"cam_01\",le=\"0.1\"} 2",
            "fess_detection_latency_seconds_bucket{camera_id=\"cam_01\",le=\"1\"} 3",
            "fess_detection_latency_seconds_bucket{camera_id=\"cam_01\",le=\"+Inf\"} 4",
            "fess_detection_latency_seconds_count{camera_id=\"cam_01\"} 4",
            "fess_kafka_broker_up 1",
            "fess_active_cameras 1",
            "fess_fps{camera_id=\"cam_01\"} 0",
            "fess_exporter_datagrams_received_total 1",
            "fess_exporter_datagrams_accepted_total 1",
            "fess_exporter_datagrams_rejected_total{reason=\"malformed\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(content_type().starts_with("text/plain; version=0.0.4"));
    }
}
