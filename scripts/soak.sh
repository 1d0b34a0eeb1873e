#!/usr/bin/env bash
# The soak run (not part of the test command): the full pipeline on vtest.avi looped in real
# time with a real broker (restarted every 5 minutes), Redis and fess-exporter, for 30 minutes;
# prints RSS, descriptors and threads of the pipeline and the exporter every 10 s, then
# first/last/max, and whether every event reached Kafka. See gst-plugin-fess/benches/soak.rs.
#
#   scripts/soak.sh                     # 30 minutes
#   FESS_SOAK_MIN=6 FESS_SOAK_RESTART_MIN=2 scripts/soak.sh
set -euo pipefail
FESS_LOG_TAG=soak
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$FESS_ROOT"

"$FESS_SCRIPTS/setup.sh" >&2
fess_require_setup
# The exporter binary the soak starts beside the pipeline.
cargo build --release --locked -p fess-exporter >&2
cargo bench --locked -p gst-plugin-fess --bench soak
