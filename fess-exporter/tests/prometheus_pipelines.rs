//! A real Prometheus server scrapes the exporter while real pipelines (vtest.avi through
//! fessdetect at the clip's 10 fps, one of them also publishing through fesskafkasink into the
//! tansu broker) report to it: two cameras, then one of them restarted.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::plugin_dir;
use fess_testkit::{media, Broker, PrometheusServer, Sample};
use fess_testkit::{sample, ExporterProcess};

const FRAMES: u32 = 100;

/// `filesrc ! decodebin ! fessdetect ! fakesink sync=true`: `frames` frames in real time, and
/// with `kafka` the detections published through fesskafkasink too.
fn pipeline(socket: &Path, camera: &str, frames: u32, kafka: Option<&str>) -> Child {
    let mut launch = format!(
        "filesrc location={} ! decodebin ! fessdetect camera-id={camera} ! tee name=t t. ! queue ! fakesink sync=true",
        fess_testkit::clip(&media("vtest.avi"), frames).display()
    );
    if let Some(bootstrap) = kafka {
        // Its own spool: the default folder is per element name, shared by concurrent tests.
        let spool = fess_testkit::tmp_dir(&format!("exporter-spool-{camera}"));
        launch += &format!(
            " t. ! queue ! fesskafkasink bootstrap-servers={bootstrap} spool-dir={}",
            spool.display()
        );
    }
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(launch.split(' '))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("FESS_STATS_SOCKET", socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0 (gstreamer1.0-tools, installed by scripts/setup.sh)")
}

fn finish(mut p: Child, what: &str) {
    let status = p.wait().unwrap();
    assert!(status.success(), "{what} failed: {status}");
}

fn by_camera(samples: &[Sample]) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = samples
        .iter()
        .map(|(l, v)| (l.get("camera_id").cloned().unwrap_or_default(), *v))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn prometheus_sees_two_cameras_and_a_restarted_pipeline() {
    let exporter = ExporterProcess::start(
        "pipelines",
        &[
            "--no-redis",
            "--no-kafka",
            // Long enough that cam_a's first run is still known when the checks after cam_b's
            // (slower, Kafka-flushing) end come round on a loaded machine.
            "--forget-after",
            "30",
            "--min-cameras",
            "0",
        ],
    );
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/alerts.yml");
    let prometheus =
        PrometheusServer::start(&[exporter.addr], Duration::from_secs(1), &[rules.as_path()]);

    let broker = Broker::start();
    let a = pipeline(&exporter.socket, "cam_a", FRAMES, None);
    let b = pipeline(&exporter.socket, "cam_b", FRAMES, Some(&broker.bootstrap()));
    let wait = Duration::from_secs(30);
    let (s, ok) = prometheus.query_until("fess_active_cameras", wait, |s| {
        s.first().is_some_and(|(_, v)| *v == 2.0)
    });
    assert!(ok, "active cameras: {s:?}");
    // The clip plays at 10 fps: once a few seconds are in the window, both cameras show it.
    let (s, ok) = prometheus.query_until("fess_fps", wait, |s| {
        s.len() == 2 && s.iter().all(|(_, v)| (8.0..=12.0).contains(v))
    });
    assert!(ok, "fps: {:?}", by_camera(&s));
    finish(a, "cam_a");
    let (s, ok) = prometheus.query_until(r#"fess_frames_total{camera_id="cam_a"}"#, wait, |s| {
        s.first().is_some_and(|(_, v)| *v == 100.0)
    });
    assert!(ok, "cam_a frames: {s:?}");
    // cam_a again at once (well within --forget-after), from a new process: its frames add to
    // the total, which never goes back.
    let a2 = pipeline(&exporter.socket, "cam_a", FRAMES / 2, None);
    finish(b, "cam_b");
    // cam_b had two sources (fesskafkasink reports at least when it stops).
    let (h, ok) = exporter.health_until(wait, |h| {
        h["components"]["pipelines"]["cameras"]["cam_b"]["sources"]
            == serde_json::json!(["fessdetect", "fesskafkasink"])
    });
    assert!(ok, "{h:#}");
    finish(a2, "cam_a again");
    // Both runs' frames: more than the first run alone, and never gone back (resets below).
    let (h, ok) = exporter.health_until(wait, |_| {
        sample(
            &exporter.metrics(),
            r#"fess_frames_total{camera_id="cam_a"}"#,
        )
        .is_some_and(|v| v == 150.0)
    });
    assert!(
        ok,
        "cam_a frames after the restart: {h:#}\n{}",
        exporter.metrics()
    );
    // Everything the real elements sent was accepted.
    let text = exporter.metrics();
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("fess_exporter_") && l.contains("rejected_total{"))
        .filter(|l| !l.ends_with(" 0"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");

    // Over the last minutes, so a series the exporter has since forgotten still counts.
    let (s, ok) = prometheus.query_until(
        r#"max_over_time(fess_detections_total{object_class="person"}[5m])"#,
        wait,
        |s| s.len() == 2 && s.iter().all(|(_, v)| *v > 0.0),
    );
    assert!(ok, "person detections: {:?}", by_camera(&s));
    let (s, ok) = prometheus.query_until("max_over_time(fess_frames_total[5m])", wait, |s| {
        let v = by_camera(s);
        v.len() == 2 && v[0].0 == "cam_a" && v[0].1 == 150.0 && v[1].0 == "cam_b" && v[1].1 == 100.0
    });
    assert!(ok, "frames: {:?}", by_camera(&s));
    let (s, ok) = prometheus.query_until(
        r#"max_over_time(fess_kafka_events_sent_total{status="success"}[5m])"#,
        wait,
        |s| s.iter().any(|(_, v)| *v > 0.0),
    );
    assert!(ok, "events delivered to the broker: {s:?}");
    for counter in ["fess_frames_total", "fess_detections_total"] {
        let resets = prometheus.query(&format!("resets({counter}[5m])"));
        assert!(
            !resets.is_empty() && resets.iter().all(|(_, v)| *v == 0.0),
            "{counter}: {resets:?}"
        );
    }

    // The deploy/ alerting rules load and evaluate against these metrics.
    let groups = prometheus.api("rules");
    let rules: Vec<&serde_json::Value> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert!(rules.len() >= 4, "{groups}");
    for r in rules {
        assert_eq!(r["health"], "ok", "{r}");
    }

    // Silent pipelines are forgotten: no active camera left.
    let forgotten = Duration::from_secs(60);
    let (s, ok) = prometheus.query_until("fess_active_cameras", forgotten, |s| {
        s.first().is_some_and(|(_, v)| *v == 0.0)
    });
    assert!(ok, "active cameras after the pipelines ended: {s:?}");
}
