#!/bin/sh
# An RTSP camera → detection → faces → Kafka, until stopped (Ctrl-C or SIGTERM).
#   RTSP_URL=rtsp://user:pass@camera/stream CAMERA_ID=gate-1 pipelines/rtsp.sh
# When the camera goes away the pipeline ends with an error: this says so on stderr and
# reconnects every RETRY_DELAY seconds until the camera is back; events resume on their own.
# RTP over TCP, so a lost camera is noticed at once; a camera that stops answering without
# closing the connection (hung, or cut off by a firewall) is an error after STALL_TIMEOUT
# seconds without a frame (default 10: rtspsrc's tcp-timeout while connecting, a watchdog on the
# decoded frames after), and is reconnected the same way. A leaky queue keeps capture from
# waiting on the models. PRINT=1 prints the launch line (password masked) instead of running it.
# Ctrl-C or SIGTERM stops it cleanly (at most STOP_TIMEOUT seconds, default 10).
# One camera per process: cameras in one process share its fate (see multi-camera.sh).
RTSP_URL="${RTSP_URL:-rtsp://127.0.0.1:8554/cam}"
CAMERA_ID="${CAMERA_ID:-rtsp_camera}"
KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"
RETRY_DELAY="${RETRY_DELAY:-5}"
STALL_TIMEOUT="${STALL_TIMEOUT:-10}"

set -- rtspsrc location="$RTSP_URL" protocols=tcp latency=200 tcp-timeout="$((STALL_TIMEOUT * 1000000))" ! \
    decodebin ! watchdog timeout="$((STALL_TIMEOUT * 1000))" ! videoconvert ! \
    queue leaky=downstream max-size-buffers=2 max-size-time=0 max-size-bytes=0 ! \
    fessdetect camera-id="$CAMERA_ID" ! \
    fessface redis-url="$REDIS_URL" ! \
    fesskafkasink camera-id="$CAMERA_ID" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS"
[ -n "${PRINT:-}" ] && { echo "$@" | sed 's|://[^/ ]*@|://***@|g'; exit 0; }

STOP_TIMEOUT="${STOP_TIMEOUT:-10}"

pid=
# Stopping: an interrupt makes gst-launch send EOS, so the sink delivers what it holds. An EOS
# that reaches rtspsrc while it is still starting a stream can stay stuck in its jitterbuffer
# (GStreamer 1.22): after STOP_TIMEOUT seconds the pipeline is ended without it.
stop() {
    if [ -n "$pid" ]; then
        kill -INT "$pid" 2>/dev/null
        waited=0
        while kill -0 "$pid" 2>/dev/null; do
            if [ "$waited" -ge "$((STOP_TIMEOUT * 10))" ]; then
                echo "pipelines/rtsp.sh: camera $CAMERA_ID: the pipeline did not finish within ${STOP_TIMEOUT} s of the stop; ending it" >&2
                kill -TERM "$pid" 2>/dev/null
                break
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        wait "$pid"
    fi
    exit 0
}
trap stop INT TERM
while :; do
    # A background job of a script starts with SIGINT ignored: until gst-launch installs its own
    # handler an interrupt would be lost and the stop with it. Default: it simply ends then.
    env --default-signal=INT gst-launch-1.0 -e "$@" &
    pid=$!
    wait "$pid"
    rc=$?
    pid=
    echo "pipelines/rtsp.sh: camera $CAMERA_ID: the stream ended (gst-launch exit $rc); reconnecting in ${RETRY_DELAY} s" >&2
    sleep "$RETRY_DELAY"
done
