//! From what a camera sees, frame by frame, to the events worth publishing: per tracked object,
//! not per frame.
//!
//! A motion event goes out when a new track appears, when a track changes class, and as a
//! heartbeat every `min_interval` while objects stay. A face event goes out when a face track
//! is first recognised, when its identity changes, and as the same heartbeat. New objects,
//! identity changes and alerts are never suppressed. Time is the stream's time (buffer
//! timestamps), so a file played faster than real time emits what a live camera would.

use std::collections::HashMap;
use std::time::Duration;

use crate::analytics::scene::{Crossing, Scene};
use crate::analytics::{point_in_polygon, EvalPoint};
use crate::events::rules::{CheckedRule, RuleSet, RuleZone, Trigger, UNAUTHORIZED_MESSAGE};
use crate::events::{
    AlertAnalytics, AlertEvent, AlertLevel, AnalyticsKind, BBox, DetectedObject, Event, FaceEvent,
    MotionEvent,
};

/// How long a track may go unseen before it is new when it comes back (and its stays in zones
/// end): what the elements use, so the sink and the overlay count alike.
pub const FORGET_AFTER: Duration = Duration::from_secs(5);

/// An object on one frame (box normalised 0–1).
#[derive(Debug, Clone, PartialEq)]
pub struct SeenObject {
    pub track_id: Option<u64>,
    pub class: String,
    pub confidence: f64,
    pub bbox: [f64; 4],
}

/// A face on one frame (box normalised 0–1).
#[derive(Debug, Clone, PartialEq)]
pub struct SeenFace {
    pub face_id: String,
    pub person_name: Option<String>,
    pub known: bool,
    pub is_authorized: bool,
    pub confidence: f64,
    pub bbox: [f64; 4],
}

/// One frame of one camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    pub frame_number: u64,
    /// Running time of the frame (monotonic across seeks and loops).
    pub time: Duration,
    pub width: u32,
    pub height: u32,
    pub objects: &'a [SeenObject],
    pub faces: &'a [SeenFace],
}

#[derive(Debug, Clone)]
struct TrackState {
    class: String,
    last_seen: Duration,
    /// Since when it has been continuously in view, per rule zone (index = rule).
    present_since: Vec<Option<Duration>>,
    /// The last motion event that listed it.
    last_event: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct FaceState {
    identity: (Option<String>, bool, bool),
    last_seen: Duration,
    last_emit: Duration,
    alerted_unauthorized: bool,
    last_event: Option<String>,
}

/// What a rule matched on one frame: the events to associate and the details to attach.
struct Matched {
    events: Vec<String>,
    analytics: Option<AlertAnalytics>,
}

/// Emission policy, alert rules, lines and zones for one camera.
#[derive(Debug)]
pub struct EventBuilder {
    camera_id: String,
    min_interval: Duration,
    forget_after: Duration,
    rules: Vec<CheckedRule>,
    scene: Scene,
    tracks: HashMap<u64, TrackState>,
    faces: HashMap<String, FaceState>,
    untracked_classes: Vec<String>,
    last_motion: Option<Duration>,
    /// The last motion event's id: what untracked objects an alert counts were listed in.
    last_motion_id: Option<String>,
    /// Per rule: when it last fired.
    last_fired: Vec<Option<Duration>>,
    /// Per occupancy rule: since when its zone has held more than it allows.
    crowded_since: Vec<Option<Duration>>,
}

impl EventBuilder {
    /// `min_interval`: heartbeat while objects stay; objects unseen for `forget_after` are new
    /// again when they come back.
    pub fn new(
        camera_id: &str,
        min_interval: Duration,
        forget_after: Duration,
        rules: RuleSet,
    ) -> Self {
        let n = rules.rules.len();
        EventBuilder {
            camera_id: camera_id.into(),
            min_interval,
            forget_after,
            rules: rules.rules,
            scene: Scene::new(rules.lines, rules.zones, forget_after),
            tracks: HashMap::new(),
            faces: HashMap::new(),
            untracked_classes: Vec::new(),
            last_motion: None,
            last_motion_id: None,
            last_fired: vec![None; n],
            crowded_since: vec![None; n],
        }
    }

    /// The lines and zones and what they counted.
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// The stream ended: the stays still open in zones are measured.
    pub fn end_of_stream(&mut self) {
        self.scene.finish();
    }

    pub fn camera_id(&self) -> &str {
        &self.camera_id
    }

    /// Renames the camera (a new stream with another camera id).
    pub fn set_camera_id(&mut self, id: &str) {
        self.camera_id = id.into();
    }

    /// The events to publish for `frame`, motion and faces first, then the alerts they caused.
    pub fn observe(&mut self, frame: &Frame) -> Vec<Event> {
        let now = frame.time;
        let mut events = Vec::new();
        let motion = self.motion_event(frame, now);
        let motion_id = motion.as_ref().map(|e| e.event_id.clone());
        events.extend(motion.map(Event::Motion));
        self.remember_tracks(frame, now, motion_id.as_ref());
        let crossings = self.scene.observe(frame);
        events.extend(self.face_events(frame, now).into_iter().map(Event::Face));
        events.extend(
            self.unauthorized_alerts(frame)
                .into_iter()
                .map(Event::Alert),
        );
        events.extend(
            self.rule_alerts(frame, now, motion_id.as_ref(), &crossings)
                .into_iter()
                .map(Event::Alert),
        );
        events
    }

    /// Whether the frame's objects are worth a motion event: a new track, a track of another
    /// class, a new set of untracked classes, or the heartbeat while objects stay.
    fn motion_due(&mut self, frame: &Frame, now: Duration) -> bool {
        let mut new_or_changed = frame.objects.iter().any(|o| {
            o.track_id.is_some_and(|id| {
                !self.tracks.get(&id).is_some_and(|t| {
                    t.class == o.class && now.saturating_sub(t.last_seen) <= self.forget_after
                })
            })
        });
        let mut untracked: Vec<String> = frame
            .objects
            .iter()
            .filter(|o| o.track_id.is_none())
            .map(|o| o.class.clone())
            .collect();
        untracked.sort();
        if untracked != self.untracked_classes {
            new_or_changed |= !untracked.is_empty();
            self.untracked_classes = untracked;
        }
        let heartbeat = !frame.objects.is_empty()
            && self
                .last_motion
                .is_none_or(|t| now.saturating_sub(t) >= self.min_interval);
        new_or_changed || heartbeat
    }

    fn motion_event(&mut self, frame: &Frame, now: Duration) -> Option<MotionEvent> {
        if !self.motion_due(frame, now) {
            return None;
        }
        let objects: Vec<DetectedObject> = frame
            .objects
            .iter()
            .map(|o| DetectedObject {
                class: o.class.clone(),
                confidence: rounded_confidence(o.confidence),
                bbox: pixels(&o.bbox, frame),
                track_id: o.track_id,
            })
            .collect();
        let e = MotionEvent::new(&self.camera_id, frame.frame_number, objects, None).ok()?;
        self.last_motion = Some(now);
        self.last_motion_id = Some(e.event_id.clone());
        Some(e)
    }

    /// Updates each track's class and last sighting (a track back after `forget_after`, or of
    /// another class, starts its rule timers again), notes the motion event that listed it, and
    /// forgets tracks gone for `forget_after`.
    fn remember_tracks(&mut self, frame: &Frame, now: Duration, motion_id: Option<&String>) {
        let n_rules = self.rules.len();
        for o in frame.objects {
            let Some(id) = o.track_id else { continue };
            let t = self.tracks.entry(id).or_insert_with(|| TrackState {
                class: o.class.clone(),
                last_seen: now,
                present_since: vec![None; n_rules],
                last_event: None,
            });
            if t.class != o.class || now.saturating_sub(t.last_seen) > self.forget_after {
                t.class = o.class.clone();
                t.present_since = vec![None; n_rules];
            }
            t.last_seen = now;
            if let Some(id) = motion_id {
                t.last_event = Some(id.clone());
            }
        }
        let forget = self.forget_after;
        self.tracks
            .retain(|_, t| now.saturating_sub(t.last_seen) <= forget);
    }

    /// A face event per face track first seen, changed identity or due for its heartbeat.
    fn face_events(&mut self, frame: &Frame, now: Duration) -> Vec<FaceEvent> {
        let mut events = Vec::new();
        for f in frame.faces {
            let identity = (f.person_name.clone(), f.known, f.is_authorized);
            let emit = match self.faces.get_mut(&f.face_id) {
                None => true,
                Some(s) if now.saturating_sub(s.last_seen) > self.forget_after => true,
                Some(s) if s.identity != identity => true,
                Some(s) if now.saturating_sub(s.last_emit) >= self.min_interval => true,
                Some(s) => {
                    s.last_seen = now;
                    false
                }
            };
            if !emit {
                continue;
            }
            let name = f.known.then_some(f.person_name.as_deref()).flatten();
            let Ok(e) = FaceEvent::new(
                &self.camera_id,
                frame.frame_number,
                &f.face_id,
                pixels(&f.bbox, frame),
                rounded_confidence(f.confidence),
                name,
                f.is_authorized,
            ) else {
                continue;
            };
            let s = self.faces.entry(f.face_id.clone()).or_insert(FaceState {
                identity: identity.clone(),
                last_seen: now,
                last_emit: now,
                alerted_unauthorized: false,
                last_event: None,
            });
            if s.identity != identity {
                s.alerted_unauthorized = false;
            }
            s.identity = identity;
            s.last_seen = now;
            s.last_emit = now;
            s.last_event = Some(e.event_id.clone());
            events.push(e);
        }
        let forget = self.forget_after;
        self.faces
            .retain(|_, s| now.saturating_sub(s.last_seen) <= forget);
        events
    }

    /// Built in: every unauthorised face track alerts once (and again after a change back).
    fn unauthorized_alerts(&mut self, frame: &Frame) -> Vec<AlertEvent> {
        let mut alerts = Vec::new();
        for f in frame.faces.iter().filter(|f| f.known && !f.is_authorized) {
            // A face whose event was refused (bad metadata from upstream) has no state:
            // nothing to alert on, and no panic in the streaming thread.
            let Some(s) = self.faces.get_mut(&f.face_id) else {
                continue;
            };
            if s.alerted_unauthorized {
                continue;
            }
            s.alerted_unauthorized = true;
            let assoc = s.last_event.clone().into_iter().collect();
            if let Ok(a) = AlertEvent::new(
                &self.camera_id,
                AlertLevel::Critical,
                UNAUTHORIZED_MESSAGE,
                assoc,
            ) {
                alerts.push(a);
            }
        }
        alerts
    }

    /// The user's rules: each fires, past its cooldown, with the events of what matched it.
    fn rule_alerts(
        &mut self,
        frame: &Frame,
        now: Duration,
        motion_id: Option<&String>,
        crossings: &[Crossing],
    ) -> Vec<AlertEvent> {
        let mut alerts = Vec::new();
        for ri in 0..self.rules.len() {
            if !self.rules[ri].applies_to(&self.camera_id) {
                continue;
            }
            // Checked when parsed; a rule built by hand may still hold anything.
            let cooldown =
                Duration::try_from_secs_f64(self.rules[ri].cooldown).unwrap_or(Duration::MAX);
            let cooled = self.last_fired[ri].is_none_or(|t| now.saturating_sub(t) >= cooldown);
            let matched = match self.rules[ri].when {
                Trigger::Object => self.object_matches(ri, frame, now, motion_id),
                Trigger::Crossing => self.crossing_matches(ri, crossings, motion_id),
                Trigger::Occupancy => self.occupancy_matches(ri, now, motion_id),
                Trigger::UnknownFace | Trigger::UnauthorizedFace => Matched {
                    events: self.face_matches(ri, frame),
                    analytics: None,
                },
            };
            let Matched {
                events: mut assoc,
                analytics,
            } = matched;
            if assoc.is_empty() || !cooled {
                continue;
            }
            assoc.sort();
            assoc.dedup();
            let rule = &self.rules[ri];
            if let Ok(a) = AlertEvent::new(&self.camera_id, rule.level, &rule.message, assoc) {
                self.last_fired[ri] = Some(now);
                alerts.push(match analytics {
                    Some(d) => a.with_analytics(d),
                    None => a,
                });
            }
        }
        alerts
    }

    /// The last motion event that listed `track`, else this frame's.
    fn event_of(&self, track: Option<u64>, motion_id: Option<&String>) -> Option<String> {
        track
            .and_then(|id| self.tracks.get(&id))
            .and_then(|t| t.last_event.clone())
            .or_else(|| motion_id.cloned())
    }

    /// Whether the object with box `bbox` is in rule `ri`'s zone: an inline polygon holds the
    /// box centre, a named zone its evaluation point (always true without a zone).
    fn in_rule_zone(&self, ri: usize, bbox: &[f64; 4]) -> bool {
        match &self.rules[ri].zone {
            None => true,
            Some(RuleZone::Inline(p)) => {
                let c = EvalPoint::Centre.of(bbox);
                point_in_polygon(c.x, c.y, p)
            }
            // Checked when parsed; a hand-built rule naming no zone of the scene matches nothing.
            Some(RuleZone::Named(z)) => {
                self.scene.zones().get(*z).is_some_and(|z| z.contains(bbox))
            }
        }
    }

    fn zone_name(&self, ri: usize) -> Option<String> {
        match self.rules[ri].zone {
            Some(RuleZone::Named(z)) => self.scene.zones().get(z).map(|z| z.name.clone()),
            _ => None,
        }
    }

    /// Events of the objects matching object rule `ri`: of its class, in its zone, and there
    /// for its minimum duration (timed per track; only rules without a duration match untracked
    /// objects). A timed rule tells how long the tracks had stayed.
    fn object_matches(
        &mut self,
        ri: usize,
        frame: &Frame,
        now: Duration,
        motion_id: Option<&String>,
    ) -> Matched {
        let (mut events, mut tracks, mut longest) = (Vec::new(), Vec::new(), 0.0f64);
        for o in frame
            .objects
            .iter()
            .filter(|o| Some(&o.class) == self.rules[ri].class.as_ref())
        {
            let inside = self.in_rule_zone(ri, &o.bbox);
            let min = self.rules[ri].min_duration;
            let stayed = match o.track_id.and_then(|id| self.tracks.get_mut(&id)) {
                Some(t) => {
                    let since = &mut t.present_since[ri];
                    if inside {
                        let start = *since.get_or_insert(now);
                        Some(now.saturating_sub(start).as_secs_f64()).filter(|s| *s >= min)
                    } else {
                        *since = None;
                        None
                    }
                }
                None => (inside && min == 0.0).then_some(0.0),
            };
            let Some(stayed) = stayed else { continue };
            longest = longest.max(stayed);
            tracks.extend(o.track_id);
            events.extend(self.event_of(o.track_id, motion_id));
        }
        let rule = &self.rules[ri];
        let analytics = (rule.min_duration > 0.0).then(|| AlertAnalytics {
            rule: rule.name.clone(),
            kind: AnalyticsKind::Dwell,
            line: None,
            direction: None,
            zone: self.zone_name(ri),
            object_class: rule.class.clone(),
            track_ids: tracks,
            objects: None,
            seconds: Some(longest),
        });
        Matched { events, analytics }
    }

    /// Events of the tracks whose crossings on this frame match crossing rule `ri`: its line,
    /// its direction and its class.
    fn crossing_matches(
        &self,
        ri: usize,
        crossings: &[Crossing],
        motion_id: Option<&String>,
    ) -> Matched {
        let rule = &self.rules[ri];
        let matching: Vec<&Crossing> = crossings
            .iter()
            .filter(|c| {
                Some(c.line) == rule.line
                    && rule.direction.is_none_or(|d| d == c.direction)
                    && rule.class.as_ref().is_none_or(|k| *k == c.class)
            })
            .collect();
        let Some(first) = matching.first() else {
            return Matched {
                events: Vec::new(),
                analytics: None,
            };
        };
        let line = &self.scene.lines()[first.line];
        let same = |f: fn(&Crossing) -> String| {
            let v = f(first);
            matching.iter().all(|c| f(c) == v).then_some(v)
        };
        let direction = matching
            .iter()
            .all(|c| c.direction == first.direction)
            .then(|| line.direction_name(first.direction).to_string());
        Matched {
            events: matching
                .iter()
                .filter_map(|c| self.event_of(Some(c.track_id), motion_id))
                .collect(),
            analytics: Some(AlertAnalytics {
                rule: rule.name.clone(),
                kind: AnalyticsKind::Crossing,
                line: Some(line.name.clone()),
                direction,
                zone: None,
                object_class: same(|c| c.class.clone()),
                track_ids: matching.iter().map(|c| c.track_id).collect(),
                objects: None,
                seconds: None,
            }),
        }
    }

    /// Events of the objects in occupancy rule `ri`'s zone once more than `above` of them have
    /// been there for its minimum duration.
    fn occupancy_matches(
        &mut self,
        ri: usize,
        now: Duration,
        motion_id: Option<&String>,
    ) -> Matched {
        let none = Matched {
            events: Vec::new(),
            analytics: None,
        };
        let rule = &self.rules[ri];
        let Some(RuleZone::Named(z)) = rule.zone else {
            return none;
        };
        let class = rule.class.as_deref();
        let n = self.scene.occupants(z, class);
        if n <= rule.above as usize {
            self.crowded_since[ri] = None;
            return none;
        }
        let since = *self.crowded_since[ri].get_or_insert(now);
        let held = now.saturating_sub(since).as_secs_f64();
        if held < rule.min_duration {
            return none;
        }
        let tracks = self.scene.occupant_tracks(z, class);
        let mut events: Vec<String> = tracks
            .iter()
            .filter_map(|id| self.tracks.get(id)?.last_event.clone())
            .collect();
        // Untracked occupants were listed by this frame's motion event, or the last one.
        if events.is_empty() {
            events.extend(motion_id.or(self.last_motion_id.as_ref()).cloned());
        }
        Matched {
            events,
            analytics: Some(AlertAnalytics {
                rule: rule.name.clone(),
                kind: AnalyticsKind::Occupancy,
                line: None,
                direction: None,
                zone: self.zone_name(ri),
                object_class: rule.class.clone(),
                track_ids: tracks,
                objects: Some(n as u64),
                seconds: Some(held),
            }),
        }
    }

    /// Events of the faces matching face rule `ri` (unknown, or known and unauthorised).
    fn face_matches(&self, ri: usize, frame: &Frame) -> Vec<String> {
        let unknown = self.rules[ri].when == Trigger::UnknownFace;
        frame
            .faces
            .iter()
            .filter(|f| {
                if unknown {
                    !f.known
                } else {
                    f.known && !f.is_authorized
                }
            })
            .filter_map(|f| self.faces.get(&f.face_id)?.last_event.clone())
            .collect()
    }
}

/// A normalised box in the frame's pixels: hundredths of a pixel are all the detectors
/// resolve, more digits would only be float noise in the JSON.
fn pixels(b: &[f64; 4], frame: &Frame) -> BBox {
    let (w, h) = (frame.width as f64, frame.height as f64);
    let r = |v: f64| (v * 100.0).round() / 100.0;
    BBox::new(r(b[0] * w), r(b[1] * h), r(b[2] * w), r(b[3] * h))
}

/// A confidence to four decimals, within 0–1.
fn rounded_confidence(c: f64) -> f64 {
    (c.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::rules::parse;

    fn obj(track: u64, class: &str, x: f64) -> SeenObject {
        SeenObject {
            track_id: Some(track),
            class: class.into(),
            confidence: 0.9,
            bbox: [x, 0.5, x + 0.1, 0.9],
        }
    }

    fn frame<'a>(n: u64, secs: f64, objects: &'a [SeenObject], faces: &'a [SeenFace]) -> Frame<'a> {
        Frame {
            frame_number: n,
            time: Duration::from_secs_f64(secs),
            width: 640,
            height: 480,
            objects,
            faces,
        }
    }

    /// Camera "cam", tracks forgotten after 60 s, repeats at most every 5 s, no rules.
    fn builder() -> EventBuilder {
        EventBuilder::new(
            "cam",
            Duration::from_secs(60),
            Duration::from_secs(5),
            RuleSet::default(),
        )
    }

    fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind().event_type()).collect()
    }

    #[test]
    fn a_still_scene_of_three_people_for_a_minute_is_a_handful_of_events() {
        let mut b = EventBuilder::new(
            "cam",
            Duration::from_secs(10),
            Duration::from_secs(5),
            RuleSet::default(),
        );
        let people = [
            obj(1, "person", 0.1),
            obj(2, "person", 0.4),
            obj(3, "person", 0.7),
        ];
        let mut n = 0;
        for i in 0..600 {
            n += b.observe(&frame(i, i as f64 / 10.0, &people, &[])).len();
        }
        // The first frame, then one heartbeat every 10 s.
        assert_eq!(n, 6);
    }

    #[test]
    fn new_tracks_and_class_changes_are_never_suppressed() {
        let mut b = EventBuilder::new(
            "cam",
            Duration::from_secs(60),
            Duration::from_secs(5),
            RuleSet::default(),
        );
        assert_eq!(
            kinds(&b.observe(&frame(0, 0.0, &[obj(1, "person", 0.1)], &[]))),
            vec!["motion.detected"]
        );
        assert!(b
            .observe(&frame(1, 0.1, &[obj(1, "person", 0.1)], &[]))
            .is_empty());
        let e = b.observe(&frame(
            2,
            0.2,
            &[obj(1, "person", 0.1), obj(2, "car", 0.5)],
            &[],
        ));
        assert_eq!(kinds(&e), vec!["motion.detected"]);
        let Event::Motion(m) = &e[0] else { panic!() };
        assert_eq!(m.total_objects, 2);
        assert_eq!(
            m.detected_objects[1].bbox,
            BBox::new(320.0, 240.0, 0.6 * 640.0, 432.0)
        );
        assert_eq!(m.detected_objects[1].track_id, Some(2));
        assert_eq!(
            b.observe(&frame(3, 0.3, &[obj(1, "dog", 0.1)], &[])).len(),
            1
        );
        // Gone for longer than forget_after: new again.
        assert!(b.observe(&frame(4, 0.4, &[], &[])).is_empty());
        assert_eq!(
            b.observe(&frame(5, 10.0, &[obj(1, "dog", 0.1)], &[])).len(),
            1
        );
    }

    fn face(id: &str, name: Option<&str>, authorized: bool) -> SeenFace {
        SeenFace {
            face_id: id.into(),
            person_name: name.map(str::to_string),
            known: name.is_some(),
            is_authorized: authorized,
            confidence: 0.8,
            bbox: [0.1, 0.1, 0.2, 0.2],
        }
    }

    #[test]
    fn an_unauthorized_face_alerts_once_naming_its_face_event() {
        let mut b = builder();
        let e = b.observe(&frame(
            0,
            0.0,
            &[],
            &[face("face_1", Some("Mallory"), false)],
        ));
        assert_eq!(kinds(&e), vec!["face.recognized", "alert.triggered"]);
        let (Event::Face(f), Event::Alert(a)) = (&e[0], &e[1]) else {
            panic!()
        };
        assert_eq!(a.alert_level, AlertLevel::Critical);
        assert_eq!(a.alert_message, "Unauthorized access detected");
        assert_eq!(a.associated_events, vec![f.event_id.clone()]);
        assert!(b
            .observe(&frame(
                1,
                0.1,
                &[],
                &[face("face_1", Some("Mallory"), false)]
            ))
            .is_empty());
        // A second unauthorised person is new: alerted too.
        let e = b.observe(&frame(
            2,
            0.2,
            &[],
            &[
                face("face_1", Some("Mallory"), false),
                face("face_2", Some("Eve"), false),
            ],
        ));
        assert_eq!(kinds(&e), vec!["face.recognized", "alert.triggered"]);
        // An unknown face is reported with a null name and no built-in alert.
        let e = b.observe(&frame(3, 0.3, &[], &[face("face_3", None, false)]));
        assert_eq!(kinds(&e), vec!["face.recognized"]);
        let Event::Face(f) = &e[0] else { panic!() };
        assert_eq!(f.person_name, None);
    }

    /// Any upstream element may attach face metadata: a face without an id is refused, never a
    /// panic, and the faces beside it are still reported.
    #[test]
    fn a_refused_face_is_skipped_without_a_panic() {
        let mut b = builder();
        let e = b.observe(&frame(
            0,
            0.0,
            &[],
            &[
                face("", Some("Mallory"), false),
                face("face_2", Some("Eve"), false),
            ],
        ));
        assert_eq!(kinds(&e), vec!["face.recognized", "alert.triggered"]);
        let Event::Face(f) = &e[0] else { panic!() };
        assert_eq!(f.face_id, "face_2");
    }

    #[test]
    fn rules_with_zone_duration_and_cooldown() {
        let rules = parse(
            r#"
[[rule]]
name = "bay"
when = "object"
class = "person"
zone = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
min_duration = 2.0
level = "WARNING"
message = "Person in the bay"
cooldown = 30

[[rule]]
name = "stranger"
when = "unknown_face"
level = "INFO"
message = "Unknown face"
cameras = ["other"]
"#,
            false,
        )
        .unwrap();
        let mut b = EventBuilder::new(
            "cam",
            Duration::from_secs(60),
            Duration::from_secs(5),
            rules,
        );
        let inside = [obj(1, "person", 0.1)];
        let outside = [obj(2, "person", 0.8)];
        let mut alerts = Vec::new();
        let mut first_motion = None;
        for i in 0..100 {
            let t = i as f64 / 10.0;
            for e in b.observe(&frame(i, t, &inside, &[face("f9", None, false)])) {
                match e {
                    Event::Motion(m) if first_motion.is_none() => first_motion = Some(m.event_id),
                    Event::Alert(a) => alerts.push((t, a)),
                    _ => {}
                }
            }
            assert!(b
                .observe(&frame(i, t, &outside, &[]))
                .iter()
                .all(|e| e.kind() != crate::events::EventKind::Alert));
        }
        // After 2 s in the zone; not again within the 30 s cooldown; the camera filter keeps
        // the unknown-face rule quiet here.
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let (t, a) = &alerts[0];
        assert!((*t - 2.0).abs() < 0.11, "{t}");
        assert_eq!(a.alert_message, "Person in the bay");
        assert_eq!(a.associated_events, vec![first_motion.unwrap()]);
    }

    const SCENE: &str = r#"
[[line]]
name = "door"
points = [[0.0, 0.5], [1.0, 0.5]]
directions = ["enter", "leave"]

[[zone]]
name = "bay"
points = [[0.0, 0.7], [1.0, 0.7], [1.0, 1.0], [0.0, 1.0]]

[[rule]]
name = "came in"
when = "crossing"
line = "door"
direction = "enter"
class = "person"
cooldown = 0
level = "INFO"
message = "Someone came in"

[[rule]]
name = "crowded"
when = "occupancy"
zone = "bay"
above = 1
min_duration = 2
cooldown = 5
level = "WARNING"
message = "More than one in the bay"

[[rule]]
name = "feet in the bay"
when = "object"
class = "person"
zone = "bay"
min_duration = 1
cooldown = 100
level = "INFO"
message = "Standing in the bay"

[[rule]]
name = "centre in the bay"
when = "object"
class = "person"
zone = [[0.0, 0.7], [1.0, 0.7], [1.0, 1.0], [0.0, 1.0]]
cooldown = 100
level = "INFO"
message = "Centre in the bay"
"#;

    /// Camera "cam" with the lines, zones and rules of [`SCENE`].
    fn scene_builder() -> EventBuilder {
        EventBuilder::new(
            "cam",
            Duration::from_secs(60),
            Duration::from_secs(5),
            parse(SCENE, false).unwrap(),
        )
    }

    /// An object whose feet are at (x, y), 0.2 high.
    fn standing(track: u64, class: &str, x: f64, y: f64) -> SeenObject {
        SeenObject {
            track_id: Some(track),
            class: class.into(),
            confidence: 0.9,
            bbox: [x - 0.05, y - 0.2, x + 0.05, y],
        }
    }

    fn alerts(events: &[Event]) -> Vec<&AlertEvent> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Alert(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn crossing_rules_fire_per_crossing_of_their_direction_and_class() {
        let mut b = scene_builder();
        let mut fired = Vec::new();
        let mut motion = HashMap::new();
        // A person and a car walk down across the door, and back up.
        let ys: Vec<f64> = (0..=10).map(|i| 0.3 + 0.03 * f64::from(i)).collect();
        let back: Vec<f64> = ys.iter().rev().copied().collect();
        for (i, y) in ys.iter().chain(&back).enumerate() {
            let objects = [standing(1, "person", 0.3, *y), standing(2, "car", 0.7, *y)];
            let events = b.observe(&frame(i as u64, i as f64 / 10.0, &objects, &[]));
            for e in &events {
                if let Event::Motion(m) = e {
                    motion.insert(i, m.event_id.clone());
                }
            }
            fired.extend(
                alerts(&events)
                    .into_iter()
                    .filter(|a| a.alert_message == "Someone came in")
                    .map(|a| (i, a.clone())),
            );
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        let (_, a) = &fired[0];
        let d = a.analytics.as_ref().unwrap();
        assert_eq!(
            (d.kind, d.line.as_deref(), d.direction.as_deref()),
            (AnalyticsKind::Crossing, Some("door"), Some("enter"))
        );
        assert_eq!(
            (d.object_class.as_deref(), &d.track_ids[..]),
            (Some("person"), &[1][..])
        );
        // The person's motion event: the first frame's, listing both new tracks.
        assert_eq!(a.associated_events, vec![motion[&0].clone()]);
        assert_eq!(
            b.scene()
                .crossings(0, crate::analytics::line::Direction::In),
            2
        );
        assert_eq!(
            b.scene()
                .crossings(0, crate::analytics::line::Direction::Out),
            2
        );
    }

    #[test]
    fn occupancy_rules_fire_once_the_zone_has_held_too_many_long_enough() {
        let mut b = scene_builder();
        let mut fired = Vec::new();
        for i in 0..=100u32 {
            let t = f64::from(i) / 10.0;
            // Two people in the bay until 6 s, then one.
            let mut objects = vec![standing(1, "person", 0.3, 0.9)];
            if t < 6.0 {
                objects.push(standing(2, "person", 0.6, 0.9));
            }
            for a in alerts(&b.observe(&frame(u64::from(i), t, &objects, &[]))) {
                fired.push((t, a.alert_message.clone(), a.analytics.clone()));
            }
        }
        let crowded: Vec<_> = fired.iter().filter(|f| f.1.starts_with("More")).collect();
        // In from 0.2 s (inertia), held 2 s: at 2.2 s; again after the 5 s cooldown? No: at
        // 6 s only one is left.
        assert_eq!(crowded.len(), 1, "{fired:?}");
        let (t, _, d) = crowded[0];
        assert!((t - 2.2).abs() < 0.01, "{t}");
        let d = d.as_ref().unwrap();
        assert_eq!(
            (d.kind, d.zone.as_deref(), d.objects),
            (AnalyticsKind::Occupancy, Some("bay"), Some(2))
        );
        assert_eq!(d.track_ids, [1, 2]);
        assert!((d.seconds.unwrap() - 2.0).abs() < 0.01);
        // The named zone tests the feet (bottom centre), the inline polygon the box centre:
        // feet at y 0.9 and centre at 0.8 are in both; the dwell rule says how long.
        let feet: Vec<_> = fired
            .iter()
            .filter(|f| f.1 == "Standing in the bay")
            .collect();
        assert_eq!(feet.len(), 1);
        let d = feet[0].2.as_ref().unwrap();
        assert_eq!(
            (d.kind, d.zone.as_deref(), d.seconds),
            (AnalyticsKind::Dwell, Some("bay"), Some(1.0))
        );
        assert_eq!(
            fired.iter().filter(|f| f.1 == "Centre in the bay").count(),
            1
        );
        let mut b = scene_builder();
        // Feet in the bay (0.75), centre above it (0.65): only the named zone sees it.
        let mut messages = Vec::new();
        for i in 0..30u32 {
            let objects = [standing(1, "person", 0.3, 0.75)];
            let events = b.observe(&frame(u64::from(i), f64::from(i) / 10.0, &objects, &[]));
            messages.extend(alerts(&events).into_iter().map(|a| a.alert_message.clone()));
        }
        assert_eq!(messages, ["Standing in the bay"]);
    }
}
