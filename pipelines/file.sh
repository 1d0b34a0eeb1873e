#!/bin/sh
# A video file → detection → faces → Kafka.
#   VIDEO=clip.mp4 CAMERA_ID=lobby pipelines/file.sh
# Needs the plugin (GST_PLUGIN_PATH=target/release, or installed), Kafka and Redis.
# PRINT=1 prints the launch line instead of running it.
VIDEO="${VIDEO:-$HOME/.cache/fess/media/vtest.avi}"
CAMERA_ID="${CAMERA_ID:-cam_file}"
KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"

set -- filesrc location="$VIDEO" ! decodebin ! videoconvert ! \
    fessdetect camera-id="$CAMERA_ID" ! \
    fessface redis-url="$REDIS_URL" ! \
    fesskafkasink camera-id="$CAMERA_ID" bootstrap-servers="$KAFKA_BOOTSTRAP_SERVERS"
[ -n "${PRINT:-}" ] && { echo "$@"; exit 0; }
exec gst-launch-1.0 -e "$@"
