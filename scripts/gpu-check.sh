#!/usr/bin/env bash
# The check for a machine with a real GPU (nothing depends on it; CI has
# none): the native wgpu bench beside the CPU's, then the page benchmark in
# Chromium on the hardware adapter: ms per step on each backend, the time to
# recovery for tms-5-2, tms-40-10 and resid-mlp-1, and what "auto" chose.
# Put its figures in docs/performance.md with the machine they came from.
#   scripts/gpu-check.sh            everything
#   scripts/gpu-check.sh --native   the native bench only
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
build_cli
cd "$ROOT"

echo "== native: ms per step, CPU beside wgpu"
for model in tms-5-2 tms-40-10 resid-mlp-1; do
  for method in apd spd; do
    for backend in cpu wgpu; do
      echo "-- $model $method $backend"
      "$APD" bench --model "$model" --method "$method" --backend "$backend" --steps 20 || echo "(failed: $model $method $backend)"
    done
  done
done
[ "${1:-}" = "--native" ] && exit 0

echo "== page: Chromium on the hardware adapter"
"$ROOT/scripts/build-web.sh"
# Headless Chromium takes a real GPU through Vulkan with these; without a GPU
# it falls back to SwiftShader, and the figures say so (the adapter's name).
export APD_CHROMIUM_FLAGS="${APD_CHROMIUM_FLAGS:---enable-features=Vulkan --use-vulkan=native --use-angle=vulkan --ignore-gpu-blocklist --enable-gpu}"
node tests/e2e/bench.mjs --gpu
