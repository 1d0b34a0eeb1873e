//! fessface's per-frame rules, without GStreamer: where faces are searched (person regions or
//! the whole frame, every `detection-interval` frames), face tracks and their carry-over in
//! between, where each face's identity comes from (the cache, the track's memory or the
//! embedding model; see [`recheck`]) and when a track counts as recognised.
//!
//! The models come in through [`FaceModels`] and the gallery with its cache through
//! [`Recognitions`], so the rules are tested with fakes that return chosen faces and
//! embeddings.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fess::gallery::redis_link::RedisLink;
use fess::gallery::{CachedRecognition, Gallery, Identity};

use super::engine::{Face, FaceEngine, FaceError, Region};
use super::recheck::{self, Source, TrackMemory};
use crate::geometry::{BBox, Detection};
use crate::preprocess::FrameView;
use crate::tracker::IouTracker;

/// Faces overlapping more than this (found in two overlapping person boxes) are one face.
const DUPLICATE_IOU: f32 = 0.5;
/// Face tracks: IoU to continue one, frames a lost face keeps its id.
const TRACK_MIN_IOU: f32 = 0.3;
const TRACK_MAX_MISSES: u32 = 5;

/// The two face models as the stage needs them.
pub trait FaceModels {
    /// Faces in `region` of the frame (pixels of the frame), the region scaled so its longer
    /// side is about `size`.
    fn detect(
        &mut self,
        view: &FrameView,
        region: Region,
        size: usize,
        threshold: f32,
        max_faces: usize,
    ) -> Result<Vec<Face>, FaceError>;
    /// The face aligned for the embedder, `None` when its landmarks are unusable.
    fn align(&self, view: &FrameView, face: &Face) -> Option<Vec<u8>>;
    /// One normalised embedding per aligned face.
    fn embed(&mut self, faces: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, FaceError>;
}

impl FaceModels for FaceEngine {
    fn detect(
        &mut self,
        view: &FrameView,
        region: Region,
        size: usize,
        threshold: f32,
        max_faces: usize,
    ) -> Result<Vec<Face>, FaceError> {
        FaceEngine::detect(self, view, region, size, threshold, max_faces)
    }

    fn align(&self, view: &FrameView, face: &Face) -> Option<Vec<u8>> {
        FaceEngine::align(self, view, face)
    }

    fn embed(&mut self, faces: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, FaceError> {
        FaceEngine::embed(self, faces)
    }
}

/// The gallery and the recognition cache, as the Redis link keeps them.
pub trait Recognitions {
    /// The latest gallery snapshot.
    fn gallery(&self) -> Arc<Gallery>;
    fn is_up(&self) -> bool;
    fn cache_key(&self, camera_id: &str, track_id: u64) -> String;
    /// The cache's entries for `keys`, or `None` when it could not answer within `wait`.
    fn lookup(&self, keys: Vec<String>, wait: Duration) -> Option<Vec<Option<CachedRecognition>>>;
    /// Writes an entry without waiting.
    fn store(&mut self, key: String, value: &CachedRecognition, ttl: Duration);
}

impl Recognitions for RedisLink {
    fn gallery(&self) -> Arc<Gallery> {
        RedisLink::gallery(self)
    }

    fn is_up(&self) -> bool {
        RedisLink::is_up(self)
    }

    fn cache_key(&self, camera_id: &str, track_id: u64) -> String {
        RedisLink::cache_key(self, camera_id, track_id)
    }

    fn lookup(&self, keys: Vec<String>, wait: Duration) -> Option<Vec<Option<CachedRecognition>>> {
        RedisLink::lookup(self, keys, wait)
    }

    fn store(&mut self, key: String, value: &CachedRecognition, ttl: Duration) {
        RedisLink::store(self, key, value, ttl)
    }
}

/// The per-frame knobs, read from the element's settings once per frame.
#[derive(Debug, Clone)]
pub struct FaceRules {
    /// Search faces inside the person boxes given (else the whole frame).
    pub in_persons: bool,
    pub detection_size: usize,
    pub face_threshold: f32,
    pub min_face_size: f32,
    pub max_faces: usize,
    pub detection_interval: u32,
    pub match_threshold: f32,
    pub recheck_interval: u64,
    pub cache_ttl: Duration,
    pub redis_timeout: Duration,
}

/// A person box of the frame (normalised 0–1) with its ROI id, the parent of faces in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonBox {
    pub id: i32,
    pub bbox: BBox,
}

/// One face of the frame.
#[derive(Debug, Clone)]
pub struct FrameFace {
    /// In frame pixels.
    pub face: Face,
    /// The person ROI holding it, 0 for none.
    pub parent_id: i32,
    pub track_id: u64,
    /// `None` when the track has no identity yet.
    pub identity: Option<Identity>,
}

/// This frame's counts, for the element's stats.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The face detector ran on this frame.
    pub searched: u64,
    pub embeddings: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

/// What the stage found in a frame.
#[derive(Debug, Default)]
pub struct FrameFaces {
    pub faces: Vec<FrameFace>,
    /// Indices into `faces` of the tracks recognised for the first time or as someone else
    /// (recognitions count once per track and identity).
    pub recognised: Vec<usize>,
    pub tally: Tally,
}

pub struct FaceStage<M, R> {
    models: M,
    recognitions: R,
    tracker: IouTracker,
    memory: HashMap<u64, TrackMemory>,
    /// The identity each track was last counted under.
    counted: HashMap<u64, Option<String>>,
    frame_number: u64,
    /// Frames since the face detector last ran (`None` before its first run).
    since_detection: Option<u32>,
}

impl<M: FaceModels, R: Recognitions> FaceStage<M, R> {
    pub fn new(models: M, recognitions: R) -> Self {
        FaceStage {
            models,
            recognitions,
            tracker: IouTracker::new(TRACK_MIN_IOU, TRACK_MAX_MISSES),
            memory: HashMap::new(),
            counted: HashMap::new(),
            frame_number: 0,
            since_detection: None,
        }
    }

    pub fn recognitions(&self) -> &R {
        &self.recognitions
    }

    /// Forgets the face tracks (a flush: what follows may be another scene).
    pub fn flush(&mut self) {
        self.tracker.clear();
        self.memory.clear();
        self.since_detection = None;
    }

    /// The faces of one frame with their identities. `persons` are the frame's person boxes.
    pub fn process(
        &mut self,
        view: &FrameView,
        persons: &[PersonBox],
        camera_id: &str,
        rules: &FaceRules,
    ) -> Result<FrameFaces, FaceError> {
        self.frame_number += 1;
        let mut tally = Tally::default();
        let due = self
            .since_detection
            .is_none_or(|n| n + 1 >= rules.detection_interval);
        let faces = if due {
            self.since_detection = Some(0);
            tally.searched = 1;
            let mut faces = self.search(view, persons, rules)?;
            if !faces.is_empty() {
                self.identify(view, &mut faces, camera_id, rules, &mut tally)?;
            }
            faces
        } else {
            self.since_detection = self.since_detection.map(|n| n + 1);
            self.carried(persons, view.width, view.height)
        };
        let recognised = self.count_recognitions(&faces);
        Ok(FrameFaces {
            faces,
            recognised,
            tally,
        })
    }

    /// Runs the face detector and gives each face found its track.
    fn search(
        &mut self,
        view: &FrameView,
        persons: &[PersonBox],
        rules: &FaceRules,
    ) -> Result<Vec<FrameFace>, FaceError> {
        let found = self.find(view, persons, rules)?;
        let (fw, fh) = (view.width as f32, view.height as f32);
        let dets: Vec<Detection> = found
            .iter()
            .map(|(f, _)| Detection {
                bbox: BBox::new(
                    f.bbox.x1 / fw,
                    f.bbox.y1 / fh,
                    f.bbox.x2 / fw,
                    f.bbox.y2 / fh,
                ),
                class_id: 0,
                score: f.score,
            })
            .collect();
        let ids = self.tracker.update(&dets);
        Ok(found
            .into_iter()
            .zip(ids)
            .map(|((face, parent_id), track_id)| FrameFace {
                face,
                parent_id,
                track_id,
                identity: None,
            })
            .collect())
    }

    /// Faces of this frame with their parent ROI ids, best first, duplicates removed.
    fn find(
        &mut self,
        view: &FrameView,
        persons: &[PersonBox],
        rules: &FaceRules,
    ) -> Result<Vec<(Face, i32)>, FaceError> {
        let (w, h) = (view.width as f32, view.height as f32);
        let regions: Vec<(Region, i32)> = if rules.in_persons {
            persons
                .iter()
                .map(|p| {
                    let b = p.bbox.clamp(1.0, 1.0);
                    let region = Region {
                        x: (b.x1 * w) as usize,
                        y: (b.y1 * h) as usize,
                        width: (b.width() * w).ceil() as usize,
                        height: (b.height() * h).ceil() as usize,
                    };
                    (region, p.id)
                })
                .filter(|(r, _)| {
                    r.width as f32 >= rules.min_face_size && r.height as f32 >= rules.min_face_size
                })
                .collect()
        } else {
            let whole = Region {
                x: 0,
                y: 0,
                width: view.width,
                height: view.height,
            };
            vec![(whole, 0)]
        };
        let mut found: Vec<(Face, i32)> = Vec::new();
        for (region, parent) in regions {
            let faces = self.models.detect(
                view,
                region,
                rules.detection_size,
                rules.face_threshold,
                rules.max_faces,
            )?;
            found.extend(
                faces
                    .into_iter()
                    .filter(|f| f.size() >= rules.min_face_size)
                    .map(|f| (f, parent)),
            );
        }
        // A face seen from two overlapping person regions is one face.
        Ok(crate::nms::nms(found, DUPLICATE_IOU, rules.max_faces))
    }

    /// Gives every face of the frame an identity: from the cache, the track's memory, or the
    /// embedding model (all faces needing it in one batch).
    fn identify(
        &mut self,
        view: &FrameView,
        faces: &mut [FrameFace],
        camera_id: &str,
        rules: &FaceRules,
        tally: &mut Tally,
    ) -> Result<(), FaceError> {
        let gallery = self.recognitions.gallery();
        let keys: Vec<String> = faces
            .iter()
            .map(|f| self.recognitions.cache_key(camera_id, f.track_id))
            .collect();
        let redis_up = self.recognitions.is_up();
        let cached = self
            .recognitions
            .lookup(keys.clone(), rules.redis_timeout)
            .unwrap_or_else(|| vec![None; faces.len()]);
        let mut to_embed: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, f) in faces.iter_mut().enumerate() {
            let c = cached.get(i).and_then(Option::as_ref);
            let valid = c.filter(|c| c.gallery_version == gallery.version);
            if valid.is_some() {
                tally.cache_hits += 1;
            } else {
                tally.cache_misses += 1;
            }
            let memory = self.memory.get(&f.track_id);
            let source = recheck::decide(
                rules.recheck_interval,
                self.frame_number,
                f.face.quality(),
                gallery.version,
                memory,
                c,
                redis_up,
            );
            match (source, valid) {
                (Source::Cache, Some(c)) => {
                    f.identity = Some(c.identity.clone());
                    self.memory.entry(f.track_id).or_insert(TrackMemory {
                        identity: c.identity.clone(),
                        embedded_frame: self.frame_number,
                        quality: c.quality,
                        gallery_version: c.gallery_version,
                    });
                }
                (Source::Memory, _) => f.identity = memory.map(|m| m.identity.clone()),
                // `decide` picks the cache only when it holds a valid entry.
                (Source::Embed | Source::Cache, _) => {
                    if let Some(aligned) = self.models.align(view, &f.face) {
                        to_embed.push((i, aligned));
                    }
                }
            }
        }
        if to_embed.is_empty() {
            return Ok(());
        }
        let aligned: Vec<Vec<u8>> = to_embed.iter().map(|(_, a)| a.clone()).collect();
        let embeddings = self.models.embed(&aligned)?;
        tally.embeddings += embeddings.len() as u64;
        for ((i, _), e) in to_embed.iter().zip(embeddings) {
            let f = &mut faces[*i];
            let identity = gallery.identify(&e, rules.match_threshold);
            let quality = f.face.quality();
            self.memory.insert(
                f.track_id,
                TrackMemory {
                    identity: identity.clone(),
                    embedded_frame: self.frame_number,
                    quality,
                    gallery_version: gallery.version,
                },
            );
            self.recognitions.store(
                keys[*i].clone(),
                &CachedRecognition {
                    identity: identity.clone(),
                    quality,
                    gallery_version: gallery.version,
                },
                rules.cache_ttl,
            );
            f.identity = Some(identity);
        }
        Ok(())
    }

    /// Between two face searches: the tracked faces moved on by their velocity, with the
    /// identity each track has, under the person box that holds their centre.
    fn carried(&mut self, persons: &[PersonBox], width: usize, height: usize) -> Vec<FrameFace> {
        self.tracker.predict();
        let (w, h) = (width as f32, height as f32);
        self.tracker
            .visible()
            .map(|t| {
                let b = t.bbox.clamp(1.0, 1.0);
                let (cx, cy) = b.center();
                let parent_id = persons
                    .iter()
                    .find(|p| {
                        (p.bbox.x1..=p.bbox.x2).contains(&cx)
                            && (p.bbox.y1..=p.bbox.y2).contains(&cy)
                    })
                    .map_or(0, |p| p.id);
                FrameFace {
                    face: Face {
                        bbox: BBox::new(b.x1 * w, b.y1 * h, b.x2 * w, b.y2 * h),
                        score: t.score,
                        // Not needed: carried faces are never embedded.
                        landmarks: [(0.0, 0.0); 5],
                    },
                    parent_id,
                    track_id: t.id,
                    identity: self.memory.get(&t.id).map(|m| m.identity.clone()),
                }
            })
            .collect()
    }

    /// Tracks that ended take their memory with them; a track counts as recognised when it
    /// first has an identity and whenever it becomes someone else.
    fn count_recognitions(&mut self, faces: &[FrameFace]) -> Vec<usize> {
        let live: HashSet<u64> = self.tracker.visible().map(|t| t.id).collect();
        self.memory.retain(|id, _| live.contains(id));
        self.counted.retain(|id, _| live.contains(id));
        let mut recognised = Vec::new();
        for (i, f) in faces.iter().enumerate() {
            let Some(identity) = &f.identity else {
                continue;
            };
            if self.counted.get(&f.track_id) != Some(&identity.person_id) {
                self.counted.insert(f.track_id, identity.person_id.clone());
                recognised.push(i);
            }
        }
        recognised
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{PixelFormat, YuvColour};
    use fess::gallery::{Person, Status};
    use std::sync::Mutex;

    const W: usize = 200;
    const H: usize = 100;

    fn view(rgb: &[u8]) -> FrameView<'_> {
        FrameView {
            format: PixelFormat::Rgb,
            width: W,
            height: H,
            planes: [rgb, &[], &[]],
            strides: [W * 3, 0, 0],
            yuv: YuvColour::default(),
        }
    }

    fn face_at(x: f32, y: f32, side: f32) -> Face {
        Face {
            bbox: BBox::new(x, y, x + side, y + side),
            score: 0.95,
            landmarks: [(x + side / 2.0, y + side / 2.0); 5],
        }
    }

    /// Faces are where the test says (in frame pixels, clipped to the region searched); the
    /// embedding of a face is the test's vector for the face's left edge.
    #[derive(Default)]
    struct FakeModels {
        faces: Vec<Face>,
        embeddings: Vec<(f32, Vec<f32>)>,
        detect_calls: usize,
        regions: Vec<Region>,
        embedded: usize,
    }

    impl FaceModels for FakeModels {
        fn detect(
            &mut self,
            _view: &FrameView,
            region: Region,
            _size: usize,
            _threshold: f32,
            max_faces: usize,
        ) -> Result<Vec<Face>, FaceError> {
            self.detect_calls += 1;
            self.regions.push(region);
            let inside = |f: &&Face| {
                f.bbox.x1 >= region.x as f32
                    && f.bbox.x2 <= (region.x + region.width) as f32
                    && f.bbox.y1 >= region.y as f32
                    && f.bbox.y2 <= (region.y + region.height) as f32
            };
            Ok(self
                .faces
                .iter()
                .filter(inside)
                .take(max_faces)
                .cloned()
                .collect())
        }

        fn align(&self, _view: &FrameView, face: &Face) -> Option<Vec<u8>> {
            Some(face.bbox.x1.to_le_bytes().to_vec())
        }

        fn embed(&mut self, faces: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, FaceError> {
            self.embedded += faces.len();
            Ok(faces
                .iter()
                .map(|a| {
                    let x = f32::from_le_bytes(a[..4].try_into().unwrap());
                    self.embeddings
                        .iter()
                        .find(|(left, _)| (left - x).abs() < 8.0)
                        .map_or(vec![0.0, 0.0, 1.0], |(_, e)| e.clone())
                })
                .collect())
        }
    }

    /// A gallery and a cache in memory; `up` false stands for Redis down.
    struct FakeRedis {
        gallery: Arc<Gallery>,
        cache: Mutex<HashMap<String, CachedRecognition>>,
        up: bool,
    }

    impl Recognitions for FakeRedis {
        fn gallery(&self) -> Arc<Gallery> {
            self.gallery.clone()
        }
        fn is_up(&self) -> bool {
            self.up
        }
        fn cache_key(&self, camera_id: &str, track_id: u64) -> String {
            format!("{camera_id}:{track_id}")
        }
        fn lookup(
            &self,
            keys: Vec<String>,
            _wait: Duration,
        ) -> Option<Vec<Option<CachedRecognition>>> {
            let cache = self.cache.lock().unwrap();
            self.up
                .then(|| keys.iter().map(|k| cache.get(k).cloned()).collect())
        }
        fn store(&mut self, key: String, value: &CachedRecognition, _ttl: Duration) {
            if self.up {
                self.cache.lock().unwrap().insert(key, value.clone());
            }
        }
    }

    fn gallery(version: u64) -> Arc<Gallery> {
        Arc::new(Gallery {
            version,
            persons: vec![Person {
                id: "eileen".into(),
                name: "Eileen Collins".into(),
                authorized: false,
                embeddings: vec![vec![1.0, 0.0, 0.0]],
            }],
        })
    }

    fn stage(faces: Vec<Face>, up: bool) -> FaceStage<FakeModels, FakeRedis> {
        let models = FakeModels {
            faces,
            embeddings: vec![(20.0, vec![1.0, 0.0, 0.0]), (120.0, vec![0.0, 1.0, 0.0])],
            ..Default::default()
        };
        let redis = FakeRedis {
            gallery: gallery(1),
            cache: Mutex::new(HashMap::new()),
            up,
        };
        FaceStage::new(models, redis)
    }

    fn rules() -> FaceRules {
        FaceRules {
            in_persons: false,
            detection_size: 320,
            face_threshold: 0.7,
            min_face_size: 20.0,
            max_faces: 16,
            detection_interval: 1,
            match_threshold: 0.5,
            recheck_interval: 30,
            cache_ttl: Duration::from_secs(30),
            redis_timeout: Duration::from_millis(20),
        }
    }

    #[test]
    fn a_face_is_embedded_once_then_named_from_the_cache_and_counted_once() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(
            vec![face_at(20.0, 20.0, 40.0), face_at(120.0, 20.0, 40.0)],
            true,
        );
        let mut counted = Vec::new();
        let mut tally = Tally::default();
        for _ in 0..10 {
            let out = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
            assert_eq!(out.faces.len(), 2);
            counted.extend(
                out.recognised
                    .iter()
                    .map(|&i| out.faces[i].identity.clone()),
            );
            tally.embeddings += out.tally.embeddings;
            tally.cache_hits += out.tally.cache_hits;
            tally.cache_misses += out.tally.cache_misses;
        }
        // Two tracks, each embedded on its first frame only; later frames hit the cache.
        assert_eq!(s.models.embedded, 2);
        assert_eq!((tally.cache_hits, tally.cache_misses), (18, 2));
        let mut statuses: Vec<Status> = counted.iter().flatten().map(Identity::status).collect();
        statuses.sort();
        assert_eq!(statuses, [Status::Unauthorized, Status::Unknown]);
        assert!(counted
            .iter()
            .flatten()
            .any(|i| i.name.as_deref() == Some("Eileen Collins")));
    }

    #[test]
    fn the_track_is_embedded_again_after_the_recheck_interval() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(vec![face_at(20.0, 20.0, 40.0)], true);
        let r = FaceRules {
            recheck_interval: 4,
            ..rules()
        };
        for _ in 0..9 {
            s.process(&view(&rgb), &[], "cam", &r).unwrap();
        }
        // Frames 1, 5 and 9.
        assert_eq!(s.models.embedded, 3);
    }

    #[test]
    fn with_redis_down_the_tracks_memory_names_the_face() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(vec![face_at(20.0, 20.0, 40.0)], false);
        for _ in 0..5 {
            let out = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
            assert_eq!(
                out.faces[0].identity.as_ref().unwrap().name.as_deref(),
                Some("Eileen Collins")
            );
            assert_eq!(out.tally.cache_misses, 1);
        }
        assert_eq!(s.models.embedded, 1);
    }

    #[test]
    fn faces_are_searched_in_person_boxes_and_a_face_in_two_of_them_counts_once() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(vec![face_at(20.0, 20.0, 40.0)], true);
        let persons = [
            PersonBox {
                id: 1,
                bbox: BBox::new(0.05, 0.1, 0.45, 0.9),
            },
            PersonBox {
                id: 2,
                bbox: BBox::new(0.0, 0.0, 0.5, 1.0),
            },
            // Too small to hold a face of min-face-size: not searched.
            PersonBox {
                id: 3,
                bbox: BBox::new(0.9, 0.9, 0.95, 0.95),
            },
        ];
        let r = FaceRules {
            in_persons: true,
            ..rules()
        };
        let out = s.process(&view(&rgb), &persons, "cam", &r).unwrap();
        assert_eq!(s.models.detect_calls, 2);
        assert_eq!(s.models.regions[0].x, 10);
        assert_eq!(out.faces.len(), 1);
        assert!([1, 2].contains(&out.faces[0].parent_id));
    }

    #[test]
    fn between_searches_faces_are_carried_with_their_identity_and_parent() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(vec![face_at(20.0, 20.0, 40.0)], true);
        let persons = [PersonBox {
            id: 7,
            bbox: BBox::new(0.0, 0.0, 0.5, 1.0),
        }];
        let r = FaceRules {
            in_persons: true,
            detection_interval: 3,
            ..rules()
        };
        let mut searched = Vec::new();
        for _ in 0..6 {
            let out = s.process(&view(&rgb), &persons, "cam", &r).unwrap();
            searched.push(out.tally.searched);
            assert_eq!(out.faces.len(), 1);
            assert_eq!(out.faces[0].parent_id, 7);
            assert!(out.faces[0].identity.is_some());
        }
        assert_eq!(searched, [1, 0, 0, 1, 0, 0]);
        assert_eq!(s.models.detect_calls, 2);
    }

    #[test]
    fn a_new_gallery_renames_the_track_and_counts_it_again() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(vec![face_at(120.0, 20.0, 40.0)], true);
        let first = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
        assert_eq!(first.recognised, [0]);
        assert_eq!(
            first.faces[0].identity.as_ref().unwrap().status(),
            Status::Unknown
        );
        // The person is enrolled with this face's embedding: a new gallery version.
        let mut g = (*gallery(2)).clone();
        g.persons[0].embeddings.push(vec![0.0, 1.0, 0.0]);
        s.recognitions.gallery = Arc::new(g);
        let second = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
        assert_eq!(second.recognised, [0]);
        assert_eq!(
            second.faces[0].identity.as_ref().unwrap().status(),
            Status::Unauthorized
        );
        let third = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
        assert!(third.recognised.is_empty());
    }

    #[test]
    fn a_flush_forgets_the_tracks() {
        let rgb = vec![0u8; W * H * 3];
        let mut s = stage(vec![face_at(20.0, 20.0, 40.0)], true);
        let before = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
        s.flush();
        let after = s.process(&view(&rgb), &[], "cam", &rules()).unwrap();
        // A new track, embedded afresh: nothing of the old one is reused.
        assert_ne!(before.faces[0].track_id, after.faces[0].track_id);
        assert_eq!(s.models.embedded, 2);
    }
}
