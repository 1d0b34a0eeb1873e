//! Detections on buffers as `GstVideoRegionOfInterestMeta`, the way DL Streamer carries them:
//! `roi_type` = class label, a `detection` parameter structure (label, `label_id` as a signed
//! int, confidence, normalised x_min/y_min/x_max/y_max), the track id twice — in our `tracking`
//! structure (`track_id`, guint64) and in DL Streamer's `object_id` (`id`, int), so its tools
//! (gvametaconvert, gvawatermark, gvametapublish) read it — and, on faces, a `face` one
//! (face_id, person_name when known, confidence, is_authorized, known). Reading accepts what
//! DL Streamer's elements write as well.

use gst_video::VideoRegionOfInterestMeta;

use fess::events::emission::{SeenFace, SeenObject};
use fess_vision::geometry::BBox;
use fess_vision::objects::{FaceInfo, RoiObject};

/// Attaches `obj` to `buffer` for a `width × height` frame; returns the meta id.
pub fn attach(buffer: &mut gst::BufferRef, width: u32, height: u32, obj: &RoiObject) -> i32 {
    let b = obj.bbox.clamp(1.0, 1.0);
    let (w, h) = (width as f32, height as f32);
    let x = (b.x1 * w).round() as u32;
    let y = (b.y1 * h).round() as u32;
    let rect = (
        x,
        y,
        ((b.x2 * w).round() as u32).saturating_sub(x),
        ((b.y2 * h).round() as u32).saturating_sub(y),
    );
    let id = buffer.iter_meta::<VideoRegionOfInterestMeta>().count() as i32 + 1;
    let mut meta = VideoRegionOfInterestMeta::add(buffer, &obj.label, rect);
    meta.set_id(id);
    meta.add_param(
        gst::Structure::builder("detection")
            .field("label", &obj.label)
            .field("label_id", obj.label_id)
            .field("confidence", obj.confidence)
            .field("x_min", b.x1 as f64)
            .field("y_min", b.y1 as f64)
            .field("x_max", b.x2 as f64)
            .field("y_max", b.y2 as f64)
            .build(),
    );
    if let Some(track_id) = obj.track_id {
        meta.add_param(
            gst::Structure::builder("tracking")
                .field("track_id", track_id)
                .build(),
        );
        meta.add_param(
            gst::Structure::builder("object_id")
                .field("id", object_id(track_id))
                .build(),
        );
    }
    if let Some(face) = &obj.face {
        let mut b = gst::Structure::builder("face")
            .field("face_id", &face.face_id)
            .field("confidence", face.confidence)
            .field("is_authorized", face.is_authorized)
            .field("known", face.known);
        if let Some(name) = &face.person_name {
            b = b.field("person_name", name);
        }
        meta.add_param(b.build());
    }
    meta.set_parent_id(obj.parent_id);
    id
}

/// DL Streamer's int track id for ours: ids count up from 1, so they fit (wrapping, past 2³¹).
fn object_id(track_id: u64) -> i32 {
    (track_id % (i32::MAX as u64 + 1)) as i32
}

/// Every ROI on `buffer` that has a `detection` structure, in attach order.
pub fn read(buffer: &gst::BufferRef) -> Vec<RoiObject> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .filter_map(|m| {
            let det = m.param("detection")?;
            let f = |k: &str| det.get::<f64>(k).unwrap_or(0.0) as f32;
            Some(RoiObject {
                id: m.id(),
                parent_id: m.parent_id(),
                label: det
                    .get::<String>("label")
                    .unwrap_or_else(|_| m.roi_type().to_string()),
                label_id: det
                    .get::<i32>("label_id")
                    .or_else(|_| det.get::<u32>("label_id").map(|v| v as i32))
                    .unwrap_or(0),
                confidence: det.get::<f64>("confidence").unwrap_or(0.0),
                bbox: BBox::new(f("x_min"), f("y_min"), f("x_max"), f("y_max")),
                track_id: m
                    .param("tracking")
                    .and_then(|t| t.get::<u64>("track_id").ok())
                    .or_else(|| {
                        let id = m.param("object_id")?.get::<i32>("id").ok()?;
                        u64::try_from(id).ok()
                    }),
                face: m.param("face").map(|f| FaceInfo {
                    face_id: f.get::<String>("face_id").unwrap_or_default(),
                    person_name: f.get::<String>("person_name").ok(),
                    confidence: f.get::<f64>("confidence").unwrap_or(0.0),
                    is_authorized: f.get::<bool>("is_authorized").unwrap_or(false),
                    known: f.get::<bool>("known").unwrap_or(false),
                }),
            })
        })
        .collect()
}

/// The ROIs as the event builder and the scene analytics take them: the objects, and the faces.
pub fn seen(rois: &[RoiObject]) -> (Vec<SeenObject>, Vec<SeenFace>) {
    let mut objects = Vec::new();
    let mut faces = Vec::new();
    for r in rois {
        let bbox = [
            f64::from(r.bbox.x1),
            f64::from(r.bbox.y1),
            f64::from(r.bbox.x2),
            f64::from(r.bbox.y2),
        ];
        match &r.face {
            Some(f) => faces.push(SeenFace {
                face_id: f.face_id.clone(),
                person_name: f.person_name.clone(),
                known: f.known,
                is_authorized: f.is_authorized,
                confidence: f.confidence,
                bbox,
            }),
            None => objects.push(SeenObject {
                track_id: r.track_id,
                class: r.label.clone(),
                confidence: r.confidence,
                bbox,
            }),
        }
    }
    (objects, faces)
}

/// The running time of `buffer` in `segment` (what rules and counts measure time by), else the
/// element's clock's running time now; `None` without either.
pub fn running_time(
    element: &gst::Element,
    segment: &gst::Segment,
    buffer: &gst::BufferRef,
) -> Option<std::time::Duration> {
    buffer
        .pts()
        .and_then(|pts| {
            segment
                .downcast_ref::<gst::ClockTime>()?
                .to_running_time(pts)
        })
        .or_else(|| gst::prelude::ElementExtManual::current_running_time(element))
        .map(|t| std::time::Duration::from_nanos(t.nseconds()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_dl_streamer_writes() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::new();
        {
            let b = buffer.get_mut().unwrap();
            let mut meta = VideoRegionOfInterestMeta::add(b, "car", (10, 20, 30, 40));
            meta.add_param(
                gst::Structure::builder("detection")
                    .field("label_id", 2i32)
                    .field("confidence", 0.7f64)
                    .field("x_min", 0.1f64)
                    .field("y_min", 0.2f64)
                    .field("x_max", 0.3f64)
                    .field("y_max", 0.4f64)
                    .build(),
            );
            meta.add_param(
                gst::Structure::builder("object_id")
                    .field("id", 5i32)
                    .build(),
            );
        }
        let read = read(&buffer);
        assert_eq!(read.len(), 1);
        assert_eq!(
            (read[0].label.as_str(), read[0].label_id, read[0].track_id),
            ("car", 2, Some(5))
        );
    }

    #[test]
    fn object_ids_fit_an_int() {
        assert_eq!(object_id(7), 7);
        assert_eq!(object_id(i32::MAX as u64), i32::MAX);
        assert_eq!(object_id(i32::MAX as u64 + 1), 0);
    }
}
