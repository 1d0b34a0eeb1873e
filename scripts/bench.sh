#!/usr/bin/env bash
# FESS benchmark: fessdetect pipeline fps vs. the bare ONNX Runtime session, and the motion
# gate's share of inferred frames (gst-plugin-fess/benches/detect_fps.rs).
#
#   scripts/bench.sh                         # N = 200 frames of vtest.avi
#   FESS_BENCH_FRAMES=100 scripts/bench.sh   # fewer frames
#
# Environment (inherited by the bench):
#   FESS_BENCH_FRAMES   frames per measurement (default 200)
#   FESS_BENCH_THREADS  ONNX Runtime intra-op threads for both sides (default 0 = ORT's default)
#   FESS_BENCH_ROUNDS   (b),(a) rounds (default 2)
#   FESS_CACHE          model/media cache (default ~/.cache/fess), see scripts/lib.sh
# Run it on an otherwise idle machine: the fps figures compare two timed runs.
set -euo pipefail

FESS_LOG_TAG=bench
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# Idempotent; takes seconds once the cache is complete.
"$FESS_SCRIPTS/setup.sh" >&2
fess_require_setup

export FESS_BENCH_FRAMES="${FESS_BENCH_FRAMES:-200}"
fess_log "cargo bench -p gst-plugin-fess --bench detect_fps (FESS_BENCH_FRAMES=$FESS_BENCH_FRAMES)"
cd "$FESS_ROOT"
exec cargo bench -p gst-plugin-fess --bench detect_fps "$@"
