//! `fess`: run FESS on a video and see what it found.

mod detect;
mod events;
mod gallery;
mod sheet;

use clap::{Parser, Subcommand};

/// How `fess` ends, for scripts (shown under every command's `--help`).
const EXIT_STATUS: &str = "Exit status: 0 when the command did its job; 1 when it failed while \
running (the reason is printed on stderr); 2 for bad usage (an unknown command or flag, a \
missing or invalid argument).";

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
    /// Run `filesrc ! decodebin ! fessdetect` on a video file, print per-second progress
    /// (frames, fps, objects by class) and write an annotated PNG contact sheet.
    #[command(after_help = EXIT_STATUS)]
    Detect(detect::DetectArgs),
    /// Read FESS events back from Kafka: every event as `topic json`, or a summary.
    #[command(after_help = EXIT_STATUS)]
    Events(events::EventsArgs),
    /// Manage the gallery of known persons in Redis (shared by every fessface).
    #[command(after_help = EXIT_STATUS)]
    Gallery(gallery::GalleryArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Events(args) => events::run(args),
        Command::Gallery(args) => gallery::run(args),
    };
    if let Err(e) = result {
        eprintln!("fess: error: {e:#}");
        std::process::exit(1);
    }
}
