#!/usr/bin/env bash
# The dev instance behind `make run` (foreground), `make start` (background) and `make stop`:
# the project's private PostgreSQL cluster (or DATABASE_URL), the migrations, and httpd with
# the module on http://127.0.0.1:${DOCPORTAL_PORT:-8080}. State lives in var/ and is reused.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmd=${1:?usage: instance.sh run|start|stop}
# DOCPORTAL_STATE: another state directory than var/ (a second instance beside make run's,
# e.g. make sqlmap's)
if [ -n "${DOCPORTAL_STATE:-}" ]; then
    mkdir -p "$DOCPORTAL_STATE" && chmod 755 "$DOCPORTAL_STATE"
    state=$(realpath "$DOCPORTAL_STATE")
else
    state=$(bash build/var.sh "$root")
fi
export DP_VAR=$state
[ -z "${DOCPORTAL_PG_PORT:-}" ] || export DP_PG_PORT=$DOCPORTAL_PG_PORT
HTTPD=${HTTPD:-/usr/sbin/apache2}
conf=$state/httpd/httpd.conf
port=${DOCPORTAL_PORT:-8080}
# httpd's children and threads; each child opens its database pool at start, one connection
# per thread (DBDMin = DBDKeep = DBDMax = ThreadsPerChild)
servers=2 threads=25

say() { echo "docportal: $*"; }
die() { echo "docportal: $*" >&2; exit 1; }

httpd_pid() {
    local pid
    [ -f "$state/httpd/httpd.pid" ] || return 1
    pid=$(cat "$state/httpd/httpd.pid")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_all() {
    local pid
    if pid=$(httpd_pid); then
        "$HTTPD" -f "$conf" -k stop 2>/dev/null || kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        say "httpd stopped"
    fi
    if [ -z "${DATABASE_URL:-}" ] && [ -d "$state/pg/data" ]; then
        bash build/pg.sh stop
    fi
}

# The database: DATABASE_URL when given (it wins over DB_NAME), else the private cluster.
setup_database() {
    local db=${DB_NAME:-docportal}
    if [ -n "${DATABASE_URL:-}" ]; then
        owner_url=$DATABASE_URL
        dbdparams=$DATABASE_URL
        app_role=$(psql -X -At "$DATABASE_URL" -c 'SELECT current_user') ||
            die "cannot connect to DATABASE_URL"
        return
    fi
    case $db in *[!a-z0-9_]* | '') die "DB_NAME must be lower-case letters, digits and _" ;; esac
    DP_PG_OPTS="-c max_connections=$(max_connections) ${DP_PG_OPTS:-}" bash build/pg.sh start
    owner_url=$(bash build/pg.sh url owner)
    dbdparams=$(bash build/pg.sh dbdparams)
    app_role=docportal_app
    if [ "$db" != docportal ]; then
        if [ -z "$(bash build/pg.sh psql -At -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
            bash build/pg.sh psql -q -c "CREATE DATABASE $db OWNER docportal_owner" \
                -c "REVOKE ALL ON DATABASE $db FROM PUBLIC" \
                -c "GRANT CONNECT ON DATABASE $db TO docportal_app"
            bash build/pg.sh psql -q -d "$db" -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" \
                -c "ALTER SCHEMA public OWNER TO docportal_owner"
        fi
        owner_url=${owner_url%/docportal}/$db
        dbdparams=${dbdparams/dbname=docportal/dbname=$db}
    fi
}

# PostgreSQL's max_connections for the private cluster: every child's full pool (the audit
# sealer and the mail delivery borrow their connection from it), twice over for a graceful
# restart whose old children still finish their requests, and 10 for psql, the migrations and
# dp-audit-verify. A cluster that already runs keeps its setting until it is restarted.
max_connections() { echo $((2 * servers * threads + 10)); }

# JWT_SECRET from the environment, else the secret kept under var/ (generated once).
jwt_secret_file() {
    local f
    install -d -m 700 "$state/secrets"
    if [ -n "${JWT_SECRET:-}" ]; then
        [ "${#JWT_SECRET}" -ge 32 ] || die "JWT_SECRET must be at least 32 bytes"
        f=$state/secrets/jwt_secret.env
        (umask 077 && printf '%s\n' "$JWT_SECRET" >"$f")
    else
        f=$state/secrets/jwt_secret
        [ -s "$f" ] || (umask 077 && openssl rand -hex 32 >"$f")
    fi
    echo "$f"
}

# The message key ring: a key generated once and kept in var/secrets/ (id dev1), and, when
# MESSAGE_ENCRYPTION_KEY (64 hex or base64) is set, that key too (id env) as the current one;
# dev1 then stays in the ring so that messages sealed under it still open. httpd reads both
# from 0600 files.
message_key_lines() {
    local gen=$state/secrets/message_key env=$state/secrets/message_key.env
    install -d -m 700 "$state/secrets"
    [ -s "$gen" ] || (umask 077 && openssl rand -hex 32 >"$gen")
    if [ -n "${MESSAGE_ENCRYPTION_KEY:-}" ]; then
        (umask 077 && printf '%s\n' "$MESSAGE_ENCRYPTION_KEY" >"$env")
        printf 'DocPortalMessageKey dev1 "file:%s"\nDocPortalMessageKey env "file:%s" current\n' "$gen" "$env"
    else
        printf 'DocPortalMessageKey dev1 "file:%s" current\n' "$gen"
    fi
}

# audit chain: the key that seals the audit trail, generated once and kept in
# var/secrets/ (outside the database); `make audit-verify` uses it too.
audit_key_file() {
    local f=$state/secrets/audit_key
    install -d -m 700 "$state/secrets"
    [ -s "$f" ] || (umask 077 && openssl rand -hex 32 >"$f")
    echo "$f"
}

# Google sign-in from its environment variables.
google_lines() {
    [ -z "${GOOGLE_CLIENT_ID:-}" ] || echo "DocPortalGoogleClientID \"$GOOGLE_CLIENT_ID\""
    [ -z "${GOOGLE_CERTS_URL:-}" ] || echo "DocPortalGoogleCertsURL \"$GOOGLE_CERTS_URL\""
    [ -z "${GOOGLE_GSI_URL:-}" ] || echo "DocPortalGoogleGsiURL \"$GOOGLE_GSI_URL\""
}

# "DIRECTIVE path" for a secret from the environment, kept in a 0600 file httpd reads as root.
secret_line() {
    local directive=$1 name=$2 value=$3 f=$state/secrets/$2
    (umask 077 && printf '%s\n' "$value" >"$f")
    echo "$directive \"$f\""
}

# Stripe from its environment variables.
stripe_lines() {
    [ -z "${STRIPE_SECRET_KEY:-}" ] || secret_line DocPortalStripeSecretKeyFile stripe_secret_key "$STRIPE_SECRET_KEY"
    [ -z "${STRIPE_WEBHOOK_SECRET:-}" ] || secret_line DocPortalStripeWebhookSecretFile stripe_webhook_secret "$STRIPE_WEBHOOK_SECRET"
    [ -z "${STRIPE_PUBLISHABLE_KEY:-}" ] || echo "DocPortalStripePublishableKey \"$STRIPE_PUBLISHABLE_KEY\""
    [ -z "${STRIPE_API_BASE:-}" ] || echo "DocPortalStripeAPIBase \"$STRIPE_API_BASE\""
    [ -z "${STRIPE_JS_URL:-}" ] || echo "DocPortalStripeJsURL \"$STRIPE_JS_URL\""
}

# The origin (scheme://host[:port]) of a script the portal loads: the URL in the variable
# named $1, else the default $2.
script_origin() {
    local url=${!1:-$2}
    [[ $url =~ ^(https?://[A-Za-z0-9.-]+(:[0-9]+)?)(/[^[:space:]\"\;,]*)?$ ]] ||
        die "$1 must be an http(s) URL"
    echo "${BASH_REMATCH[1]}"
}
# Stripe.js: STRIPE_JS_URL, else Stripe's own.
stripe_js_origin() { script_origin STRIPE_JS_URL https://js.stripe.com/v3/; }
# Google Identity Services: GOOGLE_GSI_URL, else Google's own.
google_gsi_origin() { script_origin GOOGLE_GSI_URL https://accounts.google.com/gsi/client; }

# Mail: SMTP_URL (with SMTP_USER / SMTP_PASSWORD for AUTH, kept in 0600 files), else every mail
# is written as a file into var/mail/; links point at PUBLIC_URL (default: this instance).
mail_dir() { echo "$state/mail"; }
mail_lines() {
    if [ -n "${SMTP_URL:-}" ]; then
        echo "DocPortalSMTPURL \"$SMTP_URL\""
        [ -z "${SMTP_USER:-}" ] || secret_line DocPortalSMTPUserFile smtp_user "$SMTP_USER"
        [ -z "${SMTP_PASSWORD:-}" ] || secret_line DocPortalSMTPPasswordFile smtp_password "$SMTP_PASSWORD"
    else
        install -d -m 750 "$(mail_dir)"
        # the children write there: as root they run as www-data (or nobody)
        [ "$(id -u)" -ne 0 ] || chown "$(httpd_user)" "$(mail_dir)"
        echo "DocPortalMailDir \"$(mail_dir)\""
    fi
    echo "DocPortalMailFrom \"${MAIL_FROM:-DocPortal <no-reply@localhost>}\""
    echo "DocPortalPublicURL \"${PUBLIC_URL:-http://127.0.0.1:$port}\""
    [ -z "${REGISTER_LIMIT:-}" ] || echo "DocPortalRegisterLimit $REGISTER_LIMIT"
}

# Scheduling limits (a test suite that books many sessions, or far ahead, raises them).
schedule_lines() {
    [ -z "${MAX_PENDING_PER_CLIENT:-}" ] || echo "DocPortalMaxPendingPerClient $MAX_PENDING_PER_CLIENT"
    [ -z "${BOOKING_HORIZON_DAYS:-}" ] || echo "DocPortalBookingHorizonDays $BOOKING_HORIZON_DAYS"
    [ -z "${MIN_NOTICE_MINUTES:-}" ] || echo "DocPortalMinNotice $MIN_NOTICE_MINUTES"
    [ -z "${REMINDER_LEAD_HOURS:-}" ] || echo "DocPortalReminderLead $REMINDER_LEAD_HOURS"
}

# The portal's built files (make portal), copied where httpd's children can read them: var/
# is reachable by them even when the checkout is not.
portal_root() { echo "$state/portal"; }
install_portal() {
    [ -f "$root/build/out/portal/index.html" ] || say "note: the portal is not built (make portal)"
    bash build/portal.sh stage "$(portal_root)"
}

# The portal's Content-Security-Policy: scripts from the portal itself, plus Stripe.js (from
# STRIPE_JS_URL's origin) and Google Identity Services (from GOOGLE_GSI_URL's) when their keys
# are configured; no inline script, no framing. A stand-in served from elsewhere than Stripe's
# or Google's own host talks to its own origin, which connect-src then allows too.
portal_csp() {
    local script="'self'" style="'self'" connect="'self'" frame="" js gsi
    if [ -n "${STRIPE_PUBLISHABLE_KEY:-}" ]; then
        js=$(stripe_js_origin)
        script+=" $js"
        connect+=" https://api.stripe.com"
        [ "$js" = https://js.stripe.com ] || connect+=" $js"
        frame+=" $js https://hooks.stripe.com"
    fi
    if [ -n "${GOOGLE_CLIENT_ID:-}" ]; then
        gsi=$(google_gsi_origin)
        if [ "$gsi" = https://accounts.google.com ]; then
            script+=" https://accounts.google.com/gsi/client"
            style+=" https://accounts.google.com/gsi/style"
            connect+=" https://accounts.google.com/gsi/"
            frame+=" https://accounts.google.com/gsi/"
        else
            script+=" $gsi"
            connect+=" $gsi"
        fi
    fi
    [ -n "$frame" ] || frame=" 'none'"
    echo "default-src 'self'; script-src $script; style-src $style; img-src 'self' data:;" \
        "connect-src $connect; frame-src$frame; object-src 'none'; base-uri 'none';" \
        "form-action 'self'; frame-ancestors 'none'"
}

httpd_user() { if id www-data >/dev/null 2>&1; then echo www-data; else echo nobody; fi; }

render_conf() {
    local user=""
    if [ "$(id -u)" -eq 0 ]; then
        if id www-data >/dev/null 2>&1; then user="User www-data
Group www-data"; else user="User nobody
Group nogroup"; fi
    fi
    case ${JWT_EXPIRE_HOURS:-24} in *[!0-9]* | '') die "JWT_EXPIRE_HOURS must be a whole number" ;; esac
    case $port in *[!0-9]* | '') die "DOCPORTAL_PORT must be a port number" ;; esac
    local v
    for v in REGISTER_LIMIT MAX_PENDING_PER_CLIENT BOOKING_HORIZON_DAYS MIN_NOTICE_MINUTES \
             REMINDER_LEAD_HOURS; do
        case ${!v:-1} in *[!0-9]* | '') die "$v must be a whole number" ;; esac
    done
    stripe_js_origin >/dev/null
    google_gsi_origin >/dev/null
    mkdir -p "$state/httpd/run"
    DPC_STATE=$state DPC_PORT=$port DPC_USER=$user DPC_MODULE=$root/build/out/mod_docportal.so \
    DPC_SERVERS=$servers DPC_THREADS=$threads DPC_WORKERS=$((servers * threads)) \
    DPC_DBDPARAMS=$dbdparams DPC_JWT_SECRET_FILE=$(jwt_secret_file) \
    DPC_TOKEN_HOURS=${JWT_EXPIRE_HOURS:-24} DPC_MESSAGE_KEYS=$(message_key_lines) DPC_GOOGLE=$(google_lines) \
    DPC_STRIPE=$(stripe_lines) DPC_MAIL=$(mail_lines) DPC_SCHEDULE=$(schedule_lines) \
    DPC_AUDIT_KEY_FILE=$(audit_key_file) DPC_PORTAL_ROOT=$(portal_root) DPC_CSP=$(portal_csp) \
    DPC_PORTAL_CONF=$root/conf/docportal-portal.conf \
    DPC_CORS=${FRONTEND_URL:+DocPortalCORSOrigin \"$FRONTEND_URL\"} \
        perl -pe 's/@([A-Z_]+)@/exists $ENV{"DPC_$1"} ? $ENV{"DPC_$1"} : die "unknown placeholder $1\n"/ge' \
        conf/httpd-dev.conf.in >"$conf.tmp"
    # DOCPORTAL_HTTPD_EXTRA: directives added at the end (e.g. limits raised for a scan)
    [ -z "${DOCPORTAL_HTTPD_EXTRA:-}" ] || printf '%s\n' "$DOCPORTAL_HTTPD_EXTRA" >>"$conf.tmp"
    mv "$conf.tmp" "$conf"
    "$HTTPD" -t -f "$conf" >/dev/null 2>&1 || { "$HTTPD" -t -f "$conf"; die "httpd configuration test failed"; }
}

note_unused() {
    local v
    for v in GOOGLE_CLIENT_SECRET GOOGLE_API_KEY; do
        [ -z "${!v:-}" ] || say "note: $v is not used (ID tokens are verified without a secret; Meet links need a service account: DocPortalGoogleKeyFile)"
    done
}

prepare() {
    if httpd_pid >/dev/null; then
        die "already running on http://127.0.0.1:$port (make stop first)"
    fi
    setup_database
    DATABASE_URL=$owner_url DP_APP_ROLE=$app_role bash build/migrate.sh
    install_portal
    render_conf
    note_unused
}

print_endpoints() {
    say "portal:   http://127.0.0.1:$port/"
    say "API:      http://127.0.0.1:$port/api  (health: http://127.0.0.1:$port/api/health)"
    say "database: $owner_url"
    if [ -n "${SMTP_URL:-}" ]; then
        say "mail:     sent through ${SMTP_URL%%\?*}"
    else
        say "mail:     written as files into $(mail_dir)/ (set SMTP_URL to send it)"
    fi
}

case $cmd in
run)
    prepare
    print_endpoints
    say "running in the foreground; Ctrl-C stops httpd and PostgreSQL"
    trap stop_all EXIT
    trap 'exit 0' INT TERM
    "$HTTPD" -f "$conf" -DFOREGROUND
    ;;
start)
    prepare
    "$HTTPD" -f "$conf" -k start
    for _ in $(seq 60); do
        if curl -fsS "http://127.0.0.1:$port/api/health" 2>/dev/null | grep -q '"status":"ok"'; then
            print_endpoints
            say "started in the background; make stop stops it (log: $state/httpd/error.log)"
            exit 0
        fi
        sleep 0.5
    done
    tail -n 20 "$state/httpd/error.log" >&2 || true
    die "httpd did not become healthy within 30 s"
    ;;
stop)
    stop_all
    ;;
*)
    die "usage: instance.sh run|start|stop"
    ;;
esac
