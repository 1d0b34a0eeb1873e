//! fessdetect's per-frame rules, without GStreamer: which frames are inferred (interval,
//! `detect-fps`, QoS, motion gate), inference on worker threads beside the streaming thread,
//! frames leaving in order, and the tracker's carry-over between inferences.
//!
//! The model comes in through [`Detector`], so the rules are tested with a fake model that
//! returns chosen boxes; the element wraps the shared ONNX Runtime engine ([`EngineDetector`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::detect::decoders::{DecodeParams, Decoder};
use crate::detect::motion::MotionGate;
use crate::geometry::Detection;
use crate::preprocess::{FrameView, InputSpec, InputTransform, Pixels, Preprocessor, TensorBuffer};
use crate::runtime::engine::Stream;
use crate::runtime::worker::Worker;
use crate::stats::SkipReason;
use crate::tracker::IouTracker;

/// Slack of the `detect-fps` budget, so frame timestamps' rounding never skips a due frame.
const BUDGET_SLACK: Duration = Duration::from_millis(1);
/// IoU needed to continue a track, and inference rounds a lost object keeps its id.
const TRACK_MIN_IOU: f32 = 0.2;
const TRACK_MAX_MISSES: u32 = 10;

/// A detection model as the stage needs it.
pub trait Detector: Send + Sync + 'static {
    /// Runs the model on one preprocessed tensor: boxes in model-input pixels and the model's
    /// own run time. `None` when `live` and the shared engine served another camera first.
    fn detect(&self, job: &Job) -> Option<Result<(Vec<Detection>, Duration), ModelError>>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The runtime failed to run the model.
    #[error("{0}")]
    Run(String),
    /// The outputs could not be read as boxes.
    #[error("{0}")]
    Decode(String),
}

/// The shared ONNX Runtime engine and the decoder of the model's outputs.
pub struct EngineDetector {
    pub stream: Stream,
    pub model_name: String,
    pub decoder: Decoder,
    pub input_size: (usize, usize),
}

impl Detector for EngineDetector {
    fn detect(&self, job: &Job) -> Option<Result<(Vec<Detection>, Duration), ModelError>> {
        let mut elapsed = Duration::ZERO;
        let ran = self.stream.run(job.live, |model| {
            // Timed from the start of the turn: the wait for it is not the model's time.
            let t0 = Instant::now();
            model.run(&job.tensor, &job.shape, |outs, names| {
                elapsed = t0.elapsed();
                self.decoder
                    .decode(&self.model_name, outs, names, self.input_size, &job.params)
            })
        })?;
        Some(match ran {
            Err(e) => Err(ModelError::Run(e.to_string())),
            Ok(Err(e)) => Err(ModelError::Decode(e.to_string())),
            Ok(Ok(dets)) => Ok((dets, elapsed)),
        })
    }
}

/// One frame's inference, for the worker.
pub struct Job {
    pub tensor: TensorBuffer,
    pub shape: [i64; 4],
    pub params: DecodeParams,
    pub live: bool,
}

/// What the stage is built with.
pub struct DetectConfig {
    pub input_spec: InputSpec,
    /// Per class id: keep detections of it (from `object-class`); `None` keeps all.
    pub keep: Option<Vec<bool>>,
    pub motion_sensitivity: f64,
    pub motion_min_area: f64,
    /// Inferences run at once (the engine's lanes).
    pub requests: usize,
}

/// The settings that may change while playing, read once per frame.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub params: DecodeParams,
    pub interval: u32,
    pub motion_gate: bool,
    pub detect_fps: f64,
}

/// Where a frame stands in time, from the element.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameTime {
    /// Its running time, when it has a timestamp.
    pub running_time: Option<Duration>,
    /// Downstream's QoS says it is already late.
    pub late: bool,
    /// The source is live: the frame does not wait for the engine or for the next frame.
    pub live: bool,
}

/// A frame leaving the stage with the objects to attach.
pub struct Leaving<F> {
    pub frame: F,
    /// Boxes normalised to the frame, with track ids.
    pub objects: Vec<(Detection, u64)>,
    /// Why the model did not run on it (the objects are carried), or `None`.
    pub skip: Option<SkipReason>,
    /// The model's run time, when it ran on this frame (the objects are fresh then).
    pub inference_time: Option<Duration>,
    /// Time spent on the frame so far, outside the worker's wait for the engine included.
    pub spent: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError<E> {
    #[error("the frame cannot be read")]
    Pixels(E),
    #[error("the inference thread stopped unexpectedly")]
    WorkerStopped,
    #[error(transparent)]
    Model(ModelError),
}

struct JobResult {
    /// The job's tensor, back for reuse.
    tensor: TensorBuffer,
    /// `None`: the shared engine served another camera first (live streams only).
    outcome: Option<Result<(Vec<Detection>, Duration), ModelError>>,
    /// The worker's time on the job, waiting for the engine's turn included.
    took: Duration,
}

/// A frame that has not left yet.
enum Held<F> {
    Inferring(InFlight<F>),
    Skipped {
        frame: F,
        reason: SkipReason,
        spent: Duration,
    },
}

/// A frame whose inference runs on the worker.
struct InFlight<F> {
    frame: F,
    transform: InputTransform,
    frame_size: (usize, usize),
    /// The motion gate passed it: its thumbnail becomes the reference once inferred (live
    /// streams; a file's is accepted when it is handed to the worker).
    gated: bool,
    /// The schedule before this frame was planned for inference, restored when the engine
    /// was busy and it was not inferred after all.
    schedule_before: Schedule,
    /// Time spent on it so far.
    spent: Duration,
}

/// When inference last ran, for the rules of interval and `detect-fps`.
#[derive(Debug, Clone, Copy, Default)]
struct Schedule {
    frames_since_inference: u32,
    inferred_once: bool,
    /// Running time of the last inference.
    last_inference_at: Option<Duration>,
}

impl Schedule {
    /// Whether the rules skip this frame: never the first; then only every `interval`th frame
    /// is due, and at most `detect_fps` a second of running time (0: no budget; without
    /// timestamps, or when time went back, the budget does not apply).
    fn skip(&self, interval: u32, detect_fps: f64, now: Option<Duration>) -> Option<SkipReason> {
        if !self.inferred_once {
            return None;
        }
        if self.frames_since_inference + 1 < interval {
            return Some(SkipReason::Interval);
        }
        if let (true, Some(now), Some(last)) = (detect_fps > 0.0, now, self.last_inference_at) {
            let gap = Duration::from_secs_f64(1.0 / detect_fps);
            if now >= last && now + BUDGET_SLACK < last + gap {
                return Some(SkipReason::Budget);
            }
        }
        None
    }
}

pub struct DetectStage<F> {
    /// Runs the inferences beside the caller's thread: as many at once as the engine has lanes.
    worker: Worker<Job, JobResult>,
    requests: usize,
    /// Frames that have not left yet, in order: inferred by the worker, or skipped and waiting
    /// for the frames before them.
    held: VecDeque<Held<F>>,
    /// Frames ready to leave, in order.
    outbox: VecDeque<Leaving<F>>,
    input_spec: InputSpec,
    keep: Option<Vec<bool>>,
    preprocessor: Option<Preprocessor>,
    gate: MotionGate,
    tracker: IouTracker,
    schedule: Schedule,
    /// Objects of the last inference (or their tracked continuation), with track ids.
    objects: Vec<(Detection, u64)>,
}

impl<F: Pixels> DetectStage<F> {
    /// Starts the inference threads (named `name`) running `detector`.
    pub fn new(name: &str, detector: impl Detector, config: DetectConfig) -> std::io::Result<Self> {
        let worker = Worker::spawn(name, config.requests, move |job: Job| {
            let started = Instant::now();
            let outcome = detector.detect(&job);
            JobResult {
                tensor: job.tensor,
                outcome,
                took: started.elapsed(),
            }
        })?;
        Ok(DetectStage {
            worker,
            requests: config.requests,
            held: VecDeque::new(),
            outbox: VecDeque::new(),
            input_spec: config.input_spec,
            keep: config.keep,
            preprocessor: None,
            gate: MotionGate::new(config.motion_sensitivity, config.motion_min_area),
            tracker: IouTracker::new(TRACK_MIN_IOU, TRACK_MAX_MISSES),
            schedule: Schedule::default(),
            objects: Vec::new(),
        })
    }

    /// Takes a frame: skipped by the rules, or preprocessed and handed to the worker. A file's
    /// frame then waits while the caller brings the next ones (as many frames are inferred at
    /// once as the engine has lanes); frames leave in order when every lane is busy and another
    /// one arrives. A live frame leaves as soon as it is inferred.
    pub fn offer(
        &mut self,
        frame: F,
        time: FrameTime,
        rules: &Rules,
    ) -> Result<(), StageError<F::Error>> {
        // One frame more than the engine runs at once waits at the workers, so a lane that
        // finishes starts the next frame at once instead of idling while this one is prepared.
        self.release_held(self.requests)?;
        let started = Instant::now();
        let skip = self
            .schedule
            .skip(rules.interval, rules.detect_fps, time.running_time)
            .or_else(|| time.late.then_some(SkipReason::Late));
        let planned = match skip {
            Some(reason) => Err(reason),
            None => frame
                .read(|view| self.prepare(view, rules, time.live))
                .map_err(StageError::Pixels)?,
        };
        let (job, transform, frame_size) = match planned {
            Ok(job) => job,
            Err(reason) => {
                self.schedule.frames_since_inference += 1;
                self.held.push_back(Held::Skipped {
                    frame,
                    reason,
                    spent: started.elapsed(),
                });
                // Leaves now unless frames before it are still being inferred.
                return self.release_held(usize::MAX);
            }
        };
        self.worker
            .submit(job)
            .map_err(|_| StageError::WorkerStopped)?;
        // A file's frame is always inferred (it waits for its turn); a live one may find the
        // engine busy, so its thumbnail becomes the reference only when it ran.
        if rules.motion_gate && !time.live {
            self.gate.accept();
        }
        let schedule_before = std::mem::replace(
            &mut self.schedule,
            Schedule {
                frames_since_inference: 0,
                inferred_once: true,
                last_inference_at: time.running_time,
            },
        );
        self.held.push_back(Held::Inferring(InFlight {
            frame,
            transform,
            frame_size,
            gated: rules.motion_gate && time.live,
            schedule_before,
            spent: started.elapsed(),
        }));
        if time.live {
            self.release_held(0)?;
        }
        Ok(())
    }

    /// The motion gate, then the model's input tensor; `Err` is why the frame is skipped.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &mut self,
        view: &FrameView,
        rules: &Rules,
        live: bool,
    ) -> Result<(Job, InputTransform, (usize, usize)), SkipReason> {
        if rules.motion_gate && !self.gate.moved(view) {
            return Err(SkipReason::NoMotion);
        }
        let (width, height) = (view.width, view.height);
        let pre = match &mut self.preprocessor {
            Some(pre) if pre.fits(width, height) => pre,
            slot => {
                let mut pre = Preprocessor::new(self.input_spec.clone(), width, height);
                // A file's frames are preprocessed while the previous one is inferred.
                pre.set_parallel(live);
                slot.insert(pre)
            }
        };
        pre.run(view);
        let job = Job {
            tensor: pre.take_tensor(),
            shape: pre.tensor_shape(),
            params: rules.params,
            live,
        };
        Ok((job, pre.transform(), (width, height)))
    }

    /// The next frame ready to leave.
    pub fn next_out(&mut self) -> Option<Leaving<F>> {
        self.outbox.pop_front()
    }

    /// Lets every held frame leave (before a serialized event overtakes them), waiting for the
    /// inferences in flight. On an error the frames are lost.
    pub fn drain(&mut self) -> Result<Vec<Leaving<F>>, StageError<F::Error>> {
        let released = self.release_held(0);
        let out = self.outbox.drain(..).collect();
        released.map(|()| out)
    }

    /// Forgets held frames (flushing), waiting for the worker's jobs so none is reported late.
    /// The motion reference and the `detect-fps` budget start again.
    pub fn flush(&mut self) {
        while self.worker.in_flight() > 0 {
            let _ = self.worker.wait();
        }
        self.held.clear();
        self.outbox.clear();
        self.gate.reset();
        self.schedule.last_inference_at = None;
    }

    /// A new picture size: the motion reference is meaningless (boxes are normalised and stay).
    pub fn picture_size_changed(&mut self) {
        self.gate.reset();
    }

    /// Lets held frames leave in order until `inferring` or fewer of them are being inferred,
    /// waiting for the worker's results where needed.
    fn release_held(&mut self, inferring: usize) -> Result<(), StageError<F::Error>> {
        loop {
            // The head waits while no more than `inferring` inferences are in flight.
            if matches!(self.held.front(), Some(Held::Inferring(_)))
                && self.worker.in_flight() <= inferring
            {
                return Ok(());
            }
            match self.held.pop_front() {
                None => return Ok(()),
                Some(Held::Skipped {
                    frame,
                    reason,
                    spent,
                }) => self.leave(frame, Some(reason), None, spent),
                Some(Held::Inferring(frame)) => self.finish(frame)?,
            }
        }
    }

    /// Takes the worker's result for `frame` (waiting for it), updates the tracker and queues
    /// the frame to leave with its objects.
    fn finish(&mut self, frame: InFlight<F>) -> Result<(), StageError<F::Error>> {
        let result = self.worker.wait().ok_or(StageError::WorkerStopped)?;
        let started = Instant::now();
        if let Some(pre) = self.preprocessor.as_mut() {
            if pre.fits(frame.frame_size.0, frame.frame_size.1) {
                pre.recycle(result.tensor);
            }
        }
        let (skip, inference_time) = match result.outcome {
            Some(Ok((decoded, elapsed))) => {
                let keep = self.keep.as_deref();
                let dets: Vec<Detection> = decoded
                    .into_iter()
                    .filter(|d| keep.is_none_or(|k| k.get(d.class_id).copied().unwrap_or(false)))
                    .map(|d| Detection {
                        bbox: frame.transform.to_frame(&d.bbox),
                        ..d
                    })
                    .filter(|d| d.bbox.is_valid())
                    .collect();
                let ids = self.tracker.update(&dets);
                self.objects = dets.into_iter().zip(ids).collect();
                if frame.gated {
                    self.gate.accept();
                }
                (None, Some(elapsed))
            }
            None => {
                self.schedule = frame.schedule_before;
                self.schedule.frames_since_inference += 1;
                (Some(SkipReason::Busy), None)
            }
            Some(Err(e)) => return Err(StageError::Model(e)),
        };
        let spent = frame.spent + result.took + started.elapsed();
        self.leave(frame.frame, skip, inference_time, spent);
        Ok(())
    }

    /// Carries the tracked objects over a skipped frame and queues the frame to leave with the
    /// current objects.
    fn leave(
        &mut self,
        frame: F,
        skip: Option<SkipReason>,
        inference_time: Option<Duration>,
        spent: Duration,
    ) {
        // Objects move on between runs; a still scene needs no prediction.
        if skip.is_some_and(|reason| reason != SkipReason::NoMotion) {
            self.tracker.predict();
            self.objects = self
                .tracker
                .visible()
                .map(|t| {
                    let det = Detection {
                        bbox: t.bbox.clamp(1.0, 1.0),
                        class_id: t.class_id,
                        score: t.score,
                    };
                    (det, t.id)
                })
                .collect();
        }
        self.outbox.push_back(Leaving {
            frame,
            objects: self.objects.clone(),
            skip,
            inference_time,
            spent,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;
    use crate::preprocess::{PixelFormat, YuvColour};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    const SIDE: usize = 64;

    /// A grey frame numbered `n`, with a white square at `square` (frame pixels) when given.
    struct TestFrame {
        n: usize,
        rgb: Vec<u8>,
    }

    impl TestFrame {
        fn new(n: usize, square: Option<(usize, usize)>) -> Self {
            let mut rgb = vec![60u8; SIDE * SIDE * 3];
            if let Some((x0, y0)) = square {
                for y in y0..(y0 + 16).min(SIDE) {
                    for x in x0..(x0 + 16).min(SIDE) {
                        rgb[(y * SIDE + x) * 3..][..3].fill(250);
                    }
                }
            }
            TestFrame { n, rgb }
        }
    }

    impl Pixels for TestFrame {
        type Error = ();
        fn read<R>(&self, f: impl FnOnce(&FrameView<'_>) -> R) -> Result<R, ()> {
            Ok(f(&FrameView {
                format: PixelFormat::Rgb,
                width: SIDE,
                height: SIDE,
                planes: [&self.rgb, &[], &[]],
                strides: [SIDE * 3, 0, 0],
                yuv: YuvColour::default(),
            }))
        }
    }

    /// Answers each job with the next scripted answer; counts the jobs.
    struct FakeDetector {
        answers: Mutex<mpsc::Receiver<Answer>>,
        calls: Arc<Mutex<usize>>,
    }

    enum Answer {
        Boxes(Vec<Detection>),
        /// The bright square of the tensor: an answer that belongs to its frame whichever
        /// lane takes it.
        Square,
        Busy,
        Fail,
    }

    /// The box of the bright pixels in an RGB tensor of `SIDE × SIDE`.
    fn bright_square(tensor: &TensorBuffer) -> Vec<Detection> {
        let TensorBuffer::U8(px) = tensor else {
            return Vec::new();
        };
        let lit: Vec<(usize, usize)> = (0..SIDE * SIDE)
            .filter(|i| px[i * 3] > 200)
            .map(|i| (i % SIDE, i / SIDE))
            .collect();
        match (lit.first(), lit.last()) {
            (Some(&(x, y)), Some(&(x2, y2))) => vec![Detection {
                bbox: BBox::new(x as f32, y as f32, x2 as f32 + 1.0, y2 as f32 + 1.0),
                class_id: 0,
                score: 0.9,
            }],
            _ => Vec::new(),
        }
    }

    impl Detector for FakeDetector {
        fn detect(&self, job: &Job) -> Option<Result<(Vec<Detection>, Duration), ModelError>> {
            *self.calls.lock().unwrap() += 1;
            let answer = self.answers.lock().unwrap().recv();
            match answer {
                Ok(Answer::Boxes(b)) => Some(Ok((b, Duration::from_millis(3)))),
                Ok(Answer::Square) => Some(Ok((bright_square(&job.tensor), Duration::ZERO))),
                Ok(Answer::Busy) => None,
                Ok(Answer::Fail) | Err(_) => Some(Err(ModelError::Run("model failed".into()))),
            }
        }
    }

    /// A box in model-input pixels (the input is `SIDE` square, so equal to frame pixels).
    fn det(x: f32, y: f32, class_id: usize) -> Detection {
        Detection {
            bbox: BBox::new(x, y, x + 16.0, y + 16.0),
            class_id,
            score: 0.9,
        }
    }

    struct Harness {
        stage: DetectStage<TestFrame>,
        answers: mpsc::Sender<Answer>,
        calls: Arc<Mutex<usize>>,
    }

    fn harness(requests: usize, keep: Option<Vec<bool>>) -> Harness {
        let (tx, rx) = mpsc::channel();
        let calls = Arc::new(Mutex::new(0));
        let detector = FakeDetector {
            answers: Mutex::new(rx),
            calls: calls.clone(),
        };
        let config = DetectConfig {
            input_spec: InputSpec::rgb8(SIDE, SIDE),
            keep,
            motion_sensitivity: 0.9,
            motion_min_area: 0.002,
            requests,
        };
        Harness {
            stage: DetectStage::new("test:infer", detector, config).unwrap(),
            answers: tx,
            calls,
        }
    }

    fn rules(interval: u32, motion_gate: bool, detect_fps: f64) -> Rules {
        Rules {
            params: DecodeParams {
                threshold: 0.4,
                iou_threshold: 0.5,
                max_detections: 100,
            },
            interval,
            motion_gate,
            detect_fps,
        }
    }

    fn at(ms: u64, live: bool) -> FrameTime {
        FrameTime {
            running_time: Some(Duration::from_millis(ms)),
            late: false,
            live,
        }
    }

    fn all_out(stage: &mut DetectStage<TestFrame>) -> Vec<Leaving<TestFrame>> {
        let mut out: Vec<_> = std::iter::from_fn(|| stage.next_out()).collect();
        out.extend(stage.drain().unwrap());
        out
    }

    #[test]
    fn every_nth_frame_is_inferred_and_the_others_carry_the_tracked_boxes() {
        let mut h = harness(1, None);
        for _ in 0..3 {
            h.answers
                .send(Answer::Boxes(vec![det(8.0, 8.0, 0)]))
                .unwrap();
        }
        for n in 0..7 {
            let frame = TestFrame::new(n, Some((8 + n, 8)));
            h.stage
                .offer(frame, at(n as u64 * 40, false), &rules(3, false, 0.0))
                .unwrap();
        }
        let out = all_out(&mut h.stage);
        assert_eq!(
            out.iter().map(|l| l.frame.n).collect::<Vec<_>>(),
            (0..7).collect::<Vec<_>>()
        );
        let inferred: Vec<usize> = out
            .iter()
            .filter(|l| l.inference_time.is_some())
            .map(|l| l.frame.n)
            .collect();
        assert_eq!(inferred, [0, 3, 6]);
        assert!(out
            .iter()
            .filter(|l| l.skip.is_some())
            .all(|l| l.skip == Some(SkipReason::Interval)));
        // One track throughout, its box normalised to the frame.
        let ids: Vec<u64> = out.iter().map(|l| l.objects[0].1).collect();
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        let b = out[0].objects[0].0.bbox;
        assert!(
            (b.x1 - 8.0 / SIDE as f32).abs() < 1e-4 && (b.x2 - 24.0 / SIDE as f32).abs() < 1e-4
        );
        assert_eq!(*h.calls.lock().unwrap(), 3);
    }

    #[test]
    fn detect_fps_skips_within_the_budget_by_running_time() {
        let mut h = harness(1, None);
        for _ in 0..4 {
            h.answers.send(Answer::Boxes(vec![])).unwrap();
        }
        // 25 frames a second, at most 5 inferences a second: frames 0, 5, 10, 15.
        for n in 0..20 {
            let frame = TestFrame::new(n, None);
            h.stage
                .offer(frame, at(n as u64 * 40, false), &rules(1, false, 5.0))
                .unwrap();
        }
        let out = all_out(&mut h.stage);
        let inferred: Vec<usize> = out
            .iter()
            .filter(|l| l.skip.is_none())
            .map(|l| l.frame.n)
            .collect();
        assert_eq!(inferred, [0, 5, 10, 15]);
        assert!(out
            .iter()
            .filter(|l| l.skip.is_some())
            .all(|l| l.skip == Some(SkipReason::Budget)));
    }

    #[test]
    fn a_still_scene_skips_the_model_and_keeps_the_objects_where_they_were() {
        let mut h = harness(1, None);
        h.answers
            .send(Answer::Boxes(vec![det(20.0, 20.0, 0)]))
            .unwrap();
        h.answers
            .send(Answer::Boxes(vec![det(30.0, 20.0, 0)]))
            .unwrap();
        let r = rules(1, true, 0.0);
        // The same picture three times, then the square moves.
        for n in 0..3 {
            h.stage
                .offer(TestFrame::new(n, Some((20, 20))), at(0, false), &r)
                .unwrap();
        }
        h.stage
            .offer(TestFrame::new(3, Some((30, 20))), at(0, false), &r)
            .unwrap();
        let out = all_out(&mut h.stage);
        let skips: Vec<Option<SkipReason>> = out.iter().map(|l| l.skip).collect();
        assert_eq!(
            skips,
            [
                None,
                Some(SkipReason::NoMotion),
                Some(SkipReason::NoMotion),
                None
            ]
        );
        // Not moved by a velocity guess while nothing moves.
        assert_eq!(out[1].objects, out[0].objects);
        assert_eq!(out[2].objects, out[0].objects);
        assert_eq!(*h.calls.lock().unwrap(), 2);
    }

    #[test]
    fn late_frames_are_skipped_with_the_tracked_boxes() {
        let mut h = harness(1, None);
        h.answers
            .send(Answer::Boxes(vec![det(8.0, 8.0, 0)]))
            .unwrap();
        let r = rules(1, false, 0.0);
        h.stage
            .offer(TestFrame::new(0, None), at(0, true), &r)
            .unwrap();
        let late = FrameTime {
            late: true,
            ..at(40, true)
        };
        h.stage.offer(TestFrame::new(1, None), late, &r).unwrap();
        let out = all_out(&mut h.stage);
        assert_eq!(out[1].skip, Some(SkipReason::Late));
        assert_eq!(out[1].objects.len(), 1);
        assert_eq!(out[1].objects[0].1, out[0].objects[0].1);
    }

    #[test]
    fn a_busy_engine_passes_a_live_frame_and_the_next_one_is_due_again() {
        let mut h = harness(1, None);
        h.answers
            .send(Answer::Boxes(vec![det(8.0, 8.0, 0)]))
            .unwrap();
        h.answers.send(Answer::Busy).unwrap();
        h.answers
            .send(Answer::Boxes(vec![det(9.0, 8.0, 0)]))
            .unwrap();
        let r = rules(1, false, 5.0);
        // A live frame leaves as soon as it is inferred: no drain needed.
        h.stage
            .offer(TestFrame::new(0, None), at(0, true), &r)
            .unwrap();
        assert!(h.stage.next_out().is_some_and(|l| l.skip.is_none()));
        h.stage
            .offer(TestFrame::new(1, None), at(200, true), &r)
            .unwrap();
        let busy = h.stage.next_out().unwrap();
        assert_eq!(busy.skip, Some(SkipReason::Busy));
        // The budget counts from the last inference that ran (0 ms), so 240 ms is due.
        h.stage
            .offer(TestFrame::new(2, None), at(240, true), &r)
            .unwrap();
        assert!(h.stage.next_out().is_some_and(|l| l.skip.is_none()));
    }

    #[test]
    fn file_frames_are_inferred_on_every_lane_and_leave_in_order() {
        let mut h = harness(2, None);
        for _ in 0..6 {
            h.answers.send(Answer::Square).unwrap();
        }
        for n in 0..6 {
            h.stage
                .offer(
                    TestFrame::new(n, Some((4 * n, 8))),
                    at(n as u64 * 40, false),
                    &rules(1, false, 0.0),
                )
                .unwrap();
            // Two inferences in flight and one more waiting at the workers: nothing left yet.
            if n < 3 {
                assert!(h.stage.next_out().is_none(), "frame {n}");
            }
        }
        let out = all_out(&mut h.stage);
        assert_eq!(
            out.iter().map(|l| l.frame.n).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        for l in &out {
            let x = l.objects[0].0.bbox.x1 * SIDE as f32;
            assert!(
                (x - 4.0 * l.frame.n as f32).abs() < 1e-3,
                "frame {} at {x}",
                l.frame.n
            );
        }
    }

    #[test]
    fn object_class_filter_keeps_only_the_chosen_classes() {
        let mut h = harness(1, Some(vec![false, true]));
        h.answers
            .send(Answer::Boxes(vec![
                det(4.0, 4.0, 0),
                det(30.0, 30.0, 1),
                det(40.0, 4.0, 7),
            ]))
            .unwrap();
        h.stage
            .offer(TestFrame::new(0, None), at(0, false), &rules(1, false, 0.0))
            .unwrap();
        let out = all_out(&mut h.stage);
        let classes: Vec<usize> = out[0].objects.iter().map(|(d, _)| d.class_id).collect();
        assert_eq!(classes, [1]);
    }

    #[test]
    fn a_model_failure_is_an_error_not_a_frame() {
        let mut h = harness(1, None);
        h.answers.send(Answer::Fail).unwrap();
        h.stage
            .offer(TestFrame::new(0, None), at(0, false), &rules(1, false, 0.0))
            .unwrap();
        assert!(matches!(
            h.stage.drain(),
            Err(StageError::Model(ModelError::Run(_)))
        ));
    }

    #[test]
    fn a_flush_forgets_held_frames_and_the_budget() {
        let mut h = harness(2, None);
        for _ in 0..3 {
            h.answers.send(Answer::Boxes(vec![])).unwrap();
        }
        let r = rules(1, false, 1.0);
        h.stage
            .offer(TestFrame::new(0, None), at(5000, false), &r)
            .unwrap();
        h.stage.flush();
        assert!(h.stage.drain().unwrap().is_empty());
        // After a seek back, time restarts: frame at 0 ms is due although before the last one.
        h.stage
            .offer(TestFrame::new(1, None), at(100, false), &r)
            .unwrap();
        h.stage
            .offer(TestFrame::new(2, None), at(200, false), &r)
            .unwrap();
        let skips: Vec<Option<SkipReason>> = all_out(&mut h.stage).iter().map(|l| l.skip).collect();
        assert_eq!(skips, [None, Some(SkipReason::Budget)]);
    }
}
