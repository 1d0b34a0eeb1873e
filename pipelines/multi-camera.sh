#!/bin/sh
# Two cameras in one process, each with its own camera id, Kafka producer and stats identity.
# A leaky queue in front of each camera's models: a slow model drops frames, never stalls capture.
#   SOURCE_A=rtsp://cam-a/stream SOURCE_B=rtsp://cam-b/stream pipelines/multi-camera.sh
# Sources are URIs (file://, rtsp://, http://) played by uridecodebin.
# PRINT=1 prints the launch line (passwords masked) instead of running it.
#
# Not for production cameras: the cameras of one gst-launch-1.0 process share its fate. One that
# is offline at start, or drops mid-stream, ends the whole process (the other camera's events
# stop too) and nothing restarts it; a camera that stops answering ends it after STALL_TIMEOUT
# seconds without a frame (default 10, a watchdog per camera) instead of freezing it silently.
# For live cameras run pipelines/rtsp.sh once per camera (it reconnects on its own).
STALL_TIMEOUT="${STALL_TIMEOUT:-10}"
SOURCE_A="${SOURCE_A:-file://$HOME/.cache/fess/media/vtest.avi}"
SOURCE_B="${SOURCE_B:-file://$HOME/.cache/fess/media/carphone_pristine.mp4}"
CAMERA_A="${CAMERA_A:-cam_a}"
CAMERA_B="${CAMERA_B:-cam_b}"
KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"

set -- \
    uridecodebin uri="$SOURCE_A" ! watchdog timeout="$((STALL_TIMEOUT * 1000))" ! videoconvert ! \
    queue leaky=downstream max-size-buffers=2 max-size-time=0 max-size-bytes=0 ! \
    fessdetect name=detect_a camera-id="$CAMERA_A" ! fessface name=face_a redis-url="$REDIS_URL" ! \
    fesskafkasink name=sink_a camera-id="$CAMERA_A" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS" \
    uridecodebin uri="$SOURCE_B" ! watchdog timeout="$((STALL_TIMEOUT * 1000))" ! videoconvert ! \
    queue leaky=downstream max-size-buffers=2 max-size-time=0 max-size-bytes=0 ! \
    fessdetect name=detect_b camera-id="$CAMERA_B" ! fessface name=face_b redis-url="$REDIS_URL" ! \
    fesskafkasink name=sink_b camera-id="$CAMERA_B" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS"
[ -n "${PRINT:-}" ] && { echo "$@" | sed 's|://[^/ ]*@|://***@|g'; exit 0; }
exec gst-launch-1.0 -e "$@"
