//! `cargo bench -p gst-plugin-fess --bench cameras` (or `scripts/bench.sh`).
//!
//! Many cameras in one process on one shared inference engine. For 1, 2, 4 and 8 branches of
//! `filesrc ! decodebin ! fessdetect motion-gate=false ! fakesink sync=false`, each playing the
//! same N frames of vtest.avi (a lossless clip), with YOLOX-Nano and with CenterNet:
//! - aggregate inferences per second (all branches, wall time from PLAYING to EOS; the model is
//!   loaded before, so loading is not counted) and its ratio to one camera's;
//! - the share of frames that passed with tracked boxes because the engine served another
//!   camera (`skipped-busy`);
//! - the process's peak RSS during the run (VmHWM, reset before each run) and its growth per
//!   added camera; the process's threads, sampled during the run.
//!
//! Environment: FESS_BENCH_FRAMES (N, default 200), FESS_BENCH_CAMERAS (default "1,2,4,8").

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;

#[derive(Clone, Copy)]
struct Figures {
    inferences_per_s: f64,
    busy_share: f64,
    peak_rss_mb: f64,
    threads: usize,
}

fn status_field(name: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn run(model: &str, cameras: usize, clip: &Path) -> Result<Figures, String> {
    let launch: String = (0..cameras)
        .map(|i| {
            format!(
                "filesrc location=\"{}\" ! decodebin ! fessdetect name=cam{i} model={model} \
                 motion-gate=false ! fakesink sync=false ",
                clip.display()
            )
        })
        .collect();
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    // "5" resets the peak RSS (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| format!("clear_refs: {e}"))?;
    let (done, threads) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let sampler = {
        let (done, threads) = (done.clone(), threads.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                threads.fetch_max(status_field("Threads:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let result = fess_testkit::wait_eos(&pipeline, Duration::from_secs(1800));
    let wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let (mut inferences, mut frames, mut busy) = (0u64, 0u64, 0u64);
    for i in 0..cameras {
        let s = pipeline
            .by_name(&format!("cam{i}"))
            .unwrap()
            .property::<gst::Structure>("stats");
        let get = |f: &str| s.get::<u64>(f).unwrap_or(0);
        inferences += get("inferences");
        frames += get("frames");
        busy += get("skipped-busy");
    }
    let peak_rss_mb = status_field("VmHWM:") as f64 / 1024.0;
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| e.to_string())?;
    result?;
    Ok(Figures {
        inferences_per_s: inferences as f64 / wall,
        busy_share: busy as f64 / frames.max(1) as f64,
        peak_rss_mb,
        threads: threads.load(Ordering::Relaxed),
    })
}

fn main() {
    gst::init().expect("GStreamer initialises");
    gstfess::plugin_register_static().expect("registering the fess plugin");
    let frames: u32 = std::env::var("FESS_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let counts: Vec<usize> = std::env::var("FESS_BENCH_CAMERAS")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let clip = fess_testkit::clip(&fess_testkit::media("vtest.avi"), frames);
    println!("cameras: {frames} frames of vtest.avi per camera, every frame offered to the model");
    for model in ["yolox-nano", "centernet"] {
        let path = fess_vision::paths::detector_model(Some(model)).expect("a bundled model");
        // Kept loaded across the runs: the branches join it, so loading is not timed.
        let (_engine, _) = fess_vision::runtime::engine::Engine::get(
            &path,
            fess_vision::runtime::engine::Parallelism::resolve(0, 0),
            None,
        )
        .unwrap_or_else(|e| panic!("loading {model}: {e}"));
        let mut first: Option<Figures> = None;
        for &n in &counts {
            let f = match run(model, n, &clip) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("cameras: {model} × {n}: {e}");
                    std::process::exit(1);
                }
            };
            let base = *first.get_or_insert(f);
            println!(
                "{model:>12} × {n}: {:6.1} inferences/s ({:.2} of one camera), {:4.1} % of frames \
                 passed busy, peak RSS {:5.0} MB ({:+.1} MB per added camera), {} threads",
                f.inferences_per_s,
                f.inferences_per_s / base.inferences_per_s,
                f.busy_share * 100.0,
                f.peak_rss_mb,
                if n > 1 {
                    (f.peak_rss_mb - base.peak_rss_mb) / (n - 1) as f64
                } else {
                    0.0
                },
                f.threads,
            );
        }
    }
}
