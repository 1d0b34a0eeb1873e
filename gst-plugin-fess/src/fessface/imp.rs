use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use fess::gallery::redis_link::{LinkConfig, LinkEvent, RedisLink};
use fess::gallery::redis_settings::RedisSettings;
use fess::sync::MutexExt;

use super::FaceMode;
use crate::analysis::{announce_camera, with_stage, Camera};
use fess_gst::roi_meta;
use fess_gst::video_frame::FORMATS;
use fess_vision::face::engine::{FaceEngine, FaceError};
use fess_vision::face::stage::{FaceRules, FaceStage, FrameFaces, PersonBox};
use fess_vision::geometry::BBox;
use fess_vision::objects::{FaceInfo, RoiObject};
use fess_vision::stats::FaceStats;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fessface",
        gst::DebugColorFlags::empty(),
        Some("FESS face recognition"),
    )
});

const DEFAULT_DETECTION_SIZE: u32 = 320;
const DEFAULT_FACE_THRESHOLD: f64 = 0.7;
const DEFAULT_MIN_FACE_SIZE: u32 = 20;
const DEFAULT_MAX_FACES: u32 = 16;
const DEFAULT_MATCH_THRESHOLD: f64 = 0.5;
const DEFAULT_RECHECK_INTERVAL: u32 = 30;
const DEFAULT_DETECTION_INTERVAL: u32 = 1;
const DEFAULT_CACHE_TTL: u32 = 30;
const DEFAULT_REDIS_TIMEOUT_MS: u32 = 20;
const DEFAULT_THREADS: u32 = 0;
/// The link thread's own bound on connecting and on each reply, and its gallery poll.
const LINK_TIMEOUT: Duration = Duration::from_millis(500);
const GALLERY_POLL: Duration = Duration::from_secs(1);
/// With `gallery-required`, how long the gallery may stay unreadable while running (the link
/// retries every second meanwhile) before the element stops the stream: a Redis restart
/// passes, an outage or a revoked permission does not (README, "fessface").
const GALLERY_REQUIRED_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Settings {
    detector_model: Option<String>,
    embedder_model: Option<String>,
    mode: FaceMode,
    detection_size: u32,
    face_threshold: f64,
    min_face_size: u32,
    max_faces: u32,
    detection_interval: u32,
    match_threshold: f64,
    recheck_interval: u32,
    cache_ttl: u32,
    redis_url: Option<String>,
    redis_tls_ca_file: Option<String>,
    redis_tls_cert_file: Option<String>,
    redis_tls_key_file: Option<String>,
    redis_password_file: Option<String>,
    redis_timeout_ms: u32,
    gallery_key: String,
    camera_id: Option<String>,
    threads: u32,
    post_messages: bool,
    gallery_required: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            detector_model: None,
            embedder_model: None,
            mode: FaceMode::Persons,
            detection_size: DEFAULT_DETECTION_SIZE,
            face_threshold: DEFAULT_FACE_THRESHOLD,
            min_face_size: DEFAULT_MIN_FACE_SIZE,
            max_faces: DEFAULT_MAX_FACES,
            detection_interval: DEFAULT_DETECTION_INTERVAL,
            match_threshold: DEFAULT_MATCH_THRESHOLD,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            cache_ttl: DEFAULT_CACHE_TTL,
            redis_url: None,
            redis_tls_ca_file: None,
            redis_tls_cert_file: None,
            redis_tls_key_file: None,
            redis_password_file: None,
            redis_timeout_ms: DEFAULT_REDIS_TIMEOUT_MS,
            gallery_key: fess::gallery::DEFAULT_GALLERY_KEY.to_string(),
            camera_id: None,
            threads: DEFAULT_THREADS,
            post_messages: true,
            gallery_required: false,
        }
    }
}

impl Settings {
    /// The stage's rules for one frame (faces are searched in person boxes only when a
    /// detector upstream provides them, which the caller knows).
    fn rules(&self) -> FaceRules {
        FaceRules {
            in_persons: self.mode == FaceMode::Persons,
            detection_size: self.detection_size as usize,
            face_threshold: self.face_threshold as f32,
            min_face_size: self.min_face_size as f32,
            max_faces: self.max_faces as usize,
            detection_interval: self.detection_interval,
            match_threshold: self.match_threshold as f32,
            recheck_interval: self.recheck_interval as u64,
            cache_ttl: Duration::from_secs(self.cache_ttl as u64),
            redis_timeout: Duration::from_millis(self.redis_timeout_ms as u64),
        }
    }

    fn own_camera_id(&self) -> Option<String> {
        self.camera_id.clone().filter(|c| !c.is_empty())
    }
}

struct State {
    /// The per-frame rules, the face models and the Redis link; out of the state while the
    /// streaming thread runs it (`with_stage`): nothing waits for the models or Redis.
    stage: Option<FaceStage<FaceEngine, RedisLink>>,
    info: Option<gst_video::VideoInfo>,
    /// An upstream fessdetect announced itself: its person ROIs are where faces are.
    detector_upstream: bool,
    camera: Camera,
}

/// Which shared engines the two models run on, for `stats` (readable while they run).
#[derive(Debug, Clone)]
struct EnginesUsed {
    /// Detector, embedder.
    instance_ids: [String; 2],
    /// How many of the two models this element loaded.
    loaded: u32,
}

#[derive(Default)]
pub struct FessFace {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    stats: Mutex<FaceStats>,
    engines: Mutex<Option<EnginesUsed>>,
}

impl FessFace {
    fn build_state(&self, s: &Settings) -> Result<State, gst::ErrorMessage> {
        let detector = fess_vision::paths::model_file(
            s.detector_model.as_deref(),
            fess_vision::paths::FACE_DETECTOR_FILE,
        );
        let embedder = fess_vision::paths::model_file(
            s.embedder_model.as_deref(),
            fess_vision::paths::FACE_EMBEDDER_FILE,
        );
        let engine = FaceEngine::load(&detector, &embedder, s.threads as usize).map_err(|e| {
            let runtime = match &e {
                FaceError::Inference(m) => Some(m),
                FaceError::Model(_) | FaceError::Decode(_) => None,
            };
            crate::analysis::load_error(&e, runtime)
        })?;
        let redis = RedisSettings::from_env().overridden(
            s.redis_url.as_deref(),
            s.redis_tls_ca_file.as_deref(),
            s.redis_tls_cert_file.as_deref(),
            s.redis_tls_key_file.as_deref(),
            s.redis_password_file.as_deref(),
        );
        // Files that cannot be read, or settings that contradict each other, fail the start.
        redis
            .client()
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        for w in redis.warnings() {
            gst::element_imp_warning!(self, gst::ResourceError::Settings, ["{}", w]);
        }
        let shown = redis.shown_url();
        let weak = self.obj().downgrade();
        let link = RedisLink::start(
            LinkConfig {
                redis,
                gallery_key: s.gallery_key.clone(),
                cache_key: fess::gallery::DEFAULT_CACHE_KEY.to_string(),
                timeout: LINK_TIMEOUT,
                poll: GALLERY_POLL,
                dim: Some(engine.dim()),
            },
            Box::new(move |event| {
                if let Some(obj) = weak.upgrade() {
                    obj.imp().link_event(event, &shown);
                }
            }),
        );
        if let Some(u) = link.unreadable().filter(|_| s.gallery_required) {
            return Err(gst::error_msg!(
                gst::ResourceError::OpenRead,
                [
                    "the face gallery cannot be read and gallery-required is set, so no video \
                     passes: {}",
                    u.reason
                ]
            ));
        }
        gst::info!(
            CAT,
            imp = self,
            "{} {} and {} (engines '{}', '{}'; {} of them loaded here, the others shared) \
             ({}-d embeddings); gallery of {} persons",
            if engine.loaded() > 0 {
                "loaded"
            } else {
                "sharing"
            },
            detector.display(),
            embedder.display(),
            engine.instance_ids()[0],
            engine.instance_ids()[1],
            engine.loaded(),
            engine.dim(),
            link.gallery().persons.len()
        );
        *self.engines.locked() = Some(EnginesUsed {
            instance_ids: engine.instance_ids().map(str::to_string),
            loaded: engine.loaded(),
        });
        Ok(State {
            stage: Some(FaceStage::new(engine, link)),
            info: None,
            detector_upstream: false,
            camera: Camera::new(self.obj().upcast_ref(), "fessface", s.own_camera_id(), *CAT),
        })
    }

    /// Called on the Redis link's thread (or in `start`): posts what changed on the bus.
    fn link_event(&self, event: LinkEvent, url: &str) {
        match event {
            LinkEvent::Unreadable(reason) => {
                // The reason carries the redacted URL and the kind of failure.
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Read,
                    [
                        "the face gallery cannot be read: {}; recognition goes on with the \
                         last gallery snapshot (empty at start: every face is unknown), cache \
                         lookups count as misses",
                        reason
                    ]
                );
            }
            LinkEvent::Readable => {
                gst::info!(CAT, imp = self, "the face gallery at {} is read again", url)
            }
            LinkEvent::GalleryLoaded { version, persons } => {
                gst::info!(
                    CAT,
                    imp = self,
                    "gallery version {} loaded: {} persons",
                    version,
                    persons
                );
            }
            LinkEvent::Warning(w) => {
                gst::element_imp_warning!(self, gst::ResourceError::Read, ["{}", w]);
            }
        }
    }

    /// Attaches one face ROI per face and returns the recognition messages to post.
    fn attach(
        &self,
        buf: &mut gst::BufferRef,
        found: &FrameFaces,
        camera_id: &str,
        (width, height): (u32, u32),
        post_messages: bool,
    ) -> Vec<gst::Structure> {
        let (w, h) = (width as f32, height as f32);
        let pts = buf.pts();
        for f in &found.faces {
            let Some(identity) = &f.identity else {
                continue;
            };
            let b = &f.face.bbox;
            roi_meta::attach(
                buf,
                width,
                height,
                &RoiObject {
                    id: 0,
                    parent_id: f.parent_id,
                    label: "face".into(),
                    label_id: 0,
                    confidence: f.face.score as f64,
                    bbox: BBox::new(b.x1 / w, b.y1 / h, b.x2 / w, b.y2 / h),
                    track_id: Some(f.track_id),
                    face: Some(FaceInfo {
                        face_id: format!("face_{}", f.track_id),
                        person_name: identity.name.clone(),
                        confidence: identity.similarity as f64,
                        is_authorized: identity.authorized,
                        known: identity.person_id.is_some(),
                    }),
                },
            );
        }
        if !post_messages {
            return Vec::new();
        }
        found
            .recognised
            .iter()
            .filter_map(|&i| {
                let f = &found.faces[i];
                let identity = f.identity.as_ref()?;
                Some(recognised_message(camera_id, f.track_id, identity, pts))
            })
            .collect()
    }

    /// Adds a frame's counts to the stats and reports them when due.
    fn book(&self, state: &mut State, found: &FrameFaces, started: Instant) {
        let Some(stage) = &state.stage else {
            return;
        };
        let recognitions = stage.recognitions();
        let gallery = recognitions.gallery();
        let mut stats = self.stats.locked();
        let t = &found.tally;
        stats.frames += 1;
        stats.searched += t.searched;
        stats.faces += found.faces.len() as u64;
        stats.embeddings += t.embeddings;
        stats.cache_hits += t.cache_hits;
        stats.cache_misses += t.cache_misses;
        for identity in found
            .recognised
            .iter()
            .filter_map(|&i| found.faces[i].identity.as_ref())
        {
            *stats.recognitions.entry(identity.status()).or_default() += 1;
        }
        stats.redis_up = recognitions.is_up();
        let unreadable = recognitions.unreadable().map(|u| u.reason);
        if stats.gallery_unreadable != unreadable {
            let problems = unreadable
                .iter()
                .map(|r| format!("the face gallery cannot be read: {r}"))
                .collect();
            state.camera.set_problems(problems);
            stats.gallery_unreadable = unreadable;
        }
        stats.gallery_version = gallery.version;
        stats.gallery_persons = gallery.persons.len() as u64;
        stats.latency.observe(started.elapsed());
        state.camera.report(false, |id| stats.metrics(id));
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FessFace {
    const NAME: &'static str = "GstFessFace";
    type Type = super::FessFace;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FessFace {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("detector-model")
                    .nick("Face detection model")
                    .blurb("Path of the RetinaFace ONNX model (default: retinaface_mnet025.onnx in the FESS model cache)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("embedder-model")
                    .nick("Face embedding model")
                    .blurb("Path of the face embedding ONNX model, input [N,112,112,3] (default: mobilefacenet.onnx in the FESS model cache)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", FaceMode::Persons)
                    .nick("Search mode")
                    .blurb("Where faces are searched: inside the person ROIs of an upstream fessdetect, or on the whole frame")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detection-size")
                    .nick("Detection size")
                    .blurb("Longer side, in pixels, a searched region is scaled to for the face detector (small regions are enlarged at most 2x)")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(DEFAULT_DETECTION_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("face-threshold")
                    .nick("Face score threshold")
                    .blurb("Minimum face detection score (0-1)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_FACE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb("Smallest face side, in frame pixels, that is recognised")
                    .minimum(1)
                    .maximum(4096)
                    .default_value(DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("Most faces recognised per frame, best first")
                    .minimum(1)
                    .maximum(256)
                    .default_value(DEFAULT_MAX_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detection-interval")
                    .nick("Detection interval")
                    .blurb("Search for faces on every Nth frame; frames in between carry the tracked faces and their identities")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(DEFAULT_DETECTION_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("match-threshold")
                    .nick("Match threshold")
                    .blurb("Cosine similarity (0-1) a face needs to a gallery person to be recognised as them; below it the face is unknown")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MATCH_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("recheck-interval")
                    .nick("Recheck interval")
                    .blurb("Frames after which a tracked face goes through the embedding model again (sooner when the face gets clearly bigger or surer)")
                    .minimum(1)
                    .maximum(1_000_000)
                    .default_value(DEFAULT_RECHECK_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("cache-ttl")
                    .nick("Cache TTL")
                    .blurb("Seconds a recognition stays in the Redis cache per (camera, face track)")
                    .minimum(1)
                    .maximum(86_400)
                    .default_value(DEFAULT_CACHE_TTL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("redis-url")
                    .nick("Redis URL")
                    .blurb("redis://[user:password@]host:port/db, rediss:// for TLS (default: $REDIS_URL or ./.env, else redis://127.0.0.1:6379/); the password is never logged. #insecure (no certificate check) is warned about")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("redis-tls-ca-file")
                    .nick("Redis CA file")
                    .blurb("PEM CA certificate(s) the rediss:// server's certificate must chain to, instead of the system's (default: $REDIS_TLS_CA_FILE)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("redis-tls-cert-file")
                    .nick("Redis client certificate")
                    .blurb("PEM client certificate for a rediss:// server that asks for one (tls-auth-clients) (default: $REDIS_TLS_CERT_FILE)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("redis-tls-key-file")
                    .nick("Redis client key")
                    .blurb("PEM private key of redis-tls-cert-file (PKCS#8, RSA or EC) (default: $REDIS_TLS_KEY_FILE)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("redis-password-file")
                    .nick("Redis password file")
                    .blurb("File holding the Redis password, instead of the URL (relative: in $CREDENTIALS_DIRECTORY) (default: $REDIS_PASSWORD_FILE)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("redis-timeout")
                    .nick("Redis timeout")
                    .blurb("Longest wait, in milliseconds, for a cache lookup on the streaming thread (none while Redis is down)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_REDIS_TIMEOUT_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("gallery-key")
                    .nick("Gallery key")
                    .blurb("Redis key prefix of the gallery, shared with `fess gallery --key`")
                    .default_value(Some(fess::gallery::DEFAULT_GALLERY_KEY))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Name of this stream's camera (default: upstream's camera id, else the source URI without credentials or query, else the element name)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads per model (0: ONNX Runtime's default, one per core)")
                    .minimum(0)
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a fess-face-recognized element message on the bus when a face track is first recognised or changes identity")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("gallery-required")
                    .nick("Gallery required")
                    .blurb("Fail closed: an element error (no video) when the face gallery cannot be read at start, or stays unreadable for 10 s while running; otherwise only a warning and recognition against the last snapshot")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Cumulative counters: frames, faces, embeddings, cache hits and misses, recognitions by outcome, Redis and gallery state (gallery-up, gallery-error), latency histogram")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "detector-model" => s.detector_model = value.get().unwrap(),
            "embedder-model" => s.embedder_model = value.get().unwrap(),
            "mode" => s.mode = value.get().unwrap(),
            "detection-size" => s.detection_size = value.get().unwrap(),
            "face-threshold" => s.face_threshold = value.get().unwrap(),
            "min-face-size" => s.min_face_size = value.get().unwrap(),
            "max-faces" => s.max_faces = value.get().unwrap(),
            "detection-interval" => s.detection_interval = value.get().unwrap(),
            "match-threshold" => s.match_threshold = value.get().unwrap(),
            "recheck-interval" => s.recheck_interval = value.get().unwrap(),
            "cache-ttl" => s.cache_ttl = value.get().unwrap(),
            "redis-url" => s.redis_url = value.get().unwrap(),
            "redis-tls-ca-file" => s.redis_tls_ca_file = value.get().unwrap(),
            "redis-tls-cert-file" => s.redis_tls_cert_file = value.get().unwrap(),
            "redis-tls-key-file" => s.redis_tls_key_file = value.get().unwrap(),
            "redis-password-file" => s.redis_password_file = value.get().unwrap(),
            "redis-timeout" => s.redis_timeout_ms = value.get().unwrap(),
            "gallery-key" => {
                s.gallery_key = value
                    .get::<Option<String>>()
                    .unwrap()
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| fess::gallery::DEFAULT_GALLERY_KEY.to_string())
            }
            "camera-id" => s.camera_id = value.get().unwrap(),
            "threads" => s.threads = value.get().unwrap(),
            "post-messages" => s.post_messages = value.get().unwrap(),
            "gallery-required" => s.gallery_required = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
            "detector-model" => s.detector_model.to_value(),
            "embedder-model" => s.embedder_model.to_value(),
            "mode" => s.mode.to_value(),
            "detection-size" => s.detection_size.to_value(),
            "face-threshold" => s.face_threshold.to_value(),
            "min-face-size" => s.min_face_size.to_value(),
            "max-faces" => s.max_faces.to_value(),
            "detection-interval" => s.detection_interval.to_value(),
            "match-threshold" => s.match_threshold.to_value(),
            "recheck-interval" => s.recheck_interval.to_value(),
            "cache-ttl" => s.cache_ttl.to_value(),
            // Shown redacted: a property dump must not leak the password.
            "redis-url" => s
                .redis_url
                .as_deref()
                .map(fess::gallery::redis_url::redact)
                .to_value(),
            "redis-tls-ca-file" => s.redis_tls_ca_file.to_value(),
            "redis-tls-cert-file" => s.redis_tls_cert_file.to_value(),
            "redis-tls-key-file" => s.redis_tls_key_file.to_value(),
            "redis-password-file" => s.redis_password_file.to_value(),
            "redis-timeout" => s.redis_timeout_ms.to_value(),
            "gallery-key" => s.gallery_key.to_value(),
            "camera-id" => s.camera_id.to_value(),
            "threads" => s.threads.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "gallery-required" => s.gallery_required.to_value(),
            "stats" => {
                let st = self.stats.locked();
                let mut b = gst::Structure::builder("fessface-stats")
                    .field("frames", st.frames)
                    .field("searched", st.searched)
                    .field("faces", st.faces)
                    .field("embeddings", st.embeddings)
                    .field("cache-hits", st.cache_hits)
                    .field("cache-misses", st.cache_misses);
                for status in fess::gallery::Status::ALL {
                    b = b.field(
                        status.as_str(),
                        st.recognitions.get(&status).copied().unwrap_or(0),
                    );
                }
                let engines = self.engines.locked().clone();
                let [detector_id, embedder_id] = engines
                    .as_ref()
                    .map(|e| e.instance_ids.clone())
                    .unwrap_or_default();
                b.field("redis-up", st.redis_up)
                    .field("gallery-up", st.gallery_unreadable.is_none())
                    .field(
                        "gallery-error",
                        st.gallery_unreadable.clone().unwrap_or_default(),
                    )
                    .field("detector-instance-id", detector_id)
                    .field("embedder-instance-id", embedder_id)
                    .field("models-loaded", engines.map_or(0, |e| e.loaded))
                    .field("gallery-persons", st.gallery_persons)
                    .field("gallery-version", st.gallery_version)
                    .field(
                        "latency",
                        crate::stats_structure::histogram("latency", &st.latency),
                    )
                    .build()
                    .to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FessFace {}

impl ElementImpl for FessFace {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "FESS face recognition",
                "Filter/Analyzer/Video",
                "Finds faces (RetinaFace) inside person ROIs or on the whole frame, recognises \
                 them (MobileFaceNet) against a gallery in Redis as authorised, unauthorised or \
                 unknown, and attaches one face ROI per face. Example: gst-launch-1.0 \
                 filesrc location=door.mp4 ! decodebin ! videoconvert ! fessdetect ! \
                 fessface redis-url=redis://127.0.0.1:6379/ ! fesskafkasink",
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
            ["src", "sink"]
                .into_iter()
                .map(|name| {
                    let dir = if name == "src" {
                        gst::PadDirection::Src
                    } else {
                        gst::PadDirection::Sink
                    };
                    gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps).unwrap()
                })
                .collect()
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FessFace {
    // Pixels pass untouched; the buffer must be writable only to carry the new metas.
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.locked().clone();
        *self.stats.locked() = FaceStats::default();
        let state = self.build_state(&settings)?;
        *self.state.locked() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Dropping the state stops the Redis link's thread.
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
        if let Some(cam) = fess_gst::camera::parse(&event) {
            let own = self.settings.locked().own_camera_id().is_some();
            if let Some(state) = self.state.locked().as_mut() {
                state.detector_upstream = cam.detector;
                if !state.camera.upstream_event(&cam, own) {
                    return true;
                }
            }
        }
        if let gst::EventView::FlushStop(_) = event.view() {
            with_stage(&self.state, |s| &mut s.stage, |stage| stage.flush());
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let (mut rules, post_messages, gallery_required) = {
            let s = self.settings.locked();
            (s.rules(), s.post_messages, s.gallery_required)
        };
        let detector_upstream = {
            let guard = self.state.locked();
            let state = guard.as_ref().ok_or(gst::FlowError::Flushing)?;
            let lost = state
                .stage
                .as_ref()
                .and_then(|s| s.recognitions().unreadable());
            if let Some(u) =
                lost.filter(|u| gallery_required && u.since.elapsed() >= GALLERY_REQUIRED_GRACE)
            {
                drop(guard);
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Read,
                    [
                        "the face gallery has been unreadable for {} s and gallery-required \
                         is set, so no video passes: {}",
                        GALLERY_REQUIRED_GRACE.as_secs(),
                        u.reason
                    ]
                );
                return Err(gst::FlowError::Error);
            }
            state.detector_upstream
        };
        rules.in_persons &= detector_upstream;
        let own = self.settings.locked().own_camera_id();
        announce_camera(
            self.obj().upcast_ref(),
            &self.state,
            |s| &mut s.camera,
            own,
            detector_upstream,
        );
        let (info, camera_id) = {
            let guard = self.state.locked();
            let state = guard.as_ref().ok_or(gst::FlowError::Flushing)?;
            (state.info.clone(), state.camera.id.clone())
        };
        let info = info.ok_or(gst::FlowError::NotNegotiated)?;
        let persons: Vec<PersonBox> = roi_meta::read(buf)
            .into_iter()
            .filter(|r| r.label == "person" && r.face.is_none())
            .map(|r| PersonBox {
                id: r.id,
                bbox: r.bbox,
            })
            .collect();
        // The models and the Redis lookup run without the state lock.
        let found = fess_gst::video_frame::with_view(buf, &info, |view| {
            with_stage(
                &self.state,
                |s| &mut s.stage,
                |stage| {
                    stage
                        .process(view, &persons, &camera_id, &rules)
                        .map_err(|e| gst::error_msg!(gst::StreamError::Failed, ["{}", e]))
                },
            )
        });
        let found = match found {
            Ok(Some(Ok(found))) => found,
            Ok(None) => return Err(gst::FlowError::Flushing),
            Ok(Some(Err(msg))) | Err(msg) => {
                self.post_error_message(msg);
                return Err(gst::FlowError::Error);
            }
        };
        let messages = self.attach(
            buf,
            &found,
            &camera_id,
            (info.width(), info.height()),
            post_messages,
        );
        if let Some(state) = self.state.locked().as_mut() {
            self.book(state, &found, started);
        }
        // Posted without the state lock: a bus sync handler may read this element's properties.
        for m in messages {
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(m).src(&*self.obj()).build());
        }
        gst::trace!(CAT, imp = self, "{} faces", found.faces.len());
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The `fess-face-recognized` element message: a face track's identity, when first known or
/// changed.
fn recognised_message(
    camera_id: &str,
    track_id: u64,
    identity: &fess::gallery::Identity,
    pts: Option<gst::ClockTime>,
) -> gst::Structure {
    let mut b = gst::Structure::builder("fess-face-recognized")
        .field("camera-id", camera_id)
        .field("face-id", format!("face_{track_id}"))
        .field("track-id", track_id)
        .field("known", identity.person_id.is_some())
        .field("authorized", identity.authorized)
        .field("similarity", identity.similarity as f64)
        .field("status", identity.status().as_str());
    if let Some(id) = &identity.person_id {
        b = b.field("person-id", id);
    }
    if let Some(name) = &identity.name {
        b = b.field("person-name", name);
    }
    if let Some(pts) = pts {
        b = b.field("pts", pts);
    }
    b.build()
}
