//! `cargo bench -p fess-exporter`: prints, in one run,
//! - `/metrics` render time with 100 cameras × 80 classes (goal ≤ 10 ms), in process and over HTTP
//!   from the real binary;
//! - datagrams ingested per second (goal ≥ 50k/s), in process and through the real socket;
//! - the exporter's resident memory.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fess::observability::stats::{Datagram, Metric, Source, LATENCY_BUCKETS, PROTOCOL_VERSION};
use fess_exporter::exporter::{Exporter, PipelineRules};
use fess_exporter::store::Limits;
use fess_testkit::{free_port, http_get, tmp_dir};

const CAMERAS: usize = 100;
const CLASSES: usize = 80;

/// What a fessdetect reports for one camera that has seen `classes` classes, `n` frames in.
fn detect_datagram(camera: usize, classes: usize, n: u64) -> Datagram {
    let cam = format!("cam_{camera:03}");
    let c = [("camera_id", cam.as_str())];
    let mut counts = vec![0; LATENCY_BUCKETS.len() + 1];
    counts[4] = n;
    let mut metrics = vec![
        Metric::counter("fess_frames_total", &c, n),
        Metric::counter("fess_inferences_total", &c, n),
        Metric::counter(
            "fess_frames_skipped_total",
            &[("camera_id", &cam), ("reason", "no_motion")],
            0,
        ),
        Metric::counter(
            "fess_frames_skipped_total",
            &[("camera_id", &cam), ("reason", "interval")],
            0,
        ),
        Metric::histogram(
            "fess_inference_latency_seconds",
            &c,
            &LATENCY_BUCKETS,
            &counts,
            0.02 * n as f64,
            n,
        ),
        Metric::histogram(
            "fess_detection_latency_seconds",
            &c,
            &LATENCY_BUCKETS,
            &counts,
            0.025 * n as f64,
            n,
        ),
    ];
    for k in 0..classes {
        let class = format!("class_{k:02}");
        metrics.push(Metric::counter(
            "fess_detections_total",
            &[("camera_id", &cam), ("object_class", &class)],
            n * (k as u64 + 1),
        ));
    }
    Datagram {
        v: PROTOCOL_VERSION,
        source: Source {
            pid: 1000 + camera as u32,
            name: "fessdetect0".into(),
            kind: "fessdetect".into(),
            camera_id: cam,
            started_ms: 1,
        },
        sent_ms: 0,
        metrics,
        problems: Vec::new(),
        camera: None,
    }
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "goal met"
    } else {
        "GOAL MISSED"
    }
}

/// Ingests `datagrams` (round robin) for about `for_how_long`; returns datagrams per second.
fn ingest_rate(ex: &Exporter, datagrams: &[Vec<u8>], for_how_long: Duration) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < for_how_long {
        for d in datagrams {
            ex.ingest(d, Instant::now()).unwrap();
        }
        n += datagrams.len() as u64;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

struct Running {
    child: Child,
    addr: std::net::SocketAddr,
    socket: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_exporter() -> Running {
    let dir = tmp_dir("exporter-bench");
    let socket = dir.join("stats.sock");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_fess-exporter"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--no-redis",
            "--no-kafka",
            "--min-cameras",
            "0",
            "--forget-after",
            "600",
        ])
        .env("FESS_STATS_SOCKET", &socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http_get(addr, "/livez").is_ok_and(|a| a.status == 200) {
        assert!(Instant::now() < deadline, "the exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Running {
        child,
        addr,
        socket,
    }
}

fn received(addr: std::net::SocketAddr) -> u64 {
    let body = http_get(addr, "/metrics").unwrap().body;
    body.lines()
        .find_map(|l| l.strip_prefix("fess_exporter_datagrams_received_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    // Cargo passes --bench; nothing to filter here.
    println!("fess-exporter benchmark ({CAMERAS} cameras × {CLASSES} classes)");

    // In process: the store and the renderer alone.
    let ex = Exporter::new(Limits::default(), PipelineRules::default());
    let now = Instant::now();
    let full: Vec<Vec<u8>> = (0..CAMERAS)
        .map(|c| detect_datagram(c, CLASSES, 1000).to_bytes())
        .collect();
    for d in &full {
        ex.ingest(d, now).unwrap();
    }
    let text = ex.metrics(Instant::now());
    let times: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(ex.metrics(Instant::now()));
            t.elapsed()
        })
        .collect();
    let render = median_ms(times);
    println!(
        "render /metrics in process: {render:.2} ms median of 30 ({} series, {} KiB of text) [goal ≤ 10 ms: {}]",
        ex.series_count(),
        text.len() / 1024,
        verdict(render <= 10.0)
    );

    // Ingest: a typical datagram (a camera seeing 5 classes) and the full 80-class one.
    let small: Vec<Vec<u8>> = (0..CAMERAS)
        .map(|c| detect_datagram(c, 5, 2000).to_bytes())
        .collect();
    let small_rate = ingest_rate(&ex, &small, Duration::from_secs(2));
    println!(
        "ingest in process, {}-byte datagrams (11 metrics): {:.0} datagrams/s [goal ≥ 50k/s: {}]",
        small[0].len(),
        small_rate,
        verdict(small_rate >= 50_000.0)
    );
    let full_rate = ingest_rate(&ex, &full, Duration::from_secs(2));
    println!(
        "ingest in process, {}-byte datagrams (86 metrics): {:.0} datagrams/s",
        full[0].len(),
        full_rate
    );

    // The real binary: its socket, its HTTP server, its memory.
    let run = start_exporter();
    let tx = UnixDatagram::unbound().unwrap();
    for d in &full {
        tx.send_to(d, &run.socket).unwrap();
    }
    while received(run.addr) < CAMERAS as u64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let times: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            let a = http_get(run.addr, "/metrics").unwrap();
            assert_eq!(a.status, 200);
            t.elapsed()
        })
        .collect();
    let http = median_ms(times);
    println!(
        "GET /metrics from the binary: {http:.2} ms median of 30 [goal ≤ 10 ms: {}]",
        verdict(http <= 10.0)
    );
    let before = received(run.addr);
    let total = 200_000u64;
    // Connected, so the sender does not look the path up each time: the figure is the
    // exporter's, as far as a sender on the same two cores allows.
    tx.connect(&run.socket).unwrap();
    let started = Instant::now();
    // Blocking sends: a full socket queue makes the sender wait, so none are lost.
    for i in 0..total {
        tx.send(&small[i as usize % small.len()]).unwrap();
    }
    // Polled rarely: each look renders the whole /metrics, which holds the store's lock.
    while received(run.addr) < before + total {
        std::thread::sleep(Duration::from_millis(100));
    }
    let socket_rate = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "ingest through the socket: {total} datagrams of {} bytes at {socket_rate:.0} datagrams/s [goal ≥ 50k/s: {}]",
        small[0].len(),
        verdict(socket_rate >= 50_000.0)
    );
    println!(
        "exporter RSS: {} kB with {CAMERAS} cameras × {CLASSES} classes after {} datagrams",
        rss_kb(run.child.id()),
        before + total
    );
}
