#!/usr/bin/env bash
# Makes the finished results shipped with the page (www/gallery/), with the
# CLI: each a decomposition at a seed not used to choose the presets, its
# report and the view data the page draws. tests/gallery.rs checks them
# against the engine. About 2 minutes on 2 cores.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
cargo build --release --bin apd
APD="$CARGO_TARGET_DIR/release/apd"
tmp=$(mktemp -d)
# name | model | seed | settings
while IFS='|' read -r name model seed sets; do
  [ -z "$name" ] && continue
  args=()
  for kv in $sets; do args+=(--set "$kv"); done
  "$APD" decompose --model "$model" --seed "$seed" "${args[@]}" --out "$tmp/$name.json" 2>/dev/null > "$tmp/$name.log"
  head -2 "$tmp/$name.log"
  "$APD" views "$tmp/$name.json" --gallery --out "www/gallery/$name.json"
  echo "$name: $(stat -c %s "www/gallery/$name.json") bytes, $(gzip -9 -c "www/gallery/$name.json" | wc -c) gzipped"
done <<'CASES'
tms-5-2-apd|tms-5-2|23|
CASES
