#!/usr/bin/env bash
# The main job on the bundled sample: sets up what is missing, builds, then runs
# `filesrc ! decodebin ! fessdetect` over vtest.avi, printing per-second progress and writing an
# annotated contact sheet.
#
#   scripts/demo.sh [fess detect options, e.g. --set threshold=0.5 --set object-class=person]
set -euo pipefail
FESS_LOG_TAG=demo
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FESS_ROOT"

"$FESS_SCRIPTS/setup.sh"
fess_log "building (cargo build --release)"
cargo build --release --workspace --locked

export GST_PLUGIN_PATH="$FESS_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
out="$FESS_ROOT/out/contact-sheet.png"
fess_log "running fessdetect on $FESS_MEDIA/vtest.avi"
"$FESS_ROOT/target/release/fess" detect --input "$FESS_MEDIA/vtest.avi" --sheet "$out" "$@"
fess_log "open $out to see what was found"
