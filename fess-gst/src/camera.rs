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

/// A stable default when no one named the camera: the source's URI without credentials, query
/// or fragment ([`fess::secrets::camera_id_from_uri`]) if upstream answers a URI query (filesrc,
/// rtspsrc, v4l2src do), else `fallback` (the element's name).
pub fn default_id(pad: &gst::Pad, fallback: &str) -> String {
    uri_camera_id(pad).unwrap_or_else(|| fallback.to_string())
}

/// The camera id from the URI upstream answers, if it does.
fn uri_camera_id(pad: &gst::Pad) -> Option<String> {
    let mut q = gst::query::Uri::new();
    if pad.peer_query(&mut q) {
        return q
            .uri()
            .and_then(|uri| fess::secrets::camera_id_from_uri(&uri));
    }
    None
}

const QUERY_NAME: &str = "fess-camera-id";

/// The camera id the stream will carry, asked upstream before anything flows (the sink names
/// its spool after it when it starts): the nearest upstream fess element with its own
/// `camera-id` answers, else a source linked already gives its URI ([`default_id`]). `None`
/// when upstream cannot say yet (a source whose pads appear later).
pub fn query_upstream(pad: &gst::Pad) -> Option<String> {
    let mut q = gst::query::Custom::new(gst::Structure::new_empty(QUERY_NAME));
    if pad.peer_query(&mut q) {
        if let Some(id) = q
            .structure()
            .and_then(|s| s.get::<String>("camera_id").ok())
        {
            return Some(id);
        }
    }
    uri_camera_id(pad)
}

/// Answers the query of [`query_upstream`] reaching an element's src pad with its own camera
/// id, if it has one; false (the query goes on upstream) otherwise.
pub fn answer_query(
    direction: gst::PadDirection,
    query: &mut gst::QueryRef,
    own: Option<&str>,
) -> bool {
    let Some(id) = own else {
        return false;
    };
    if direction != gst::PadDirection::Src
        || query.type_() != gst::QueryType::Custom
        || query.structure().is_none_or(|s| s.name() != QUERY_NAME)
    {
        return false;
    }
    query.structure_mut().set("camera_id", id);
    true
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
