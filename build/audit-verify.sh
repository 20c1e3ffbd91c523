#!/usr/bin/env bash
# `make audit-verify`: check the tamper-evident audit chain with dp-audit-verify.
# Without arguments, the `make run` instance: its private cluster, var/secrets/audit_key and
# its error log. An installed module: the admin's database, key file and error log.
#   build/audit-verify.sh DP_AUDIT_VERIFY [DATABASE_URL] [KEY_FILE] [ERROR_LOG]
# (an instance started with DATABASE_URL: give that URL; its key and log are found.)
# Exit status: 0 intact, 1 a broken link (printed), 2 could not check.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tool=$1 url=${2:-} key=${3:-} log=${4:-}
state=$(bash "$root/build/var.sh" "$root")
if [ -z "$key" ] && [ -s "$state/secrets/audit_key" ]; then
    key=$state/secrets/audit_key
    [ -n "$log" ] || [ ! -f "$state/httpd/error.log" ] || log=$state/httpd/error.log
fi
if [ -z "$url" ] && [ -n "$key" ]; then
    export DP_VAR=$state
    bash "$root/build/pg.sh" start
    url=$(bash "$root/build/pg.sh" url owner)
fi
if [ -z "$url" ] || [ -z "$key" ]; then
    echo "usage: make audit-verify DATABASE_URL=postgresql://user@host/db AUDIT_KEY=/etc/apache2/docportal/audit.key [AUDIT_LOG=/var/log/apache2/error.log]"
    echo "(without them: the make run instance, once it has run)"
    exit 2
fi
args=(--key-file "$key")
[ -z "$log" ] || args+=(--log "$log")
DATABASE_URL=$url exec "$tool" "${args[@]}"
