//! `fess-exporter`: see `fess-exporter --help` and the library documentation.

use clap::Parser;

fn main() {
    fess_exporter::load_dotenv();
    let args = fess_exporter::cli::Args::parse();
    if let Err(e) = fess_exporter::run(args) {
        eprintln!("fess-exporter: error: {e:#}");
        std::process::exit(1);
    }
}
