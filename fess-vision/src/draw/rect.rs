//! A rectangle of pixels, as drawing and blurring address them.

use crate::geometry::BBox;

/// Pixels `x0..x1` × `y0..y1` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Rect {
    /// The pixels a normalised (0–1) box covers in a `width × height` frame, both edges included.
    pub fn from_normalised(b: &BBox, width: usize, height: usize) -> Rect {
        let b = b.clamp(1.0, 1.0);
        let (w, h) = (width as f32, height as f32);
        Rect {
            x0: (b.x1 * w) as usize,
            y0: (b.y1 * h) as usize,
            x1: ((b.x2 * w) as usize + 1).min(width),
            y1: ((b.y2 * h) as usize + 1).min(height),
        }
    }

    pub fn width(&self) -> usize {
        self.x1.saturating_sub(self.x0)
    }

    pub fn height(&self) -> usize {
        self.y1.saturating_sub(self.y0)
    }

    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }

    pub(super) fn contains(&self, x: usize, y: usize) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }

    pub(super) fn clip(&self, width: usize, height: usize) -> Rect {
        Rect {
            x0: self.x0.min(width),
            y0: self.y0.min(height),
            x1: self.x1.min(width),
            y1: self.y1.min(height),
        }
    }

    /// The chroma samples lying wholly inside this luma rectangle (a sample at a frame's odd
    /// right or bottom edge covers one pixel only), so blurring them never touches what is
    /// outside.
    pub(super) fn chroma_inside(&self, width: usize, height: usize) -> Rect {
        let end = |e: usize, full: usize| if e >= full { full.div_ceil(2) } else { e / 2 };
        Rect {
            x0: self.x0.div_ceil(2),
            y0: self.y0.div_ceil(2),
            x1: end(self.x1, width),
            y1: end(self.y1, height),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_map_to_pixels_with_both_edges() {
        let r = Rect::from_normalised(&BBox::new(0.0, 0.0, 0.5, 0.5), 20, 10);
        assert_eq!(
            r,
            Rect {
                x0: 0,
                y0: 0,
                x1: 11,
                y1: 6
            }
        );
        let r = Rect::from_normalised(&BBox::new(0.5, -1.0, 2.0, 1.0), 20, 10);
        assert_eq!((r.x0, r.y0, r.x1, r.y1), (10, 0, 20, 10));
        // Chroma inside 3..8 (odd start) of a 9-wide frame ending at the edge: samples 2..5.
        let c = Rect {
            x0: 3,
            y0: 0,
            x1: 9,
            y1: 4,
        }
        .chroma_inside(9, 7);
        assert_eq!((c.x0, c.x1, c.y0, c.y1), (2, 5, 0, 2));
    }
}
