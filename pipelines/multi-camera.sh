#!/bin/sh
# Two cameras in one process, each with its own camera id, Kafka producer and stats identity.
# A leaky queue in front of each camera's models: a slow model drops frames, never stalls capture.
#   SOURCE_A=rtsp://cam-a/stream SOURCE_B=rtsp://cam-b/stream pipelines/multi-camera.sh
# Sources are URIs (file://, rtsp://, http://) played by uridecodebin.
# PRINT=1 prints the launch line instead of running it.
SOURCE_A="${SOURCE_A:-file://$HOME/.cache/fess/media/vtest.avi}"
SOURCE_B="${SOURCE_B:-file://$HOME/.cache/fess/media/carphone_pristine.mp4}"
CAMERA_A="${CAMERA_A:-cam_a}"
CAMERA_B="${CAMERA_B:-cam_b}"
KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"

set -- \
    uridecodebin uri="$SOURCE_A" ! videoconvert ! \
    queue leaky=downstream max-size-buffers=2 max-size-time=0 max-size-bytes=0 ! \
    fessdetect name=detect_a camera-id="$CAMERA_A" ! fessface name=face_a redis-url="$REDIS_URL" ! \
    fesskafkasink name=sink_a camera-id="$CAMERA_A" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS" \
    uridecodebin uri="$SOURCE_B" ! videoconvert ! \
    queue leaky=downstream max-size-buffers=2 max-size-time=0 max-size-bytes=0 ! \
    fessdetect name=detect_b camera-id="$CAMERA_B" ! fessface name=face_b redis-url="$REDIS_URL" ! \
    fesskafkasink name=sink_b camera-id="$CAMERA_B" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS"
[ -n "${PRINT:-}" ] && { echo "$@"; exit 0; }
exec gst-launch-1.0 -e "$@"
