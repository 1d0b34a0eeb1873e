//! `cargo bench -p gst-plugin-fess --bench detect_fps` (or `scripts/bench.sh`).
//!
//! How fast is `fessdetect` against what a user would otherwise run, and how much does it add on
//! top of the model itself? On vtest.avi, per model (FESS_BENCH_MODELS, default
//! `yolox-nano,centernet`), in one run:
//!
//! (a) fps of `filesrc ! decodebin ! fessdetect motion-gate=false ! fakesink sync=false` (every
//!     frame inferred). Timed on fessdetect's src pad from the first output buffer to the Nth, so
//!     model loading and the first (warm-up) inference are not counted: fps = (N − 1) /
//!     (t_N − t_1). The decode runs upstream in the same streaming thread, as it does for users.
//!     Pad probes stop it after exactly N frames: fessdetect's sink pad takes N buffers and as
//!     many more as it holds while the next frames are decoded (one per inference request, and
//!     one waiting for a request), then blocks. The element runs with its defaults (`nireq` and `threads` automatic).
//! (b) fps of the bare ONNX Runtime session (`fess_vision::runtime::inference::Model::run`) on the same
//!     frames, preprocessed exactly as the element does (same caps, same `Decoder` and
//!     `InputSpec`, same `Preprocessor`); at most 64 distinct tensors are kept and cycled.
//!     One warm-up run on frame 1, then frames 2..N are timed: fps = (N − 1) / elapsed.
//!     Two ways: (b1) one session with FESS_BENCH_THREADS threads, run after run (what a user
//!     writes first); (b2) as the element's engine runs it: one single-threaded session per
//!     inference request, the requests at once, frames shared out among them.
//! (p) fps of the plain Python loop (`scripts/python_loop.py` in the pinned bench venv: OpenCV
//!     decode and resize, onnxruntime, NMSBoxes, a JSON event per frame), timed the same way
//!     from its first frame's event to its Nth. YOLOX and CenterNet models only.
//!
//! (b), (a) and (p) alternate (FESS_BENCH_ROUNDS rounds, default 2), each with a freshly
//! loaded model; (a)/(b2) (the element's own cost, target ≥ 0.95), (a)/(b1) and (a)/(p) (target
//! ≥ 1.05) are reported per round and as medians.
//!
//! (c) The motion gate (element defaults) on vtest.avi (the same N frames) and on a still clip
//! (person.jpg frozen for 100 frames): share of frames inferred, from the element's `stats`.
//!
//! Environment: FESS_BENCH_FRAMES (N, default 200), FESS_BENCH_THREADS (threads of (b1) and
//! (p), default 2, the cores here; 0 = ONNX Runtime's default), FESS_BENCH_ROUNDS (default 2), FESS_BENCH_MODELS,
//! FESS_BENCH_VENV (the Python loop's venv, default $FESS_CACHE/bench-venv, made by
//! `scripts/setup.sh --bench`), plus FESS_CACHE / FESS_MODELS / FESS_MEDIA / ORT_DYLIB_PATH as
//! everywhere in FESS.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fess_vision::detect::decoders::{Decoder, ModelFamily};
use fess_vision::preprocess::{Preprocessor, TensorBuffer};
use fess_vision::runtime::engine::Parallelism;
use fess_vision::runtime::inference::Model;
use gst::prelude::*;

/// Most distinct tensors kept for (b): 512·512·3·4 bytes ≈ 3 MB each.
const MAX_TENSORS: usize = 64;
const STATIC_FRAMES: u32 = 100;
/// Longest any one pipeline may run before the bench gives up.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(1800);

type Result<T> = std::result::Result<T, String>;

fn main() {
    if let Err(e) = run() {
        eprintln!("detect_fps: error: {e}");
        std::process::exit(1);
    }
}

struct Config {
    frames: u32,
    threads: u32,
    rounds: u32,
    /// Short names and files of the models to measure.
    models: Vec<(String, PathBuf)>,
    video: PathBuf,
    still: PathBuf,
    /// The Python loop's interpreter and script.
    python: PathBuf,
    python_loop: PathBuf,
}

fn env_u32(name: &str, default: u32, min: u32) -> Result<u32> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u32>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name}={v}: expected a whole number ≥ {min}")),
        },
        _ => Ok(default),
    }
}

fn media_dir() -> PathBuf {
    match std::env::var_os("FESS_MEDIA").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => fess::dirs::cache_dir().join("media"),
    }
}

fn require(path: &Path, what: &str) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{what} {} does not exist: run scripts/setup.sh first (it downloads the models and \
             test media into $FESS_CACHE, default ~/.cache/fess)",
            path.display()
        ))
    }
}

fn config() -> Result<Config> {
    let media = media_dir();
    let names = std::env::var("FESS_BENCH_MODELS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "yolox-nano,centernet".into());
    let mut models = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let path = fess_vision::paths::detector_model(Some(name)).map_err(|e| e.to_string())?;
        require(&path, "model")?;
        models.push((name.to_string(), path));
    }
    let venv = std::env::var_os("FESS_BENCH_VENV")
        .filter(|p| !p.is_empty())
        .map_or_else(|| fess::dirs::cache_dir().join("bench-venv"), PathBuf::from);
    let c = Config {
        frames: env_u32("FESS_BENCH_FRAMES", 200, 2)?,
        threads: env_u32("FESS_BENCH_THREADS", 2, 0)?,
        rounds: env_u32("FESS_BENCH_ROUNDS", 2, 1)?,
        models,
        video: media.join("vtest.avi"),
        still: media.join("person.jpg"),
        python: venv.join("bin").join("python"),
        python_loop: Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python_loop.py"),
    };
    if !c.python.is_file() {
        return Err(format!(
            "the Python loop's venv {} does not exist: run scripts/setup.sh --bench (scripts/bench.sh does)",
            venv.display()
        ));
    }
    require(&c.video, "test video")?;
    require(&c.still, "test image")?;
    let ort = fess_vision::paths::onnxruntime_library().library;
    if ort.is_absolute() && !ort.is_file() {
        return Err(format!(
            "ONNX Runtime library {} does not exist: run scripts/setup.sh first (or set \
             ORT_DYLIB_PATH)",
            ort.display()
        ));
    }
    Ok(c)
}

fn run() -> Result<()> {
    let cfg = config()?;
    gst::init().map_err(|e| format!("cannot initialise GStreamer: {e}"))?;
    gstfess::plugin_register_static()
        .map_err(|e| format!("cannot register the fess plugin: {e}"))?;
    for (element, package) in [
        ("decodebin", "gstreamer1.0-plugins-base"),
        ("avidemux", "gstreamer1.0-plugins-good"),
        ("avdec_msmpeg4", "gstreamer1.0-libav"),
        ("jpegdec", "gstreamer1.0-plugins-good"),
        ("imagefreeze", "gstreamer1.0-plugins-good"),
        ("videoconvert", "gstreamer1.0-plugins-base"),
    ] {
        if gst::ElementFactory::find(element).is_none() {
            return Err(format!(
                "GStreamer element {element} is missing: install {package} (scripts/setup.sh does)"
            ));
        }
    }

    let n = cfg.frames;
    println!("FESS detect_fps benchmark");
    println!(
        "video:   {} (first {n} frames), still: {}",
        cfg.video.display(),
        cfg.still.display()
    );
    println!(
        "threads: (b1) and (p) {}; (a) and (b2) {} (fessdetect's defaults); {} CPUs; load \
         average {}",
        if cfg.threads == 0 {
            "0 = ONNX Runtime default".to_string()
        } else {
            cfg.threads.to_string()
        },
        Parallelism::resolve(0, 0),
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        loadavg()
    );
    println!("before: {}", busy_report());
    let decode_fps = decode_only_fps(&cfg)?;
    println!(
        "decode only (filesrc ! decodebin ! fakesink): {decode_fps:.1} fps ({:.2} ms/frame)",
        1e3 / decode_fps
    );
    let mut results = Vec::new();
    for (name, model) in &cfg.models {
        results.push(measure_model(&cfg, name, model)?);
    }
    println!("summary (medians of {} rounds, {n} frames):", cfg.rounds);
    for r in &results {
        let python = match r.python_fps {
            Some(p) => format!(
                "Python loop (p) {p:.1} fps, FESS/Python {:.3} (target >= 1.05: {})",
                r.pipeline_fps / p,
                met(r.pipeline_fps / p >= 1.05)
            ),
            None => "no Python loop for this model family".into(),
        };
        println!(
            "  {:<15} pipeline (a) {:.1} fps; bare session (b1) {:.1} fps, (a)/(b1) {:.3}; bare \
             requests (b2) {:.1} fps, (a)/(b2) {:.3} (target >= 0.95: {}); {python}",
            r.name,
            r.pipeline_fps,
            r.serial_fps,
            r.pipeline_fps / r.serial_fps,
            r.session_fps,
            r.ratio,
            met(r.ratio >= 0.95)
        );
    }
    for pair in results.windows(2) {
        println!(
            "  pipeline fps {} / {}: {:.2}x",
            pair[0].name,
            pair[1].name,
            pair[0].pipeline_fps / pair[1].pipeline_fps
        );
    }

    // (c) The motion gate with the element's defaults.
    let video = gate_share(
        "filesrc name=src ! decodebin ! fessdetect name=detect ! fakesink sync=false",
        // Exactly the first N frames, then EOS.
        &fess_testkit::clip(&cfg.video, n),
    )?;
    print_gate("vtest.avi", &video);
    let still = gate_share(
        &format!(
            "filesrc name=src ! jpegdec ! imagefreeze num-buffers={STATIC_FRAMES} ! videoconvert ! fessdetect name=detect ! fakesink sync=false"
        ),
        &cfg.still,
    )?;
    print_gate("static clip", &still);
    println!("after: {}; load average {}", busy_report(), loadavg());
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

struct ModelResult {
    name: String,
    pipeline_fps: f64,
    serial_fps: f64,
    session_fps: f64,
    /// Median of the per-round (a)/(b2).
    ratio: f64,
    python_fps: Option<f64>,
}

/// (b), (a) and (p) for one model, alternating over the rounds.
fn measure_model(cfg: &Config, name: &str, model: &Path) -> Result<ModelResult> {
    let n = cfg.frames;
    println!("== {name}: {}", model.display());
    // Inputs for (b): the same frames, the same preprocessing as the element.
    let (inputs, family) = prepare_inputs(cfg, model)?;
    println!(
        "prepared: {} frames {}x{} {:?} -> tensor {:?}, {} distinct kept; preprocessing {:.2} ms/frame",
        inputs.frames,
        inputs.width,
        inputs.height,
        inputs.format,
        inputs.shape,
        inputs.tensors.len(),
        inputs.preprocess.as_secs_f64() * 1e3 / inputs.frames as f64
    );
    if inputs.frames < n {
        return Err(format!(
            "{} has only {} frames, FESS_BENCH_FRAMES={n} asks for more",
            cfg.video.display(),
            inputs.frames
        ));
    }
    let python_family = match family {
        ModelFamily::Yolox => Some("yolox"),
        ModelFamily::CenterNet => Some("centernet"),
        _ => None,
    };
    let (mut a_fps, mut b1_fps, mut b_fps, mut p_fps, mut ratios, mut shares) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for round in 1..=cfg.rounds {
        let b1 = raw_session_fps(
            cfg,
            model,
            &inputs,
            Parallelism {
                requests: 1,
                threads: cfg.threads as usize,
            },
        )?;
        println!(
            "round {round}: bare session (b1): {b1:.2} fps ({:.2} ms/run)",
            1e3 / b1
        );
        let b = raw_session_fps(cfg, model, &inputs, Parallelism::resolve(0, 0))?;
        let pre_ms = inputs.preprocess.as_secs_f64() * 1e3 / inputs.frames as f64;
        println!(
            "round {round}: bare requests (b2): {:.2} fps ({:.2} ms/frame; preprocessing is \
             {:.1}% of that, target < 5%)",
            b,
            1e3 / b,
            100.0 * pre_ms * b / 1e3
        );
        let a = pipeline_fps(cfg, model)?;
        println!(
            "round {round}: pipeline (a): {:.2} fps ({:.2} ms/frame; in fessdetect {:.2} ms from \
             arriving to leaving, of which it works {:.2} ms [model run+decode {:.2}])",
            a.fps, a.interval_ms, a.element_ms, a.processing_ms, a.inference_ms,
        );
        let r = a.fps / b;
        println!(
            "round {round}: (a)/(b2): {r:.3}, (a)/(b1): {:.3}   (in-run: model run+decode = {:.1}% of the pipeline's time)",
            a.fps / b1,
            100.0 * a.model_share
        );
        if a.inferences < u64::from(n) || a.frames < u64::from(n) || a.probed_out < n as usize {
            println!(
                "round {round}: WARNING: fessdetect counted {} frames and {} inferences, its pads \
                 passed {} buffers in and {} out (expected at least {n} each){}",
                a.frames, a.inferences, a.probed_in, a.probed_out, a.pts_note
            );
        }
        if let Some(family) = python_family {
            let p = python_fps(cfg, model, family)?;
            println!(
                "round {round}: Python loop (p): {:.2} fps; (a)/(p): {:.3}",
                p,
                a.fps / p
            );
            p_fps.push(p);
        }
        shares.push(a.model_share);
        a_fps.push(a.fps);
        b1_fps.push(b1);
        b_fps.push(b);
        ratios.push(r);
    }
    println!(
        "{name}: in-run model share {:.3} (median; the load-independent view of (a)/(b): time in \
         Model::run + decode per request / pipeline time, measured inside one pipeline run)",
        median(&shares)
    );
    Ok(ModelResult {
        name: name.to_string(),
        pipeline_fps: median(&a_fps),
        serial_fps: median(&b1_fps),
        session_fps: median(&b_fps),
        ratio: median(&ratios),
        python_fps: (!p_fps.is_empty()).then(|| median(&p_fps)),
    })
}

/// (p): the plain Python loop on the same N frames, as a separate process.
fn python_fps(cfg: &Config, model: &Path, family: &str) -> Result<f64> {
    let out = std::process::Command::new(&cfg.python)
        .arg(&cfg.python_loop)
        .arg("--model")
        .arg(model)
        .args(["--family", family, "--video"])
        .arg(&cfg.video)
        .args(["--frames", &cfg.frames.to_string()])
        .args(["--threads", &cfg.threads.to_string()])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cfg.python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the Python loop failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("the Python loop printed {line:?}: {e}"))?;
    if v["frames"].as_u64() != Some(u64::from(cfg.frames)) {
        return Err(format!(
            "the Python loop did not read {} frames: {line}",
            cfg.frames
        ));
    }
    v["fps"]
        .as_f64()
        .ok_or_else(|| format!("the Python loop printed no fps: {line}"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// Share (0–1) of all CPUs busy over half a second while this process idles: other load.
fn others_busy() -> Option<f64> {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let total = v.iter().take(8).sum();
        Some((total, v.get(3)? + v.get(4).copied().unwrap_or(0)))
    }
    let (t0, i0) = sample()?;
    std::thread::sleep(Duration::from_millis(500));
    let (t1, i1) = sample()?;
    let dt = t1.checked_sub(t0).filter(|d| *d > 0)?;
    Some(1.0 - (i1 - i0) as f64 / dt as f64)
}

fn busy_report() -> String {
    match others_busy() {
        Some(b) if b > 0.15 => format!(
            "WARNING: other processes keep {:.0}% of the CPUs busy: fps figures are noisy \
             (the in-run model share much less so)",
            100.0 * b
        ),
        Some(b) => format!("other processes use {:.0}% of the CPUs", 100.0 * b),
        None => "cannot read /proc/stat".into(),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

fn launch(description: &str, location: &Path) -> Result<gst::Pipeline> {
    let pipeline = gst::parse::launch(description)
        .map_err(|e| format!("cannot build pipeline `{description}`: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let src = pipeline
        .by_name("src")
        .expect("every bench pipeline names its filesrc src");
    src.set_property("location", location.to_string_lossy().as_ref());
    Ok(pipeline)
}

/// Name of the application message [`cut_after`] posts.
const DONE: &str = "fess-bench-done";

/// Lets `n + held` buffers into `element` (a blocking pad probe holds back the rest; the last
/// `held` only so that the nth, which the element holds while its successors are decoded,
/// leaves) and posts a `DONE` application message once the nth has left it (for a sink: has
/// reached it).
fn cut_after(element: &gst::Element, n: usize, held: usize) {
    let sink = element.static_pad("sink").expect("a sink pad");
    let src = element.static_pad("src");
    let weak = element.downgrade();
    let done = move || {
        if let Some(e) = weak.upgrade() {
            let msg = gst::message::Application::builder(gst::Structure::new_empty(DONE))
                .src(&e)
                .build();
            let _ = e.post_message(msg);
        }
    };
    let entered = AtomicUsize::new(0);
    let is_sink = src.is_none();
    let done_in = done.clone();
    sink.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let i = entered.fetch_add(1, Ordering::SeqCst) + 1;
        if i == n + held {
            // Later buffers wait here until the pipeline stops (dropping them in a probe while
            // the pad flushes trips a GStreamer 1.22 critical).
            pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
                gst::PadProbeReturn::Ok
            });
        }
        if is_sink && i == n {
            done_in();
        }
        gst::PadProbeReturn::Ok
    });
    if let Some(src) = src {
        let left = AtomicUsize::new(0);
        src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if left.fetch_add(1, Ordering::SeqCst) + 1 == n {
                done();
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// Plays `pipeline` until EOS or [`cut_after`]'s message; an error message becomes an `Err`
/// with a setup hint.
fn play_to_eos(pipeline: &gst::Pipeline) -> Result<()> {
    let stop = |r: Result<()>| {
        let _ = pipeline.set_state(gst::State::Null);
        r
    };
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The reason is on the bus.
        let msg = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error]);
        let why = match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => error_text(e),
            _ => "the pipeline refused to start".into(),
        };
        return stop(Err(why));
    }
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + PIPELINE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return stop(Err(format!(
                "pipeline did not finish within {} s",
                PIPELINE_TIMEOUT.as_secs()
            )));
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[
                gst::MessageType::Eos,
                gst::MessageType::Error,
                gst::MessageType::Application,
            ],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Application(a) if a.structure().is_some_and(|s| s.name() == DONE) => {
                return Ok(())
            }
            gst::MessageView::Error(e) => return stop(Err(error_text(e))),
            _ => {}
        }
    }
}

fn error_text(e: &gst::message::Error) -> String {
    let from = e
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_default();
    let mut s = format!("{} (from {from})", e.error());
    if let Some(d) = e.debug() {
        s.push_str(&format!("\n  debug: {d}"));
    }
    if e.error().matches(gst::CoreError::MissingPlugin)
        || s.contains("missing a plug-in")
        || s.contains("No decoder")
    {
        s.push_str("\n  hint: install gstreamer1.0-libav and gstreamer1.0-plugins-good (scripts/setup.sh does)");
    }
    if e.error().matches(gst::ResourceError::NotFound) || s.contains("ONNX Runtime") {
        s.push_str("\n  hint: run scripts/setup.sh");
    }
    s
}

fn clone_tensor(t: &TensorBuffer) -> TensorBuffer {
    match t {
        TensorBuffer::F32(v) => TensorBuffer::F32(v.clone()),
        TensorBuffer::U8(v) => TensorBuffer::U8(v.clone()),
    }
}

struct Inputs {
    frames: u32,
    width: usize,
    height: usize,
    format: gst_video::VideoFormat,
    shape: [i64; 4],
    tensors: Vec<TensorBuffer>,
    /// Total time of `Preprocessor::run` over all frames.
    preprocess: Duration,
}

/// Decodes the first N frames as fessdetect would receive them and preprocesses each exactly as
/// it does (`Decoder::for_signature` → `input_spec` → `Preprocessor`).
fn prepare_inputs(cfg: &Config, model_path: &Path) -> Result<(Inputs, ModelFamily)> {
    let model = Model::load(model_path, cfg.threads as usize, None).map_err(|e| e.to_string())?;
    let name = model_path.display().to_string();
    let decoder =
        Decoder::for_signature(&name, model.signature(), None).map_err(|e| e.to_string())?;
    let spec = decoder
        .input_spec(&model.signature().inputs[0])
        .map_err(|e| e.to_string())?;
    drop(model);
    let formats = fess_gst::video_frame::FORMATS
        .iter()
        .map(|f| f.to_str().as_str())
        .collect::<Vec<_>>()
        .join(", ");

    let pipeline = launch(
        &format!(
            "filesrc name=src ! decodebin ! appsink name=sink sync=false max-buffers=4 \
             caps=\"video/x-raw,format={{ {formats} }}\""
        ),
        &cfg.video,
    )?;
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let result = (|| -> Result<Inputs> {
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| "cannot start the decoding pipeline".to_string())?;
        let mut pre: Option<Preprocessor> = None;
        let mut inputs = Inputs {
            frames: 0,
            width: 0,
            height: 0,
            format: gst_video::VideoFormat::Unknown,
            shape: [0; 4],
            tensors: Vec::new(),
            preprocess: Duration::ZERO,
        };
        while inputs.frames < cfg.frames {
            let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(60)) else {
                if let Some(msg) = pipeline
                    .bus()
                    .unwrap()
                    .pop_filtered(&[gst::MessageType::Error])
                {
                    if let gst::MessageView::Error(e) = msg.view() {
                        return Err(format!(
                            "decoding {}: {}",
                            cfg.video.display(),
                            error_text(e)
                        ));
                    }
                }
                break; // EOS: fewer frames than asked, reported by the caller.
            };
            let caps = sample.caps().ok_or("sample without caps")?;
            let info = gst_video::VideoInfo::from_caps(caps)
                .map_err(|_| format!("cannot parse caps {caps}"))?;
            let (width, height) = (info.width() as usize, info.height() as usize);
            let buffer = sample.buffer().ok_or("sample without buffer")?;
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
                .map_err(|_| "cannot map a decoded frame".to_string())?;
            let view = fess_gst::video_frame::view(&frame)
                .ok_or_else(|| format!("decoder gave {:?}", info.format()))?;
            let p = match &mut pre {
                Some(p) if p.fits(width, height) => p,
                _ => pre.insert(Preprocessor::new(spec.clone(), width, height)),
            };
            let t0 = Instant::now();
            p.run(&view);
            inputs.preprocess += t0.elapsed();
            if inputs.tensors.len() < MAX_TENSORS {
                inputs.tensors.push(clone_tensor(p.tensor()));
            }
            inputs.shape = p.tensor_shape();
            (inputs.width, inputs.height, inputs.format) = (width, height, info.format());
            inputs.frames += 1;
        }
        Ok(inputs)
    })();
    let _ = pipeline.set_state(gst::State::Null);
    let inputs = result?;
    if inputs.frames == 0 {
        return Err(format!("no frame decoded from {}", cfg.video.display()));
    }
    Ok((inputs, decoder.family()))
}

/// Fps of the first N frames through `decodebin ! fakesink`: the decode's share of (a).
fn decode_only_fps(cfg: &Config) -> Result<f64> {
    let pipeline = launch(
        "filesrc name=src ! decodebin ! fakesink name=sink sync=false",
        &cfg.video,
    )?;
    let n = cfg.frames as usize;
    let times = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let t = times.clone();
    let sink = pipeline.by_name("sink").unwrap();
    cut_after(&sink, n, 1);
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut t = t.lock().unwrap();
            if t.len() < n {
                t.push(Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    play_to_eos(&pipeline)?;
    let _ = pipeline.set_state(gst::State::Null);
    let t = times.lock().unwrap();
    rate(&t)
}

/// (count − 1) / (last − first).
fn rate(times: &[Instant]) -> Result<f64> {
    if times.len() < 2 {
        return Err(format!("only {} buffers came through", times.len()));
    }
    let span = times[times.len() - 1].duration_since(times[0]);
    Ok((times.len() - 1) as f64 / span.as_secs_f64())
}

/// (b): fresh sessions, one per request, each with one warm-up run on frame 1; then frames
/// 2..N timed, request r running frames r+1, r+1+requests, … on its own thread.
fn raw_session_fps(cfg: &Config, model: &Path, inputs: &Inputs, p: Parallelism) -> Result<f64> {
    let prepacked = ort::session::builder::PrepackedWeights::new();
    let mut models = (0..p.requests)
        .map(|_| {
            let mut m =
                Model::load(model, p.threads, Some(&prepacked)).map_err(|e| e.to_string())?;
            m.run(&inputs.tensors[0], &inputs.shape, |o, _| o.len())
                .map_err(|e| e.to_string())?;
            Ok(m)
        })
        .collect::<Result<Vec<_>>>()?;
    let k = inputs.tensors.len();
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        let runs: Vec<_> = models
            .iter_mut()
            .enumerate()
            .map(|(r, model)| {
                scope.spawn(move || -> Result<()> {
                    for i in (1 + r..cfg.frames as usize).step_by(p.requests) {
                        let outputs = model
                            .run(&inputs.tensors[i % k], &inputs.shape, |o, _| o.len())
                            .map_err(|e| e.to_string())?;
                        std::hint::black_box(outputs);
                    }
                    Ok(())
                })
            })
            .collect();
        runs.into_iter().try_for_each(|r| {
            r.join()
                .map_err(|_| "a bench thread panicked".to_string())?
        })
    })?;
    Ok((cfg.frames - 1) as f64 / t0.elapsed().as_secs_f64())
}

struct PipelineResult {
    fps: f64,
    /// Mean time between two output buffers (frames 2..N).
    interval_ms: f64,
    /// Mean time from a buffer entering fessdetect's sink pad to it leaving its src pad.
    element_ms: f64,
    /// From the element's stats: mean processing time per frame (streaming thread and
    /// worker, waiting excluded) and mean model run + decode.
    processing_ms: f64,
    inference_ms: f64,
    /// Share of the pipeline's wall time spent in the model run + decode, in the same run.
    model_share: f64,
    frames: u64,
    inferences: u64,
    /// Buffers seen by the probes on fessdetect's sink and src pads.
    probed_in: usize,
    probed_out: usize,
    /// When a frame is missing: which (from the buffers' timestamps).
    pts_note: String,
}

/// Sum (seconds) and count of one of the element's latency histograms.
fn histogram(stats: &gst::Structure, name: &str) -> (f64, u64) {
    stats
        .get::<gst::Structure>(name)
        .ok()
        .and_then(|h| Some((h.get::<f64>("sum").ok()?, h.get::<u64>("count").ok()?)))
        .unwrap_or((0.0, 0))
}

fn mean_ms((sum, n): (f64, u64)) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        sum * 1e3 / n as f64
    }
}

/// (a): the pipeline with every frame inferred.
fn pipeline_fps(cfg: &Config, model: &Path) -> Result<PipelineResult> {
    let pipeline = launch(
        "filesrc name=src ! decodebin ! \
         fessdetect name=detect motion-gate=false ! fakesink sync=false",
        &cfg.video,
    )?;
    let detect = pipeline.by_name("detect").unwrap();
    detect.set_property("model", model.to_string_lossy().as_ref());
    let n = cfg.frames as usize;
    // Installed first, so the timing probes below never see a dropped buffer.
    cut_after(&detect, n, Parallelism::resolve(0, 0).requests + 1);
    let arrived = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let left = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let a = arrived.clone();
    let pts_in = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let p = pts_in.clone();
    detect
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let mut a = a.lock().unwrap();
            if a.len() < n {
                a.push(Instant::now());
                if let Some(b) = info.buffer() {
                    p.lock().unwrap().push(b.pts());
                }
            }
            gst::PadProbeReturn::Ok
        });
    let l = left.clone();
    detect
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut l = l.lock().unwrap();
            if l.len() < n {
                l.push(Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    play_to_eos(&pipeline)?;
    let stats = detect.property::<gst::Structure>("stats");
    let _ = pipeline.set_state(gst::State::Null);
    let (arrived, left) = (arrived.lock().unwrap(), left.lock().unwrap());
    let pts_in = pts_in.lock().unwrap();
    let pts_note = if pts_in.len() == n {
        String::new()
    } else {
        let fmt = |t: Option<&Option<gst::ClockTime>>| match t {
            Some(Some(t)) => format!("{:.3}s", t.nseconds() as f64 / 1e9),
            _ => "none".into(),
        };
        let gaps: Vec<String> = pts_in
            .windows(2)
            .filter_map(|w| match (w[0], w[1]) {
                (Some(a), Some(b)) if b.nseconds() > a.nseconds() + 150_000_000 => Some(format!(
                    "{:.3}s->{:.3}s",
                    a.nseconds() as f64 / 1e9,
                    b.nseconds() as f64 / 1e9
                )),
                _ => None,
            })
            .collect();
        format!(
            "; pts in: first {}, last {}, gaps {:?}",
            fmt(pts_in.first()),
            fmt(pts_in.last()),
            gaps
        )
    };
    let fps = rate(&left)?;
    let m = arrived.len().min(left.len());
    // All N frames, from the first entering fessdetect to the last leaving it, against the
    // element's own model run + decode time over the same frames.
    let inference = histogram(&stats, "inference-latency");
    let span = left[m - 1].duration_since(arrived[0]).as_secs_f64();
    let element_ms = (1..m)
        .map(|i| left[i].duration_since(arrived[i]).as_secs_f64())
        .sum::<f64>()
        * 1e3
        / (m - 1) as f64;
    Ok(PipelineResult {
        fps,
        interval_ms: 1e3 / fps,
        element_ms,
        processing_ms: mean_ms(histogram(&stats, "frame-latency")),
        inference_ms: mean_ms(inference),
        // The requests run side by side: their model time is shared out among them.
        model_share: inference.0 / span / Parallelism::resolve(0, 0).requests as f64,
        frames: stats.get::<u64>("frames").unwrap_or(0),
        inferences: stats.get::<u64>("inferences").unwrap_or(0),
        probed_in: arrived.len(),
        probed_out: left.len(),
        pts_note,
    })
}

struct GateResult {
    frames: u64,
    inferences: u64,
    no_motion: u64,
    interval: u64,
}

/// Runs `description` to EOS and reads fessdetect's `stats`.
fn gate_share(description: &str, location: &Path) -> Result<GateResult> {
    let pipeline = launch(description, location)?;
    let detect = pipeline.by_name("detect").unwrap();
    play_to_eos(&pipeline)?;
    let stats = detect.property::<gst::Structure>("stats");
    let _ = pipeline.set_state(gst::State::Null);
    let get = |k: &str| stats.get::<u64>(k).unwrap_or(0);
    Ok(GateResult {
        frames: get("frames"),
        inferences: get("inferences"),
        no_motion: get("skipped-no_motion"),
        interval: get("skipped-interval"),
    })
}

fn print_gate(what: &str, g: &GateResult) {
    println!(
        "motion gate: {what} inferred {}/{} frames ({:.1}%)  [skipped: no_motion {}, interval {}]",
        g.inferences,
        g.frames,
        if g.frames > 0 {
            100.0 * g.inferences as f64 / g.frames as f64
        } else {
            0.0
        },
        g.no_motion,
        g.interval
    );
}
