#!/usr/bin/env bash
# FESS benchmarks, each printing figures measured side by side in one run:
#   detect_fps  fessdetect pipeline fps vs. the bare ONNX Runtime session, and the motion gate's
#               share of inferred frames (gst-plugin-fess/benches/detect_fps.rs);
#   kafka_sink  events/s the publisher sustains into a local broker, and fesskafkasink's
#               render() time per buffer with the broker up and down (benches/kafka_sink.rs);
#   face_stage  fessface per frame with and without the recognition cache on the carphone clip,
#               the share of frames embedded, and detection / alignment / embedding cost per face
#               (benches/face_stage.rs; starts its own redis-server);
#   cameras     1, 2, 4, 8 cameras in one process on the shared engine, YOLOX-Nano and CenterNet:
#               aggregate inferences/s relative to one camera, frames passed busy, peak RSS per
#               added camera, threads (benches/cameras.rs);
#   run_cameras 1, 4, 8, 16 RTSP cameras (640x360, 25 fps) through `fess run` against one
#               gst-launch-1.0 process per camera: CPU share, RSS, inferences/s per camera,
#               events per camera, event latency p50/p99, every event in Kafka
#               (fess-cli/benches/run_cameras.rs);
#   exporter    fess-exporter's /metrics render time with 100 cameras x 80 classes, datagrams
#               ingested per second, RSS (fess-exporter/benches/exporter.rs).
#
#   scripts/bench.sh                         # N = 200 frames of vtest.avi
#   FESS_BENCH_FRAMES=100 scripts/bench.sh   # fewer frames
#
# Environment (inherited by the bench):
#   FESS_BENCH_FRAMES   frames per measurement (default 200)
#   FESS_BENCH_THREADS  ONNX Runtime intra-op threads for both sides (default 0 = ORT's default)
#   FESS_BENCH_ROUNDS   (b),(a) rounds (default 2)
#   FESS_BENCH_EVENTS   events for the publisher's throughput (default 200000)
#   FESS_BENCH_BUFFERS  buffers for the render() timing (default 20000)
#   FESS_CACHE          model/media cache (default ~/.cache/fess), see scripts/lib.sh
# Run it on an otherwise idle machine: the fps figures compare two timed runs.
set -euo pipefail

FESS_LOG_TAG=bench
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# Idempotent; takes seconds once the cache is complete.
"$FESS_SCRIPTS/setup.sh" --bench >&2
fess_require_setup

export FESS_BENCH_FRAMES="${FESS_BENCH_FRAMES:-200}"
cd "$FESS_ROOT"
fess_log "cargo bench -p gst-plugin-fess --bench detect_fps (FESS_BENCH_FRAMES=$FESS_BENCH_FRAMES)"
cargo bench -p gst-plugin-fess --bench detect_fps "$@"
fess_log "cargo bench -p gst-plugin-fess --bench kafka_sink"
cargo bench -p gst-plugin-fess --bench kafka_sink "$@"
fess_log "cargo bench -p gst-plugin-fess --bench face_stage"
cargo bench -p gst-plugin-fess --bench face_stage "$@"
fess_log "cargo bench -p gst-plugin-fess --bench cameras"
cargo bench -p gst-plugin-fess --bench cameras "$@"
fess_log "cargo bench -p fess-cli --bench run_cameras"
cargo bench -p fess-cli --bench run_cameras "$@"
fess_log "cargo bench -p fess-exporter"
cargo bench -p fess-exporter "$@"
