//! fesskafkasink in real pipelines on real video, into a real Kafka-protocol broker (tansu).

mod common;

use std::time::Duration;

use common::*;
use fess::events::Event;
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
    // Each alert was posted on the bus too, with its event id and fields.
    let posted = run.messages("fess-alert");
    assert_eq!(posted.len() as u64, alerts);
    for m in posted {
        let id = m.get::<String>("event-id").unwrap();
        let a = alert_events.iter().find(|a| a.event_id == id).unwrap();
        assert_eq!(m.get::<String>("camera-id").unwrap(), "cam_vtest");
        assert_eq!(m.get::<String>("alert-level").unwrap(), "WARNING");
        assert_eq!(m.get::<String>("alert-message").unwrap(), a.alert_message);
        assert_eq!(m.get::<String>("timestamp").unwrap(), a.timestamp);
        let associated: Vec<String> = m
            .get::<gst::Array>("associated-events")
            .unwrap()
            .iter()
            .map(|v| v.get::<String>().unwrap())
            .collect();
        assert_eq!(associated, a.associated_events);
    }
    for a in &alert_events {
        assert_eq!(
            (a.alert_message.as_str(), a.alert_level),
            ("Person present", fess::events::AlertLevel::Warning)
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
        "filesrc location=\"{}\" ! decodebin",
        fess_testkit::clip(&media("vtest.avi"), 100).display()
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
        seen.iter().filter(|c| c.topic == TOPICS[0]).count() as u64 >= built
    });
    assert!(
        ok,
        "consumed {} motion events, the first run built {built}",
        r.seen.len()
    );
}

#[test]
fn a_full_disk_under_the_spool_warns_counts_and_the_video_goes_on() {
    // The broker down: every event waits in the spool, on a disk of a few events.
    let disk = fess_testkit::Tmpfs::mount("sink-full-disk", "16k");
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! fessdetect camera-id=cam_full motion-gate=false ! \
         fesskafkasink name=events bootstrap-servers=127.0.0.1:{} spool-dir=\"{}\" \
         flush-timeout=200 min-interval=0",
        fess_testkit::clip(&media("vtest.avi"), 100).display(),
        free_port(),
        disk.path().join("spool").display()
    ));
    assert_eq!(run.error, None);
    let s = &run.all_stats["events"];
    assert_eq!(
        s.get::<u64>("frames").unwrap(),
        100,
        "every frame went through"
    );
    let built = s.get::<u64>("motion-events").unwrap();
    let motion = counts(s, TOPICS[0]);
    let dropped = motion.get::<u64>("dropped").unwrap();
    assert!(dropped > 0 && dropped < built, "{s}");
    assert!(
        run.warnings.iter().any(|w| w.contains("is full")),
        "{:?}",
        run.warnings
    );
    // Warned about once per time the disk filled, not once per event.
    let lost = run
        .warnings
        .iter()
        .filter(|w| w.contains("not delivered and dropped"))
        .count();
    let full = run
        .warnings
        .iter()
        .filter(|w| w.contains("is full"))
        .count();
    assert!(lost <= full, "{lost} loss warnings for {full} full disks");
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
    use gst::glib;
    use gst::prelude::*;
    init();
    // acks and compression are enums: gst-inspect lists the choices, parsing refuses others.
    let choices = |prop: &str| -> Vec<String> {
        let sink = gst::ElementFactory::make("fesskafkasink").build().unwrap();
        let spec = sink.find_property(prop).unwrap();
        let spec = spec.downcast_ref::<glib::ParamSpecEnum>().unwrap();
        spec.enum_class()
            .values()
            .iter()
            .map(|v| v.nick().to_string())
            .collect()
    };
    assert_eq!(choices("acks"), ["default", "0", "1", "all"]);
    assert_eq!(
        choices("compression"),
        ["default", "none", "gzip", "snappy", "lz4", "zstd"]
    );
    let parsed = gst::parse::launch("fakesrc ! fesskafkasink compression=brotli");
    assert!(parsed.is_err(), "compression=brotli was accepted");
    let e = start_error("kafka-config=\"sasl.password=hunter2;garbage\"");
    assert!(e.contains("kafka-config") && !e.contains("hunter2"), "{e}");
    let e = start_error("kafka-config=no.such.property=1");
    assert!(e.contains("no.such.property"), "{e}");
    let e = start_error("kafka-config=\"sasl.pasword=hunter2\"");
    assert!(e.contains("sasl.pasword") && !e.contains("hunter2"), "{e}");
    // A file where the spool folder should be: the error names it.
    let file = tmp_dir("sink-spool-file").with_extension("txt");
    std::fs::write(&file, b"x").unwrap();
    let e = run_pipeline(&format!(
        "videotestsrc num-buffers=1 ! fesskafkasink bootstrap-servers=127.0.0.1:9 spool-dir=\"{}\"",
        file.display()
    ))
    .error
    .unwrap();
    assert!(
        e.contains(&file.display().to_string()) && e.contains("not a folder"),
        "{e}"
    );
    let rules = tmp_dir("bad-rules").with_extension("toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname='x'\nwhen='object'\nlevel='LOUD'\nmessage='m'\nclass='person'\n",
    )
    .unwrap();
    let e = start_error(&format!("alert-rules=\"{}\"", rules.display()));
    assert!(e.contains("unknown alert level 'LOUD'"), "{e}");
    // A rule naming a zone no [[zone]] defines: the file, the rule's line and the reason.
    std::fs::write(
        &rules,
        "[[zone]]\nname = 'lawn'\npoints = [[0,0.5],[1,0.5],[1,1]]\n\n[[rule]]\nname = 'bay'\n\
         when = 'occupancy'\nzone = 'bay'\nabove = 2\nlevel = 'INFO'\nmessage = 'm'\n",
    )
    .unwrap();
    let e = start_error(&format!("alert-rules=\"{}\"", rules.display()));
    assert!(
        e.contains(&format!(
            "alert rules {}: line 5: [[rule]] 1: 'bay': zone 'bay' is not defined by a [[zone]] table",
            rules.display()
        )),
        "{e}"
    );
    let e = start_error("alert-rules=/nonexistent/rules.toml");
    assert!(
        e.contains("cannot read alert rules /nonexistent/rules.toml"),
        "{e}"
    );
    let e = start_error("bootstrap-servers=nonsense");
    assert!(e.contains("bootstrap-servers"), "{e}");
}

/// Buffers carrying a person and their face, as fessdetect ! fessface leave them.
fn face_buffer(i: u64, name: Option<&str>, authorized: bool) -> gst::Buffer {
    use fess_gst::roi_meta::attach;
    use fess_vision::geometry::BBox;
    use fess_vision::objects::{FaceInfo, RoiObject};
    let mut buf = gst::Buffer::new();
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(i * 100));
        let person = attach(
            b,
            640,
            480,
            &RoiObject::tracked("person", 0, 0.9, BBox::new(0.25, 0.25, 0.5, 1.0), 7),
        );
        attach(
            b,
            640,
            480,
            &RoiObject {
                id: 0,
                parent_id: person,
                label: "face".into(),
                label_id: 0,
                confidence: 0.99,
                bbox: BBox::new(0.3, 0.25, 0.4, 0.375),
                track_id: Some(7),
                face: Some(FaceInfo {
                    face_id: "face_7".into(),
                    person_name: name.map(str::to_string),
                    confidence: 0.93,
                    is_authorized: authorized,
                    known: name.is_some(),
                }),
            },
        );
    }
    buf
}

#[test]
fn faces_are_published_and_an_unauthorized_one_raises_the_built_in_alert() {
    init();
    let broker = Broker::start();
    // Properties first: the harness starts the element when it adds it.
    let sink = gst::ElementFactory::make("fesskafkasink")
        .property("bootstrap-servers", broker.bootstrap())
        .property("camera-id", "door")
        .property("spool-dir", tmp_dir("sink-faces").to_str().unwrap())
        .build()
        .unwrap();
    let mut h = gst_check::Harness::with_element(&sink, Some("sink"), None);
    h.set_src_caps_str("video/x-raw,format=RGB,width=640,height=480,framerate=10/1");
    h.play();
    // Ten frames of the same unauthorised person: one face event, one alert.
    for i in 0..10 {
        h.push(face_buffer(i, Some("Mallory"), false)).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= 3),
        "consumed {:?}",
        r.seen
    );
    std::thread::sleep(Duration::from_secs(2));
    r.read_until(Duration::from_secs(1), |_| false);
    let of = |t: &str| r.seen.iter().filter(|c| c.topic == t).collect::<Vec<_>>();
    let (motion, faces, alerts) = (of(TOPICS[0]), of(TOPICS[1]), of(TOPICS[2]));
    assert_eq!(
        (motion.len(), faces.len(), alerts.len()),
        (1, 1, 1),
        "{:?}",
        r.seen
    );
    let f = &faces[0].json;
    assert_eq!(f["face_id"], "face_7");
    assert_eq!(f["person_name"], "Mallory");
    assert_eq!(f["is_authorized"], false);
    assert_eq!(f["confidence"], 0.93);
    assert_eq!(
        f["bbox"],
        serde_json::json!({"x1": 192.0, "y1": 120.0, "x2": 256.0, "y2": 180.0})
    );
    let a = &alerts[0].json;
    assert_eq!(a["alert_level"], "CRITICAL");
    assert_eq!(a["alert_message"], "Unauthorized access detected");
    assert_eq!(a["associated_events"], serde_json::json!([f["event_id"]]));
    assert_eq!(alerts[0].key, "door");
    // The face ROI is not reported as a detected object.
    assert_eq!(motion[0].json["total_objects"], 1);
}

#[test]
fn an_eos_flush_leaves_stats_readable_and_a_flushing_seek_interrupts_it() {
    use gst::prelude::*;
    use std::sync::mpsc;
    init();
    let port = free_port();
    let sink = gst::ElementFactory::make("fesskafkasink")
        .property("bootstrap-servers", format!("127.0.0.1:{port}"))
        .property("camera-id", "door")
        .property("spool-dir", tmp_dir("sink-unlock").to_str().unwrap())
        .property("flush-timeout", 120_000u32)
        .build()
        .unwrap();
    // The sink says when it starts waiting for deliveries at EOS.
    let (waiting_tx, waiting) = mpsc::channel();
    let waiting_tx = std::sync::Mutex::new(waiting_tx);
    gst::log::set_threshold_for_name("fesskafkasink", gst::DebugLevel::Debug);
    let hook = gst::log::add_log_function(move |cat, _, _, _, _, _, msg| {
        if cat.name() == "fesskafkasink" && msg.get().is_some_and(|m| m.starts_with("EOS: waiting"))
        {
            let _ = waiting_tx.lock().unwrap().send(());
        }
    });
    let mut h = gst_check::Harness::with_element(&sink, Some("sink"), None);
    h.set_src_caps_str("video/x-raw,format=RGB,width=640,height=480,framerate=10/1");
    h.play();
    for i in 0..10 {
        h.push(face_buffer(i, Some("Mallory"), false)).unwrap();
    }
    // No broker: EOS waits (up to flush-timeout) for the queued events.
    let (eos_tx, eos_done) = mpsc::channel();
    let pad = sink.static_pad("sink").unwrap();
    std::thread::spawn(move || {
        let _ = eos_tx.send(pad.send_event(gst::event::Eos::new()));
    });
    waiting
        .recv_timeout(Duration::from_secs(60))
        .expect("the sink never started its EOS flush");

    // Meanwhile the stats stay readable (a thread, so a regression fails instead of hanging).
    let (stats_tx, stats) = mpsc::channel();
    let s = sink.clone();
    std::thread::spawn(move || {
        let _ = stats_tx.send(s.property::<gst::Structure>("stats"));
    });
    let stats = stats
        .recv_timeout(Duration::from_secs(20))
        .expect("stats blocked while the sink flushed at EOS");
    assert_eq!(stats.get::<u64>("face-events").unwrap(), 1);
    assert_eq!(stats.get::<u64>("alert-events").unwrap(), 1);
    assert!(!stats.get::<bool>("broker-up").unwrap());

    // A flushing seek unlocks the sink: the EOS wait ends long before flush-timeout.
    assert!(h.push_event(gst::event::FlushStart::new()));
    eos_done
        .recv_timeout(Duration::from_secs(20))
        .expect("flush-start did not interrupt the EOS flush");
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    gst::log::remove_log_function(hook);
    gst::log::unset_threshold_for_name("fesskafkasink");

    // The broker comes; closing the sink delivers what it held.
    let broker = Broker::start_on(port);
    drop(h);
    let mut r = Reader::new(&broker.bootstrap(), &TOPICS);
    assert!(
        r.read_until(Duration::from_secs(60), |seen| {
            seen.iter().filter(|c| c.topic == TOPICS[1]).count() >= 1
                && seen.iter().filter(|c| c.topic == TOPICS[2]).count() >= 1
        }),
        "consumed {:?}",
        r.seen.iter().map(|c| c.topic.clone()).collect::<Vec<_>>()
    );
}

/// Rules and intervals measure running time: a frame without a timestamp is timed by the clock,
/// never by a guessed frame rate.
#[test]
fn rules_run_on_running_time_not_a_guessed_frame_rate() {
    use fess_gst::roi_meta::attach;
    use fess_vision::geometry::BBox;
    use fess_vision::objects::RoiObject;
    use gst::prelude::*;
    init();
    let rules = tmp_dir("sink-time-rules").with_extension("toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname='p'\nwhen='object'\nclass='person'\nmin_duration=2.0\ncooldown=600\nlevel='WARNING'\nmessage='m'\n",
    )
    .unwrap();
    let alerts_after = |pts_step: Option<u64>| -> u64 {
        let sink = gst::ElementFactory::make("fesskafkasink")
            .property("bootstrap-servers", format!("127.0.0.1:{}", free_port()))
            .property("camera-id", "clock")
            .property("spool-dir", tmp_dir("sink-time").to_str().unwrap())
            .property("alert-rules", rules.to_str().unwrap())
            .property("flush-timeout", 100u32)
            .build()
            .unwrap();
        let mut h = gst_check::Harness::with_element(&sink, Some("sink"), None);
        h.set_src_caps_str("video/x-raw,format=RGB,width=640,height=480,framerate=10/1");
        h.play();
        // 60 frames of one person: 5.9 s of video at 10 fps (2.4 s at a guessed 25 fps).
        for i in 0..60u64 {
            let mut buf = gst::Buffer::new();
            {
                let b = buf.get_mut().unwrap();
                if let Some(step) = pts_step {
                    b.set_pts(gst::ClockTime::from_mseconds(i * step));
                }
                attach(
                    b,
                    640,
                    480,
                    &RoiObject::tracked("person", 0, 0.9, BBox::new(0.25, 0.25, 0.5, 1.0), 1),
                );
            }
            h.push(buf).unwrap();
        }
        let s = sink.property::<gst::Structure>("stats");
        s.get::<u64>("alert-events").unwrap()
    };
    // With timestamps the person stays 5.9 s: the rule fires.
    assert_eq!(alerts_after(Some(100)), 1);
    // The same frames without timestamps arrive within milliseconds: nobody stayed 2 s.
    assert_eq!(alerts_after(None), 0);
}
