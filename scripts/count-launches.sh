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
#        scripts/count-launches.sh tms-5-2 --instances 12 [--method spd]   (APD,
#        or SPD, of 12 seeds in one batched step: `apd decompose --instances`
#        at 20 and 40 steps, the difference divided by the difference of their
#        step counts, restarts included; the targets' training, SPD's
#        faithfulness warmups and the final figures cancel)
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
if [ "${1:-}" = --instances ]; then
  n=$2
  shift 2
  method=apd
  case " $* " in *" --method spd "*) method=spd ;; esac
  batch() {
    local steps=$1 log="$dir/kernels-batch-$1.log"
    shift
    printf '[profiling.logger]\nlevel = "minimal"\nfile = "%s"\nappend = true\n' "$log" > "$dir/cubecl.toml"
    (cd "$dir" && "$APD" decompose --model "$model" --backend wgpu --instances "$n" --set target.steps=10 --set "$method.steps=$steps" "$@" --out "$dir/r-$steps.json" > "$dir/decompose-$steps.txt" 2>&1)
    grep -c '^Executing ' "$log"
  }
  # Steps each run took, restarts included: its report's last step.
  ran() { node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));const h=r.record.history;console.log(h[h.length-1].step+1)' "$(ls "$dir"/r-$1-seed*.json | head -1)" "$method"; }
  short=$(batch 20 "$@")
  long=$(batch 40 "$@")
  steps=$(( $(ran 40) - $(ran 20) ))
  echo "$model ${method^^}, $n seeds per batched step${*:+ $*}: $(( (long - short) / steps )) kernel launches per step on wgpu (from $short and $long launches in runs of $(ran 20) and $(ran 40) steps)"
  exit 0
fi
short=$(count 20 "$@")
long=$(count 40 "$@")
per_step=$(( (long - short) / 20 ))
grep "per step" "$dir/bench-40.txt"
echo "$model $*: $per_step kernel launches per step on wgpu (from $short and $long launches in runs of 40 and 60 steps)"
