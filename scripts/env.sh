# Shared by the scripts: where builds and tools live. Kept outside the
# checkout so that repeated runs on one machine (and fresh clones, as CI
# makes) build incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/apd-target}"
export APD_TOOLS="${APD_TOOLS:-$HOME/.cache/apd-playground/tools}"
export PATH="$APD_TOOLS/bin:$HOME/.cargo/bin:$PATH"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
