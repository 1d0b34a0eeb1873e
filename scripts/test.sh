#!/usr/bin/env bash
# Runs every FESS test: setup (idempotent), format and lint checks, the whole cargo test suite
# (unit, element, pipeline and doc tests) and a load check of the built plugin.
#
#   scripts/test.sh [extra cargo test args]
set -euo pipefail
FESS_LOG_TAG=test
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FESS_ROOT"

"$FESS_SCRIPTS/setup.sh"

fess_log "cargo fmt --check"
cargo fmt --all -- --check
fess_log "cargo clippy -D warnings"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
fess_log "cargo build"
cargo build --release --workspace --locked

fess_log "plugin loads from target/release/libgstfess.so"
for element in fessdetect fessface fessoverlay fesskafkasink; do
    GST_PLUGIN_PATH="$FESS_ROOT/target/release" gst-inspect-1.0 "$element" >/dev/null \
        || fess_die "gst-inspect-1.0 cannot load $element from target/release/libgstfess.so"
done

# Most tests start their own broker and Redis; the doctests (the library's examples in the
# README) use the ones named by KAFKA_BOOTSTRAP_SERVERS and REDIS_URL, as a user's program does.
mkdir -p "$FESS_ROOT/target"
fess_start_broker "$FESS_ROOT/target/tansu-test.log"
fess_start_redis "$FESS_ROOT/target/redis-test.log"
trap 'kill "$FESS_BROKER_PID" "$FESS_REDIS_PID" 2>/dev/null || true' EXIT
export KAFKA_BOOTSTRAP_SERVERS="$FESS_BROKER" REDIS_URL="$FESS_REDIS_URL"
# --no-fail-fast: one failing test binary must not hide the others' results; the failures of
# every binary, and of the demo check below, are listed together at the end.
fess_log "cargo test (doctest broker on $FESS_BROKER, Redis on $FESS_REDIS_URL)"
failures=()
test_log="$FESS_ROOT/target/cargo-test.log"
set +e
cargo test --release --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$test_log"
test_rc=${PIPESTATUS[0]}
set -e
if [ "$test_rc" != 0 ]; then
    # "binary: test" for each failed test, from cargo's "Running"/"Doc-tests" headers.
    mapfile -t failed < <(awk '
        /^ *Running / { bin = $0; sub(/^ *Running /, "", bin) }
        /^ *Doc-tests / { bin = "doctests of " $2 }
        /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); print bin ": " $0 }
    ' "$test_log")
    # And cargo's own list of failed targets: it also names a binary that crashed mid-run.
    mapfile -t targets < <(sed -n '/targets\? failed:$/,/^[^ ]/ s/^ \{4\}\(.*\)/failed target \1/p' "$test_log")
    failures+=("${failed[@]}" "${targets[@]}")
    [ ${#failures[@]} -gt 0 ] || failures+=("cargo test exited with $test_rc (log: $test_log)")
fi

# The end-to-end demo, short: the whole system on local services, checked on what it printed.
fess_log "scripts/demo.sh --short"
demo_log="$FESS_ROOT/target/demo-short.log"
demo_expect() {
    grep -Eq "$1" "$demo_log" || failures+=("demo: the output lacks /$1/ (log: $demo_log)")
}
if "$FESS_SCRIPTS/demo.sh" --short >"$demo_log" 2>&1; then
    demo_expect '^enrolled eileen-collins \(Eileen Collins\), unauthorized'
    demo_expect '^motion\.detection\.events: [1-9][0-9]* events'
    demo_expect '^face\.recognition\.events: [1-9][0-9]* events'
    demo_expect '^alert\.events: [1-9][0-9]* events'
    demo_expect '"alert_level":"CRITICAL"|^fess_face_recognitions_total\{camera_id="cam_door",status="unauthorized"\} 1$'
    demo_expect '^fess_face_recognitions_total\{camera_id="cam_car",status="unknown"\} 1$'
    demo_expect '^fess_kafka_events_sent_total\{status="success",topic="alert\.events"\} [1-9]'
    demo_expect '^fess_active_cameras 3$'
    # What the demo runs is healthy; the host's load ("system") is not the demo's to decide.
    for component in redis kafka pipelines; do
        demo_expect "^health: .*\\b$component=healthy\\b"
    done
    for f in annotated.mp4 contact-sheet.png; do
        [ -s "$FESS_ROOT/out/$f" ] || failures+=("demo: did not write out/$f")
    done
else
    failures+=("demo: scripts/demo.sh --short failed (log: $demo_log)")
fi

if [ ${#failures[@]} -gt 0 ]; then
    [ -s "$demo_log" ] && { echo "--- last lines of $demo_log"; tail -40 "$demo_log"; } >&2
    # Why, in a few lines: the failed assertions, and what killed a crashed binary.
    if [ -s "$test_log" ]; then
        echo "--- why (from $test_log)"
        grep -E -A4 "panicked at|Assertion .* failed|process didn't exit successfully" "$test_log" \
            | grep -v librdkafka | head -60
    fi >&2
    fess_warn "${#failures[@]} failure(s):"
    printf '[test]   %s\n' "${failures[@]}" >&2
    exit 1
fi
fess_log "every test passed; demo: every expected line printed"
