#!/usr/bin/env bash
# Builds the page: the crate for wasm32, wasm-bindgen's JS glue into www/pkg.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo build --lib --target wasm32-unknown-unknown --profile wasm-release
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/apd_playground.wasm"
wasm-bindgen --target web --no-typescript --out-dir www/pkg "$wasm"
raw=$(stat -c %s www/pkg/apd_playground_bg.wasm)
gz=$(gzip -9 -c www/pkg/apd_playground_bg.wasm | wc -c)
echo "build-web: www/pkg/apd_playground_bg.wasm is $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
