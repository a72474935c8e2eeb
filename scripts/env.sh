# Shared by the scripts: where builds and tools live. Kept outside the
# checkout so that repeated runs on one machine (and fresh clones, as CI
# makes) build incrementally.
# Two checkouts that share it must not build in turn: cargo copies each
# crate's final artifact (the page's .wasm, the `apd` binary) to one path,
# and a checkout whose build is already fresh does not copy its own back
# (touch a source file there, or set CARGO_TARGET_DIR per checkout).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/apd-target}"
# Tools built from crates.io (wasm-bindgen-cli, wasm-pack) go where cargo
# puts installed binaries, on every shell's PATH after rustup, so that a
# plain `wasm-pack test` finds the pinned wasm-bindgen and downloads nothing.
export APD_TOOLS="${APD_TOOLS:-${CARGO_HOME:-$HOME/.cargo}}"
export PATH="$APD_TOOLS/bin:$HOME/.cargo/bin:$PATH"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# The release CLI, for the scripts that make shipped results: builds it
# and sets APD to its path.
build_cli() {
  (cd "$ROOT" && cargo build --release --bin apd)
  APD="$CARGO_TARGET_DIR/release/apd"
}
