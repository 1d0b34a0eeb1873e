//! The three events FESS publishes, field for field as `schemas/` specifies them (README, "What
//! is published, and when").
//!
//! Every published message is one of these, serialised with serde_json. Constructors validate
//! their input, so garbage (an empty camera id, a NaN confidence, a box with x2 < x1) is refused
//! with a clear error instead of being published.

pub mod emission;
pub mod rules;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const MOTION_EVENT_TYPE: &str = "motion.detected";
pub const FACE_EVENT_TYPE: &str = "face.recognized";
pub const ALERT_EVENT_TYPE: &str = "alert.triggered";

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("camera_id must not be empty")]
    EmptyCameraId,
    #[error("{field} must be a number between 0 and 1, got {value}")]
    Confidence { field: String, value: f64 },
    #[error("{field}: bbox must have finite coordinates with x1 <= x2 and y1 <= y2, got ({x1}, {y1}, {x2}, {y2})")]
    BBox {
        field: String,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
    },
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("detected_objects has {objects} entries but confidence_scores has {scores}")]
    ScoreCount { objects: usize, scores: usize },
}

/// Why a payload is not one of the events.
#[derive(Debug, thiserror::Error)]
pub enum EventParseError {
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("{event_type}: {source}")]
    Fields {
        event_type: String,
        source: serde_json::Error,
    },
    #[error("unknown event_type '{0}'")]
    UnknownType(String),
}

/// A box in pixels of the frame, `{"x1":…,"y1":…,"x2":…,"y2":…}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BBox {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

impl BBox {
    pub fn new(x1: f64, y1: f64, x2: f64, y2: f64) -> Self {
        BBox { x1, y1, x2, y2 }
    }

    pub fn validate(&self, field: &str) -> Result<(), EventError> {
        let finite = [self.x1, self.y1, self.x2, self.y2]
            .iter()
            .all(|v| v.is_finite());
        if !finite || self.x2 < self.x1 || self.y2 < self.y1 {
            return Err(EventError::BBox {
                field: field.to_string(),
                x1: self.x1,
                y1: self.y1,
                x2: self.x2,
                y2: self.y2,
            });
        }
        Ok(())
    }
}

impl From<(f64, f64, f64, f64)> for BBox {
    fn from((x1, y1, x2, y2): (f64, f64, f64, f64)) -> Self {
        BBox { x1, y1, x2, y2 }
    }
}

/// One entry of `detected_objects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DetectedObject {
    /// The detector's label.
    #[schemars(length(min = 1))]
    pub class: String,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    pub bbox: BBox,
    /// Stable across frames for one object; absent when the source does not track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
}

/// `motion.detected`: objects seen on a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "motion.detected", extend("$id" = "urn:fess:schema:motion.detected"))]
pub struct MotionEvent {
    /// A UUID, unique per event (the CloudEvents `ce_id` header carries it too).
    #[schemars(extend("format" = "uuid"))]
    pub event_id: String,
    #[schemars(extend("const" = "motion.detected"))]
    pub event_type: String,
    /// When it was seen, RFC 3339 in UTC with microseconds.
    #[schemars(extend("format" = "date-time"))]
    pub timestamp: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub camera_id: String,
    pub frame_number: u64,
    pub detected_objects: Vec<DetectedObject>,
    /// The number of `detected_objects`.
    pub total_objects: usize,
    /// The objects' confidences, in their order.
    #[schemars(inner(range(min = 0.0, max = 1.0)))]
    pub confidence_scores: Vec<f64>,
}

/// `face.recognized`: a face matched (or not) against the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "face.recognized", extend("$id" = "urn:fess:schema:face.recognized"))]
pub struct FaceEvent {
    /// A UUID, unique per event (the CloudEvents `ce_id` header carries it too).
    #[schemars(extend("format" = "uuid"))]
    pub event_id: String,
    #[schemars(extend("const" = "face.recognized"))]
    pub event_type: String,
    /// When it was seen, RFC 3339 in UTC with microseconds.
    #[schemars(extend("format" = "date-time"))]
    pub timestamp: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub camera_id: String,
    pub frame_number: u64,
    /// The face track, `face_<track id>`: stable while the face stays in view.
    #[schemars(length(min = 1))]
    pub face_id: String,
    /// `null` for an unknown face.
    pub person_name: Option<String>,
    /// Similarity to the best match in the gallery.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    pub bbox: BBox,
    pub is_authorized: bool,
}

/// Severity of an alert, upper-case on the wire.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlertLevel {
    Info,
    Warning,
    Critical,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "INFO",
            AlertLevel::Warning => "WARNING",
            AlertLevel::Critical => "CRITICAL",
        }
    }
}

impl std::str::FromStr for AlertLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "INFO" => Ok(AlertLevel::Info),
            "WARNING" => Ok(AlertLevel::Warning),
            "CRITICAL" => Ok(AlertLevel::Critical),
            _ => Err(format!(
                "unknown alert level '{s}' (INFO, WARNING or CRITICAL)"
            )),
        }
    }
}

/// `alert.triggered`: a rule fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "alert.triggered", extend("$id" = "urn:fess:schema:alert.triggered"))]
pub struct AlertEvent {
    /// A UUID, unique per event (the CloudEvents `ce_id` header carries it too).
    #[schemars(extend("format" = "uuid"))]
    pub event_id: String,
    #[schemars(extend("const" = "alert.triggered"))]
    pub event_type: String,
    /// When it fired, RFC 3339 in UTC with microseconds.
    #[schemars(extend("format" = "date-time"))]
    pub timestamp: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub camera_id: String,
    pub alert_level: AlertLevel,
    #[schemars(length(min = 1))]
    pub alert_message: String,
    /// Ids of the events that triggered the alert.
    pub associated_events: Vec<String>,
    /// What a crossing, occupancy or timed object rule saw (absent on other alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AlertAnalytics>,
}

/// Which kind of scene rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnalyticsKind {
    /// A tracked object crossed a counting line.
    Crossing,
    /// More objects than the rule allows were in a zone.
    Occupancy,
    /// Objects stayed (in a zone) for the rule's minimum duration.
    Dwell,
}

impl AnalyticsKind {
    /// As in the JSON: `crossing`, `occupancy`, `dwell`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnalyticsKind::Crossing => "crossing",
            AnalyticsKind::Occupancy => "occupancy",
            AnalyticsKind::Dwell => "dwell",
        }
    }
}

/// The details of an alert raised by a line or zone: which rule, line or zone, direction,
/// class and tracks, and the count or time that made it fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertAnalytics {
    /// The name of the rule in the rules file.
    #[schemars(length(min = 1))]
    pub rule: String,
    pub kind: AnalyticsKind,
    /// The counting line crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The direction of the crossing, as the line names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// The zone (absent for an inline polygon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The class of the objects involved (absent when the rule counts every class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_class: Option<String>,
    /// The tracks involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_ids: Vec<u64>,
    /// Occupancy: the objects in the zone when it fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<u64>,
    /// Occupancy: seconds the zone had held more than the rule allows; dwell: seconds the
    /// longest-staying of the tracks had stayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub seconds: Option<f64>,
}

/// Any of the three.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Motion(MotionEvent),
    Face(FaceEvent),
    Alert(AlertEvent),
}

/// Which topic an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Motion,
    Face,
    Alert,
}

impl EventKind {
    /// Every kind, in the order of the topics (motion, faces, alerts).
    pub const ALL: [EventKind; 3] = [EventKind::Motion, EventKind::Face, EventKind::Alert];

    /// Its place in [`EventKind::ALL`], for tables kept per kind.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind as the metrics' `type` label names it.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Motion => "motion",
            EventKind::Face => "face",
            EventKind::Alert => "alert",
        }
    }

    pub fn event_type(self) -> &'static str {
        match self {
            EventKind::Motion => MOTION_EVENT_TYPE,
            EventKind::Face => FACE_EVENT_TYPE,
            EventKind::Alert => ALERT_EVENT_TYPE,
        }
    }

    /// The kind of an `event_type`.
    pub fn of_event_type(event_type: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.event_type() == event_type)
    }

    /// The JSON Schema (draft 2020-12) of this kind's messages, generated from the types; the
    /// repository's `schemas/<event_type>.schema.json` hold it for consumers in any language.
    pub fn json_schema(self) -> serde_json::Value {
        let schema = match self {
            EventKind::Motion => schemars::schema_for!(MotionEvent),
            EventKind::Face => schemars::schema_for!(FaceEvent),
            EventKind::Alert => schemars::schema_for!(AlertEvent),
        };
        let mut value = schema.to_value();
        drop_rust_formats(&mut value);
        value
    }
}

/// Removes the formats schemars gives Rust's number types ("double", "uint64", …): no JSON
/// Schema vocabulary defines them and strict validators (ajv) refuse unknown formats. The
/// standard ones (`date-time`, `uuid`) stay.
fn drop_rust_formats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let standard = ["date-time", "uuid"];
            if map
                .get("format")
                .and_then(|f| f.as_str())
                .is_some_and(|f| !standard.contains(&f))
            {
                map.remove("format");
            }
            map.values_mut().for_each(drop_rust_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_rust_formats),
        _ => {}
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Motion(_) => EventKind::Motion,
            Event::Face(_) => EventKind::Face,
            Event::Alert(_) => EventKind::Alert,
        }
    }

    pub fn event_id(&self) -> &str {
        match self {
            Event::Motion(e) => &e.event_id,
            Event::Face(e) => &e.event_id,
            Event::Alert(e) => &e.event_id,
        }
    }

    /// When it happened (RFC 3339).
    pub fn timestamp(&self) -> &str {
        match self {
            Event::Motion(e) => &e.timestamp,
            Event::Face(e) => &e.timestamp,
            Event::Alert(e) => &e.timestamp,
        }
    }

    pub fn camera_id(&self) -> &str {
        match self {
            Event::Motion(e) => &e.camera_id,
            Event::Face(e) => &e.camera_id,
            Event::Alert(e) => &e.camera_id,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Event::Motion(e) => serde_json::to_vec(e),
            Event::Face(e) => serde_json::to_vec(e),
            Event::Alert(e) => serde_json::to_vec(e),
        }
        .expect("events always serialise")
    }

    /// Parses a message payload, checking its `event_type` (for consumers and tests).
    pub fn from_json(payload: &[u8]) -> Result<Event, EventParseError> {
        let v: serde_json::Value =
            serde_json::from_slice(payload).map_err(EventParseError::NotJson)?;
        let ty = v
            .get("event_type")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string();
        let err = |source| EventParseError::Fields {
            event_type: ty.clone(),
            source,
        };
        match ty.as_str() {
            MOTION_EVENT_TYPE => serde_json::from_value(v).map(Event::Motion).map_err(err),
            FACE_EVENT_TYPE => serde_json::from_value(v).map(Event::Face).map_err(err),
            ALERT_EVENT_TYPE => serde_json::from_value(v).map(Event::Alert).map_err(err),
            _ => Err(EventParseError::UnknownType(ty)),
        }
    }
}

/// A new random event id (UUID v4).
pub fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Now, in ISO-8601 UTC with microseconds (`2024-01-01T12:00:00.123456+00:00`), which Python's
/// `datetime.fromisoformat` and every JSON consumer read.
pub fn now_timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

fn check_camera(camera_id: &str) -> Result<(), EventError> {
    if camera_id.trim().is_empty() {
        return Err(EventError::EmptyCameraId);
    }
    Ok(())
}

fn check_confidence(field: &str, value: f64) -> Result<(), EventError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(EventError::Confidence {
            field: field.to_string(),
            value,
        });
    }
    Ok(())
}

impl MotionEvent {
    /// A validated motion event with a fresh id and timestamp; `total_objects` and
    /// `confidence_scores` follow from the objects when `confidence_scores` is `None`.
    pub fn new(
        camera_id: &str,
        frame_number: u64,
        detected_objects: Vec<DetectedObject>,
        confidence_scores: Option<Vec<f64>>,
    ) -> Result<Self, EventError> {
        check_camera(camera_id)?;
        for (i, o) in detected_objects.iter().enumerate() {
            if o.class.is_empty() {
                return Err(EventError::Empty("detected_objects[].class"));
            }
            check_confidence(&format!("detected_objects[{i}].confidence"), o.confidence)?;
            o.bbox.validate(&format!("detected_objects[{i}].bbox"))?;
        }
        let scores = confidence_scores
            .unwrap_or_else(|| detected_objects.iter().map(|o| o.confidence).collect());
        if scores.len() != detected_objects.len() {
            return Err(EventError::ScoreCount {
                objects: detected_objects.len(),
                scores: scores.len(),
            });
        }
        for (i, s) in scores.iter().enumerate() {
            check_confidence(&format!("confidence_scores[{i}]"), *s)?;
        }
        Ok(MotionEvent {
            event_id: new_event_id(),
            event_type: MOTION_EVENT_TYPE.into(),
            timestamp: now_timestamp(),
            camera_id: camera_id.into(),
            frame_number,
            total_objects: detected_objects.len(),
            detected_objects,
            confidence_scores: scores,
        })
    }
}

impl FaceEvent {
    /// A validated face event with a fresh id and timestamp.
    // The order of `EventPublisher::publish_face_event` (README, "The `fess` library"), which
    // calls it, as do the rule emission (`emission.rs`) and the schema tests.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        camera_id: &str,
        frame_number: u64,
        face_id: &str,
        bbox: BBox,
        confidence: f64,
        person_name: Option<&str>,
        is_authorized: bool,
    ) -> Result<Self, EventError> {
        check_camera(camera_id)?;
        if face_id.is_empty() {
            return Err(EventError::Empty("face_id"));
        }
        check_confidence("confidence", confidence)?;
        bbox.validate("bbox")?;
        Ok(FaceEvent {
            event_id: new_event_id(),
            event_type: FACE_EVENT_TYPE.into(),
            timestamp: now_timestamp(),
            camera_id: camera_id.into(),
            frame_number,
            face_id: face_id.into(),
            person_name: person_name.map(str::to_string),
            confidence,
            bbox,
            is_authorized,
        })
    }
}

impl AlertEvent {
    /// A validated alert with a fresh id and timestamp.
    pub fn new(
        camera_id: &str,
        alert_level: AlertLevel,
        message: &str,
        associated_events: Vec<String>,
    ) -> Result<Self, EventError> {
        check_camera(camera_id)?;
        if message.trim().is_empty() {
            return Err(EventError::Empty("alert_message"));
        }
        Ok(AlertEvent {
            event_id: new_event_id(),
            event_type: ALERT_EVENT_TYPE.into(),
            timestamp: now_timestamp(),
            camera_id: camera_id.into(),
            alert_level,
            alert_message: message.into(),
            associated_events,
            analytics: None,
        })
    }

    /// With the details of the line or zone that raised it.
    pub fn with_analytics(mut self, analytics: AlertAnalytics) -> Self {
        self.analytics = Some(analytics);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_event_has_every_field_of_the_document() {
        let e = MotionEvent::new(
            "cam_01",
            1234,
            vec![DetectedObject {
                class: "person".into(),
                confidence: 0.95,
                bbox: BBox::new(0.0, 0.0, 100.0, 100.0),
                track_id: Some(7),
            }],
            None,
        )
        .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&Event::Motion(e.clone()).to_json()).unwrap();
        // Exactly the schema's fields (the map sorts them).
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut expected = vec![
            "event_id",
            "event_type",
            "timestamp",
            "camera_id",
            "frame_number",
            "detected_objects",
            "total_objects",
            "confidence_scores",
        ];
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(v["event_type"], "motion.detected");
        assert_eq!(v["total_objects"], 1);
        assert_eq!(v["confidence_scores"][0], 0.95);
        assert_eq!(v["detected_objects"][0]["bbox"]["x2"], 100.0);
        assert_eq!(v["detected_objects"][0]["track_id"], 7);
        assert!(uuid::Uuid::parse_str(v["event_id"].as_str().unwrap()).is_ok());
        assert!(chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok());
        assert_eq!(
            Event::from_json(&Event::Motion(e.clone()).to_json()).unwrap(),
            Event::Motion(e)
        );
    }

    #[test]
    fn face_and_alert_serialise_as_documented() {
        let f = FaceEvent::new(
            "cam_01",
            1235,
            "face_123",
            BBox::new(10.0, 20.0, 30.0, 40.0),
            0.98,
            None,
            false,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&Event::Face(f).to_json()).unwrap();
        assert_eq!(v["person_name"], serde_json::Value::Null);
        assert_eq!(
            v["bbox"],
            serde_json::json!({"x1": 10.0, "y1": 20.0, "x2": 30.0, "y2": 40.0})
        );
        let a = AlertEvent::new(
            "cam_01",
            AlertLevel::Critical,
            "Unauthorized access detected",
            vec!["e1".into()],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&Event::Alert(a).to_json()).unwrap();
        assert_eq!(v["alert_level"], "CRITICAL");
        assert_eq!(v["associated_events"], serde_json::json!(["e1"]));
    }

    #[test]
    fn garbage_is_refused() {
        let obj = |c: f64, b: BBox| DetectedObject {
            class: "person".into(),
            confidence: c,
            bbox: b,
            track_id: None,
        };
        let ok_box = BBox::new(0.0, 0.0, 1.0, 1.0);
        assert_eq!(
            MotionEvent::new(" ", 1, vec![], None).unwrap_err(),
            EventError::EmptyCameraId
        );
        let e = MotionEvent::new("c", 1, vec![obj(f64::NAN, ok_box)], None).unwrap_err();
        assert!(e.to_string().contains("between 0 and 1"), "{e}");
        let e = MotionEvent::new("c", 1, vec![obj(1.5, ok_box)], None).unwrap_err();
        assert!(
            e.to_string().contains("detected_objects[0].confidence"),
            "{e}"
        );
        let e = FaceEvent::new(
            "c",
            1,
            "f",
            BBox::new(30.0, 0.0, 10.0, 5.0),
            0.5,
            None,
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("x1 <= x2"), "{e}");
        let e = MotionEvent::new("c", 1, vec![obj(0.5, ok_box)], Some(vec![])).unwrap_err();
        assert_eq!(
            e,
            EventError::ScoreCount {
                objects: 1,
                scores: 0
            }
        );
        assert!(AlertEvent::new("c", AlertLevel::Info, "", vec![]).is_err());
        assert_eq!("critical".parse::<AlertLevel>(), Ok(AlertLevel::Critical));
    }
}
