//! Counting line crossings: a tracked object crosses a line when its evaluation point moves
//! from one side of the segment to the other within the segment's extent.
//!
//! Jitter is the enemy: an object standing on the line, its box trembling by a few pixels,
//! must not count again and again. So a side only changes through a hysteresis band (a point
//! closer to the line than `band` belongs to no side) and must be confirmed by `confirm`
//! points in a row on the new side; a point back on the old side cancels it. Each track
//! counts at most once per direction of each line. Distances are measured in pixels of the
//! frame (normalised points scaled by its size), so a band means the same across and along.

use std::collections::HashMap;

use crate::analytics::{FrameSize, Point};

/// Which way a crossing went. `In`: from the left of the line's direction A→B to its right as
/// the frame shows it (y down); for A = (0, 0.5), B = (1, 0.5) that is moving down the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    In,
    Out,
}

/// A counting line and how strict its counting is.
#[derive(Debug, Clone, PartialEq)]
pub struct LineGeometry {
    pub a: Point,
    pub b: Point,
    /// Half-width of the band around the line where a point has no side, as a fraction of
    /// the frame's diagonal.
    pub band: f64,
    /// Points in a row on the new side that confirm a crossing.
    pub confirm: u32,
}

/// Default half-width of the dead band: 1.5 % of the diagonal (about 14 pixels at 768×576).
pub const DEFAULT_BAND: f64 = 0.015;
/// Default confirmation: two points in a row on the new side.
pub const DEFAULT_CONFIRM: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Not yet seen off the line.
    Unknown,
    /// On this side; `at` is the last point seen there.
    Settled { side: Side, at: Point },
    /// Seen `seen` times in a row on the other side since leaving `from` at `at` (a point in
    /// the band sets it back to 0).
    Pending { from: Side, at: Point, seen: u32 },
}

#[derive(Debug, Clone)]
struct TrackState {
    state: State,
    counted_in: bool,
    counted_out: bool,
}

/// One line's crossings by track.
#[derive(Debug, Clone)]
pub struct LineCounter {
    geometry: LineGeometry,
    tracks: HashMap<u64, TrackState>,
}

impl LineGeometry {
    /// Signed distance in pixels from the line through A and B (positive: left of A→B as
    /// the frame shows it), and where the point's foot falls along A→B (0 at A, 1 at B).
    fn locate(&self, p: Point, size: FrameSize) -> (f64, f64) {
        let (ax, ay) = size.px(self.a);
        let (bx, by) = size.px(self.b);
        let (px, py) = size.px(p);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        // With y down, a positive cross product is on the right of A→B on screen: negate it.
        let d = -(dx * (py - ay) - dy * (px - ax)) / len2.sqrt();
        let t = (dx * (px - ax) + dy * (py - ay)) / len2;
        (d, t)
    }

    /// Whether the move from `from` to `to` meets the line within the segment.
    fn crosses_within(&self, from: Point, to: Point, size: FrameSize) -> bool {
        let (d0, t0) = self.locate(from, size);
        let (d1, t1) = self.locate(to, size);
        if d0 == d1 {
            return false;
        }
        let t = t0 + (t1 - t0) * d0 / (d0 - d1);
        (0.0..=1.0).contains(&t)
    }
}

impl LineCounter {
    pub fn new(geometry: LineGeometry) -> LineCounter {
        LineCounter {
            geometry,
            tracks: HashMap::new(),
        }
    }

    /// Notes where `track`'s evaluation point is now; returns the direction of a crossing it
    /// completes, counted at most once per track and direction.
    pub fn observe(&mut self, track: u64, p: Point, size: FrameSize) -> Option<Direction> {
        let g = &self.geometry;
        let (d, _) = g.locate(p, size);
        let band = g.band * size.diagonal();
        let side = if d > band {
            Some(Side::Left)
        } else if d < -band {
            Some(Side::Right)
        } else {
            None
        };
        let t = self.tracks.entry(track).or_insert(TrackState {
            state: State::Unknown,
            counted_in: false,
            counted_out: false,
        });
        // On the line: no side. A pending change must be confirmed by points in a row, so
        // touching the band starts its count again.
        let Some(side) = side else {
            if let State::Pending { seen, .. } = &mut t.state {
                *seen = 0;
            }
            return None;
        };
        let (state, crossed) = match t.state {
            State::Unknown => (State::Settled { side, at: p }, None),
            State::Settled { side: s, .. } if s == side => (State::Settled { side, at: p }, None),
            State::Settled { side: s, at } => {
                let pending = State::Pending {
                    from: s,
                    at,
                    seen: 1,
                };
                if g.confirm <= 1 {
                    (State::Settled { side, at: p }, Some((s, at)))
                } else {
                    (pending, None)
                }
            }
            // Back where it came from: the change is cancelled.
            State::Pending { from, .. } if from == side => (State::Settled { side, at: p }, None),
            State::Pending { from, at, seen } => {
                if seen + 1 >= g.confirm {
                    (State::Settled { side, at: p }, Some((from, at)))
                } else {
                    (
                        State::Pending {
                            from,
                            at,
                            seen: seen + 1,
                        },
                        None,
                    )
                }
            }
        };
        t.state = state;
        let (from, at) = crossed?;
        // Beside the segment's end: the move passed the infinite line, not the segment.
        if !g.crosses_within(at, p, size) {
            return None;
        }
        let direction = match from {
            Side::Left => Direction::In,
            Side::Right => Direction::Out,
        };
        let counted = match direction {
            Direction::In => &mut t.counted_in,
            Direction::Out => &mut t.counted_out,
        };
        if *counted {
            return None;
        }
        *counted = true;
        Some(direction)
    }

    /// Forgets a track that ended.
    pub fn forget(&mut self, track: u64) {
        self.tracks.remove(&track);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: FrameSize = FrameSize {
        width: 768.0,
        height: 576.0,
    };

    /// A horizontal line across the middle of the left half of the frame.
    fn counter() -> LineCounter {
        LineCounter::new(LineGeometry {
            a: Point { x: 0.0, y: 0.5 },
            b: Point { x: 0.5, y: 0.5 },
            band: DEFAULT_BAND,
            confirm: DEFAULT_CONFIRM,
        })
    }

    fn walk(c: &mut LineCounter, track: u64, points: &[(f64, f64)]) -> Vec<Direction> {
        points
            .iter()
            .filter_map(|&(x, y)| c.observe(track, Point { x, y }, SIZE))
            .collect()
    }

    fn down(x: f64) -> Vec<(f64, f64)> {
        (0..=10).map(|i| (x, 0.3 + 0.04 * f64::from(i))).collect()
    }

    #[test]
    fn a_track_crossing_each_way_counts_once_each() {
        let mut c = counter();
        assert_eq!(walk(&mut c, 1, &down(0.25)), [Direction::In]);
        let up: Vec<_> = down(0.25).into_iter().rev().collect();
        assert_eq!(walk(&mut c, 1, &up), [Direction::Out]);
        // Once per track and direction: walking down again is not a second entry.
        assert_eq!(walk(&mut c, 1, &down(0.25)), []);
        // Another track counts on its own.
        assert_eq!(walk(&mut c, 2, &down(0.3)), [Direction::In]);
    }

    #[test]
    fn standing_on_the_line_and_jittering_counts_once() {
        let mut c = counter();
        let mut points = vec![(0.2, 0.3), (0.2, 0.4)];
        // Trembling around the line: inside the band, and single points just beyond it.
        for i in 0..40 {
            let y = 0.5 + if i % 2 == 0 { 0.01 } else { -0.01 };
            points.push((0.2, y));
            if i % 10 == 5 {
                points.push((0.2, 0.53));
            }
        }
        assert_eq!(walk(&mut c, 1, &points), []);
        // Stepping off to the other side for good: one crossing.
        assert_eq!(walk(&mut c, 1, &[(0.2, 0.6), (0.2, 0.7)]), [Direction::In]);
    }

    #[test]
    fn a_wider_band_ignores_a_lean_and_one_point_of_inertia_counts_at_once() {
        let line = |band, confirm| {
            LineCounter::new(LineGeometry {
                band,
                confirm,
                ..counter().geometry
            })
        };
        // 0.06 of the height below the line is beyond 1.5 % of the diagonal (0.025 of the
        // height) but within 4 % (0.067): leaning over counts with the default band only.
        let lean = [(0.2, 0.3), (0.2, 0.56), (0.2, 0.56), (0.2, 0.3)];
        assert_eq!(
            walk(&mut line(DEFAULT_BAND, DEFAULT_CONFIRM), 1, &lean),
            [Direction::In]
        );
        assert_eq!(walk(&mut line(0.04, DEFAULT_CONFIRM), 1, &lean), []);
        // One point beyond the line: counted with inertia 1 (a low frame rate), not with 2.
        let step = [(0.2, 0.3), (0.2, 0.7)];
        assert_eq!(walk(&mut line(DEFAULT_BAND, 1), 1, &step), [Direction::In]);
        assert_eq!(walk(&mut line(DEFAULT_BAND, DEFAULT_CONFIRM), 1, &step), []);
    }

    #[test]
    fn passing_beside_the_segment_end_is_not_counted() {
        let mut c = counter();
        assert_eq!(walk(&mut c, 1, &down(0.7)), []);
        // Diagonally past the end at x = 0.5.
        let past: Vec<_> = (0..=10)
            .map(|i| (0.45 + 0.03 * f64::from(i), 0.3 + 0.04 * f64::from(i)))
            .collect();
        assert_eq!(walk(&mut c, 2, &past), []);
    }

    #[test]
    fn a_track_first_seen_on_a_side_has_not_crossed() {
        let mut c = counter();
        assert_eq!(walk(&mut c, 1, &[(0.2, 0.7), (0.2, 0.8)]), []);
        assert_eq!(walk(&mut c, 2, &[(0.2, 0.5), (0.2, 0.6), (0.2, 0.7)]), []);
    }

    #[test]
    fn a_forgotten_track_starts_afresh() {
        let mut c = counter();
        assert_eq!(walk(&mut c, 1, &down(0.2)), [Direction::In]);
        c.forget(1);
        assert_eq!(
            walk(&mut c, 1, &[(0.2, 0.3), (0.2, 0.6), (0.2, 0.7)]),
            [Direction::In]
        );
    }
}
