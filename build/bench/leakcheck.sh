#!/usr/bin/env bash
# Leak check behind `make bench`'s memory target: is there memory a request leaves behind
# outside its pool? Runs the instance a `BENCH_KEEP=1 make bench` left running as one httpd
# process (-X) under valgrind's memcheck, twice: a short load and one LEAK_FACTOR times
# longer, on the benchmarked endpoints (wrk, 4 connections, TLS). A per-request leak grows
# with the number of requests; what the process keeps for its life (configuration, the
# connection pool, library state) does not. Prints both runs' leak summaries and the
# requests served, and exits 1 when the longer run lost more ("definitely" or "indirectly"
# lost) than the shorter one. Slow (valgrind): about 5 minutes with the defaults.
#
#   BENCH_KEEP=1 make bench        (or a quick one: BENCH_DURATION=2 BENCH_ROUNDS=1 ...)
#   bash build/bench/leakcheck.sh  then stop the instance: see the end of this output
#
# Knobs: LEAK_SECONDS (per endpoint in the short run, 5), LEAK_FACTOR (4).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
run=$(bash build/var.sh "$root")/bench-run
conf=$run/httpd/httpd.conf
HTTPD=${HTTPD:-/usr/sbin/apache2}
SECONDS_SHORT=${LEAK_SECONDS:-5}
FACTOR=${LEAK_FACTOR:-4}
die() { echo "leakcheck: $*" >&2; exit 2; }

[ -f "$conf" ] && [ -f "$run/gen/vars" ] || die "no kept bench instance: run BENCH_KEEP=1 make bench first"
command -v valgrind >/dev/null || bash build/deps.sh valgrind
command -v valgrind >/dev/null || die "no valgrind"
port=$(sed -n 's/^Listen 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$conf")
base=https://127.0.0.1:$port
var() { sed -n "s/^$1=//p" "$run/gen/vars"; }
token=$(var token)
cid=$(var cid)

stop_httpd() { # (under valgrind, -X leaves its pid file behind: wait for the process)
    local pid
    [ -f "$run/httpd/httpd.pid" ] || return 0
    pid=$(cat "$run/httpd/httpd.pid")
    "$HTTPD" -f "$conf" -k stop 2>/dev/null || true
    for _ in $(seq 600); do
        if ! kill -0 "$pid" 2>/dev/null; then rm -f "$run/httpd/httpd.pid"; return 0; fi
        sleep 0.2
    done
    die "httpd did not stop"
}

load() { # method path token bodies seconds
    BENCH_METHOD=$1 BENCH_PATH=$2 BENCH_TOKEN=$3 BENCH_BODIES=$4 BENCH_OUT=$run/leak.jsonl \
    BENCH_LABEL="leak run 1" BENCH_TIMED=0 \
        wrk -t1 -c4 -d"$5s" --timeout 60s -s build/bench/wrk.lua "$base$2" >/dev/null 2>&1
}

one_run() { # seconds log
    local secs=$1 log=$2
    stop_httpd
    rm -f "$run/leak.jsonl"
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
        --num-callers=40 --log-file="$log" "$HTTPD" -X -f "$conf" &
    for i in $(seq 240); do
        curl -ksf "$base/api/health" 2>/dev/null | grep -q '"status":"ok"' && break
        [ "$i" -lt 240 ] || die "httpd under valgrind did not become healthy ($log)"
        sleep 0.5
    done
    load GET /api/auth/me "$token" "" "$secs"
    load GET /api/provider/appointments "$token" "" "$secs"
    load GET "/api/messages?conversationWith=$cid" "$token" "" "$secs"
    load POST /api/messages "$token" "$run/gen/message.bodies" "$secs"
    load POST /api/auth/login "" "$run/gen/login.bodies" "$secs"
    stop_httpd
    wait || true
    perl -MJSON::PP -ne '$n += decode_json($_)->{requests}; END { print $n + 0 }' "$run/leak.jsonl"
}

lost() { # log -> bytes definitely + indirectly lost
    perl -ne '$n += ($1 =~ tr/,//dr) if /(?:definitely|indirectly) lost: ([\d,]+) bytes/; END { print $n + 0 }' "$1"
}

short_log=$run/valgrind-short.log long_log=$run/valgrind-long.log
n1=$(one_run "$SECONDS_SHORT" "$short_log")
n2=$(one_run $((SECONDS_SHORT * FACTOR)) "$long_log")
l1=$(lost "$short_log") l2=$(lost "$long_log")
for f in "$short_log" "$long_log"; do
    echo "== $f"
    sed -n '/LEAK SUMMARY/,/suppressed/p; /ERROR SUMMARY/p' "$f" | sed 's/^==[0-9]*== //'
done
echo "leakcheck: $n1 requests: $l1 bytes lost; $n2 requests: $l2 bytes lost"
"$HTTPD" -f "$conf" -k start
echo "leakcheck: the instance runs again as before; to stop it: $HTTPD -f $conf -k stop; DP_VAR=$run bash build/pg.sh destroy"
if [ "$l2" -gt "$l1" ]; then
    echo "leakcheck: the longer run lost more: see the loss records in $long_log" >&2
    exit 1
fi
echo "leakcheck: no memory lost per request"
