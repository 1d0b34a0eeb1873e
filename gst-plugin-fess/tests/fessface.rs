//! `fessface` in real pipelines on real images and video, with a real redis-server.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{decode_image, init, media, model, run_pipeline, Run};
use fess::gallery::{GalleryStore, Person, DEFAULT_GALLERY_KEY};
use fess_gst::roi_meta;
use fess_testkit::RedisServer;
use fess_vision::face::engine::FaceEngine;
use fess_vision::objects::FaceInfo;
use gst::prelude::*;

/// The astronaut's embedding, enrolled the way `fess gallery enroll` does it.
fn astronaut_embedding() -> Vec<f32> {
    let mut engine = FaceEngine::load(
        &model("retinaface_mnet025.onnx"),
        &model("mobilefacenet.onnx"),
        0,
    )
    .unwrap();
    let (caps, buf) = decode_image(&media("astronaut.png"));
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), &info).unwrap();
    let view = fess_gst::video_frame::view(&frame).unwrap();
    fess_vision::face::enrol::enrol(&mut engine, &view)
        .unwrap()
        .embedding
}

fn enrol_astronaut(redis: &RedisServer, authorized: bool) {
    enrol_astronaut_in(&redis.settings(), authorized);
}

/// Enrols the astronaut through `redis` (another user, TLS files).
fn enrol_astronaut_in(redis: &fess::gallery::redis_settings::RedisSettings, authorized: bool) {
    let mut store =
        GalleryStore::connect(redis, DEFAULT_GALLERY_KEY, Duration::from_secs(2)).unwrap();
    store
        .put(&Person {
            id: "astronaut".into(),
            name: "Eileen Collins".into(),
            authorized,
            embeddings: vec![astronaut_embedding()],
        })
        .unwrap();
}

/// The astronaut portrait as a still clip of `n` frames.
fn astronaut_clip(n: u32, rate: u32) -> String {
    format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers={n} ! \
         video/x-raw,framerate={rate}/1",
        media("astronaut.png").display()
    )
}

fn faces(run: &Run) -> Vec<Vec<FaceInfo>> {
    run.objects()
        .into_iter()
        .map(|objs| objs.into_iter().filter_map(|o| o.face).collect())
        .collect()
}

fn stat(run: &Run, element: &str, field: &str) -> u64 {
    run.all_stats[element].get::<u64>(field).unwrap()
}

#[test]
fn astronaut_is_recognised_as_authorised_then_unauthorised() {
    let redis = RedisServer::start();
    enrol_astronaut(&redis, true);
    let launch = format!(
        "{} ! fessface name=face mode=frame redis-url={} ! appsink name=sink",
        astronaut_clip(12, 25),
        redis.url()
    );
    let run = run_pipeline(&launch);
    assert_eq!(run.error, None);
    let f = faces(&run);
    assert_eq!(f.len(), 12);
    for frame in &f {
        assert_eq!(frame.len(), 1, "{f:?}");
        let face = &frame[0];
        assert_eq!(face.person_name.as_deref(), Some("Eileen Collins"));
        assert!(face.known && face.is_authorized);
        assert!(face.confidence > 0.9, "{face:?}");
    }
    assert_eq!(stat(&run, "face", "authorized"), 1);
    // One face track: embedded once, the other frames answered by the cache.
    assert_eq!(stat(&run, "face", "embeddings"), 1);
    // The application hears of it once on the bus.
    let posted = run.messages("fess-face-recognized");
    assert_eq!(posted.len(), 1, "{:?}", run.messages);
    let m = posted[0];
    assert_eq!(m.get::<String>("person-name").unwrap(), "Eileen Collins");
    assert_eq!(m.get::<String>("person-id").unwrap(), "astronaut");
    assert_eq!(m.get::<String>("status").unwrap(), "authorized");
    assert!(m.get::<bool>("authorized").unwrap() && m.get::<bool>("known").unwrap());
    assert!(m.get::<f64>("similarity").unwrap() > 0.9);
    assert_eq!(
        m.get::<String>("face-id").unwrap(),
        format!("face_{}", m.get::<u64>("track-id").unwrap())
    );
    assert!(!m.get::<String>("camera-id").unwrap().is_empty());
    let quiet = run_pipeline(&launch.replace("mode=frame", "mode=frame post-messages=false"));
    assert!(quiet.messages("fess-face-recognized").is_empty());

    // Deauthorised in the gallery: the same face is now unauthorised.
    let mut store = GalleryStore::connect(
        &redis.settings(),
        DEFAULT_GALLERY_KEY,
        Duration::from_secs(2),
    )
    .unwrap();
    store.set_authorized("astronaut", false).unwrap();
    let run = run_pipeline(&launch);
    for frame in faces(&run) {
        assert_eq!(frame[0].person_name.as_deref(), Some("Eileen Collins"));
        assert!(frame[0].known && !frame[0].is_authorized);
    }
    assert_eq!(stat(&run, "face", "unauthorized"), 1);
    assert_eq!(stat(&run, "face", "authorized"), 0);
    let posted = run.messages("fess-face-recognized");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].get::<String>("status").unwrap(), "unauthorized");
}

/// Two fessface branches of one process run on one shared engine per model: each model is
/// loaded once (or by neither branch, when another test of this binary holds it already), and
/// both branches recognise the face; a different `threads` is a different session.
#[test]
fn branches_share_the_face_models() {
    let redis = RedisServer::start();
    enrol_astronaut(&redis, true);
    let branch = |name: &str, threads: u32| {
        format!(
            "{} ! fessface name={name} mode=frame threads={threads} redis-url={} ! fakesink ",
            astronaut_clip(3, 25),
            redis.url()
        )
    };
    let run = run_pipeline(&(branch("a", 0) + &branch("b", 0) + &branch("c", 1)));
    assert_eq!(run.error, None);
    let ids = |e: &str| {
        let s = &run.all_stats[e];
        (
            s.get::<String>("detector-instance-id").unwrap(),
            s.get::<String>("embedder-instance-id").unwrap(),
        )
    };
    let loaded = |e: &str| run.all_stats[e].get::<u32>("models-loaded").unwrap();
    assert_eq!(ids("a"), ids("b"));
    assert_ne!(
        ids("a").0,
        ids("a").1,
        "detector and embedder are two engines"
    );
    assert_ne!(ids("a"), ids("c"), "threads=1 is another session");
    assert!(
        loaded("a") + loaded("b") <= 2,
        "a: {}, b: {}",
        loaded("a"),
        loaded("b")
    );
    for e in ["a", "b", "c"] {
        assert_eq!(stat(&run, e, "authorized"), 1, "{e}");
    }
}

#[test]
fn carphone_face_is_unknown_and_mostly_served_by_the_cache() {
    let redis = RedisServer::start();
    enrol_astronaut(&redis, true);
    // After fessdetect: faces are searched inside its person boxes.
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! fessdetect name=detect ! \
         fessface name=face redis-url={} ! appsink name=sink",
        media("carphone_pristine.mp4").display(),
        redis.url()
    ));
    assert_eq!(run.error, None);
    let objects = run.objects();
    let frames = objects.len() as u64;
    assert_eq!(frames, 120);
    let mut with_face = 0;
    for objs in &objects {
        let faces: Vec<_> = objs.iter().filter(|o| o.face.is_some()).collect();
        if let Some(f) = faces.first() {
            with_face += 1;
            let info = f.face.as_ref().unwrap();
            assert!(!info.known && info.person_name.is_none(), "{info:?}");
            // The face hangs under the person it was found in.
            let parent = objs
                .iter()
                .find(|o| o.id == f.parent_id)
                .expect("parent ROI");
            assert_eq!(parent.label, "person");
        }
    }
    assert!(with_face >= 100, "faces on {with_face} of 120 frames");
    let hits = stat(&run, "face", "cache-hits");
    let misses = stat(&run, "face", "cache-misses");
    let embeddings = stat(&run, "face", "embeddings");
    println!("carphone: {with_face} frames with a face, {hits} hits, {misses} misses, {embeddings} embeddings");
    assert_eq!(hits + misses, stat(&run, "face", "faces"));
    assert!(
        hits * 4 >= (hits + misses) * 3,
        "hits {hits}, misses {misses}"
    );
    assert!(
        embeddings * 5 <= frames,
        "{embeddings} embeddings for {frames} frames"
    );
    assert!(stat(&run, "face", "unknown") >= 1);
    assert_eq!(stat(&run, "face", "authorized"), 0);
}

/// A live astronaut clip: `on_frame(n)` runs on the test thread as frames arrive.
fn run_live(redis_url: &str, frames: u32, mut on_frame: impl FnMut(usize)) -> LiveRun {
    init();
    let pipeline = gst::parse::launch(&format!(
        "{} ! fessface name=face mode=frame redis-url={} ! appsink name=sink sync=true",
        astronaut_clip(frames, 20),
        redis_url
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let names = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (out, n) = (names.clone(), count.clone());
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let face = roi_meta::read(sample.buffer().unwrap())
                    .into_iter()
                    .find_map(|o| o.face);
                out.lock().unwrap().push(face.and_then(|f| f.person_name));
                n.fetch_add(1, Ordering::SeqCst);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the pipeline stalled at frame {seen}"
        );
        while seen < count.load(Ordering::SeqCst) {
            seen += 1;
            on_frame(seen);
        }
        match bus.timed_pop(gst::ClockTime::from_mseconds(10)) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => panic!("pipeline error: {}", e.error()),
                gst::MessageView::Warning(w) => warnings.push(format!(
                    "{} ({})",
                    w.error(),
                    w.debug().map(|d| d.to_string()).unwrap_or_default()
                )),
                _ => {}
            },
            None => continue,
        }
    }
    let stats = pipeline
        .by_name("face")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let names = names.lock().unwrap().clone();
    LiveRun {
        names,
        warnings,
        stats,
    }
}

struct LiveRun {
    names: Vec<Option<String>>,
    warnings: Vec<String>,
    stats: gst::Structure,
}

#[test]
fn gallery_change_while_playing_is_picked_up() {
    let redis = RedisServer::start();
    let embedding = astronaut_embedding();
    let run = run_live(&redis.url(), 60, |n| {
        if n == 10 {
            let mut store = GalleryStore::connect(
                &redis.settings(),
                DEFAULT_GALLERY_KEY,
                Duration::from_secs(2),
            )
            .unwrap();
            store
                .put(&Person {
                    id: "astronaut".into(),
                    name: "Eileen Collins".into(),
                    authorized: true,
                    embeddings: vec![embedding.clone()],
                })
                .unwrap();
        }
    });
    assert_eq!(run.names.len(), 60);
    assert_eq!(run.names[0], None, "unknown before enrolment");
    assert_eq!(
        run.names.last().unwrap().as_deref(),
        Some("Eileen Collins"),
        "known after enrolment"
    );
    assert_eq!(run.stats.get::<u64>("unknown").unwrap(), 1);
    assert_eq!(run.stats.get::<u64>("authorized").unwrap(), 1);
}

#[test]
fn redis_killed_mid_stream_and_restarted() {
    let mut redis = RedisServer::start();
    enrol_astronaut(&redis, true);
    // A persistent Redis: the restarted server holds the gallery from its first answer on. (An
    // empty one would rightly be read as an empty gallery until the operator re-imported it.)
    redis.save();
    let url = redis.url();
    let run = run_live(&url, 100, |n| {
        if n == 20 {
            redis.kill();
        }
        if n == 60 {
            redis.restart();
        }
    });
    // Every frame arrived and every face kept its name: from the snapshot while Redis was away.
    assert_eq!(run.names.len(), 100);
    assert!(
        run.names
            .iter()
            .all(|n| n.as_deref() == Some("Eileen Collins")),
        "{:?}",
        run.names
    );
    let redis_warnings: Vec<_> = run
        .warnings
        .iter()
        .filter(|w| w.contains("Redis"))
        .collect();
    assert_eq!(redis_warnings.len(), 1, "{:?}", run.warnings);
    assert!(run.stats.get::<bool>("redis-up").unwrap());
    let hits = run.stats.get::<u64>("cache-hits").unwrap();
    let misses = run.stats.get::<u64>("cache-misses").unwrap();
    // The 40 frames without Redis are misses. At most 19 hits can come before the kill (frames
    // 2-20), so more than that means the cache answered again after the restart.
    assert!(misses >= 40, "misses {misses}");
    assert!(hits > 25, "hits {hits}");
}

#[test]
fn bad_models_and_a_corrupt_gallery_entry() {
    let redis = RedisServer::start();
    let clip = astronaut_clip(3, 25);
    let run = run_pipeline(&format!(
        "{clip} ! fessface detector-model=/nonexistent.onnx redis-url={} ! appsink name=sink",
        redis.url()
    ));
    let err = run.error.expect("a missing model is an error");
    assert!(err.contains("/nonexistent.onnx does not exist"), "{err}");
    // The detector given as embedder: the wrong shape is named, nothing panics.
    let run = run_pipeline(&format!(
        "{clip} ! fessface embedder-model={} redis-url={} ! appsink name=sink",
        model("retinaface_mnet025.onnx").display(),
        redis.url()
    ));
    let err = run.error.expect("a wrong embedding model is an error");
    assert!(err.contains("expected input [N,112,112,3]"), "{err}");

    // A corrupt entry beside a good one: skipped with a warning, the good one still works.
    enrol_astronaut(&redis, true);
    redis.cli(&["SADD", "fess:gallery:persons", "broken"]);
    redis.cli(&[
        "HSET",
        "fess:gallery:person:broken",
        "name",
        "Broken",
        "authorized",
        "1",
        "embeddings",
        "[[0.5, 0.5]]",
    ]);
    let run = run_pipeline(&format!(
        "{clip} ! fessface name=face mode=frame redis-url={} ! appsink name=sink",
        redis.url()
    ));
    assert_eq!(run.error, None);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("'broken' skipped") && w.contains("length 2 where 192")),
        "{:?}",
        run.warnings
    );
    assert_eq!(
        faces(&run)[0][0].person_name.as_deref(),
        Some("Eileen Collins")
    );
    assert_eq!(
        run.all_stats["face"].get::<u64>("gallery-persons").unwrap(),
        1
    );
}

#[test]
fn redis_down_from_the_start_still_recognises_nobody_and_never_stalls() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    let run = run_pipeline(&format!(
        "{} ! fessface name=face mode=frame redis-url={url} ! appsink name=sink",
        astronaut_clip(10, 25)
    ));
    assert_eq!(run.error, None);
    assert_eq!(run.buffers.len(), 10);
    for frame in faces(&run) {
        assert!(!frame[0].known);
    }
    assert_eq!(stat(&run, "face", "cache-misses"), 10);
    assert_eq!(stat(&run, "face", "cache-hits"), 0);
    // The face track's memory answers while Redis is away: one embedding.
    assert_eq!(stat(&run, "face", "embeddings"), 1);
    assert!(
        run.warnings.iter().any(|w| w.contains("unreachable")),
        "{:?}",
        run.warnings
    );
}

#[test]
fn an_unauthorised_face_reaches_kafka_with_its_critical_alert() {
    let redis = RedisServer::start();
    enrol_astronaut(&redis, false);
    let broker = fess_testkit::Broker::start();
    let run = run_pipeline(&format!(
        "{} ! fessface mode=frame camera-id=door redis-url={} ! \
         fesskafkasink bootstrap-servers={} spool-dir=\"{}\"",
        astronaut_clip(10, 25),
        redis.url(),
        broker.bootstrap(),
        fess_testkit::tmp_dir("face-sink").display()
    ));
    assert_eq!(run.error, None);
    let topics = ["face.recognition.events", "alert.events"];
    let mut r = fess_testkit::Reader::new(&broker.bootstrap(), &topics);
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= 2),
        "consumed {:?}",
        r.seen
    );
    // Ten frames of one face track: one face event and one alert, nothing more.
    r.read_until(Duration::from_secs(2), |_| false);
    let of = |t: &str| r.seen.iter().filter(|c| c.topic == t).collect::<Vec<_>>();
    let (faces, alerts) = (of(topics[0]), of(topics[1]));
    assert_eq!((faces.len(), alerts.len()), (1, 1), "{:?}", r.seen);
    let f = &faces[0].json;
    assert_eq!(f["camera_id"], "door");
    assert_eq!(f["person_name"], "Eileen Collins");
    assert_eq!(f["is_authorized"], false);
    assert!(f["confidence"].as_f64().unwrap() > 0.9);
    let a = &alerts[0].json;
    assert_eq!(a["alert_level"], "CRITICAL");
    assert_eq!(a["associated_events"], serde_json::json!([f["event_id"]]));
}

#[test]
fn detection_interval_carries_faces_between_searches() {
    let redis = RedisServer::start();
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! fessdetect ! \
         fessface name=face detection-interval=5 redis-url={} ! appsink name=sink",
        media("carphone_pristine.mp4").display(),
        redis.url()
    ));
    assert_eq!(run.error, None);
    assert_eq!(stat(&run, "face", "frames"), 120);
    // Searched on frames 1, 6, 11, …: 24 of 120.
    assert_eq!(stat(&run, "face", "searched"), 24);
    let objects = run.objects();
    let with_face = objects
        .iter()
        .filter(|objs| {
            objs.iter().any(|o| {
                o.face.as_ref().is_some_and(|f| !f.known)
                    && objs
                        .iter()
                        .any(|p| p.id == o.parent_id && p.label == "person")
            })
        })
        .count();
    assert!(
        with_face >= 100,
        "a carried face under its person on {with_face} of 120 frames"
    );
    // Lookups happen on searched frames only.
    assert!(stat(&run, "face", "cache-hits") + stat(&run, "face", "cache-misses") <= 24);
}

/// A Redis ACL user that may connect but not run SMEMBERS: the gallery cannot be read. The
/// warning names the missing permission (not "unreachable", never the password), `stats` says
/// so; with `gallery-required=true` the element fails closed (an error, no video).
#[test]
fn a_gallery_the_user_may_not_read_is_loud_and_can_fail_closed() {
    let redis = RedisServer::start();
    enrol_astronaut(&redis, false);
    let url = redis.acl_user("camera", "acl-secret", &["~*", "+@all", "-smembers"]);
    let launch = |extra: &str| {
        format!(
            "{} ! fessface name=face mode=frame redis-url={url} {extra} ! appsink name=sink",
            astronaut_clip(5, 25)
        )
    };
    let run = run_pipeline(&launch(""));
    assert_eq!(run.error, None);
    assert_eq!(run.buffers.len(), 5);
    let gallery: Vec<&String> = run
        .warnings
        .iter()
        .filter(|w| w.contains("gallery cannot be read"))
        .collect();
    assert_eq!(gallery.len(), 1, "{:?}", run.warnings);
    assert!(
        gallery[0].contains("no permission")
            && gallery[0].contains("SMEMBERS fess:gallery:persons"),
        "{gallery:?}"
    );
    assert!(
        run.warnings
            .iter()
            .all(|w| !w.contains("acl-secret") && !w.contains("unreachable")),
        "{:?}",
        run.warnings
    );
    let stats = &run.all_stats["face"];
    assert!(!stats.get::<bool>("gallery-up").unwrap());
    assert!(stats
        .get::<String>("gallery-error")
        .unwrap()
        .contains("SMEMBERS"));
    // Failing open, the enrolled unauthorised face is unknown: what gallery-required prevents.
    assert!(faces(&run).iter().all(|f| !f[0].known));

    let run = run_pipeline(&launch("gallery-required=true"));
    let err = run.error.expect("gallery-required fails closed");
    assert!(
        err.contains("gallery-required is set") && err.contains("SMEMBERS"),
        "{err}"
    );
    assert!(!err.contains("acl-secret"), "{err}");
    assert!(run.buffers.is_empty());

    // Readable, gallery-required changes nothing: the face is named.
    redis.acl_user("camera", "acl-secret", &["~*", "+@all"]);
    let run = run_pipeline(&launch("gallery-required=true"));
    assert_eq!(run.error, None);
    assert!(run.all_stats["face"].get::<bool>("gallery-up").unwrap());
    assert!(faces(&run)
        .iter()
        .all(|f| f[0].person_name.as_deref() == Some("Eileen Collins")));
}

/// Over mutual TLS, as an ACL user with only the rights the README gives for recognition: the
/// same recognition; `#insecure` works and is warned about; a CA file that cannot be read stops
/// the start.
#[test]
fn astronaut_is_recognised_over_mutual_tls_by_the_camera_user() {
    let camera = "user fess-camera on >Cam-pw-5521 resetkeys ~fess:* resetchannels -@all \
                  +get +smembers +hgetall +mget +set";
    let redis = RedisServer::with_tls(true, &["user fess-admin on >Adm-pw-9 ~* &* +@all", camera]);
    enrol_astronaut_in(
        &redis.settings_for(&redis.user_url("fess-admin", "Adm-pw-9")),
        true,
    );
    let tls = redis.tls().unwrap();
    let props = format!(
        "redis-url={} redis-tls-ca-file={} redis-tls-cert-file={} redis-tls-key-file={}",
        redis.user_url("fess-camera", "Cam-pw-5521"),
        tls.ca.display(),
        tls.client.cert.display(),
        tls.client.key.display()
    );
    let launch = format!(
        "{} ! fessface name=face mode=frame {props} ! appsink name=sink",
        astronaut_clip(6, 25)
    );
    let run = run_pipeline(&launch);
    assert_eq!(run.error, None);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    for frame in faces(&run) {
        assert_eq!(frame[0].person_name.as_deref(), Some("Eileen Collins"));
        assert!(frame[0].known && frame[0].is_authorized);
    }
    assert!(
        stat(&run, "face", "cache-hits") > 0,
        "the cache is read and written"
    );

    let missing = run_pipeline(&launch.replace(
        &format!("redis-tls-ca-file={}", tls.ca.display()),
        "redis-tls-ca-file=/nonexistent/ca.pem",
    ));
    let e = missing.error.expect("the start fails");
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");

    // #insecure: no certificate check, said at start.
    let insecure_server = RedisServer::with_tls(false, &[camera]);
    let url = format!(
        "{}#insecure",
        insecure_server.user_url("fess-camera", "Cam-pw-5521")
    );
    let run = run_pipeline(&format!(
        "{} ! fessface name=face mode=frame redis-url=\"{url}\" ! appsink name=sink",
        astronaut_clip(2, 25)
    ));
    assert_eq!(run.error, None);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("INSECURE") && !w.contains("Cam-pw-5521")),
        "{:?}",
        run.warnings
    );
}
