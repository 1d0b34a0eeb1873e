use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::ModelType;
use crate::decoders::{DecodeParams, Decoder, ModelFamily};
use crate::engine::{Engine, EngineError, Parallelism, Stream};
use crate::geometry::Detection;
use crate::labels::Labels;
use crate::motion::MotionGate;
use crate::preprocess::{InputSpec, InputTransform, Preprocessor, TensorBuffer};
use crate::roi_meta::{self, RoiObject};
use crate::stats::{DetectStats, SkipReason};
use crate::tracker::IouTracker;
use crate::video_frame::{pixel_format, FORMATS};
use crate::worker::Worker;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fessdetect",
        gst::DebugColorFlags::empty(),
        Some("FESS object detector"),
    )
});

const DEFAULT_THRESHOLD: f64 = 0.4;
const DEFAULT_IOU_THRESHOLD: f64 = 0.5;
const DEFAULT_MAX_DETECTIONS: u32 = 100;
const DEFAULT_INFERENCE_INTERVAL: u32 = 1;
const DEFAULT_MOTION_GATE: bool = true;
const DEFAULT_MOTION_SENSITIVITY: f64 = 0.9;
const DEFAULT_MOTION_MIN_AREA: f64 = 0.002;
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_NIREQ: u32 = 0;
const DEFAULT_DETECT_FPS: f64 = 0.0;
/// Slack of the `detect-fps` budget, so frame timestamps' rounding never skips a due frame.
const BUDGET_SLACK: gst::ClockTime = gst::ClockTime::from_mseconds(1);
/// IoU needed to continue a track, and inference rounds a lost object keeps its id.
const TRACK_MIN_IOU: f32 = 0.2;
const TRACK_MAX_MISSES: u32 = 10;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    model_type: ModelType,
    labels: Option<String>,
    threshold: f64,
    iou_threshold: f64,
    max_detections: u32,
    object_class: String,
    inference_interval: u32,
    motion_gate: bool,
    motion_sensitivity: f64,
    motion_min_area: f64,
    camera_id: Option<String>,
    threads: u32,
    nireq: u32,
    model_instance_id: Option<String>,
    detect_fps: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            model_type: ModelType::Auto,
            labels: None,
            threshold: DEFAULT_THRESHOLD,
            iou_threshold: DEFAULT_IOU_THRESHOLD,
            max_detections: DEFAULT_MAX_DETECTIONS,
            object_class: String::new(),
            inference_interval: DEFAULT_INFERENCE_INTERVAL,
            motion_gate: DEFAULT_MOTION_GATE,
            motion_sensitivity: DEFAULT_MOTION_SENSITIVITY,
            motion_min_area: DEFAULT_MOTION_MIN_AREA,
            camera_id: None,
            threads: DEFAULT_THREADS,
            nireq: DEFAULT_NIREQ,
            model_instance_id: None,
            detect_fps: DEFAULT_DETECT_FPS,
        }
    }
}

struct State {
    /// Runs this element's inferences on the shared engine, beside the streaming thread: as
    /// many at once as the engine has lanes.
    worker: Worker<Job, JobResult>,
    requests: usize,
    /// Frames that have not left yet, in order: inferred by the worker, or skipped and waiting
    /// for the frames before them.
    held: VecDeque<Held>,
    /// Frames ready to leave, in order.
    outbox: VecDeque<gst::Buffer>,
    input_spec: InputSpec,
    labels: Labels,
    /// Per class id: keep detections of it (from `object-class`); `None` keeps all.
    keep: Option<Vec<bool>>,
    info: Option<gst_video::VideoInfo>,
    preprocessor: Option<Preprocessor>,
    gate: MotionGate,
    tracker: IouTracker,
    schedule: Schedule,
    /// Whether upstream is live (asked once per stream): a live stream does not wait for the
    /// shared engine beyond one other camera's inference, and no frame waits for the next one.
    live: Option<bool>,
    /// Objects of the last inference (or their tracked continuation), with track ids.
    objects: Vec<(Detection, u64)>,
    /// Camera id from upstream's sticky event.
    upstream_camera: Option<String>,
    camera_sent: bool,
    camera_id: String,
    reporter: fess::stats::StatsReporter,
}

/// One frame's inference, for the worker.
struct Job {
    tensor: TensorBuffer,
    shape: [i64; 4],
    params: DecodeParams,
    live: bool,
}

enum Outcome {
    /// Boxes in model-input pixels, and the model's own run time.
    Ran(Vec<Detection>, Duration),
    /// The shared engine served another camera first (live streams only).
    Busy,
    Failed(gst::ErrorMessage),
}

struct JobResult {
    /// The job's tensor, back for reuse.
    tensor: TensorBuffer,
    outcome: Outcome,
    /// The worker's time on the job, waiting for the engine's turn included.
    took: Duration,
}

/// What becomes of a frame.
enum Plan {
    Skip(SkipReason),
    Infer(Job, InputTransform),
}

/// A frame that has not left yet.
enum Held {
    Inferring(InFlight),
    Skipped {
        buffer: gst::Buffer,
        reason: SkipReason,
        spent: Duration,
    },
}

/// A frame whose inference runs on the worker.
struct InFlight {
    buffer: gst::Buffer,
    transform: InputTransform,
    frame_size: (usize, usize),
    /// The motion gate passed it: its thumbnail becomes the reference once inferred (live
    /// streams; a file's is accepted when it is handed to the worker).
    gated: bool,
    /// The schedule before this frame was planned for inference, restored when the engine
    /// was busy and it was not inferred after all.
    schedule_before: Schedule,
    /// Streaming-thread time spent on it so far.
    spent: Duration,
}

/// When inference last ran, for the element's rules (interval, `detect-fps`).
#[derive(Debug, Clone, Copy, Default)]
struct Schedule {
    frames_since_inference: u32,
    inferred_once: bool,
    /// Running time of the last inference.
    last_inference_at: Option<gst::ClockTime>,
}

/// Which shared engine this element uses, for its `stats` (readable while the model runs).
#[derive(Debug, Clone)]
struct EngineUse {
    instance_id: String,
    /// Whether this element loaded the model (false: it joined an engine already loaded).
    loaded_model: bool,
}

#[derive(Default)]
pub struct FessDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    stats: Mutex<DetectStats>,
    engine: Mutex<Option<EngineUse>>,
    /// From downstream's last QoS event: frames whose running time is before this are late.
    qos_earliest: Mutex<Option<gst::ClockTime>>,
}

impl FessDetect {
    fn build_state(&self, s: &Settings) -> Result<State, gst::ErrorMessage> {
        let path = crate::paths::detector_model(s.model.as_deref())
            .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["{}", e]))?;
        let model_name = path.display().to_string();
        let parallelism = Parallelism::resolve(s.nireq as usize, s.threads as usize);
        let (engine, loaded_model) =
            Engine::get(&path, parallelism, s.model_instance_id.as_deref()).map_err(|e| {
                let kind = match e {
                    EngineError::Model(crate::inference::InferenceError::MissingModel(_)) => {
                        gst::ResourceError::NotFound
                    }
                    EngineError::Model(_) => gst::ResourceError::OpenRead,
                    EngineError::InstanceMismatch { .. } => gst::ResourceError::Settings,
                };
                gst::error_msg!(kind, ["{}", e])
            })?;
        let family = match s.model_type {
            ModelType::Auto => None,
            ModelType::CenterNet => Some(ModelFamily::CenterNet),
            ModelType::Ssd => Some(ModelFamily::Ssd),
            ModelType::RtmDet => Some(ModelFamily::RtmDet),
            ModelType::Yolox => Some(ModelFamily::Yolox),
        };
        let settings_err = |m: String| gst::error_msg!(gst::ResourceError::Settings, ["{}", m]);
        let decoder = Decoder::for_signature(&model_name, engine.signature(), family)
            .map_err(|e| settings_err(e.to_string()))?;
        let input_spec = decoder
            .input_spec(&engine.signature().inputs[0])
            .map_err(|e| settings_err(format!("model {model_name}: {e}")))?;
        let labels = match s.labels.as_deref().filter(|l| !l.is_empty()) {
            Some(file) => {
                let p = PathBuf::from(file);
                let l = Labels::from_file(&p).map_err(|e| settings_err(e.to_string()))?;
                if let Some(n) = decoder.num_classes() {
                    l.check_count(&p, n)
                        .map_err(|e| settings_err(e.to_string()))?;
                }
                l
            }
            None => Labels::default(),
        };
        let keep = parse_object_classes(&s.object_class, &labels).map_err(settings_err)?;
        gst::info!(
            CAT,
            imp = self,
            "{} {} (engine '{}', {}) as {:?} ({}x{} input), {} labels",
            if loaded_model { "loaded" } else { "sharing" },
            model_name,
            engine.instance_id(),
            engine.parallelism(),
            decoder,
            input_spec.width,
            input_spec.height,
            labels.len()
        );
        *self.engine.lock().unwrap() = Some(EngineUse {
            instance_id: engine.instance_id().to_string(),
            loaded_model,
        });
        let stream = engine.stream();
        let input_size = (input_spec.width, input_spec.height);
        // As many as the engine runs at once: a file keeps every lane busy.
        let requests = engine.parallelism().requests;
        let worker = Worker::spawn(
            &format!("{}:infer", self.obj().name()),
            requests,
            move |job: Job| infer(&stream, &model_name, &decoder, input_size, job),
        )
        .map_err(|e| {
            gst::error_msg!(
                gst::CoreError::Failed,
                ["cannot start the inference thread: {}", e]
            )
        })?;
        Ok(State {
            worker,
            requests,
            held: VecDeque::new(),
            outbox: VecDeque::new(),
            input_spec,
            labels,
            keep,
            info: None,
            preprocessor: None,
            gate: MotionGate::new(s.motion_sensitivity, s.motion_min_area),
            tracker: IouTracker::new(TRACK_MIN_IOU, TRACK_MAX_MISSES),
            schedule: Schedule::default(),
            live: None,
            objects: Vec::new(),
            upstream_camera: None,
            camera_sent: false,
            camera_id: self.obj().name().to_string(),
            reporter: fess::stats::StatsReporter::new(
                "fessdetect",
                &self.obj().name(),
                &self.obj().name(),
            ),
        })
    }

    /// Sends `camera_id` downstream once per stream, before the first buffer.
    fn ensure_camera_event(&self, state: &mut State) {
        if state.camera_sent {
            return;
        }
        let id = crate::camera::resolve(
            self.settings.lock().unwrap().camera_id.clone(),
            state.upstream_camera.as_deref(),
            self.obj().upcast_ref(),
        );
        gst::debug!(CAT, imp = self, "camera id {}", id);
        state.camera_sent = true;
        state.reporter.set_camera_id(&id);
        state.camera_id = id.clone();
        self.obj()
            .static_pad("src")
            .unwrap()
            .push_event(crate::camera::event(&id, true));
    }

    /// The running time of `buf`'s start, when it has a timestamp in a time segment.
    fn running_time(&self, buf: &gst::BufferRef) -> Option<gst::ClockTime> {
        let segment = self.obj().segment();
        segment
            .downcast_ref::<gst::ClockTime>()?
            .to_running_time(buf.pts()?)
    }

    fn upstream_is_live(&self) -> bool {
        let mut query = gst::query::Latency::new();
        let live = self
            .obj()
            .static_pad("sink")
            .unwrap()
            .peer_query(&mut query)
            && query.result().0;
        gst::debug!(CAT, imp = self, "upstream is live: {live}");
        live
    }

    /// Whether downstream's QoS says a frame of running time `now` is already late.
    fn late(&self, now: Option<gst::ClockTime>) -> bool {
        match (now, *self.qos_earliest.lock().unwrap()) {
            (Some(now), Some(earliest)) => now < earliest,
            _ => false,
        }
    }

    /// Lets held frames leave in order until `inferring` or fewer of them are being inferred,
    /// waiting for the worker's results where needed.
    fn release_held(&self, state: &mut State, inferring: usize) -> Result<(), gst::FlowError> {
        loop {
            // The head waits while no more than `inferring` inferences are in flight.
            if matches!(state.held.front(), Some(Held::Inferring(_)))
                && state.worker.in_flight() <= inferring
            {
                break;
            }
            match state.held.pop_front() {
                None => break,
                Some(Held::Skipped {
                    buffer,
                    reason,
                    spent,
                }) => self.leave(state, buffer, Some(reason), None, spent),
                Some(Held::Inferring(frame)) => self.finish(state, frame)?,
            }
        }
        Ok(())
    }

    /// Takes the worker's result for `frame` (waiting for it), updates the tracker and queues
    /// the frame to leave with its objects.
    fn finish(&self, state: &mut State, frame: InFlight) -> Result<(), gst::FlowError> {
        let Some(result) = state.worker.wait() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ["the inference thread stopped unexpectedly"]
            );
            return Err(gst::FlowError::Error);
        };
        let started = Instant::now();
        if let Some(pre) = state.preprocessor.as_mut() {
            if pre.fits(frame.frame_size.0, frame.frame_size.1) {
                pre.recycle(result.tensor);
            }
        }
        let (skip, inference_time) = match result.outcome {
            Outcome::Ran(decoded, elapsed) => {
                let dets: Vec<Detection> = decoded
                    .into_iter()
                    .filter(|d| {
                        state
                            .keep
                            .as_ref()
                            .is_none_or(|k| k.get(d.class_id).copied().unwrap_or(false))
                    })
                    .map(|d| Detection {
                        bbox: frame.transform.to_frame(&d.bbox),
                        ..d
                    })
                    .filter(|d| d.bbox.is_valid())
                    .collect();
                let ids = state.tracker.update(&dets);
                {
                    let mut stats = self.stats.lock().unwrap();
                    for d in &dets {
                        stats.detected(&state.labels.name(d.class_id));
                    }
                }
                state.objects = dets.into_iter().zip(ids).collect();
                if frame.gated {
                    state.gate.accept();
                }
                (None, Some(elapsed))
            }
            Outcome::Busy => {
                state.schedule = frame.schedule_before;
                state.schedule.frames_since_inference += 1;
                (Some(SkipReason::Busy), None)
            }
            Outcome::Failed(msg) => {
                self.post_error_message(msg);
                return Err(gst::FlowError::Error);
            }
        };
        let spent = frame.spent + result.took + started.elapsed();
        self.leave(state, frame.buffer, skip, inference_time, spent);
        Ok(())
    }

    /// Books a frame's outcome (tracker carry-over, stats), attaches the current objects to it
    /// and queues it to leave.
    fn leave(
        &self,
        state: &mut State,
        mut buffer: gst::Buffer,
        skip: Option<SkipReason>,
        inference_time: Option<Duration>,
        spent: Duration,
    ) {
        let started = Instant::now();
        // Objects move on between runs; a still scene needs no prediction.
        if skip.is_some_and(|reason| reason != SkipReason::NoMotion) {
            state.tracker.predict();
            state.objects = state
                .tracker
                .visible()
                .map(|t| {
                    (
                        Detection {
                            bbox: t.bbox.clamp(1.0, 1.0),
                            class_id: t.class_id,
                            score: t.score,
                        },
                        t.id,
                    )
                })
                .collect();
        }
        let (width, height) = state
            .info
            .as_ref()
            .map_or((0, 0), |i| (i.width(), i.height()));
        let buf = buffer.make_mut();
        for (det, track_id) in &state.objects {
            roi_meta::attach(
                buf,
                width,
                height,
                &RoiObject::tracked(
                    &state.labels.name(det.class_id),
                    det.class_id as i32,
                    det.score as f64,
                    det.bbox,
                    *track_id,
                ),
            );
        }
        gst::trace!(
            CAT,
            imp = self,
            "{} objects, skip {:?}",
            state.objects.len(),
            skip
        );
        state.outbox.push_back(buffer);
        let mut stats = self.stats.lock().unwrap();
        match (skip, inference_time) {
            (Some(reason), _) => stats.skip(reason),
            (None, Some(t)) => {
                stats.inferences += 1;
                stats.inference_latency.observe(t);
            }
            (None, None) => {}
        }
        stats.frame_latency.observe(spent + started.elapsed());
        if state.reporter.due() {
            // A non-blocking send of a few hundred bytes, once a second.
            let metrics = stats.metrics(&state.camera_id);
            drop(stats);
            state.reporter.send(metrics);
        }
    }

    /// Sends every frame still held downstream, before a serialized event overtakes them.
    fn drain(&self) {
        let held: Vec<gst::Buffer> = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return;
            };
            if self.release_held(state, 0).is_err() {
                state.outbox.clear();
            }
            state.outbox.drain(..).collect()
        };
        let src = self.obj().static_pad("src").unwrap();
        for buffer in held {
            if let Err(e) = src.push(buffer) {
                gst::debug!(CAT, imp = self, "held frame not pushed: {e:?}");
                break;
            }
        }
    }

    /// Forgets held frames (flushing), waiting for the worker's jobs so they are not reported
    /// late.
    fn discard_held(&self) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            while state.worker.in_flight() > 0 {
                let _ = state.worker.wait();
            }
            state.held.clear();
            state.outbox.clear();
        }
    }
}

/// The worker's job: the model on one tensor in this stream's turn, decoded to boxes.
fn infer(
    stream: &Stream,
    model_name: &str,
    decoder: &Decoder,
    input_size: (usize, usize),
    job: Job,
) -> JobResult {
    let started = Instant::now();
    // The model alone: the outputs are ready when the closure runs, before decoding.
    let mut elapsed = Duration::ZERO;
    let ran = stream.run(job.live, |model| {
        // Timed from the start of the turn: the wait for it is not the model's time.
        let t0 = Instant::now();
        model.run(&job.tensor, &job.shape, |outs, names| {
            elapsed = t0.elapsed();
            decoder.decode(model_name, outs, names, input_size, &job.params)
        })
    });
    let outcome = match ran {
        None => Outcome::Busy,
        Some(Err(e)) => Outcome::Failed(gst::error_msg!(gst::StreamError::Failed, ["{}", e])),
        Some(Ok(Err(e))) => Outcome::Failed(gst::error_msg!(gst::StreamError::Decode, ["{}", e])),
        Some(Ok(Ok(dets))) => Outcome::Ran(dets, elapsed),
    };
    JobResult {
        tensor: job.tensor,
        outcome,
        took: started.elapsed(),
    }
}

/// Whether the element's own rules skip this frame: never the first; then only every
/// `interval`th frame is due, and at most `detect_fps` a second of running time (0: no budget;
/// without timestamps, or when time went back, the budget does not apply).
fn schedule(
    state: &Schedule,
    interval: u32,
    detect_fps: f64,
    now: Option<gst::ClockTime>,
) -> Option<SkipReason> {
    if !state.inferred_once {
        return None;
    }
    if state.frames_since_inference + 1 < interval {
        return Some(SkipReason::Interval);
    }
    if let (true, Some(now), Some(last)) = (detect_fps > 0.0, now, state.last_inference_at) {
        let gap = gst::ClockTime::from_nseconds((1e9 / detect_fps) as u64);
        if now >= last && now + BUDGET_SLACK < last + gap {
            return Some(SkipReason::Budget);
        }
    }
    None
}

/// `object-class` ("person,car") as a per-class-id filter over `labels`.
fn parse_object_classes(spec: &str, labels: &Labels) -> Result<Option<Vec<bool>>, String> {
    let names: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mut keep = vec![false; labels.len()];
    for n in names {
        match labels.id_of(n) {
            Some(i) => keep[i] = true,
            None => {
                return Err(format!(
                    "object-class '{n}' is not a label of this model (labels: {})",
                    (0..labels.len().min(12))
                        .map(|i| labels.name(i).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                        + if labels.len() > 12 { ", …" } else { "" }
                ))
            }
        }
    }
    Ok(Some(keep))
}

#[glib::object_subclass]
impl ObjectSubclass for FessDetect {
    const NAME: &'static str = "GstFessDetect";
    type Type = super::FessDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FessDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("The ONNX detection model: a bundled model by name (yolox-nano, centernet, ssdlite-person; from the FESS model cache, $FESS_MODELS or $FESS_CACHE/models or ~/.cache/fess/models) or a path; unset: yolox-nano")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("model-type", ModelType::Auto)
                    .nick("Model type")
                    .blurb("Decoder for the model's outputs; auto picks it from the model's signature")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("labels")
                    .nick("Labels")
                    .blurb("File with one class label per line, in the model's class order (default: the 80 COCO classes)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Score threshold")
                    .blurb("Minimum confidence (0-1) of a detection to keep")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("iou-threshold")
                    .nick("NMS IoU threshold")
                    .blurb("Overlap (intersection over union, 0-1) above which the weaker of two same-class boxes is dropped")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_IOU_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-detections")
                    .nick("Maximum detections")
                    .blurb("Most objects kept per frame, best first")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MAX_DETECTIONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("object-class")
                    .nick("Object classes")
                    .blurb("Comma-separated labels to keep, e.g. \"person,car\" (empty: keep every class)")
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("inference-interval")
                    .nick("Inference interval")
                    .blurb("Run the model on every Nth frame; frames in between reuse the tracked boxes")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(DEFAULT_INFERENCE_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("motion-gate")
                    .nick("Motion gate")
                    .blurb("Skip inference while nothing moves (frame difference on a small grey thumbnail)")
                    .default_value(DEFAULT_MOTION_GATE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("motion-sensitivity")
                    .nick("Motion sensitivity")
                    .blurb("How small a brightness change counts as motion: 1 = any change, 0.9 = more than 10% of full scale")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MOTION_SENSITIVITY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("motion-min-area")
                    .nick("Motion minimum area")
                    .blurb("Share of the picture (0-1) that must change for a frame to count as moving")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MOTION_MIN_AREA)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Name of this stream's camera, sent downstream to later fess elements (default: upstream's camera id, else the source URI, else the element name)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("nireq")
                    .nick("Inference requests")
                    .blurb("Inferences the shared engine runs at once, each on its own ONNX Runtime session; a file keeps them all busy, live cameras share them (0: one per core)")
                    .minimum(0)
                    .maximum(64)
                    .default_value(DEFAULT_NIREQ)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads of each inference request (0: the cores shared out among the requests)")
                    .minimum(0)
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("detect-fps")
                    .nick("Detections per second")
                    .blurb("At most this many inferences per second of running time (0: every frame); frames in between carry the tracked boxes")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(DEFAULT_DETECT_FPS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("model-instance-id")
                    .nick("Model instance id")
                    .blurb("Elements with the same id share one inference engine (one session, one copy of the weights, one thread pool); different ids keep separate ones. Unset: elements with the same model file, nireq and threads share")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Cumulative counters: frames, inferences, skipped frames by reason, detections by class, latency histograms; the engine's instance id and whether this element loaded its model")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model = value.get().unwrap(),
            "model-type" => s.model_type = value.get().unwrap(),
            "labels" => s.labels = value.get().unwrap(),
            "threshold" => s.threshold = value.get().unwrap(),
            "iou-threshold" => s.iou_threshold = value.get().unwrap(),
            "max-detections" => s.max_detections = value.get().unwrap(),
            "object-class" => {
                s.object_class = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "inference-interval" => s.inference_interval = value.get().unwrap(),
            "motion-gate" => s.motion_gate = value.get().unwrap(),
            "motion-sensitivity" => s.motion_sensitivity = value.get().unwrap(),
            "motion-min-area" => s.motion_min_area = value.get().unwrap(),
            "camera-id" => s.camera_id = value.get().unwrap(),
            "threads" => s.threads = value.get().unwrap(),
            "nireq" => s.nireq = value.get().unwrap(),
            "model-instance-id" => s.model_instance_id = value.get().unwrap(),
            "detect-fps" => s.detect_fps = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "model-type" => s.model_type.to_value(),
            "labels" => s.labels.to_value(),
            "threshold" => s.threshold.to_value(),
            "iou-threshold" => s.iou_threshold.to_value(),
            "max-detections" => s.max_detections.to_value(),
            "object-class" => s.object_class.to_value(),
            "inference-interval" => s.inference_interval.to_value(),
            "motion-gate" => s.motion_gate.to_value(),
            "motion-sensitivity" => s.motion_sensitivity.to_value(),
            "motion-min-area" => s.motion_min_area.to_value(),
            "camera-id" => s.camera_id.to_value(),
            "threads" => s.threads.to_value(),
            "nireq" => s.nireq.to_value(),
            "model-instance-id" => s.model_instance_id.to_value(),
            "detect-fps" => s.detect_fps.to_value(),
            "stats" => {
                let st = self.stats.lock().unwrap();
                let mut detections = gst::Structure::builder("detections");
                for (label, n) in &st.detections {
                    detections = detections.field(label.as_str(), *n);
                }
                let engine = self.engine.lock().unwrap().clone();
                let mut b = gst::Structure::builder("fessdetect-stats")
                    .field("frames", st.frames)
                    .field("inferences", st.inferences)
                    .field(
                        "model-instance-id",
                        engine.as_ref().map(|e| e.instance_id.clone()),
                    )
                    .field("model-loaded", engine.is_some_and(|e| e.loaded_model));
                for reason in [
                    SkipReason::NoMotion,
                    SkipReason::Interval,
                    SkipReason::Busy,
                    SkipReason::Budget,
                    SkipReason::Late,
                ] {
                    b = b.field(
                        format!("skipped-{}", reason.as_str()),
                        st.skipped.get(&reason).copied().unwrap_or(0),
                    );
                }
                b.field("detections", detections.build())
                    .field(
                        "inference-latency",
                        crate::stats_structure::histogram(
                            "inference-latency",
                            &st.inference_latency,
                        ),
                    )
                    .field(
                        "frame-latency",
                        crate::stats_structure::histogram("frame-latency", &st.frame_latency),
                    )
                    .build()
                    .to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FessDetect {}

impl ElementImpl for FessDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "FESS object detector",
                "Filter/Analyzer/Video",
                "Detects and tracks objects with an ONNX model (YOLOX, CenterNet, SSD, RTMDet), skipping \
                 still frames, and attaches one GstVideoRegionOfInterestMeta per object. Example: \
                 gst-launch-1.0 filesrc location=cam.mp4 ! decodebin ! videoconvert ! \
                 fessdetect camera-id=gate-1 ! fessoverlay ! videoconvert ! autovideosink",
                "FESS developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(FORMATS)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FessDetect {
    // Pixels pass untouched; the buffer must be writable only to carry the new metas.
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let state = self.build_state(&settings)?;
        *self.stats.lock().unwrap() = DetectStats::default();
        *self.qos_earliest.lock().unwrap() = None;
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = self.state.lock().unwrap().take() {
            // The final totals, so the exporter sees the stream's end.
            let metrics = self.stats.lock().unwrap().metrics(&state.camera_id);
            state.reporter.send(metrics);
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse video caps {incaps}"))?;
        if pixel_format(info.format()).is_none() {
            return Err(gst::loggable_error!(
                CAT,
                "unsupported format {:?}",
                info.format()
            ));
        }
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        gst::debug!(
            CAT,
            imp = self,
            "caps {}x{} {:?}",
            info.width(),
            info.height(),
            info.format()
        );
        if state
            .info
            .as_ref()
            .is_some_and(|old| (old.width(), old.height()) != (info.width(), info.height()))
        {
            // New picture size: the motion reference is meaningless; boxes are normalised and stay.
            state.gate.reset();
        }
        state.info = Some(info);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => self.discard_held(),
            // Held frames leave before anything that is ordered with them (EOS, caps, segment).
            _ if event.is_serialized() => self.drain(),
            _ => {}
        }
        if let Some(id) = crate::camera::parse(&event).map(|c| c.camera_id) {
            let own = self
                .settings
                .lock()
                .unwrap()
                .camera_id
                .clone()
                .filter(|c| !c.is_empty());
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.upstream_camera = Some(id);
                // Our own camera-id overrides upstream's; we send ours before the next buffer.
                if own.is_some() {
                    return true;
                }
                state.camera_sent = true;
            }
        }
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.gate.reset();
                state.schedule.last_inference_at = None;
            }
            *self.qos_earliest.lock().unwrap() = None;
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Qos(qos) = event.view() {
            let (_, _, diff, timestamp) = qos.get();
            // diff > 0: the frame at `timestamp` arrived that late; frames before
            // timestamp + diff will be late too (basetransform's reading of the event).
            let jitter = gst::ClockTime::from_nseconds(diff.unsigned_abs());
            *self.qos_earliest.lock().unwrap() = timestamp.map(|t| {
                if diff > 0 {
                    t + jitter
                } else {
                    t.saturating_sub(jitter)
                }
            });
        }
        self.parent_src_event(event)
    }

    /// Each frame is planned here: skipped by the element's rules, or preprocessed and handed
    /// to the worker. A file's frame then waits in the element while the streaming thread
    /// decodes the next ones (decoding overlaps inference, and as many frames are inferred at
    /// once as the engine has lanes); frames leave in order when every lane is busy and another
    /// one arrives. A live stream's frame leaves as soon as it is inferred, adding no latency.
    fn submit_input_buffer(
        &self,
        _is_discont: bool,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Only the settings that may change while playing, copied without allocating.
        let (params, interval, motion_gate, detect_fps) = {
            let s = self.settings.lock().unwrap();
            (
                DecodeParams {
                    threshold: s.threshold as f32,
                    iou_threshold: s.iou_threshold as f32,
                    max_detections: s.max_detections as usize,
                },
                s.inference_interval,
                s.motion_gate,
                s.detect_fps,
            )
        };
        let running_time = self.running_time(&buffer);
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        self.ensure_camera_event(state);
        // Frames leave in order (the tracker sees them so). One frame more than the engine runs
        // at once waits at the workers, so a lane that finishes starts the next frame at once
        // instead of idling while this thread preprocesses.
        self.release_held(state, state.requests)?;
        let started = Instant::now();
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let (width, height) = (info.width() as usize, info.height() as usize);
        let live = *state.live.get_or_insert_with(|| self.upstream_is_live());
        if !state
            .preprocessor
            .as_ref()
            .is_some_and(|p| p.fits(width, height))
        {
            let mut pre = Preprocessor::new(state.input_spec.clone(), width, height);
            // A file's frames are preprocessed while the previous one is inferred.
            pre.set_parallel(live);
            state.preprocessor = Some(pre);
        }
        self.stats.lock().unwrap().frames += 1;

        let skip = schedule(&state.schedule, interval, detect_fps, running_time)
            .or_else(|| self.late(running_time).then_some(SkipReason::Late));
        let plan = match skip {
            Some(reason) => Plan::Skip(reason),
            None => {
                let frame =
                    gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info)
                        .map_err(|_| {
                            self.post_error_message(crate::video_frame::unmappable());
                            gst::FlowError::Error
                        })?;
                let view = crate::video_frame::view(&frame).ok_or(gst::FlowError::NotNegotiated)?;
                match state.preprocessor.as_mut() {
                    _ if motion_gate && !state.gate.moved(&view) => {
                        Plan::Skip(SkipReason::NoMotion)
                    }
                    Some(pre) => {
                        pre.run(&view);
                        let job = Job {
                            tensor: pre.take_tensor(),
                            shape: pre.tensor_shape(),
                            params,
                            live,
                        };
                        Plan::Infer(job, pre.transform())
                    }
                    None => return Err(gst::FlowError::NotNegotiated),
                }
            }
        };
        let (job, transform) = match plan {
            Plan::Infer(job, transform) => (job, transform),
            Plan::Skip(reason) => {
                state.schedule.frames_since_inference += 1;
                state.held.push_back(Held::Skipped {
                    buffer,
                    reason,
                    spent: started.elapsed(),
                });
                // Leaves now unless frames before it are still being inferred.
                self.release_held(state, usize::MAX)?;
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        if state.worker.submit(job).is_err() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ["the inference thread stopped unexpectedly"]
            );
            return Err(gst::FlowError::Error);
        }
        // A file's frame is always inferred (it waits for its turn); a live one may find the
        // engine busy, so its thumbnail becomes the reference only when it ran.
        if motion_gate && !live {
            state.gate.accept();
        }
        let schedule_before = std::mem::replace(
            &mut state.schedule,
            Schedule {
                frames_since_inference: 0,
                inferred_once: true,
                last_inference_at: running_time,
            },
        );
        state.held.push_back(Held::Inferring(InFlight {
            buffer,
            transform,
            frame_size: (width, height),
            gated: motion_gate && live,
            schedule_before,
            spent: started.elapsed(),
        }));
        if live {
            self.release_held(state, 0)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        use gst_base::subclass::base_transform::GenerateOutputSuccess;
        let next = self
            .state
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|s| s.outbox.pop_front());
        Ok(next.map_or(
            GenerateOutputSuccess::NoOutput,
            GenerateOutputSuccess::Buffer,
        ))
    }
}
