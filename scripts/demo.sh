#!/usr/bin/env bash
# The main job on the bundled sample: sets up what is missing, builds, starts a local
# Kafka-protocol broker (tansu, loopback only), runs `filesrc ! decodebin ! fessdetect !
# fesskafkasink` over vtest.avi printing per-second progress and writing an annotated contact
# sheet, then prints what Kafka received (events per topic, one example of each).
#
#   scripts/demo.sh [fess detect options, e.g. --set threshold=0.5 --set object-class=person]
set -euo pipefail
FESS_LOG_TAG=demo
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FESS_ROOT"
mkdir -p out

"$FESS_SCRIPTS/setup.sh"
fess_log "building (cargo build --release)"
cargo build --release --workspace --locked

export GST_PLUGIN_PATH="$FESS_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fess="$FESS_ROOT/target/release/fess"
out="$FESS_ROOT/out/contact-sheet.png"

fess_start_broker "$FESS_ROOT/out/tansu.log"
broker="$FESS_BROKER"
trap 'kill "$FESS_BROKER_PID" 2>/dev/null || true' EXIT
fess_log "Kafka-protocol broker (tansu) on $broker"

fess_log "running fessdetect ! fesskafkasink on $FESS_MEDIA/vtest.avi"
"$fess" detect --input "$FESS_MEDIA/vtest.avi" --sheet "$out" --kafka "$broker" --camera-id cam_vtest \
    --sink-set alert-rules="$FESS_ROOT/config/alert-rules.example.toml" "$@"
fess_log "events in Kafka:"
"$fess" events --bootstrap-servers "$broker" --summary --idle-timeout 5
fess_log "open $out to see what was found"
