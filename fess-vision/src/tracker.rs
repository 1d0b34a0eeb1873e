//! An IoU tracker: gives each object a `track_id` that stays the same across frames.
//!
//! Greedy matching of new detections to predicted track boxes (same class, best IoU first),
//! with a constant-velocity prediction so a walking person still overlaps their track after a
//! few skipped frames.

use crate::geometry::{BBox, Detection};

#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u64,
    pub bbox: BBox,
    pub class_id: usize,
    pub score: f32,
    /// Per-frame motion of the box, smoothed.
    velocity: (f32, f32),
    /// Frames since the track was last matched to a detection.
    pub misses: u32,
    /// Detections matched to this track so far.
    pub hits: u32,
}

#[derive(Debug, Clone)]
pub struct IouTracker {
    tracks: Vec<Track>,
    next_id: u64,
    min_iou: f32,
    max_misses: u32,
    /// Frames since the last update (inference), for prediction.
    frames_since_update: u32,
}

impl IouTracker {
    /// `min_iou`: overlap needed to continue a track; `max_misses`: inference rounds a track
    /// survives without a match.
    pub fn new(min_iou: f32, max_misses: u32) -> Self {
        IouTracker {
            tracks: Vec::new(),
            next_id: 1,
            min_iou,
            max_misses,
            frames_since_update: 0,
        }
    }

    /// Advances one frame without a detection run: tracks move by their velocity.
    pub fn predict(&mut self) {
        self.frames_since_update += 1;
        for t in &mut self.tracks {
            t.bbox = t.bbox.translate(t.velocity.0, t.velocity.1);
        }
    }

    /// Matches a detection run to the tracks; returns the track id of each detection, in order.
    pub fn update(&mut self, dets: &[Detection]) -> Vec<u64> {
        let gap = (self.frames_since_update + 1) as f32;
        self.frames_since_update = 0;
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let predicted = t.bbox.translate(t.velocity.0, t.velocity.1);
            for (di, d) in dets.iter().enumerate() {
                if d.class_id != t.class_id {
                    continue;
                }
                let iou = predicted.iou(&d.bbox).max(t.bbox.iou(&d.bbox));
                if iou >= self.min_iou {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut det_track: Vec<Option<usize>> = vec![None; dets.len()];
        let mut track_taken = vec![false; self.tracks.len()];
        for (_, ti, di) in pairs {
            if track_taken[ti] || det_track[di].is_some() {
                continue;
            }
            track_taken[ti] = true;
            det_track[di] = Some(ti);
        }
        for (ti, t) in self.tracks.iter_mut().enumerate() {
            if !track_taken[ti] {
                // Coast: a missed object keeps moving, so it can be found again further on.
                t.bbox = t.bbox.translate(t.velocity.0, t.velocity.1);
                t.misses += 1;
            }
        }
        let mut ids = Vec::with_capacity(dets.len());
        for (di, d) in dets.iter().enumerate() {
            match det_track[di] {
                Some(ti) => {
                    let t = &mut self.tracks[ti];
                    let (ox, oy) = t.bbox.center();
                    let (nx, ny) = d.bbox.center();
                    // Exponential smoothing keeps one jittery box from flinging the track.
                    let v = ((nx - ox) / gap, (ny - oy) / gap);
                    t.velocity = (
                        0.5 * t.velocity.0 + 0.5 * v.0,
                        0.5 * t.velocity.1 + 0.5 * v.1,
                    );
                    t.bbox = d.bbox;
                    t.score = d.score;
                    t.misses = 0;
                    t.hits += 1;
                    ids.push(t.id);
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track {
                        id,
                        bbox: d.bbox,
                        class_id: d.class_id,
                        score: d.score,
                        velocity: (0.0, 0.0),
                        misses: 0,
                        hits: 1,
                    });
                    ids.push(id);
                }
            }
        }
        let max = self.max_misses;
        self.tracks.retain(|t| t.misses <= max);
        ids
    }

    /// Tracks matched by the last detection run (those still in view).
    pub fn visible(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.misses == 0)
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
        self.frames_since_update = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, class_id: usize) -> Detection {
        Detection {
            bbox: BBox::new(x, 0.2, x + 0.1, 0.6),
            class_id,
            score: 0.9,
        }
    }

    #[test]
    fn walking_object_keeps_its_id() {
        let mut t = IouTracker::new(0.3, 3);
        let first = t.update(&[det(0.10, 0), det(0.70, 0)]);
        assert_eq!(first, vec![1, 2]);
        for step in 1..20 {
            let x = 0.10 + step as f32 * 0.02;
            let ids = t.update(&[det(0.70, 0), det(x, 0)]);
            assert_eq!(ids, vec![2, 1], "step {step}");
        }
    }

    #[test]
    fn prediction_bridges_skipped_frames() {
        let mut t = IouTracker::new(0.3, 3);
        for step in 0..5 {
            t.update(&[det(step as f32 * 0.03, 0)]);
        }
        // Four frames without inference: a 0.12 jump, more than the box's own width.
        for _ in 0..4 {
            t.predict();
        }
        assert_eq!(t.update(&[det(0.12 + 0.12, 0)]), vec![1]);
    }

    #[test]
    fn classes_do_not_mix_and_lost_tracks_expire() {
        let mut t = IouTracker::new(0.3, 1);
        assert_eq!(t.update(&[det(0.1, 0)]), vec![1]);
        assert_eq!(t.update(&[det(0.1, 16)]), vec![2]);
        t.update(&[]);
        // Track 1 has missed twice now (> max_misses 1) and is gone.
        assert_eq!(t.update(&[det(0.1, 0)]), vec![3]);
        assert_eq!(t.visible().count(), 1);
    }
}
