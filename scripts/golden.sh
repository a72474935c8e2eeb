#!/usr/bin/env bash
# Records (or, with --check, compares against) the golden outputs in
# tests/golden/: reports of short `apd decompose` runs at fixed seeds and the
# view data `apd views` computes from them, with the wall-clock timing left
# out. Run before and after a change that must not change behaviour: with
# --check it fails unless every file is byte-identical. tests/golden.rs
# checks the same cases through the library on every test run.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
APD="${APD:-}"
[ -n "$APD" ] || build_cli
out="tests/golden"
[ "${1:-}" = "--check" ] && out="$(mktemp -d)"
mkdir -p "$out"
# gemm picks its matrix kernels by the CPU's features at run time, and other
# kernels may round differently: say which ones these outputs were made with.
flags=$(grep -m1 '^flags' /proc/cpuinfo)
feature() { case " $flags " in *" $1 "*) echo "$1=1";; *) echo "$1=0";; esac; }
echo "$(feature avx2) $(feature fma) $(feature avx512f)" > "$out/cpu.txt"
strip_timing() { node -e 'const fs=require("fs");const r=JSON.parse(fs.readFileSync(process.argv[1]));delete r.timing;fs.writeFileSync(process.argv[1],JSON.stringify(r,null,1)+"\n")' "$1"; }
# name | model | seed | settings | method, apd when empty (the same list tests/golden.rs runs)
while IFS='|' read -r name model seed sets method; do
  [ -z "$name" ] && continue
  args=(--method "${method:-apd}")
  for kv in $sets; do args+=(--set "$kv"); done
  "$APD" decompose --model "$model" --seed "$seed" "${args[@]}" --out "$out/$name.report.json" > /dev/null 2>&1
  "$APD" views "$out/$name.report.json" --feature 1 --out "$out/$name.views.json"
  strip_timing "$out/$name.report.json"
  node -e 'const fs=require("fs");const v=JSON.parse(fs.readFileSync(process.argv[1]));fs.writeFileSync(process.argv[1],JSON.stringify(v,null,1)+"\n")' "$out/$name.views.json"
done < tests/golden/cases.txt
if [ "${1:-}" = "--check" ]; then
  diff -r -q -x cases.txt tests/golden "$out" && echo "golden: every output is byte-identical"
fi
