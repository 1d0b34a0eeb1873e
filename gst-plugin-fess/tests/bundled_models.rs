//! The bundled detectors side by side on the project's media: YOLOX-Nano must do at least as
//! well as CenterNet for it to be the default (the criteria of the issue that brought it in;
//! persons on at least 95 % of vtest's frames is checked with the default model in
//! fessdetect.rs).

mod common;

use common::*;
use fess_gst::roi_meta;
use fess_vision::objects::RoiObject;

/// fessdetect with bundled `model` on one image.
fn detect(model: &str, image: &str) -> Vec<RoiObject> {
    let (caps, buffer) = decode_image(&media(image));
    let mut h =
        gst_check::Harness::new_parse(&format!("fessdetect model={model} motion-gate=false"));
    h.set_src_caps(caps);
    h.play();
    h.push(buffer).unwrap();
    roi_meta::read(&h.pull().unwrap())
}

fn labels(objects: &[RoiObject], label: &str) -> Vec<RoiObject> {
    objects
        .iter()
        .filter(|o| o.label == label)
        .cloned()
        .collect()
}

#[test]
fn yolox_finds_the_person_where_centernet_does() {
    let yolox = labels(&detect("yolox-nano", "person.jpg"), "person");
    let centernet = labels(&detect("centernet", "person.jpg"), "person");
    assert_eq!(
        (yolox.len(), centernet.len()),
        (1, 1),
        "{yolox:?} {centernet:?}"
    );
    let iou = yolox[0].bbox.iou(&centernet[0].bbox);
    assert!(
        iou >= 0.6,
        "IoU {iou}: {:?} vs {:?}",
        yolox[0],
        centernet[0]
    );
    assert!(yolox[0].confidence > 0.8, "{:?}", yolox[0]);
    let all = detect("yolox-nano", "person.jpg");
    for label in ["dog", "horse"] {
        assert!(!labels(&all, label).is_empty(), "no {label}: {all:?}");
    }
}

#[test]
fn yolox_finds_the_dog_the_bicycle_and_the_car() {
    let objects = detect("yolox-nano", "dog.jpg");
    for label in ["dog", "bicycle", "car"] {
        assert!(
            !labels(&objects, label).is_empty(),
            "no {label}: {objects:?}"
        );
    }
    assert!(labels(&objects, "person").is_empty(), "{objects:?}");
}

#[test]
fn yolox_finds_the_near_persons_of_kite_jpg() {
    // The three people in the foreground; the far, tiny figures on the beach (10-30 px) score
    // under the 0.4 threshold with YOLOX-Nano's 416-pixel input (CenterNet finds some of them).
    let yolox = labels(&detect("yolox-nano", "kite.jpg"), "person");
    let centernet = labels(&detect("centernet", "kite.jpg"), "person");
    assert!(yolox.len() >= 3, "{yolox:?}");
    for p in &yolox {
        assert!(
            centernet.iter().any(|c| c.bbox.iou(&p.bbox) >= 0.5),
            "{p:?} is not among CenterNet's persons {centernet:?}"
        );
    }
}
