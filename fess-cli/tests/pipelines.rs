//! Every file in pipelines/ run as a user runs it (the webcam one only parsed), against a real
//! broker and a real Redis, with the plugin built next to the `fess` binary.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use fess_testkit::{media, tmp_dir, Broker, Reader, RedisServer, RtspServer};

const MOTION: &str = "motion.detection.events";

fn pipeline(name: &str) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name);
    let plugin_dir = Path::new(env!("CARGO_BIN_EXE_fess")).parent().unwrap();
    let mut c = Command::new("sh");
    c.arg(script).env("GST_PLUGIN_PATH", plugin_dir).env(
        "FESS_STATS_SOCKET",
        tmp_dir("pipelines-stats").join("none.sock"),
    );
    c
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Motion events per camera id (message key) once `want` cameras have published.
fn motion_by_camera(broker: &Broker, want: usize) -> std::collections::BTreeMap<String, usize> {
    let mut r = Reader::new(&broker.bootstrap(), &[MOTION]);
    let keys = |s: &[fess_testkit::Consumed]| {
        s.iter()
            .map(|c| c.key.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert!(
        r.read_until(Duration::from_secs(60), |s| keys(s) >= want),
        "events from {} of {want} cameras",
        keys(&r.seen)
    );
    let mut by = std::collections::BTreeMap::new();
    for c in &r.seen {
        *by.entry(c.key.clone()).or_default() += 1;
    }
    by
}

#[test]
fn file_pipeline_publishes_motion_events() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    ok(pipeline("file.sh")
        .env("VIDEO", media("carphone_pristine.mp4"))
        .env("CAMERA_ID", "cam_file_test")
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("REDIS_URL", redis.url())
        .output()
        .unwrap());
    let by = motion_by_camera(&broker, 1);
    assert!(by.get("cam_file_test").is_some_and(|&n| n >= 1), "{by:?}");
}

#[test]
fn two_cameras_in_one_process_each_publish_under_their_id() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    ok(pipeline("multi-camera.sh")
        .env(
            "SOURCE_A",
            format!("file://{}", media("carphone_pristine.mp4").display()),
        )
        // The same clip for both: a person on every frame, whichever frames the leaky queues
        // (which drop frames of a file decoded faster than the models run) let through.
        .env(
            "SOURCE_B",
            format!("file://{}", media("carphone_pristine.mp4").display()),
        )
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("REDIS_URL", redis.url())
        .output()
        .unwrap());
    let by = motion_by_camera(&broker, 2);
    assert_eq!(by.keys().collect::<Vec<_>>(), ["cam_a", "cam_b"], "{by:?}");
}

#[test]
fn annotated_recording_writes_an_mp4() {
    let redis = RedisServer::start();
    let dir = tmp_dir("pipelines-mp4");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("annotated.mp4");
    ok(pipeline("annotated-recording.sh")
        .env("VIDEO", media("carphone_pristine.mp4"))
        .env("OUTPUT", &out)
        .env("REDIS_URL", redis.url())
        .output()
        .unwrap());
    // Read back: the MP4 holds all 120 frames.
    let probe = Command::new("gst-discoverer-1.0")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(text.contains("Duration: 0:00:0"), "{text}");
    let frames = ok(Command::new("gst-launch-1.0")
        .arg("filesrc")
        .arg(format!("location={}", out.display()))
        .args(["!", "decodebin", "!", "fakesink", "silent=false", "-v"])
        .output()
        .unwrap())
    .matches("chain")
    .count();
    assert!(frames >= 118, "{frames} frames in the recording");
}

#[test]
fn webcam_pipeline_parses() {
    let line = ok(pipeline("webcam.sh").env("PRINT", "1").output().unwrap());
    assert!(line.starts_with("v4l2src device=/dev/video0"), "{line}");
    gst::init().unwrap();
    let plugin = Path::new(env!("CARGO_BIN_EXE_fess"))
        .parent()
        .unwrap()
        .join("libgstfess.so");
    gst::Plugin::load_file(&plugin).unwrap();
    let parsed = gst::parse::launch(line.trim());
    assert!(parsed.is_ok(), "{line}: {:?}", parsed.err());
}

#[test]
fn rtsp_camera_goes_away_and_comes_back() {
    use std::io::BufRead;
    let (broker, redis) = (Broker::start(), RedisServer::start());
    let mut camera = RtspServer::start(&media("vtest.avi"));
    let mut run = pipeline("rtsp.sh")
        .env("RTSP_URL", camera.url())
        .env("CAMERA_ID", "cam_rtsp")
        .env("RETRY_DELAY", "1")
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("REDIS_URL", redis.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The script's and gst-launch's messages (both streams), for the assertions and for failures.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stdout: Box<dyn std::io::Read + Send> = Box::new(run.stdout.take().unwrap());
    let stderr: Box<dyn std::io::Read + Send> = Box::new(run.stderr.take().unwrap());
    for stream in [stdout, stderr] {
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
    }
    let mut r = Reader::new(&broker.bootstrap(), &[MOTION]);
    assert!(
        r.read_until(Duration::from_secs(60), |s| !s.is_empty()),
        "no events from the RTSP camera; log:\n{}",
        log.lock().unwrap()
    );

    // The camera goes away: the pipeline ends and the script says it is reconnecting.
    camera.kill();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !log.lock().unwrap().contains("reconnecting in 1 s") {
        assert!(std::time::Instant::now() < deadline, "no reconnect notice");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Whatever the first run delivered is in; then the camera returns and events resume.
    r.read_until(Duration::from_secs(3), |_| false);
    let before = r.seen.len();
    camera.restart();
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() > before),
        "no events after the camera came back; log:\n{}",
        log.lock().unwrap()
    );
    assert!(r.seen.iter().all(|c| c.key == "cam_rtsp"));

    // SIGTERM stops the loop and the running pipeline cleanly.
    let stopped = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() >= deadline {
            // Leave nothing running, and say where it stuck.
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &run.id().to_string()])
                .status();
            let _ = run.kill();
            panic!(
                "rtsp.sh did not stop within 20 s of SIGTERM; log:\n{}",
                log.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}
