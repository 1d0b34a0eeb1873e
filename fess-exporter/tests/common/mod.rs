//! What the exporter tests share: the folder of the built plugin.

use std::path::Path;

/// The folder of the built plugin: next to the exporter binary (target/release), where
/// `cargo build --release --workspace` (scripts/test.sh) puts libgstfess.so.
pub fn plugin_dir() -> &'static Path {
    let dir = Path::new(env!("CARGO_BIN_EXE_fess-exporter"))
        .parent()
        .unwrap();
    assert!(
        dir.join("libgstfess.so").is_file(),
        "libgstfess.so is not built in {}: cargo build --release --workspace first",
        dir.display()
    );
    dir
}
