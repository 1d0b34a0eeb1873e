#!/usr/bin/env bash
# The whole system on the bundled sample, everything local and on loopback:
#   setup and build (only what is missing) → a Kafka-protocol broker (tansu), Redis and
#   fess-exporter → a face enrolled in the gallery → three cameras through
#   fessdetect ! fessface ! fesskafkasink, run by `fess run config/demo-cameras.toml`:
#     cam_vtest  vtest.avi, pedestrians (alert rules of config/alert-rules.example.toml;
#                `fess detect` writes its annotated MP4 and contact sheet to out/)
#     cam_car    carphone_pristine.mp4, a face nobody enrolled: unknown
#     cam_door   a short clip of the enrolled (unauthorised) astronaut: a CRITICAL alert
#   → a summary: events per topic and one of each from Kafka, the metrics that matter from
#   /metrics, and /health. Everything it started is stopped on exit.
#
#   scripts/demo.sh            the whole clips
#   scripts/demo.sh --short    vtest.avi replaced by the carphone clip (CI runs this)
#   Further arguments go to `fess detect` (e.g. --set threshold=0.5).
set -euo pipefail
FESS_LOG_TAG=demo
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FESS_ROOT"

short=0
if [ "${1:-}" = "--short" ]; then
    short=1
    shift
fi
out="$FESS_ROOT/out"
mkdir -p "$out"

"$FESS_SCRIPTS/setup.sh"
fess_log "building (cargo build --release)"
cargo build --release --workspace --locked

export GST_PLUGIN_PATH="$FESS_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
bin="$FESS_ROOT/target/release"
export FESS_STATS_SOCKET="$out/stats.sock"

pids=()
cleanup() {
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

fess_start_broker "$out/tansu.log"
pids+=("$FESS_BROKER_PID")
fess_start_redis "$out/redis.log"
pids+=("$FESS_REDIS_PID")
export KAFKA_BOOTSTRAP_SERVERS="$FESS_BROKER" REDIS_URL="$FESS_REDIS_URL"
fess_log "Kafka-protocol broker (tansu) on $FESS_BROKER, Redis on $FESS_REDIS_URL"

# The demo's cameras are files that end one after the other: an ended one is not a fault here
# (--min-cameras 0, --stale-after and --forget-after longer than the demo).
fess_start_exporter "$out/exporter.log" --min-cameras 0 --stale-after 600 --forget-after 600
pids+=("$FESS_EXPORTER_PID")
exporter="$FESS_EXPORTER"
fess_log "fess-exporter on http://$exporter (stats socket $FESS_STATS_SOCKET)"

fess_log "enrolling the astronaut as an unauthorised person"
"$bin/fess" gallery enroll --name "Eileen Collins" --unauthorized "$FESS_MEDIA/astronaut.png"

# The door camera's clip: the portrait for three seconds.
door="$out/door.mp4"
if [ ! -s "$door" ]; then
    gst-launch-1.0 -q filesrc location="$FESS_MEDIA/astronaut.png" ! decodebin ! videoconvert ! \
        imagefreeze num-buffers=30 ! video/x-raw,framerate=10/1 ! videoconvert ! openh264enc ! \
        h264parse ! mp4mux ! filesink location="$door" >/dev/null
fi

main="$FESS_MEDIA/vtest.avi"
[ "$short" = 1 ] && main="$FESS_MEDIA/carphone_pristine.mp4"
fess_log "the cameras: fess run config/demo-cameras.toml ($(basename "$main"), carphone_pristine.mp4, the door clip)"
DEMO_MAIN="$main" DEMO_DOOR="$door" FESS_ROOT="$FESS_ROOT" FESS_MEDIA="$FESS_MEDIA" \
    "$bin/fess" run "$FESS_ROOT/config/demo-cameras.toml" 2>&1 | tee "$out/fess-run.log"
fess_log "cam_vtest annotated: $(basename "$main") through fessdetect ! fessface ! fessoverlay (no events)"
# The example rules' line and zone are drawn for vtest.avi's road and lawn.
rules=()
[ "$short" = 1 ] || rules=(--rules "$FESS_ROOT/config/alert-rules.example.toml")
"$bin/fess" detect --input "$main" --camera-id cam_vtest --faces "${rules[@]}" \
    --sheet "$out/contact-sheet.png" --video "$out/annotated.mp4" "$@" >"$out/cam_vtest.log"
grep -E "^(line|zone) " "$out/cam_vtest.log" || true
tail -3 "$out/cam_vtest.log"

fess_log "events in Kafka:"
"$bin/fess" events --bootstrap-servers "$FESS_BROKER" --summary --idle-timeout 5

# Let the exporter take the last datagrams (sent at stop) before reading it.
sleep 1.5
fess_log "metrics that matter (http://$exporter/metrics):"
curl -sf "http://$exporter/metrics" | grep -E '^fess_(detections_total|face_recognitions_total|face_cache_(hits|misses)_total|kafka_events_sent_total|line_crossings_total|zone_objects|active_cameras|component_up)[{ ]' |
    grep -v ' 0$' || true
fess_log "health (http://$exporter/health):"
curl -s "http://$exporter/health" | tee "$out/health.json"
echo
# One line per component; the host's CPU, memory and disk ("system") are whatever this machine
# is doing besides the demo.
python3 - "$out/health.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
print("health:", " ".join(f"{k}={v['status']}" for k, v in h["components"].items()), f"(overall {h['status']})")
PY
fess_log "wrote $out/annotated.mp4 and $out/contact-sheet.png"
