//! `fessoverlay` draws the ROIs onto the picture in RGB, BGR, I420 and NV12, blurs faces and
//! persons on request, refuses an unusable font at start; an annotated MP4 of a real pipeline.

mod common;

use common::{decode_image, init, media, run_pipeline};
use fess_gst::roi_meta;
use fess_vision::draw::annotate::color_for;
use fess_vision::draw::rect::Rect;
use fess_vision::geometry::BBox;
use fess_vision::objects::{FaceInfo, RoiObject};
use gst::prelude::*;

const W: usize = 64;
const H: usize = 48;

fn grey_frame(objects: &[RoiObject]) -> gst::Buffer {
    let mut buf = gst::Buffer::from_mut_slice(vec![128u8; W * H * 3]);
    for o in objects {
        roi_meta::attach(buf.get_mut().unwrap(), W as u32, H as u32, o);
    }
    buf
}

fn object(bbox: BBox, track: u64, face: Option<FaceInfo>) -> RoiObject {
    let label = if face.is_some() { "face" } else { "person" };
    RoiObject {
        face,
        ..RoiObject::tracked(label, 0, 0.9, bbox, track)
    }
}

fn mallory(bbox: BBox) -> RoiObject {
    object(
        bbox,
        9,
        Some(FaceInfo {
            face_id: "face_9".into(),
            person_name: Some("Mallory".into()),
            confidence: 0.93,
            is_authorized: false,
            known: true,
        }),
    )
}

fn px(data: &[u8], x: usize, y: usize, bgr: bool) -> [u8; 3] {
    let p = &data[(y * W + x) * 3..(y * W + x) * 3 + 3];
    if bgr {
        [p[2], p[1], p[0]]
    } else {
        [p[0], p[1], p[2]]
    }
}

#[test]
fn boxes_in_track_colours_and_an_unauthorised_face_in_red() {
    init();
    for (format, bgr) in [("RGB", false), ("BGR", true)] {
        let mut h = gst_check::Harness::new_parse("fessoverlay thickness=1 font-scale=1");
        h.set_src_caps_str(&format!(
            "video/x-raw,format={format},width={W},height={H},framerate=10/1"
        ));
        h.play();
        let person = object(BBox::new(0.25, 0.5, 0.75, 1.0), 3, None);
        let face = mallory(BBox::new(0.0625, 0.0625, 0.25, 0.3));
        let out = h.push_and_pull(grey_frame(&[person, face])).unwrap();
        let map = out.map_readable().unwrap();
        let d = map.as_slice();
        // The person's bottom edge (y = 47) in track 3's colour, its inside untouched.
        assert_eq!(px(d, 32, 47, bgr), color_for(3), "{format}");
        assert_eq!(px(d, 32, 40, bgr), [128, 128, 128], "{format}");
        // The face box's right edge (x = 16) in red, below its caption (rows 0–11).
        assert_eq!(px(d, 16, 13, bgr), [255, 0, 0], "{format}");
        // Far from every box and caption: untouched.
        assert_eq!(px(d, 8, 40, bgr), [128, 128, 128], "{format}");
    }
    // No ROI: the frame passes untouched.
    let mut h = gst_check::Harness::new_parse("fessoverlay");
    h.set_src_caps_str(&format!(
        "video/x-raw,format=RGB,width={W},height={H},framerate=10/1"
    ));
    h.play();
    let out = h.push_and_pull(grey_frame(&[])).unwrap();
    assert!(out.map_readable().unwrap().iter().all(|&v| v == 128));
}

/// An RGB `image` converted by a real `videoconvert` into `format`, given `objects` (attached
/// after the conversion: GStreamer 1.22's `videoconvert` drops ROI metas when it converts),
/// through `fessoverlay <props>`, and converted back to RGB: what a viewer of the `format`
/// output sees.
fn overlay_in(
    format: &str,
    caps: &gst::Caps,
    image: &gst::Buffer,
    objects: &[RoiObject],
    props: &str,
) -> Vec<u8> {
    let mut convert = gst_check::Harness::new_parse(&format!(
        "videoconvert ! capsfilter caps=video/x-raw,format={format}"
    ));
    convert.set_src_caps(caps.clone());
    convert.play();
    let mut frame = convert.push_and_pull(image.copy()).unwrap();
    let frame_caps = convert.sinkpad().unwrap().current_caps().unwrap();
    let info = gst_video::VideoInfo::from_caps(&frame_caps).unwrap();
    for o in objects {
        roi_meta::attach(frame.make_mut(), info.width(), info.height(), o);
    }
    let mut h = gst_check::Harness::new_parse(&format!(
        "fessoverlay {props} ! videoconvert ! capsfilter caps=video/x-raw,format=RGB"
    ));
    h.set_src_caps(frame_caps);
    h.play();
    let out = h.push_and_pull(frame).unwrap();
    let rgb = out.map_readable().unwrap().to_vec();
    rgb
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 6)
}

#[test]
fn yuv_frames_get_their_boxes_in_the_right_colours_and_places() {
    init();
    let caps: gst::Caps = format!("video/x-raw,format=RGB,width={W},height={H},framerate=10/1")
        .parse()
        .unwrap();
    // Boxes with even edges 4 pixels wide, so whole chroma samples lie on them.
    let person = object(BBox::new(0.5, 0.375, 0.875, 1.0), 3, None);
    let face = mallory(BBox::new(0.0625, 0.5, 0.359375, 0.9375));
    for format in ["I420", "NV12", "RGB"] {
        let d = overlay_in(
            format,
            &caps,
            &grey_frame(&[]),
            &[person.clone(), face.clone()],
            "thickness=4 font-scale=1 show-confidence=false",
        );
        let at = |x, y| px(&d, x, y, false);
        // The person's bottom (rows 44–47) and left (columns 32–35) edges in track 3's colour.
        assert!(
            close(at(44, 45), color_for(3)),
            "{format}: {:?}",
            at(44, 45)
        );
        assert!(
            close(at(33, 40), color_for(3)),
            "{format}: {:?}",
            at(33, 40)
        );
        // Mallory's right (columns 20–23) and bottom (rows 42–45) edges in red.
        assert!(close(at(22, 34), [255, 0, 0]), "{format}: {:?}", at(22, 34));
        assert!(close(at(12, 43), [255, 0, 0]), "{format}: {:?}", at(12, 43));
        // Inside the boxes and far from every caption: still grey.
        for (x, y) in [(44, 34), (12, 32), (60, 2), (1, 40), (28, 46)] {
            assert!(
                close(at(x, y), [128; 3]),
                "{format} ({x},{y}): {:?}",
                at(x, y)
            );
        }
    }
}

/// Variance of the Laplacian of the luma of the pixels `r` (inset by one for the kernel): high
/// for detail, near 0 for a blurred region.
fn sharpness(rgb: &[u8], width: usize, r: Rect) -> f64 {
    let luma = |x: usize, y: usize| {
        let o = (y * width + x) * 3;
        0.299 * rgb[o] as f64 + 0.587 * rgb[o + 1] as f64 + 0.114 * rgb[o + 2] as f64
    };
    let values: Vec<f64> = (r.y0 + 1..r.y1 - 1)
        .flat_map(|y| (r.x0 + 1..r.x1 - 1).map(move |x| (x, y)))
        .map(|(x, y)| {
            4.0 * luma(x, y) - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1)
        })
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
}

fn region(rgb: &[u8], width: usize, r: Rect) -> Vec<u8> {
    (r.y0..r.y1)
        .flat_map(|y| rgb[(y * width + r.x0) * 3..(y * width + r.x1) * 3].to_vec())
        .collect()
}

#[test]
fn blurred_faces_and_persons_lose_their_detail_and_nothing_else_changes() {
    let (caps, image) = decode_image(&media("astronaut.png"));
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let (w, h) = (info.width() as usize, info.height() as usize);
    assert_eq!(info.stride()[0] as usize, w * 3);
    let face = mallory(BBox::new(0.3, 0.1, 0.6, 0.45));
    let person = object(BBox::new(0.05, 0.55, 0.45, 0.95), 3, None);
    // Measured well inside each box, clear of its outline and of the other box's caption.
    let inner = |b: &BBox| {
        let r = Rect::from_normalised(b, w, h);
        Rect {
            x0: r.x0 + 8,
            y0: r.y0 + 8,
            x1: r.x1 - 8,
            y1: r.y1 - 8,
        }
    };
    let (face_r, person_r) = (inner(&face.bbox), inner(&person.bbox));
    // Right of both boxes, below the face's caption.
    let outside = Rect {
        x0: (0.7 * w as f32) as usize,
        y0: (0.3 * h as f32) as usize,
        x1: w,
        y1: h,
    };
    for format in ["RGB", "I420", "NV12"] {
        let objects = [face.clone(), person.clone()];
        let run = |props: &str| overlay_in(format, &caps, &image, &objects, props);
        let plain = run("");
        let faces = run("blur-faces=true");
        let persons = run("blur-persons=true");
        let (face_before, person_before) =
            (sharpness(&plain, w, face_r), sharpness(&plain, w, person_r));
        assert!(
            face_before > 50.0 && person_before > 50.0,
            "{format}: {face_before} {person_before}"
        );
        let face_after = sharpness(&faces, w, face_r);
        assert!(
            face_after < face_before / 20.0,
            "{format}: face {face_before} → {face_after}"
        );
        assert_eq!(
            region(&faces, w, person_r),
            region(&plain, w, person_r),
            "{format}"
        );
        let person_after = sharpness(&persons, w, person_r);
        assert!(
            person_after < person_before / 20.0,
            "{format}: person {person_before} → {person_after}"
        );
        assert_eq!(
            region(&persons, w, face_r),
            region(&plain, w, face_r),
            "{format}"
        );
        for blurred in [&faces, &persons] {
            assert_eq!(
                region(blurred, w, outside),
                region(&plain, w, outside),
                "{format}"
            );
        }
    }
}

/// A rules file's line across the middle (A left, B right: "in" is down the frame) and a zone
/// on the right half.
const RULES: &str = r#"
[[line]]
name = "door"
points = [[0.0, 0.5], [1.0, 0.5]]

[[zone]]
name = "bay"
points = [[0.5, 0.1], [0.95, 0.1], [0.95, 0.9], [0.5, 0.9]]
"#;

#[test]
fn lines_and_zones_of_a_rules_file_are_drawn_with_their_counts() {
    init();
    let rules = fess_testkit::tmp_dir("overlay-rules").with_extension("toml");
    std::fs::write(&rules, RULES).unwrap();
    let (w, h) = (320usize, 240usize);
    let mut harness = gst_check::Harness::new_parse(&format!(
        "fessoverlay thickness=2 font-scale=1 alert-rules={}",
        rules.display()
    ));
    harness.set_src_caps_str(&format!(
        "video/x-raw,format=RGB,width={w},height={h},framerate=10/1"
    ));
    harness.play();
    let grey = |objects: &[RoiObject]| {
        let mut buf = gst::Buffer::from_mut_slice(vec![128u8; w * h * 3]);
        for o in objects {
            roi_meta::attach(buf.get_mut().unwrap(), w as u32, h as u32, o);
        }
        buf
    };
    let at = |d: &[u8], x: usize, y: usize| -> [u8; 3] {
        let i = (y * w + x) * 3;
        [d[i], d[i + 1], d[i + 2]]
    };
    // No object at all: the line and the zone are still drawn (and nothing else).
    let out = harness.push_and_pull(grey(&[])).unwrap();
    let d = out.map_readable().unwrap();
    assert_eq!(
        at(&d, 40, 120),
        [0, 220, 255],
        "the line, left of its label"
    );
    assert_eq!(at(&d, 250, 24), [255, 200, 0], "the zone's top edge");
    assert_eq!(at(&d, 200, 216), [255, 200, 0], "the zone's bottom edge");
    assert_eq!(at(&d, 40, 200), [128, 128, 128], "away from both");
    let label = |d: &[u8]| -> Vec<u8> {
        (100..124)
            .flat_map(|y| (160..300).flat_map(move |x| [x, y]))
            .collect::<Vec<_>>()
            .chunks(2)
            .flat_map(|p| at(d, p[0], p[1]))
            .collect()
    };
    let before = label(&d);
    drop(d);
    // A person walks down across the line (its feet, the box's bottom, from y 0.3 to 0.8) at
    // 10 fps: the label over the line's middle changes once the crossing counts.
    let mut last = Vec::new();
    for i in 0..12u64 {
        let y = 0.3 + 0.05 * i as f64;
        let person = object(BBox::new(0.1, (y - 0.2) as f32, 0.2, y as f32), 1, None);
        let mut buf = grey(&[person]);
        buf.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(100 * i));
        let out = harness.push_and_pull(buf).unwrap();
        last = label(&out.map_readable().unwrap());
    }
    assert_ne!(before, last, "the count on the line's label did not change");
}

#[test]
fn bad_rules_files_fail_at_start_with_the_file_line_and_reason() {
    let rules = fess_testkit::tmp_dir("overlay-bad-rules").with_extension("toml");
    std::fs::write(
        &rules,
        "\n[[line]]\nname = 'door'\npoints = [[0.5, 0.2], [0.5, 0.2]]\n",
    )
    .unwrap();
    let run = run_pipeline(&format!(
        "videotestsrc num-buffers=1 ! fessoverlay alert-rules=\"{}\" ! fakesink",
        rules.display()
    ));
    let error = run.error.expect("an error");
    assert!(
        error.contains(&format!(
            "alert rules {}: line 2: [[line]] 1: 'door': the line has zero length",
            rules.display()
        )),
        "{error}"
    );
}

#[test]
fn an_unusable_font_fails_at_start_with_the_reason() {
    let not_a_font = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    for (font, reason) in [
        (
            "/nonexistent/Sans.ttf",
            "cannot read the font file /nonexistent/Sans.ttf",
        ),
        (not_a_font, "is not a usable TrueType/OpenType font"),
    ] {
        let run = run_pipeline(&format!(
            "videotestsrc num-buffers=1 ! fessoverlay font=\"{font}\" ! fakesink"
        ));
        let error = run.error.expect("an error");
        assert!(error.contains(reason), "{error}");
    }
    // Another TrueType font works.
    let run = run_pipeline(
        "videotestsrc num-buffers=1 ! \
         fessoverlay font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ! fakesink",
    );
    assert_eq!(run.error, None);
}

#[test]
fn annotated_recording_of_vtest_is_a_playable_mp4() {
    let dir = fess_testkit::tmp_dir("overlay-mp4");
    std::fs::create_dir_all(&dir).unwrap();
    let mp4 = dir.join("annotated.mp4");
    let clip = fess_testkit::clip(&media("vtest.avi"), 40);
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! fessdetect ! fessoverlay blur-persons=true ! \
         openh264enc bitrate=2000000 ! h264parse ! mp4mux ! filesink location=\"{}\"",
        clip.display(),
        mp4.display()
    ));
    assert_eq!(run.error, None);
    // Decoded back: the frames are there, and boxes were drawn: far more strongly coloured
    // pixels than vtest has itself (a `videoconvert` before `fessoverlay` used to drop the ROIs,
    // leaving a recording without a box).
    let last_frame = |launch: String| {
        let run = run_pipeline(&format!(
            "{launch} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink"
        ));
        assert_eq!(run.error, None);
        (run.buffers.len(), run.buffers.last().unwrap().clone())
    };
    let vivid = |frame: &gst::Buffer| {
        let map = frame.map_readable().unwrap();
        map.chunks_exact(3)
            .filter(|p| {
                let (mx, mn) = (*p.iter().max().unwrap(), *p.iter().min().unwrap());
                mx as i32 - mn as i32 > 120
            })
            .count()
    };
    let (frames, annotated) = last_frame(format!("filesrc location=\"{}\"", mp4.display()));
    assert_eq!(frames, 40);
    let (_, original) = last_frame(format!("filesrc location=\"{}\"", clip.display()));
    let (annotated, original) = (vivid(&annotated), vivid(&original));
    assert!(
        annotated > original + 3000,
        "{annotated} strongly coloured pixels, {original} without the overlay"
    );
}
