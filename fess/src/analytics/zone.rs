//! Who is in a zone, and for how long: per track, inside or not with inertia (a box trembling
//! on the edge does not enter and leave at every frame), the number inside now, and each
//! completed stay's length on running time.

use std::collections::HashMap;
use std::time::Duration;

use crate::analytics::{point_in_polygon, Point};

/// Default inertia: points in a row on the other side of the edge that make a track enter or
/// leave.
pub const DEFAULT_INERTIA: u32 = 3;

#[derive(Debug, Clone)]
struct Stay {
    inside: bool,
    /// Points in a row that disagree with `inside`.
    streak: u32,
    entered: Duration,
    last_inside: Duration,
}

/// One zone's occupants by track.
#[derive(Debug, Clone)]
pub struct ZoneCounter {
    polygon: Vec<[f64; 2]>,
    inertia: u32,
    stays: HashMap<u64, Stay>,
}

impl ZoneCounter {
    pub fn new(polygon: Vec<[f64; 2]>, inertia: u32) -> ZoneCounter {
        ZoneCounter {
            polygon,
            inertia: inertia.max(1),
            stays: HashMap::new(),
        }
    }

    /// Notes `track`'s evaluation point at running time `now`; returns the length of a stay
    /// that this point ends.
    pub fn observe(&mut self, track: u64, p: Point, now: Duration) -> Option<Duration> {
        let inside = point_in_polygon(p.x, p.y, &self.polygon);
        let stay = self.stays.entry(track).or_insert(Stay {
            inside: false,
            streak: 0,
            entered: now,
            last_inside: now,
        });
        if inside {
            stay.last_inside = now;
        }
        if inside == stay.inside {
            stay.streak = 0;
            return None;
        }
        stay.streak += 1;
        if stay.streak < self.inertia {
            return None;
        }
        stay.streak = 0;
        stay.inside = inside;
        if inside {
            // The stay counts from the point that confirmed it.
            stay.entered = now;
            None
        } else {
            Some(stay.last_inside.saturating_sub(stay.entered))
        }
    }

    /// The tracks inside now.
    pub fn occupants(&self) -> impl Iterator<Item = u64> + '_ {
        self.stays
            .iter()
            .filter(|(_, s)| s.inside)
            .map(|(id, _)| *id)
    }

    /// Forgets a track that ended; returns the length of the stay it ends, if it was inside.
    pub fn forget(&mut self, track: u64) -> Option<Duration> {
        let stay = self.stays.remove(&track)?;
        stay.inside
            .then(|| stay.last_inside.saturating_sub(stay.entered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> ZoneCounter {
        ZoneCounter::new(
            vec![[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]],
            DEFAULT_INERTIA,
        )
    }

    fn at(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn occupancy_rises_and_falls_and_stays_are_measured_on_running_time() {
        let mut z = zone();
        let mut ended = Vec::new();
        // Track 1 walks in at t=1..3 (entered at 3, the third point inside), stays to 10.
        for t in 0..=10 {
            let x = if t == 0 { 0.2 } else { 0.7 };
            ended.extend(z.observe(1, at(x, 0.7), secs(t)));
        }
        assert_eq!(z.occupants().count(), 1);
        for t in 0..=5 {
            ended.extend(z.observe(2, at(0.8, 0.8), secs(5 + t)));
        }
        assert_eq!(z.occupants().count(), 2);
        // Track 1 leaves at 11..13: its stay ran from 3 to 10.
        for t in 11..=13 {
            ended.extend(z.observe(1, at(0.2, 0.2), secs(t)));
        }
        assert_eq!(z.occupants().count(), 1);
        assert_eq!(ended, [secs(7)]);
        // Track 2 ends inside: forgetting it ends its stay (7 to 10).
        assert_eq!(z.forget(2), Some(secs(3)));
        assert_eq!(z.occupants().count(), 0);
        assert_eq!(z.forget(1), None);
    }

    #[test]
    fn trembling_on_the_edge_neither_enters_nor_leaves() {
        let mut z = zone();
        for t in 0..30 {
            let x = if t % 2 == 0 { 0.49 } else { 0.51 };
            assert_eq!(z.observe(1, at(x, 0.7), secs(t)), None);
        }
        assert_eq!(z.occupants().count(), 0);
    }
}
