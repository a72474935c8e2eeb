#!/usr/bin/env bash
# Every test: native (CPU, and wgpu where an adapter exists), wasm in headless
# Chromium (CPU and WebGPU), and the end-to-end page test.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

echo "== native tests (cargo test --release)"
cargo test --release -- --nocapture 2>&1 | grep -v '^\s*$'

echo "== wasm tests in headless Chromium (wasm-pack test, sharing the page's wasm-release build)"
wasm-pack test --headless --chrome -- --profile wasm-release --test web

echo "== end-to-end page test"
"$ROOT/scripts/build-web.sh"
export APD_SCREENSHOTS="${APD_SCREENSHOTS:-$(mktemp -d)}"
node --test --test-reporter=spec tests/e2e/
# The page's exported report must load in the CLI too.
"$CARGO_TARGET_DIR/release/apd" inspect "$APD_SCREENSHOTS/report.json"
