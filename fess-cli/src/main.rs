//! `fess`: run FESS on a video and see what it found.

/// `println!` for the commands' results: a reader that went away (`fess gallery list | head`)
/// ends the command quietly, as it ends any Unix tool, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

mod detect;
mod elements;
mod events;
mod gallery;
mod image;
mod progress;
mod recognize;
mod redis_args;
mod run;
mod sheet;

use clap::{Parser, Subcommand};

/// How `fess` ends, for scripts (shown under every command's `--help`).
macro_rules! exit_status {
    () => {
        "Exit status: 0 when the command did its job; 1 when it failed while running (the \
         reason is printed on stderr); 2 for bad usage (an unknown command or flag, a missing \
         or invalid argument)."
    };
}
const EXIT_STATUS: &str = exit_status!();

/// What Ctrl-C does to `fess detect`, under its `--help`.
const DETECT_AFTER_HELP: &str = concat!(
    "Ctrl-C or SIGTERM ends the run early but cleanly: the pipeline is drained (end of \
     stream), so --video is a playable MP4 and the summary and contact sheet cover the frames \
     analysed; the exit status is then 0. A second signal, or a pipeline not drained within \
     --stop-timeout, stops at once (exit status 1; --video may then be unplayable).\n\n",
    exit_status!()
);

/// The service's signals and its file, under `fess run --help`.
const RUN_AFTER_HELP: &str = concat!(
    "The cameras file: a [defaults] table and one [[camera]] table per camera, with `id`, \
     `source` (a URI: rtsp://…, file:///…), `faces` (true: fessface in the chain), \
     `stall-timeout` (seconds without a frame before a live camera is restarted; default 10), \
     `retry-delay` and `max-retry-delay` (the first and the longest wait before a failed camera \
     is tried again; default 1 and 60 s, doubling in between) \
     and any property of fessdetect, fessface or fesskafkasink (see gst-inspect-1.0), set on \
     each element that has it. ${NAME} in a value is the environment variable NAME.\n\n\
     SIGHUP, or a change of the file, reloads it: added cameras start, removed ones stop with \
     their events flushed, changed ones restart, the others are not touched; a file that does \
     not load is refused and the cameras keep running. SIGTERM or Ctrl-C ends every camera \
     with its events flushed or spooled (exit status 0); a second signal stops at once. When \
     every camera has ended by itself (file sources played to their end), the run ends with \
     exit status 0.\n\n",
    exit_status!()
);

#[derive(Parser)]
#[command(
    name = "fess",
    version,
    about = "FESS video analytics: run pipelines and inspect their results",
    after_help = EXIT_STATUS
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run `filesrc ! decodebin ! fessdetect` on a video file, show progress on stderr (a bar
    /// with position, fps and ETA on a terminal, else a line a second: frames, fps, objects by
    /// class) and write an annotated PNG contact sheet.
    #[command(after_help = DETECT_AFTER_HELP)]
    Detect(detect::DetectArgs),
    /// Read FESS events back from Kafka: every event as `topic json`, or a summary.
    #[command(after_help = EXIT_STATUS)]
    Events(events::EventsArgs),
    /// Manage the gallery of known persons in Redis (shared by every fessface).
    #[command(after_help = EXIT_STATUS)]
    Gallery(gallery::GalleryArgs),
    /// Recognise the faces in still images against the gallery in Redis, as fessface would:
    /// name, authorised, similarity and box per face. Exit status 1 when any image cannot be
    /// read (the others are still reported).
    #[command(after_help = EXIT_STATUS)]
    Recognize(recognize::RecognizeArgs),
    /// Run every camera of a cameras file, each in its own pipeline that is restarted alone
    /// (with backoff) when its source fails, ends or stalls; SIGHUP (or a change of the file)
    /// reloads the file, touching only the cameras that changed.
    #[command(after_help = RUN_AFTER_HELP)]
    Run(run::RunArgs),
}

/// Writes one line on standard output (see `outln!`): a closed pipe ends the process with status
/// 0, any other write error (a full disk) with status 1.
fn write_stdout(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("fess: error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Events(args) => events::run(args),
        Command::Gallery(args) => gallery::run(args),
        Command::Recognize(args) => recognize::run(args),
        Command::Run(args) => run::run(args),
    };
    if let Err(e) = result {
        eprintln!("fess: error: {e:#}");
        let usage = e.downcast_ref::<elements::UsageError>().is_some();
        std::process::exit(if usage { 2 } else { 1 });
    }
}
