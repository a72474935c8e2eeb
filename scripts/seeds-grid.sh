#!/usr/bin/env bash
# Makes the seed grids shipped with the page (www/gallery/seeds/): one model
# decomposed with one set of settings on consecutive seeds, each seed a
# gallery entry (the format of scripts/gallery.sh, checked the same way by
# tests/gallery.rs), so that the page shows seed sensitivity before the
# engine has loaded. Each grid below takes 10 to 15 minutes on one core.
# Usage: scripts/seeds-grid.sh [NAME...]   (default: every grid below)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
build_cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p www/gallery/seeds
# name | model | method | seeds (A..B, B excluded) | settings | title | note
grids() {
  cat <<'GRIDS'
tms-5-2-apd-paper|tms-5-2|apd|0..12|apd.extra_components=0 apd.restarts=0 scale.rescale=false|APD as in the paper, twelve seeds|The paper's settings, without this project's restarts, spare component or scale: some seeds end with two features in one component.
tms-5-2-apd|tms-5-2|apd|0..12||APD with this project's additions, the same twelve seeds|The preset (restarts, a spare component, the target at the scale the settings were measured at) on the same seeds and targets as the grid above.
GRIDS
}
wanted=("$@")
while IFS='|' read -r name model method seeds sets title note; do
  [ -z "$name" ] && continue
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then continue; fi
  args=(--method "$method")
  for kv in $sets; do args+=(--set "$kv"); done
  cells=()
  for ((s = ${seeds%..*}; s < ${seeds#*..}; s++)); do
    "$APD" decompose --model "$model" --seed "$s" "${args[@]}" --out "$tmp/$s.json" 2>"$tmp/$s.err" > "$tmp/$s.log" || { cat "$tmp/$s.err" >&2; exit 1; }
    grep -E "^(MMCS|dedicated)" "$tmp/$s.log" | sed "s/^/seed $s: /"
    "$APD" views "$tmp/$s.json" --gallery --out "$tmp/cell-$s.json"
    cells+=("$tmp/cell-$s.json")
  done
  node -e '
const fs=require("fs");const [out,name,title,note,...cells]=process.argv.slice(1);
const entries=cells.map((f)=>JSON.parse(fs.readFileSync(f)));
const {model,method}=entries[0];
fs.writeFileSync(out,JSON.stringify({name,title,note,model,method,cells:entries}));' \
    "www/gallery/seeds/$name.json" "$name" "$title" "$note" "${cells[@]}"
  echo "$name: $(stat -c %s "www/gallery/seeds/$name.json") bytes, $(gzip -9 -c "www/gallery/seeds/$name.json" | wc -c) gzipped"
done < <(grids)
