//! The EventPublisher against a real Kafka-protocol broker (tansu), read back by a real consumer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fess::delivery::publisher::{EventPublisher, Severity};
use fess::events::{AlertLevel, BBox, DetectedObject, Event};
use fess_testkit::*;

const TOPICS: [&str; 3] = [
    "motion.detection.events",
    "face.recognition.events",
    "alert.events",
];

fn publisher(bootstrap: &str) -> fess::delivery::publisher::PublisherBuilder {
    EventPublisher::builder()
        .bootstrap_servers(bootstrap)
        .topics(TOPICS[0], TOPICS[1], TOPICS[2])
        .flush_timeout(Duration::from_secs(10))
}

fn person(track: u64) -> DetectedObject {
    DetectedObject {
        class: "person".into(),
        confidence: 0.95,
        bbox: BBox::new(0.0, 0.0, 100.0, 100.0),
        track_id: Some(track),
    }
}

type Seen = Arc<Mutex<Vec<String>>>;

/// Waits up to 10 s for a warning containing `text`.
fn warned_about(seen: &Seen, text: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if seen.lock().unwrap().iter().any(|w| w.contains(text)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A log sink that remembers warnings.
fn warnings() -> (Seen, impl Fn(Severity, &str) + Send + Sync + 'static) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |sev, msg: &str| {
        if sev == Severity::Warning || sev == Severity::Error {
            s.lock().unwrap().push(msg.to_string());
        }
    })
}

#[test]
fn each_call_publishes_exactly_the_documents_json() {
    let broker = Broker::start();
    let p = publisher(&broker.bootstrap()).build().unwrap();
    let motion = p
        .publish_motion_event("cam_01", 1234, vec![person(3)], vec![0.95])
        .unwrap();
    let face = p
        .publish_face_event(
            "cam_01",
            1235,
            "face_123",
            (10.0, 20.0, 30.0, 40.0),
            0.98,
            Some("John Doe"),
            true,
        )
        .unwrap();
    let alert = p
        .publish_alert(
            "cam_01",
            AlertLevel::Critical,
            "Unauthorized access detected",
        )
        .unwrap();
    p.close();
    let stats = p.stats();
    assert_eq!(
        stats.topics.iter().map(|(_, c)| c.success).sum::<u64>(),
        3,
        "{stats:?}"
    );

    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.read_until(Duration::from_secs(30), |s| s.len() >= 3),
        "consumed {:?}",
        r.seen
    );
    let by_id = |id: &str| {
        r.seen
            .iter()
            .find(|c| c.json["event_id"] == id)
            .unwrap()
            .clone()
    };

    let m = by_id(&motion);
    assert_eq!(m.topic, TOPICS[0]);
    assert_eq!(m.key, "cam_01");
    assert_eq!(m.header("event_type"), Some("motion.detected"));
    assert_eq!(m.header("event_id"), Some(motion.as_str()));
    assert_eq!(m.header("content-type"), Some("application/json"));
    // CloudEvents' Kafka binding (binary mode) on every message.
    for c in &r.seen {
        let j = &c.json;
        assert_eq!(c.header("ce_specversion"), Some("1.0"));
        assert_eq!(c.header("ce_id"), j["event_id"].as_str());
        assert_eq!(c.header("ce_type"), j["event_type"].as_str());
        assert_eq!(c.header("ce_source"), Some("fess/cam_01"));
        assert_eq!(c.header("ce_time"), j["timestamp"].as_str());
    }
    let j = &m.json;
    assert_eq!(j["event_type"], "motion.detected");
    assert_eq!(j["camera_id"], "cam_01");
    assert_eq!(j["frame_number"], 1234);
    assert_eq!(j["total_objects"], 1);
    assert_eq!(j["confidence_scores"], serde_json::json!([0.95]));
    assert_eq!(
        j["detected_objects"],
        serde_json::json!([{"class": "person", "confidence": 0.95, "track_id": 3,
                            "bbox": {"x1": 0.0, "y1": 0.0, "x2": 100.0, "y2": 100.0}}])
    );
    assert!(chrono::DateTime::parse_from_rfc3339(j["timestamp"].as_str().unwrap()).is_ok());

    let f = by_id(&face);
    assert_eq!(
        (f.topic.as_str(), f.header("event_type")),
        (TOPICS[1], Some("face.recognized"))
    );
    assert_eq!(
        f.json,
        serde_json::json!({
            "event_id": face, "event_type": "face.recognized", "timestamp": f.json["timestamp"],
            "camera_id": "cam_01", "frame_number": 1235, "face_id": "face_123",
            "person_name": "John Doe", "confidence": 0.98,
            "bbox": {"x1": 10.0, "y1": 20.0, "x2": 30.0, "y2": 40.0}, "is_authorized": true
        })
    );
    let a = by_id(&alert);
    assert_eq!(
        a.json,
        serde_json::json!({
            "event_id": alert, "event_type": "alert.triggered", "timestamp": a.json["timestamp"],
            "camera_id": "cam_01", "alert_level": "CRITICAL",
            "alert_message": "Unauthorized access detected", "associated_events": []
        })
    );
    // Every message parses back into its schema type.
    for c in &r.seen {
        Event::from_json(&serde_json::to_vec(&c.json).unwrap()).unwrap();
    }
}

#[test]
fn misuse_is_refused_and_nothing_is_published() {
    let broker = Broker::start();
    let p = publisher(&broker.bootstrap()).build().unwrap();
    let e = p
        .publish_motion_event("", 1, vec![], vec![])
        .unwrap_err()
        .to_string();
    assert!(e.contains("camera_id must not be empty"), "{e}");
    let e = p
        .publish_face_event("cam", 1, "f", (0.0, 0.0, 1.0, 1.0), f64::NAN, None, false)
        .unwrap_err();
    assert!(e.to_string().contains("confidence"), "{e}");
    let e = p
        .publish_face_event("cam", 1, "f", (0.0, 0.0, 1.0, 1.0), 1.5, None, false)
        .unwrap_err();
    assert!(e.to_string().contains("between 0 and 1"), "{e}");
    let e = p
        .publish_face_event("cam", 1, "f", (30.0, 20.0, 10.0, 40.0), 0.5, None, false)
        .unwrap_err();
    assert!(e.to_string().contains("x1 <= x2"), "{e}");
    p.close();
    let stats = p.stats();
    assert!(
        stats
            .topics
            .iter()
            .all(|(_, c)| c.success + c.spooled + c.error == 0),
        "{stats:?}"
    );
}

#[test]
fn broker_down_at_start_events_wait_then_arrive() {
    let port = free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let (warned, log) = warnings();
    let p = publisher(&bootstrap).on_log(log).build().unwrap();
    let ids: Vec<String> = (0..50)
        .map(|i| {
            p.publish_alert("cam_01", AlertLevel::Info, &format!("n{i}"))
                .unwrap()
        })
        .collect();
    assert!(warned_about(&warned, "not reachable"), "{warned:?}");
    assert!(!p.stats().broker_up);
    let broker = Broker::start_on(port);
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= 50),
        "consumed {}",
        r.seen.len()
    );
    let got = r.ids();
    assert!(ids.iter().all(|id| got.contains(id)));
    p.close();
}

#[test]
fn closing_with_the_broker_down_spools_and_the_next_publisher_replays_in_order() {
    let port = free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let spool = tmp_dir("replay-spool");
    let first = publisher(&bootstrap)
        .spool_dir(&spool)
        .flush_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let ids: Vec<String> = (0..30)
        .map(|i| {
            first
                .publish_motion_event("cam_07", i, vec![person(i)], vec![0.95])
                .unwrap()
        })
        .collect();
    first.close();
    let s = first.stats();
    assert_eq!(s.spool_records, 30, "{s:?}");
    assert_eq!(s.topics[0].1.spooled, 30);
    drop(first);

    let broker = Broker::start_on(port);
    let second = publisher(&broker.bootstrap())
        .spool_dir(&spool)
        .build()
        .unwrap();
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= 30),
        "consumed {}",
        r.seen.len()
    );
    // One key, so one partition: the order of the camera's events is kept.
    let got: Vec<String> = r
        .seen
        .iter()
        .map(|c| c.json["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ids);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(second.stats().spool_records, 0);
    second.close();
}

#[test]
fn a_full_spool_drops_the_oldest_counts_and_warns() {
    let bootstrap = format!("127.0.0.1:{}", free_port());
    let (warned, log) = warnings();
    let p = publisher(&bootstrap)
        .spool_dir(tmp_dir("full-spool"))
        .spool_max_bytes(16 * 1024)
        .kafka_config("queue.buffering.max.messages=10")
        .flush_timeout(Duration::from_millis(200))
        .on_log(log)
        .build()
        .unwrap();
    for i in 0..500 {
        p.publish_motion_event("cam_01", i, vec![person(1)], vec![0.95])
            .unwrap();
    }
    let s = p.stats();
    let c = s.topics[0].1;
    assert!(c.dropped > 0, "{s:?}");
    assert!(s.spool_bytes <= 16 * 1024, "{s:?}");
    // Everything is accounted for: queued in librdkafka, in the spool, or dropped.
    assert_eq!(s.queued + s.spool_records + c.dropped, 500, "{s:?}");
    assert!(
        warned.lock().unwrap().iter().any(|w| w.contains("is full")),
        "{warned:?}"
    );
    p.close();
}

#[test]
fn bad_configuration_gets_a_clear_error() {
    let e = publisher("127.0.0.1:9")
        .kafka_config("no.such.property=1")
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no.such.property"), "{e}");
    let e = publisher("127.0.0.1:9")
        .compression("brotli")
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("compression: 'brotli'"), "{e}");
    let e = publisher("127.0.0.1:9")
        .kafka_config("sasl.password=hunter2;garbage")
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("kafka-config") && !e.contains("hunter2"), "{e}");
    let e = publisher("no-port-here").build().err().unwrap().to_string();
    assert!(e.contains("bootstrap-servers"), "{e}");
}

#[test]
fn an_unresolvable_host_degrades_to_spooling() {
    let (warned, log) = warnings();
    let spool = tmp_dir("unresolvable");
    let p = publisher("kafka.does-not-exist.invalid:9092")
        .spool_dir(&spool)
        .flush_timeout(Duration::from_millis(500))
        .on_log(log)
        .build()
        .unwrap();
    let id = p.publish_alert("cam_01", AlertLevel::Warning, "x").unwrap();
    assert!(!id.is_empty());
    assert!(warned_about(&warned, "not reachable"), "{warned:?}");
    assert!(!p.stats().broker_up);
    p.close();
    assert_eq!(p.stats().spool_records, 1);
}

#[test]
fn events_that_expired_while_the_broker_was_down_arrive_in_order() {
    let port = free_port();
    let p = publisher(&format!("127.0.0.1:{port}"))
        .spool_dir(tmp_dir("expired-order"))
        .kafka_config("message.timeout.ms=1000")
        .build()
        .unwrap();
    let cameras = ["cam_a", "cam_b"];
    for i in 0..200 {
        p.publish_motion_event(cameras[i % 2], i as u64, vec![person(1)], vec![0.9])
            .unwrap();
    }
    // Every event expires in librdkafka's queue and waits in the spool.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while p.stats().topics[0].1.spooled < 200 {
        assert!(std::time::Instant::now() < deadline, "{:?}", p.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    let broker = Broker::start_on(port);
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= 200),
        "consumed {}",
        r.seen.len()
    );
    for cam in cameras {
        let frames: Vec<u64> = r
            .seen
            .iter()
            .filter(|c| c.key == cam)
            .map(|c| c.json["frame_number"].as_u64().unwrap())
            .collect();
        let mut sorted = frames.clone();
        sorted.sort_unstable();
        assert_eq!(frames, sorted, "{cam}'s events out of order");
        assert_eq!(frames.len(), 100);
    }
    p.close();
}

#[test]
fn a_broker_restarted_between_two_checks_gets_its_topics_back() {
    let mut broker = Broker::start();
    let p = publisher(&broker.bootstrap()).build().unwrap();
    let first = p
        .publish_alert("cam_01", AlertLevel::Info, "before")
        .unwrap();
    assert!(p.flush(Duration::from_secs(30)));
    // Killed and started again at once: the publisher may never see it down, and must still
    // notice that the topics are gone. (Sent before they are back, tansu acknowledges events
    // to a missing topic and drops them, so the test waits for the topics first.)
    broker.restart();
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.wait_for_topics(Duration::from_secs(30)),
        "the topics were not created again"
    );
    let ids: Vec<String> = (0..5)
        .map(|i| {
            p.publish_alert("cam_01", AlertLevel::Info, &format!("after {i}"))
                .unwrap()
        })
        .collect();
    assert!(
        r.read_until(Duration::from_secs(60), |seen| seen.len() >= 5),
        "read {} of the 5 events sent after the restart",
        r.seen.len()
    );
    let got = r.ids();
    assert!(ids.iter().all(|id| got.contains(id)) && !got.contains(&first));
    p.close();
}
