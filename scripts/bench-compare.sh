#!/usr/bin/env bash
# Runs benchmarks of another revision and of the working tree side by side, alternating, so a
# change is judged against what came before it in one run on one machine:
#
#   scripts/bench-compare.sh REV [BENCH...]      # default: detect_fps cameras kafka_sink
#   FESS_BENCH_ROUNDS=1 FESS_BENCH_CAMERAS=1,4 scripts/bench-compare.sh 200fd69 cameras
#
# REV is checked out (detached) under target/bench-compare/src and built there with a target
# dir of its own, so neither tree's build disturbs the other's. The benches are those of
# gst-plugin-fess (each prints figures of its own; see scripts/bench.sh for what they measure
# and the FESS_BENCH_* variables they read). Each round runs REV's binary, then the working
# tree's; FESS_COMPARE_ROUNDS (default 1) rounds per bench.
# Run it on an otherwise idle machine.
set -euo pipefail

FESS_LOG_TAG=bench-compare
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ $# -ge 1 ] || fess_die "usage: scripts/bench-compare.sh REV [BENCH...]"
rev=$(git -C "$FESS_ROOT" rev-parse --verify "$1^{commit}") || fess_die "not a revision: $1"
shift
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(detect_fps cameras kafka_sink)
rounds="${FESS_COMPARE_ROUNDS:-1}"

"$FESS_SCRIPTS/setup.sh" --bench >&2
fess_require_setup
export FESS_BENCH_FRAMES="${FESS_BENCH_FRAMES:-200}"

work="$FESS_ROOT/target/bench-compare"
src="$work/src"
mkdir -p "$work"
if [ -d "$src" ]; then
    git -C "$src" checkout -q --detach "$rev"
else
    git -C "$FESS_ROOT" worktree add -q --detach "$src" "$rev"
fi

# The bench executables a tree builds, one per line as NAME PATH.
bench_binaries() {
    local dir=$1 target=$2 args=()
    for b in "${benches[@]}"; do args+=(--bench "$b"); done
    (cd "$dir" && CARGO_TARGET_DIR="$target" cargo bench --locked -p gst-plugin-fess "${args[@]}" \
        --no-run --message-format=json) \
        | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
'
}

fess_log "building the benches of ${rev:0:12}"
declare -A before after
while read -r name path; do before[$name]=$path; done < <(bench_binaries "$src" "$work/target")
fess_log "building the benches of the working tree"
while read -r name path; do after[$name]=$path; done < <(bench_binaries "$FESS_ROOT" "$FESS_ROOT/target")

for b in "${benches[@]}"; do
    [ -n "${before[$b]:-}" ] || fess_die "${rev:0:12} has no bench $b"
    [ -n "${after[$b]:-}" ] || fess_die "the working tree has no bench $b"
    for ((r = 1; r <= rounds; r++)); do
        # A bench reads its crate's files (models built by its tests, media) from where it
        # was built: run each from its own tree.
        fess_log "$b round $r: ${rev:0:12}"
        (cd "$src/gst-plugin-fess" && "${before[$b]}" --bench)
        fess_log "$b round $r: working tree"
        (cd "$FESS_ROOT/gst-plugin-fess" && "${after[$b]}" --bench)
    done
done
