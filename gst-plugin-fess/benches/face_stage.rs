//! `cargo bench -p gst-plugin-fess --bench face_stage` (or `scripts/bench.sh`).
//!
//! What the face stage costs, on the carphone clip (176×144, 120 frames, one face), in one run:
//!
//! (a) `fessface` per frame, from its own latency histogram (sum / count: the element's work,
//!     not the decoding), with the recognition cache (defaults) and without it
//!     (`recheck-interval=1`: every face of every frame goes through the embedding model),
//!     alternating with, without, with, without; plus the share of frames that needed the
//!     embedding model. A real redis-server holds the gallery (the astronaut) and the cache.
//! (b) the cost per face of each step, calling the engine directly on the decoded frames:
//!     detection on the whole frame (detection-size 320), alignment, embedding (batch of one).
//!
//! Environment: FESS_CACHE / FESS_MODELS / ORT_DYLIB_PATH as everywhere in FESS.

use std::time::{Duration, Instant};

use fess_vision::face::engine::{FaceEngine, Region};
use gst::prelude::*;

type Result<T> = std::result::Result<T, String>;

fn main() {
    if let Err(e) = run() {
        eprintln!("face_stage: error: {e}");
        std::process::exit(1);
    }
}

fn media(name: &str) -> std::path::PathBuf {
    fess::dirs::cache_dir().join("media").join(name)
}

fn engine() -> Result<FaceEngine> {
    let models = fess_vision::paths::models_dir();
    FaceEngine::load(
        &models.join(fess_vision::paths::FACE_DETECTOR_FILE),
        &models.join(fess_vision::paths::FACE_EMBEDDER_FILE),
        0,
    )
    .map_err(|e| e.to_string())
}

/// Every frame of `file` as packed RGB.
fn decode(file: &str) -> Result<(gst_video::VideoInfo, Vec<gst::Buffer>)> {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false",
        media(file).display()
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let mut buffers = Vec::new();
    let mut info = None;
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
        if info.is_none() {
            info = Some(
                gst_video::VideoInfo::from_caps(s.caps().unwrap()).map_err(|e| e.to_string())?,
            );
        }
        buffers.push(s.buffer_owned().unwrap());
    }
    let _ = pipeline.set_state(gst::State::Null);
    Ok((info.ok_or("no frames decoded")?, buffers))
}

/// Runs the carphone clip through fessface with `extra` properties; returns its stats.
fn element_run(redis_url: &str, extra: &str) -> Result<gst::Structure> {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! \
         fessface name=face mode=frame redis-url={redis_url} {extra} ! fakesink sync=false",
        media("carphone_pristine.mp4").display()
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(600)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(e.error().to_string()),
            _ => {}
        }
    }
    let stats = pipeline
        .by_name("face")
        .unwrap()
        .property::<gst::Structure>("stats");
    let _ = pipeline.set_state(gst::State::Null);
    Ok(stats)
}

struct ElementFigures {
    ms_per_frame: f64,
    embedded_share: f64,
    hits: u64,
    lookups: u64,
}

fn figures(s: &gst::Structure) -> ElementFigures {
    let lat = s.get::<gst::Structure>("latency").unwrap();
    let frames = s.get::<u64>("frames").unwrap();
    let hits = s.get::<u64>("cache-hits").unwrap();
    ElementFigures {
        ms_per_frame: lat.get::<f64>("sum").unwrap() * 1000.0
            / lat.get::<u64>("count").unwrap() as f64,
        embedded_share: s.get::<u64>("embeddings").unwrap() as f64 / frames as f64,
        hits,
        lookups: hits + s.get::<u64>("cache-misses").unwrap(),
    }
}

fn run() -> Result<()> {
    gst::init().map_err(|e| e.to_string())?;
    gstfess::plugin_register_static().map_err(|e| e.to_string())?;
    let redis = fess_testkit::RedisServer::start();

    // The gallery: the astronaut (so the carphone face is matched against someone, and unknown).
    let mut engine = engine()?;
    let (ainfo, abufs) = decode("astronaut.png")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(abufs[0].as_ref(), &ainfo)
        .map_err(|_| "cannot map")?;
    let view = fess_gst::video_frame::view(&frame).ok_or("format")?;
    let astronaut =
        fess_vision::face::enrol::enrol(&mut engine, &view).map_err(|e| e.to_string())?;
    let mut store = fess::gallery::GalleryStore::connect(
        &redis.settings(),
        fess::gallery::DEFAULT_GALLERY_KEY,
        Duration::from_secs(2),
    )
    .map_err(|e| e.to_string())?;
    store
        .put(&fess::gallery::Person {
            id: "astronaut".into(),
            name: "Eileen Collins".into(),
            authorized: true,
            embeddings: vec![astronaut.embedding],
        })
        .map_err(|e| e.to_string())?;

    println!("face_stage on carphone_pristine.mp4 (176x144, 120 frames), mode=frame");
    println!("(a) fessface per frame (element latency histogram), with and without the cache:");
    let mut ratios = Vec::new();
    for round in 1..=2 {
        // Cache keys are per camera and track: a new camera id per run starts cold.
        let with = figures(&element_run(
            &redis.url(),
            &format!("camera-id=bench-with-{round}"),
        )?);
        let without = figures(&element_run(
            &redis.url(),
            &format!("camera-id=bench-without-{round} recheck-interval=1"),
        )?);
        println!(
            "  round {round}: with cache {:.2} ms/frame ({:.1}% of frames embedded, {} of {} lookups hit); \
             without {:.2} ms/frame ({:.0}% embedded); with/without = {:.2}",
            with.ms_per_frame,
            with.embedded_share * 100.0,
            with.hits,
            with.lookups,
            without.ms_per_frame,
            without.embedded_share * 100.0,
            with.ms_per_frame / without.ms_per_frame
        );
        ratios.push(with.ms_per_frame / without.ms_per_frame);
    }

    println!("(b) cost per face, engine called directly on the decoded frames:");
    let (info, buffers) = decode("carphone_pristine.mp4")?;
    let (mut t_det, mut t_align, mut t_embed, mut faces) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0u32);
    // The first frame warms the models up and is not counted.
    for (i, buf) in buffers.iter().enumerate() {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), &info)
            .map_err(|_| "cannot map")?;
        let view = fess_gst::video_frame::view(&frame).ok_or("format")?;
        let whole = Region {
            x: 0,
            y: 0,
            width: view.width,
            height: view.height,
        };
        let t0 = Instant::now();
        let found = engine
            .detect(&view, whole, 320, 0.7, 16)
            .map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let Some(face) = found.first() else { continue };
        let aligned = engine.align(&view, face).ok_or("degenerate face")?;
        let t2 = Instant::now();
        engine.embed(&[aligned]).map_err(|e| e.to_string())?;
        let t3 = Instant::now();
        if i > 0 {
            t_det += t1 - t0;
            t_align += t2 - t1;
            t_embed += t3 - t2;
            faces += 1;
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / faces.max(1) as f64;
    let total = per(t_det) + per(t_align) + per(t_embed);
    println!(
        "  {faces} faces: detection {:.2} ms ({:.0}%), alignment {:.3} ms ({:.1}%), embedding {:.2} ms ({:.0}%)",
        per(t_det),
        per(t_det) / total * 100.0,
        per(t_align),
        per(t_align) / total * 100.0,
        per(t_embed),
        per(t_embed) / total * 100.0
    );
    ratios.sort_by(f64::total_cmp);
    println!(
        "face stage with the cache / without it: {:.2} (median of {} rounds)",
        ratios[ratios.len() / 2],
        ratios.len()
    );
    Ok(())
}
