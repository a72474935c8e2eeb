#!/usr/bin/env bash
# Builds the page's two packages: www/pkg, the crate for wasm32 with
# WebGPU and the CPU backend, and www/pkg-cpu, the CPU backend alone (a
# fifth of the weight; the worker loads it unless a run needs WebGPU), each
# with wasm-bindgen's JS glue, by wasm-pack (offline: the pinned
# wasm-bindgen on PATH, no wasm-opt). The full package uses the
# size-optimised profile the wasm tests share.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
wasm-pack --quiet build --target web --out-dir www/pkg --no-typescript --no-pack --profile wasm-release
wasm-pack --quiet build --target web --out-dir www/pkg-cpu --no-typescript --no-pack --profile wasm-release-cpu -- --no-default-features
for pkg in pkg pkg-cpu; do
  raw=$(stat -c %s "www/$pkg/apd_playground_bg.wasm")
  gz=$(gzip -9 -c "www/$pkg/apd_playground_bg.wasm" | wc -c)
  echo "build-web: www/$pkg/apd_playground_bg.wasm is $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
done
