//! The objects a detector found in one frame, as the elements pass them on (on buffers as ROI
//! metas, see fess-gst's `roi_meta`) and as the drawing and the events read them.

use crate::geometry::BBox;

/// One object as a detector or a face stage reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoiObject {
    /// Meta id, unique per buffer (1, 2, …; set by `fess_gst::roi_meta::attach`); face ROIs name it as `parent_id`.
    pub id: i32,
    /// The parent ROI's id, 0 for a top-level object.
    pub parent_id: i32,
    pub label: String,
    pub label_id: i32,
    pub confidence: f64,
    /// Normalised 0–1 frame coordinates.
    pub bbox: BBox,
    pub track_id: Option<u64>,
    pub face: Option<FaceInfo>,
}

impl RoiObject {
    /// A top-level tracked object (ids are set by `fess_gst::roi_meta::attach`).
    pub fn tracked(label: &str, label_id: i32, confidence: f64, bbox: BBox, track_id: u64) -> Self {
        RoiObject {
            id: 0,
            parent_id: 0,
            label: label.to_string(),
            label_id,
            confidence,
            bbox,
            track_id: Some(track_id),
            face: None,
        }
    }
}

/// Who a face is, as `fessface` found it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceInfo {
    pub face_id: String,
    /// Absent when the face matched nobody in the gallery.
    pub person_name: Option<String>,
    /// Similarity to the matched person (0–1).
    pub confidence: f64,
    pub is_authorized: bool,
    pub known: bool,
}
