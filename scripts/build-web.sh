#!/usr/bin/env bash
# Builds the page's package into www/pkg: the crate for wasm32 and
# wasm-bindgen's JS glue, by wasm-pack (offline: the pinned wasm-bindgen on
# PATH, no wasm-opt), with the size-optimised profile the wasm tests share.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
wasm-pack --quiet build --target web --out-dir www/pkg --no-typescript --no-pack --profile wasm-release
raw=$(stat -c %s www/pkg/apd_playground_bg.wasm)
gz=$(gzip -9 -c www/pkg/apd_playground_bg.wasm | wc -c)
echo "build-web: www/pkg/apd_playground_bg.wasm is $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
