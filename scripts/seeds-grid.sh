#!/usr/bin/env bash
# Makes the seed grids shipped with the page (www/gallery/seeds/): one model
# decomposed with one set of settings on consecutive seeds, each seed a
# gallery entry (the format of scripts/gallery.sh, checked the same way by
# tests/gallery.rs), so that the page shows seed sensitivity before the
# engine has loaded. Each grid below takes 10 to 25 minutes on one core.
# Usage: scripts/seeds-grid.sh [NAME...]   (default: every grid below)
#        scripts/seeds-grid.sh --views-only [NAME...]  (each cell's view data again from its own
#        report, after the view code changed: seconds)
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
tms-5-2-id-apd|tms-5-2-id|apd|20..32||APD on tms-5-2-id (an identity layer between W and W^T), twelve seeds|The preset, on seeds no setting was chosen on. APD fails on the identity variants (spec section 5): the components of W come out short (ML2R far below 0.85) or two features share one.
tms-5-2-id-spd|tms-5-2-id|spd|20..32||SPD on tms-5-2-id, the same twelve seeds|SPD's preset (batch 256, the reference code's later additions, four starts) on the same seeds and targets as the APD grid: what replaced APD, where APD fails. No setting was chosen on these seeds.
tms-5-2-id-vpd|tms-5-2-id|vpd|20..32||VPD on tms-5-2-id, the same twelve seeds|VPD's preset (SPD's short schedule, six starts of which the one where the most features alone need a subcomponent of W of their own goes on) on the same seeds and targets as the APD and SPD grids. No setting was chosen on these seeds.
GRIDS
}
views_only=0
[ "${1:-}" = "--views-only" ] && { views_only=1; shift; }
wanted=("$@")
while IFS='|' read -r name model method seeds sets title note; do
  [ -z "$name" ] && continue
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then continue; fi
  if [ $views_only = 1 ]; then
    grid="www/gallery/seeds/$name.json"
    [ -f "$grid" ] || continue
    n=$(node -e 'const g=JSON.parse(require("fs").readFileSync(process.argv[1]));g.cells.forEach((c,i)=>require("fs").writeFileSync(`${process.argv[2]}/r-${i}.json`,JSON.stringify(c.report)));console.log(g.cells.length)' "$grid" "$tmp")
    for ((i = 0; i < n; i++)); do "$APD" views "$tmp/r-$i.json" --gallery --out "$tmp/v-$i.json"; done
    node -e '
const fs=require("fs");const [f,dir]=process.argv.slice(1);const g=JSON.parse(fs.readFileSync(f));
g.cells=g.cells.map((c,i)=>{const v=JSON.parse(fs.readFileSync(`${dir}/v-${i}.json`));v.report=c.report;return v;});
fs.writeFileSync(f,JSON.stringify(g));' "$grid" "$tmp"
    echo "$name: views again for $n cells"
    continue
  fi
  args=(--method "$method")
  for kv in $sets; do args+=(--set "$kv"); done
  cells=()
  for ((s = ${seeds%..*}; s < ${seeds#*..}; s++)); do
    "$APD" decompose --model "$model" --seed "$s" "${args[@]}" --out "$tmp/$s.json" 2>"$tmp/$s.err" > "$tmp/$s.log" || { cat "$tmp/$s.err" >&2; exit 1; }
    grep -E "^(MMCS|dedicated)" "$tmp/$s.log" | sed "s/^/seed $s: /"
    "$APD" views "$tmp/$s.json" --gallery --out "$tmp/cell-$s.json"
    cells+=("$tmp/cell-$s.json")
  done
  # A grid ships a dozen entries: each keeps about 100 points of its loss
  # history (evenly spaced, the last kept, as the gallery thins to 500), so
  # that an SPD grid stays under the 2 MiB a shipped file may weigh.
  node -e '
const fs=require("fs");const [out,name,title,note,...cells]=process.argv.slice(1);
const thin=(h)=>{const k=Math.max(1,Math.ceil(h.length/100));const o=h.filter((_,i)=>i%k===0);if(h.length&&o[o.length-1]!==h[h.length-1])o.push(h[h.length-1]);return o;};
const entries=cells.map((f)=>JSON.parse(fs.readFileSync(f)));
for(const e of entries){e.report.record.history=thin(e.report.record.history);}
const {model,method}=entries[0];
fs.writeFileSync(out,JSON.stringify({name,title,note,model,method,cells:entries}));' \
    "www/gallery/seeds/$name.json" "$name" "$title" "$note" "${cells[@]}"
  echo "$name: $(stat -c %s "www/gallery/seeds/$name.json") bytes, $(gzip -9 -c "www/gallery/seeds/$name.json" | wc -c) gzipped"
done < <(grids)
