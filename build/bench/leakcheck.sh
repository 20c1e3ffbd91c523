#!/usr/bin/env bash
# `make leakcheck`: is there memory a request leaves behind outside its pool? Runs the bench
# instance as one httpd process (-X) under valgrind's memcheck, twice: a short load and one
# LEAK_FACTOR times longer, on the benchmarked endpoints (the session, the appointment list, a
# conversation, a message post, a login) and a booking per request (wrk, 4 connections, TLS).
# The instance is the one a `BENCH_KEEP=1 make bench` left running (started again as it was
# afterwards); without one, bench.sh starts and seeds its own (BENCH_SETUP_ONLY=1), which is
# removed on exit. Slow (valgrind): 5 to 15 minutes with the defaults, the seeding included.
#
# Fails (exit 1), printing the loss records, when valgrind reports any block "definitely lost"
# in either run, or when the longer run lost more ("definitely" or "indirectly") than the shorter
# one. What the process keeps for its life (configuration, the connection pool, library state) is
# still reachable at exit, not lost; a per-request leak is lost and grows with the requests.
# The module's DSO is unloaded at exit: --keep-debuginfo keeps its frames named in the records.
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
for v in SECONDS_SHORT FACTOR; do
    case ${!v} in '' | *[!0-9]*) die "LEAK_SECONDS and LEAK_FACTOR must be whole numbers" ;; esac
done

command -v valgrind >/dev/null || bash build/deps.sh valgrind
command -v valgrind >/dev/null || die "no valgrind"
bash build/deps.sh wrk

finish() {
    if [ "$own" = 1 ]; then
        stop_httpd || true
        DP_VAR=$run DP_PG_PORT=$pg_port bash build/pg.sh destroy >/dev/null 2>&1 || true
        rm -rf "$run"
    elif ! [ -f "$run/httpd/httpd.pid" ]; then
        "$HTTPD" -f "$conf" -k start
        echo "leakcheck: the kept instance runs again as before; to stop it: $HTTPD -f $conf -k stop; DP_VAR=$run bash build/pg.sh destroy" >&2
    fi
}

own=0
if ! [ -f "$conf" ] || ! [ -f "$run/gen/vars" ] || ! [ -f "$run/httpd/httpd.pid" ]; then
    echo "leakcheck: no kept bench instance: starting and seeding one (bench.sh, BENCH_SETUP_ONLY=1)" >&2
    BENCH_SETUP_ONLY=1 BENCH_BASELINE=none bash build/bench.sh
    own=1
fi
pg_port=$(cat "$run/pg/port")
trap finish EXIT
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

# bookings: the provider books its client, one free slot per body (a day, an hour)
bookings=$run/gen/booking.bodies
perl -e 'for my $d (20 .. 3000) { for my $h (9 .. 16) {
    printf qq({"clientId":"%s","date":"%s","time":"%02d:00","duration":50}\n), $ARGV[0],
        scalar(do { my @t = gmtime(time + 86400 * $d); sprintf "%04d-%02d-%02d", $t[5] + 1900, $t[4] + 1, $t[3] }), $h } }' \
    "$cid" >"$bookings"

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
        --keep-debuginfo=yes --num-callers=40 --log-file="$log" "$HTTPD" -X -f "$conf" &
    for i in $(seq 240); do
        curl -ksf "$base/api/health" 2>/dev/null | grep -q '"status":"ok"' && break
        [ "$i" -lt 240 ] || die "httpd under valgrind did not become healthy ($log)"
        sleep 0.5
    done
    load GET /api/auth/me "$token" "" "$secs"
    load GET /api/provider/appointments "$token" "" "$secs"
    load GET "/api/messages?conversationWith=$cid" "$token" "" "$secs"
    load POST /api/messages "$token" "$run/gen/message.bodies" "$secs"
    load POST /api/provider/appointments "$token" "$bookings" "$secs"
    load POST /api/auth/login "" "$run/gen/login.bodies" "$secs"
    stop_httpd
    wait || true
    perl -MJSON::PP -ne '$n += decode_json($_)->{requests}; END { print $n + 0 }' "$run/leak.jsonl"
}

lost() { # log -> bytes definitely + indirectly lost
    perl -ne '$n += ($1 =~ tr/,//dr) if /(?:definitely|indirectly) lost: ([\d,]+) bytes/; END { print $n + 0 }' "$1"
}

# the "definitely lost" loss records of a log, each with its stack; "(module)" marks a record
# with a frame in mod_docportal.so
definite() {
    perl -ne '
        s/^==\d+== ?//;
        if (/are definitely lost in loss record/) { $rec = $_; next }
        if (defined $rec) {
            if (/^\s*$/) {
                $rec = "(module) $rec" if $rec =~ /mod_docportal\.so|\((?:mod_)?d[po]_?\w*\.c:\d+\)/;
                print $rec, "\n";
                undef $rec;
            } else { $rec .= $_ }
        }' "$1"
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
failed=0
for f in "$short_log" "$long_log"; do
    records=$(definite "$f")
    [ -n "$records" ] || continue
    echo "leakcheck: definitely lost in $f ($(grep -c '^(module) ' <<<"$records" || true) of $(grep -c 'definitely lost in loss record' <<<"$records") records with a frame of the module):" >&2
    echo "$records" >&2
    failed=1
done
if [ "$l2" -gt "$l1" ]; then
    echo "leakcheck: the longer run lost more: see the loss records in $long_log" >&2
    failed=1
fi
[ "$failed" = 0 ] || exit 1
echo "leakcheck: nothing definitely lost, and no memory lost per request"
