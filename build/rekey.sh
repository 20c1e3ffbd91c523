#!/usr/bin/env bash
# `make rekey`: run dp-rekey against an admin's database and httpd configuration, or, when
# neither is given, against the `make run` instance.
#   build/rekey.sh DP_REKEY [DATABASE_URL] [CONF] [dp-rekey options...]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tool=$1 url=${2:-} conf=${3:-}
shift 3 || shift $#
if [ -z "$url" ] && [ -z "$conf" ]; then
    export DP_VAR
    DP_VAR=$(bash "$root/build/var.sh" "$root")
    bash "$root/build/pg.sh" start
    url=$(bash "$root/build/pg.sh" url owner)
    conf=$DP_VAR/httpd/httpd.conf
    [ -f "$conf" ] || { echo "rekey: no $conf yet: run make run (or make start) once"; exit 2; }
fi
[ -n "$url" ] && [ -n "$conf" ] || {
    echo "usage: make rekey DATABASE_URL=postgresql://owner@host/db CONF=httpd.conf [REKEY_ARGS=--dry-run]"
    exit 2
}
DATABASE_URL=$url exec "$tool" --keys-from-conf "$conf" "$@"
