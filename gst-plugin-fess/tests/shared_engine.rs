//! Many cameras, one inference engine: fessdetect elements of a process share a session per
//! model, take turns on it, and stay independent of each other's ends and errors. Tests of one
//! binary run at once in one process, so each test that counts loads uses instance ids of its
//! own.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use fess_gst::roi_meta;
use gst::prelude::*;

/// The labels on each frame that reached an `appsink`, in order.
type Labels = Vec<Vec<String>>;
/// The frames of every `appsink`, by sink name.
type Frames = Arc<Mutex<HashMap<String, Labels>>>;

fn collect(pipeline: &gst::Bin, frames: &Frames) {
    for element in pipeline.iterate_recurse().into_iter().flatten() {
        let Ok(sink) = element.clone().downcast::<gst_app::AppSink>() else {
            continue;
        };
        let (name, out) = (sink.name().to_string(), frames.clone());
        out.lock().unwrap().insert(name.clone(), Vec::new());
        sink.set_property("sync", false);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let labels = roi_meta::read(sample.buffer().unwrap())
                        .into_iter()
                        .map(|o| o.label)
                        .collect();
                    out.lock().unwrap().get_mut(&name).unwrap().push(labels);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
}

fn pipeline(launch: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// Runs `launch` to EOS; returns the frames of each appsink and the stats of each fessdetect.
fn run(launch: &str) -> (HashMap<String, Labels>, HashMap<String, gst::Structure>) {
    let pipeline = pipeline(launch);
    let frames = Frames::default();
    collect(pipeline.upcast_ref(), &frames);
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_eos(&pipeline);
    let stats = detect_stats(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    (frames, stats)
}

fn wait_eos(pipeline: &gst::Pipeline) {
    fess_testkit::wait_eos(pipeline, std::time::Duration::from_secs(300)).unwrap();
}

fn detect_stats(pipeline: &gst::Pipeline) -> HashMap<String, gst::Structure> {
    pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| e.factory().is_some_and(|f| f.name() == "fessdetect"))
        .map(|e| (e.name().to_string(), e.property::<gst::Structure>("stats")))
        .collect()
}

/// A branch: `image` frozen for `frames` frames through `fessdetect name=NAME` to `appsink name=NAME-out`.
fn branch(name: &str, image: &str, frames: u32, props: &str) -> String {
    camera(name, image, frames, false, props)
}

/// The same as a live camera: `frames` frames at 25 fps in real time.
fn live_branch(name: &str, image: &str, frames: u32, props: &str) -> String {
    camera(name, image, frames, true, props)
}

fn camera(name: &str, image: &str, frames: u32, live: bool, props: &str) -> String {
    format!(
        "filesrc location=\"{}\" ! jpegdec ! imagefreeze num-buffers={frames} is-live={live} ! \
         video/x-raw,framerate=25/1 ! videoconvert ! \
         fessdetect name={name} motion-gate=false {props} ! appsink name={name}-out ",
        media(image).display()
    )
}

fn loaded(stats: &HashMap<String, gst::Structure>) -> usize {
    stats
        .values()
        .filter(|s| s.get::<bool>("model-loaded").unwrap())
        .count()
}

fn u(s: &gst::Structure, field: &str) -> u64 {
    s.get::<u64>(field).unwrap()
}

#[test]
fn four_live_cameras_share_one_engine_and_each_gets_its_own_boxes() {
    // 100 frames a second asked of one engine: frames pass busy, never with another's boxes.
    let launch: String = (0..4)
        .map(|i| {
            let image = if i % 2 == 0 { "person.jpg" } else { "dog.jpg" };
            live_branch(&format!("cam{i}"), image, 30, "")
        })
        .collect();
    let (frames, stats) = run(&launch);
    // No ids given: the four share the engine of the default model (loaded here, or by a test
    // running beside this one).
    assert!(loaded(&stats) <= 1, "{stats:?}");
    let ids: std::collections::HashSet<String> = stats
        .values()
        .map(|s| s.get::<String>("model-instance-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    for i in 0..4 {
        let name = format!("cam{i}");
        let got = &frames[&format!("{name}-out")];
        assert_eq!(got.len(), 30);
        // A frame that passes while the engine serves another camera carries this camera's
        // tracked boxes; only frames before its first inference can have none.
        let first = got
            .iter()
            .position(|f| !f.is_empty())
            .expect("an inference");
        for f in &got[first..] {
            if i % 2 == 0 {
                assert!(f.iter().any(|l| l == "person"), "{name}: {f:?}");
            } else {
                assert!(f.iter().all(|l| l != "person"), "{name}: {f:?}");
                assert!(f.iter().any(|l| l == "bicycle"), "{name}: {f:?}");
            }
        }
        let s = &stats[&name];
        // Every frame was inferred, or passed while the engine served another camera.
        assert_eq!(u(s, "frames"), 30);
        assert_eq!(u(s, "inferences") + u(s, "skipped-busy"), 30, "{s:?}");
        assert!(u(s, "inferences") >= 1, "{s:?}");
    }
}

#[test]
fn four_file_cameras_wait_their_turn_and_infer_every_frame() {
    let id = "model-instance-id=four-files";
    let launch: String = (0..4)
        .map(|i| branch(&format!("file{i}"), "person.jpg", 12, id))
        .collect();
    let (frames, stats) = run(&launch);
    assert_eq!(loaded(&stats), 1);
    for (name, s) in &stats {
        assert_eq!(
            (u(s, "inferences"), u(s, "skipped-busy")),
            (12, 0),
            "{name}"
        );
        assert_eq!(frames[&format!("{name}-out")].len(), 12);
    }
}

#[test]
fn two_cameras_take_turns_without_losing_a_frame() {
    // Two streams: whoever waits is the only waiter, so it always runs next.
    let id = "model-instance-id=two-cameras";
    let launch = branch("a", "person.jpg", 25, id) + &branch("b", "dog.jpg", 25, id);
    let (frames, stats) = run(&launch);
    assert_eq!(loaded(&stats), 1);
    for name in ["a", "b"] {
        assert_eq!(u(&stats[name], "inferences"), 25, "{:?}", stats[name]);
        assert_eq!(frames[&format!("{name}-out")].len(), 25);
    }
}

#[test]
fn separate_instance_ids_load_separate_engines_and_a_shared_id_needs_one_model() {
    let launch = branch("a", "person.jpg", 3, "model-instance-id=separate-1")
        + &branch("b", "person.jpg", 3, "model-instance-id=separate-2");
    let (_, stats) = run(&launch);
    assert_eq!(loaded(&stats), 2, "{stats:?}");

    let launch = branch(
        "a",
        "person.jpg",
        3,
        "model-instance-id=same model=yolox-nano",
    ) + &branch(
        "b",
        "person.jpg",
        3,
        "model-instance-id=same model=centernet",
    );
    let pipeline = gst::parse::launch(&launch).unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let error = pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(60))
        .find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
            gst::MessageView::Eos(_) => Some("EOS".into()),
            _ => None,
        })
        .unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        error.contains("model-instance-id 'same' is already used with model")
            && error.contains("give it another id"),
        "{error}"
    );
}

#[test]
fn one_camera_ending_or_failing_leaves_the_others_running() {
    // In one pipeline, a short branch reaches EOS long before the other.
    let launch = branch("short", "person.jpg", 3, "") + &branch("long", "dog.jpg", 40, "");
    let (frames, _) = run(&launch);
    assert_eq!(frames["short-out"].len(), 3);
    assert_eq!(frames["long-out"].len(), 40);

    // A pipeline that fails (a truncated frame) beside one that runs, on one engine.
    let failing = pipeline(
        "appsrc name=src caps=video/x-raw,format=RGB,width=64,height=64,framerate=10/1 ! \
         fessdetect motion-gate=false ! fakesink",
    );
    let healthy = pipeline(&branch("ok", "dog.jpg", 40, ""));
    let frames = Frames::default();
    collect(healthy.upcast_ref(), &frames);
    failing.set_state(gst::State::Playing).unwrap();
    healthy.set_state(gst::State::Playing).unwrap();
    let src = failing
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let _ = src.push_buffer(gst::Buffer::from_mut_slice(vec![0u8; 100]));
    let failed = failing
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(60))
        .any(|m| matches!(m.view(), gst::MessageView::Error(_)));
    assert!(failed, "the truncated frame is an error");
    wait_eos(&healthy);
    failing.set_state(gst::State::Null).unwrap();
    healthy.set_state(gst::State::Null).unwrap();
    assert_eq!(frames.lock().unwrap()["ok-out"].len(), 40);
}

#[test]
fn a_branch_added_to_a_playing_pipeline_joins_the_engine() {
    let pipeline = pipeline(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1 ! \
         fessdetect name=first motion-gate=false model-instance-id=added ! \
         appsink name=first-out sync=false",
    );
    let frames = Frames::default();
    collect(pipeline.upcast_ref(), &frames);
    pipeline.set_state(gst::State::Playing).unwrap();
    // Once the first branch has run, a second one is added while playing.
    while frames.lock().unwrap()["first-out"].len() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = gst::parse::bin_from_description(
        &branch("second", "person.jpg", 10, "model-instance-id=added"),
        false,
    )
    .unwrap();
    collect(&second, &frames);
    pipeline.add(&second).unwrap();
    second.sync_state_with_parent().unwrap();
    while frames.lock().unwrap()["second-out"].len() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = detect_stats(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(stats["first"].get::<bool>("model-loaded").unwrap());
    assert!(!stats["second"].get::<bool>("model-loaded").unwrap());
    assert_eq!(u(&stats["second"], "inferences"), 10);
    assert!(frames.lock().unwrap()["second-out"]
        .iter()
        .all(|f| f.iter().any(|l| l == "person")));
}
