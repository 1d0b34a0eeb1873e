use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use fess::delivery::publisher::{EventPublisher, PublisherBuilder, Severity};
use fess::events::emission::{EventBuilder, Frame};
use fess::events::{Event, EventKind};
use fess::sync::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::{Acks, Compression};
use crate::analysis::Camera;
use fess_gst::roi_meta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fesskafkasink",
        gst::DebugColorFlags::empty(),
        Some("FESS Kafka event sink"),
    )
});

const DEFAULT_MIN_INTERVAL: f64 = 10.0;
const DEFAULT_FLUSH_TIMEOUT_MS: u32 = 10_000;
const DEFAULT_SPOOL_MAX_BYTES: u64 = fess::delivery::publisher::DEFAULT_SPOOL_MAX_BYTES;
const DEFAULT_SPOOL_SYNC_MS: u32 = fess::delivery::publisher::DEFAULT_SPOOL_SYNC.as_millis() as u32;
const DEFAULT_CREATE_TOPICS: bool = true;
const DEFAULT_PARTITIONS: u32 = 3;
const DEFAULT_REPLICATION: u32 = 1;

#[derive(Debug, Clone)]
struct Settings {
    bootstrap_servers: Option<String>,
    topic_motion: Option<String>,
    topic_faces: Option<String>,
    topic_alerts: Option<String>,
    acks: Acks,
    compression: Compression,
    linger_ms: i32,
    batch_size: i32,
    client_id: Option<String>,
    kafka_config: Option<String>,
    camera_id: Option<String>,
    min_interval: f64,
    alert_rules: Option<String>,
    spool_dir: Option<String>,
    spool_max_bytes: u64,
    spool_sync_ms: u32,
    flush_timeout_ms: u32,
    create_topics: bool,
    partitions: u32,
    replication: u32,
    post_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bootstrap_servers: None,
            topic_motion: None,
            topic_faces: None,
            topic_alerts: None,
            acks: Acks::Default,
            compression: Compression::Default,
            linger_ms: -1,
            batch_size: -1,
            client_id: None,
            kafka_config: None,
            camera_id: None,
            min_interval: DEFAULT_MIN_INTERVAL,
            alert_rules: None,
            spool_dir: None,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            spool_sync_ms: DEFAULT_SPOOL_SYNC_MS,
            flush_timeout_ms: DEFAULT_FLUSH_TIMEOUT_MS,
            create_topics: DEFAULT_CREATE_TOPICS,
            partitions: DEFAULT_PARTITIONS,
            replication: DEFAULT_REPLICATION,
            post_messages: true,
        }
    }
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

struct State {
    /// Shared so EOS and stop can flush it without holding the state lock (render and the
    /// `stats` property go on meanwhile). `None` while it waits for the camera id that names
    /// its default spool (`pending`).
    publisher: Option<Arc<EventPublisher>>,
    /// The publisher's builder when the default spool is named after a camera id not known at
    /// start (the source is linked later, as decodebin's pads are): built on the stream's
    /// camera event, else on its first buffer.
    pending: Option<PublisherBuilder>,
    builder: EventBuilder,
    /// The stream's camera id and the stats reporter under it (shared with the analysis
    /// elements); `own_camera` when the element's `camera-id` is set and beats upstream's.
    camera: Camera,
    own_camera: bool,
    width: u32,
    height: u32,
    frame_number: u64,
    /// When the sink started: the clock of last resort for frames without timestamps.
    started: Instant,
    events: [u64; 3],
}

impl State {
    /// Sends the stats once a report is due, or now when `last`.
    fn report(&mut self, last: bool) {
        let (publisher, events) = (self.publisher.as_deref(), self.events);
        let scene = self.builder.scene();
        self.camera
            .report(last, |camera| metrics(camera, publisher, events, scene));
    }
}

/// The sink's counters as stats-protocol metrics (named as the exporter publishes them).
fn metrics(
    camera: &str,
    publisher: Option<&EventPublisher>,
    events: [u64; 3],
    scene: &fess::analytics::scene::Scene,
) -> Vec<fess::observability::stats::Metric> {
    use fess::observability::stats::Metric;
    let mut m = scene.metrics(camera);
    for (kind, n) in EventKind::ALL.iter().zip(events) {
        m.push(Metric::counter(
            "fess_events_built_total",
            &[("camera_id", camera), ("type", kind.label())],
            n,
        ));
    }
    let Some(st) = publisher.map(|p| p.stats()) else {
        return m;
    };
    for (topic, c) in &st.topics {
        for (status, n) in c.by_status() {
            m.push(Metric::counter(
                "fess_kafka_events_sent_total",
                &[("topic", topic), ("status", status)],
                n,
            ));
        }
    }
    m.push(Metric::gauge(
        "fess_kafka_queue_depth",
        &[],
        st.queued as f64,
    ));
    m.push(Metric::gauge(
        "fess_kafka_spool_bytes",
        &[],
        st.spool_bytes as f64,
    ));
    m.push(Metric::counter(
        "fess_kafka_events_recovered_total",
        &[],
        st.recovered,
    ));
    m.push(Metric::counter(
        "fess_kafka_spool_damaged_total",
        &[],
        st.damaged,
    ));
    m.push(Metric::counter("fess_kafka_spool_lost_total", &[], st.lost));
    m.push(
        st.latency
            .metric("fess_event_latency_seconds", &[("camera_id", camera)]),
    );
    m.push(Metric::gauge(
        "fess_kafka_broker_up",
        &[],
        if st.broker_up { 1.0 } else { 0.0 },
    ));
    m
}

#[derive(Default)]
pub struct FessKafkaSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Between `unlock` and `unlock_stop`.
    unlocked: AtomicBool,
}

impl FessKafkaSink {
    fn build_state(&self, s: &Settings) -> Result<State, gst::ErrorMessage> {
        let settings_err = |m: String| gst::error_msg!(gst::ResourceError::Settings, ["{}", m]);
        let rules = match set(&s.alert_rules) {
            Some(p) => fess::events::rules::load(&PathBuf::from(p))
                .map_err(|e| settings_err(e.to_string()))?,
            None => Default::default(),
        };
        let mut b = EventPublisher::builder();
        if let Some(v) = set(&s.bootstrap_servers) {
            b = b.bootstrap_servers(v);
        }
        if s.topic_motion.is_some() || s.topic_faces.is_some() || s.topic_alerts.is_some() {
            let d = fess::delivery::kafka_config::KafkaSettings::from_env()
                .map_err(|e| settings_err(e.to_string()))?
                .topics;
            b = b.topics(
                set(&s.topic_motion).unwrap_or(&d.motion),
                set(&s.topic_faces).unwrap_or(&d.faces),
                set(&s.topic_alerts).unwrap_or(&d.alerts),
            );
        }
        if let Some(v) = s.acks.value() {
            b = b.acks(v);
        }
        if let Some(v) = s.compression.value() {
            b = b.compression(v);
        }
        if s.linger_ms >= 0 {
            b = b.linger_ms(s.linger_ms as u32);
        }
        if s.batch_size >= 0 {
            b = b.batch_size(s.batch_size as u32);
        }
        if let Some(v) = set(&s.client_id) {
            b = b.client_id(v);
        }
        if let Some(v) = set(&s.kafka_config) {
            b = b.kafka_config(v);
        }
        let camera = set(&s.camera_id).map(str::to_string);
        // The default spool is the camera's, so two cameras never share one whatever their
        // elements are called: the camera id the stream will carry, if upstream can say it now.
        let known_camera = camera.clone().or_else(|| {
            let pad = self
                .obj()
                .static_pad("sink")
                .expect("a sink has a sink pad");
            fess_gst::camera::query_upstream(&pad)
        });
        let weak = self.obj().downgrade();
        b = b
            .spool_max_bytes(s.spool_max_bytes)
            .spool_sync(Duration::from_millis(s.spool_sync_ms.into()))
            .flush_timeout(Duration::from_millis(s.flush_timeout_ms as u64))
            .create_topics(s.create_topics, s.partitions as i32, s.replication as i32)
            .on_log(move |sev, msg| {
                let Some(obj) = weak.upgrade() else { return };
                match sev {
                    Severity::Debug => gst::debug!(CAT, obj = obj, "{}", msg),
                    Severity::Info => gst::info!(CAT, obj = obj, "{}", msg),
                    Severity::Warning | Severity::Error => {
                        gst::warning!(CAT, obj = obj, "{}", msg);
                        gst::element_warning!(obj, gst::ResourceError::Write, ["{}", msg]);
                    }
                }
            });
        // Wrong settings fail the start, also when the publisher is built later.
        b.check().map_err(|e| settings_err(e.to_string()))?;
        let camera_helper = Camera::new(
            self.obj().upcast_ref(),
            "fesskafkasink",
            known_camera.clone(),
            *CAT,
        );
        let builder = EventBuilder::new(
            &camera_helper.id,
            Duration::from_secs_f64(s.min_interval),
            fess::events::emission::FORGET_AFTER,
            rules,
        );
        let mut state = State {
            publisher: None,
            pending: None,
            builder,
            camera: camera_helper,
            own_camera: camera.is_some(),
            width: 0,
            height: 0,
            frame_number: 0,
            started: Instant::now(),
            events: [0; 3],
        };
        let spool_dir = match (set(&s.spool_dir), known_camera) {
            (Some(dir), _) => {
                state.publisher = Some(Arc::new(
                    b.spool_dir(dir)
                        .build()
                        .map_err(|e| settings_err(e.to_string()))?,
                ));
                Some(PathBuf::from(dir))
            }
            (None, Some(camera)) => {
                state.publisher = Some(Arc::new(
                    b.default_spool(&camera)
                        .build()
                        .map_err(|e| settings_err(e.to_string()))?,
                ));
                Some(fess::delivery::spool::default_dir(&camera))
            }
            (None, None) => {
                state.pending = Some(b);
                None
            }
        };
        match spool_dir {
            Some(dir) => gst::info!(CAT, imp = self, "spool in {}", dir.display()),
            None => gst::info!(CAT, imp = self, "spool named when the camera id is known"),
        }
        Ok(state)
    }

    /// Builds a publisher that waited for the stream's camera id, without the state lock (it
    /// opens the spool on disk); a failure is the element's error (its settings were checked
    /// at start: this is the spool folder). The state lock must not be held.
    fn open_pending(&self) -> bool {
        let (builder, camera) = {
            let mut guard = self.state.locked();
            let Some(state) = guard.as_mut() else {
                return true;
            };
            match state.pending.take() {
                Some(b) => (b, state.builder.camera_id().to_string()),
                None => return true,
            }
        };
        match builder.default_spool(&camera).build() {
            Ok(publisher) => {
                let dir = fess::delivery::spool::default_dir(&camera);
                gst::info!(CAT, imp = self, "spool in {}", dir.display());
                if let Some(state) = self.state.locked().as_mut() {
                    state.publisher = Some(Arc::new(publisher));
                }
                true
            }
            Err(e) => {
                gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ["{}", e]);
                false
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FessKafkaSink {
    const NAME: &'static str = "GstFessKafkaSink";
    type Type = super::FessKafkaSink;
    type ParentType = gst_base::BaseSink;
}

/// The `fess-alert` element message: an alert as published.
fn alert_message(a: &fess::events::AlertEvent) -> gst::Structure {
    gst::Structure::builder("fess-alert")
        .field("camera-id", &a.camera_id)
        .field("event-id", &a.event_id)
        .field("alert-level", a.alert_level.as_str())
        .field("alert-message", &a.alert_message)
        .field(
            "associated-events",
            gst::Array::new(a.associated_events.iter().map(|e| e.to_send_value())),
        )
        .field("timestamp", &a.timestamp)
        .field_if_some("analytics", a.analytics.as_ref().map(analytics_structure))
        .build()
}

/// The `analytics` of an alert as a structure of the same fields (dashes for underscores).
fn analytics_structure(d: &fess::events::AlertAnalytics) -> gst::Structure {
    let kind = d.kind.as_str();
    gst::Structure::builder("analytics")
        .field("rule", &d.rule)
        .field("kind", kind)
        .field_if_some("line", d.line.as_deref())
        .field_if_some("direction", d.direction.as_deref())
        .field_if_some("zone", d.zone.as_deref())
        .field_if_some("object-class", d.object_class.as_deref())
        .field(
            "track-ids",
            gst::Array::new(d.track_ids.iter().map(|t| t.to_send_value())),
        )
        .field_if_some("objects", d.objects)
        .field_if_some("seconds", d.seconds)
        .build()
}

fn string_prop(name: &'static str, nick: &'static str, blurb: &'static str) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .nick(nick)
        .blurb(blurb)
        .mutable_ready()
        .build()
}

impl ObjectImpl for FessKafkaSink {
    fn constructed(&self) {
        self.parent_constructed();
        // Events follow the video as fast as it is processed; there is nothing to render in time.
        self.obj().set_sync(false);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                string_prop("bootstrap-servers", "Bootstrap servers", "Kafka brokers, host:port[,host:port...] (default: KAFKA_BOOTSTRAP_SERVERS, else localhost:9092)"),
                string_prop("topic-motion", "Motion topic", "Topic of motion.detected events (default: KAFKA_TOPIC_MOTION, else motion.detection.events)"),
                string_prop("topic-faces", "Faces topic", "Topic of face.recognized events (default: KAFKA_TOPIC_FACES, else face.recognition.events)"),
                string_prop("topic-alerts", "Alerts topic", "Topic of alert.triggered events (default: KAFKA_TOPIC_ALERTS, else alert.events)"),
                glib::ParamSpecEnum::builder::<Acks>("acks")
                    .nick("Acks")
                    .blurb("Acknowledgements the producer waits for (default: KAFKA_ACKS, else 1)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<Compression>("compression")
                    .nick("Compression")
                    .blurb("Compression of the message batches (default: KAFKA_COMPRESSION, else snappy)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("linger-ms")
                    .nick("Linger")
                    .blurb("Milliseconds to wait to batch messages (-1: KAFKA_LINGER_MS, else 10)")
                    .minimum(-1)
                    .maximum(900_000)
                    .default_value(-1)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Most bytes per batch (-1: KAFKA_BATCH_SIZE, else 16384)")
                    .minimum(-1)
                    .maximum(i32::MAX)
                    .default_value(-1)
                    .mutable_ready()
                    .build(),
                string_prop("client-id", "Client id", "Kafka client.id (default: fess)"),
                string_prop("kafka-config", "Kafka configuration", "Further librdkafka properties, key=value;key=value (TLS, SASL, enable.idempotence...), after those of FESS_KAFKA_CONFIG; a value @FILE is read from FILE (relative: in $CREDENTIALS_DIRECTORY); write a ; inside a value as \\;. Secret values are never logged"),
                string_prop("camera-id", "Camera id", "Camera of the events (default: the camera id sent by fessdetect, else the element name)"),
                glib::ParamSpecDouble::builder("min-interval")
                    .nick("Minimum interval")
                    .blurb("Seconds between two motion (or face) events while the same objects stay; new objects and identity changes are published at once")
                    .minimum(0.0)
                    .maximum(86_400.0)
                    .default_value(DEFAULT_MIN_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a fess-alert element message on the bus for every alert raised")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                string_prop("alert-rules", "Alert rules", "TOML or JSON file of alert rules (object class present, in a zone, for a time; line crossings; zone occupancy; unknown or unauthorised faces) and the counting lines and zones they name; the unauthorised-face alert is built in"),
                string_prop("spool-dir", "Spool folder", "The write-ahead log every event is written to before it is sent, and where undelivered events wait, also across a crash (default: spool/<the stream's camera id> in the state folder, $FESS_STATE, else $XDG_STATE_HOME/fess, else ~/.local/state/fess; private to the user)"),
                glib::ParamSpecUInt64::builder("spool-max-bytes")
                    .nick("Spool size")
                    .blurb("Bound of the spool; beyond it the oldest events are dropped, counted and warned about")
                    .minimum(4096)
                    .default_value(DEFAULT_SPOOL_MAX_BYTES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("spool-sync-ms")
                    .nick("Spool sync")
                    .blurb("Longest milliseconds between fsyncs of the spool: what a power cut can lose (a killed process loses nothing); 0 fsyncs every event on the streaming thread")
                    .maximum(3_600_000)
                    .default_value(DEFAULT_SPOOL_SYNC_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("flush-timeout")
                    .nick("Flush timeout")
                    .blurb("Milliseconds EOS and stop wait for queued events before spooling them")
                    .maximum(3_600_000)
                    .default_value(DEFAULT_FLUSH_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("create-topics")
                    .nick("Create topics")
                    .blurb("Create missing topics (with partitions and replication below)")
                    .default_value(DEFAULT_CREATE_TOPICS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("partitions")
                    .nick("Partitions")
                    .blurb("Partitions of topics this element creates")
                    .minimum(1)
                    .maximum(10_000)
                    .default_value(DEFAULT_PARTITIONS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("replication")
                    .nick("Replication")
                    .blurb("Replication factor of topics this element creates")
                    .minimum(1)
                    .maximum(100)
                    .default_value(DEFAULT_REPLICATION)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Events built by type, deliveries per topic (success, error, dropped, spooled), queued events, spool size, broker reachability")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "bootstrap-servers" => s.bootstrap_servers = value.get().unwrap(),
            "topic-motion" => s.topic_motion = value.get().unwrap(),
            "topic-faces" => s.topic_faces = value.get().unwrap(),
            "topic-alerts" => s.topic_alerts = value.get().unwrap(),
            "acks" => s.acks = value.get().unwrap(),
            "compression" => s.compression = value.get().unwrap(),
            "linger-ms" => s.linger_ms = value.get().unwrap(),
            "batch-size" => s.batch_size = value.get().unwrap(),
            "client-id" => s.client_id = value.get().unwrap(),
            "kafka-config" => s.kafka_config = value.get().unwrap(),
            "camera-id" => s.camera_id = value.get().unwrap(),
            "min-interval" => s.min_interval = value.get().unwrap(),
            "post-messages" => s.post_messages = value.get().unwrap(),
            "alert-rules" => s.alert_rules = value.get().unwrap(),
            "spool-dir" => s.spool_dir = value.get().unwrap(),
            "spool-max-bytes" => s.spool_max_bytes = value.get().unwrap(),
            "spool-sync-ms" => s.spool_sync_ms = value.get().unwrap(),
            "flush-timeout" => s.flush_timeout_ms = value.get().unwrap(),
            "create-topics" => s.create_topics = value.get().unwrap(),
            "partitions" => s.partitions = value.get().unwrap(),
            "replication" => s.replication = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
            "bootstrap-servers" => s.bootstrap_servers.to_value(),
            "topic-motion" => s.topic_motion.to_value(),
            "topic-faces" => s.topic_faces.to_value(),
            "topic-alerts" => s.topic_alerts.to_value(),
            "acks" => s.acks.to_value(),
            "compression" => s.compression.to_value(),
            "linger-ms" => s.linger_ms.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "client-id" => s.client_id.to_value(),
            // Shown with secret values masked.
            "kafka-config" => s
                .kafka_config
                .as_deref()
                .map(fess::delivery::kafka_config::masked)
                .to_value(),
            "camera-id" => s.camera_id.to_value(),
            "min-interval" => s.min_interval.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "alert-rules" => s.alert_rules.to_value(),
            "spool-dir" => s.spool_dir.to_value(),
            "spool-max-bytes" => s.spool_max_bytes.to_value(),
            "spool-sync-ms" => s.spool_sync_ms.to_value(),
            "flush-timeout" => s.flush_timeout_ms.to_value(),
            "create-topics" => s.create_topics.to_value(),
            "partitions" => s.partitions.to_value(),
            "replication" => s.replication.to_value(),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl FessKafkaSink {
    /// The time the rules and intervals measure a frame by: its running time (from its
    /// timestamp and the segment, so seeks and loops stay monotonic); without a timestamp, the
    /// pipeline clock's running time now; without a clock, the time since the sink started.
    fn frame_time(&self, buffer: &gst::BufferRef, started: Instant) -> Duration {
        let obj = self.obj();
        roi_meta::running_time(obj.upcast_ref(), &obj.segment(), buffer)
            .unwrap_or_else(|| started.elapsed())
    }

    /// When the frame was captured: as long before now as its running time is behind the
    /// clock's (the time it spent in the pipeline); now without a clock or timestamp, or for a
    /// file decoded ahead of the clock.
    fn captured(&self, time: Duration) -> Instant {
        let now = Instant::now();
        let in_pipeline = self
            .obj()
            .current_running_time()
            .map(|t| Duration::from_nanos(t.nseconds()))
            .and_then(|clock| clock.checked_sub(time))
            .unwrap_or_default();
        now.checked_sub(in_pipeline).unwrap_or(now)
    }

    fn publisher(&self) -> Option<Arc<EventPublisher>> {
        self.state
            .locked()
            .as_ref()
            .and_then(|s| s.publisher.clone())
    }

    fn stats(&self) -> gst::Structure {
        let guard = self.state.locked();
        let mut b = gst::Structure::builder("fesskafkasink-stats");
        let Some(state) = guard.as_ref() else {
            return b.build();
        };
        let st = state
            .publisher
            .as_ref()
            .map(|p| p.stats())
            .unwrap_or_default();
        b = b
            .field("camera-id", state.builder.camera_id())
            .field("frames", state.frame_number)
            .field("motion-events", state.events[0])
            .field("face-events", state.events[1])
            .field("alert-events", state.events[2])
            .field("queued", st.queued)
            .field("spool-records", st.spool_records)
            .field("spool-bytes", st.spool_bytes)
            .field("recovered", st.recovered)
            .field("damaged", st.damaged)
            .field("lost", st.lost)
            .field("broker-up", st.broker_up);
        let mut topics = gst::Structure::builder("topics");
        for (topic, c) in &st.topics {
            let counts = c
                .by_status()
                .into_iter()
                .fold(gst::Structure::builder("counts"), |s, (status, n)| {
                    s.field(status, n)
                });
            topics = topics.field(topic.as_str(), counts.build());
        }
        b.field("topics", topics.build()).build()
    }
}

impl GstObjectImpl for FessKafkaSink {}

impl ElementImpl for FessKafkaSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "FESS Kafka event sink",
                "Sink/Metadata",
                "Publishes motion, face and alert events built from fess region-of-interest metadata \
                 to Kafka as JSON, per tracked object, spooling to disk what the broker cannot \
                 take. Example: gst-launch-1.0 rtspsrc location=rtsp://camera/stream ! decodebin ! \
                 videoconvert ! fessdetect camera-id=gate-1 ! fesskafkasink \
                 bootstrap-servers=localhost:9092",
                "FESS developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Metadata is all the sink reads: any video, in system memory or not.
            let mut caps = gst::Caps::builder("video/x-raw").build();
            caps.merge(gst::Caps::builder("video/x-raw").any_features().build());
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .unwrap()]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSinkImpl for FessKafkaSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.locked().clone();
        let state = self.build_state(&settings)?;
        *self.state.locked() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Closing flushes within flush-timeout and spools the rest.
        let state = self.state.locked().take();
        if let Some(mut state) = state {
            if let Some(p) = &state.publisher {
                p.close();
            }
            state.report(true);
        }
        Ok(())
    }

    /// Going to READY or flushing: an EOS flush waiting for deliveries returns at once (the
    /// events stay queued, and `stop` spools what the broker has not taken).
    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.unlocked.store(true, Ordering::SeqCst);
        if let Some(p) = self.publisher() {
            p.interrupt(true);
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.unlocked.store(false, Ordering::SeqCst);
        if let Some(p) = self.publisher() {
            p.interrupt(false);
        }
        Ok(())
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        let (w, h) = (
            s.get::<i32>("width").unwrap_or(0),
            s.get::<i32>("height").unwrap_or(0),
        );
        if let Some(state) = self.state.locked().as_mut() {
            state.width = w.max(0) as u32;
            state.height = h.max(0) as u32;
        }
        Ok(())
    }

    fn event(&self, event: gst::Event) -> bool {
        if let Some(camera) = fess_gst::camera::parse(&event) {
            if let Some(state) = self.state.locked().as_mut() {
                let own = state.own_camera;
                if state.camera.upstream_event(&camera, own) {
                    gst::debug!(CAT, imp = self, "camera id {}", camera.camera_id);
                    state.builder.set_camera_id(&camera.camera_id);
                }
            }
            if !self.open_pending() {
                return false;
            }
        }
        if let gst::EventView::Eos(_) = event.view() {
            // The stays still open in zones end with the stream (reported at stop).
            if let Some(state) = self.state.locked().as_mut() {
                state.builder.end_of_stream();
            }
            let timeout = Duration::from_millis(self.settings.locked().flush_timeout_ms as u64);
            if let Some(publisher) = self.publisher() {
                gst::debug!(
                    CAT,
                    imp = self,
                    "EOS: waiting up to {timeout:?} for deliveries"
                );
                if publisher.flush(timeout) {
                    gst::debug!(CAT, imp = self, "every event delivered at EOS");
                } else if self.unlocked.load(Ordering::SeqCst) {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "EOS flush interrupted: the sink is stopping"
                    );
                } else {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Write,
                        ["not every event was delivered within flush-timeout: the rest is spooled and will be sent when the broker is back"]
                    );
                }
            }
        }
        self.parent_event(event)
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        // No camera event came (no fess element upstream): the spool is named after the camera
        // id the events carry.
        if !self.open_pending() {
            return Err(gst::FlowError::Error);
        }
        let mut guard = self.state.locked();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let publisher = state.publisher.clone().ok_or(gst::FlowError::Flushing)?;
        let (objects, faces) = roi_meta::seen(&roi_meta::read(buffer));
        let time = self.frame_time(buffer, state.started);
        let captured = self.captured(time);
        let frame = Frame {
            frame_number: state.frame_number,
            time,
            width: state.width,
            height: state.height,
            objects: &objects,
            faces: &faces,
        };
        state.frame_number += 1;
        let events = state.builder.observe(&frame);
        for event in &events {
            state.events[event.kind().index()] += 1;
        }
        // A non-blocking send of a few hundred bytes, once a second.
        state.report(false);
        drop(guard);
        // Published without the state lock: each event is written to the spool on disk first.
        let mut alerts = Vec::new();
        for event in events {
            if let Err(e) = publisher.publish_captured(&event, captured) {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ["event not published: {}", e]
                );
            }
            if let Event::Alert(a) = event {
                alerts.push(a);
            }
        }
        // Posted without the state lock: a bus sync handler may read this element's properties.
        if !alerts.is_empty() && self.settings.locked().post_messages {
            for a in alerts {
                let _ = self.obj().post_message(
                    gst::message::Element::builder(alert_message(&a))
                        .src(&*self.obj())
                        .build(),
                );
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
