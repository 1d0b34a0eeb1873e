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

/// A running script with everything it and gst-launch print (both streams) collected, for the
/// assertions and for failures.
struct Logged {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Logged {
    fn spawn(mut cmd: Command) -> Logged {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
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
        Logged { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the output holds `text`, failing after `timeout` with what it said.
    fn wait_for(&self, text: &str, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while !self.log().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no '{text}' within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the script must end cleanly within 20 s.
    fn terminate(mut self) {
        let id = self.child.id().to_string();
        let stopped = Command::new("kill").args(["-TERM", &id]).status().unwrap();
        assert!(stopped.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() >= deadline {
                // Leave nothing running, and say where it stuck.
                let _ = Command::new("pkill").args(["-KILL", "-P", &id]).status();
                let _ = self.child.kill();
                panic!(
                    "the script did not stop within 20 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{status:?}");
    }
}

/// `pipelines/rtsp.sh` on `camera`, publishing as `camera_id`.
fn rtsp_script(
    camera: &RtspServer,
    camera_id: &str,
    broker: &Broker,
    redis: &RedisServer,
) -> Logged {
    let mut cmd = pipeline("rtsp.sh");
    cmd.env("RTSP_URL", camera.url())
        .env("CAMERA_ID", camera_id)
        .env("RETRY_DELAY", "1")
        .env("STALL_TIMEOUT", "3")
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("REDIS_URL", redis.url());
    Logged::spawn(cmd)
}

#[test]
fn rtsp_camera_goes_away_and_comes_back() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    let mut camera = RtspServer::start(&media("vtest.avi"));
    let run = rtsp_script(&camera, "cam_rtsp", &broker, &redis);
    let mut r = Reader::new(&broker.bootstrap(), &[MOTION]);
    assert!(
        r.read_until(Duration::from_secs(60), |s| !s.is_empty()),
        "no events from the RTSP camera; log:\n{}",
        run.log()
    );

    // The camera goes away: the pipeline ends and the script says it is reconnecting.
    camera.kill();
    run.wait_for("reconnecting in 1 s", Duration::from_secs(30));
    // Whatever the first run delivered is in; then the camera returns and events resume.
    r.read_until(Duration::from_secs(3), |_| false);
    let before = r.seen.len();
    camera.restart();
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() > before),
        "no events after the camera came back; log:\n{}",
        run.log()
    );
    assert!(r.seen.iter().all(|c| c.key == "cam_rtsp"));

    // SIGTERM stops the loop and the running pipeline cleanly.
    run.terminate();
}

#[test]
fn rtsp_camera_that_hangs_is_noticed_and_reconnected() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    let mut camera = RtspServer::start(&media("vtest.avi"));
    let run = rtsp_script(&camera, "cam_hung", &broker, &redis);
    let mut r = Reader::new(&broker.bootstrap(), &[MOTION]);
    assert!(
        r.read_until(Duration::from_secs(60), |s| !s.is_empty()),
        "no events from the RTSP camera; log:\n{}",
        run.log()
    );
    // The server stops answering but keeps its connections open: no error from the network,
    // only silence. The watchdog makes it an error after STALL_TIMEOUT (3 s).
    camera.freeze();
    run.wait_for("reconnecting in 1 s", Duration::from_secs(30));
    r.read_until(Duration::from_secs(2), |_| false);
    let before = r.seen.len();
    camera.restart();
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() > before),
        "no events after the hung camera came back; log:\n{}",
        run.log()
    );
    run.terminate();
}

#[test]
fn scripts_print_launch_lines_without_passwords() {
    for (script, var) in [("rtsp.sh", "RTSP_URL"), ("multi-camera.sh", "SOURCE_A")] {
        let line = ok(pipeline(script)
            .env("PRINT", "1")
            .env(var, "rtsp://admin:SECRET@cam.local/stream")
            .output()
            .unwrap());
        assert!(
            !line.contains("SECRET") && line.contains("rtsp://***@cam.local/stream"),
            "{script}: {line}"
        );
    }
}
