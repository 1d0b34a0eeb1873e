//! One camera of `fess run`, in a thread of its own: it plays the camera's pipeline, watches its
//! bus and its frames, and on an error, an end of a live stream or a stall takes that pipeline
//! (and only it) down and up again after a backoff. Nothing here waits on another camera.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use fess::observability::stats::{CameraState, CameraStatus, Metric, StatsReporter};
use fess::sync::MutexExt;
use gst::prelude::*;

use super::backoff::Backoff;
use super::config::{CameraSpec, Config};
use super::pipeline::{self, from_epoch, shown, CameraPipeline};
use crate::elements::bus_text;

/// How often the camera's thread looks at its bus, its frames and its commands.
const POLL: Duration = Duration::from_millis(100);
/// How long a pipeline may take to stop beyond its sink's flush: then it is stuck (GStreamer
/// 1.22's rtspsrc was seen to deadlock going to NULL right after the server ended the stream).
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// Why a camera's pipeline was restarted: the `reason` of `fess_camera_restarts_total`.
pub const REASONS: [&str; 3] = ["error", "eos", "stall"];

/// What the service tells a camera's thread.
enum Command {
    /// Finish: end of stream to every element (events flushed or spooled), within the time.
    Stop(Duration),
}

/// A camera as the rest of the service sees it.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: CameraState,
    pub since: SystemTime,
    pub attempt: u32,
    pub next_try: Option<SystemTime>,
    pub last_error: Option<String>,
    pub restarts: BTreeMap<&'static str, u64>,
    /// When a frame last reached the analysis, or when the pipeline (re)started while none has.
    pub last_frame: Instant,
}

impl Status {
    fn new() -> Status {
        Status {
            state: CameraState::Starting,
            since: SystemTime::now(),
            attempt: 0,
            next_try: None,
            last_error: None,
            restarts: REASONS.iter().map(|r| (*r, 0)).collect(),
            last_frame: Instant::now(),
        }
    }

    fn enter(&mut self, state: CameraState) {
        if self.state != state {
            self.state = state;
            self.since = SystemTime::now();
        }
    }

    /// The stats protocol's view of it.
    pub fn report(&self) -> CameraStatus {
        let ms = fess::observability::stats::unix_ms;
        CameraStatus {
            state: self.state,
            since_ms: ms(self.since),
            attempt: self.attempt,
            next_try_ms: self.next_try.map(ms),
            last_error: self.last_error.clone(),
        }
    }

    /// `fess_camera_*` for camera `id`.
    pub fn metrics(&self, id: &str) -> Vec<Metric> {
        let up = if self.state == CameraState::Running {
            1.0
        } else {
            0.0
        };
        let mut m = vec![
            Metric::gauge("fess_camera_up", &[("camera_id", id)], up),
            Metric::gauge(
                "fess_camera_last_frame_age_seconds",
                &[("camera_id", id)],
                self.last_frame.elapsed().as_secs_f64(),
            ),
        ];
        for (reason, n) in &self.restarts {
            m.push(Metric::counter(
                "fess_camera_restarts_total",
                &[("camera_id", id), ("reason", reason)],
                *n,
            ));
        }
        m
    }
}

/// A running camera: its spec, its thread and what it reports.
pub struct Camera {
    pub spec: CameraSpec,
    pub status: Arc<Mutex<Status>>,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    reporter: StatsReporter,
}

impl Camera {
    /// Starts camera `spec` of `config` with its built pipeline.
    pub fn start(config: &Config, spec: CameraSpec, built: CameraPipeline) -> Camera {
        let status = Arc::new(Mutex::new(Status::new()));
        let (commands, inbox) = mpsc::channel();
        let thread = {
            let status = status.clone();
            let (config, spec) = (config.clone(), spec.clone());
            std::thread::Builder::new()
                .name(format!("camera {}", spec.id))
                .spawn(move || Supervisor::new(config, spec, built, status, inbox).run())
                .expect("a thread for the camera")
        };
        let reporter = StatsReporter::new("camera", &format!("fess-run:{}", spec.id), &spec.id);
        Camera {
            spec,
            status,
            commands,
            thread: Some(thread),
            reporter,
        }
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Sends the camera's stats when due (or now when `now`).
    pub fn report(&mut self, now: bool) {
        if now || self.reporter.due() {
            let status = self.status();
            self.reporter.set_camera_status(Some(status.report()));
            self.reporter.send(status.metrics(&self.spec.id));
        }
    }

    /// Asks the camera to finish within `within` (it stops at once after that).
    pub fn stop(&self, within: Duration) {
        let _ = self.commands.send(Command::Stop(within));
    }

    /// Whether its thread has ended.
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for its thread (after [`Camera::stop`]).
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.report(true);
    }
}

/// Poisoned status locks are taken as they are: a status is plain data, always whole.
fn lock(status: &Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    status.locked()
}

/// How one run of the pipeline ended.
enum Ended {
    /// Asked to stop, or a file played to its end: the camera is done.
    Done,
    /// Failed: restart after a backoff.
    Failed { reason: &'static str, why: String },
}

/// The camera's thread.
struct Supervisor {
    /// The file the camera came from, to build its pipeline anew.
    config: Config,
    spec: CameraSpec,
    built: CameraPipeline,
    status: Arc<Mutex<Status>>,
    inbox: Receiver<Command>,
    backoff: Backoff,
}

impl Supervisor {
    fn new(
        config: Config,
        spec: CameraSpec,
        built: CameraPipeline,
        status: Arc<Mutex<Status>>,
        inbox: Receiver<Command>,
    ) -> Supervisor {
        let seed = fess::observability::stats::unix_ms(SystemTime::now())
            ^ spec
                .id
                .bytes()
                .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        Supervisor {
            backoff: Backoff::new(spec.retry_delay, spec.max_retry_delay, seed),
            config,
            spec,
            built,
            status,
            inbox,
        }
    }

    fn log(&self, what: &str) {
        eprintln!("fess run: camera {}: {what}", self.spec.id);
    }

    fn run(mut self) {
        loop {
            let ended = self.play();
            let stopped = self.take_down();
            let (reason, why) = match ended {
                Ended::Done => break,
                Ended::Failed { reason, why } => (reason, why),
            };
            if !stopped && !self.rebuild() {
                return;
            }
            let delay = self.backoff.failed();
            {
                let mut s = lock(&self.status);
                *s.restarts.entry(reason).or_default() += 1;
                s.enter(CameraState::Reconnecting);
                s.attempt = self.backoff.attempt();
                s.next_try = Some(SystemTime::now() + delay);
                s.last_error = Some(why.clone());
            }
            self.log(&format!(
                "{why}; trying again in {:.1} s (attempt {})",
                delay.as_secs_f64(),
                self.backoff.attempt() + 1
            ));
            match self.inbox.recv_timeout(delay) {
                Ok(Command::Stop(_)) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        let mut s = lock(&self.status);
        s.enter(CameraState::Stopped);
        s.next_try = None;
        drop(s);
        self.log("stopped");
    }

    /// Takes the pipeline to NULL, which closes the sink (its events flushed or spooled), in a
    /// thread of its own: false when it did not get there in time. Then the sink alone is
    /// stopped, so its events reach the spool and the new pipeline can open it.
    fn take_down(&self) -> bool {
        let wait = self.built.flush_timeout + STOP_MARGIN;
        let pipeline = self.built.pipeline.clone();
        let stop = move || {
            let _ = pipeline.set_state(gst::State::Null);
        };
        if self.to_null(stop, wait) {
            return true;
        }
        self.log(&format!(
            "its pipeline did not stop within {} s (an element is stuck): left behind, a new \
             one takes its place",
            wait.as_secs()
        ));
        let sink = self.built.sink.clone();
        let stopped = self.to_null(
            move || {
                sink.set_locked_state(true);
                let _ = sink.set_state(gst::State::Null);
            },
            wait,
        );
        if !stopped {
            self.log("its sink did not stop either: its spool stays locked until it does");
        }
        false
    }

    /// Runs `stop` in a thread of its own; whether it ended within `wait`.
    fn to_null(&self, stop: impl FnOnce() + Send + 'static, wait: Duration) -> bool {
        let (done, finished) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("stop {}", self.spec.id))
            .spawn(move || {
                stop();
                let _ = done.send(());
            });
        spawned.is_ok() && finished.recv_timeout(wait).is_ok()
    }

    /// Builds the camera's pipeline anew; false (the camera failed) when it cannot be.
    fn rebuild(&mut self) -> bool {
        match pipeline::build(&self.config, &self.spec) {
            Ok(built) => {
                self.built = built;
                true
            }
            Err(e) => {
                let mut s = lock(&self.status);
                s.enter(CameraState::Failed);
                s.last_error = Some(shown(&e.to_string(), &self.spec));
                drop(s);
                self.log(&format!("cannot build its pipeline again: {e}"));
                false
            }
        }
    }

    /// Plays the pipeline until it fails, a file ends, or the camera is asked to stop.
    fn play(&mut self) -> Ended {
        let started = Instant::now();
        self.built.last_frame.store(0, Ordering::Relaxed);
        {
            let mut s = lock(&self.status);
            // A camera tried again is still reconnecting until its frames flow.
            if self.backoff.attempt() == 0 {
                s.enter(CameraState::Starting);
            }
            s.next_try = None;
            s.last_frame = started;
        }
        let pipeline = self.built.pipeline.clone();
        let bus = pipeline.bus().expect("a pipeline has a bus");
        if pipeline.set_state(gst::State::Playing).is_err() {
            let why = bus
                .pop_filtered(&[gst::MessageType::Error])
                .map(|m| self.message_text(&m))
                .unwrap_or_else(|| "the pipeline cannot start".into());
            return Ended::Failed {
                reason: "error",
                why,
            };
        }
        let mut stopping: Option<Instant> = None;
        loop {
            if let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64))
            {
                match msg.view() {
                    gst::MessageView::Error(_) => {
                        if stopping.is_some() {
                            return Ended::Done;
                        }
                        return Ended::Failed {
                            reason: "error",
                            why: self.message_text(&msg),
                        };
                    }
                    gst::MessageView::Eos(_) if stopping.is_some() || !self.built.live => {
                        return Ended::Done
                    }
                    gst::MessageView::Eos(_) => {
                        return Ended::Failed {
                            reason: "eos",
                            why: "the stream ended".into(),
                        }
                    }
                    gst::MessageView::Warning(_) => self.log(&self.message_text(&msg)),
                    _ => {}
                }
            }
            if let Some(deadline) = stopping {
                if Instant::now() >= deadline {
                    self.log("did not finish in time: stopped at once");
                    return Ended::Done;
                }
            }
            match self.inbox.try_recv() {
                Ok(Command::Stop(within)) if stopping.is_none() => {
                    if lock(&self.status).state != CameraState::Running {
                        return Ended::Done;
                    }
                    pipeline.send_event(gst::event::Eos::new());
                    stopping = Some(Instant::now() + within);
                }
                Err(mpsc::TryRecvError::Disconnected) => return Ended::Done,
                _ => {}
            }
            if let Some(stall) = self.watch_frames(started) {
                if stopping.is_none() {
                    return stall;
                }
            }
        }
    }

    /// Notes the newest frame; a live camera with none for its stall timeout has stalled.
    fn watch_frames(&mut self, started: Instant) -> Option<Ended> {
        let last = self.built.last_frame.load(Ordering::Relaxed);
        let mut s = lock(&self.status);
        if last != 0 {
            s.last_frame = from_epoch(last);
            if s.state != CameraState::Running {
                s.enter(CameraState::Running);
                s.attempt = 0;
                s.next_try = None;
                drop(s);
                self.log("running");
                s = lock(&self.status);
            }
            self.backoff.healthy_for(started.elapsed());
        }
        let timeout = self.built.stall_timeout?;
        let idle = s.last_frame.elapsed();
        (idle >= timeout).then(|| Ended::Failed {
            reason: "stall",
            why: format!(
                "no frame reached the analysis for {:.0} s (stall-timeout)",
                idle.as_secs_f64()
            ),
        })
    }

    /// A bus message's text, credentials masked.
    fn message_text(&self, msg: &gst::Message) -> String {
        let text = match msg.view() {
            gst::MessageView::Error(e) => bus_text(&e.error(), e.debug(), msg.src()),
            gst::MessageView::Warning(w) => {
                format!("warning: {}", bus_text(&w.error(), w.debug(), msg.src()))
            }
            _ => String::new(),
        };
        shown(&text, &self.spec)
    }
}
