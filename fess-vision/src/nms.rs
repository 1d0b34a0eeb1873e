//! Class-aware non-maximum suppression, the one NMS of the project.

use crate::geometry::{BBox, Detection};

/// What NMS needs of a candidate: its box, score and class.
pub trait Candidate {
    fn bbox(&self) -> &BBox;
    fn score(&self) -> f32;
    fn class_id(&self) -> usize;
}

impl Candidate for Detection {
    fn bbox(&self) -> &BBox {
        &self.bbox
    }
    fn score(&self) -> f32 {
        self.score
    }
    fn class_id(&self) -> usize {
        self.class_id
    }
}

/// A candidate carrying something along (e.g. the region it was found in).
impl<T: Candidate, U> Candidate for (T, U) {
    fn bbox(&self) -> &BBox {
        self.0.bbox()
    }
    fn score(&self) -> f32 {
        self.0.score()
    }
    fn class_id(&self) -> usize {
        self.0.class_id()
    }
}

/// Keeps the best-scoring candidates, dropping any that overlaps (IoU > `iou_threshold`) a
/// better one of the same class. Returns at most `max_detections`, best first.
pub fn nms<T: Candidate>(mut dets: Vec<T>, iou_threshold: f32, max_detections: usize) -> Vec<T> {
    dets.sort_by(|a, b| b.score().total_cmp(&a.score()));
    let mut kept: Vec<T> = Vec::with_capacity(dets.len().min(max_detections));
    for det in dets {
        if kept.len() >= max_detections {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class_id() == det.class_id() && k.bbox().iou(det.bbox()) > iou_threshold);
        if !suppressed {
            kept.push(det);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    fn det(x1: f32, class_id: usize, score: f32) -> Detection {
        Detection {
            bbox: BBox::new(x1, 0.0, x1 + 10.0, 10.0),
            class_id,
            score,
        }
    }

    #[test]
    fn suppresses_overlap_of_same_class_only() {
        let out = nms(
            vec![
                det(0.0, 0, 0.5),
                det(1.0, 0, 0.9),
                det(1.0, 1, 0.8),
                det(50.0, 0, 0.3),
            ],
            0.5,
            10,
        );
        let got: Vec<(f32, usize)> = out.iter().map(|d| (d.score, d.class_id)).collect();
        assert_eq!(got, vec![(0.9, 0), (0.8, 1), (0.3, 0)]);
    }

    #[test]
    fn caps_the_count() {
        let out = nms(
            (0..20).map(|i| det(i as f32 * 20.0, 0, 0.5)).collect(),
            0.5,
            7,
        );
        assert_eq!(out.len(), 7);
    }
}
