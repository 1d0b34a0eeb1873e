//! `fess`: run FESS on a video and see what it found.

mod detect;
mod events;
mod gallery;
mod sheet;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fess",
    version,
    about = "FESS video analytics: run pipelines and inspect their results"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run `filesrc ! decodebin ! fessdetect` on a video file, print per-second progress
    /// (frames, fps, objects by class) and write an annotated PNG contact sheet.
    Detect(detect::DetectArgs),
    /// Read FESS events back from Kafka: every event as `topic json`, or a summary.
    Events(events::EventsArgs),
    /// Manage the gallery of known persons in Redis (shared by every fessface).
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
