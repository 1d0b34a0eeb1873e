use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use fess::sync::MutexExt;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::ModelType;
use crate::analysis::{announce_camera, with_stage, Camera};
use fess_gst::roi_meta;
use fess_gst::video_frame::{VideoBuffer, FORMATS};
use fess_vision::detect::decoders::{DecodeParams, Decoder, ModelFamily};
use fess_vision::detect::labels::Labels;
use fess_vision::detect::stage::{
    DetectConfig, DetectStage, EngineDetector, FrameTime, Leaving, ModelError, Rules, StageError,
};
use fess_vision::objects::RoiObject;
use fess_vision::runtime::engine::{Engine, EngineError, Parallelism};
use fess_vision::stats::{DetectStats, SkipReason};

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

impl Settings {
    /// The rules that may change while playing, copied without allocating.
    fn rules(&self) -> Rules {
        Rules {
            params: DecodeParams {
                threshold: self.threshold as f32,
                iou_threshold: self.iou_threshold as f32,
                max_detections: self.max_detections as usize,
            },
            interval: self.inference_interval,
            motion_gate: self.motion_gate,
            detect_fps: self.detect_fps,
        }
    }

    fn own_camera_id(&self) -> Option<String> {
        self.camera_id.clone().filter(|c| !c.is_empty())
    }
}

struct State {
    /// The per-frame rules and the inference threads; out of the state while the streaming
    /// thread runs it (`with_stage`), so nothing waits for an inference.
    stage: Option<DetectStage<VideoBuffer>>,
    labels: Labels,
    info: Option<gst_video::VideoInfo>,
    /// Whether upstream is live (asked once per stream): a live stream does not wait for the
    /// shared engine beyond one other camera's inference, and no frame waits for the next one.
    live: Option<bool>,
    camera: Camera,
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
        let path = fess_vision::paths::detector_model(s.model.as_deref())
            .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["{}", e]))?;
        let model_name = path.display().to_string();
        let parallelism = Parallelism::resolve(s.nireq as usize, s.threads as usize);
        let (engine, loaded_model) =
            Engine::get(&path, parallelism, s.model_instance_id.as_deref()).map_err(|e| {
                let runtime = match &e {
                    EngineError::Model(m) => Some(m),
                    EngineError::InstanceMismatch { .. } => None,
                };
                crate::analysis::load_error(&e, runtime)
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
        *self.engine.locked() = Some(EngineUse {
            instance_id: engine.instance_id().to_string(),
            loaded_model,
        });
        let detector = EngineDetector {
            stream: engine.stream(),
            model_name,
            decoder,
            input_size: (input_spec.width, input_spec.height),
        };
        let config = DetectConfig {
            input_spec,
            keep,
            motion_sensitivity: s.motion_sensitivity,
            motion_min_area: s.motion_min_area,
            // As many as the engine runs at once: a file keeps every lane busy.
            requests: engine.parallelism().requests,
        };
        let obj = self.obj();
        let stage =
            DetectStage::new(&format!("{}:infer", obj.name()), detector, config).map_err(|e| {
                gst::error_msg!(
                    gst::CoreError::Failed,
                    ["cannot start the inference thread: {}", e]
                )
            })?;
        Ok(State {
            stage: Some(stage),
            labels,
            info: None,
            live: None,
            camera: Camera::new(obj.upcast_ref(), "fessdetect", s.own_camera_id(), *CAT),
        })
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
        match (now, *self.qos_earliest.locked()) {
            (Some(now), Some(earliest)) => now < earliest,
            _ => false,
        }
    }

    /// The stage's failure as the element's error.
    fn fail(&self, e: StageError<gst::ErrorMessage>) -> gst::FlowError {
        let msg = match e {
            StageError::Pixels(msg) => msg,
            StageError::WorkerStopped => {
                gst::error_msg!(gst::CoreError::Failed, ["{}", e])
            }
            StageError::Model(ModelError::Run(m)) => {
                gst::error_msg!(gst::StreamError::Failed, ["{}", m])
            }
            StageError::Model(ModelError::Decode(m)) => {
                gst::error_msg!(gst::StreamError::Decode, ["{}", m])
            }
        };
        self.post_error_message(msg);
        gst::FlowError::Error
    }

    /// Attaches a leaving frame's objects to its buffer and books it in the stats.
    fn deliver(&self, state: &mut State, leaving: Leaving<VideoBuffer>) -> gst::Buffer {
        let started = Instant::now();
        let VideoBuffer { mut buffer, info } = leaving.frame;
        let buf = buffer.make_mut();
        for (det, track_id) in &leaving.objects {
            roi_meta::attach(
                buf,
                info.width(),
                info.height(),
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
            leaving.objects.len(),
            leaving.skip
        );
        let mut stats = self.stats.locked();
        match (leaving.skip, leaving.inference_time) {
            (Some(reason), _) => stats.skip(reason),
            (None, Some(t)) => {
                stats.inferences += 1;
                stats.inference_latency.observe(t);
                for (d, _) in &leaving.objects {
                    stats.detected(&state.labels.name(d.class_id));
                }
            }
            (None, None) => {}
        }
        stats
            .frame_latency
            .observe(leaving.spent + started.elapsed());
        state.camera.report(false, |id| stats.metrics(id));
        buffer
    }

    /// Runs `f` on the stage without the state lock (see [`with_stage`]).
    fn with_stage<R>(&self, f: impl FnOnce(&mut DetectStage<VideoBuffer>) -> R) -> Option<R> {
        with_stage(&self.state, |s| &mut s.stage, f)
    }

    /// Sends every frame still held downstream, before a serialized event overtakes them.
    fn drain(&self) {
        let leaving = match self.with_stage(|stage| stage.drain()) {
            Some(Ok(leaving)) => leaving,
            Some(Err(e)) => {
                // An event's path: the error message is what counts, the flow return is the
                // next buffer's.
                let _ = self.fail(e);
                return;
            }
            None => return,
        };
        let held: Vec<gst::Buffer> = {
            let mut guard = self.state.locked();
            let Some(state) = guard.as_mut() else {
                return;
            };
            leaving
                .into_iter()
                .map(|l| self.deliver(state, l))
                .collect()
        };
        let src = self.obj().static_pad("src").unwrap();
        for buffer in held {
            if let Err(e) = src.push(buffer) {
                gst::debug!(CAT, imp = self, "held frame not pushed: {e:?}");
                break;
            }
        }
    }
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
                    .blurb("Name of this stream's camera, sent downstream to later fess elements (default: upstream's camera id, else the source URI without credentials or query, else the element name)")
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
        let mut s = self.settings.locked();
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
        let s = self.settings.locked();
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
                let st = self.stats.locked();
                let mut detections = gst::Structure::builder("detections");
                for (label, n) in &st.detections {
                    detections = detections.field(label.as_str(), *n);
                }
                let engine = self.engine.locked().clone();
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
        let settings = self.settings.locked().clone();
        let state = self.build_state(&settings)?;
        *self.stats.locked() = DetectStats::default();
        *self.qos_earliest.locked() = None;
        *self.state.locked() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Taken out first: dropping it joins threads, which must not happen under the lock.
        let state = self.state.locked().take();
        if let Some(mut state) = state {
            state
                .camera
                .report(true, |id| self.stats.locked().metrics(id));
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = crate::analysis::video_info(*CAT, incaps)?;
        let mut guard = self.state.locked();
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
            if let Some(stage) = state.stage.as_mut() {
                stage.picture_size_changed();
            }
        }
        state.info = Some(info);
        Ok(())
    }

    /// A downstream sink asks which camera this is before the stream flows: this element's own
    /// `camera-id` answers it (else the query goes on upstream).
    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let own = self.settings.locked().own_camera_id();
        fess_gst::camera::answer_query(direction, query, own.as_deref())
            || BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                self.with_stage(|stage| stage.flush());
                *self.qos_earliest.locked() = None;
            }
            // Held frames leave before anything that is ordered with them (EOS, caps, segment).
            _ if event.is_serialized() => self.drain(),
            _ => {}
        }
        if let Some(cam) = fess_gst::camera::parse(&event) {
            let own = self.settings.locked().own_camera_id().is_some();
            if let Some(state) = self.state.locked().as_mut() {
                if !state.camera.upstream_event(&cam, own) {
                    return true;
                }
            }
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Qos(qos) = event.view() {
            let (_, _, diff, timestamp) = qos.get();
            // diff > 0: the frame at `timestamp` arrived that late; frames before
            // timestamp + diff will be late too (basetransform's reading of the event).
            let jitter = gst::ClockTime::from_nseconds(diff.unsigned_abs());
            *self.qos_earliest.locked() = timestamp.map(|t| {
                if diff > 0 {
                    t + jitter
                } else {
                    t.saturating_sub(jitter)
                }
            });
        }
        self.parent_src_event(event)
    }

    /// Each frame goes to the stage ([`DetectStage::offer`]): skipped by the element's rules, or
    /// preprocessed and handed to the inference threads. A file's frame then waits in the
    /// element while the streaming thread decodes the next ones, so decoding overlaps inference
    /// without a `queue`; a live stream's frame leaves as soon as it is inferred.
    fn submit_input_buffer(
        &self,
        _is_discont: bool,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let rules = self.settings.locked().rules();
        let running_time = self.running_time(&buffer);
        let late = self.late(running_time);
        // The camera event and the latency query go to the peers without the state lock.
        let own = self.settings.locked().own_camera_id();
        announce_camera(
            self.obj().upcast_ref(),
            &self.state,
            |s| &mut s.camera,
            own,
            true,
        );
        let (info, live) = {
            let guard = self.state.locked();
            let state = guard.as_ref().ok_or(gst::FlowError::Flushing)?;
            (state.info.clone(), state.live)
        };
        let info = info.ok_or(gst::FlowError::NotNegotiated)?;
        let live = match live {
            Some(live) => live,
            None => {
                let live = self.upstream_is_live();
                if let Some(state) = self.state.locked().as_mut() {
                    state.live = Some(live);
                }
                live
            }
        };
        self.stats.locked().frames += 1;
        let time = FrameTime {
            running_time: running_time.map(|t| Duration::from_nanos(t.nseconds())),
            late,
            live,
        };
        self.with_stage(|stage| stage.offer(VideoBuffer { buffer, info }, time, &rules))
            .ok_or(gst::FlowError::Flushing)?
            .map_err(|e| self.fail(e))?;
        Ok(gst::FlowSuccess::Ok)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        use gst_base::subclass::base_transform::GenerateOutputSuccess;
        let mut guard = self.state.locked();
        let next = guard.as_mut().and_then(|state| {
            let leaving = state.stage.as_mut()?.next_out()?;
            Some(self.deliver(state, leaving))
        });
        Ok(next.map_or(
            GenerateOutputSuccess::NoOutput,
            GenerateOutputSuccess::Buffer,
        ))
    }
}
