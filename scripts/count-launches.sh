#!/usr/bin/env bash
# Counts the GPU kernel launches of one step (issue 14: counted, not
# guessed), on native wgpu: the WebGPU code path the page runs, without
# fusion, so each launch is one dispatch a real GPU would wait for. CubeCL
# logs every kernel it executes when its profiling logger is at "minimal"
# (a cubecl.toml in the working directory); `apd bench` runs 20 warm-up
# steps and then the timed ones, so two runs with 20 timed steps between
# them leave exactly those 20 steps in the difference (setup, the target
# step and the warm-up cancel).
# Usage: scripts/count-launches.sh [MODEL] [apd bench arguments...]
#        e.g. scripts/count-launches.sh tms-5-2 --method spd
#        (not --instances: bench then trains targets too, which would count)
# Needs a wgpu adapter (Mesa's lavapipe here: slow, but it runs the same
# kernels). Takes a minute or two per model.
set -euo pipefail
source "$(dirname "$0")/env.sh"
build_cli
model="${1:-tms-5-2}"
shift || true
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
count() {
  local steps=$1 log="$dir/kernels-$1.log"
  shift
  cat > "$dir/cubecl.toml" <<EOF
[profiling.logger]
level = "minimal"
file = "$log"
append = true
EOF
  (cd "$dir" && "$APD" bench --model "$model" --backend wgpu --steps "$steps" "$@" > "$dir/bench-$steps.txt")
  grep -c '^Executing ' "$log"
}
short=$(count 20 "$@")
long=$(count 40 "$@")
per_step=$(( (long - short) / 20 ))
grep "per step" "$dir/bench-40.txt"
echo "$model $*: $per_step kernel launches per step on wgpu (from $short and $long launches in runs of 40 and 60 steps)"
