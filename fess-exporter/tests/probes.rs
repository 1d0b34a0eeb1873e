//! Probes get through whatever the scrapers do (README "fess-exporter", HTTP bounds): 200
//! clients scrape /metrics at once, far past --http-max-connections, while 50 cameras report,
//! and every /livez and /readyz is answered 200.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fess::observability::stats::{Metric, StatsReporter, LATENCY_BUCKETS};
use fess_testkit::http_get;
use fess_testkit::{sample, ExporterProcess};

const SCRAPERS: usize = 200;
const CAMERAS: usize = 50;
const PROBES: usize = 30;

/// What a fessdetect reports for `camera` after `frames` frames.
fn detect_metrics(camera: &str, frames: u64) -> Vec<Metric> {
    let cam = ("camera_id", camera);
    let mut m = vec![
        Metric::counter("fess_frames_total", &[cam], frames),
        Metric::counter("fess_inferences_total", &[cam], frames / 2),
        Metric::histogram(
            "fess_inference_latency_seconds",
            &[cam],
            &LATENCY_BUCKETS,
            &[frames / 2; LATENCY_BUCKETS.len() + 1],
            frames as f64 * 0.02,
            frames / 2 * (LATENCY_BUCKETS.len() as u64 + 1),
        ),
    ];
    for class in ["person", "car", "bicycle"] {
        let labels = [cam, ("object_class", class)];
        m.push(Metric::counter("fess_detections_total", &labels, frames));
    }
    m
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

impl Counts {
    fn get(&self) -> (u64, u64, u64) {
        let load = |n: &AtomicU64| n.load(Ordering::SeqCst);
        (load(&self.ok), load(&self.busy), load(&self.other))
    }
}

#[test]
fn probes_are_answered_while_200_clients_scrape() {
    let exporter = ExporterProcess::start(
        "probes",
        &["--no-redis", "--no-kafka", "--min-cameras", "0"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    // 50 cameras reporting ten times as often as elements do, so /metrics is never cheap.
    let cameras = {
        let (stop, socket) = (stop.clone(), exporter.socket.clone());
        std::thread::spawn(move || {
            let mut reporters: Vec<(String, StatsReporter)> = (0..CAMERAS)
                .map(|i| {
                    let cam = format!("cam_{i:02}");
                    let name = format!("detect{i}");
                    let r = StatsReporter::to_path(socket.clone(), "fessdetect", &name, &cam);
                    (cam, r)
                })
                .collect();
            let mut frames = 0;
            while !stop.load(Ordering::SeqCst) {
                frames += 3;
                for (cam, r) in &mut reporters {
                    r.send(detect_metrics(cam, frames));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            reporters.iter().map(|(_, r)| r.sent).sum::<u64>()
        })
    };
    // Every camera is heard before the scrapers start (their load would starve the receiver).
    let deadline = Instant::now() + Duration::from_secs(60);
    while sample(&exporter.metrics(), "fess_active_cameras") != Some(CAMERAS as f64) {
        assert!(Instant::now() < deadline, "{}", exporter.metrics());
        std::thread::sleep(Duration::from_millis(20));
    }
    let counts = Arc::new(Counts::default());
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let (stop, counts, addr) = (stop.clone(), counts.clone(), exporter.addr);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let n = match http_get(addr, "/metrics") {
                        Ok(a) if a.status == 200 && a.body.contains("fess_frames_total") => {
                            &counts.ok
                        }
                        Ok(a) if a.status == 503 => &counts.busy,
                        _ => &counts.other,
                    };
                    n.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // Probing starts once scrapes are both served and turned away: every slot is taken.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(counts.get(), (ok, busy, _) if ok >= 20 && busy >= 100) {
        assert!(
            Instant::now() < deadline,
            "scrapers never filled the slots: {:?}",
            counts.get()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = counts.get();
    let mut failed = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..PROBES {
        let path = if i % 2 == 0 { "/livez" } else { "/readyz" };
        let t = Instant::now();
        let answer = http_get(exporter.addr, path);
        slowest = slowest.max(t.elapsed());
        match answer {
            Ok(a) if a.status == 200 => {}
            Ok(a) => failed.push(format!("{path}: {} {}", a.status, a.body.trim())),
            Err(e) => failed.push(format!("{path}: {e}")),
        }
    }
    let after = counts.get();
    stop.store(true, Ordering::SeqCst);
    for s in scrapers {
        s.join().unwrap();
    }
    let sent = cameras.join().unwrap();
    println!(
        "scrapes (served, busy, failed): {before:?} before probing, {after:?} after; \
         slowest probe {slowest:?}; {sent} datagrams sent"
    );
    assert!(
        failed.is_empty(),
        "{} of {PROBES} probes failed: {failed:#?}",
        failed.len()
    );
    // The probes ran while scrapes were still being served and turned away.
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "{before:?} {after:?}"
    );
    let m = exporter.metrics();
    assert_eq!(
        sample(&m, "fess_active_cameras"),
        Some(CAMERAS as f64),
        "{m}"
    );
}
