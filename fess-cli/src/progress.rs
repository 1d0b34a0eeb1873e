//! `fess detect`'s progress on stderr: on a terminal a bar (position in the file, fps, ETA);
//! otherwise a plain line a second, so logs and pipes get no control characters.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where a run is.
pub struct Snapshot {
    /// Position and duration of the input, as the pipeline reports them.
    pub position: Option<gst::ClockTime>,
    pub duration: Option<gst::ClockTime>,
    pub frames: u64,
    /// Objects on the latest frame, as `class=count …` (or `none`).
    pub objects: String,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Frames and time of the last fps measurement.
    measured: (u64, Instant),
    fps: f64,
}

/// fps is measured (and a plain line printed) this often.
const EVERY: Duration = Duration::from_secs(1);

impl Progress {
    /// A bar when stderr is a terminal, else plain lines; times count from `started`.
    pub fn on_stderr(started: Instant) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(style(false))
        });
        Progress {
            bar,
            started,
            measured: (0, Instant::now()),
            fps: 0.0,
        }
    }

    /// Called a few times a second: redraws the bar, or prints a line once a second.
    pub fn update(&mut self, now: &Snapshot) {
        let since = self.measured.1.elapsed();
        let line_due = since >= EVERY;
        if line_due {
            self.fps = now.frames.saturating_sub(self.measured.0) as f64 / since.as_secs_f64();
            self.measured = (now.frames, Instant::now());
        }
        let at = match (now.position, now.duration) {
            (Some(p), Some(d)) => format!("{}/{} s", seconds(p), seconds(d)),
            (Some(p), None) => format!("{} s", seconds(p)),
            _ => String::new(),
        };
        match &self.bar {
            Some(bar) => {
                let length = now.duration.map(gst::ClockTime::mseconds);
                if bar.length() != length {
                    bar.set_style(style(length.is_some()));
                    match length {
                        Some(l) => bar.set_length(l),
                        None => bar.unset_length(),
                    }
                }
                bar.set_position(now.position.map_or(0, gst::ClockTime::mseconds));
                bar.set_message(format!(
                    "{at}  frames {}  {:.1} fps  objects {}",
                    now.frames, self.fps, now.objects
                ));
            }
            None if line_due => {
                let at = if at.is_empty() {
                    at
                } else {
                    format!("  at {at}")
                };
                eprintln!(
                    "[{:>4.0}s] frames {:>5}  fps {:>5.1}  objects {}{at}",
                    self.started.elapsed().as_secs_f64(),
                    now.frames,
                    self.fps,
                    now.objects
                );
            }
            None => {}
        }
    }

    /// Prints `text` on stderr without breaking the bar.
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Takes the bar away before the summary.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn seconds(t: gst::ClockTime) -> String {
    format!("{:.1}", t.nseconds() as f64 / 1e9)
}

/// With a known duration a bar and an ETA; without, a spinner.
fn style(with_length: bool) -> ProgressStyle {
    let template = if with_length {
        "{spinner} [{elapsed_precise}] [{bar:30}] {msg}  ETA {eta}"
    } else {
        "{spinner} [{elapsed_precise}] {msg}"
    };
    ProgressStyle::with_template(template).expect("a valid template")
}
