//! Scene analytics on tracked objects, without GStreamer: lines that count crossings with their
//! direction ([`line`]), zones that count their occupants and how long they stay ([`zone`]), and
//! a camera's set of both fed frame by frame ([`scene`]).

pub mod line;
pub mod scene;
pub mod zone;

use serde::Deserialize;

/// A point in frame coordinates normalised to 0–1 (x right, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// Frame size in pixels, so that distances are measured alike across and along the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSize {
    pub width: f64,
    pub height: f64,
}

impl FrameSize {
    fn px(&self, p: Point) -> (f64, f64) {
        (p.x * self.width, p.y * self.height)
    }

    fn diagonal(&self) -> f64 {
        self.width.hypot(self.height)
    }
}

/// Which point of an object's box stands for the object on a line or in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalPoint {
    /// The middle of the box.
    #[serde(alias = "center")]
    Centre,
    /// The middle of its bottom edge: where a person's feet touch the floor.
    #[default]
    #[serde(alias = "bottom_center")]
    BottomCentre,
}

impl EvalPoint {
    /// The point of `bbox` (`[x1, y1, x2, y2]`, 0–1), just inside the frame: a person cut off
    /// by its bottom edge has feet at y = 1, where the even-odd test of a zone drawn to the
    /// frame's edge would put them outside.
    pub fn of(self, bbox: &[f64; 4]) -> Point {
        const INSIDE: f64 = 1.0 - 1e-9;
        let x = (bbox[0] + bbox[2]) / 2.0;
        let y = match self {
            EvalPoint::Centre => (bbox[1] + bbox[3]) / 2.0,
            EvalPoint::BottomCentre => bbox[3],
        };
        Point {
            x: x.clamp(0.0, INSIDE),
            y: y.clamp(0.0, INSIDE),
        }
    }
}

/// Even-odd test of a point against a polygon of 0–1 points.
pub fn point_in_polygon(x: f64, y: f64, poly: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let Some(mut j) = poly.len().checked_sub(1) else {
        return false;
    };
    for i in 0..poly.len() {
        let ([xi, yi], [xj, yj]) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}
