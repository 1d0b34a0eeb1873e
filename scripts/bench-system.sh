#!/usr/bin/env bash
# The whole system on vtest.avi (795 frames), side by side in one run, with a local broker,
# Redis and fess-exporter running:
#   (1) detection only:  filesrc ! decodebin ! fessdetect ! fakesink
#   (2) full pipeline:   filesrc ! decodebin ! fessdetect ! fessface ! fesskafkasink, on 1, 4
#                        and 8 cameras in one process (one branch per camera), as fast as it goes
#   (3) 8 cameras in real time (each paced at the clip's 10 fps, as cameras deliver) with
#       fessdetect detect-fps=5 and the motion gate on: the CPU share the whole system needs,
#       and every camera's events read back from Kafka
# For each: wall time, fps per camera (frames / wall, model loading included), CPU (user + system
# over wall, 100 % = one core) and peak RSS of the pipeline process; the exporter's CPU and RSS
# over the whole run; and the ratios full / detection-only and N cameras / one camera.
#
#   scripts/bench-system.sh
# Run it on an otherwise idle machine.
set -euo pipefail
FESS_LOG_TAG=bench-system
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FESS_ROOT"

"$FESS_SCRIPTS/setup.sh" >&2
fess_require_setup
cargo build --release --workspace --locked >&2

export GST_PLUGIN_PATH="$FESS_ROOT/target/release"
work="$(mktemp -d)"
export FESS_STATS_SOCKET="$work/stats.sock"
pids=()
cleanup() {
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fess_start_broker "$work/tansu.log"
pids+=("$FESS_BROKER_PID")
fess_start_redis "$work/redis.log"
pids+=("$FESS_REDIS_PID")
fess_start_exporter "$work/exporter.log" --redis-url "$FESS_REDIS_URL" --kafka-bootstrap-servers "$FESS_BROKER"
exporter_pid="$FESS_EXPORTER_PID"
pids+=("$exporter_pid")

video="$FESS_MEDIA/vtest.avi"
frames=795
camera() { # camera ID [fessdetect properties] [element after decodebin] -> one branch of the full pipeline
    echo "filesrc location=$video ! decodebin ! ${3:-} fessdetect camera-id=$1 ${2:-} !" \
        "fessface redis-url=$FESS_REDIS_URL !" \
        "fesskafkasink bootstrap-servers=$FESS_BROKER spool-dir=$work/spool-$1"
}
cameras() { # N PREFIX [fessdetect properties] [element after decodebin] -> N branches
    local i
    for i in $(seq "$1"); do camera "$2$i" "${3:-}" "${4:-}"; done
}
# proc_cpu PID -> user+system clock ticks so far
proc_cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks="$(getconf CLK_TCK)"
exporter_cpu0="$(proc_cpu "$exporter_pid")"
t_start="$(date +%s.%N)"

# run NAME CAMERAS LAUNCH... -> prints a line, sets FPS
run() {
    local name="$1" cameras="$2"
    shift 2
    # shellcheck disable=SC2068
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" gst-launch-1.0 -q $@ >/dev/null 2>"$work/$name.err" ||
        { cat "$work/$name.err" >&2; fess_die "$name failed"; }
    read -r wall user sys rss <"$work/time"
    FPS="$(echo "$frames / $wall" | bc -l)"
    printf '%-16s %d camera(s): %6.1f s, %5.1f fps per camera, CPU %4.0f %%, RSS %4.0f MB\n' \
        "$name" "$cameras" "$wall" "$FPS" "$(echo "($user + $sys) / $wall * 100" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
    CPU="$(echo "($user + $sys) / $wall * 100" | bc -l)"
}

echo "vtest.avi, $frames frames, $(nproc) cores"
# shellcheck disable=SC2046
run detect-only 1 filesrc location="$video" ! decodebin ! fessdetect ! fakesink
fps_detect="$FPS"
declare -A fps_full
for n in 1 4 8; do
    # shellcheck disable=SC2046
    run "full-$n-cams" "$n" $(cameras "$n" "cam_full${n}_")
    fps_full[$n]="$FPS"
done
# shellcheck disable=SC2046
run live-8-cams 8 $(cameras 8 cam_live_ "detect-fps=5" "identity sync=true !")
cpu_live="$CPU"

t_end="$(date +%s.%N)"
exporter_cpu1="$(proc_cpu "$exporter_pid")"
exporter_rss="$(awk '/VmRSS/ { print $2 }' "/proc/$exporter_pid/status")"
printf 'fess-exporter over the run: CPU %.2f %%, RSS %.1f MB\n' \
    "$(echo "($exporter_cpu1 - $exporter_cpu0) / $ticks / ($t_end - $t_start) * 100" | bc -l)" \
    "$(echo "$exporter_rss / 1024" | bc -l)"
printf 'full / detection-only fps: %.2f\n' "$(echo "${fps_full[1]} / $fps_detect" | bc -l)"
for n in 4 8; do
    printf '%d cameras / one camera, fps per camera: %.2f (aggregate %.1f fps)\n' "$n" \
        "$(echo "${fps_full[$n]} / ${fps_full[1]}" | bc -l)" "$(echo "${fps_full[$n]} * $n" | bc -l)"
done
printf '8 live cameras at detect-fps=5: CPU %.0f %% of the %d %% the cores give; %.0f %% of the machine left\n' \
    "$cpu_live" "$(($(nproc) * 100))" "$(echo "100 - $cpu_live / $(nproc)" | bc -l)"
# Every live camera's events, read back from Kafka.
"$FESS_ROOT/target/release/fess" events --bootstrap-servers "$FESS_BROKER" --idle-timeout 5 >"$work/events"
for i in $(seq 8); do
    printf 'cam_live_%d: %d events in Kafka\n' "$i" "$(grep -c "\"camera_id\":\"cam_live_$i\"" "$work/events" || true)"
done
# Earlier runs' sources are forgotten after the exporter's --forget-after (30 s): count the last.
frames_seen="$(curl -sf "http://$FESS_EXPORTER/metrics" |
    awk '/^fess_frames_total\{camera_id="cam_live_[0-9]"\}/ { s += $2 } END { print s + 0 }')"
echo "frames the exporter counted for cam_live_1..8: $frames_seen (expected $((frames * 8)))"
