#!/usr/bin/env bash
# Makes the finished results shipped with the page (www/gallery/), with the
# CLI: each a decomposition at a seed not used to choose the presets, its
# report and the view data the page draws, plus a title and a note for the
# page, and the list the page's gallery shows (index.json).
# tests/gallery.rs checks every file against the engine.
# Usage: scripts/gallery.sh [NAME...]   (default: every case below; each takes 1 to 2 minutes,
#        tms-40-10 about 25)
#        scripts/gallery.sh --views-only  (the view data again from each file's own report, after
#        the view code changed: seconds)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
cargo build --release --bin apd
APD="$CARGO_TARGET_DIR/release/apd"
tmp=$(mktemp -d)
# name | model | seed | settings | title | note
cases() {
  cat <<'CASES'
tms-5-2-apd|tms-5-2|23||A finished decomposition|
tms-5-2-apd-paper-failed|tms-5-2|6|apd.extra_components=0 apd.restarts=0 scale.rescale=false|A seed where APD as published fails|Decomposed as in the paper: no restarts, no spare component, the target as it is. With this project's additions the same seed is recovered.
resid-mlp-custom-apd|resid-mlp-custom|7||Compressed computation|20 features computed by 10 neurons: each feature's component should repeat its row of the neuron map.
tms-40-10-apd|tms-40-10|23||40 features in 10 dimensions|Too slow for a tab on the CPU (20,000 steps of about 60 ms each natively). Short of this project's success bar on this seed; the paper reports MMCS 0.996 and ML2R 0.935.
CASES
}
views_only=0
[ "${1:-}" = "--views-only" ] && { views_only=1; shift; }
wanted=("$@")
while IFS='|' read -r name model seed sets title note; do
  [ -z "$name" ] && continue
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then continue; fi
  if [ $views_only = 1 ]; then
    [ -f "www/gallery/$name.json" ] || continue
    node -e 'const fs=require("fs");fs.writeFileSync(process.argv[2],JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1])).report))' "www/gallery/$name.json" "$tmp/$name.json"
  else
    args=()
    for kv in $sets; do args+=(--set "$kv"); done
    "$APD" decompose --model "$model" --seed "$seed" "${args[@]}" --out "$tmp/$name.json" 2>/dev/null > "$tmp/$name.log"
    head -2 "$tmp/$name.log"
  fi
  "$APD" views "$tmp/$name.json" --gallery --out "www/gallery/$name.json"
  node -e 'const fs=require("fs");const [f,title,note]=process.argv.slice(1);const e=JSON.parse(fs.readFileSync(f));e.title=title;if(note)e.note=note;fs.writeFileSync(f,JSON.stringify(e))' "www/gallery/$name.json" "$title" "$note"
  echo "$name: $(stat -c %s "www/gallery/$name.json") bytes, $(gzip -9 -c "www/gallery/$name.json" | wc -c) gzipped"
done < <(cases)
# The list the page shows, in the order above, of the files that exist.
node -e '
const fs=require("fs");
const names=process.argv.slice(1).filter((n)=>fs.existsSync(`www/gallery/${n}.json`));
const items=names.map((name)=>{const e=JSON.parse(fs.readFileSync(`www/gallery/${name}.json`));const m=e.views.metrics;
  return {name,model:e.model,method:e.method,seed:e.seed,title:e.title,wall_s:e.wall_s,
    figures:m.resid?`${m.resid.n_dedicated} of ${m.resid.dedicated.length} features with their own component`:`MMCS ${m.mmcs.toFixed(3)}, ML2R ${m.ml2r.toFixed(3)}`};});
fs.writeFileSync("www/gallery/index.json",JSON.stringify(items,null,1)+"\n");' $(cases | cut -d'|' -f1)
