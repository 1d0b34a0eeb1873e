//! The motion gate: skip inference while nothing in the picture moves.
//!
//! Each frame is reduced to a small grey thumbnail and compared with the thumbnail of the
//! frame last inferred; the frame counts as moving when enough thumbnail pixels changed by more
//! than the sensitivity allows. Comparing with the last *inferred* frame (not the previous one)
//! means slow motion accumulates until it is seen.

use crate::preprocess::{grey_thumbnail, FrameView};

pub const THUMB_WIDTH: usize = 80;
pub const THUMB_HEIGHT: usize = 60;

#[derive(Debug, Clone)]
pub struct MotionGate {
    /// Grey difference (0–255) above which a thumbnail pixel counts as changed.
    pixel_threshold: u8,
    /// Share of changed pixels (0–1) that makes a frame "moving".
    min_area: f32,
    reference: Vec<u8>,
    current: Vec<u8>,
    has_reference: bool,
}

impl MotionGate {
    /// `sensitivity` 0–1 (1 = the smallest change counts); `min_area` 0–1 of the frame.
    pub fn new(sensitivity: f64, min_area: f64) -> Self {
        let pixel_threshold = ((1.0 - sensitivity.clamp(0.0, 1.0)) * 255.0).round() as u8;
        MotionGate {
            pixel_threshold,
            min_area: min_area as f32,
            reference: vec![0; THUMB_WIDTH * THUMB_HEIGHT],
            current: vec![0; THUMB_WIDTH * THUMB_HEIGHT],
            has_reference: false,
        }
    }

    /// Looks at `frame`; true when it differs enough from the last accepted frame (always true
    /// for the first). Call [`MotionGate::accept`] when inference does run on it.
    pub fn moved(&mut self, frame: &FrameView) -> bool {
        grey_thumbnail(frame, THUMB_WIDTH, THUMB_HEIGHT, &mut self.current);
        if !self.has_reference {
            return true;
        }
        self.changed_share() >= self.min_area
    }

    /// Share of thumbnail pixels that changed since the reference.
    pub fn changed_share(&self) -> f32 {
        let changed = self
            .current
            .iter()
            .zip(&self.reference)
            .filter(|(a, b)| a.abs_diff(**b) > self.pixel_threshold)
            .count();
        changed as f32 / self.current.len() as f32
    }

    /// Makes the frame last passed to [`MotionGate::moved`] the new reference.
    pub fn accept(&mut self) {
        std::mem::swap(&mut self.reference, &mut self.current);
        self.has_reference = true;
    }

    /// Forgets the reference (after a resolution change or a flush).
    pub fn reset(&mut self) {
        self.has_reference = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::PixelFormat;

    fn grey(data: &[u8], w: usize, h: usize) -> FrameView<'_> {
        FrameView {
            format: PixelFormat::Gray8,
            width: w,
            height: h,
            planes: [data, &[], &[]],
            strides: [w, 0, 0],
            yuv: Default::default(),
        }
    }

    #[test]
    fn still_frames_are_gated_moving_ones_are_not() {
        let (w, h) = (160, 120);
        let mut img = vec![50u8; w * h];
        let mut gate = MotionGate::new(0.9, 0.01);
        assert!(gate.moved(&grey(&img, w, h)));
        gate.accept();
        // Sensor noise of ±10 grey levels is below the 25-level threshold.
        for (i, p) in img.iter_mut().enumerate() {
            *p = 50 + (i % 10) as u8;
        }
        assert!(!gate.moved(&grey(&img, w, h)));
        // A bright 30×30 object (≈ 4.7 % of the frame) appears.
        for y in 40..70 {
            for x in 40..70 {
                img[y * w + x] = 250;
            }
        }
        assert!(gate.moved(&grey(&img, w, h)));
        gate.accept();
        assert!(!gate.moved(&grey(&img, w, h)));
        gate.reset();
        assert!(gate.moved(&grey(&img, w, h)));
    }
}
