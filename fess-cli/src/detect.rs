//! `fess detect`: the main job on a file, with progress and a contact sheet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fess::sync::MutexExt;

use anyhow::{bail, Context};
use fess::analytics::line::Direction;
use fess::analytics::scene::Scene;
use fess::events::emission::{Frame, FORGET_AFTER};
use fess_gst::roi_meta;
use fess_vision::draw::font::{CaptionFont, DEFAULT_FONT};
use fess_vision::objects::RoiObject;
use gst::prelude::*;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::elements::{bus_text, set_properties};
use crate::progress::{Progress, Snapshot};
use crate::sheet::{self, Tile, TileMaker};

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
    /// Also recognise faces with fessface against the gallery in Redis. The run fails (exit 1,
    /// with the reason) when the gallery cannot be read: fessface runs with
    /// `gallery-required=true` (`--face-set gallery-required=false` to go on without it).
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
    /// Counting lines, zones and alert rules (the file fesskafkasink's `alert-rules` takes):
    /// the summary gives each line's crossings and each zone's stays, --video draws them with
    /// their counts, --kafka raises the rules' alerts.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Seconds the pipeline has to drain after Ctrl-C or SIGTERM before it is stopped at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    stop_timeout: u64,
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
    /// The lines and zones of --rules, counting.
    scene: Option<Scene>,
}

const TILE_EVERY: u64 = 10;
const TILE_WIDTH: usize = 384;
const MAX_TILES_KEPT: usize = 200;
/// How often the bus is polled, and so how often the progress and the signals are looked at.
const POLL: gst::ClockTime = gst::ClockTime::from_mseconds(200);

/// The pipeline of a run and the elements whose results the run reads back.
struct Run {
    pipeline: gst::Pipeline,
    detect: gst::Element,
    face: Option<gst::Element>,
    events: Option<gst::Element>,
}

impl Run {
    /// The last analysis element, whose output holds every object of a frame.
    fn analysis(&self) -> &gst::Element {
        self.face.as_ref().unwrap_or(&self.detect)
    }
}

/// How the pipeline came to its end of stream.
#[derive(Clone, Copy)]
enum Ended {
    /// The whole input was analysed.
    Complete,
    /// A signal asked for an early, clean end.
    Interrupted(&'static str),
}

/// The elements' counters at the end of a run.
struct Counters {
    detect: gst::Structure,
    face: Option<gst::Structure>,
    events: Option<gst::Structure>,
}

pub fn run(args: DetectArgs) -> anyhow::Result<()> {
    check_inputs(&args)?;
    let scene = match &args.rules {
        Some(path) => {
            let set = fess::events::rules::load(path)?;
            Some(Scene::new(set.lines, set.zones, FORGET_AFTER))
        }
        None => None,
    };
    let run = build_pipeline(&args)?;
    let seen = Arc::new(Mutex::new(Seen {
        scene,
        ..Seen::default()
    }));
    count_objects(run.analysis(), seen.clone());
    let tiles = collect_tiles(&run.pipeline, seen.clone())?;
    // Registered before the run starts, so Ctrl-C never kills a half-written --video.
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("handling Ctrl-C")?;
    let started = Instant::now();
    start(&run.pipeline)?;
    let mut progress = Progress::on_stderr(started);
    let stop_timeout = Duration::from_secs(args.stop_timeout);
    let ended = wait_for_eos(
        &run.pipeline,
        &seen,
        &mut progress,
        &mut signals,
        stop_timeout,
    );
    progress.finish();
    // At EOS the sink has flushed (or spooled) everything already.
    let counters = read_counters(&run);
    run.pipeline.set_state(gst::State::Null)?;
    let ended = ended?;

    let seconds = started.elapsed().as_secs_f64();
    let mut s = seen.locked();
    let scene = s.scene.as_mut().map(SceneCounts::of);
    let tracks: BTreeMap<String, usize> =
        s.tracks.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let picked = pick_tiles(std::mem::take(&mut *tiles.locked()), args.tiles);
    sheet::write(&args.sheet, &picked, 4)?;
    let summary = Summary {
        scene,
        frames: s.frames,
        frames_with_objects: s.frames_with_objects,
        seconds,
        tracks,
        counters,
        sheet_frames: picked.len(),
        ended,
    };
    if args.json {
        outln!("{}", summary.json(&args));
    } else {
        summary.print(&args);
    }
    Ok(())
}

/// Refuses a run that cannot work before anything starts.
fn check_inputs(args: &DetectArgs) -> anyhow::Result<()> {
    crate::elements::require_plugin()?;
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
    writable(&args.sheet).context("--sheet")
}

/// `filesrc ! decodebin ! fessdetect [! fessface] ! tee`, with the branches the arguments ask for.
/// The decoded frames are brought to a format both fessdetect and fessoverlay read (a
/// passthrough for the usual I420) before any metadata exists: a `videoconvert` that converts
/// drops the ROI metas (GStreamer 1.22), so the recording branch has none.
fn launch_line(args: &DetectArgs) -> String {
    let mut launch = String::from(
        "filesrc name=src ! decodebin ! videoconvert ! \
         video/x-raw,format=(string){I420,NV12,RGB,BGR} ! fessdetect name=detect",
    );
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
            " t. ! queue ! fessoverlay name=overlay ! videoconvert ! \
             openh264enc bitrate=2000000 ! h264parse ! mp4mux ! filesink name=video",
        );
    }
    launch
}

/// The pipeline with every element configured from the arguments.
fn build_pipeline(args: &DetectArgs) -> anyhow::Result<Run> {
    let pipeline = gst::parse::launch(&launch_line(args))?
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
    let face = pipeline.by_name("face");
    if let Some(face) = &face {
        if let Some(url) = &args.redis_url {
            face.set_property("redis-url", url);
        }
        // A file run recognising against no gallery would report every face as unknown.
        face.set_property("gallery-required", true);
        set_properties(face, &args.face_set)?;
    }
    let rules = args.rules.as_ref().map(|r| r.to_string_lossy().to_string());
    if let Some(overlay) = pipeline.by_name("overlay") {
        overlay.set_property("alert-rules", rules.as_deref());
    }
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
    let events = pipeline.by_name("events");
    if let (Some(sink), Some(bootstrap)) = (&events, &args.kafka) {
        sink.set_property("bootstrap-servers", bootstrap);
        sink.set_property("alert-rules", rules.as_deref());
        // The sink's spool folder is per camera: two runs of different cameras never share one.
        if let Some(id) = &args.camera_id {
            sink.set_property("camera-id", id);
        }
        set_properties(sink, &args.sink_set)?;
    }
    Ok(Run {
        pipeline,
        detect,
        face,
        events,
    })
}

/// Counts what `analysis` outputs into `seen`, and marks every TILE_EVERY-th frame for the sheet.
fn count_objects(analysis: &gst::Element, seen: Arc<Mutex<Seen>>) {
    analysis
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer() {
                let objects = roi_meta::read(buf);
                let mut s = seen.locked();
                if let Some(scene) = &mut s.scene {
                    observe(scene, pad, buf, &objects);
                }
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
                if s.frames.is_multiple_of(TILE_EVERY) {
                    let pts = buf.pts().map(|p| p.nseconds()).unwrap_or(s.frames);
                    s.pending.insert(pts, objects);
                }
                s.frames += 1;
            }
            gst::PadProbeReturn::Ok
        });
}

/// Counts the frame's objects on the lines and in the zones, on its timestamp (a file's
/// running time).
fn observe(scene: &mut Scene, pad: &gst::Pad, buf: &gst::BufferRef, objects: &[RoiObject]) {
    let Some(info) = pad
        .current_caps()
        .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
    else {
        return;
    };
    let (seen, _) = roi_meta::seen(objects);
    scene.observe(&Frame {
        frame_number: 0,
        time: Duration::from_nanos(buf.pts().map_or(0, |t| t.nseconds())),
        width: info.width(),
        height: info.height(),
        objects: &seen,
        faces: &[],
    });
}

/// Each line's crossings by direction, and each zone's stays (those still open ended by the end
/// of the run) and the objects in it at the end.
struct SceneCounts {
    lines: BTreeMap<String, BTreeMap<String, u64>>,
    zones: BTreeMap<String, (u64, usize)>,
}

impl SceneCounts {
    fn of(scene: &mut Scene) -> SceneCounts {
        let lines = scene
            .lines()
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let by_direction = [Direction::In, Direction::Out]
                    .map(|d| (l.direction_name(d).to_string(), scene.crossings(i, d)));
                (l.name.clone(), by_direction.into_iter().collect())
            })
            .collect();
        let at_end: Vec<usize> = (0..scene.zones().len())
            .map(|i| scene.occupants(i, None))
            .collect();
        scene.finish();
        let zones = scene
            .zones()
            .iter()
            .zip(at_end)
            .enumerate()
            .map(|(i, (z, now))| (z.name.clone(), (scene.stays(i), now)))
            .collect();
        SceneCounts { lines, zones }
    }

    fn json(&self) -> serde_json::Value {
        let zones: BTreeMap<&String, serde_json::Value> = self
            .zones
            .iter()
            .map(|(k, (stays, now))| (k, serde_json::json!({"stays": stays, "objects": now})))
            .collect();
        serde_json::json!({ "lines": self.lines, "zones": zones })
    }

    fn print(&self) {
        for (name, by_direction) in &self.lines {
            let counts: Vec<String> = by_direction
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect();
            outln!("line {name}: {}", counts.join(", "));
        }
        for (name, (stays, now)) in &self.zones {
            outln!("zone {name}: {stays} stays, {now} in it at the end");
        }
    }
}

/// Turns the frames marked in `seen` into annotated tiles as they reach the appsink.
fn collect_tiles(
    pipeline: &gst::Pipeline,
    seen: Arc<Mutex<Seen>>,
) -> anyhow::Result<Arc<Mutex<Vec<Tile>>>> {
    let tiles: Arc<Mutex<Vec<Tile>>> = Arc::default();
    let maker = TileMaker {
        font: CaptionFont::load(Path::new(DEFAULT_FONT)).context("the contact sheet's captions")?,
        tile_width: TILE_WIDTH,
    };
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        .context("the launch line has an appsink")?;
    let sink_tiles = tiles.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(buf) = sample.buffer() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let pts = buf.pts().map(|p| p.nseconds());
                let objects = {
                    let mut s = seen.locked();
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
                let caption = format!("{:.1} s", pts.unwrap_or(0) as f64 / 1e9);
                let tile = maker.annotate(
                    frame.plane_data(0).map_err(|_| gst::FlowError::Error)?,
                    info.width() as usize,
                    info.height() as usize,
                    info.stride()[0] as usize,
                    &caption,
                    &objects,
                );
                let mut t = sink_tiles.locked();
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
    Ok(tiles)
}

/// Sets the pipeline playing, or fails with the element's own reason.
fn start(pipeline: &gst::Pipeline) -> anyhow::Result<()> {
    let bus = pipeline.bus().context("a pipeline has a bus")?;
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
    Ok(())
}

/// Runs until the end of stream, showing progress. The first SIGINT or SIGTERM sends EOS so
/// every output is finished properly (an MP4 needs its index written); a second one, or no EOS
/// within `stop_timeout`, gives up with an error.
fn wait_for_eos(
    pipeline: &gst::Pipeline,
    seen: &Mutex<Seen>,
    progress: &mut Progress,
    signals: &mut Signals,
    stop_timeout: Duration,
) -> anyhow::Result<Ended> {
    let bus = pipeline.bus().context("a pipeline has a bus")?;
    let mut stopping: Option<(&'static str, Instant)> = None;
    loop {
        if let Some(msg) = bus.timed_pop(POLL) {
            match msg.view() {
                gst::MessageView::Eos(_) => {
                    return Ok(stopping.map_or(Ended::Complete, |(s, _)| Ended::Interrupted(s)))
                }
                gst::MessageView::Error(e) => {
                    bail!("{}", bus_text(&e.error(), e.debug(), msg.src()))
                }
                gst::MessageView::Warning(w) => progress.note(&format!(
                    "warning: {}",
                    bus_text(&w.error(), w.debug(), msg.src())
                )),
                _ => {}
            }
        }
        for signal in signals.pending() {
            let name = signal_name(signal);
            if let Some((first, _)) = stopping {
                bail!("stopped at once by a second signal ({first}, then {name}): the outputs may be incomplete");
            }
            progress.note(&format!(
                "{name}: finishing the outputs (at most {} s; again to stop at once)",
                stop_timeout.as_secs()
            ));
            pipeline.send_event(gst::event::Eos::new());
            stopping = Some((name, Instant::now()));
        }
        if let Some((name, since)) = stopping {
            if since.elapsed() > stop_timeout {
                bail!(
                    "the pipeline did not finish within {} s of {name}: stopped at once, the \
                     outputs may be incomplete",
                    stop_timeout.as_secs()
                );
            }
        }
        progress.update(&snapshot(pipeline, seen));
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

fn snapshot(pipeline: &gst::Pipeline, seen: &Mutex<Seen>) -> Snapshot {
    let s = seen.locked();
    Snapshot {
        position: pipeline.query_position::<gst::ClockTime>(),
        duration: pipeline.query_duration::<gst::ClockTime>(),
        frames: s.frames,
        objects: by_class(&s.current),
    }
}

fn read_counters(run: &Run) -> Counters {
    let stats = |e: &gst::Element| e.property::<gst::Structure>("stats");
    Counters {
        detect: stats(&run.detect),
        face: run.face.as_ref().map(stats),
        events: run.events.as_ref().map(stats),
    }
}

/// `want` tiles spread evenly over the run.
fn pick_tiles(tiles: Vec<Tile>, want: u32) -> Vec<Tile> {
    let n = tiles.len();
    let want = (want as usize).min(n);
    if want == 0 {
        return Vec::new();
    }
    let idx: BTreeSet<usize> = (0..want).map(|i| i * n / want).collect();
    tiles
        .into_iter()
        .enumerate()
        .filter(|(i, _)| idx.contains(i))
        .map(|(_, t)| t)
        .collect()
}

/// What a run prints at its end.
struct Summary {
    scene: Option<SceneCounts>,
    frames: u64,
    frames_with_objects: u64,
    seconds: f64,
    /// Distinct tracks by class.
    tracks: BTreeMap<String, usize>,
    counters: Counters,
    sheet_frames: usize,
    ended: Ended,
}

const FACE_KEYS: [&str; 7] = [
    "faces",
    "embeddings",
    "cache-hits",
    "cache-misses",
    "authorized",
    "unauthorized",
    "unknown",
];
const EVENT_KEYS: [&str; 3] = ["motion-events", "face-events", "alert-events"];

fn count(st: &gst::Structure, key: &str) -> u64 {
    st.get::<u64>(key).unwrap_or(0)
}

impl Summary {
    fn json(&self, args: &DetectArgs) -> serde_json::Value {
        let counts =
            |st: &gst::Structure, keys: &[&str]| -> serde_json::Map<String, serde_json::Value> {
                keys.iter()
                    .map(|k| (k.to_string(), count(st, k).into()))
                    .collect()
            };
        let stats = &self.counters.detect;
        serde_json::json!({
            "frames": self.frames,
            "seconds": self.seconds,
            "fps": self.frames as f64 / self.seconds,
            "inferred": count(stats, "inferences"),
            "skipped": {
                "no_motion": count(stats, "skipped-no_motion"),
                "interval": count(stats, "skipped-interval"),
            },
            "frames_with_objects": self.frames_with_objects,
            "tracks": self.tracks,
            "faces": self.counters.face.as_ref().map(|f| counts(f, &FACE_KEYS)),
            "events": self.counters.events.as_ref().map(|e| counts(e, &EVENT_KEYS)),
            "scene": self.scene.as_ref().map(SceneCounts::json),
            "video": args.video,
            "sheet": { "path": args.sheet, "frames": self.sheet_frames },
            "interrupted": match self.ended {
                Ended::Complete => None,
                Ended::Interrupted(signal) => Some(signal),
            },
        })
    }

    fn print(&self, args: &DetectArgs) {
        let stats = &self.counters.detect;
        if let Ended::Interrupted(signal) = self.ended {
            outln!("stopped early by {signal}: the results cover the frames analysed until then");
        }
        outln!(
            "done: {} frames in {:.1} s ({:.1} fps)",
            self.frames,
            self.seconds,
            self.frames as f64 / self.seconds
        );
        outln!(
            "inferred {} frames, skipped {} (no motion) and {} (interval); {} frames had objects",
            count(stats, "inferences"),
            count(stats, "skipped-no_motion"),
            count(stats, "skipped-interval"),
            self.frames_with_objects
        );
        outln!("distinct tracked objects: {}", by_class(&self.tracks));
        if let Some(scene) = &self.scene {
            scene.print();
        }
        if let Some(f) = &self.counters.face {
            let [faces, embeddings, hits, misses, authorized, unauthorized, unknown] =
                FACE_KEYS.map(|k| count(f, k));
            outln!(
                "faces: {faces} seen, {embeddings} embedded, cache {hits} hits / {misses} misses; recognised {authorized} authorized, {unauthorized} unauthorized, {unknown} unknown"
            );
        }
        if let Some(path) = &args.video {
            outln!("annotated video: {}", path.display());
        }
        if let Some(st) = &self.counters.events {
            let [motion, face, alert] = EVENT_KEYS.map(|k| count(st, k));
            outln!("events built: {motion} motion, {face} face, {alert} alert");
        }
        outln!(
            "contact sheet: {} ({} frames)",
            args.sheet.display(),
            self.sheet_frames
        );
    }
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

/// Fails now when `path` cannot be written (its folder is made if missing). A file made to
/// find out is removed again, so a run that fails later leaves no empty sheet behind.
fn writable(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(n: u8) -> Vec<Tile> {
        (0..n)
            .map(|i| Tile {
                rgb: vec![i],
                width: 1,
                height: 1,
            })
            .collect()
    }

    #[test]
    fn tiles_are_picked_evenly_from_the_whole_run() {
        let first_pixels = |t: Vec<Tile>| t.iter().map(|t| t.rgb[0]).collect::<Vec<_>>();
        assert_eq!(first_pixels(pick_tiles(tiles(10), 4)), [0, 2, 5, 7]);
        assert_eq!(first_pixels(pick_tiles(tiles(3), 12)), [0, 1, 2]);
        assert!(pick_tiles(Vec::new(), 12).is_empty());
    }
}
