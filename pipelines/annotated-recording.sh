#!/bin/sh
# A video file → detection → faces → boxes, labels, track ids and names drawn → MP4.
#   VIDEO=clip.mp4 OUTPUT=annotated.mp4 pipelines/annotated-recording.sh
# Needs Redis (the gallery); no Kafka.
# PRINT=1 prints the launch line instead of running it.
VIDEO="${VIDEO:-$HOME/.cache/fess/media/vtest.avi}"
OUTPUT="${OUTPUT:-annotated.mp4}"
CAMERA_ID="${CAMERA_ID:-cam_file}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"

set -- filesrc location="$VIDEO" ! decodebin ! videoconvert ! \
    fessdetect camera-id="$CAMERA_ID" ! fessface redis-url="$REDIS_URL" ! \
    videoconvert ! video/x-raw,format=RGB ! fessoverlay ! \
    videoconvert ! openh264enc bitrate=2000000 ! h264parse ! mp4mux ! filesink location="$OUTPUT"
[ -n "${PRINT:-}" ] && { echo "$@"; exit 0; }
exec gst-launch-1.0 -e "$@"
