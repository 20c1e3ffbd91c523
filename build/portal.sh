#!/usr/bin/env bash
# `make portal`: the web front end in portal/ built into OUT (default build/out/portal).
# `npm ci` runs only when portal/package-lock.json differs from the one last installed (no
# browser download: the tests drive Debian's chromium); then the type check and the Vite build.
# Usage: build/portal.sh [OUT]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/out/portal}")
cd "$root/portal"

command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "portal.sh: node and npm are needed (bash build/deps.sh --portal)" >&2; exit 1; }

stamp=node_modules/.docportal-lockfile.sha256
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "portal.sh: npm ci (package-lock.json changed)" >&2
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$sum" >"$stamp"
fi
PORTAL_OUT_DIR=$out npm run --silent build
