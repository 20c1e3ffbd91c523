#!/usr/bin/env bash
# `make bench`: the API's throughput and latency next to the ceilings of this machine, all
# measured in one run, interleaved, so that a busy shared machine moves both alike and the
# ratios hold. Starts its own PostgreSQL (durable: fsync, synchronous_commit and
# full_page_writes on) and httpd (TLS, mpm_event) on free ports under var/, seeds them, then
# per round and per endpoint runs wrk against the endpoint, wrk against a static file of the
# same size (HTTP ceiling) and pgbench -M prepared with the endpoint's statements (database
# ceiling), and pgbench again at the API's rate of that round (PostgreSQL's CPU per request
# at that rate); for login, a bcrypt program on all cores (bcrypt ceiling). The reads also run
# against a baseline, an earlier commit's module built into var/ and served by a second httpd
# on the same database, in the same rounds (throughput, PostgreSQL CPU and commits per read
# compared). Prints the table and the targets met or missed, writes
# var/bench/<time>-<commit>.json and var/bench/latest.json, and exits 0 unless the bench itself
# could not run.
#
# Knobs (environment): BENCH_DURATION (s per run, 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS
# (32), BENCH_THREADS (wrk threads, 2), BENCH_RSS_TRACE=1 (print the children's RSS after
# every soak run), BENCH_MEM_WARMUP (API requests in all before the first memory reading,
# 400000), BENCH_MEM_REQUESTS (API requests between the two memory readings, 200000),
# BENCH_LOW_CONNECTIONS (the reads' latency below saturation, 4),
# BENCH_HTTPD_EXTRA (directives added to the instance's configuration, e.g.
# 'DocPortalBcryptCost 12': the bcrypt ceiling follows it), BENCH_KEEP=1 (leave the instance
# running and its files in place), BENCH_SETUP_ONLY=1 (start and seed the instance, keep it,
# measure nothing), BENCH_BASELINE (the commit whose module the reads are compared with,
# c457575 by default, any git revision, e.g. "$(git merge-base HEAD main)"; none: no baseline).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
MEM_REQUESTS=${BENCH_MEM_REQUESTS:-200000}
MEM_WARMUP=${BENCH_MEM_WARMUP:-400000}
LOW_CONNS=${BENCH_LOW_CONNECTIONS:-4}
HTTPD=${HTTPD:-/usr/sbin/apache2}
# the last release before the reads' audit events were group-committed: see docs/performance.md
BASELINE=${BENCH_BASELINE:-c457575}
for v in DURATION ROUNDS CONNS THREADS MEM_REQUESTS MEM_WARMUP LOW_CONNS; do
    case ${!v} in '' | *[!0-9]*) echo "bench: BENCH_${v} must be a whole number" >&2; exit 2 ;; esac
done

say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# wrk is the one tool beyond the project's own packages; pgbench ships with postgresql.
bash build/deps.sh wrk
bcrypt_ceiling=$root/build/out/bench/bcrypt_ceiling
[ -x "$bcrypt_ceiling" ] || die "run through 'make bench' (it builds $bcrypt_ceiling)"
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/pgbench" ] || pgbin=$(dirname "$(printf '%s\n' /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)")
[ -x "$pgbin/pgbench" ] || die "no pgbench (package postgresql)"

state=$(bash build/var.sh "$root")
run=$state/bench-run

# The baseline's module: its commit's tree (git archive) built by its own Makefile with the
# same compiler and flags (CC and CFLAGS, from the environment or make's command line), kept in
# var/bench-baseline/<commit>-<hash of the flags> for the next run.
base_rev="" base_so=""
if [ "$BASELINE" != none ]; then
    base_rev=$(git rev-parse -q --verify "$BASELINE^{commit}") ||
        die "BENCH_BASELINE=$BASELINE is no commit of this repository (none: no baseline)"
    flags="${CC:-cc} ${CFLAGS:--O2 -g}"
    bdir=$state/bench-baseline/$base_rev-$(printf '%s' "$flags" | sha256sum | cut -c1-8)
    base_so=$bdir/build/out/mod_docportal.so
    if [ ! -f "$base_so" ]; then
        say "building the baseline module of $(git rev-parse --short "$base_rev") ($flags) in $bdir"
        rm -rf "$bdir"
        mkdir -p "$bdir"
        git archive "$base_rev" | tar -x -C "$bdir"
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$bdir" --no-print-directory build \
            >"$bdir.log" 2>&1 || { tail -n 20 "$bdir.log" >&2; rm -f "$base_so"; die "the baseline did not build ($bdir.log)"; }
    fi
fi
results_dir=$state/bench
mkdir -p "$results_dir"
export DP_VAR=$run
# the defaults, said out loud: durable commits as in production (build/test.sh turns them off)
export DP_PG_OPTS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200"
if [ -d "$run" ]; then
    say "removing the instance of an interrupted run ($run)"
    for st in "$run" "$run/baseline"; do
        [ ! -f "$st/httpd/httpd.pid" ] || "$HTTPD" -f "$st/httpd/httpd.conf" -k stop 2>/dev/null || true
    done
    bash build/pg.sh destroy >/dev/null 2>&1 || true
    rm -rf "$run"
fi
mkdir -p "$run"
chmod 755 "$run"
export DP_PG_PORT
DP_PG_PORT=$(bash build/freeport.sh)
port=$(bash build/freeport.sh $((DP_PG_PORT + 1)))
base=https://127.0.0.1:$port
bport=$(bash build/freeport.sh $((port + 1)))
bbase=https://127.0.0.1:$bport
conf=$run/httpd/httpd.conf

stop_httpd() { # state
    [ -f "$1/httpd/httpd.pid" ] || return 0
    "$HTTPD" -f "$1/httpd/httpd.conf" -k stop 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$1/httpd/httpd.pid" ] || break; sleep 0.1; done
}
cleanup() {
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept: $base (httpd -f $conf), database $(bash build/pg.sh url owner 2>/dev/null || true)"
        [ ! -f "$run/baseline/httpd/httpd.pid" ] || say "kept: the baseline's httpd, $bbase (httpd -f $run/baseline/httpd/httpd.conf)"
        return
    fi
    stop_httpd "$run/baseline"
    stop_httpd "$run"
    bash build/pg.sh destroy >/dev/null 2>&1 || true
    rm -rf "$run"
}
trap cleanup EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "machine: $(nproc) cores, load average $load_before"

# ---------------------------------------------------------------- PostgreSQL and httpd
bash build/pg.sh start
DATABASE_URL=$(bash build/pg.sh url owner) bash build/migrate.sh
app_url=$(bash build/pg.sh url app)
psql_su() { bash build/pg.sh psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# every statement is logged while the instance is seeded and one request of each endpoint is
# recorded; switched off before anything is measured
psql_su -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null

real_run=$(realpath "$run")
mkdir -p "$run/httpd/run" "$run/static" "$run/gen" "$run/mail"
chmod 777 "$run/mail"    # the children write the seeded accounts' mail there
(umask 077 && openssl rand -hex 32 >"$run/secrets/message_key" &&
    openssl rand -hex 32 >"$run/secrets/audit_key")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -days 2 -keyout "$run/httpd/key.pem" -out "$run/httpd/cert.pem" 2>/dev/null
user=""
if [ "$(id -u)" -eq 0 ]; then
    if id www-data >/dev/null 2>&1; then user="User www-data
Group www-data"; else user="User nobody
Group nogroup"; fi
fi
# An httpd from build/bench/httpd.conf.in: its state directory (configuration, logs, pid,
# certificate), port and module; the secrets, the static files and the database are the
# instance's. Returns 1 when it does not start or does not become healthy.
start_httpd() { # state port module [more directives]
    local st=$1 p=$2 so=$3 more=${4:-} i
    DPC_STATE=$st DPC_PORT=$p DPC_USER=$user DPC_MODULE=$so \
    DPC_DBDPARAMS=$(bash build/pg.sh dbdparams) DPC_JWT_SECRET_FILE=$real_run/secrets/jwt_secret \
    DPC_MESSAGE_KEY_FILE=$real_run/secrets/message_key DPC_AUDIT_KEY_FILE=$real_run/secrets/audit_key \
    DPC_EXTRA="${BENCH_HTTPD_EXTRA:-}${more:+$'\n'$more}" \
        perl -pe 's/@([A-Z_]+)@/exists $ENV{"DPC_$1"} ? $ENV{"DPC_$1"} : die "unknown placeholder $1\n"/ge' \
        build/bench/httpd.conf.in >"$st/httpd/httpd.conf"
    "$HTTPD" -t -f "$st/httpd/httpd.conf" >/dev/null 2>&1 || { "$HTTPD" -t -f "$st/httpd/httpd.conf"; return 1; }
    "$HTTPD" -f "$st/httpd/httpd.conf" -k start || return 1
    for i in $(seq 60); do
        curl -ksf "https://127.0.0.1:$p/api/health" 2>/dev/null | grep -q '"status":"ok"' && return 0
        [ "$i" -lt 60 ] || { tail -n 20 "$st/httpd/error.log" >&2; return 1; }
        sleep 0.5
    done
}
start_httpd "$real_run" "$port" "$root/build/out/mod_docportal.so" || die "httpd did not start or become healthy"
bcrypt_cost=$(sed -n 's/^ *DocPortalBcryptCost *\([0-9]*\).*/\1/p' "$conf" | tail -n 1)
[ -n "$bcrypt_cost" ] || bcrypt_cost=$(sed -n 's/^#define DP_BCRYPT_COST_DEFAULT \([0-9]*\).*/\1/p' modules/core/dp_password.h)
say "httpd on $base (TLS, mpm_event, 2 children x 32 threads), PostgreSQL on 127.0.0.1:$DP_PG_PORT; bcrypt cost $bcrypt_cost"

# ---------------------------------------------------------------- data and scripts
perl build/bench/seed.pl "$base" "$app_url" "$run/gen"
var() { sed -n "s/^$1=//p" "$run/gen/vars"; }
token=$(var token)
printf '%s\n' "$(var message_body)" >"$run/gen/message.bodies"
# BENCH_SETUP_ONLY=1: the seeded instance, kept, and nothing measured (build/bench/leakcheck.sh)
if [ "${BENCH_SETUP_ONLY:-0}" = 1 ]; then
    psql_su -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
    BENCH_KEEP=1
    exit 0
fi
cat sql/statements.sql sql/statements-*.sql >"$run/gen/statements.sql"
perl build/bench/pgbench-gen.pl build/bench/endpoints.spec "$run/gen/statements.sql" "$run/gen/vars" "$run/gen" || true

ENDPOINTS=(me appointments conversation message_send login)
READS=(me appointments conversation)
declare -A METHOD PATHQ TOKEN BODIES WANT
METHOD=([me]=GET [appointments]=GET [conversation]=GET [message_send]=POST [login]=POST)
PATHQ=([me]=/api/auth/me [appointments]=/api/provider/appointments
    [conversation]="/api/messages?conversationWith=$(var cid)" [message_send]=/api/messages
    [login]=/api/auth/login)
TOKEN=([me]=$token [appointments]=$token [conversation]=$token [message_send]=$token [login]=)
BODIES=([me]= [appointments]= [conversation]= [message_send]=$run/gen/message.bodies
    [login]=$run/gen/login.bodies)
WANT=([me]=200 [appointments]=200 [conversation]=200 [message_send]=201 [login]=200)

# one request with curl: prints the answer's body, checks the status
one_request() { # endpoint output [server: the instance's by default]
    local ep=$1 out=$2 code srv=${3:-$base}
    local args=(-ks -o "$out" -w '%{http_code}' -X "${METHOD[$ep]}")
    [ -z "${TOKEN[$ep]}" ] || args+=(-H "Authorization: Bearer ${TOKEN[$ep]}")
    [ -z "${BODIES[$ep]}" ] || args+=(-H 'Content-Type: application/json' --data-binary "@${BODIES[$ep]}")
    code=$(curl "${args[@]}" "$srv${PATHQ[$ep]}")
    [ "$code" = "${WANT[$ep]}" ] || die "${METHOD[$ep]} ${PATHQ[$ep]} answered $code: $(head -c 300 "$out")"
}

# What one real request runs, from PostgreSQL's log (the last of three, so that connection
# set-up is not counted): statement names, BEGIN/COMMIT, and any other SQL text.
pglog=$run/pg/pg.log
for ep in "${ENDPOINTS[@]}"; do
    [ "$ep" != login ] || head -n 1 "$run/gen/login.bodies" >"$run/gen/login.one"
    saved=${BODIES[$ep]}
    [ "$ep" != login ] || BODIES[$ep]=$run/gen/login.one
    one_request "$ep" /dev/null
    one_request "$ep" /dev/null
    sleep 0.3
    offset=$(stat -c %s "$pglog")
    # the answer of this request is also the static twin's content (same byte size)
    one_request "$ep" "$run/static/$ep.json"
    sleep 0.3
    # the request's session is the one that ran the most; others (a background writer of the
    # module, if any) are noted after " | other sessions:"
    tail -c +$((offset + 1)) "$pglog" | perl -ne '
        my ($pid, $what);
        if (/\[(\d+)\] LOG:  execute ([^:\s]+):/) { ($pid, $what) = ($1, $2) }
        elsif (/\[(\d+)\] LOG:  statement: (.*)/) {
            my $t = $2;
            $pid = $1;
            next if $t =~ /^(PREPARE|SELECT count\(\*\) FROM pg_prepared_statements)/;
            $what = $t =~ /^(BEGIN|COMMIT|ROLLBACK)\b/ ? $1 : "sql:" . substr($t, 0, 40);
        }
        else { next }
        push @{$s{$pid}}, $what;
        END {
            # the audit sealer and the mail thread (threads of every child) may run on the
            # same pooled connection right after the request: their statements and
            # transactions are not the request'"'"'s
            for my $pid (keys %s) {
                my (@keep, @tx);
                for my $w (@{$s{$pid}}) {
                    if (@tx || ($w eq "BEGIN")) {
                        push @tx, $w;
                        next unless $w =~ /^(COMMIT|ROLLBACK)$/;
                        push @keep, @tx unless grep { /^(audit_seal_lock|reminder_claim|mail_\w+)$/ } @tx;
                        @tx = ();
                        next;
                    }
                    # and the end of a transaction begun before the request
                    next if $w =~ /^(audit_refusals_close|reminders_due|mail_\w+|COMMIT|ROLLBACK)$/;
                    push @keep, $w;
                }
                push @keep, @tx;
                if (@keep) { $s{$pid} = \@keep } else { delete $s{$pid} }
            }
            my @p = sort { @{$s{$b}} <=> @{$s{$a}} } keys %s;
            my $main = @p ? join(" ", @{$s{shift @p}}) : "";
            $main .= " | other sessions: " . join(" / ", map { join(" ", @{$s{$_}}) } @p) if @p;
            print "$main\n";
        }' >"$run/gen/$ep.seen"
    BODIES[$ep]=$saved
done
psql_su -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null

# The baseline: a second httpd, same configuration, secrets and database, on its own port, up
# for the whole run (its pool open). Its audit sealer wakes once, at its start, and then not
# for an hour: every audit row of the run, the baseline's too, is sealed by the instance's
# sealer, so that the sealing each read causes costs the same in both columns (the sealer is
# the module's, whichever module served the read; see performance.md). A baseline that does
# not start on this schema (migrations only add, but an old module may still trip on a
# change) or does not answer the reads is reported and left out.
baseline_status=none
if [ -n "$base_so" ]; then
    mkdir -p "$run/baseline/httpd/run" "$run/baseline/mail"
    chmod 777 "$run/baseline/mail"
    cp "$run/httpd/cert.pem" "$run/httpd/key.pem" "$run/baseline/httpd/"
    ln -s "$real_run/static" "$run/baseline/static"
    baseline_status="did not start with this schema and configuration (see above)"
    if start_httpd "$real_run/baseline" "$bport" "$base_so" "DocPortalAuditSealInterval 3600"; then
        baseline_status="did not answer the reads"
        if (for ep in "${READS[@]}"; do one_request "$ep" /dev/null "$bbase"; done); then
            baseline_status=ok
        fi
    fi
    if [ "$baseline_status" = ok ]; then
        say "baseline: $(git rev-parse --short "$base_rev") on $bbase"
    else
        say "baseline $(git rev-parse --short "$base_rev") $baseline_status: left out; BENCH_BASELINE=<a later commit> or none"
        stop_httpd "$run/baseline"
    fi
fi

# ---------------------------------------------------------------- measuring
results=$run/results.jsonl
: >"$results"

# CPU per request of each run (httpd, PostgreSQL, load generator; build/bench/cpu.pl): less
# moved by other work on the machine than throughput is, and it says where the time goes.
cpu_now() { # [state directory of the httpd: the instance's by default]
    perl build/bench/cpu.pl "$(cat "${1:-$run}/httpd/httpd.pid")" "$(head -n 1 "$run/pg/data/postmaster.pid")" $$
}
# A run that wrote audit rows is measured until the audit sealer has sealed them (catch_up),
# so that their sealing (its statements in PostgreSQL, its MACs in httpd) is billed to the run
# that caused it, wherever the sealer's wakes fall; the work httpd and PostgreSQL do with no
# request (bg_httpd_ms, bg_base_httpd_ms, bg_pg_ms: milliseconds of CPU a second, measured at
# the start) is taken off for the seconds of that wait, and the bench's own askings of the
# sealer's backlog in it (bg_pg_per_asking_ms each). In the baseline's runs the MACs are
# computed by the instance's httpd (the baseline's sealer sleeps), so its httpd column leaves
# them out; they are a few microseconds a row, against the PostgreSQL work both columns count.
bg_httpd_ms=0 bg_base_httpd_ms=0 bg_pg_ms=0 bg_pg_per_asking_ms=0
add_cpu() { # before-snapshot requests [httpd state [seconds waited for the sealer [askings]]]: adds "cpu_ms" (per request) to the last result line
    local h0 p0 c0 h1 p1 c1 bgh=$bg_httpd_ms
    read -r h0 p0 c0 <<<"$1"
    read -r h1 p1 c1 <<<"$(cpu_now "${3:-}")"
    [ "${3:-$run}" = "$run" ] || bgh=$bg_base_httpd_ms
    N=${2:-0} H=$((h1 - h0)) P=$((p1 - p0)) C=$((c1 - c0)) W=${4:-0} Q=${5:-0} BGH=$bgh BGP=$bg_pg_ms \
    BGQ=$bg_pg_per_asking_ms perl -i -pe '
        if (eof) {
            my $n = $ENV{N} || 1;
            my ($h, $p) = ($ENV{H} - $ENV{BGH} * $ENV{W}, $ENV{P} - $ENV{BGP} * $ENV{W} - $ENV{BGQ} * $ENV{Q});
            my $add = sprintf(q{,"cpu_ms":{"httpd":%.4f,"pg":%.4f,"client":%.4f},"seal_wait_s":%.2f},
                              ($h > 0 ? $h : 0) / $n, ($p > 0 ? $p : 0) / $n, $ENV{C} / $n, $ENV{W});
            s/\}\s*$/$add}\n/;
        }' "$results"
}

# Before each measurement: wait until the audit sealer has caught up (up to 60 s), then
# (up to 20 s) until httpd and PostgreSQL are idle (under a tenth of a core), so that work
# the previous run left behind (audit rows to seal, autovacuum, a checkpoint, logins still
# hashing) is not billed to the next one.
# the audit events not sealed yet; settle counts its askings (own_queries), for the commit counts
own_queries=0
sealer_backlog() {
    "$pgbin/psql" "$app_url" -XAtc "SELECT coalesce((SELECT max(seq) FROM audit_events), 0) - coalesce((SELECT max(event_seq) FROM audit_seals), 0)"
}
# until the sealer has sealed every audit row (up to 60 s); sets caught_up_s, the seconds
# waited, and caught_up_q, the askings (each a psql session: a few milliseconds of
# PostgreSQL's CPU, which add_cpu takes off)
caught_up_s=0 caught_up_q=0
catch_up() {
    local t0 backlog q0=$own_queries
    t0=$(perl -MTime::HiRes=time -e 'printf "%.3f", time')
    for _ in $(seq 120); do
        own_queries=$((own_queries + 1))
        backlog=$(sealer_backlog) || break
        [ "${backlog:-0}" -gt 0 ] || break
        sleep 0.5
    done
    caught_up_s=$(perl -MTime::HiRes=time -e 'printf "%.2f", time - $ARGV[0]' "$t0")
    caught_up_q=$((own_queries - q0))
}
settle() {
    local h0 p0 c0 h1 p1 c1
    # first the audit sealer's backlog (every request and every pgbench transaction wrote an
    # audit row; the sealer wakes every few seconds, so CPU alone can look idle between
    # wakes): up to 60 s until the newest row has its seal
    catch_up
    for _ in $(seq 40); do
        read -r h0 p0 c0 <<<"$(cpu_now)"
        sleep 0.5
        read -r h1 p1 c1 <<<"$(cpu_now)"
        [ $((h1 - h0 + p1 - p0)) -ge 50 ] || return 0
    done
}

# Transactions committed in the application's database so far (pg_stat_database), and the
# next transaction id (each transaction that writes takes one, at once), asked from the postgres
# database so that the asking is not counted. PostgreSQL 15's backends publish their counts at
# most once a second, and an idle one with counts not yet published waits up to 10 s more: a
# counted run's total is read at least 10.5 s after the run and after the API's last run before
# it (done_commits, before the next run that uses the database), so every backend has published.
commits_now() { # -> commits, next transaction id, time (epoch s)
    psql_su -d postgres -At -F ' ' -c "SELECT xact_commit, pg_snapshot_xmax(pg_current_snapshot()),
        extract(epoch FROM clock_timestamp()) FROM pg_stat_database WHERE datname = 'docportal'"
}
stats_at=0          # when the API's backends have published everything (epoch s)
commits_pending=""  # the counted run's result line, commits and xid before it
wait_stats() {
    local left
    left=$(perl -MTime::HiRes=time -e 'printf "%.2f", $ARGV[0] - time' "$stats_at")
    case $left in -* | 0.00) ;; *) sleep "$left" ;; esac
}
done_commits() { # the pending counted run: its commits and xids into its result line
    [ -n "$commits_pending" ] || return 0
    local line c0 x0 t0 q0 c1 x1 t1
    read -r line c0 x0 t0 q0 <<<"$commits_pending"
    commits_pending=""
    wait_stats
    read -r c1 x1 t1 <<<"$(commits_now)"
    # less the bench's own askings in the window (the next run's settle)
    L=$line C=$((c1 - c0 - (own_queries - q0) * commits_per_query)) X=$((x1 - x0)) T0=$t0 T1=$t1 perl -i -pe '
        s/\}\s*$/sprintf(q{,"commits":%d,"xids":%d,"commits_window_s":%.2f}, $ENV{C}, $ENV{X}, $ENV{T1} - $ENV{T0}) . "}\n"/e
            if $. == $ENV{L}' "$results"
}
# What the module's threads commit while no request comes (the audit sealer's and the mail
# thread's wakes, in every child of both httpds), per second: the report subtracts it, times
# each counted window, from that run's commits and transaction ids.
# Then what one asking of the sealer's backlog commits (its session's start and its query: a
# process that exits publishes at once), from 20 askings less the background's share, whole.
# And, over the same quiet seconds, the CPU of PostgreSQL and of each httpd a second, and
# PostgreSQL's CPU per asking (add_cpu).
background_commits() { # seconds -> "commits/s xids/s commits-per-asking pg-ms/s httpd-ms/s baseline-httpd-ms/s pg-ms/asking"
    local c0 x0 t0 c1 x1 t1 c2 x2 t2 h0 p0 h1 p1 b0=0 b1=0 p2 _c
    stats_at=$(perl -MTime::HiRes=time -e 'printf "%.2f", time + 10.5')
    wait_stats
    read -r c0 x0 t0 <<<"$(commits_now)"
    read -r h0 p0 _c <<<"$(cpu_now)"
    [ "$baseline_status" != ok ] || read -r b0 _c _c <<<"$(cpu_now "$run/baseline")"
    sleep "$1"
    read -r c1 x1 t1 <<<"$(commits_now)"
    read -r h1 p1 _c <<<"$(cpu_now)"
    [ "$baseline_status" != ok ] || read -r b1 _c _c <<<"$(cpu_now "$run/baseline")"
    for _ in $(seq 20); do sealer_backlog >/dev/null; done
    read -r c2 x2 t2 <<<"$(commits_now)"
    read -r _c p2 _c <<<"$(cpu_now)"
    perl -e 'my ($c0, $x0, $t0, $c1, $x1, $t1, $c2, $t2, $h, $p, $b, $pq) = @ARGV; my $s = $t1 - $t0;
        my $bg = ($c1 - $c0) / $s;
        my $q = ($pq - $p / $s * ($t2 - $t1)) / 20;
        printf "%.3f %.3f %d %.3f %.3f %.3f %.3f", $bg, ($x1 - $x0) / $s, int(($c2 - $c1 - $bg * ($t2 - $t1)) / 20 + 0.5),
            $p / $s, $h / $s, $b / $s, $q > 0 ? $q : 0' \
        "$c0" "$x0" "$t0" "$c1" "$x1" "$t1" "$c2" "$t2" "$((h1 - h0))" "$((p1 - p0))" "$((b1 - b0))" "$((p2 - p1))"
}

run_wrk() { # endpoint kind round [seconds [connections]]
    local ep=$1 kind=$2 round=$3 secs=${4:-$DURATION} conns=${5:-$CONNS} path=${PATHQ[$1]} method=${METHOD[$1]}
    local bodies=${BODIES[$1]} srv=$base st=$run commits0=""
    if [ "$kind" = http ]; then path=/$ep.json method=GET bodies=; fi
    # kinds base*: the same requests to the baseline's httpd
    case $kind in base*) srv=$bbase st=$run/baseline ;; esac
    # a run that uses the database first completes the count of the one before
    [ "$kind" = http ] || done_commits
    settle
    # commits per request of the API runs (not logins: bcrypt-bound, and their commits come
    # after the hash): everything the application's database committed from just before the run
    # until its backends have published their counts, the audit sealer's and the mail thread's
    # included (see performance.md)
    if [[ ($kind == app || $kind == base) && $ep != login ]]; then
        wait_stats
        commits0=$(commits_now)
    fi
    cpu0=$(cpu_now "$st")
    # logins: none starts after $secs, the ones in flight finish (wrk.lua), as in the bcrypt
    # ceiling; -d only bounds the drain
    local timed=0 wrk_secs=$secs
    if [ "$ep" = login ]; then timed=1 wrk_secs=$((secs + login_drain)); fi
    BENCH_METHOD=$method BENCH_PATH=$path BENCH_TOKEN=${TOKEN[$ep]} BENCH_BODIES=$bodies \
    BENCH_OUT=$results BENCH_LABEL="$ep $kind $round" BENCH_TIMED=$timed BENCH_SECONDS=$secs \
        wrk -t"$THREADS" -c"$conns" -d"${wrk_secs}s" --timeout 30s -s build/bench/wrk.lua \
        "$srv$path" >"$run/wrk.last" 2>&1 || { cat "$run/wrk.last" >&2; die "wrk failed"; }
    local waited=0 q_run=$own_queries
    local asked=0
    if [ "$kind" != http ]; then catch_up; waited=$caught_up_s asked=$caught_up_q; fi
    add_cpu "$cpu0" "$(tail -n 1 "$results" | sed 's/.*"requests":\([0-9]*\).*/\1/')" "$st" "$waited" "$asked"
    if [ "$kind" != http ]; then
        stats_at=$(perl -MTime::HiRes=time -e 'printf "%.2f", time + 10.5')
    fi
    [ -z "$commits0" ] || commits_pending="$(wc -l <"$results") $commits0 $q_run"
}

run_pgbench() { # endpoint round [rate: the API's req/s, for the same statements at that rate]
    local ep=$1 round=$2 rate=${3:-} kind=db out tps lat args=() throttle=()
    [ -f "$run/gen/$ep.sql" ] || return 0
    mapfile -t args <"$run/gen/$ep.args"
    if [ -n "$rate" ]; then kind=dbrate throttle=(-R "$rate"); fi
    done_commits
    settle
    cpu0=$(cpu_now)
    # -T counts the connection phase (32 SCRAM logins and backend starts, up to 2 s on a busy
    # machine); pgbench's tps leaves it out, so the run is that much longer
    out=$("$pgbin/pgbench" -n -M prepared -c "$CONNS" -j "$THREADS" -T "$((DURATION + 2))" "${throttle[@]}" \
        -f "$run/gen/$ep.sql" "${args[@]}" "$app_url" 2>&1) || { echo "$out" >&2; die "pgbench failed for $ep"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -n 1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    printf '{"endpoint":"%s","kind":"%s","round":%d,"rps":%s,"mean_us":%s}\n' \
        "$ep" "$kind" "$round" "${tps:-0}" "$(awk -v l="${lat:-0}" 'BEGIN{printf "%.1f", l*1000}')" >>"$results"
    catch_up
    add_cpu "$cpu0" "$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")" "$run" "$caught_up_s" "$caught_up_q"
}

# As many hashing threads as logins in flight: on a machine shared with other work, the CPU
# share a process gets grows with its runnable threads, so the ceiling must have as many.
run_bcrypt() { # round
    done_commits
    settle
    "$bcrypt_ceiling" "$bcrypt_cost" "$DURATION" "$CONNS" |
        sed "s/^{/{\"endpoint\":\"login\",\"round\":$1,/" >>"$results"
}

httpd_rss() { # prints "pid rss_kib" per child
    local parent
    parent=$(cat "$run/httpd/httpd.pid")
    ps -o pid=,rss= --ppid "$parent" | awk '{print $1, $2}' | sort -n
}

bg_secs=$(( DURATION * 2 < 5 ? 5 : DURATION * 2 > 20 ? 20 : DURATION * 2 ))
commits_per_query=0
read -r bg_commits bg_xids commits_per_query bg_pg_ms bg_httpd_ms bg_base_httpd_ms bg_pg_per_asking_ms \
    <<<"$(background_commits "$bg_secs")"
say "with no request: $bg_commits commits and $bg_xids writing transactions a second (over $bg_secs s); $commits_per_query commit(s) and $bg_pg_per_asking_ms ms of PostgreSQL CPU per asking of the sealer's backlog; CPU a second: PostgreSQL $bg_pg_ms ms, httpd $bg_httpd_ms ms, the baseline's httpd $bg_base_httpd_ms ms"

say "warm-up ($DURATION s per endpoint)"
for ep in me appointments conversation message_send; do run_wrk "$ep" warmup 0; done
if [ "$baseline_status" = ok ]; then for ep in "${READS[@]}"; do run_wrk "$ep" base_warmup 0; done; fi
login_drain=30
run_wrk login warmup 0 "$(( DURATION < 5 ? DURATION : 5 ))"
# wrk waits out its -d even when every thread has stopped: bound the drain by twice the
# warm-up's time for one login per connection (a wave: they share the cores and end together)
login_drain=$(perl -MJSON::PP -ne '$j = decode_json($_); $r = $j->{timed_rps} if $j->{endpoint} eq "login";
    END { printf "%d", $r ? 3 + 2 * '"$CONNS"' / $r : 30 }' "$results")

api_rate() { # endpoint round -> the API run's req/s, whole
    EP=$1 ROUND=$2 perl -MJSON::PP -ne '$j = decode_json($_);
        $r = $j->{rps} if $j->{endpoint} eq $ENV{EP} && $j->{kind} eq "app" && $j->{round} == $ENV{ROUND};
        END { printf "%d", $r || 1 }' "$results"
}
api_requests() {
    perl -MJSON::PP -ne '$j = decode_json($_); $n += $j->{requests} if $j->{kind} =~ /^(app|soak|low)$/; END { print $n + 0 }' "$results"
}
for round in $(seq "$ROUNDS"); do
    say "round $round of $ROUNDS"
    for ep in "${ENDPOINTS[@]}"; do
        # the reads against the baseline too, in turns: the module, the static file, the
        # baseline in odd rounds, the other way round in even ones (the static file's run
        # between them gives the first one's commit counts time to be published)
        first=app second=
        if [ "$baseline_status" = ok ] && [[ " ${READS[*]} " == *" $ep "* ]]; then
            if [ $((round % 2)) = 1 ]; then second=base; else first=base second=app; fi
        fi
        run_wrk "$ep" "$first" "$round"
        if [ "$ep" = login ]; then
            run_bcrypt "$round"
        else
            run_wrk "$ep" http "$round"
        fi
        [ -z "$second" ] || run_wrk "$ep" "$second" "$round"
        run_pgbench "$ep" "$round"
        # PostgreSQL's CPU per transaction grows as its rate falls (fewer transactions share
        # each wake-up and WAL flush): the same statements at the API's rate of this round
        # say what the database work of a request costs at that rate
        [ "$ep" = login ] || run_pgbench "$ep" "$round" "$(api_rate "$ep" "$round")"
    done
done

done_commits
# the baseline has had its turns: its httpd goes, so that it takes nothing from what follows
stop_httpd "$run/baseline"

# Latency below saturation: at 32 connections a request mostly waits for the 31 before it
# (Little's law: latency = connections / throughput); at 4 it is close to its own cost.
say "the read endpoints at $LOW_CONNS connections"
for ep in "${READS[@]}"; do run_wrk "$ep" low 1 "$DURATION" "$LOW_CONNS"; done

# Memory: soak runs (the endpoints in turn) until the API has answered MEM_WARMUP requests in
# all, the rounds included; the first reading; MEM_REQUESTS more; the second. The warm-up lets
# the allocators reach their high-water mark first: run one endpoint at a time, the children
# grew by 50, then 6, then 1 byte per appointment list over three series of about 80,000,
# and not at all for a static file. Growth after the warm-up is what a leak would show.
soak=0
soak_until() { # total API requests to reach
    while [ "$(api_requests)" -lt "$1" ]; do
        ep=${ENDPOINTS[$(( soak % 4 ))]}
        soak=$((soak + 1))
        run_wrk "$ep" soak "$soak"
        # BENCH_RSS_TRACE=1: the children's total RSS after every soak run (leak or plateau?)
        [ "${BENCH_RSS_TRACE:-0}" != 1 ] ||
            say "soak $soak ($ep): $(api_requests) API requests in all, children RSS $(httpd_rss | awk '{s += $2} END {print s}') KiB"
    done
}
say "memory: API requests up to $MEM_WARMUP in all, then the first reading"
soak_until "$MEM_WARMUP"
httpd_rss >"$run/rss.before"
requests_at_before=$(api_requests)
say "memory: $MEM_REQUESTS more API requests, then the second reading"
soak_until $((requests_at_before + MEM_REQUESTS))
requests_between=$(( $(api_requests) - requests_at_before ))
httpd_rss >"$run/rss.after"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)
json=$results_dir/$stamp-$commit.json
for ep in "${ENDPOINTS[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\n' "$ep" "${METHOD[$ep]} ${PATHQ[$ep]%%\?*}" \
        "$(stat -c %s "$run/static/$ep.json")" \
        "$(cat "$run/gen/$ep.names" 2>/dev/null || echo "-")" "$(cat "$run/gen/$ep.seen")"
    [ ! -f "$run/gen/$ep.error" ] || printf '%s\terror\t%s\n' "$ep" "$(cat "$run/gen/$ep.error")"
done >"$run/endpoints.tsv"
BENCH_META=$(printf '{"date":"%s","commit":"%s","dirty":%s,"cores":%d,"load_before":"%s","load_after":"%s","duration_s":%d,"rounds":%d,"connections":%d,"low_connections":%d,"wrk_threads":%d,"bcrypt_cost":%d,"tls":true,"mem_requests":%d,"mem_warmup":%d,"mem_requests_between":%d,"background_commits_per_s":%s,"background_xids_per_s":%s,"commits_per_backlog_query":%d,"background_cpu_ms_per_s":{"pg":%s,"httpd":%s,"baseline_httpd":%s},"pg_cpu_ms_per_backlog_query":%s}' \
    "$stamp" "$commit" "$dirty" "$(nproc)" "$load_before" "$load_after" "$DURATION" "$ROUNDS" \
    "$CONNS" "$LOW_CONNS" "$THREADS" "$bcrypt_cost" "$MEM_REQUESTS" "$MEM_WARMUP" "$requests_between" "$bg_commits" "$bg_xids" "$commits_per_query" "$bg_pg_ms" "$bg_httpd_ms" "$bg_base_httpd_ms" "$bg_pg_per_asking_ms") \
BENCH_BASELINE_META=$(B_REQ=$BASELINE B_REV=$base_rev B_SHORT=$( [ -z "$base_rev" ] || git rev-parse --short "$base_rev") \
    B_STATUS=$baseline_status perl -MJSON::PP -e 'print JSON::PP->new->canonical->encode({requested => $ENV{B_REQ},
        commit => $ENV{B_REV} || undef, short => $ENV{B_SHORT} || undef, status => $ENV{B_STATUS}})') \
    perl build/bench/report.pl "$results" "$run/endpoints.tsv" "$run/rss.before" "$run/rss.after" "$json"
cp "$json" "$results_dir/latest.json"
say "written: $json (and latest.json)"
