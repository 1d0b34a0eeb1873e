//! A fessface whose Redis user may not read the gallery (an ACL user without SMEMBERS), heard
//! by the exporter: `fess_gallery_up` is 0 for its camera and `/health` is degraded with the
//! reason.

mod common;

use std::process::Command;
use std::time::Duration;

use common::plugin_dir;
use fess_testkit::{media, RedisServer};
use fess_testkit::{sample, ExporterProcess};

#[test]
fn an_unreadable_gallery_is_down_in_metrics_and_degrades_health() {
    let redis = RedisServer::start();
    let url = redis.acl_user("camera", "acl-secret", &["~*", "+@all", "-smembers"]);
    let exporter = ExporterProcess::start("gallery", &["--no-redis", "--no-kafka"]);
    let launch = format!(
        "filesrc location={} ! decodebin ! videoconvert ! imagefreeze num-buffers=10 ! \
         fessface mode=frame camera-id=door redis-url={url} ! fakesink",
        media("astronaut.png").display()
    );
    let out = Command::new("gst-launch-1.0")
        .args(launch.split(' '))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("FESS_STATS_SOCKET", &exporter.socket)
        .output()
        .expect("gst-launch-1.0 (gstreamer1.0-tools, installed by scripts/setup.sh)");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("may not run SMEMBERS"), "{said}");

    let (health, degraded) = exporter.health_until(Duration::from_secs(10), |h| {
        h["components"]["pipelines"]["cameras"]["door"]["problems"].is_array()
    });
    assert!(degraded, "{health}");
    let pipelines = &health["components"]["pipelines"];
    assert_eq!(pipelines["status"], "degraded", "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let problem = pipelines["cameras"]["door"]["problems"][0]
        .as_str()
        .unwrap();
    assert!(
        problem.starts_with("the face gallery cannot be read")
            && problem.contains("no permission")
            && problem.contains("SMEMBERS fess:gallery:persons"),
        "{problem}"
    );
    assert!(!health.to_string().contains("acl-secret"), "{health}");
    let metrics = exporter.metrics();
    assert_eq!(
        sample(&metrics, r#"fess_gallery_up{camera_id="door"}"#),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"fess_component_up{component="pipelines"}"#),
        Some(0.0)
    );
}
