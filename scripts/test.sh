#!/usr/bin/env bash
# Every test: the fast checks first (formatting, the page's types, lints),
# then native (CPU, and wgpu on lavapipe), wasm in headless Chromium (CPU
# and WebGPU), and the end-to-end page tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

echo "== types (tsc --noEmit)"
npx --no-install tsc --noEmit -p .

echo "== format (cargo fmt --check)"
cargo fmt --check

echo "== lints (cargo clippy --all-targets -- -D warnings)"
cargo clippy --all-targets -- -D warnings

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
