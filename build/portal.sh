#!/usr/bin/env bash
# The web front end in portal/.
#   build/portal.sh build [OUT]   `make portal`: built into OUT (default build/out/portal). `npm ci`
#                                 runs only when portal/package-lock.json differs from the one
#                                 last installed (no browser download: the tests drive Debian's
#                                 chromium); then the API's types from docs/openapi.json
#                                 (portal/src/api/schema.d.ts), the type check and the Vite
#                                 build.
#   build/portal.sh stage DEST    the built files copied to DEST (a directory httpd's children can
#                                 read), for make run/start and the test server; when the portal
#                                 is not built, a one-line page saying so (so that httpd's
#                                 FallbackResource always finds its index.html).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
built=$root/build/out/portal

case ${1:-} in
build)
    out=$(realpath -m "${2:-$built}")
    cd "$root/portal"
    command -v node >/dev/null && command -v npm >/dev/null ||
        { echo "portal.sh: node and npm are needed (bash build/deps.sh --portal)" >&2; exit 1; }
    # npm also trusts the system's certificate store (where a site adds its own authority with
    # update-ca-certificates), not only the list built into Node.
    if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
        export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    fi
    stamp=node_modules/.docportal-lockfile.sha256
    sum=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        echo "portal.sh: npm ci (package-lock.json changed)" >&2
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
        echo "$sum" >"$stamp"
    fi
    # the API's types from its OpenAPI document, so that the portal follows the API
    if [ -f "$root/docs/openapi.json" ]; then
        npm run --silent api-types >/dev/null
    fi
    PORTAL_OUT_DIR=$out npm run --silent build
    ;;
stage)
    dest=${2:?usage: portal.sh stage DEST}
    rm -rf "$dest.new"
    if [ -f "$built/index.html" ]; then
        cp -R "$built" "$dest.new"
    else
        mkdir -p "$dest.new"
        printf '<!doctype html>\n<html lang="en"><title>DocPortal</title><p>The portal is not built: run make portal.</p></html>\n' \
            >"$dest.new/index.html"
    fi
    chmod -R a+rX "$dest.new"
    rm -rf "$dest"
    mv "$dest.new" "$dest"
    ;;
*)
    echo "usage: build/portal.sh build [OUT] | stage DEST" >&2
    exit 2
    ;;
esac
