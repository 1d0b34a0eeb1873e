//! A camera's counting lines and zones fed frame by frame: the crossings each frame completes,
//! who is in each zone now, the stays that ended, and the counters Prometheus reads
//! (`fess_line_crossings_total`, `fess_zone_objects`, `fess_zone_dwell_seconds` in the metric
//! catalogue).
//!
//! Crossings and stays need a track id; untracked objects only count as a zone's occupants on
//! the frame that shows them. A track unseen for `forget_after` ends: its stays are measured and
//! its crossings may count again if it comes back. A line or zone without a class filter labels
//! at most [`MAX_CLASSES`] classes, the rest as `_other`, so its series stay few.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::analytics::line::{Direction, LineCounter, LineGeometry};
use crate::analytics::zone::ZoneCounter;
use crate::analytics::{point_in_polygon, EvalPoint, FrameSize};
use crate::events::emission::Frame;
use crate::observability::stats::{Histogram, Metric, DWELL_BUCKETS};

/// A counting line of the rules file (`[[line]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct LineSpec {
    pub name: String,
    pub geometry: LineGeometry,
    /// Classes it counts (all when empty).
    pub classes: Vec<String>,
    /// Names of [`Direction::In`] and [`Direction::Out`].
    pub directions: [String; 2],
    pub eval: EvalPoint,
}

impl LineSpec {
    pub fn counts(&self, class: &str) -> bool {
        self.classes.is_empty() || self.classes.iter().any(|c| c == class)
    }

    pub fn direction_name(&self, d: Direction) -> &str {
        match d {
            Direction::In => &self.directions[0],
            Direction::Out => &self.directions[1],
        }
    }
}

/// A zone of the rules file (`[[zone]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    pub name: String,
    pub polygon: Vec<[f64; 2]>,
    /// Classes it counts (all when empty).
    pub classes: Vec<String>,
    pub eval: EvalPoint,
    /// Points in a row that make a track enter or leave.
    pub inertia: u32,
}

impl ZoneSpec {
    pub fn counts(&self, class: &str) -> bool {
        self.classes.is_empty() || self.classes.iter().any(|c| c == class)
    }

    /// Whether the evaluation point of `bbox` is inside, on this frame alone.
    pub fn contains(&self, bbox: &[f64; 4]) -> bool {
        let p = self.eval.of(bbox);
        point_in_polygon(p.x, p.y, &self.polygon)
    }
}

/// A crossing counted on this frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// Index of the line in [`Scene::lines`].
    pub line: usize,
    pub direction: Direction,
    pub track_id: u64,
    pub class: String,
}

/// Classes one line or zone labels its series with; more are counted as `_other`.
pub const MAX_CLASSES: usize = 8;
/// How long a tracked occupant missed by the detector still counts as in its zone: a missed
/// detection or two must not empty a zone nor restart an occupancy rule's timer.
pub const PRESENT_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Seen {
    class: String,
    last_seen: Duration,
}

/// The lines and zones of one camera and what they counted.
#[derive(Debug, Clone)]
pub struct Scene {
    lines: Vec<LineSpec>,
    line_counters: Vec<LineCounter>,
    zones: Vec<ZoneSpec>,
    zone_counters: Vec<ZoneCounter>,
    forget_after: Duration,
    now: Duration,
    tracks: HashMap<u64, Seen>,
    /// Crossings by (line, direction, class), since the start.
    crossed: BTreeMap<(usize, Direction, String), u64>,
    /// Untracked objects in each zone on the last frame, by class.
    untracked: Vec<BTreeMap<String, usize>>,
    /// Classes each zone has counted (its gauges go back to 0, they do not vanish).
    zone_classes: Vec<BTreeSet<String>>,
    /// Completed stays by (zone, class).
    dwell: BTreeMap<(usize, String), Histogram>,
}

impl Scene {
    pub fn new(lines: Vec<LineSpec>, zones: Vec<ZoneSpec>, forget_after: Duration) -> Scene {
        let mut crossed = BTreeMap::new();
        for (i, l) in lines.iter().enumerate() {
            for c in &l.classes {
                for d in [Direction::In, Direction::Out] {
                    crossed.insert((i, d, c.clone()), 0);
                }
            }
        }
        let mut dwell = BTreeMap::new();
        for (i, z) in zones.iter().enumerate() {
            for c in &z.classes {
                dwell.insert((i, c.clone()), Histogram::new(&DWELL_BUCKETS));
            }
        }
        Scene {
            line_counters: lines
                .iter()
                .map(|l| LineCounter::new(l.geometry.clone()))
                .collect(),
            zone_counters: zones
                .iter()
                .map(|z| ZoneCounter::new(z.polygon.clone(), z.inertia))
                .collect(),
            untracked: vec![BTreeMap::new(); zones.len()],
            zone_classes: zones
                .iter()
                .map(|z| z.classes.iter().cloned().collect())
                .collect(),
            lines,
            zones,
            forget_after,
            now: Duration::ZERO,
            tracks: HashMap::new(),
            crossed,
            dwell,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.zones.is_empty()
    }

    pub fn lines(&self) -> &[LineSpec] {
        &self.lines
    }

    pub fn zones(&self) -> &[ZoneSpec] {
        &self.zones
    }

    /// Notes the frame's objects; returns the crossings it completes.
    pub fn observe(&mut self, frame: &Frame) -> Vec<Crossing> {
        let now = frame.time;
        self.now = now;
        let size = FrameSize {
            width: f64::from(frame.width.max(1)),
            height: f64::from(frame.height.max(1)),
        };
        let forget = self.forget_after;
        let gone: Vec<u64> = self
            .tracks
            .iter()
            .filter(|(_, t)| now.saturating_sub(t.last_seen) > forget)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.forget(id);
        }
        self.untracked.iter_mut().for_each(BTreeMap::clear);
        let mut crossings = Vec::new();
        for o in frame.objects {
            let Some(id) = o.track_id else {
                for (zi, z) in self.zones.iter().enumerate() {
                    if z.counts(&o.class) && z.contains(&o.bbox) {
                        let label = capped(&self.zone_classes[zi], &o.class);
                        self.zone_classes[zi].insert(label.clone());
                        *self.untracked[zi].entry(label).or_default() += 1;
                    }
                }
                continue;
            };
            let seen = self.tracks.entry(id).or_insert_with(|| Seen {
                class: o.class.clone(),
                last_seen: now,
            });
            let old_class = std::mem::replace(&mut seen.class, o.class.clone());
            seen.last_seen = now;
            for (li, l) in self.lines.iter().enumerate() {
                if !l.counts(&o.class) {
                    continue;
                }
                let p = l.eval.of(&o.bbox);
                if let Some(direction) = self.line_counters[li].observe(id, p, size) {
                    let label = line_class(&self.crossed, li, &o.class);
                    *self.crossed.entry((li, direction, label)).or_default() += 1;
                    crossings.push(Crossing {
                        line: li,
                        direction,
                        track_id: id,
                        class: o.class.clone(),
                    });
                }
            }
            for (zi, z) in self.zones.iter().enumerate() {
                let stay = if z.counts(&o.class) {
                    let label = capped(&self.zone_classes[zi], &o.class);
                    self.zone_classes[zi].insert(label);
                    self.zone_counters[zi].observe(id, z.eval.of(&o.bbox), now)
                } else {
                    // Now of a class the zone does not count (another tracker may relabel):
                    // out of it, its stay ended as what it was.
                    self.zone_counters[zi].forget(id)
                };
                let class = if z.counts(&o.class) {
                    &o.class
                } else {
                    &old_class
                };
                if let Some(stay) = stay {
                    record_stay(&mut self.dwell, &self.zone_classes[zi], zi, class, stay);
                }
            }
        }
        crossings
    }

    /// Ends every track, as at the end of the stream: the stays still open are measured.
    pub fn finish(&mut self) {
        let ids: Vec<u64> = self.tracks.keys().copied().collect();
        for id in ids {
            self.forget(id);
        }
    }

    /// Ends a track: its stays are measured, its crossings forgotten.
    fn forget(&mut self, id: u64) {
        let Some(seen) = self.tracks.remove(&id) else {
            return;
        };
        for c in &mut self.line_counters {
            c.forget(id);
        }
        for (zi, c) in self.zone_counters.iter_mut().enumerate() {
            if let Some(stay) = c.forget(id) {
                record_stay(
                    &mut self.dwell,
                    &self.zone_classes[zi],
                    zi,
                    &seen.class,
                    stay,
                );
            }
        }
    }

    /// Tracks the scene follows now.
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Crossings of line `line` in direction `d` since the start, all classes together.
    pub fn crossings(&self, line: usize, d: Direction) -> u64 {
        self.crossed
            .iter()
            .filter(|((l, dir, _), _)| *l == line && *dir == d)
            .map(|(_, n)| n)
            .sum()
    }

    /// Stays in zone `zone` that have ended, all classes together.
    pub fn stays(&self, zone: usize) -> u64 {
        self.dwell
            .iter()
            .filter(|((z, _), _)| *z == zone)
            .map(|(_, h)| h.count)
            .sum()
    }

    /// The tracks in zone `zone` now (seen within [`PRESENT_GRACE`]), of `class` (any counted class when `None`).
    pub fn occupant_tracks(&self, zone: usize, class: Option<&str>) -> Vec<u64> {
        let Some(counter) = self.zone_counters.get(zone) else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = counter
            .occupants()
            .filter(|id| {
                self.tracks.get(id).is_some_and(|t| {
                    self.now.saturating_sub(t.last_seen) <= PRESENT_GRACE
                        && class.is_none_or(|c| c == t.class)
                })
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Objects in zone `zone` now, tracked (seen within [`PRESENT_GRACE`]) and untracked (on the
    /// last frame), of `class` (any counted
    /// class when `None`).
    pub fn occupants(&self, zone: usize, class: Option<&str>) -> usize {
        let Some(untracked) = self.untracked.get(zone) else {
            return 0;
        };
        let untracked: usize = untracked
            .iter()
            .filter(|(c, _)| class.is_none_or(|k| k == c.as_str()))
            .map(|(_, n)| n)
            .sum();
        self.occupant_tracks(zone, class).len() + untracked
    }

    /// The counters, gauges and histograms of the lines and zones, labelled for `camera`.
    pub fn metrics(&self, camera: &str) -> Vec<Metric> {
        let mut m = Vec::new();
        for ((li, d, class), n) in &self.crossed {
            let l = &self.lines[*li];
            m.push(Metric::counter(
                "fess_line_crossings_total",
                &[
                    ("camera_id", camera),
                    ("line", &l.name),
                    ("direction", l.direction_name(*d)),
                    ("object_class", class),
                ],
                *n,
            ));
        }
        for (zi, classes) in self.zone_classes.iter().enumerate() {
            let zone = &self.zones[zi].name;
            let mut counts: Vec<(&str, usize)> = classes
                .iter()
                .filter(|c| *c != "_other")
                .map(|c| (c.as_str(), self.occupants(zi, Some(c))))
                .collect();
            if classes.contains("_other") {
                // Whatever the named classes do not hold.
                let named: usize = counts.iter().map(|(_, n)| n).sum();
                counts.push(("_other", self.occupants(zi, None).saturating_sub(named)));
            }
            for (class, n) in counts {
                let labels = [
                    ("camera_id", camera),
                    ("zone", zone.as_str()),
                    ("object_class", class),
                ];
                m.push(Metric::gauge("fess_zone_objects", &labels, n as f64));
            }
        }
        for ((zi, class), h) in &self.dwell {
            m.push(h.metric(
                "fess_zone_dwell_seconds",
                &[
                    ("camera_id", camera),
                    ("zone", &self.zones[*zi].name),
                    ("object_class", class),
                ],
            ));
        }
        m
    }
}

/// `class` as a line or zone labels it: itself among the first [`MAX_CLASSES`] classes it has
/// labelled, `_other` beyond.
fn capped(labelled: &BTreeSet<String>, class: &str) -> String {
    if labelled.contains(class) || labelled.len() < MAX_CLASSES {
        class.to_string()
    } else {
        "_other".to_string()
    }
}

/// `class` as line `line`'s crossings label it.
fn line_class(
    crossed: &BTreeMap<(usize, Direction, String), u64>,
    line: usize,
    class: &str,
) -> String {
    let labelled: BTreeSet<String> = crossed
        .keys()
        .filter(|(l, _, _)| *l == line)
        .map(|(_, _, c)| c.clone())
        .collect();
    capped(&labelled, class)
}

/// Adds a completed stay to zone `zone`'s histogram of `class` (as the zone labels it).
fn record_stay(
    dwell: &mut BTreeMap<(usize, String), Histogram>,
    labelled: &BTreeSet<String>,
    zone: usize,
    class: &str,
    stay: Duration,
) {
    let label = if labelled.contains(class) {
        class.to_string()
    } else {
        "_other".to_string()
    };
    dwell
        .entry((zone, label))
        .or_insert_with(|| Histogram::new(&DWELL_BUCKETS))
        .observe(stay);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::line::{DEFAULT_BAND, DEFAULT_CONFIRM};
    use crate::analytics::zone::DEFAULT_INERTIA;
    use crate::analytics::Point;
    use crate::events::emission::SeenObject;
    use crate::observability::metrics::check;
    use crate::observability::stats::Value;

    fn scene() -> Scene {
        Scene::new(
            vec![LineSpec {
                name: "door".into(),
                geometry: LineGeometry {
                    a: Point { x: 0.0, y: 0.5 },
                    b: Point { x: 1.0, y: 0.5 },
                    band: DEFAULT_BAND,
                    confirm: DEFAULT_CONFIRM,
                },
                classes: vec!["person".into()],
                directions: ["enter".into(), "leave".into()],
                eval: EvalPoint::BottomCentre,
            }],
            vec![ZoneSpec {
                name: "bay".into(),
                polygon: vec![[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]],
                classes: vec![],
                eval: EvalPoint::BottomCentre,
                inertia: DEFAULT_INERTIA,
            }],
            Duration::from_secs(5),
        )
    }

    /// An object whose feet are at (x, y).
    fn feet(track: Option<u64>, class: &str, x: f64, y: f64) -> SeenObject {
        SeenObject {
            track_id: track,
            class: class.into(),
            confidence: 0.9,
            bbox: [x - 0.05, y - 0.3, x + 0.05, y],
        }
    }

    fn frame(t: f64, objects: &[SeenObject]) -> Frame<'_> {
        Frame {
            frame_number: 0,
            time: Duration::from_secs_f64(t),
            width: 640,
            height: 480,
            objects,
            faces: &[],
        }
    }

    #[test]
    fn two_classes_walking_down_through_the_door_into_the_bay() {
        let mut s = scene();
        let mut crossings = Vec::new();
        for i in 0..=20 {
            let y = 0.3 + 0.03 * f64::from(i);
            let objects = [
                feet(Some(1), "person", 0.3, y),
                feet(Some(2), "dog", 0.6, y),
            ];
            crossings.extend(s.observe(&frame(f64::from(i) / 10.0, &objects)));
        }
        // Only the person counts on the line (its class filter); both are in the bay.
        assert_eq!(crossings.len(), 1, "{crossings:?}");
        assert_eq!(
            (crossings[0].direction, crossings[0].track_id),
            (Direction::In, 1)
        );
        assert_eq!(s.crossings(0, Direction::In), 1);
        assert_eq!(s.occupants(0, None), 2);
        assert_eq!(s.occupants(0, Some("dog")), 1);
        // An untracked car in the bay counts on its frame only.
        let with_car = [
            feet(Some(1), "person", 0.3, 0.9),
            feet(Some(2), "dog", 0.6, 0.9),
            feet(None, "car", 0.8, 0.9),
        ];
        s.observe(&frame(2.1, &with_car));
        assert_eq!(s.occupants(0, None), 3);
        s.observe(&frame(2.2, &with_car[..2]));
        assert_eq!(s.occupants(0, Some("car")), 0);
        let m = s.metrics("cam");
        for metric in &m {
            check(metric).unwrap();
        }
        let value = |name: &str, label: &str| {
            m.iter()
                .find(|x| x.name == name && x.labels.values().any(|v| v == label))
                .map(|x| match x.value {
                    Value::Counter { value } => value as f64,
                    Value::Gauge { value } => value,
                    Value::Histogram { count, .. } => count as f64,
                })
        };
        assert_eq!(value("fess_line_crossings_total", "enter"), Some(1.0));
        assert_eq!(value("fess_line_crossings_total", "leave"), Some(0.0));
        assert_eq!(value("fess_zone_objects", "dog"), Some(1.0));
        assert_eq!(
            value("fess_zone_objects", "car"),
            Some(0.0),
            "back to 0, not gone"
        );
    }

    #[test]
    fn stays_end_when_a_track_leaves_or_is_forgotten() {
        let mut s = scene();
        // In the bay from 0 s (confirmed at 0.2 s) to 3 s, then gone: forgotten after 5 s.
        for i in 0..=30 {
            s.observe(&frame(
                f64::from(i) / 10.0,
                &[feet(Some(7), "person", 0.5, 0.8)],
            ));
        }
        assert_eq!(s.occupants(0, None), 1);
        // Missed for a moment: still there; gone for longer than the grace: not.
        s.observe(&frame(3.5, &[]));
        assert_eq!(s.occupants(0, None), 1, "missed for 0.5 s");
        s.observe(&frame(4.1, &[]));
        assert_eq!(s.occupants(0, None), 0, "unseen for 1.1 s");
        s.observe(&frame(8.2, &[]));
        let h = &s.dwell[&(0, "person".to_string())];
        assert_eq!(h.count, 1);
        assert!((h.sum - 2.8).abs() < 1e-9, "{}", h.sum);
        // Forgotten everywhere: nothing is kept for it.
        assert_eq!(s.tracks(), 0);
        assert_eq!(s.zone_counters[0].occupants().count(), 0);
    }

    #[test]
    fn feet_on_the_bottom_edge_are_in_a_zone_drawn_to_it() {
        let mut s = scene();
        for i in 0..5 {
            s.observe(&frame(
                f64::from(i) / 10.0,
                &[feet(Some(1), "person", 0.5, 1.0)],
            ));
        }
        assert_eq!(s.occupants(0, None), 1);
    }

    #[test]
    fn stays_open_at_the_end_of_the_stream_are_measured() {
        let mut s = scene();
        for i in 0..=20 {
            s.observe(&frame(
                f64::from(i) / 10.0,
                &[feet(Some(1), "person", 0.5, 0.8)],
            ));
        }
        s.finish();
        assert_eq!(s.stays(0), 1);
        assert_eq!(s.tracks(), 0);
    }

    #[test]
    fn many_classes_fold_into_other() {
        let mut s = scene();
        for (i, class) in (0..12).map(|i| (i, format!("class{i:02}"))) {
            s.observe(&frame(f64::from(i) / 10.0, &[feet(None, &class, 0.5, 0.8)]));
            assert_eq!(s.occupants(0, None), 1);
        }
        let labels: BTreeSet<String> = s
            .metrics("cam")
            .into_iter()
            .filter(|m| m.name == "fess_zone_objects")
            .map(|m| m.labels["object_class"].clone())
            .collect();
        assert_eq!(labels.len(), MAX_CLASSES + 1, "{labels:?}");
        assert!(labels.contains("_other"));
    }
}
