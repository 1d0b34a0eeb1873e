//! Bad input gets a clear error and never a panic.

mod common;

use common::*;
use fess_gst::roi_meta;
use gst::prelude::*;

/// The error a one-frame pipeline through `fessdetect <props>` stops with.
fn error_with(props: &str) -> String {
    let run = run_pipeline(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=64 ! fessdetect {props} ! fakesink"
    ));
    run.error
        .unwrap_or_else(|| panic!("fessdetect {props} ran without an error"))
}

#[test]
fn missing_model_file() {
    let e = error_with("model=/nonexistent/detector.onnx");
    assert!(
        e.contains("model file /nonexistent/detector.onnx does not exist"),
        "{e}"
    );
}

#[test]
fn an_unknown_model_name_lists_the_bundled_ones() {
    let e = error_with("model=no-such-name");
    assert!(
        e.contains("model 'no-such-name' is neither a bundled model (yolox-nano, centernet, ssdlite-person) nor a file"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_onnx() {
    let e = error_with(&format!(
        "model=\"{}\"",
        test_model("not_onnx.onnx").display()
    ));
    assert!(e.contains("cannot be loaded by ONNX Runtime"), "{e}");
}

#[test]
fn a_model_whose_outputs_fit_no_decoder() {
    let e = error_with(&format!(
        "model=\"{}\"",
        test_model("no_decoder.onnx").display()
    ));
    assert!(e.contains("fit no decoder") && e.contains("y [1,7]"), "{e}");
    // Forcing a family names what that family expects.
    let e = error_with(&format!(
        "model=\"{}\" model-type=rtmdet",
        test_model("centernet_like.onnx").display()
    ));
    assert!(
        e.contains("not a RtmDet model") && e.contains("dets [1,N,5]"),
        "{e}"
    );
}

#[test]
fn labels_file_with_the_wrong_count() {
    let path = std::env::temp_dir().join(format!("fess-3-labels-{}.txt", std::process::id()));
    std::fs::write(&path, "person\ncar\ndog\n").unwrap();
    let e = error_with(&format!("labels=\"{}\"", path.display()));
    assert!(e.contains("has 3 labels but the model predicts 80"), "{e}");
}

#[test]
fn unknown_object_class() {
    let e = error_with("object-class=person,unicorn");
    assert!(e.contains("object-class 'unicorn' is not a label"), "{e}");
}

#[test]
fn unsupported_caps_are_refused_at_negotiation() {
    init();
    // Linking names the caps it cannot handle.
    let e = gst::parse::launch("videotestsrc ! video/x-raw,format=YUY2 ! fessdetect ! fakesink")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("can't handle caps video/x-raw, format=(string)YUY2"),
        "{e}"
    );
    // Caps pushed at run time are refused too.
    let mut h = gst_check::Harness::new("fessdetect");
    h.set_src_caps_str("video/x-raw,format=YUY2,width=64,height=64,framerate=10/1");
    h.play();
    let flow = h.push(gst::Buffer::from_mut_slice(vec![0u8; 64 * 64 * 2]));
    assert_eq!(flow, Err(gst::FlowError::NotNegotiated));
}

#[test]
fn resolution_change_mid_stream_renegotiates() {
    init();
    let mut h = gst_check::Harness::new_parse(&format!(
        "fessdetect model=\"{}\" motion-gate=false",
        test_model("rtmdet_end2end.onnx").display()
    ));
    h.play();
    let mut first_box = Vec::new();
    for (w, h_) in [(64u32, 64u32), (128, 64), (64, 64)] {
        h.set_src_caps_str(&format!(
            "video/x-raw,format=RGB,width={w},height={h_},framerate=10/1"
        ));
        h.push(gst::Buffer::from_mut_slice(vec![
            0u8;
            (w * h_ * 3) as usize
        ]))
        .unwrap();
        let rois = roi_meta::read(&h.pull().unwrap());
        assert_eq!(rois.len(), 3, "{w}x{h_}");
        first_box.push(rois[0].bbox);
    }
    // 64×64: x/64, y/64; 128×64 letterboxed: x/64, y/32.
    assert_eq!(
        first_box[0],
        fess_vision::geometry::BBox::new(0.0625, 0.125, 0.3125, 0.625)
    );
    assert_eq!(
        first_box[1],
        fess_vision::geometry::BBox::new(0.0625, 0.25, 0.3125, 1.0)
    );
    assert_eq!(first_box[2], first_box[0]);
}

#[test]
fn a_truncated_frame_is_an_error_not_a_crash() {
    init();
    let mut h = gst_check::Harness::new_parse(&format!(
        "fessdetect model=\"{}\"",
        test_model("rtmdet_end2end.onnx").display()
    ));
    h.set_src_caps_str("video/x-raw,format=RGB,width=64,height=64,framerate=10/1");
    h.play();
    // Half a frame's bytes.
    let flow = h.push(gst::Buffer::from_mut_slice(vec![0u8; 64 * 32 * 3]));
    assert_eq!(flow, Err(gst::FlowError::Error));
}

#[test]
fn out_of_range_threshold_is_refused_with_a_clear_message() {
    init();
    // In-process: GLib refuses the value and the default stays.
    let e = gst::ElementFactory::make("fessdetect").build().unwrap();
    assert!(e.find_property("threshold").is_some());
    let pipeline = gst::parse::launch("fessdetect name=d threshold=2.0").unwrap();
    let d = pipeline
        .downcast::<gst::Bin>()
        .map(|b| b.by_name("d").unwrap())
        .unwrap_or(e);
    assert_eq!(d.property::<f64>("threshold"), 0.4);

    // From gst-launch-1.0 with the built plugin: a warning naming the property, no panic.
    let deps = std::env::current_exe().unwrap();
    let plugin_dir = deps.parent().unwrap().parent().unwrap();
    assert!(
        plugin_dir.join("libgstfess.so").is_file(),
        "libgstfess.so not built in {}",
        plugin_dir.display()
    );
    let out = std::process::Command::new("gst-launch-1.0")
        .args([
            "videotestsrc",
            "num-buffers=1",
            "!",
            "fessdetect",
            "threshold=2.0",
            "!",
            "fakesink",
        ])
        .env("GST_PLUGIN_PATH", plugin_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("out of range for property 'threshold'"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
