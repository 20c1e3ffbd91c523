#!/usr/bin/env bash
# `make sqlmap`: an SQL injection scan of every route with Debian's sqlmap. Starts its own dev
# instance (build/instance.sh, state in var/sqlmap-run, free ports, a private PostgreSQL), seeds
# a practice through the API and writes one request file per route and role from
# docs/openapi.json (build/sqlmap/plan.py: path and query parameters, every JSON body member,
# the Stripe-Signature header, the session header where a route has nothing else; and, on three
# routes, the Bearer and cookie sessions, X-Forwarded-Proto and Accept), each point marked `*`.
# Runs sqlmap on each (SQLMAP_JOBS at once), prints a summary and exits 1 when sqlmap names any
# point injectable. The instance is stopped and removed on exit; sqlmap's output and logs stay
# in var/sqlmap/.
#
# The instance's limits are raised so that the scan's thousands of requests from one address
# are answered like the first: DocPortalLockout / DocPortalLockoutIP (failed sign-ins),
# DocPortalRegisterLimit, DocPortalPasswordResetLimit, DocPortalMaxPendingPerClient. The 30
# PaymentIntents a client may ask for in an hour have no directive: almost every payload fails
# validation (422) and the few valid requests answer 502 (no Stripe behind the instance).
#
# Knobs: SQLMAP_LEVEL (3), SQLMAP_RISK (2), SQLMAP_TECHNIQUE (BEST: boolean, error, stacked,
# time-based), SQLMAP_TIME_SEC (1), SQLMAP_JOBS (3), SQLMAP_ONLY (a regular expression: only
# the request files whose name matches), SQLMAP_KEEP=1 (leave the instance running).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LEVEL=${SQLMAP_LEVEL:-3}
RISK=${SQLMAP_RISK:-2}
TECHNIQUE=${SQLMAP_TECHNIQUE:-BEST}
TIME_SEC=${SQLMAP_TIME_SEC:-1}
JOBS=${SQLMAP_JOBS:-3}
ONLY=${SQLMAP_ONLY:-.}
say() { echo "sqlmap-scan: $*" >&2; }
die() { echo "sqlmap-scan: $*" >&2; exit 2; }
for v in LEVEL RISK TIME_SEC JOBS; do
    case ${!v} in '' | *[!0-9]*) die "SQLMAP_$v must be a whole number" ;; esac
done

bash build/deps.sh --sqlmap
var=$(bash build/var.sh "$root")
state=$var/sqlmap-run
out=$var/sqlmap
export DOCPORTAL_STATE=$state
instance() { bash build/instance.sh "$@"; }
cleanup() {
    if [ "${SQLMAP_KEEP:-0}" = 1 ]; then
        say "kept: http://127.0.0.1:$DOCPORTAL_PORT (DOCPORTAL_STATE=$state bash build/instance.sh stop)"
        return
    fi
    instance stop >/dev/null 2>&1 || true
    DP_VAR=$state bash build/pg.sh destroy >/dev/null 2>&1 || true
    rm -rf "$state"
}
if [ -d "$state" ]; then
    say "removing the instance of an interrupted run ($state)"
    cleanup
fi
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out/logs"

export DOCPORTAL_PG_PORT DOCPORTAL_PORT
DOCPORTAL_PG_PORT=$(bash build/freeport.sh)
DOCPORTAL_PORT=$(bash build/freeport.sh $((DOCPORTAL_PG_PORT + 1)))
export REGISTER_LIMIT=1000000 MAX_PENDING_PER_CLIENT=100000 BOOKING_HORIZON_DAYS=3650
export DOCPORTAL_HTTPD_EXTRA='DocPortalLockout 1000000 1 1
DocPortalLockoutIP 1000000 1 1
DocPortalPasswordResetLimit 1000000
DocPortalCookieSessions On
DocPortalTrustForwardedProto On'
unset DATABASE_URL DB_NAME STRIPE_SECRET_KEY SMTP_URL
instance start >/dev/null
base=http://127.0.0.1:$DOCPORTAL_PORT
app_url=$(DP_VAR=$state bash build/pg.sh url app)
python3 build/sqlmap/plan.py "$base" "$app_url" docs/openapi.json "$out"

version=$(sqlmap --version 2>/dev/null | grep -Eo '^[0-9][0-9.]*[^ ]*' | head -n 1)
access=$state/httpd/access.log
requests_before=$(wc -l <"$access")
started=$(date +%s)
mapfile -t files < <(cd "$out/requests" && printf '%s\n' *.req | grep -E -- "$ONLY")
[ "${#files[@]}" -gt 0 ] || die "no request file matches SQLMAP_ONLY=$ONLY"
say "sqlmap $version, level $LEVEL, risk $RISK, technique $TECHNIQUE, time-sec $TIME_SEC: ${#files[@]} request files, $JOBS at once, on $base"

# one sqlmap per request file; its console output goes to logs/NAME.txt
# User-Agent and Referer (which level 3 adds to every request) only where the request headers
# are the subject: the module reads neither. 401 and 404 do not stop sqlmap: a DELETE removes
# its row on the first request and answers 404 from then on, payloads in a token answer 401.
scan_one() {
    local f=$1 name=${1%.req} skip=("--skip=user-agent,referer")
    case $name in *-headers | *-cookie) skip=() ;; esac
    timeout 1800 sqlmap -r "$out/requests/$f" "${skip[@]}" --batch --dbms=PostgreSQL --level="$LEVEL" \
        --risk="$RISK" --technique="$TECHNIQUE" --time-sec="$TIME_SEC" --timeout=30 --retries=1 \
        --ignore-code=401,404 --flush-session --disable-coloring --skip-waf --ignore-stdin \
        --output-dir="$out/output/$name" >"$out/logs/$name.txt" 2>&1 </dev/null
    echo "$?" >"$out/logs/$name.rc"
}
export -f scan_one
export out LEVEL RISK TECHNIQUE TIME_SEC
printf '%s\n' "${files[@]}" | xargs -P "$JOBS" -I{} bash -c 'scan_one "$@"' _ {}
seconds=$(($(date +%s) - started))
requests=$(($(wc -l <"$access") - requests_before))

# ------------------------------------------------------------------ the result
found=0 failed=0 points=0 tested=0 routes=()
for f in "${files[@]}"; do
    name=${f%.req}
    log=$out/logs/$name.txt
    points=$((points + $(awk -F'\t' -v f="$f" '$1 == f {print $5}' "$out/requests.tsv")))
    routes+=("$(awk -F'\t' -v f="$f" '$1 == f {print $2, $3}' "$out/requests.tsv")")
    tested=$((tested + $(grep -cE "(parameter|header) '.*' does not seem to be injectable|is vulnerable|appears to be .* injectable" "$log" || true)))
    # injectable: sqlmap's own verdicts, and the injection points it records per target
    if grep -qE "identified the following injection point|is vulnerable\. Do you want|parameter '.*' is '.*' injectable" "$log" ||
        find "$out/output/$name" -name log -size +0 2>/dev/null | grep -q .; then
        found=$((found + 1))
        say "INJECTABLE: $f"
        grep -E "injectable|is vulnerable|Parameter: |Type: |Title: |Payload: " "$log" | sed 's/^/    /' >&2
    elif ! grep -q "all tested parameters do not appear to be injectable" "$log"; then
        failed=$((failed + 1))
        say "did not complete: $f ($(grep -m1 -E '\[CRITICAL\]' "$log" | cut -c1-200))"
    fi
done
nroutes=$(printf '%s\n' "${routes[@]}" | sort -u | wc -l)
say "summary: $nroutes routes, ${#files[@]} request files (a route per role, and the header files), $points injection points, $tested verdicts by sqlmap, $requests HTTP requests in $seconds s"
say "sqlmap $version --level=$LEVEL --risk=$RISK --technique=$TECHNIQUE --time-sec=$TIME_SEC; output: $out"
if [ "$found" -gt 0 ]; then
    say "FAILED: $found request file(s) with an injectable point"
    exit 1
fi
if [ "$failed" -gt 0 ]; then
    say "FAILED: $failed request file(s) where sqlmap did not complete (logs in $out/logs)"
    exit 2
fi
say "no injectable point found"
