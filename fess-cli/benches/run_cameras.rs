//! `cargo bench -p fess-cli --bench run_cameras` (or `scripts/bench.sh`).
//!
//! N live cameras through `fess run`, against what a user would otherwise run: one
//! `gst-launch-1.0` process per camera (`pipelines/rtsp.sh`'s chain). Every camera plays the same
//! local RTSP stream (640×360 H.264 at 25 fps, the substream cameras offer for analysis, made
//! from bikes.mp4), with `detect-fps=5`, the motion gate on and faces on, events to a local
//! broker. For each N, measured over the same window after every camera runs:
//! - the share of the machine's CPU the cameras' processes take, and their RSS;
//! - inferences per second per camera, and why frames were not inferred;
//! - events built per camera, and event latency p50 / p99 (frame capture → Kafka
//!   acknowledgement, from the sinks' histograms);
//!
//! and after the run, that Kafka holds every event the `fess run` cameras built.
//!
//! Environment: FESS_BENCH_CAMERAS (default "1,4,8,16"), FESS_BENCH_WINDOW (seconds, default
//! 30), FESS_BENCH_SEPARATE (default 1: also measure one process per camera).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fess_testkit::{Broker, ExporterProcess, Reader, RedisServer, RtspServer};
use gst::prelude::*;

/// Seconds of video the RTSP server plays: longer than any round.
const CLIP_REPEATS: usize = 15;

/// What one window of one setup measured.
struct Window {
    cpu_share: f64,
    rss_mb: f64,
    inferences_per_camera_s: f64,
    skipped: BTreeMap<String, f64>,
    events_min: f64,
    events_max: f64,
    p50: f64,
    p99: f64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// bikes.mp4 scaled to 640×360, repeated to CLIP_REPEATS × 10 s, as H.264 in MP4 (made once).
fn stream_clip() -> PathBuf {
    let out = std::env::temp_dir().join(format!("fess-bench-bikes-360p-{CLIP_REPEATS}.mp4"));
    if out.is_file() {
        return out;
    }
    let bikes = fess_testkit::media("bikes.mp4");
    let mut launch = format!(
        "concat name=c ! videoscale ! video/x-raw,width=640,height=360 ! videoconvert ! \
         openh264enc bitrate=1500000 ! h264parse ! mp4mux ! filesink location=\"{}.part\"",
        out.display()
    );
    for _ in 0..CLIP_REPEATS {
        launch.push_str(&format!(
            " filesrc location=\"{}\" ! decodebin ! videoconvert ! c.",
            bikes.display()
        ));
    }
    let pipeline = gst::parse::launch(&launch)
        .expect("the clip's launch line")
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    fess_testkit::wait_eos(&pipeline, Duration::from_secs(600)).expect("making the clip");
    pipeline.set_state(gst::State::Null).unwrap();
    std::fs::rename(format!("{}.part", out.display()), &out).unwrap();
    out
}

fn plugin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fess")).parent().unwrap()
}

/// `(utime + stime)` clock ticks and RSS (kB) of `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12), rss)
}

/// The sum of every sample of `name` whose labels contain `filter`.
fn sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(filter))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// `fess_event_latency_seconds` buckets (upper bound → cumulative count) of cameras matching
/// `filter`, summed over them.
fn latency_buckets(text: &str, filter: &str) -> BTreeMap<u64, f64> {
    let mut out = BTreeMap::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("fess_event_latency_seconds_bucket{") else {
            continue;
        };
        if !rest.contains(filter) {
            continue;
        }
        let le = rest
            .split("le=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or("+Inf");
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        let n: f64 = l
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(bound.to_bits()).or_insert(0.0) += n;
    }
    out
}

/// The `q` quantile of the observations between two bucket snapshots, interpolated within its
/// bucket as Prometheus' histogram_quantile does.
fn quantile(before: &BTreeMap<u64, f64>, after: &BTreeMap<u64, f64>, q: f64) -> f64 {
    let mut bounds: Vec<(f64, f64)> = after
        .iter()
        .map(|(b, n)| {
            (
                f64::from_bits(*b),
                n - before.get(b).copied().unwrap_or(0.0),
            )
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = bounds.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, cumulative) in bounds {
        if cumulative >= rank {
            if bound.is_infinite() {
                return lower;
            }
            let inside = cumulative - below;
            return lower + (bound - lower) * ((rank - below) / inside.max(1e-9));
        }
        (lower, below) = (bound, cumulative);
    }
    lower
}

/// Measures the processes `pids` for `window`; the cameras are those whose ids contain `tag`.
fn measure(
    pids: &[u32],
    exporter: &ExporterProcess,
    tag: &str,
    n: usize,
    window: Duration,
) -> Window {
    let filter = format!("camera_id=\"{tag}");
    let before = exporter.metrics();
    let ticks0: u64 = pids.iter().map(|p| usage(*p).0).sum();
    let started = Instant::now();
    // A benchmark's window: a fixed length is the point.
    std::thread::sleep(window);
    let after = exporter.metrics();
    let seconds = started.elapsed().as_secs_f64();
    let (ticks1, rss): (u64, u64) = pids
        .iter()
        .map(|p| usage(*p))
        .fold((0, 0), |(t, r), (pt, pr)| (t + pt, r + pr));
    // SAFETY: sysconf has no preconditions.
    let (hz, cpus) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK) as f64,
            libc::sysconf(libc::_SC_NPROCESSORS_ONLN) as f64,
        )
    };
    let delta = |name: &str, f: &str| sum(&after, name, f) - sum(&before, name, f);
    let mut skipped = BTreeMap::new();
    for reason in ["no_motion", "busy", "budget", "interval", "late"] {
        let per_reason = |t: &str| {
            t.lines()
                .filter(|l| {
                    l.starts_with("fess_frames_skipped_total{")
                        && l.contains(&filter)
                        && l.contains(&format!("reason=\"{reason}\""))
                })
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum::<f64>()
        };
        skipped.insert(
            reason.to_string(),
            (per_reason(&after) - per_reason(&before)) / seconds / n as f64,
        );
    }
    let events: Vec<f64> = (0..n)
        .map(|i| {
            let one = format!("camera_id=\"{tag}{i}\"");
            delta("fess_events_built_total", &one)
        })
        .collect();
    let (b0, b1) = (
        latency_buckets(&before, &filter),
        latency_buckets(&after, &filter),
    );
    Window {
        cpu_share: (ticks1 - ticks0) as f64 / hz / seconds / cpus,
        rss_mb: rss as f64 / 1024.0,
        inferences_per_camera_s: delta("fess_inferences_total", &filter) / seconds / n as f64,
        skipped,
        events_min: events.iter().copied().fold(f64::INFINITY, f64::min),
        events_max: events.iter().copied().fold(0.0, f64::max),
        p50: quantile(&b0, &b1, 0.5),
        p99: quantile(&b0, &b1, 0.99),
    }
}

/// Waits until every camera of `tag` has had frames for a moment (fps > 0 in /health).
fn wait_running(exporter: &ExporterProcess, tag: &str, n: usize) {
    let (h, ok) = exporter.health_until(Duration::from_secs(300), |h| {
        let cams = &h["components"]["pipelines"]["cameras"];
        (0..n).all(|i| cams[format!("{tag}{i}")]["fps"].as_f64() > Some(0.0))
    });
    assert!(ok, "not every camera runs:\n{h:#}");
}

fn stop(mut children: Vec<Child>, signal: &str) {
    for c in &children {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &c.id().to_string()])
            .status();
    }
    for c in &mut children {
        let _ = c.wait();
    }
}

/// N cameras in one `fess run`; returns the window and the events each camera built in all.
fn service(
    n: usize,
    tag: &str,
    url: &str,
    (broker, redis, exporter): (&Broker, &RedisServer, &ExporterProcess),
    window: Duration,
) -> (Window, BTreeMap<String, usize>) {
    let dir = fess_testkit::tmp_dir(&format!("bench-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = format!(
        "[defaults]\nbootstrap-servers = \"{}\"\nredis-url = \"{}\"\ndetect-fps = 5\n\
         faces = true\n",
        broker.bootstrap(),
        redis.url()
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[camera]]\nid = \"{tag}{i}\"\nsource = \"{url}\"\nspool-dir = \"{}\"\n",
            dir.join(format!("spool-{i}")).display()
        ));
    }
    let config = dir.join("cameras.toml");
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_fess"))
        .arg("run")
        .arg(&config)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("FESS_STATS_SOCKET", &exporter.socket)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_running(exporter, tag, n);
    let w = measure(&[child.id()], exporter, tag, n, window);
    stop(vec![child], "TERM");
    // The final reports (sent at stop) hold each camera's whole count.
    std::thread::sleep(Duration::from_millis(1500));
    let text = exporter.metrics();
    let built = (0..n)
        .map(|i| {
            let id = format!("{tag}{i}");
            let f = format!("camera_id=\"{id}\",type=\"motion\"");
            (id, sum(&text, "fess_events_built_total", &f) as usize)
        })
        .collect();
    (w, built)
}

/// N `gst-launch-1.0` processes, one camera each.
fn separate(
    n: usize,
    tag: &str,
    url: &str,
    (broker, redis, exporter): (&Broker, &RedisServer, &ExporterProcess),
    window: Duration,
) -> Window {
    let dir = fess_testkit::tmp_dir(&format!("bench-{tag}"));
    let children: Vec<Child> = (0..n)
        .map(|i| {
            let id = format!("{tag}{i}");
            let launch = format!(
                "rtspsrc location={url} protocols=tcp latency=200 ! decodebin ! queue \
                 leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0 ! \
                 videoconvert ! fessdetect camera-id={id} detect-fps=5 ! fessface \
                 camera-id={id} redis-url={} ! fesskafkasink camera-id={id} \
                 bootstrap-servers={} spool-dir={}",
                redis.url(),
                broker.bootstrap(),
                dir.join(format!("spool-{i}")).display()
            );
            Command::new("gst-launch-1.0")
                .arg("-q")
                .args(launch.split_whitespace())
                .env("GST_PLUGIN_PATH", plugin_dir())
                .env("FESS_STATS_SOCKET", &exporter.socket)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_running(exporter, tag, n);
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    let w = measure(&pids, exporter, tag, n, window);
    stop(children, "KILL");
    w
}

fn line(label: &str, w: &Window) -> String {
    let skipped: Vec<String> = w
        .skipped
        .iter()
        .filter(|(_, v)| **v >= 0.05)
        .map(|(k, v)| format!("{k} {v:.1}"))
        .collect();
    format!(
        "{label}: CPU {:5.1} % of the machine, RSS {:6.0} MB, {:4.2} inferences/s per camera \
         (skipped/s per camera: {}), events per camera {:.0}–{:.0}, latency p50 {:.3} s p99 {:.3} s",
        w.cpu_share * 100.0,
        w.rss_mb,
        w.inferences_per_camera_s,
        if skipped.is_empty() { "none".to_string() } else { skipped.join(", ") },
        w.events_min,
        w.events_max,
        w.p50,
        w.p99,
    )
}

fn main() {
    gst::init().expect("GStreamer initialises");
    let counts: Vec<usize> = std::env::var("FESS_BENCH_CAMERAS")
        .unwrap_or_else(|_| "1,4,8,16".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let window = Duration::from_secs(env_or("FESS_BENCH_WINDOW", 30));
    let with_separate = env_or("FESS_BENCH_SEPARATE", 1) != 0;
    let clip = stream_clip();
    let (broker, redis) = (Broker::start(), RedisServer::start());
    let exporter = ExporterProcess::start("bench-run", &["--min-cameras", "0"]);
    let services = (&broker, &redis, &exporter);
    println!(
        "run_cameras: 640x360 H.264 at 25 fps over RTSP, detect-fps=5, motion gate and faces on, \
         a {}-s window per setup, {} CPUs",
        window.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut built_all: BTreeMap<String, usize> = BTreeMap::new();
    for (round, &n) in counts.iter().enumerate() {
        // A fresh server per setup: the stream starts from its beginning.
        let camera = RtspServer::start(&clip);
        let tag = format!("r{round}-run-");
        let (ours, built) = service(n, &tag, &camera.url(), services, window);
        built_all.extend(built);
        println!("{}", line(&format!("{n:>2} cameras, fess run"), &ours));
        drop(camera);
        if with_separate {
            let camera = RtspServer::start(&clip);
            let tag = format!("r{round}-sep-");
            let theirs = separate(n, &tag, &camera.url(), services, window);
            println!(
                "{}",
                line(&format!("{n:>2} cameras, {n} gst-launch"), &theirs)
            );
            println!(
                "{n:>2} cameras: fess run takes {:.2}× the CPU and {:.2}× the memory of one \
                 process per camera",
                ours.cpu_share / theirs.cpu_share,
                ours.rss_mb / theirs.rss_mb
            );
        }
    }
    // Every event the fess run cameras built is in Kafka.
    let mut reader = Reader::new(&broker.bootstrap(), &["motion.detection.events"]);
    let count =
        |seen: &[fess_testkit::Consumed], id: &str| seen.iter().filter(|c| c.key == id).count();
    reader.read_until(Duration::from_secs(120), |seen| {
        built_all.iter().all(|(id, n)| count(seen, id) >= *n)
    });
    let missing: Vec<String> = built_all
        .iter()
        .filter(|(id, n)| count(&reader.seen, id) < **n)
        .map(|(id, n)| format!("{id}: {} of {n}", count(&reader.seen, id)))
        .collect();
    if missing.is_empty() {
        println!(
            "every event the fess run cameras built is in Kafka ({} events)",
            built_all.values().sum::<usize>()
        );
    } else {
        println!("events missing from Kafka: {}", missing.join(", "));
        std::process::exit(1);
    }
}
