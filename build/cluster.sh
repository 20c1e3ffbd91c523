#!/usr/bin/env bash
# `make cluster` / `make cluster-stop`: mod_docportal as it runs on several servers, on this
# machine, from this build, under var/cluster/:
#   db1   the PostgreSQL primary (build/pg.sh: roles, database, migrations)
#   db2   a hot standby streaming from db1 through a replication slot, made by pg_basebackup -R
#   node1, node2  two httpd loading build/out/mod_docportal.so with the same secret and key
#         files (var/cluster/secrets/), DBDParams naming both databases (libpq multi-host,
#         target_session_attrs=read-write: a connection goes to whichever one takes writes)
#   lb    HAProxy in front: round robin, health check GET /api/health
# Every port is a free one on 127.0.0.1. CLUSTER_SYNC=1 makes the replication synchronous
# (a commit waits until the standby has the WAL). Each start builds a new database pair (the
# secrets stay); stop ends every process of the cluster. See docs/deploy.md.
#   build/cluster.sh start|stop|env
#   build/cluster.sh status|locks     what runs; which node holds the sealer's and mailer's lock
#   build/cluster.sh kill-node N      SIGKILL node N's parent and children (for the tests)
#   build/cluster.sh start-node N     start node N again
#   build/cluster.sh kill-db N        stop database N at once (pg_ctl stop -m immediate)
#   build/cluster.sh promote N        promote database N (the standby) to primary
#   build/cluster.sh failover         kill-db 1, then promote 2
set -eu
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmd=${1:?usage: cluster.sh start|stop|status|locks|env|kill-node N|start-node N|kill-db N|promote N|failover}
state=$(bash build/var.sh "$root")
cl=$state/cluster
HTTPD=${HTTPD:-/usr/sbin/apache2}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
NODES="1 2"

say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

pgbin=${DP_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/pg_ctl" ] || pgbin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ "$(id -u)" -eq 0 ]; then
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    as_pg() { "$@"; }
fi

# build/pg.sh on database N (1 or 2): its state dir is var/cluster/dbN.
pg() { local n=$1; shift; DP_VAR=$cl/db$n bash build/pg.sh "$@"; }
pg_data() { echo "$cl/db$1/pg/data"; }
pg_running() { [ -f "$(pg_data "$1")/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$(pg_data "$1")" status >/dev/null 2>&1; }

# The ports, kept in var/cluster/env (also read by the tests: t/cluster/).
load_env() { [ -f "$cl/env" ] && . "$cl/env"; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$1" ] && head -n 1 "$1" || true; }

# Node N's processes: the parent from its pid file, its children; and children left behind by
# a parent that died (SIGKILL), found by their whole command line, which names this node's
# config file.
node_pids() {
    local conf=$cl/node$1/httpd.conf parent
    parent=$(pid_of "$cl/node$1/httpd.pid")
    if pid_alive "$parent"; then
        echo "$parent"
        ps -o pid= --ppid "$parent" || true
    fi
    pgrep -x -f "$HTTPD -f $conf" || true
}

# alive and not a zombie (a killed child waits there until something reaps it)
running_pid() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

kill_node() {
    local n=$1 pids p left
    pids=$(node_pids "$n" | sort -u | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    for _ in $(seq 50); do
        left=0
        for p in $pids; do running_pid "$p" && left=1; done
        [ "$left" -eq 1 ] || break
        sleep 0.1
    done
    rm -f "$cl/node$n/httpd.pid"
}

stop_node() {
    local n=$1 parent
    parent=$(pid_of "$cl/node$n/httpd.pid")
    if pid_alive "$parent"; then
        "$HTTPD" -f "$cl/node$n/httpd.conf" -k stop 2>/dev/null || kill "$parent" 2>/dev/null || true
        for _ in $(seq 100); do pid_alive "$parent" || break; sleep 0.1; done
    fi
    # whatever is left (a parent killed before, or one that did not stop within 10 s)
    kill_node "$n"
}

stop_lb() {
    local pid
    pid=$(pid_of "$cl/lb/haproxy.pid")
    if pid_alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do pid_alive "$pid" || break; sleep 0.1; done
        ! pid_alive "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$cl/lb/haproxy.pid"
}

stop_all() {
    [ -d "$cl" ] || return 0
    stop_lb
    for n in $NODES; do stop_node "$n"; done
    for n in 1 2; do
        if pg_running "$n"; then
            as_pg "$pgbin/pg_ctl" -D "$(pg_data "$n")" -m fast -w -s stop || true
        fi
    done
}

# The files every node reads, made once and shared: in production they are copied to every
# server (docs/deploy.md). The message key ring has one key (id c1).
shared_secrets() {
    local f
    install -d -m 700 "$cl/secrets"
    for f in jwt_secret audit_key message_key; do
        [ -s "$cl/secrets/$f" ] || (umask 077 && openssl rand -hex 32 >"$cl/secrets/$f")
    done
}

httpd_user() { if id www-data >/dev/null 2>&1; then echo www-data; else echo nobody; fi; }

# PostgreSQL settings of both databases: what a primary with one standby needs (a slot keeps
# the WAL the standby has not received), and enough connections for two nodes (2 children x 25
# threads each, a spare child's pool during a graceful restart, psql).
PG_OPTS="-c wal_level=replica -c max_wal_senders=4 -c max_replication_slots=4 -c hot_standby=on -c max_connections=130"

start_databases() {
    local slot=docportal_db2
    DP_PG_OPTS="$PG_OPTS" DP_PG_PORT=$DB1_PORT pg 1 start
    DATABASE_URL=$(pg 1 url owner) bash build/migrate.sh >/dev/null
    # the standby: a copy of db1 with the replication settings written by -R, on its slot
    install -d -m 755 "$cl/db2"
    [ "$(id -u)" -ne 0 ] || install -d -m 700 -o postgres -g postgres "$cl/db2/pg" "$cl/db2/pg/run"
    [ "$(id -u)" -eq 0 ] || install -d -m 700 "$cl/db2/pg" "$cl/db2/pg/run"
    as_pg "$pgbin/pg_basebackup" -h "$cl/db1/pg/run" -p "$DB1_PORT" -U postgres \
        -D "$(pg_data 2)" -R -C -S "$slot" -X stream -c fast
    # build/pg.sh keeps db2's secrets and bootstrap marker: they are db1's (the same roles)
    install -d -m 700 "$cl/db2/secrets"
    cp -p "$cl/db1/secrets/"* "$cl/db2/secrets/"
    touch "$cl/db2/pg/bootstrapped"
    # cluster_name: the standby's application_name towards db1 (pg_stat_replication)
    DP_PG_OPTS="$PG_OPTS -c cluster_name=db2" DP_PG_PORT=$DB2_PORT pg 2 start
    if [ "${CLUSTER_SYNC:-0}" = 1 ]; then
        # a commit returns once the standby has flushed its WAL ('*': any standby); set once
        # the standby runs (the migrations above would wait for it), on db1 only
        pg 1 psql -q -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
            -c "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null
    fi
}

# DBDParams of every node: both databases, the one that takes writes wins; the node's name
# as application_name, so that pg_stat_activity and pg_locks say which node holds what.
dbdparams() {
    local pw
    pw=$(head -n 1 "$cl/db1/secrets/db_app_password")
    echo "host=127.0.0.1,127.0.0.1 port=$DB1_PORT,$DB2_PORT dbname=docportal user=docportal_app password=$pw target_session_attrs=read-write connect_timeout=3 application_name=docportal-node$1"
}

render_node() {
    local n=$1 port=$2 dir=$cl/node$1 user=""
    install -d -m 755 "$dir" "$dir/run"
    install -d -m 750 "$dir/mail"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$(httpd_user)" "$dir/mail"
        user="User $(httpd_user)
Group $(id -gn "$(httpd_user)")"
    fi
    cat >"$dir/httpd.conf" <<EOF
# node$n of the cluster of build/cluster.sh (generated)
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog "$dir/error.log"
LogLevel warn
$user
LoadModule mpm_event_module    /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module   /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dbd_module          /usr/lib/apache2/modules/mod_dbd.so
LoadModule remoteip_module     /usr/lib/apache2/modules/mod_remoteip.so
LoadModule docportal_module    "$root/build/out/mod_docportal.so"

StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 50
ServerTokens Prod
LogFormat "%a %t \"%r\" %>s %b %D" docportal
CustomLog "$dir/access.log" docportal

# the client's address from HAProxy's X-Forwarded-For (lockouts and limits count per client)
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1

DBDriver pgsql
DBDParams "$(dbdparams "$n")"
# the pool opened when a child starts, one connection per thread (docs/install.md)
DBDMin 25
DBDKeep 25
DBDMax 25
DBDExptime 300

DocPortalJWTSecretFile "$cl/secrets/jwt_secret"
DocPortalAuditKeyFile "$cl/secrets/audit_key"
DocPortalMessageKey c1 "file:$cl/secrets/message_key" current
DocPortalRequireTLS Off
DocPortalMailDir "$dir/mail"
DocPortalPublicURL "http://127.0.0.1:$LB_PORT"
# generous limits: the tests (t/cluster/) register and book many times from one address,
# and use accounts at once (their verification mails are still sent, a pass every second)
DocPortalRequireVerifiedEmail Off
DocPortalMailInterval 1
DocPortalRegisterLimit ${REGISTER_LIMIT:-100000}
DocPortalMaxPendingPerClient ${MAX_PENDING_PER_CLIENT:-100000}
DocPortalBookingHorizonDays ${BOOKING_HORIZON_DAYS:-3650}

<Directory />
    Require all denied
    AllowOverride None
    Options None
</Directory>
<Location /api>
    Require all granted
    SetHandler docportal-api
</Location>
EOF
    "$HTTPD" -t -f "$dir/httpd.conf" >/dev/null 2>&1 || { "$HTTPD" -t -f "$dir/httpd.conf"; die "node$n: httpd configuration test failed"; }
}

# An HTTP answer of HAProxy's: STATUS REASON CODE
lb_error() {
    printf 'HTTP/1.0 %s %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n' "$1" "$2"
    printf '{"detail":"No server could answer the request; try again shortly.","code":"%s"}\n' "$3"
}

render_lb() {
    local dir=$cl/lb
    install -d -m 755 "$dir"
    # HAProxy's own answers (no node up, a node that does not answer) in the API's error shape
    # and codes (docs/api.md)
    lb_error 502 "Bad Gateway" upstream_error >"$dir/502.http"
    lb_error 503 "Service Unavailable" unavailable >"$dir/503.http"
    lb_error 504 "Gateway Timeout" upstream_error >"$dir/504.http"
    cat >"$dir/haproxy.cfg" <<EOF
# the load balancer of build/cluster.sh (generated)
global
    maxconn 2000
    stats socket $dir/admin.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    option forwardfor
    option redispatch
    retries 2
    errorfile 502 $dir/502.http
    errorfile 503 $dir/503.http
    errorfile 504 $dir/504.http
frontend api
    bind 127.0.0.1:$LB_PORT
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /api/health
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    server node1 127.0.0.1:$NODE1_PORT check
    server node2 127.0.0.1:$NODE2_PORT check
EOF
    "$HAPROXY" -c -q -f "$dir/haproxy.cfg" || die "haproxy configuration test failed"
}

healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$1/api/health" 2>/dev/null | grep -q '"status":"ok"'; }

wait_healthy() {
    local what=$1 port=$2 log=$3
    for _ in $(seq 60); do
        healthy "$port" && return 0
        sleep 0.5
    done
    tail -n 20 "$log" >&2 || true
    die "$what did not become healthy within 30 s"
}

print_urls() {
    say "load balancer: http://127.0.0.1:$LB_PORT/api  (HAProxy stats: echo 'show stat' | socat - $cl/lb/admin.sock)"
    say "node1:         http://127.0.0.1:$NODE1_PORT/api  (log: $cl/node1/error.log)"
    say "node2:         http://127.0.0.1:$NODE2_PORT/api  (log: $cl/node2/error.log)"
    say "primary:       127.0.0.1:$DB1_PORT  (psql: DP_VAR=$cl/db1 build/pg.sh psql)"
    say "standby:       127.0.0.1:$DB2_PORT  (psql: DP_VAR=$cl/db2 build/pg.sh psql)"
    say "replication:   $([ "${CLUSTER_SYNC:-0}" = 1 ] && echo synchronous || echo asynchronous)"
}

start() {
    [ -f build/out/mod_docportal.so ] || die "build/out/mod_docportal.so is missing (make build)"
    command -v "$HAPROXY" >/dev/null || die "haproxy is missing (build/deps.sh --cluster)"
    stop_all
    # a new database pair each time; the secrets stay
    rm -rf "$cl/db1/pg" "$cl/db2" "$cl/node1" "$cl/node2" "$cl/lb" "$cl/env"
    install -d -m 755 "$cl" "$cl/db1"
    DB1_PORT=$(bash build/freeport.sh)
    DB2_PORT=$(bash build/freeport.sh $((DB1_PORT + 1)))
    NODE1_PORT=$(bash build/freeport.sh $((DB2_PORT + 1)))
    NODE2_PORT=$(bash build/freeport.sh $((NODE1_PORT + 1)))
    LB_PORT=$(bash build/freeport.sh $((NODE2_PORT + 1)))
    printf 'DB1_PORT=%s\nDB2_PORT=%s\nNODE1_PORT=%s\nNODE2_PORT=%s\nLB_PORT=%s\nCLUSTER_SYNC=%s\n' \
        "$DB1_PORT" "$DB2_PORT" "$NODE1_PORT" "$NODE2_PORT" "$LB_PORT" "${CLUSTER_SYNC:-0}" >"$cl/env"
    trap 'stop_all' ERR
    start_databases
    shared_secrets
    render_node 1 "$NODE1_PORT"
    render_node 2 "$NODE2_PORT"
    render_lb
    for n in $NODES; do "$HTTPD" -f "$cl/node$n/httpd.conf" -k start; done
    wait_healthy node1 "$NODE1_PORT" "$cl/node1/error.log"
    wait_healthy node2 "$NODE2_PORT" "$cl/node2/error.log"
    "$HAPROXY" -D -f "$cl/lb/haproxy.cfg" -p "$cl/lb/haproxy.pid"
    wait_healthy "the load balancer" "$LB_PORT" /dev/null
    trap - ERR
    print_urls
}

# One row per advisory lock held: which node's connection holds the audit sealer's lock
# (1146110293) or the mail delivery's (7125401320001), on the database that takes writes.
locks() {
    local n
    for n in 1 2; do
        pg_running "$n" || continue
        [ "$(pg "$n" psql -At -c 'SELECT pg_is_in_recovery()')" = f ] || continue
        pg "$n" psql -c "SELECT a.application_name AS node, l.pid,
                CASE (l.classid::bigint << 32) | l.objid::bigint
                    WHEN 1146110293 THEN 'audit sealer' WHEN 7125401320001 THEN 'mail delivery'
                    ELSE 'other' END AS lock
              FROM pg_locks l JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted"
    done
}

case $cmd in
start) start ;;
stop)
    stop_all
    say "stopped"
    ;;
env) cat "$cl/env" ;;
status)
    load_env || die "no cluster (make cluster)"
    print_urls
    for n in $NODES; do
        if healthy "$(eval echo "\$NODE${n}_PORT")"; then say "node$n healthy"; else say "node$n down"; fi
    done
    for n in 1 2; do
        if pg_running "$n"; then
            say "db$n: $(pg "$n" psql -At -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END")"
        else
            say "db$n: stopped"
        fi
    done
    locks
    ;;
locks) locks ;;
kill-node)
    n=${2:?kill-node N}
    kill_node "$n"
    ;;
start-node)
    n=${2:?start-node N}
    load_env || die "no cluster (make cluster)"
    stop_node "$n"
    "$HTTPD" -f "$cl/node$n/httpd.conf" -k start
    wait_healthy "node$n" "$(eval echo "\$NODE${n}_PORT")" "$cl/node$n/error.log"
    ;;
kill-db)
    n=${2:?kill-db N}
    as_pg "$pgbin/pg_ctl" -D "$(pg_data "$n")" -m immediate -w -s stop
    say "db$n stopped (immediate)"
    ;;
promote)
    n=${2:?promote N}
    as_pg "$pgbin/pg_ctl" -D "$(pg_data "$n")" -w -s promote
    say "db$n promoted"
    ;;
failover)
    "$0" kill-db 1
    "$0" promote 2
    ;;
*) die "usage: cluster.sh start|stop|status|locks|env|kill-node N|start-node N|kill-db N|promote N|failover" ;;
esac
