#!/bin/sh
# A video file → detection → faces → boxes, labels, track ids and names drawn → MP4.
#   VIDEO=clip.mp4 OUTPUT=annotated.mp4 pipelines/annotated-recording.sh
#   BLUR_FACES=true … blurs the faces in the recording (privacy).
# Needs Redis (the gallery); no Kafka.
# PRINT=1 prints the launch line instead of running it.
# One videoconvert, before the analysis (it would drop the ROI metadata after it): it passes
# the usual I420 through untouched and converts any other decoder output to the I420 that
# fessoverlay draws on and openh264enc encodes.
VIDEO="${VIDEO:-$HOME/.cache/fess/media/vtest.avi}"
OUTPUT="${OUTPUT:-annotated.mp4}"
CAMERA_ID="${CAMERA_ID:-cam_file}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"
BLUR_FACES="${BLUR_FACES:-false}"

set -- filesrc location="$VIDEO" ! decodebin ! videoconvert ! \
    fessdetect camera-id="$CAMERA_ID" ! fessface redis-url="$REDIS_URL" ! \
    fessoverlay blur-faces="$BLUR_FACES" ! \
    openh264enc bitrate=2000000 ! h264parse ! mp4mux ! filesink location="$OUTPUT"
[ -n "${PRINT:-}" ] && { echo "$@"; exit 0; }
exec gst-launch-1.0 -e "$@"
