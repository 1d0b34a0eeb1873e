//! `fessoverlay` draws the ROIs onto the picture; an annotated MP4 of a real pipeline.

mod common;

use common::{init, media, run_pipeline};
use gstfess::draw::color_for;
use gstfess::geometry::BBox;
use gstfess::roi_meta::{self, FaceInfo, RoiObject};

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
        let face = object(
            BBox::new(0.0625, 0.0625, 0.25, 0.3),
            9,
            Some(FaceInfo {
                face_id: "face_9".into(),
                person_name: Some("Mallory".into()),
                confidence: 0.93,
                is_authorized: false,
                known: true,
            }),
        );
        let out = h.push_and_pull(grey_frame(&[person, face])).unwrap();
        let map = out.map_readable().unwrap();
        let d = map.as_slice();
        // The person's bottom edge (y = 47) in track 3's colour, its inside untouched.
        assert_eq!(px(d, 32, 47, bgr), color_for(3), "{format}");
        assert_eq!(px(d, 32, 40, bgr), [128, 128, 128], "{format}");
        // The face box's right edge (x = 16) in red.
        assert_eq!(px(d, 16, 10, bgr), [255, 0, 0], "{format}");
        // Far from every box and caption: untouched.
        assert_eq!(px(d, 60, 12, bgr), [128, 128, 128], "{format}");
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

#[test]
fn annotated_recording_of_vtest_is_a_playable_mp4() {
    let dir = fess_testkit::tmp_dir("overlay-mp4");
    std::fs::create_dir_all(&dir).unwrap();
    let mp4 = dir.join("annotated.mp4");
    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! fessdetect ! videoconvert ! \
         video/x-raw,format=RGB ! fessoverlay ! videoconvert ! openh264enc bitrate=2000000 ! h264parse ! \
         mp4mux ! filesink location=\"{}\"",
        fess_testkit::clip(&media("vtest.avi"), 40).display(),
        mp4.display()
    ));
    assert_eq!(run.error, None);
    // Decoded back: the frames are there, and boxes were drawn (colours vtest does not have).
    let back = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
        mp4.display()
    ));
    assert_eq!(back.error, None);
    assert_eq!(back.buffers.len(), 40);
    let last = back.buffers.last().unwrap().map_readable().unwrap();
    let vivid = last
        .chunks_exact(3)
        .filter(|p| {
            let (mx, mn) = (*p.iter().max().unwrap(), *p.iter().min().unwrap());
            mx as i32 - mn as i32 > 120
        })
        .count();
    assert!(vivid > 200, "{vivid} strongly coloured pixels");
}
