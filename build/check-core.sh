#!/usr/bin/env bash
# modules/core must stay pure C (APR, jansson, libjwt, OpenSSL, libcurl): it is linked into the
# unit tests without httpd. Fail on any httpd header there.
set -eu
cd "$(dirname "$0")/.."
bad=$(grep -lE '#include *[<"](httpd|http_[a-z_]+|ap_[a-z_]+|util_[a-z_]+|mod_[a-z_]+)\.h' modules/core/*.[ch] || true)
if [ -n "$bad" ]; then
    echo "modules/core includes httpd headers:" >&2
    echo "$bad" >&2
    exit 1
fi
