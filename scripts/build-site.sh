#!/usr/bin/env bash
# Writes the playground as a self-contained static site to DIR (default
# dist/): the page, both engines, the gallery and a service worker that
# keeps them for offline use. Every URL in it is relative, so it works
# from any path under any static file server (https://host/some/path/),
# and it requests nothing from another origin.
# Usage: scripts/build-site.sh [DIR]   (SITE_VERSION=... names the build; by
#        default a hash of its files, so that the same files give the same version)
set -euo pipefail
source "$(dirname "$0")/env.sh"
out="$(realpath -m "${1:-$ROOT/dist}")"
"$ROOT/scripts/build-web.sh"
cd "$ROOT/www"
# Only an earlier build (or nothing) is replaced.
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && ! grep -qs "apd-playground-" "$out/sw.js"; then
  echo "build-site: $out is not empty and not a site built here; not replacing it" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
# The page's files: its modules, styles, the engines' glue and wasm (not
# their TypeScript declarations), the gallery.
files=(index.html style.css $(ls *.js) pkg/apd_playground.js pkg/apd_playground_bg.wasm
  pkg-cpu/apd_playground.js pkg-cpu/apd_playground_bg.wasm $(find gallery -name '*.json' | sort))
for f in "${files[@]}"; do
  mkdir -p "$out/$(dirname "$f")"
  cp "$f" "$out/$f"
done
version="${SITE_VERSION:-$(cd "$out" && sha256sum "${files[@]}" "$ROOT/scripts/site/sw.js" | sha256sum | cut -c1-16)}"
case "$version" in *[!A-Za-z0-9._-]*) echo "build-site: SITE_VERSION may hold letters, digits, '.', '_' and '-' only" >&2; exit 1;; esac
list=$(printf '"./%s",' "${files[@]}")"\"./\""
sed "s/__VERSION__/$version/; s#__FILES__#[$list]#" "$ROOT/scripts/site/sw.js" > "$out/sw.js"
# The page registers the service worker only where this says it may.
sed -i "s#<head>#<head>\n  <meta name=\"apd-site-version\" content=\"$version\">#" "$out/index.html"
echo "build-site: $out ($(du -sh "$out" | cut -f1), version $version)"
