#!/usr/bin/env bash
# Meson's cargo wrapper (see meson.build): builds the GStreamer plugin, the fess command and the
# fess-exporter sidecar with cargo and copies them next to the other build outputs, where meson
# installs them from.
#
#   cargo-build.sh CARGO SOURCE_ROOT CARGO_TARGET_DIR OUTDIR
#
#   CARGO             cargo to run (found by meson setup; "cargo" to use PATH)
#   SOURCE_ROOT       the checkout (holds the workspace Cargo.toml and Cargo.lock)
#   CARGO_TARGET_DIR  cargo's target dir: <builddir>/cargo-target, or -Dcargo_target_dir (e.g.
#                     the workspace's target/, to reuse its release build: same profile, same
#                     --locked). Selecting three packages resolves a few dependency features
#                     differently from `cargo build --release --workspace` (serde_json without
#                     float_roundtrip, which fess-testkit's jsonschema turns on), so the first
#                     build into a workspace's target/ rebuilds about ten crates (both variants
#                     are kept, later builds take a second);
#                     FESS_CARGO_ARGS=--workspace builds the workspace's selection instead.
#   OUTDIR            where libgstfess.so, fess and fess-exporter are copied (the meson build dir)
#
# cargo is incremental: meson runs this on every build (build_always_stale) and a no-op build
# takes about a second. CARGO_HOME / RUSTUP_HOME come from meson (captured at setup), so
# `sudo meson install` still finds the toolchain of the user who configured the build.
# Extra cargo arguments: FESS_CARGO_ARGS (e.g. "--offline", or "--workspace", which cargo takes
# over the -p list), read at build time.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 CARGO SOURCE_ROOT CARGO_TARGET_DIR OUTDIR" >&2; exit 2; }
cargo="$1" src="$2" target="$3" out="$4"

if [ -n "${CARGO_HOME:-}" ] && [ -d "$CARGO_HOME/bin" ]; then
    # rustup's proxies and cargo subcommands live there.
    export PATH="$CARGO_HOME/bin:$PATH"
fi
if ! command -v "$cargo" >/dev/null 2>&1; then
    echo "cargo-build.sh: cannot run '$cargo': install Rust (https://rustup.rs) or put cargo on PATH, then re-run meson setup --reconfigure" >&2
    exit 1
fi

# shellcheck disable=SC2086 # FESS_CARGO_ARGS is a list of words
"$cargo" build --release --locked \
    --manifest-path "$src/Cargo.toml" \
    --target-dir "$target" \
    -p gst-plugin-fess -p fess-cli -p fess-exporter ${FESS_CARGO_ARGS:-}

# Copy, then rename: an install or test never sees a half-written file.
for f in libgstfess.so fess fess-exporter; do
    [ -f "$target/release/$f" ] || { echo "cargo-build.sh: cargo did not produce $target/release/$f" >&2; exit 1; }
    cp -f "$target/release/$f" "$out/.$f.tmp"
    mv -f "$out/.$f.tmp" "$out/$f"
done
