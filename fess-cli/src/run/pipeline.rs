//! One camera's pipeline in `fess run`:
//!
//! `uridecodebin ! queue (leaky) ! videoconvert ! fessdetect [! fessface] ! fesskafkasink`
//!
//! built from its [`CameraSpec`]: the camera id and every property of the cameras file set on
//! each element that has it. The leaky queue lets capture and decoding go on at the camera's
//! pace while the analysis takes what it can: a slow model drops frames, it never makes the
//! RTSP session time out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::config::{CameraSpec, Config, ConfigError, DEFAULT_STALL_TIMEOUT};
use crate::elements::{factory_name, set_property};

/// The analysis chain's elements, in stream order.
const ANALYSIS: [&str; 3] = ["fessdetect", "fessface", "fesskafkasink"];
/// Frames the queue before the analysis holds; older ones are dropped when it is full.
const QUEUED_FRAMES: u32 = 2;
/// RTSP jitter buffer: the latency an event carries from the network (rtspsrc's default is 2 s).
const RTSP_LATENCY_MS: u32 = 200;

/// A camera's pipeline and what the service watches in it.
pub struct CameraPipeline {
    pub pipeline: gst::Pipeline,
    /// When a frame last reached the analysis, as [`since_epoch`] nanoseconds (0: never).
    pub last_frame: Arc<AtomicU64>,
    /// Sources that end (files) are not restarted at their end and are never stalled.
    pub live: bool,
    /// `None` when the source is not live.
    pub stall_timeout: Option<Duration>,
    /// The sink, holding the camera's spool; and how long it may take to deliver or spool its
    /// events when it stops.
    pub sink: gst::Element,
    pub flush_timeout: Duration,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Nanoseconds from the process's first look at the clock to `t` (at least 1).
pub fn since_epoch(t: Instant) -> u64 {
    (t.saturating_duration_since(*EPOCH).as_nanos() as u64).max(1)
}

/// The instant `since_epoch` returned `n` for.
pub fn from_epoch(n: u64) -> Instant {
    *EPOCH + Duration::from_nanos(n)
}

/// Whether a source URI is live: everything but local files, which end.
fn is_live(uri: &str) -> bool {
    !uri.to_ascii_lowercase().starts_with("file:")
}

/// Builds camera `spec`'s pipeline (nothing starts), or says which line of the file is wrong.
pub fn build(config: &Config, spec: &CameraSpec) -> Result<CameraPipeline, ConfigError> {
    let fail = |key: Option<&str>, reason: String| config.error(spec, key, reason);
    let make = |factory: &str| {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| fail(None, format!("GStreamer has no element '{factory}'")))
    };
    let pipeline = gst::Pipeline::with_name(&spec.id);
    let src = make("uridecodebin")?;
    src.set_property("uri", &spec.source);
    let queue = make("queue")?;
    queue.set_property_from_str("leaky", "downstream");
    queue.set_property("max-size-buffers", QUEUED_FRAMES);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    let convert = make("videoconvert")?;
    let formats = gst::Caps::builder("video/x-raw")
        .field("format", gst::List::new(["I420", "NV12", "RGB", "BGR"]))
        .build();
    let caps = gst::ElementFactory::make("capsfilter")
        .property("caps", &formats)
        .build()
        .map_err(|_| fail(None, "GStreamer has no capsfilter".into()))?;
    let mut analysis = Vec::new();
    for factory in ANALYSIS {
        if factory == "fessface" && !spec.faces {
            continue;
        }
        let element = make(factory)?;
        element.set_property("camera-id", &spec.id);
        analysis.push(element);
    }
    set_properties(spec, &analysis, &fail)?;

    let chain: Vec<&gst::Element> = [&queue, &convert, &caps]
        .into_iter()
        .chain(&analysis)
        .collect();
    pipeline
        .add_many(std::iter::once(&src).chain(chain.iter().copied()))
        .expect("new elements join a new pipeline");
    gst::Element::link_many(chain.iter().copied()).expect("the chain's pads fit");

    let sink = analysis
        .last()
        .expect("the chain ends in fesskafkasink")
        .clone();
    let flush_timeout = Duration::from_millis(u64::from(sink.property::<u32>("flush-timeout")));
    let live = is_live(&spec.source);
    let stall_timeout = live.then(|| spec.stall_timeout.unwrap_or(DEFAULT_STALL_TIMEOUT));
    configure_rtsp(&src, stall_timeout);
    link_first_video_pad(&src, &queue);
    let last_frame = Arc::new(AtomicU64::new(0));
    let seen = last_frame.clone();
    analysis[0]
        .static_pad("sink")
        .expect("fessdetect has a sink pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            seen.store(since_epoch(Instant::now()), Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    Ok(CameraPipeline {
        pipeline,
        last_frame,
        live,
        stall_timeout,
        sink,
        flush_timeout,
    })
}

/// Sets every property of `spec` on each analysis element that has it. A key no element has is
/// an error; so is a key of an element this camera does not run (fessface without `faces`),
/// unless it came from `[defaults]`.
fn set_properties(
    spec: &CameraSpec,
    analysis: &[gst::Element],
    fail: &dyn Fn(Option<&str>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    for (key, setting) in &spec.properties {
        let owners: Vec<&gst::Element> = analysis
            .iter()
            .filter(|e| e.find_property(key).is_some())
            .collect();
        if owners.is_empty() {
            let absent = ANALYSIS.iter().any(|f| has_property(f, key));
            if absent && setting.from_defaults {
                continue;
            }
            let why = if absent {
                format!("'{key}' is a property of fessface: set faces = true to use it")
            } else {
                format!(
                    "no element has a property '{key}' (see gst-inspect-1.0 fessdetect, \
                     fessface, fesskafkasink)"
                )
            };
            return Err(fail(Some(key), why));
        }
        for element in owners {
            set_property(element, key, &setting.value).map_err(|why| {
                fail(
                    Some(key),
                    format!("{} (camera '{}')", shown(&why, spec), spec.id),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether elements of `factory` have the property `key`.
fn has_property(factory: &str, key: &str) -> bool {
    gst::ElementFactory::make(factory)
        .build()
        .is_ok_and(|e| e.find_property(key).is_some())
}

/// RTSP over TCP (no lost packets, one port through firewalls), a short jitter buffer, and a
/// TCP timeout of twice the stall timeout: the stall watch notices a silent camera first (and
/// says so), the timeout ends a connection nobody watches any more.
fn configure_rtsp(src: &gst::Element, stall_timeout: Option<Duration>) {
    src.connect("source-setup", false, move |args| {
        let source = args[1].get::<gst::Element>().ok()?;
        if factory_name(&source) == "rtspsrc" {
            source.set_property_from_str("protocols", "tcp");
            source.set_property("latency", RTSP_LATENCY_MS);
            if let Some(t) = stall_timeout {
                source.set_property("tcp-timeout", (2 * t).as_micros() as u64);
            }
        }
        None
    });
}

/// Links the first decoded video stream to the analysis; audio and further streams are left
/// unlinked (decodebin drops them).
fn link_first_video_pad(src: &gst::Element, queue: &gst::Element) {
    let sink = queue.static_pad("sink").expect("a queue has a sink pad");
    src.connect_pad_added(move |_, pad| {
        let video = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if video && !sink.is_linked() {
            let _ = pad.link(&sink);
        }
    });
}

/// `text` with the camera's source credentials and every URL's secrets taken out.
pub fn shown(text: &str, spec: &CameraSpec) -> String {
    fess::secrets::mask_url_in(text, &spec.source)
}

/// A value as `--check` prints it: URLs without credentials, `kafka-config` masked.
fn shown_value(key: &str, value: &str) -> String {
    if key == "kafka-config" {
        fess::delivery::kafka_config::masked(value)
    } else if value.contains("://") {
        fess::secrets::redact_url(value, &["insecure"])
    } else {
        value.to_string()
    }
}

/// The camera's pipeline as a gst-launch-1.0 line, secrets masked (what `--check` prints).
pub fn describe(spec: &CameraSpec) -> String {
    let mut line = format!(
        "uridecodebin uri={} ! queue leaky=downstream max-size-buffers={QUEUED_FRAMES} ! \
         videoconvert ! video/x-raw,format={{I420,NV12,RGB,BGR}}",
        fess::secrets::redact_url(&spec.source, &[])
    );
    for factory in ANALYSIS {
        if factory == "fessface" && !spec.faces {
            continue;
        }
        line.push_str(&format!(" ! {factory} camera-id={}", spec.id));
        for (key, setting) in &spec.properties {
            if has_property(factory, key) {
                line.push_str(&format!(" {key}={}", shown_value(key, &setting.value)));
            }
        }
    }
    line
}
