#!/bin/sh
# A USB webcam (V4L2) → detection → faces → Kafka, until Ctrl-C.
#   DEVICE=/dev/video0 CAMERA_ID=desk pipelines/webcam.sh
# The leaky queue drops frames while the models are busy, so capture never stalls.
# PRINT=1 prints the launch line instead of running it.
DEVICE="${DEVICE:-/dev/video0}"
CAMERA_ID="${CAMERA_ID:-webcam}"
KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"

set -- v4l2src device="$DEVICE" ! videoconvert ! \
    queue leaky=downstream max-size-buffers=2 max-size-time=0 max-size-bytes=0 ! \
    fessdetect camera-id="$CAMERA_ID" ! \
    fessface redis-url="$REDIS_URL" ! \
    fesskafkasink camera-id="$CAMERA_ID" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS"
[ -n "${PRINT:-}" ] && { echo "$@"; exit 0; }
exec gst-launch-1.0 -e "$@"
