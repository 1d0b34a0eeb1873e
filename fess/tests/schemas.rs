//! The JSON Schemas in `schemas/` are the ones the event types generate, and they accept real
//! events and refuse broken ones. (Every message the tests read back from Kafka is validated
//! against them too: `fess_testkit::Reader`.)
//!
//! After changing an event type: `FESS_WRITE_SCHEMAS=1 cargo test -p fess --test schemas`.

use std::path::PathBuf;

use fess::events::{
    AlertEvent, AlertLevel, BBox, DetectedObject, Event, EventKind, FaceEvent, MotionEvent,
};

fn schema_file(kind: EventKind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(format!("{}.schema.json", kind.event_type()))
}

#[test]
fn the_committed_schemas_are_the_generated_ones() {
    for kind in EventKind::ALL {
        let generated = serde_json::to_string_pretty(&kind.json_schema()).unwrap() + "\n";
        let path = schema_file(kind);
        if std::env::var_os("FESS_WRITE_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            committed,
            generated,
            "{} is stale: FESS_WRITE_SCHEMAS=1 cargo test -p fess --test schemas",
            path.display()
        );
    }
}

fn events() -> Vec<Event> {
    let object = DetectedObject {
        class: "person".into(),
        confidence: 0.91,
        bbox: BBox::new(10.0, 20.0, 110.0, 220.0),
        track_id: Some(7),
    };
    let motion = MotionEvent::new("cam_01", 42, vec![object], None).unwrap();
    let face = FaceEvent::new(
        "cam_01",
        42,
        "face_3",
        BBox::new(30.0, 30.0, 70.0, 80.0),
        0.77,
        Some("José Müller"),
        false,
    )
    .unwrap();
    let unknown = FaceEvent::new(
        "cam_01",
        43,
        "face_4",
        BBox::new(0.0, 0.0, 1.0, 1.0),
        0.2,
        None,
        false,
    )
    .unwrap();
    let alert = AlertEvent::new(
        "cam_01",
        AlertLevel::Critical,
        "Unauthorized person detected",
        vec![face.event_id.clone()],
    )
    .unwrap();
    vec![
        Event::Motion(motion),
        Event::Face(face),
        Event::Face(unknown),
        Event::Alert(alert),
    ]
}

#[test]
fn real_events_pass_and_broken_ones_fail() {
    for event in events() {
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        fess_testkit::check_event_schema(&json).unwrap();
        let kind = event.kind();
        let broken: [(&str, serde_json::Value); 5] = [
            ("event_type", "something.else".into()),
            ("timestamp", "yesterday".into()),
            ("event_id", "42".into()),
            ("camera_id", " ".into()),
            ("frame_number", (-1).into()),
        ];
        for (field, value) in broken {
            if kind == EventKind::Alert && field == "frame_number" {
                continue;
            }
            let mut bad = json.clone();
            bad[field] = value;
            assert!(
                fess_testkit::check_event_schema(&bad).is_err(),
                "{kind:?} with {field} = {}",
                bad[field]
            );
        }
        let mut missing = json.clone();
        missing.as_object_mut().unwrap().remove("camera_id");
        assert!(fess_testkit::check_event_schema(&missing).is_err());
    }
    let mut motion: serde_json::Value = serde_json::from_slice(&events()[0].to_json()).unwrap();
    motion["detected_objects"][0]["confidence"] = 1.5.into();
    assert!(fess_testkit::check_event_schema(&motion).is_err());
    let mut alert: serde_json::Value = serde_json::from_slice(&events()[3].to_json()).unwrap();
    alert["alert_level"] = "PANIC".into();
    assert!(fess_testkit::check_event_schema(&alert).is_err());
}
