//! The `fess` command as the README demo uses it: detection on a real clip published into a
//! real broker, then read back with `fess events`.

use std::path::Path;
use std::process::Command;

use fess_testkit::{media, tmp_dir, Broker};

fn fess() -> Command {
    let exe = Path::new(env!("CARGO_BIN_EXE_fess"));
    let plugin_dir = exe.parent().unwrap();
    assert!(
        plugin_dir.join("libgstfess.so").is_file(),
        "libgstfess.so is not built next to {} (cargo build --release first)",
        exe.display()
    );
    let mut c = Command::new(exe);
    c.env("GST_PLUGIN_PATH", plugin_dir);
    c
}

#[test]
fn detect_publishes_and_events_reads_back() {
    let broker = Broker::start();
    let out = tmp_dir("cli");
    let sheet = out.join("sheet.png");
    let run = fess()
        .args(["detect", "--input"])
        .arg(media("carphone_pristine.mp4"))
        .arg("--sheet")
        .arg(&sheet)
        .args([
            "--kafka",
            &broker.bootstrap(),
            "--camera-id",
            "car_cam",
            "--set",
            "motion-gate=false",
        ])
        .arg("--sink-set")
        .arg(format!("spool-dir={}", out.join("spool").display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("done: 120 frames"), "{stdout}");
    assert!(stdout.contains("person"), "{stdout}");
    let built: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("events built: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no events line in {stdout}"));
    assert!(built >= 1);
    // A PNG of 4 columns of 384-pixel tiles.
    let png = std::fs::read(&sheet).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        4 * 384 + 3 * 4
    );

    let summary = |extra: &[&str]| {
        fess()
            .args(["events", "--bootstrap-servers", &broker.bootstrap()])
            .args(["--summary", "--idle-timeout", "5"])
            .args(extra)
            .output()
            .unwrap()
    };
    let events = summary(&[]);
    let stdout = String::from_utf8_lossy(&events.stdout);
    assert!(
        events.status.success(),
        "{}",
        String::from_utf8_lossy(&events.stderr)
    );
    assert!(
        stdout.contains(&format!("motion.detection.events: {built} events")),
        "{stdout}"
    );
    assert!(stdout.contains("\"camera_id\":\"car_cam\""), "{stdout}");
    // The same summary as JSON.
    let json: serde_json::Value = serde_json::from_slice(&summary(&["--json"]).stdout).unwrap();
    let motion = &json["topics"]["motion.detection.events"];
    assert_eq!(motion["events"], built);
    assert_eq!(motion["example"]["camera_id"], "car_cam");
}

#[test]
fn bad_arguments_are_explained() {
    // Exit status: documented in every --help, 2 for usage, 1 for a run that failed.
    for args in [
        &["--help"][..],
        &["detect", "--help"],
        &["events", "--help"],
        &["gallery", "--help"],
    ] {
        let help = fess().args(args).output().unwrap();
        assert!(help.status.success());
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("Exit status: 0 when"),
            "{args:?}"
        );
    }
    let usage = fess().args(["detect", "--no-such-flag"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let run = fess()
        .args(["detect", "--input", "/nonexistent.avi"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("input /nonexistent.avi does not exist"));
    // In a folder of its own: the default contact sheet goes to ./out.
    let cwd = fess_testkit::tmp_dir("cli-bad-arguments");
    std::fs::create_dir_all(&cwd).unwrap();
    let run = fess()
        .current_dir(&cwd)
        .args(["detect", "--input"])
        .arg(media("carphone_pristine.mp4"))
        .args(["--set", "threshold=2.0"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("threshold=2.0") && err.contains("out of range"),
        "{err}"
    );
    let run = fess()
        .args([
            "events",
            "--bootstrap-servers",
            "127.0.0.1:9",
            "--idle-timeout",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot reach Kafka at 127.0.0.1:9"));
}

#[test]
fn read_only_properties_are_bad_usage() {
    let image = media("person.jpg");
    for (flag, element) in [
        ("--set", "fessdetect"),
        ("--sink-set", "fesskafkasink"),
        ("--face-set", "fessface"),
    ] {
        let mut cmd = fess();
        cmd.args(["detect", "--input"]).arg(&image);
        // The sink and fessface are in the pipeline only with --kafka and --faces.
        match flag {
            "--face-set" => cmd.arg("--faces"),
            "--sink-set" => cmd.args(["--kafka", "127.0.0.1:9"]),
            _ => &mut cmd,
        };
        let run = cmd.args([flag, "stats=x"]).output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains(&format!("{element}'s property 'stats' is read-only")),
            "{flag}: {err}"
        );
    }
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let redis = fess_testkit::RedisServer::start();
    for args in [&["gallery", "list", "--json"][..], &["gallery", "list"]] {
        let mut child = fess()
            .args(args)
            .env("REDIS_URL", redis.url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes (as `| head` does when it has enough).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn huge_images_are_refused_before_decoding() {
    let redis = fess_testkit::RedisServer::start();
    let dir = tmp_dir("cli-huge");
    std::fs::create_dir_all(&dir).unwrap();
    let huge = dir.join("huge.png");
    fess_testkit::png_declaring(&huge, 30_000, 30_000);
    for args in [&["recognize"][..], &["gallery", "enroll", "--name", "Big"]] {
        let run = fess()
            .args(args)
            .arg(&huge)
            .env("REDIS_URL", redis.url())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("30000 × 30000 pixels (900 megapixels), more than the 50 megapixels"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_failed_run_says_why() {
    let image = media("person.jpg");
    let out = fess_testkit::tmp_dir("cli-why");
    std::fs::create_dir_all(&out).unwrap();
    let sheet = out.join("sheet.png");
    let sheet = sheet.to_str().unwrap();
    let dead = format!("redis://127.0.0.1:{}/", fess_testkit::free_port());
    // Reachable, but its user may not read the gallery: no permission, not "unreachable".
    let redis = fess_testkit::RedisServer::start();
    let blind = redis.acl_user("camera", "acl-secret", &["~*", "+@all", "-smembers"]);
    let cases: [(&[&str], &str); 8] = [
        (
            &["--set", "object-class=unicorn"],
            "object-class 'unicorn' is not a label of this model",
        ),
        (
            &["--set", "model=/nonexistent.onnx"],
            "model file /nonexistent.onnx does not exist",
        ),
        (
            &["--video", "/proc/fess.mp4"],
            "Could not open file \"/proc/fess.mp4\" for writing",
        ),
        (
            &["--kafka", "no-port"],
            "bootstrap-servers: 'no-port' is not valid",
        ),
        (
            &["--faces", "--redis-url", &dead],
            "the face gallery cannot be read and gallery-required is set",
        ),
        (
            &["--faces", "--redis-url", &blind],
            "no permission: the Redis user may not run SMEMBERS fess:gallery:persons",
        ),
        // Checked before the run, not after it.
        (
            &["--sheet", "/proc/fess.png"],
            "--sheet: cannot write /proc/fess.png",
        ),
        (&["--input", "/tmp"], "input /tmp is a folder"),
    ];
    for (args, why) in cases {
        let mut cmd = fess();
        cmd.arg("detect").args(args);
        if !args.contains(&"--sheet") {
            cmd.args(["--sheet", sheet]);
        }
        if !args.contains(&"--input") {
            cmd.arg("--input").arg(&image);
        }
        let run = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(
            !err.contains("failed to change its state") && !err.contains("acl-secret"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn detect_with_faces_writes_an_annotated_video() {
    let redis = fess_testkit::RedisServer::start();
    let dir = tmp_dir("cli-faces");
    let video = dir.join("carphone.mp4");
    let run = fess()
        .args(["detect", "--input"])
        .arg(media("carphone_pristine.mp4"))
        .args(["--faces", "--redis-url", &redis.url(), "--video"])
        .arg(&video)
        .arg("--sheet")
        .arg(dir.join("sheet.png"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // One face on (nearly) every frame, embedded a handful of times, unknown to an empty gallery.
    let faces_line = out.lines().find(|l| l.starts_with("faces:")).expect(&out);
    let seen: u64 = faces_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(seen >= 100, "{faces_line}");
    assert!(faces_line.contains("1 unknown"), "{faces_line}");
    assert!(out.contains(&format!("annotated video: {}", video.display())));
    assert!(std::fs::metadata(&video).unwrap().len() > 50_000);
}

#[test]
fn detect_json_is_one_object_on_stdout() {
    let sheet = fess_testkit::tmp_dir("cli-json").join("sheet.png");
    let run = fess()
        .args(["detect", "--json", "--input"])
        .arg(media("person.jpg"))
        .arg("--sheet")
        .arg(&sheet)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = String::from_utf8(run.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["frames"], 1);
    assert_eq!(v["inferred"], 1);
    assert!(v["tracks"]["person"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["sheet"]["path"], sheet.to_str().unwrap());
    assert!(v["faces"].is_null() && v["events"].is_null());
    assert!(sheet.is_file());
}

/// The example rules file on vtest.avi: the summary gives the road line's crossings each way
/// (10 and 10 by hand, see fess-exporter/tests/lines_and_zones.rs; fessdetect's motion gate,
/// on here, may move a track's count by one) and the stays on the lawn.
#[test]
fn detect_counts_the_example_rules_lines_and_zones() {
    let dir = fess_testkit::tmp_dir("cli-rules");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/alert-rules.example.toml");
    let detect = |rules: &Path| {
        fess()
            .args(["detect", "--json", "--input"])
            .arg(media("vtest.avi"))
            .arg("--rules")
            .arg(rules)
            .arg("--sheet")
            .arg(dir.join("sheet.png"))
            .output()
            .unwrap()
    };
    let run = detect(&rules);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let road = &v["scene"]["lines"]["road"];
    for direction in ["east", "west"] {
        let n = road[direction].as_u64().unwrap_or_else(|| panic!("{v}"));
        assert!((8..=12).contains(&n), "{direction}: {n} ({v})");
    }
    // 8 by hand (see fess-exporter/tests/lines_and_zones.rs).
    let stays = v["scene"]["zones"]["lawn"]["stays"].as_u64().unwrap();
    assert!((7..=9).contains(&stays), "{v}");

    // A mistake in the file stops the run before it starts, naming the file and its line.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[line]]\nname = 'door'\npoints = [[0.2, 0.5], [1.2, 0.5]]\n",
    )
    .unwrap();
    let run = detect(&bad);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains(&format!(
            "alert rules {}: line 1: [[line]] 1: 'door': points are fractions of the frame",
            bad.display()
        )),
        "{stderr}"
    );
}

/// The frame count of a plain progress line, `[   3s] frames   141  fps …`.
fn progress_frames(line: &str) -> Option<u64> {
    let rest = line.strip_prefix('[')?.split_once("] frames ")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

/// Frames decoded from `video` (an error when it is not a playable file).
fn decoded_frames(video: &Path) -> Result<u64, String> {
    use gst::prelude::*;
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! fakesink name=sink",
        video.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = frames.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let ended = fess_testkit::wait_eos(&pipeline, std::time::Duration::from_secs(60));
    pipeline.set_state(gst::State::Null).unwrap();
    ended.map(|()| frames.load(std::sync::atomic::Ordering::Relaxed))
}

/// Starts `fess detect --video` on a long clip, sends `signal` once progress shows frames
/// analysed, and checks the run ends cleanly with a playable MP4 of every analysed frame.
fn interrupted_run_leaves_a_playable_video(signal: &str) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = tmp_dir(&format!("cli-{signal}"));
    let video = dir.join("vtest.mp4");
    let mut child = fess()
        .args(["detect", "--input"])
        .arg(media("vtest.avi"))
        .arg("--video")
        .arg(&video)
        .arg("--sheet")
        .arg(dir.join("sheet.png"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress is read on a thread that also says when stderr closes, so every wait is bounded.
    enum Seen {
        Progress,
        Closed(String),
    }
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if progress_frames(&line).is_some_and(|n| n > 0) {
                let _ = tx.send(Seen::Progress);
            }
            all.push_str(&line);
            all.push('\n');
        }
        let _ = tx.send(Seen::Closed(all));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Seen::Progress) => {}
        Ok(Seen::Closed(err)) => panic!("ended before any progress: {err}"),
        Err(e) => panic!("no progress line on stderr: {e}"),
    }
    let kill = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let stderr = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Seen::Progress) => continue,
            Ok(Seen::Closed(all)) => break all,
            Err(e) => panic!("still running a minute after SIG{signal}: {e}"),
        }
    };
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("SIG{signal}: finishing the outputs")),
        "{stderr}"
    );
    // Not a terminal: plain lines, no bar drawn with control characters.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    assert!(
        stdout.contains(&format!("stopped early by SIG{signal}")),
        "{stdout}"
    );
    let analysed: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("done: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no done line in {stdout}"));
    // vtest.avi has 795 frames: the run was cut short, and the MP4 holds what was analysed.
    assert!(analysed > 0 && analysed < 795, "{stdout}");
    let decoded = decoded_frames(&video).unwrap_or_else(|e| panic!("{}: {e}", video.display()));
    assert_eq!(decoded, analysed);
}

#[test]
fn ctrl_c_ends_a_run_with_a_playable_video() {
    interrupted_run_leaves_a_playable_video("INT");
}

#[test]
fn sigterm_ends_a_run_with_a_playable_video() {
    interrupted_run_leaves_a_playable_video("TERM");
}
