//! The stream's `camera_id`, passed downstream in a sticky custom event so every fess element
//! after the first knows which camera it is looking at.

use gst::prelude::*;

const EVENT_NAME: &str = "fess-camera";

/// What the event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraEvent {
    pub camera_id: String,
    /// Sent by an object detector: later elements may expect its ROIs on every buffer.
    pub detector: bool,
}

/// A sticky downstream event carrying `camera_id`.
pub fn event(camera_id: &str, detector: bool) -> gst::Event {
    gst::event::CustomDownstreamSticky::builder(
        gst::Structure::builder(EVENT_NAME)
            .field("camera_id", camera_id)
            .field("detector", detector)
            .build(),
    )
    .build()
}

/// What an event carries, if it is ours.
pub fn parse(event: &gst::EventRef) -> Option<CameraEvent> {
    let s = event.structure()?;
    if event.type_() != gst::EventType::CustomDownstreamSticky || s.name() != EVENT_NAME {
        return None;
    }
    Some(CameraEvent {
        camera_id: s.get::<String>("camera_id").ok()?,
        detector: s.get::<bool>("detector").unwrap_or(false),
    })
}

/// A stable default when no one named the camera: the source's URI if upstream answers a URI
/// query (filesrc, rtspsrc, v4l2src do), else the element's name.
pub fn default_id(pad: &gst::Pad, fallback: &str) -> String {
    let mut q = gst::query::Uri::new();
    if pad.peer_query(&mut q) {
        if let Some(uri) = q.uri() {
            return uri.to_string();
        }
    }
    fallback.to_string()
}

/// The camera id an element uses: its own `camera-id` when set, else upstream's, else
/// [`default_id`] from `element`'s sink pad.
pub fn resolve(own: Option<String>, upstream: Option<&str>, element: &gst::Element) -> String {
    match own.filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => match upstream {
            Some(id) => id.to_string(),
            None => default_id(
                &element
                    .static_pad("sink")
                    .expect("fess elements have a sink pad"),
                &element.name(),
            ),
        },
    }
}
