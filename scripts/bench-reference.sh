#!/usr/bin/env bash
# One decomposition step of the reference Python code beside `apd bench`,
# on one core, one thread each, one after the other: APD at
# ApolloResearch/apd 4e29d43 and SPD at goodfire-ai/spd v1, each run
# unchanged through its own experiment entry point and config file
# (scripts/bench_reference.py says how it is timed), against this
# project's step at the same settings. Prints a Markdown table: ms per
# step of each, and reference / ours.
#
# Usage: scripts/bench-reference.sh [CASE...]   (default: all six, about 5 minutes
#        once installed; CASE is apd:tms-5-2, apd:resid-mlp-1, spd:tms-5-2-id,
#        spd:tms-40-10-id, spd:resid-mlp-1 or spd:resid-mlp-2)
# Environment:
#   SPD_REF, APD_REF   git repositories (a clone or bare mirror) of goodfire-ai/spd and
#                      ApolloResearch/apd; SPD_REV (v1), APD_REV (4e29d43) the revisions
#   CORE               the core everything runs on (0)
#   APD                the CLI to time (default: the release build, built if missing)
#   PAGE=1             also the page's CPU engine, run by node (tests/e2e/engine-bench.mjs,
#                      after scripts/build-web.sh), one instance, at the same settings
#   REF_PYTHON         a Python to run the references with instead of the venv below (it
#                      needs their imports: torch, pydantic, jaxtyping, einops, fire, tqdm,
#                      python-dotenv, pyyaml, wandb, matplotlib)
# First run: extracts the two trees and makes a Python 3.11+ venv with PyTorch
# 2.5.1 from PyPI (about 5 GB: PyPI's Linux wheel is the CUDA one) in
# $HOME/.cache/apd-reference; later runs reuse them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

SPD_REF="${SPD_REF:-/work/.mirror/goodfire-ai+spd/repo}"
SPD_REV="${SPD_REV:-v1}"
APD_REF="${APD_REF:-/work/.mirror/ApolloResearch+apd/repo}"
APD_REV="${APD_REV:-4e29d43}"
CORE="${CORE:-0}"
CACHE="$HOME/.cache/apd-reference"
mkdir -p "$CACHE"

# Everything below, installs included, stays on one core, so that a run on
# the other core is left alone and the timed commands see one core.
taskset -cp "$CORE" $$ > /dev/null
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 RAYON_NUM_THREADS=1

if [ -z "${APD:-}" ]; then
  APD="$CARGO_TARGET_DIR/release/apd"
  [ -x "$APD" ] || build_cli
fi

# A reference tree, extracted once per commit (a moved tag gets a new one).
tree() {
  local repo=$1 rev=$2 name=$3 sha dir
  sha=$(git -C "$repo" rev-parse --verify "$rev^{commit}")
  dir="$CACHE/$name-${sha:0:12}"
  if [ ! -f "$dir/.extracted" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    git -C "$repo" archive "$sha" spd | tar -x -C "$dir"
    touch "$dir/.extracted"
  fi
  echo "$dir"
}
SPD_TREE=$(tree "$SPD_REF" "$SPD_REV" spd)
APD_TREE=$(tree "$APD_REF" "$APD_REV" apd)

# One venv for both: SPD v1 needs torch 2.x, and APD's own pyproject allows
# anything below 2.6, so both are timed on the same PyTorch. wandb and
# matplotlib are pinned as the references pin them; wandb is imported at
# module level (never used here), matplotlib by their plotting modules.
VENV="$CACHE/venv-torch2.5.1"
if [ -z "${REF_PYTHON:-}" ] && [ ! -f "$VENV/.installed" ]; then
  base=""
  for py in python3.11 python3.12 python3; do
    if command -v "$py" > /dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      base=$py
      break
    fi
  done
  [ -n "$base" ] || { echo "needs Python 3.11 or later (the references use typing.Self)" >&2; exit 1; }
  rm -rf "$VENV"
  "$base" -m venv "$VENV"
  echo "installing PyTorch 2.5.1 and the references' dependencies into $VENV ..." >&2
  "$VENV/bin/pip" install -q torch==2.5.1 numpy pydantic jaxtyping einops fire tqdm python-dotenv \
    pyyaml "wandb<=0.17.7" matplotlib==3.9.1 >&2
  touch "$VENV/.installed"
fi
PY="${REF_PYTHON:-$VENV/bin/python}"

# kind:case | the reference's warm-up and timed steps | ours: model | --steps | flags
# (steps chosen for about a minute a case at most; ours adds its own 20-step warm-up)
cases() {
  cat <<'CASES'
apd:tms-5-2|5 200|tms-5-2|400|--method apd --paper --instances 12 --set apd.attribution_source=target
apd:resid-mlp-1|3 25|resid-mlp-1|20|--method apd --paper --set apd.rank=50
spd:tms-5-2-id|5 200|tms-5-2-id|400|--method spd --paper --set spd.batch_size=4096 --set spd.lr=0.001
spd:tms-40-10-id|3 40|tms-40-10-id|40|--method spd --paper --set spd.batch_size=4096 --set spd.lr=0.001
spd:resid-mlp-1|3 80|resid-mlp-1|80|--method spd --paper --set spd.batch_size=2048 --set spd.lr_schedule=constant
spd:resid-mlp-2|2 20|resid-mlp-2|20|--method spd --paper
CASES
}
# Why these settings (each the reference config's, where ours has another):
# - APD tms-5-2: the reference's config decomposes its target's 12
#   instances in one step, so ours runs 12 too (--instances 12) and both are
#   per instance-step; --paper drops this project's spare component and
#   restarts; the reference ranks components by the target's gradients.
# - APD resid-mlp-1: the reference's config leaves m unset, so its
#   components have rank min(d_resid, d_mlp) = 50; ours' preset has 2.
# - SPD TMS: the reference's batch 4096 and lr, and --paper: none of the
#   later additions (delta component, faithfulness warm-up, revive sigmoid)
#   nor restarts that this project's TMS presets use. Its 40-10 block
#   decomposes hidden_layers.0 too, so its target is tms-40-10-id.
# - SPD residual MLPs: the reference's batch 2048 and constant lr (ours'
#   resid-mlp-1 preset is a shorter schedule a tab can run; resid-mlp-2's
#   is the reference's already). Its config's out_recon_coeff: 0.0 still
#   costs it a forward and backward pass of all components each step; that
#   is part of its step as run.

wanted=("$@")
selected() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local w
  for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()
while IFS='|' read -r case ref_steps model steps flags; do
  selected "$case" || continue
  kind=${case%%:*}
  name=${case#*:}
  read -r warmup n <<< "$ref_steps"
  if [ "$kind" = spd ]; then ref_tree=$SPD_TREE; else ref_tree=$APD_TREE; fi
  echo "$case: reference ($warmup + $n steps) ..." >&2
  log="$work/$kind-$name.log"
  if ! "$PY" "$ROOT/scripts/bench_reference.py" --ref "$kind" --tree "$ref_tree" --case "$name" \
      --warmup "$warmup" --steps "$n" --work "$work" < /dev/null > "$log" 2> "$log.err"; then
    tail -20 "$log.err" >&2
    exit 1
  fi
  line=$(grep '^ms_per_step=' "$log")
  ref_ms=$(sed 's/^ms_per_step=\([^ ]*\).*/\1/' <<< "$line")
  instances=$(sed 's/.* instances=\([0-9]*\).*/\1/' <<< "$line")
  torch_version=$(sed 's/.* torch=\([^ ]*\).*/\1/' <<< "$line")
  if [ "$instances" -gt 1 ]; then
    ref_ms=$(awk -v t="$ref_ms" -v k="$instances" 'BEGIN { printf "%.4f", t / k }')
  fi
  echo "$case: ours (apd bench --model $model --steps $steps $flags) ..." >&2
  # shellcheck disable=SC2086 # the flags are words
  out=$("$APD" bench --model "$model" --steps "$steps" $flags < /dev/null 2>&1)
  if [ "$instances" -gt 1 ]; then
    ours_ms=$(grep -E "^$model ${kind^^} on [a-z]+: N = " <<< "$out" | sed 's/.*, \([0-9.]*\) ms per instance-step.*/\1/')
    label="${kind^^} $model, per instance-step (N = $instances in one step)"
  else
    ours_ms=$(grep -E ' ms/step ' <<< "$out" | sed 's/.*, \([0-9.]*\) ms\/step.*/\1/')
    label="${kind^^} $model"
  fi
  [ -n "$ours_ms" ] || { echo "$out" >&2; exit 1; }
  row=$(awk -v l="$label" -v r="$ref_ms" -v o="$ours_ms" 'BEGIN { printf "| %s | %.2f | %.2f | %.1f |", l, r, o, r / o }')
  if [ "${PAGE:-0}" = 1 ]; then
    # The engine decomposes a target file: a short-trained one (a step's
    # cost does not depend on how well the target was trained).
    [ -f "$work/target-$model.json" ] ||
      "$APD" train --model "$model" --set target.steps=100 --out "$work/target-$model.json" < /dev/null > /dev/null 2>&1
    page_flags=()
    # shellcheck disable=SC2086 # the flags are words
    set -- $flags
    while [ $# -gt 0 ]; do
      case "$1" in --method) method=$2; shift;; --instances) shift;; --paper) page_flags+=(--paper);; --set) page_flags+=(--set "$2"); shift;; esac
      shift
    done
    echo "$case: the page's CPU engine ..." >&2
    page=$(node "$ROOT/tests/e2e/engine-bench.mjs" "$model" "$method" --target "$work/target-$model.json" \
      --steps $((steps < 100 ? steps : 100)) "${page_flags[@]}" < /dev/null)
    page_ms=$(sed 's/.*steps: \([0-9.]*\) ms per step.*/\1/' <<< "$page")
    row+=$(awk -v r="$ref_ms" -v p="$page_ms" 'BEGIN { printf " %.2f | %.1f |", p, r / p }')
  fi
  rows+=("$row")
done < <(cases)
[ ${#rows[@]} -gt 0 ] || { echo "no such case: $*; known: $(cases | cut -d'|' -f1 | tr '\n' ' ')" >&2; exit 1; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
header="| toy x method ($cpu, one core, one thread; $(date -u +%Y-%m-%d)) | reference ms per step | ours ms per step | reference / ours |"
rule="|---|---|---|---|"
if [ "${PAGE:-0}" = 1 ]; then
  header+=" the page's CPU engine (node, one instance) ms per step | reference / page |"
  rule+="---|---|"
fi
echo "$header"
echo "$rule"
printf '%s\n' "${rows[@]}"
echo
echo "Reference: PyTorch $torch_version on the CPU, APD at $(git -C "$APD_REF" rev-parse --short=7 "$APD_REV^{commit}"), SPD at $SPD_REV."
echo "Ours: $APD (checkout at $(git -C "$ROOT" rev-parse --short=7 HEAD 2>/dev/null || echo "?"))."
