#!/usr/bin/env bash
# Installs what building and testing need, skipping what is already there:
# Debian packages (Chromium + ChromeDriver for the browser tests, Mesa's
# lavapipe so native wgpu has an adapter), the wasm32 target, the
# wasm-bindgen CLI at exactly the version in Cargo.lock and wasm-pack, both
# built from crates.io.
set -euo pipefail
source "$(dirname "$0")/env.sh"

need_apt=()
# APD_NO_BROWSER=1 (a build of the site alone, as .github/workflows/pages.yml
# runs it) skips the browser and the Vulkan drivers, which only tests use.
packages=(chromium chromium-driver mesa-vulkan-drivers libvulkan1)
[ "${APD_NO_BROWSER:-}" = 1 ] && packages=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

want=$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "setup: building wasm-bindgen-cli $want from crates.io (a few minutes, once)"
  # Not --locked: a yanked pin in its lock file has broken that before.
  cargo install -q wasm-bindgen-cli --version "$want" --root "$APD_TOOLS"
fi

WASM_PACK_VERSION=0.15.1
have=$(wasm-pack --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$WASM_PACK_VERSION" ]; then
  echo "setup: building wasm-pack $WASM_PACK_VERSION from crates.io (a few minutes, once)"
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --root "$APD_TOOLS"
fi

if [ -f "$ROOT/package.json" ] && { [ ! -d "$ROOT/node_modules/playwright-core" ] || [ ! -d "$ROOT/node_modules/typescript" ]; }; then
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi
