//! What the fess elements do the same way: the camera id they pass on (the analysis elements,
//! fessdetect and fessface) and report their stats under (those and fesskafkasink), the video
//! info from the caps, model load errors.

use std::sync::Mutex;

use fess::sync::MutexExt;
use gst::prelude::*;

use fess_gst::camera::CameraEvent;
use fess_gst::video_frame::pixel_format;
use fess_vision::runtime::inference::InferenceError;

/// The stream's camera id as an element knows it, and its stats reporter (which reports under
/// that id).
pub struct Camera {
    /// From upstream's sticky event.
    upstream: Option<String>,
    /// The camera event has gone downstream (ours, or upstream's passed on).
    sent: bool,
    pub id: String,
    reporter: fess::observability::stats::StatsReporter,
    cat: gst::DebugCategory,
}

impl Camera {
    /// `kind` names the element in the stats protocol; its stats go under its own camera id
    /// (`own`) from the start, else under its name until the stream's camera id is known.
    pub fn new(
        element: &gst::Element,
        kind: &str,
        own: Option<String>,
        cat: gst::DebugCategory,
    ) -> Self {
        let name = element.name();
        let id = own.unwrap_or_else(|| name.to_string());
        Camera {
            upstream: None,
            sent: false,
            reporter: fess::observability::stats::StatsReporter::new(kind, &name, &id),
            id,
            cat,
        }
    }

    /// Sends the element's stats (built by `metrics` for this camera id) once a report is due
    /// (a non-blocking send of a few hundred bytes, once a second), or now when `last`: the
    /// stream's final totals, so the exporter sees its end.
    pub fn report(
        &mut self,
        last: bool,
        metrics: impl FnOnce(&str) -> Vec<fess::observability::stats::Metric>,
    ) {
        if last || self.reporter.due() {
            let metrics = metrics(&self.id);
            self.reporter.send(metrics);
        }
    }

    /// What keeps the element from doing its job, sent with every report from now on (empty:
    /// nothing); the exporter's `/health` shows it.
    pub fn set_problems(&mut self, problems: Vec<String>) {
        self.reporter.set_problems(problems);
    }

    fn set_id(&mut self, id: String) {
        self.reporter.set_camera_id(&id);
        self.id = id;
    }

    /// Upstream's camera event. Returns whether it goes on downstream: not when the element's
    /// own `camera-id` is set (`own`), which is sent instead before the next buffer.
    pub fn upstream_event(&mut self, event: &CameraEvent, own: bool) -> bool {
        self.upstream = Some(event.camera_id.clone());
        if own {
            return false;
        }
        self.set_id(event.camera_id.clone());
        self.sent = true;
        true
    }

    /// Whether the camera id has yet to go downstream (then upstream's id, if one came).
    fn unannounced(&self) -> Option<Option<String>> {
        (!self.sent).then(|| self.upstream.clone())
    }

    /// Books `id` as the stream's camera id sent downstream; the event to push, unless
    /// upstream's event went on meanwhile.
    fn announced(
        &mut self,
        element: &gst::Element,
        id: String,
        detector: bool,
    ) -> Option<gst::Event> {
        if self.sent {
            return None;
        }
        gst::debug!(self.cat, obj = element, "camera id {}", id);
        self.sent = true;
        self.set_id(id.clone());
        Some(fess_gst::camera::event(&id, detector))
    }
}

/// Sends the camera id downstream once per stream, before the first buffer, unless upstream's
/// went on: the element's own `camera-id` (`own`), else upstream's, else a default
/// ([`fess_gst::camera::resolve`]). `detector` tells later elements to expect object ROIs.
/// `camera` finds the element's [`Camera`] in its state, which is locked only to read and book
/// it: the default may ask upstream for its URI, and the event is pushed, without the lock.
pub fn announce_camera<S>(
    element: &gst::Element,
    state: &Mutex<Option<S>>,
    camera: impl Fn(&mut S) -> &mut Camera,
    own: Option<String>,
    detector: bool,
) {
    let Some(upstream) = state
        .locked()
        .as_mut()
        .and_then(|s| camera(s).unannounced())
    else {
        return;
    };
    let id = fess_gst::camera::resolve(own, upstream.as_deref(), element);
    let event = state
        .locked()
        .as_mut()
        .and_then(|s| camera(s).announced(element, id, detector));
    if let (Some(event), Some(src)) = (event, element.static_pad("src")) {
        src.push_event(event);
    }
}

/// Runs `f` on the per-frame stage an element keeps in its state (`stage` finds it there),
/// without the state lock, as the stage may wait for inferences or Redis: the stage is taken
/// out meanwhile and put back after. Only the streaming thread runs the stage (serialized
/// events included), so nobody finds it out. `None` when the element is stopped.
pub fn with_stage<S, T, R>(
    state: &Mutex<Option<S>>,
    stage: impl Fn(&mut S) -> &mut Option<T>,
    f: impl FnOnce(&mut T) -> R,
) -> Option<R> {
    let mut taken = stage(state.locked().as_mut()?).take()?;
    let result = f(&mut taken);
    if let Some(s) = state.locked().as_mut() {
        *stage(s) = Some(taken);
    }
    Some(result)
}

/// The video info of raw caps in a format the analysis elements read.
pub fn video_info(
    cat: gst::DebugCategory,
    caps: &gst::Caps,
) -> Result<gst_video::VideoInfo, gst::LoggableError> {
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|_| gst::loggable_error!(cat, "cannot parse video caps {caps}"))?;
    if pixel_format(info.format()).is_none() {
        return Err(gst::loggable_error!(
            cat,
            "unsupported format {:?}",
            info.format()
        ));
    }
    Ok(info)
}

/// The element error for a model that could not be loaded: a missing file is "not found", one
/// the runtime cannot read "cannot open", and one that loaded but does not fit what the element
/// needs (`runtime` is `None`) a settings error.
pub fn load_error(
    message: impl std::fmt::Display,
    runtime: Option<&InferenceError>,
) -> gst::ErrorMessage {
    let kind = match runtime {
        Some(InferenceError::MissingModel(_)) => gst::ResourceError::NotFound,
        Some(_) => gst::ResourceError::OpenRead,
        None => gst::ResourceError::Settings,
    };
    gst::error_msg!(kind, ["{}", message])
}
