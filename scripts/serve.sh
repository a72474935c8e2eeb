#!/usr/bin/env bash
# Builds the playground and serves it on http://127.0.0.1:${PORT:-8080}/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/build-web.sh"
exec node "$ROOT/tests/e2e/serve.mjs" "$ROOT/www" "${PORT:-8080}"
