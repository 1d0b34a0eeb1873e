//! Every decoder on constructed models whose outputs are known by construction (see
//! tests/models/make_test_models.py), through ONNX Runtime and through the element.

mod common;

use common::*;
use fess_gst::roi_meta;
use fess_vision::detect::decoders::{DecodeParams, Decoder, ModelFamily};
use fess_vision::geometry::BBox;
use fess_vision::objects::RoiObject;
use fess_vision::preprocess::Preprocessor;
use fess_vision::runtime::inference::Model;

const PARAMS: DecodeParams = DecodeParams {
    threshold: 0.4,
    iou_threshold: 0.5,
    max_detections: 100,
};

/// Decodes one run of `name` on a black frame: (box in input pixels, class, score), best first.
fn decode(name: &str) -> (Decoder, Vec<(BBox, usize, f32)>) {
    let mut model = Model::load(&test_model(name), 1, None).unwrap();
    let decoder = Decoder::for_signature(name, model.signature(), None).unwrap();
    let spec = decoder.input_spec(&model.signature().inputs[0]).unwrap();
    let size = (spec.width, spec.height);
    let pre = Preprocessor::new(spec, 64, 64);
    let dets = model
        .run(pre.tensor(), &pre.tensor_shape(), |outs, names| {
            decoder.decode(name, outs, names, size, &PARAMS)
        })
        .unwrap()
        .unwrap();
    (
        decoder,
        dets.into_iter()
            .map(|d| (d.bbox, d.class_id, d.score))
            .collect(),
    )
}

fn assert_dets(got: &[(BBox, usize, f32)], want: &[([f32; 4], usize, f32)]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((b, c, s), (wb, wc, ws)) in got.iter().zip(want) {
        let g = [b.x1, b.y1, b.x2, b.y2];
        assert!(
            g.iter().zip(wb).all(|(a, e)| (a - e).abs() < 1e-4),
            "box {g:?} != {wb:?}"
        );
        assert_eq!(c, wc);
        assert!((s - ws).abs() < 1e-5, "score {s} != {ws}");
    }
}

#[test]
fn rtmdet_end2end_keeps_the_graphs_nms_result() {
    let (decoder, got) = decode("rtmdet_end2end.onnx");
    assert_eq!(decoder.family(), ModelFamily::RtmDet);
    assert!(matches!(decoder, Decoder::RtmDetEnd2End { .. }));
    assert_dets(
        &got,
        &[
            ([4.0, 8.0, 20.0, 40.0], 0, 0.9),
            ([30.0, 30.0, 60.0, 62.0], 2, 0.8),
            ([6.0, 10.0, 22.0, 42.0], 0, 0.6),
        ],
    );
}

#[test]
fn rtmdet_raw_heads_decode_distances_and_suppress() {
    let (decoder, got) = decode("rtmdet_heads.onnx");
    let Decoder::RtmDetHeads {
        levels,
        num_classes,
    } = decoder
    else {
        panic!("{decoder:?}")
    };
    assert_eq!((levels.len(), num_classes), (3, 3));
    assert_dets(
        &got,
        &[
            ([16.0, 8.0, 32.0, 40.0], 0, 0.952574),
            ([6.0, 4.0, 30.0, 32.0], 1, 0.880797),
            ([12.0, 12.0, 62.0, 62.0], 2, 0.622459),
        ],
    );
}

#[test]
fn yolox_raw_heads_decode_grid_cells_and_suppress() {
    let (decoder, got) = decode("yolox_like.onnx");
    assert_eq!(
        decoder,
        Decoder::Yolox {
            output: 0,
            num_classes: 3
        }
    );
    assert_dets(
        &got,
        &[
            ([20.0, 4.0, 36.0, 36.0], 0, 0.855),
            ([4.0, 0.0, 28.0, 32.0], 1, 0.855),
            ([32.0, 32.0, 64.0, 64.0], 0, 0.56),
            ([4.0, 0.0, 28.0, 32.0], 2, 0.475),
        ],
    );
}

#[test]
fn centernet_shaped_model() {
    let (decoder, got) = decode("centernet_like.onnx");
    assert_eq!(decoder.family(), ModelFamily::CenterNet);
    assert_dets(
        &got,
        &[
            ([8.0, 8.0, 40.0, 56.0], 0, 0.85),
            ([20.0, 20.0, 60.0, 60.0], 16, 0.5),
        ],
    );
}

#[test]
fn ssd_shaped_model() {
    let (decoder, got) = decode("ssd_like.onnx");
    assert_eq!(decoder.family(), ModelFamily::Ssd);
    // Dynamic input: fed at 300×300; box y1,x1,y2,x2 = .25,.125,.75,.5 of it.
    assert_dets(&got, &[([37.5, 75.0, 150.0, 225.0], 0, 0.9)]);
}

/// Runs fessdetect with a constructed model on one black `w × h` RGB frame.
fn element_rois(model: &str, w: u32, h: u32) -> Vec<RoiObject> {
    init();
    let mut harness = gst_check::Harness::new_parse(&format!(
        "fessdetect model=\"{}\" motion-gate=false",
        test_model(model).display()
    ));
    harness.set_src_caps_str(&format!(
        "video/x-raw,format=RGB,width={w},height={h},framerate=10/1"
    ));
    harness.play();
    harness
        .push(gst::Buffer::from_mut_slice(vec![0u8; (w * h * 3) as usize]))
        .unwrap();
    roi_meta::read(&harness.pull().unwrap())
}

fn assert_rois(got: &[RoiObject], want: &[(&str, [f32; 4])]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (o, (label, b)) in got.iter().zip(want) {
        assert_eq!(&o.label, label);
        let g = [o.bbox.x1, o.bbox.y1, o.bbox.x2, o.bbox.y2];
        assert!(
            g.iter().zip(b).all(|(a, e)| (a - e).abs() < 1e-4),
            "{label}: {g:?} != {b:?}"
        );
    }
}

#[test]
fn element_maps_letterboxed_rtmdet_boxes_to_the_frame() {
    // 128×64 frame into the 64×64 input: content 64×32 at the top, so x/64 and y/32 (clamped).
    assert_rois(
        &element_rois("rtmdet_end2end.onnx", 128, 64),
        &[
            ("person", [0.0625, 0.25, 0.3125, 1.0]),
            ("car", [0.46875, 0.9375, 0.9375, 1.0]),
            ("person", [0.09375, 0.3125, 0.34375, 1.0]),
        ],
    );
    // YOLOX on a 64×128 (portrait) frame: content 32×64 at the top-left, so x/32 and y/64
    // (clamped); the box at input (32,32)-(64,64) falls outside the picture and is dropped.
    assert_rois(
        &element_rois("yolox_like.onnx", 64, 128),
        &[
            ("person", [0.625, 0.0625, 1.0, 0.5625]),
            ("bicycle", [0.125, 0.0, 0.875, 0.5]),
            ("car", [0.125, 0.0, 0.875, 0.5]),
        ],
    );
    assert_rois(
        &element_rois("rtmdet_heads.onnx", 64, 64),
        &[
            ("person", [0.25, 0.125, 0.5, 0.625]),
            ("bicycle", [0.09375, 0.0625, 0.46875, 0.5]),
            ("car", [0.1875, 0.1875, 0.96875, 0.96875]),
        ],
    );
}

#[test]
fn element_maps_stretched_centernet_and_ssd_boxes_to_the_frame() {
    // Stretch: 128×64 frame → 64×64 input, x/64 and y/64 of the input = the same share of the frame.
    assert_rois(
        &element_rois("centernet_like.onnx", 128, 64),
        &[
            ("person", [0.125, 0.125, 0.625, 0.875]),
            ("dog", [0.3125, 0.3125, 0.9375, 0.9375]),
        ],
    );
    assert_rois(
        &element_rois("ssd_like.onnx", 200, 100),
        &[("person", [0.125, 0.25, 0.5, 0.75])],
    );
}
