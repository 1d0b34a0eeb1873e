//! The one box type used by every decoder, the NMS, the tracker and the metadata.

/// An axis-aligned box, corners `(x1, y1)` top-left and `(x2, y2)` bottom-right.
///
/// Units depend on the stage: model-input pixels inside decoders, normalised 0–1 frame
/// coordinates everywhere after [`crate::preprocess::InputTransform::to_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) * 0.5, (self.y1 + self.y2) * 0.5)
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The box limited to `[0, max_x] × [0, max_y]`.
    pub fn clamp(&self, max_x: f32, max_y: f32) -> BBox {
        BBox {
            x1: self.x1.clamp(0.0, max_x),
            y1: self.y1.clamp(0.0, max_y),
            x2: self.x2.clamp(0.0, max_x),
            y2: self.y2.clamp(0.0, max_y),
        }
    }

    /// Moves the box by `(dx, dy)`.
    pub fn translate(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)
    }

    /// True when every coordinate is finite and the box has a positive area.
    pub fn is_valid(&self) -> bool {
        [self.x1, self.y1, self.x2, self.y2]
            .iter()
            .all(|v| v.is_finite())
            && self.x2 > self.x1
            && self.y2 > self.y1
    }
}

/// One object found by a detector.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub class_id: usize,
    pub score: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one() {
        let b = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((b.iou(&b) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_half_overlap() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        // 50 / (100 + 100 - 50)
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_disjoint_and_degenerate_boxes_is_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let empty = BBox::new(3.0, 3.0, 3.0, 3.0);
        assert_eq!(empty.iou(&empty), 0.0);
    }

    #[test]
    fn validity() {
        assert!(BBox::new(0.0, 0.0, 1.0, 1.0).is_valid());
        assert!(!BBox::new(1.0, 0.0, 1.0, 1.0).is_valid());
        assert!(!BBox::new(0.0, f32::NAN, 1.0, 1.0).is_valid());
    }
}
