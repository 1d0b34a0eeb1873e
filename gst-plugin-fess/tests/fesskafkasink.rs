//! fesskafkasink in real pipelines on real video, into a real Kafka-protocol broker (tansu).

mod common;

use std::time::Duration;

use common::*;
use fess::Event;
use fess_testkit::{free_port, tmp_dir, Broker, Reader};

const TOPICS: [&str; 3] = [
    "motion.detection.events",
    "face.recognition.events",
    "alert.events",
];

fn counts(stats: &gst::Structure, topic: &str) -> gst::Structure {
    stats
        .get::<gst::Structure>("topics")
        .unwrap()
        .get::<gst::Structure>(topic)
        .unwrap()
}

#[test]
fn vtest_publishes_per_track_events_and_rule_alerts() {
    let broker = Broker::start();
    let rules = tmp_dir("sink-rules").with_extension("toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "people"
when = "object"
class = "person"
min_duration = 1.0
level = "WARNING"
message = "Person present"
cooldown = 20
"#,
    )
    .unwrap();
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! fessdetect name=detect camera-id=cam_vtest motion-gate=false ! \
         fesskafkasink name=events bootstrap-servers={} spool-dir=\"{}\" alert-rules=\"{}\"",
        media("vtest.avi").display(),
        broker.bootstrap(),
        tmp_dir("sink-spool").display(),
        rules.display()
    ));
    assert_eq!(run.error, None);
    let stats = &run.all_stats["events"];
    let built = |k: &str| stats.get::<u64>(k).unwrap();
    let (motion, alerts) = (built("motion-events"), built("alert-events"));
    assert_eq!(stats.get::<u64>("frames").unwrap(), 795);
    // Per track, not per frame: a few events per distinct person, far fewer than frames.
    assert!(
        (20..300).contains(&motion),
        "{motion} motion events for 795 frames"
    );
    // The rule fires after 1 s, then at most every 20 s of a 79 s clip.
    assert!((1..=5).contains(&alerts), "{alerts} alerts");
    assert_eq!(
        counts(stats, TOPICS[0]).get::<u64>("success").unwrap(),
        motion
    );

    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    let want = (motion + alerts) as usize;
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= want),
        "consumed {} of {want}",
        r.seen.len()
    );
    let mut motion_ids = std::collections::BTreeSet::new();
    for c in &r.seen {
        assert_eq!(c.key, "cam_vtest");
        let e = Event::from_json(&serde_json::to_vec(&c.json).unwrap()).expect("schema");
        assert_eq!(c.header("event_type"), Some(e.kind().event_type()));
        assert_eq!(c.header("event_id"), Some(e.event_id()));
        if let Event::Motion(m) = &e {
            assert_eq!(c.topic, TOPICS[0]);
            assert!(m.total_objects > 0 && m.total_objects == m.detected_objects.len());
            for o in &m.detected_objects {
                assert!(o.track_id.is_some());
                assert!(
                    o.bbox.x2 <= 768.0 && o.bbox.y2 <= 576.0 && o.bbox.x1 < o.bbox.x2,
                    "{o:?}"
                );
            }
            motion_ids.insert(m.event_id.clone());
        }
    }
    let alert_events: Vec<_> = r
        .seen
        .iter()
        .filter_map(
            |c| match Event::from_json(&serde_json::to_vec(&c.json).unwrap()).unwrap() {
                Event::Alert(a) => Some(a),
                _ => None,
            },
        )
        .collect();
    assert_eq!(alert_events.len() as u64, alerts);
    for a in &alert_events {
        assert_eq!(
            (a.alert_message.as_str(), a.alert_level),
            ("Person present", fess::AlertLevel::Warning)
        );
        assert!(!a.associated_events.is_empty());
        assert!(
            a.associated_events.iter().all(|id| motion_ids.contains(id)),
            "{a:?}"
        );
    }
}

#[test]
fn broker_down_the_video_runs_events_are_spooled_and_replayed_later() {
    let port = free_port();
    let spool = tmp_dir("sink-down-spool");
    let launch = |src: String| {
        format!(
            "{src} ! fessdetect name=detect camera-id=cam_down motion-gate=false ! \
             fesskafkasink name=events bootstrap-servers=127.0.0.1:{port} spool-dir=\"{}\" flush-timeout=500",
            spool.display()
        )
    };
    let first = run_pipeline(&launch(format!(
        "filesrc location=\"{}\" ! decodebin ! identity eos-after=100",
        media("vtest.avi").display()
    )));
    assert_eq!(first.error, None);
    let s = &first.all_stats["events"];
    assert_eq!(s.get::<u64>("frames").unwrap(), 100);
    assert!(!s.get::<bool>("broker-up").unwrap());
    let built = s.get::<u64>("motion-events").unwrap();
    assert!(built > 0);

    // The broker appears; the next run on the same spool delivers the first run's events.
    let broker = Broker::start_on(port);
    let second = run_pipeline(&launch(format!(
        "filesrc location=\"{}\" ! jpegdec ! imagefreeze num-buffers=20 ! videoconvert",
        media("dog.jpg").display()
    )));
    assert_eq!(second.error, None);
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    let ok = r.read_until(Duration::from_secs(60), |seen| {
        seen.iter().filter(|c| c.topic == TOPICS[0]).count() as u64 > built
    });
    assert!(
        ok,
        "consumed {} motion events, the first run built {built}",
        r.seen.len()
    );
}

fn start_error(props: &str) -> String {
    run_pipeline(&format!(
        "videotestsrc num-buffers=1 ! fesskafkasink bootstrap-servers=127.0.0.1:9 spool-dir=\"{}\" {props}",
        tmp_dir("sink-bad").display()
    ))
    .error
    .unwrap_or_else(|| panic!("fesskafkasink {props} started"))
}

#[test]
fn bad_settings_get_clear_errors_without_secrets() {
    let e = start_error("compression=brotli");
    assert!(e.contains("compression: 'brotli'"), "{e}");
    let e = start_error("kafka-config=\"sasl.password=hunter2;garbage\"");
    assert!(e.contains("kafka-config") && !e.contains("hunter2"), "{e}");
    let e = start_error("kafka-config=no.such.property=1");
    assert!(e.contains("no.such.property"), "{e}");
    let rules = tmp_dir("bad-rules").with_extension("toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname='x'\nwhen='object'\nlevel='LOUD'\nmessage='m'\nclass='person'\n",
    )
    .unwrap();
    let e = start_error(&format!("alert-rules=\"{}\"", rules.display()));
    assert!(e.contains("unknown alert level 'LOUD'"), "{e}");
    let e = start_error("alert-rules=/nonexistent/rules.toml");
    assert!(
        e.contains("cannot read alert rules /nonexistent/rules.toml"),
        "{e}"
    );
    let e = start_error("bootstrap-servers=nonsense");
    assert!(e.contains("bootstrap-servers"), "{e}");
}
