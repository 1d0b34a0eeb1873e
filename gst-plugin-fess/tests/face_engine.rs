//! The face models on real images: detection, alignment, embeddings and the enrolment gate.

mod common;

use common::{decode_image, media, model};
use fess_vision::face::engine::{FaceEngine, Region};
use fess_vision::face::enrol::{enrol, EnrolError};
use fess_vision::preprocess::FrameView;

fn engine() -> FaceEngine {
    FaceEngine::load(
        &model("retinaface_mnet025.onnx"),
        &model("mobilefacenet.onnx"),
        0,
    )
    .expect("face models load")
}

/// Runs `f` on an image file as a packed RGB frame.
fn with_image<R>(name: &str, f: impl FnOnce(&FrameView) -> R) -> R {
    let (caps, buf) = decode_image(&media(name));
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), &info).unwrap();
    let view = fess_gst::video_frame::view(&frame).unwrap();
    f(&view)
}

#[test]
fn astronaut_face_is_found_aligned_and_enrolled() {
    let mut e = engine();
    assert_eq!(e.dim(), 192);
    with_image("astronaut.png", |img| {
        let whole = Region {
            x: 0,
            y: 0,
            width: img.width,
            height: img.height,
        };
        let faces = e.detect(img, whole, 640, 0.7, 10).unwrap();
        assert_eq!(faces.len(), 1, "{faces:?}");
        let f = &faces[0];
        // The face sits in the upper middle of the 512x512 portrait.
        let (cx, cy) = f.bbox.center();
        assert!(
            (150.0..300.0).contains(&cx) && (50.0..250.0).contains(&cy),
            "{f:?}"
        );
        assert!(f.size() > 80.0, "{f:?}");
        // Eyes above the nose above the mouth; left eye left of the right one.
        let lm = f.landmarks;
        assert!(
            lm[0].0 < lm[1].0 && lm[0].1 < lm[2].1 && lm[2].1 < lm[3].1,
            "{lm:?}"
        );
        let enrolment = enrol(&mut e, img).unwrap();
        let norm: f32 = enrolment
            .embedding
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(enrolment.sharpness > 40.0);
        println!("astronaut sharpness {}", enrolment.sharpness);
    });
}

#[test]
fn enrolment_refuses_images_without_exactly_one_good_face() {
    let mut e = engine();
    let err = with_image("dog.jpg", |img| enrol(&mut e, img)).unwrap_err();
    assert!(matches!(err, EnrolError::NoFace), "{err}");
}

/// The astronaut as packed RGB.
fn astronaut() -> (usize, usize, Vec<u8>) {
    with_image("astronaut.png", |img| {
        let mut data = Vec::with_capacity(img.width * img.height * 3);
        for y in 0..img.height {
            let row = &img.planes[0][y * img.strides[0]..];
            data.extend_from_slice(&row[..img.width * 3]);
        }
        (img.width, img.height, data)
    })
}

fn rgb_view(width: usize, height: usize, data: &[u8]) -> FrameView<'_> {
    FrameView {
        format: fess_vision::preprocess::PixelFormat::Rgb,
        width,
        height,
        planes: [data, &[], &[]],
        strides: [width * 3, 0, 0],
        yuv: Default::default(),
    }
}

#[test]
fn enrolment_refuses_two_faces_and_a_tiny_face() {
    let mut e = engine();
    let (w, h, data) = astronaut();
    // Two astronauts side by side.
    let mut two = Vec::with_capacity(w * 2 * h * 3);
    for y in 0..h {
        let row = &data[y * w * 3..(y + 1) * w * 3];
        two.extend_from_slice(row);
        two.extend_from_slice(row);
    }
    let err = enrol(&mut e, &rgb_view(w * 2, h, &two)).unwrap_err();
    assert!(matches!(err, EnrolError::SeveralFaces(2)), "{err}");
    // A quarter-size astronaut: the face is about 30 pixels.
    let (sw, sh) = (w / 4, h / 4);
    let small: Vec<u8> = (0..sh)
        .flat_map(|y| (0..sw).map(move |x| (y, x)))
        .flat_map(|(y, x)| {
            let p = (y * 4 * w + x * 4) * 3;
            [data[p], data[p + 1], data[p + 2]]
        })
        .collect();
    let err = enrol(&mut e, &rgb_view(sw, sh, &small)).unwrap_err();
    assert!(matches!(err, EnrolError::TooSmall { .. }), "{err}");
    assert!(err.to_string().contains("at least 64"), "{err}");
}

/// The first face embedding of frames `picks` of the carphone clip.
fn carphone_embeddings(e: &mut FaceEngine, picks: &[usize]) -> Vec<Vec<f32>> {
    let run = common::run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        media("carphone_pristine.mp4").display()
    ));
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 176, 144)
        .build()
        .unwrap();
    picks
        .iter()
        .map(|&i| {
            let frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(run.buffers[i].as_ref(), &info)
                    .unwrap();
            let view = fess_gst::video_frame::view(&frame).unwrap();
            let whole = Region {
                x: 0,
                y: 0,
                width: 176,
                height: 144,
            };
            let faces = e.detect(&view, whole, 320, 0.7, 4).unwrap();
            assert!(!faces.is_empty(), "no face on carphone frame {i}");
            let aligned = e.align(&view, &faces[0]).unwrap();
            e.embed(&[aligned]).unwrap().remove(0)
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn same_person_embeddings_are_closer_than_different_persons() {
    let mut e = engine();
    let man = carphone_embeddings(&mut e, &[0, 40, 80, 119]);
    let (w, h, data) = astronaut();
    let astro = enrol(&mut e, &rgb_view(w, h, &data)).unwrap().embedding;
    let mut worst_same = f32::MAX;
    for i in 0..man.len() {
        for j in i + 1..man.len() {
            worst_same = worst_same.min(cosine(&man[i], &man[j]));
        }
    }
    let best_other = man
        .iter()
        .map(|m| cosine(m, &astro))
        .fold(f32::MIN, f32::max);
    println!("carphone same-person min {worst_same:.3}, vs astronaut max {best_other:.3}");
    assert!(
        worst_same > best_other + 0.2,
        "same {worst_same} vs other {best_other}"
    );
    assert!(worst_same > 0.5 && best_other < 0.4);
}
