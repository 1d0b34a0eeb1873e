//! `fess detect`: the main job on a file, with progress and a contact sheet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gst::prelude::*;
use gstfess::roi_meta::{self, RoiObject};

use crate::sheet::{self, Tile};

#[derive(clap::Args)]
pub struct DetectArgs {
    /// Video file to analyse (anything decodebin plays).
    #[arg(long, short)]
    input: PathBuf,
    /// Detection model: a bundled model's name (yolox-nano, centernet, ssdlite-person) or an
    /// ONNX file (default: fessdetect's default).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Further fessdetect properties, e.g. `--set threshold=0.5 --set object-class=person`.
    #[arg(long = "set", value_name = "PROPERTY=VALUE")]
    set: Vec<String>,
    /// Where to write the annotated contact sheet (PNG).
    #[arg(long, default_value = "out/contact-sheet.png")]
    sheet: PathBuf,
    /// Frames on the contact sheet.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=100))]
    tiles: u32,
    /// Also publish the events to Kafka through fesskafkasink (host:port of a broker).
    #[arg(long, value_name = "HOST:PORT")]
    kafka: Option<String>,
    /// The camera id of the events (default: the file's URI).
    #[arg(long)]
    camera_id: Option<String>,
    /// Further fesskafkasink properties, e.g. `--sink-set min-interval=5`.
    #[arg(long = "sink-set", value_name = "PROPERTY=VALUE")]
    sink_set: Vec<String>,
    /// Also recognise faces with fessface against the gallery in Redis (the run fails at once
    /// when the gallery cannot be reached).
    #[arg(long)]
    faces: bool,
    /// Redis holding the gallery (with --faces).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Further fessface properties, e.g. `--face-set match-threshold=0.6`.
    #[arg(long = "face-set", value_name = "PROPERTY=VALUE", requires = "faces")]
    face_set: Vec<String>,
    /// Also write the video with boxes, labels, track ids and names drawn on it (H.264 MP4).
    #[arg(long, value_name = "FILE.mp4")]
    video: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
}

/// What the probe on fessdetect's output has seen.
#[derive(Default)]
struct Seen {
    frames: u64,
    frames_with_objects: u64,
    /// Objects on the latest frame, by class.
    current: BTreeMap<String, usize>,
    /// Track ids seen, by class.
    tracks: BTreeMap<String, BTreeSet<u64>>,
    /// Objects of frames picked for the sheet, by timestamp.
    pending: BTreeMap<u64, Vec<RoiObject>>,
}

const TILE_EVERY: u64 = 10;
const TILE_WIDTH: usize = 384;
const MAX_TILES_KEPT: usize = 200;

pub fn run(args: DetectArgs) -> anyhow::Result<()> {
    gst::init()?;
    if gst::ElementFactory::find("fessdetect").is_none() {
        bail!("the fessdetect element is not installed: build the plugin (cargo build --release) and set GST_PLUGIN_PATH to the folder holding libgstfess.so");
    }
    if args.input.is_dir() {
        bail!(
            "input {} is a folder: give a video or image file",
            args.input.display()
        );
    }
    if !args.input.is_file() {
        bail!("input {} does not exist", args.input.display());
    }
    // Checked now, not after the whole run.
    writable(&args.sheet).context("--sheet")?;
    let mut launch = String::from("filesrc name=src ! decodebin ! fessdetect name=detect");
    if args.faces {
        launch.push_str(" ! fessface name=face");
    }
    launch.push_str(
        " ! tee name=t t. ! queue ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
    );
    if args.kafka.is_some() {
        launch.push_str(" t. ! queue ! fesskafkasink name=events");
    }
    if args.video.is_some() {
        launch.push_str(
            " t. ! queue ! videoconvert ! video/x-raw,format=RGB ! fessoverlay ! videoconvert ! \
             openh264enc bitrate=2000000 ! h264parse ! mp4mux ! filesink name=video",
        );
    }
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    pipeline
        .by_name("src")
        .unwrap()
        .set_property("location", args.input.to_string_lossy().as_ref());
    let detect = pipeline.by_name("detect").unwrap();
    if let Some(m) = &args.model {
        detect.set_property("model", m.to_string_lossy().as_ref());
    }
    if let Some(id) = &args.camera_id {
        detect.set_property("camera-id", id);
    }
    set_properties(&detect, &args.set)?;
    // What the probe reads: the last analysis element's output.
    let analysis = match pipeline.by_name("face") {
        Some(face) => {
            if let Some(url) = &args.redis_url {
                face.set_property("redis-url", url);
            }
            set_properties(&face, &args.face_set)?;
            face
        }
        None => detect.clone(),
    };
    if let Some(path) = &args.video {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        pipeline
            .by_name("video")
            .unwrap()
            .set_property("location", path.to_string_lossy().as_ref());
    }
    if let Some(face) = pipeline.by_name("face") {
        gallery_reachable(&face)?;
    }
    let events = pipeline.by_name("events");
    if let (Some(sink), Some(bootstrap)) = (&events, &args.kafka) {
        sink.set_property("bootstrap-servers", bootstrap);
        // The sink's spool folder is per camera: two runs of different cameras never share one.
        if let Some(id) = &args.camera_id {
            sink.set_property("camera-id", id);
        }
        set_properties(sink, &args.sink_set)?;
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let probe_seen = seen.clone();
    analysis
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buf) = info.buffer() {
                let objects = roi_meta::read(buf);
                let mut s = probe_seen.lock().unwrap();
                s.current.clear();
                for o in &objects {
                    *s.current.entry(o.label.clone()).or_default() += 1;
                    if let Some(t) = o.track_id {
                        s.tracks.entry(o.label.clone()).or_default().insert(t);
                    }
                }
                if !objects.is_empty() {
                    s.frames_with_objects += 1;
                }
                if s.frames % TILE_EVERY == 0 {
                    let pts = buf.pts().map(|p| p.nseconds()).unwrap_or(s.frames);
                    s.pending.insert(pts, objects);
                }
                s.frames += 1;
            }
            gst::PadProbeReturn::Ok
        });

    let tiles: Arc<Mutex<Vec<Tile>>> = Arc::default();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let (sink_seen, sink_tiles) = (seen.clone(), tiles.clone());
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(buf) = sample.buffer() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let pts = buf.pts().map(|p| p.nseconds());
                let objects = {
                    let mut s = sink_seen.lock().unwrap();
                    match pts.and_then(|p| s.pending.remove(&p)) {
                        Some(o) => o,
                        None => return Ok(gst::FlowSuccess::Ok),
                    }
                };
                let caps = sample.caps().ok_or(gst::FlowError::NotNegotiated)?;
                let info = gst_video::VideoInfo::from_caps(caps)
                    .map_err(|_| gst::FlowError::NotNegotiated)?;
                let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info)
                    .map_err(|_| gst::FlowError::Error)?;
                let caption = format!("{:.1}S", pts.unwrap_or(0) as f64 / 1e9);
                let tile = sheet::annotate(
                    frame.plane_data(0).map_err(|_| gst::FlowError::Error)?,
                    info.width() as usize,
                    info.height() as usize,
                    info.stride()[0] as usize,
                    TILE_WIDTH,
                    &caption,
                    &objects,
                );
                let mut t = sink_tiles.lock().unwrap();
                t.push(tile);
                if t.len() > MAX_TILES_KEPT {
                    // Long inputs: keep every other tile so memory stays bounded.
                    let kept: Vec<Tile> = t.drain(..).step_by(2).collect();
                    *t = kept;
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );

    let started = Instant::now();
    let bus = pipeline.bus().unwrap();
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        // The element's own reason is on the bus; "failed to change its state" says nothing.
        let why = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(err) => Some(bus_text(&err.error(), err.debug(), m.src())),
                _ => None,
            })
            .unwrap_or_else(|| e.to_string());
        let _ = pipeline.set_state(gst::State::Null);
        bail!("starting the pipeline: {why}");
    }
    let mut last_frames = 0;
    let mut last_tick = Instant::now();
    let outcome = loop {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => {
                    break Err(anyhow::anyhow!(
                        "{}",
                        bus_text(&e.error(), e.debug(), msg.src())
                    ))
                }
                gst::MessageView::Warning(w) => {
                    eprintln!("warning: {}", bus_text(&w.error(), w.debug(), msg.src()))
                }
                _ => {}
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            let s = seen.lock().unwrap();
            let fps = (s.frames - last_frames) as f64 / last_tick.elapsed().as_secs_f64();
            eprintln!(
                "[{:>4.0}s] frames {:>5}  fps {:>5.1}  objects {}",
                started.elapsed().as_secs_f64(),
                s.frames,
                fps,
                by_class(&s.current)
            );
            last_frames = s.frames;
            last_tick = Instant::now();
        }
    };
    let stats = detect.property::<gst::Structure>("stats");
    // At EOS the sink has flushed (or spooled) everything already.
    let sink_stats = events
        .as_ref()
        .map(|e| e.property::<gst::Structure>("stats"));
    pipeline.set_state(gst::State::Null)?;
    outcome?;

    let elapsed = started.elapsed().as_secs_f64();
    let s = seen.lock().unwrap();
    let tracks: BTreeMap<String, usize> =
        s.tracks.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let tiles = std::mem::take(&mut *tiles.lock().unwrap());
    let n = tiles.len();
    let want = (args.tiles as usize).min(n);
    let picked: Vec<Tile> = if want == 0 {
        Vec::new()
    } else {
        let idx: BTreeSet<usize> = (0..want).map(|i| i * n / want).collect();
        tiles
            .into_iter()
            .enumerate()
            .filter(|(i, _)| idx.contains(i))
            .map(|(_, t)| t)
            .collect()
    };
    sheet::write(&args.sheet, &picked, 4)?;
    let count = |st: &gst::Structure, k: &str| st.get::<u64>(k).unwrap_or(0);
    let face_stats = pipeline
        .by_name("face")
        .map(|f| f.property::<gst::Structure>("stats"));
    let face_keys = [
        "faces",
        "embeddings",
        "cache-hits",
        "cache-misses",
        "authorized",
        "unauthorized",
        "unknown",
    ];
    let event_keys = ["motion-events", "face-events", "alert-events"];
    if args.json {
        let counts =
            |st: &gst::Structure, keys: &[&str]| -> serde_json::Map<String, serde_json::Value> {
                keys.iter()
                    .map(|k| (k.to_string(), count(st, k).into()))
                    .collect()
            };
        let summary = serde_json::json!({
            "frames": s.frames,
            "seconds": elapsed,
            "fps": s.frames as f64 / elapsed,
            "inferred": count(&stats, "inferences"),
            "skipped": {
                "no_motion": count(&stats, "skipped-no_motion"),
                "interval": count(&stats, "skipped-interval"),
            },
            "frames_with_objects": s.frames_with_objects,
            "tracks": tracks,
            "faces": face_stats.as_ref().map(|f| counts(f, &face_keys)),
            "events": sink_stats.as_ref().map(|e| counts(e, &event_keys)),
            "video": args.video,
            "sheet": { "path": args.sheet, "frames": picked.len() },
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "done: {} frames in {:.1} s ({:.1} fps)",
        s.frames,
        elapsed,
        s.frames as f64 / elapsed
    );
    println!(
        "inferred {} frames, skipped {} (no motion) and {} (interval); {} frames had objects",
        count(&stats, "inferences"),
        count(&stats, "skipped-no_motion"),
        count(&stats, "skipped-interval"),
        s.frames_with_objects
    );
    println!("distinct tracked objects: {}", by_class(&tracks));
    if let Some(f) = &face_stats {
        let [faces, embeddings, hits, misses, authorized, unauthorized, unknown] =
            face_keys.map(|k| count(f, k));
        println!(
            "faces: {faces} seen, {embeddings} embedded, cache {hits} hits / {misses} misses; recognised {authorized} authorized, {unauthorized} unauthorized, {unknown} unknown"
        );
    }
    if let Some(path) = &args.video {
        println!("annotated video: {}", path.display());
    }
    if let Some(st) = &sink_stats {
        let [motion, face, alert] = event_keys.map(|k| count(st, k));
        println!("events built: {motion} motion, {face} face, {alert} alert");
    }
    println!(
        "contact sheet: {} ({} frames)",
        args.sheet.display(),
        picked.len()
    );
    Ok(())
}

fn by_class(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies `PROPERTY=VALUE` settings to `element`, refusing unknown names and bad values.
/// An error or warning from the bus as a person reads it, and which element said it. Our
/// elements put their own text in the debug string (its last line) under a generic message;
/// other elements' messages say what failed and the debug string why.
fn bus_text(
    error: &gst::glib::Error,
    debug: Option<gst::glib::GString>,
    src: Option<&gst::Object>,
) -> String {
    let detail = debug
        .as_deref()
        .and_then(|d| d.rsplit('\n').next())
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.ends_with(':'));
    let ours = src
        .and_then(|s| s.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .is_some_and(|f| f.name().starts_with("fess"));
    let text = match detail {
        Some(d) if ours => d.to_string(),
        Some(d) => format!("{error} ({d})"),
        None => error.to_string(),
    };
    match src {
        Some(s) => format!("{text} (from {})", s.name()),
        None => text,
    }
}

/// Fails now when `path` cannot be written (its folder is made if missing).
fn writable(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `--faces` without a gallery is no run: say so before it starts (fessface itself only warns,
/// as a live pipeline must go on).
fn gallery_reachable(face: &gst::Element) -> anyhow::Result<()> {
    let url = face
        .property::<Option<String>>("redis-url")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(fess::redis_url::from_env);
    fess::gallery::GalleryStore::connect(
        &url,
        fess::gallery::DEFAULT_GALLERY_KEY,
        Duration::from_secs(3),
    )
    .map(drop)
    .map_err(|e| {
        anyhow::anyhow!(
            "--faces: cannot reach the gallery at {}: {e}",
            fess::redis_url::redact(&url)
        )
    })
}

fn set_properties(element: &gst::Element, settings: &[String]) -> anyhow::Result<()> {
    let factory = element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_default();
    for kv in settings {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("{kv}: expected PROPERTY=VALUE"))?;
        let pspec = element.find_property(k).with_context(|| {
            format!("{factory} has no property '{k}' (see gst-inspect-1.0 {factory})")
        })?;
        let value = glib_value_from_str(&pspec, v)
            .with_context(|| format!("{kv}: not a valid value for {k}"))?;
        element.set_property_from_value(k, &value);
    }
    Ok(())
}

/// Parses `s` as a value of `pspec`'s type the way gst-launch does.
fn glib_value_from_str(pspec: &gst::glib::ParamSpec, s: &str) -> anyhow::Result<gst::glib::Value> {
    let v = gst::glib::Value::deserialize(s, pspec.value_type())
        .map_err(|_| anyhow::anyhow!("cannot parse '{s}' as {}", pspec.value_type().name()))?;
    if !pspec.value_is_valid(&v) {
        bail!("'{s}' is out of range for {}", pspec.name());
    }
    Ok(v)
}
