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

# Most tests start their own broker and Redis; the doctests (the user's document's examples)
# use the ones named by KAFKA_BOOTSTRAP_SERVERS and REDIS_URL, as the document's classes do.
mkdir -p "$FESS_ROOT/target"
fess_start_broker "$FESS_ROOT/target/tansu-test.log"
fess_start_redis "$FESS_ROOT/target/redis-test.log"
trap 'kill "$FESS_BROKER_PID" "$FESS_REDIS_PID" 2>/dev/null || true' EXIT
export KAFKA_BOOTSTRAP_SERVERS="$FESS_BROKER" REDIS_URL="$FESS_REDIS_URL"
fess_log "cargo test (doctest broker on $FESS_BROKER, Redis on $FESS_REDIS_URL)"
cargo test --release --workspace --locked "$@"
