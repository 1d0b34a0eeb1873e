//! fessdetect on real images and video with the default model (YOLOX-Nano).

mod common;

use common::*;
use fess_gst::roi_meta;
use fess_vision::objects::RoiObject;
use gst::prelude::*;

const FORMATS: [&str; 9] = [
    "RGB", "BGR", "RGBx", "BGRx", "RGBA", "I420", "NV12", "YV12", "NV21",
];

/// Runs the `launch` bin once on `image`, returning the buffer that leaves it.
fn run_on_image(image: &str, launch: &str) -> gst::Buffer {
    let (caps, buffer) = decode_image(&media(image));
    let mut h = gst_check::Harness::new_parse(launch);
    h.set_src_caps(caps);
    h.play();
    h.push(buffer).unwrap();
    h.pull().unwrap()
}

/// Runs fessdetect once on `image` converted to `format`, returning its ROIs.
fn detect_image(image: &str, format: &str) -> Vec<RoiObject> {
    roi_meta::read(&run_on_image(
        image,
        &format!(
            "videoconvert ! video/x-raw,format={format} ! fessdetect motion-gate=false camera-id=test-cam"
        ),
    ))
}

#[test]
fn finds_the_person_in_person_jpg_in_every_format() {
    for format in FORMATS {
        let objects = detect_image("person.jpg", format);
        let persons: Vec<_> = objects.iter().filter(|o| o.label == "person").collect();
        assert_eq!(persons.len(), 1, "{format}: {objects:?}");
        let p = persons[0];
        // The standing person is left of centre, taking most of the picture's height.
        let (cx, cy) = p.bbox.center();
        assert!(
            (0.25..0.5).contains(&cx) && (0.4..0.75).contains(&cy),
            "{format}: {p:?}"
        );
        assert!(p.bbox.height() > 0.5, "{format}: {p:?}");
        assert!(p.confidence > 0.5, "{format}: {p:?}");
        assert_eq!(p.label_id, 0);
        assert!(p.track_id.is_some(), "{format}: no tracking structure");
        // Meta ids are 1, 2, … in attach order; these objects have no parent.
        let ids: Vec<i32> = objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, (1..=objects.len() as i32).collect::<Vec<_>>());
        assert!(objects.iter().all(|o| o.parent_id == 0));
        // The dog and the horse are there too.
        assert!(
            objects.iter().any(|o| o.label == "dog"),
            "{format}: {objects:?}"
        );
    }
}

/// What DL Streamer's tools read, read the way they do: through the C API, with
/// `gst_structure_get_int` (which only takes a `G_TYPE_INT`).
#[test]
fn dl_streamer_tools_find_label_id_and_object_id_as_ints() {
    use gst_video::ffi::{
        gst_video_region_of_interest_meta_get_param, GstVideoRegionOfInterestMeta,
    };
    let out = run_on_image("person.jpg", "videoconvert ! fessdetect motion-gate=false");
    let ours = roi_meta::read(&out);
    assert!(ours.len() >= 3, "{ours:?}");
    let mut seen = 0;
    for (meta, obj) in out
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .zip(&ours)
    {
        let raw = meta.as_ptr() as *mut GstVideoRegionOfInterestMeta;
        let get_int = |structure: &str, field: &str| -> Option<i32> {
            let (s, f) = (
                std::ffi::CString::new(structure).unwrap(),
                std::ffi::CString::new(field).unwrap(),
            );
            let mut v = 0;
            // SAFETY: `raw` is a live meta of `out`; the names are NUL-terminated.
            unsafe {
                let st = gst_video_region_of_interest_meta_get_param(raw, s.as_ptr());
                (!st.is_null() && gst::ffi::gst_structure_get_int(st, f.as_ptr(), &mut v) != 0)
                    .then_some(v)
            }
        };
        assert_eq!(
            get_int("detection", "label_id"),
            Some(obj.label_id),
            "{obj:?}"
        );
        let track = obj.track_id.expect("every object is tracked");
        assert_eq!(get_int("object_id", "id"), Some(track as i32), "{obj:?}");
        seen += 1;
    }
    assert_eq!(seen, ours.len());
    // The dog's label id is COCO's 16, as an int.
    assert!(
        ours.iter().any(|o| o.label == "dog" && o.label_id == 16),
        "{ours:?}"
    );
}

#[test]
fn no_person_in_dog_jpg() {
    for format in ["RGB", "I420", "NV12"] {
        let objects = detect_image("dog.jpg", format);
        assert!(
            objects.iter().all(|o| o.label != "person"),
            "{format}: {objects:?}"
        );
        // The bicycle the dog sits by is found.
        assert!(
            objects.iter().any(|o| o.label == "bicycle"),
            "{format}: {objects:?}"
        );
    }
}

#[test]
fn object_class_keeps_only_those_labels() {
    let (caps, buffer) = decode_image(&media("person.jpg"));
    let mut h =
        gst_check::Harness::new_parse("fessdetect motion-gate=false object-class=dog,horse");
    h.set_src_caps(caps);
    h.play();
    h.push(buffer).unwrap();
    let objects = roi_meta::read(&h.pull().unwrap());
    assert!(!objects.is_empty());
    assert!(
        objects
            .iter()
            .all(|o| o.label == "dog" || o.label == "horse"),
        "{objects:?}"
    );
}

#[test]
fn camera_id_travels_downstream_in_a_sticky_event() {
    let (caps, buffer) = decode_image(&media("dog.jpg"));
    let mut h = gst_check::Harness::new_parse("fessdetect camera-id=gate-3");
    h.set_src_caps(caps);
    h.play();
    h.push(buffer).unwrap();
    let _ = h.pull().unwrap();
    let mut found = None;
    while let Some(ev) = h.try_pull_event() {
        if let Some(id) = fess_gst::camera::parse(&ev) {
            found = Some(id);
        }
    }
    let found = found.expect("a camera event");
    assert_eq!(found.camera_id, "gate-3");
    assert!(found.detector, "fessdetect announces itself as a detector");
}

/// The walk of vtest.avi, every frame inferred.
#[test]
fn vtest_persons_tracked_and_every_detection_on_a_buffer() {
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! fessdetect name=detect motion-gate=false ! \
         appsink name=sink",
        media("vtest.avi").display()
    ));
    assert_eq!(run.error, None);
    let frames = run.objects();
    assert_eq!(frames.len(), 795);
    let with_person = frames
        .iter()
        .filter(|f| f.iter().any(|o| o.label == "person"))
        .count();
    // YOLOX-Nano's bar to be the default (CenterNet, the default before, reached 90 %).
    assert!(
        with_person * 100 >= frames.len() * 95,
        "persons on only {with_person} of {} frames",
        frames.len()
    );

    // Some walking person keeps one track id over at least 50 consecutive frames (5 s).
    let mut best = 0;
    let mut runs: std::collections::HashMap<u64, (usize, usize)> = Default::default();
    for (i, f) in frames.iter().enumerate() {
        for o in f.iter().filter(|o| o.label == "person") {
            let id = o.track_id.expect("track id");
            let e = runs.entry(id).or_insert((i, i));
            if e.1 + 1 == i || e.1 == i {
                e.1 = i;
            } else {
                *e = (i, i);
            }
            best = best.max(e.1 - e.0 + 1);
        }
    }
    assert!(best >= 50, "longest unbroken person track: {best} frames");
    // Fewer distinct person tracks than person detections by far: ids are reused frame to frame.
    let detections: usize = frames
        .iter()
        .map(|f| f.iter().filter(|o| o.label == "person").count())
        .sum();
    assert!(
        runs.len() * 10 < detections,
        "{} tracks for {detections} detections",
        runs.len()
    );

    // Every object counted by the element is on a buffer.
    let stats = run.stats.unwrap();
    assert_eq!(stats.get::<u64>("frames").unwrap(), 795);
    assert_eq!(stats.get::<u64>("inferences").unwrap(), 795);
    let counted: u64 = stats
        .get::<gst::Structure>("detections")
        .unwrap()
        .iter()
        .map(|(_, v)| v.get::<u64>().unwrap())
        .sum();
    let on_buffers: usize = frames.iter().map(|f| f.len()).sum();
    assert_eq!(counted as usize, on_buffers);
}

/// A file's frame is held in the element while the next one decodes (inference overlaps
/// decoding): every frame must still leave in order with its own boxes, also across a change
/// of picture size, and none may be lost at EOS.
#[test]
fn held_frames_leave_in_order_with_their_own_boxes() {
    let still = |image: &str| {
        format!(
            "filesrc location=\"{}\" ! jpegdec ! imagefreeze num-buffers=5 ! videoconvert ! c.",
            media(image).display()
        )
    };
    let run = run_pipeline(&format!(
        "concat name=c ! fessdetect name=detect motion-gate=false ! appsink name=sink {} {}",
        still("person.jpg"),
        still("dog.jpg")
    ));
    assert_eq!(run.error, None);
    let frames = run.objects();
    assert_eq!(frames.len(), 10);
    let has = |f: &[RoiObject], label: &str| f.iter().any(|o| o.label == label);
    for (i, f) in frames.iter().enumerate() {
        if i < 5 {
            assert!(
                has(f, "horse") && !has(f, "bicycle"),
                "frame {i} (person.jpg): {f:?}"
            );
        } else {
            assert!(
                has(f, "bicycle") && !has(f, "horse"),
                "frame {i} (dog.jpg): {f:?}"
            );
        }
    }
    let stats = run.stats.unwrap();
    assert_eq!(stats.get::<u64>("inferences").unwrap(), 10);
}

#[test]
fn motion_gate_skips_a_still_clip_but_not_a_moving_one() {
    let still = run_pipeline(&format!(
        "filesrc location=\"{}\" ! jpegdec ! imagefreeze num-buffers=60 ! videoconvert ! \
         fessdetect name=detect ! appsink name=sink",
        media("person.jpg").display()
    ));
    assert_eq!(still.error, None);
    let s = still.stats.clone().unwrap();
    assert_eq!(s.get::<u64>("frames").unwrap(), 60);
    let inferred = s.get::<u64>("inferences").unwrap();
    assert!(
        (1..=3).contains(&inferred),
        "still clip inferred {inferred} of 60 frames"
    );
    assert_eq!(s.get::<u64>("skipped-no_motion").unwrap(), 60 - inferred);
    // Gated frames still carry the objects found on the last inferred frame.
    assert!(still
        .objects()
        .iter()
        .all(|f| f.iter().any(|o| o.label == "person")));

    let moving = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! fessdetect name=detect ! appsink name=sink",
        fess_testkit::clip(&media("vtest.avi"), 150).display()
    ));
    assert_eq!(moving.error, None);
    let m = moving.stats.unwrap();
    let (frames, inferred) = (
        m.get::<u64>("frames").unwrap(),
        m.get::<u64>("inferences").unwrap(),
    );
    assert!(
        inferred * 100 >= frames * 90,
        "moving clip inferred only {inferred} of {frames}"
    );
}

#[test]
fn inference_interval_reuses_tracked_boxes() {
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! \
         fessdetect name=detect motion-gate=false inference-interval=3 ! appsink name=sink",
        fess_testkit::clip(&media("vtest.avi"), 60).display()
    ));
    assert_eq!(run.error, None);
    let s = run.stats.clone().unwrap();
    let n = s.get::<u64>("frames").unwrap();
    assert_eq!(n, 60);
    assert_eq!(s.get::<u64>("inferences").unwrap(), n.div_ceil(3));
    assert_eq!(s.get::<u64>("skipped-interval").unwrap(), n - n.div_ceil(3));
    let frames = run.objects();
    // Frames between inferences carry the same tracks as the inferred frame before them.
    for i in (0..57).step_by(3) {
        let ids = |f: &Vec<RoiObject>| {
            let mut v: Vec<u64> = f.iter().filter_map(|o| o.track_id).collect();
            v.sort();
            v
        };
        assert!(!frames[i].is_empty());
        assert_eq!(ids(&frames[i]), ids(&frames[i + 1]), "frame {i}");
        assert_eq!(ids(&frames[i]), ids(&frames[i + 2]), "frame {i}");
    }
}

#[test]
fn detect_fps_budgets_inferences_by_running_time() {
    // 4 s of vtest.avi at 25 fps: at detect-fps=5 every 5th frame (200 ms) is inferred.
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! videorate ! video/x-raw,framerate=25/1 ! \
         fessdetect name=detect motion-gate=false detect-fps=5 ! appsink name=sink",
        fess_testkit::clip(&media("vtest.avi"), 40).display()
    ));
    assert_eq!(run.error, None);
    let s = run.stats.clone().unwrap();
    let frames = s.get::<u64>("frames").unwrap();
    assert_eq!(run.buffers.len() as u64, frames);
    assert!(frames >= 95, "{frames} frames");
    let inferred = s.get::<u64>("inferences").unwrap();
    assert!(
        inferred.abs_diff(frames.div_ceil(5)) <= 1,
        "{inferred} inferences for {frames} frames"
    );
    assert_eq!(s.get::<u64>("skipped-budget").unwrap(), frames - inferred);
    // Frames between inferences carry the tracked persons.
    assert!(run
        .objects()
        .iter()
        .all(|f| f.iter().any(|o| o.label == "person")));
}

#[test]
fn a_frame_already_late_downstream_skips_inference_but_passes() {
    let (caps, buffer) = decode_image(&media("person.jpg"));
    let mut h = gst_check::Harness::new_parse("fessdetect name=detect motion-gate=false");
    h.set_src_caps(caps);
    h.play();
    let at = |secs: u64| {
        let mut b = buffer.copy();
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_seconds(secs));
        b
    };
    h.push(at(0)).unwrap();
    let first = roi_meta::read(&h.pull().unwrap());
    // Downstream: the frame at 1 s arrived 5 s late, so anything before 6 s is late too.
    assert!(h.push_upstream_event(gst::event::Qos::new(
        gst::QOSType::Underflow,
        1.0,
        5_000_000_000,
        gst::ClockTime::from_seconds(1),
    )));
    h.push(at(2)).unwrap();
    let late = roi_meta::read(&h.pull().unwrap());
    h.push(at(7)).unwrap();
    let _ = h.pull().unwrap();
    let stats = h
        .find_element("fessdetect")
        .unwrap()
        .property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("inferences").unwrap(), 2);
    assert_eq!(stats.get::<u64>("skipped-late").unwrap(), 1);
    // The late frame passed with the objects tracked from the first.
    let labels = |o: &Vec<RoiObject>| o.iter().map(|o| o.label.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&late), labels(&first));
}
