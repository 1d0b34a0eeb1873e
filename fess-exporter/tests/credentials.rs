//! A camera URL with credentials never becomes a name: with no `camera-id` anywhere, an RTSP
//! camera at `rtsp://admin:SECRET@…` publishes under `rtsp://host:port/path` in the event JSON,
//! the Kafka key, the CloudEvents `ce_source`, the Prometheus labels and the spool's folder and
//! files (a real RTSP server, broker, exporter and gst-launch-1.0).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::plugin_dir;
use fess_testkit::ExporterProcess;
use fess_testkit::{clip, media, tmp_dir, Broker, Reader, RtspServer};

fn models_dir() -> PathBuf {
    std::env::var_os("FESS_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fess_testkit::cache_dir().join("models"))
}

/// Every file below `dir`, recursively.
fn files_below(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_below(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn rtsp_credentials_never_become_the_camera_id() {
    let broker = Broker::start();
    let exporter = ExporterProcess::start("credentials", &["--no-redis", "--no-kafka"]);
    let camera = RtspServer::start(&clip(&media("vtest.avi"), 200));
    let url = camera.url().replacen("rtsp://", "rtsp://admin:SECRET@", 1);
    let clean = camera.url();
    let state = tmp_dir("credentials-state");
    let launch = format!(
        "rtspsrc location={url}?token=SECRET protocols=tcp ! decodebin ! videoconvert ! \
         fessdetect motion-gate=false ! fesskafkasink bootstrap-servers={}",
        broker.bootstrap()
    );
    let mut run = Command::new("gst-launch-1.0")
        .arg("-e")
        .args(launch.split(' '))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("FESS_STATE", &state)
        .env("FESS_MODELS", models_dir())
        .env("FESS_STATS_SOCKET", &exporter.socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut reader = Reader::new(&broker.bootstrap(), &["motion.detection.events"]);
    let got = reader.read_until(Duration::from_secs(60), |s| s.len() >= 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let m = exporter.metrics();
        if m.contains("fess_frames_total{") || std::time::Instant::now() >= deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status();
    let _ = run.wait();
    assert!(got, "no motion events from the RTSP camera");

    for c in &reader.seen {
        assert_eq!(c.key, clean);
        assert_eq!(c.json["camera_id"], clean.as_str());
        assert_eq!(
            c.header("ce_source"),
            Some(format!("fess/{clean}").as_str())
        );
    }
    assert!(
        metrics.contains(&format!("fess_frames_total{{camera_id=\"{clean}\"}}")),
        "{metrics}"
    );
    assert!(!metrics.contains("SECRET"), "{metrics}");
    let files = files_below(&state.join("spool"));
    assert!(!files.is_empty(), "no spool under {}", state.display());
    for f in files {
        assert!(!f.to_string_lossy().contains("SECRET"), "{}", f.display());
        if f.is_file() {
            let data = std::fs::read(&f).unwrap();
            assert!(
                !data.windows(6).any(|w| w == b"SECRET"),
                "{} holds the password",
                f.display()
            );
        }
    }
}
