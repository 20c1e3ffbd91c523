#!/bin/bash
# A private PostgreSQL cluster for mod_docportal under $DP_VAR.
# Usage: DP_VAR=DIR [DP_PG_PORT=N] [DP_PG_OPTS='-c fsync=off'] build/pg.sh CMD [ARGS]
#   init | start      initialise on first use (secrets, initdb, roles, database),
#                     start if not running; idempotent
#   stop              fast shutdown if running
#   crash             immediate shutdown if running: the server processes quit at once, without
#                     a checkpoint, and the next start recovers from the WAL (fault tests)
#   status            exit 0 if running (prints one line)
#   port              print the port the cluster uses
#   url [owner|app]   libpq URI over TCP 127.0.0.1 (default: owner)
#   dbdparams         conninfo of the app role for DBDParams
#   psql [ARGS]       psql as superuser postgres over the socket, db docportal
#   destroy           stop, then delete $DP_VAR/pg and $DP_VAR/secrets
# Layout: $DP_VAR/pg/{data,run,pg.log,port}, $DP_VAR/secrets/*.
# As root, initdb/pg_ctl/postgres run as user postgres (they refuse root), so
# the pg dirs belong to postgres; otherwise everything runs as the caller.
# Messages go to stderr; stdout only carries what a command prints.
set -eu
# Let set -e also stop inside $(...) (wanted_port, secret, ... die there).
shopt -s inherit_errexit

readonly DB=docportal OWNER_ROLE=docportal_owner APP_ROLE=docportal_app
readonly SECRETS="db_owner_password db_app_password jwt_secret"

die() { echo "pg.sh: $*" >&2; exit 1; }
note() { echo "pg.sh: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
[ $# -eq 0 ] || shift
case $cmd in
    init | start | stop | crash | status | port | url | dbdparams | psql | destroy) ;;
    *) die "usage: DP_VAR=DIR [DP_PG_PORT=N] $0 init|start|stop|crash|status|port|url [owner|app]|dbdparams|psql [ARGS]|destroy" ;;
esac
[ -n "${DP_VAR:-}" ] || die "DP_VAR must name the state directory (e.g. \$(build/var.sh .)/test)"

# Physical path: as root, postgres could not follow REPO/var when the
# checkout is under /root, but it can reach the symlink's target.
var=$(realpath -m -- "$DP_VAR")
# The path ends up inside pg_ctl -o, which a shell parses: keep it plain.
case $var in
    *[!A-Za-z0-9/._+,@=:-]*) die "DP_VAR path has characters this script does not quote: $var" ;;
esac
pgdir=$var/pg
data=$pgdir/data
run=$pgdir/run
log=$pgdir/pg.log
portfile=$pgdir/port
marker=$pgdir/bootstrapped
sec=$var/secrets

# Connection settings from the caller's environment must not redirect us.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGSERVICEFILE PGDATA PGPASSWORD PGPASSFILE

# PostgreSQL 15 as shipped by Debian 12; else the newest installed major.
pgbin=${DP_PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$pgbin/pg_ctl" ]; then
    pgbin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    [ -x "$pgbin/pg_ctl" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (run build/deps.sh)"
fi

if [ "$(id -u)" -eq 0 ]; then
    is_root=1
    # cd /: the caller's cwd may be unreadable for postgres (e.g. /root/...).
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    is_root=0
    as_pg() { "$@"; }
fi

running() {
    [ -f "$data/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# Port of the running server (4th line of postmaster.pid), else empty.
running_port() {
    if running; then sed -n 4p "$data/postmaster.pid" 2>/dev/null || true; fi
}

# DP_PG_PORT wins, then the recorded port; empty when neither is known.
wanted_port() {
    local p=${DP_PG_PORT:-}
    if [ -z "$p" ] && [ -f "$portfile" ]; then p=$(cat "$portfile"); fi
    case $p in
        '') ;;
        *[!0-9]*) die "bad port '$p' (DP_PG_PORT or $portfile)" ;;
    esac
    echo "$p"
}

need_port() {
    local p
    p=$(wanted_port)
    [ -n "$p" ] || die "port unknown: run '$0 start' first or set DP_PG_PORT"
    echo "$p"
}

secret() {
    [ -s "$sec/$1" ] || die "missing $sec/$1: run '$0 init' first"
    local v
    v=$(head -n 1 "$sec/$1")
    # Passwords go unescaped into SQL, URIs and conninfo strings.
    case $v in
        '' | *[!A-Za-z0-9._~-]*) die "$sec/$1 must be one line of [A-Za-z0-9._~-] (e.g. openssl rand -hex 32)" ;;
    esac
    echo "$v"
}

# Serialise init/start/stop/destroy on one state dir (parallel make targets).
lock() {
    exec 9<"$var"
    flock 9
}

# Create missing secrets only; new_db_secret=1 when a DB password was (re)made
# so that the roles get it even on an existing cluster.
new_db_secret=0
ensure_secrets() {
    local f tmp
    [ -d "$sec" ] || mkdir -p "$sec"
    chmod 700 "$sec"
    for f in $SECRETS; do
        [ -s "$sec/$f" ] && continue
        tmp=$sec/.$f.$$
        (
            umask 077
            if command -v openssl >/dev/null 2>&1; then
                openssl rand -hex 32 >"$tmp"
            else
                od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp" && echo >>"$tmp"
            fi
        )
        chmod 600 "$tmp"
        mv -f "$tmp" "$sec/$f"
        case $f in db_*) new_db_secret=1 ;; esac
    done
}

make_dirs() {
    if [ "$is_root" -eq 1 ]; then
        id -u postgres >/dev/null 2>&1 || die "user postgres does not exist (run build/deps.sh)"
        install -d -m 700 -o postgres -g postgres "$pgdir" "$run"
        runuser -u postgres -- test -w "$pgdir" 2>/dev/null ||
            die "user postgres cannot reach $pgdir: keep DP_VAR where postgres can traverse (build/var.sh REPO does that for REPO/var)"
    else
        install -d -m 700 "$pgdir" "$run"
    fi
}

# Free to listen on: nobody listens there. Our own TIME_WAIT/CLOSE_WAIT leftovers from a
# restart do not count (PostgreSQL binds with SO_REUSEADDR).
port_free() {
    if command -v ss >/dev/null 2>&1; then
        [ -z "$(ss -Htln "sport = :$1")" ]
    else
        ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

start_server() {
    local port=$1
    # 9<&-: the postmaster must not inherit (and keep) our lock.
    if ! as_pg "$pgbin/pg_ctl" -D "$data" -l "$log" -w -s \
        -o "-k '$run' -p $port -c listen_addresses=127.0.0.1 ${DP_PG_OPTS:-}" start 9<&-; then
        tail -n 20 "$log" >&2 || true
        die "PostgreSQL did not start (log: $log)"
    fi
    echo "$port" >"$portfile"
    note "PostgreSQL running on 127.0.0.1:$port (socket $run)"
}

# Roles, database and privileges; safe to repeat (also re-applies passwords).
bootstrap() {
    local port=$1 owner_pw app_pw
    owner_pw=$(secret db_owner_password)
    app_pw=$(secret db_app_password)
    "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$port" -U postgres -d postgres <<SQL >/dev/null
SET client_min_messages = warning;
SELECT 'CREATE ROLE $OWNER_ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$OWNER_ROLE') \gexec
SELECT 'CREATE ROLE $APP_ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_ROLE') \gexec
ALTER ROLE $OWNER_ROLE LOGIN PASSWORD '$owner_pw';
ALTER ROLE $APP_ROLE LOGIN PASSWORD '$app_pw';
SELECT 'CREATE DATABASE $DB OWNER $OWNER_ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB') \gexec
REVOKE ALL ON DATABASE $DB FROM PUBLIC;
GRANT CONNECT ON DATABASE $DB TO $APP_ROLE;
\connect $DB
SET client_min_messages = warning;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
    touch "$marker"
}

do_start() {
    local port cur sock
    # 755 even under umask 077: postgres must pass through it when root.
    [ -d "$var" ] || { mkdir -p "$var" && chmod 755 "$var"; }
    lock
    make_dirs
    ensure_secrets
    port=$(wanted_port)
    cur=$(running_port)
    if [ -n "$cur" ]; then
        if [ -n "${DP_PG_PORT:-}" ] && [ "$cur" != "$DP_PG_PORT" ]; then
            port_free "$DP_PG_PORT" || die "port $DP_PG_PORT is in use; PostgreSQL stays on $cur"
            note "running on port $cur, restarting on $DP_PG_PORT"
            as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w -s stop
        else
            echo "$cur" >"$portfile"
            port=$cur
        fi
    fi
    if [ -z "$cur" ] && [ -n "$port" ] && ! port_free "$port"; then
        [ -z "${DP_PG_PORT:-}" ] || die "port $DP_PG_PORT is in use"
        # Only the recorded port, not a requested one, may move.
        note "port $port is taken, choosing another"
        port=
    fi
    [ -n "$port" ] || port=$("$here/freeport.sh")
    # sun_path is 108 bytes; PostgreSQL would only say so in its log.
    sock=$run/.s.PGSQL.$port
    [ "${#sock}" -le 107 ] || die "socket path too long (${#sock} > 107 bytes): $sock; use a shorter DP_VAR"

    if [ ! -f "$data/PG_VERSION" ]; then
        # Leftovers of an interrupted initdb would make it refuse; but a
        # cluster that was complete once is not wiped silently.
        [ ! -e "$data" ] || [ ! -f "$marker" ] ||
            die "$data has no PG_VERSION but was set up before: inspect it, or '$0 destroy'"
        rm -rf "$data"
        note "initialising cluster in $data"
        if ! as_pg "$pgbin/initdb" -D "$data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1; then
            cat "$pgdir/initdb.log" >&2
            die "initdb failed"
        fi
    fi
    running || start_server "$port"
    if [ ! -f "$marker" ] || [ "$new_db_secret" -eq 1 ]; then
        bootstrap "$port"
    fi
}

case $cmd in
    init | start)
        do_start
        ;;
    stop | crash)
        [ -d "$var" ] || exit 0
        lock
        if running; then
            if [ "$cmd" = crash ]; then
                as_pg "$pgbin/pg_ctl" -D "$data" -m immediate -w -s stop
                note "PostgreSQL stopped at once, without a checkpoint ($data)"
            else
                as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w -s stop
                note "PostgreSQL stopped ($data)"
            fi
        fi
        ;;
    status)
        if running; then
            echo "running on 127.0.0.1:$(running_port) ($data)"
        else
            echo "not running ($data)"
            exit 1
        fi
        ;;
    port)
        need_port
        ;;
    url)
        # Assign first: a failing $(...) inside echo's arguments would not stop us.
        case ${1:-owner} in
            owner) role=$OWNER_ROLE pw=$(secret db_owner_password) ;;
            app) role=$APP_ROLE pw=$(secret db_app_password) ;;
            *) die "url: expected owner or app, got '$1'" ;;
        esac
        port=$(need_port)
        echo "postgresql://$role:$pw@127.0.0.1:$port/$DB"
        ;;
    dbdparams)
        port=$(need_port)
        pw=$(secret db_app_password)
        echo "host=127.0.0.1 port=$port dbname=$DB user=$APP_ROLE password=$pw"
        ;;
    psql)
        port=$(need_port)
        # Root can enter the postgres-owned socket dir; no runuser needed.
        exec "$pgbin/psql" -X -h "$run" -p "$port" -U postgres -d "$DB" "$@"
        ;;
    destroy)
        [ -d "$var" ] || exit 0
        lock
        if running; then
            as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w -s stop
        fi
        rm -rf "$pgdir" "$sec"
        note "removed $pgdir and $sec"
        ;;
esac
