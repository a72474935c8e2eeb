#!/usr/bin/env bash
# Builds the page's two packages: www/pkg-cpu, the crate for wasm32 with
# burn's CPU backend (the worker loads it first and runs everything on it
# but WebGPU runs), and www/pkg, the WebGPU backend alone (loaded when a
# run may use WebGPU; built for size: its own profile), each with
# wasm-bindgen's JS glue and its TypeScript declarations (what tsc checks
# the worker against once the packages exist; www/engine.d.ts before), by
# wasm-pack (offline: the pinned wasm-bindgen on PATH, no wasm-opt).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
wasm-pack --quiet build --target web --out-dir www/pkg-cpu --no-pack --profile wasm-release-cpu -- --no-default-features --features cpu
wasm-pack --quiet build --target web --out-dir www/pkg --no-pack --profile wasm-release-gpu -- --no-default-features --features webgpu
for pkg in pkg pkg-cpu; do
  raw=$(stat -c %s "www/$pkg/apd_playground_bg.wasm")
  gz=$(gzip -9 -c "www/$pkg/apd_playground_bg.wasm" | wc -c)
  echo "build-web: www/$pkg/apd_playground_bg.wasm is $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
done
