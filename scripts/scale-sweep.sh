#!/usr/bin/env bash
# The robustness sweep over targets (docs/scale.md): tms-5-2 decomposed by
# its preset on seeds 40..50 (not used to choose anything) for each kind of
# target: this project's, the reference recipe's, and this project's with W
# scaled by 0.8, by 0.885 (feature norm 1.00, the SPD code's pentagon) and
# by 1.4; then the same targets "as in the paper" (scale.rescale=false).
# Two sweeps at a time; about 50 minutes on 2 cores.
# Usage: scripts/scale-sweep.sh [A..B]   (default 40..50); logs in $OUT (default /tmp/scale-sweep)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
cargo build --release --bin apd
OUT="${OUT:-/tmp/scale-sweep}"
mkdir -p "$OUT"
# A copy, so that a rebuild during the sweep does not change it.
APD="$OUT/apd"
cp "$CARGO_TARGET_DIR/release/apd" "$APD"
SEEDS="${1:-40..50}"
run() { local name=$1; shift; "$APD" sweep --model tms-5-2 --seeds "$SEEDS" "$@" > "$OUT/$name.log" 2>&1; tail -1 "$OUT/$name.log" | sed "s/^/$name: /"; }
(run project; run project-x0.8 --target-scale 0.8; run project-x1.4 --target-scale 1.4; run project-paper --set scale.rescale=false;
 run project-x0.885 --target-scale 0.885) &
(run reference --recipe reference; run reference-paper --recipe reference --set scale.rescale=false;
 run project-x0.8-paper --target-scale 0.8 --set scale.rescale=false; run project-x1.4-paper --target-scale 1.4 --set scale.rescale=false;
 run project-x0.885-paper --target-scale 0.885 --set scale.rescale=false) &
wait
