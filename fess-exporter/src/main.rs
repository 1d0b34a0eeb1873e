//! fess-exporter: being built (issue 5).
use clap::Parser;

/// FESS exporter: element stats to Prometheus metrics, and health.
#[derive(Parser)]
#[command(version)]
struct Args {}

fn main() {
    let _ = Args::parse();
}
