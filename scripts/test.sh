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

echo "== native build (cargo test --release --no-run)"
cargo test --release --no-run

# After the native build and in its profile, so that it reuses that build's
# build scripts and proc-macros: 1.5 min here, where a dev-profile check of
# every dependency took about 7.
echo "== lints (cargo clippy --release --all-targets -- -D warnings)"
cargo clippy --release --all-targets -- -D warnings

echo "== native tests (cargo test --release)"
cargo test --release -- --nocapture 2>&1 | grep -v '^\s*$'

echo "== wasm tests in headless Chromium (wasm-pack test, profile wasm-release)"
wasm-pack test --headless --chrome -- --profile wasm-release --test web

echo "== end-to-end page test"
"$ROOT/scripts/build-web.sh"
# Again, now against the engines' own declarations (wasm-bindgen's).
npx --no-install tsc --noEmit -p .
export APD_SCREENSHOTS="${APD_SCREENSHOTS:-$(mktemp -d)}"
node --test --test-reporter=spec tests/e2e/
# The page's exported report must load in the CLI too.
"$CARGO_TARGET_DIR/release/apd" inspect "$APD_SCREENSHOTS/report.json"
