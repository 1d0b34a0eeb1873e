//! Shared test setup: GStreamer with the plugin registered, real media and models from the
//! setup cache, and the constructed test models.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};

use fess_gst::roi_meta;
use fess_vision::objects::RoiObject;
use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstfess::plugin_register_static().expect("registering the fess plugin");
    });
}

/// A file of the setup cache's media folder; fails loudly when setup has not run.
#[allow(unused_imports)] // not every test binary reads media
pub use fess_testkit::media;

pub fn model(name: &str) -> PathBuf {
    let p = fess_vision::paths::models_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh first",
        p.display()
    );
    p
}

/// The models built by `tests/models/make_test_models.py`, made once per test binary.
pub fn test_model(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fess-test-models-{}", std::process::id()));
        let python = std::env::var_os("FESS_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| fess::dirs::cache_dir().join("venv"))
            .join("bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/setup.sh first",
            python.display()
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/make_test_models.py");
        let status = Command::new(&python)
            .arg(&script)
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "{} failed", script.display());
        dir
    });
    dir.join(name)
}

/// One decoded image as a packed RGB buffer with its caps.
pub fn decode_image(path: &Path) -> (gst::Caps, gst::Buffer) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().expect("a decoded image");
    pipeline.set_state(gst::State::Null).unwrap();
    (
        sample.caps().unwrap().to_owned(),
        sample.buffer_owned().unwrap(),
    )
}

/// Everything a pipeline produced at its `appsink name=sink`, plus the bus error if any.
pub struct Run {
    pub buffers: Vec<gst::Buffer>,
    pub error: Option<String>,
    /// Warning messages posted on the bus.
    pub warnings: Vec<String>,
    /// Element messages posted on the bus, in order.
    pub messages: Vec<gst::Structure>,
    /// `stats` of the element named `detect`.
    pub stats: Option<gst::Structure>,
    /// `stats` of every element that has one, by name, read at EOS.
    pub all_stats: std::collections::HashMap<String, gst::Structure>,
}

impl Run {
    /// The element messages called `name`.
    pub fn messages(&self, name: &str) -> Vec<&gst::Structure> {
        self.messages.iter().filter(|m| m.name() == name).collect()
    }

    pub fn objects(&self) -> Vec<Vec<RoiObject>> {
        self.buffers.iter().map(|b| roi_meta::read(b)).collect()
    }
}

/// Runs a launch line to EOS or error, collecting `appsink name=sink` output and the stats of
/// `fessdetect name=detect` when there is one.
pub fn run_pipeline(launch: &str) -> Run {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("cannot parse {launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .map(|s| s.downcast::<gst_app::AppSink>().unwrap());
    let buffers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    if let Some(sink) = &sink {
        let out = buffers.clone();
        sink.set_property("sync", false);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    out.lock().unwrap().push(sample.buffer_owned().unwrap());
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let mut error = None;
    let mut warnings = Vec::new();
    let mut messages = Vec::new();
    match pipeline.set_state(gst::State::Playing) {
        Ok(_) | Err(_) => {}
    }
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!(
                    "{} ({})",
                    e.error(),
                    e.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
                break;
            }
            gst::MessageView::Warning(w) => warnings.push(format!(
                "{} ({})",
                w.error(),
                w.debug().map(|d| d.to_string()).unwrap_or_default()
            )),
            gst::MessageView::Element(e) => messages.extend(e.structure().map(|s| s.to_owned())),
            _ => {}
        }
    }
    let stats = pipeline
        .by_name("detect")
        .map(|d| d.property::<gst::Structure>("stats"));
    let all_stats = pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| {
            e.find_property("stats")
                .is_some_and(|p| p.value_type() == gst::Structure::static_type())
        })
        .map(|e| (e.name().to_string(), e.property::<gst::Structure>("stats")))
        .collect();
    pipeline.set_state(gst::State::Null).unwrap();
    let buffers = std::mem::take(&mut *buffers.lock().unwrap());
    Run {
        buffers,
        error,
        warnings,
        messages,
        stats,
        all_stats,
    }
}
