#!/usr/bin/env bash
# The API half of `make test`: a throwaway PostgreSQL cluster on a free port, the migrations,
# then the Apache::Test suite against a real httpd with the module loaded. Everything it
# starts is stopped and removed on exit, pass or fail.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=$(bash build/var.sh "$root")
export DP_ROOT=$root
export DP_VAR=$state/test-$$
export DP_PG_SH=$root/build/pg.sh
export DP_PG_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
export DP_PG_PORT
DP_PG_PORT=$(bash build/freeport.sh)
http_port=$(bash build/freeport.sh $((DP_PG_PORT + 1)))

fake_pid= google_pid=
cleanup() {
    [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
    [ -z "$google_pid" ] || kill "$google_pid" 2>/dev/null || true
    # the SMTP sink: a test may have restarted it, so its pid file names the live one
    [ ! -s "${DP_SMTP_DIR:-/nonexistent}/.pid" ] || kill "$(cat "$DP_SMTP_DIR/.pid")" 2>/dev/null || true
    bash build/pg.sh destroy >/dev/null 2>&1 || true
    rm -rf "$DP_VAR"
}
trap cleanup EXIT

bash build/pg.sh start
DATABASE_URL=$(bash build/pg.sh url owner) bash build/migrate.sh
real_var=$(realpath "$DP_VAR")
# the module and the httpd binary (or a wrapper that sets httpd's environment at exec, as
# build/asan.sh writes one) are overridable: the normal build and Debian's httpd by default.
# DP_TOOLS, when set, names the directory of the CLI tools the tests run (build/out otherwise).
export DOCPORTAL_MODULE=${DOCPORTAL_MODULE:-$root/build/out/mod_docportal.so}
export DP_HTTPD=${DP_HTTPD:-/usr/sbin/apache2}
export DOCPORTAL_DBDPARAMS
DOCPORTAL_DBDPARAMS=$(bash build/pg.sh dbdparams)
export DOCPORTAL_JWT_SECRET_FILE=$real_var/secrets/jwt_secret
# the message key ring of the suite's server: one key, current (rotation tests add their own)
export DOCPORTAL_MESSAGE_KEY_FILE=$real_var/secrets/message_key_t1
(umask 077 && openssl rand -hex 32 >"$DOCPORTAL_MESSAGE_KEY_FILE")
# audit chain: the key that seals the audit trail, outside the database
export DOCPORTAL_AUDIT_KEY_FILE=$real_var/secrets/audit_key
(umask 077 && openssl rand -hex 32 >"$DOCPORTAL_AUDIT_KEY_FILE")
export DP_PSQL="psql -X -q -h $real_var/pg/run -p $DP_PG_PORT -U postgres -d docportal"
export DP_PSQL_APP
DP_PSQL_APP="psql -X -q $(bash build/pg.sh url app)"

# Stripe: the suite's server talks to a local fake of the Stripe API (t/fakes/stripe_fake.pl)
export DOCPORTAL_STRIPE_KEY_FILE=$real_var/secrets/stripe_secret_key
export DOCPORTAL_STRIPE_WEBHOOK_FILE=$real_var/secrets/stripe_webhook_secret
(umask 077 && echo "sk_test_$(openssl rand -hex 12)" >"$DOCPORTAL_STRIPE_KEY_FILE" &&
    echo "whsec_$(openssl rand -hex 16)" >"$DOCPORTAL_STRIPE_WEBHOOK_FILE")
coproc STRIPE_FAKE { exec perl t/fakes/stripe_fake.pl --port 0; }
fake_pid=$STRIPE_FAKE_PID
read -r ready port <&"${STRIPE_FAKE[0]}" || true
[ "$ready" = ready ] || { echo "test.sh: the Stripe fake did not start" >&2; exit 1; }
export DOCPORTAL_STRIPE_API_BASE=http://127.0.0.1:$port

# Google sign-in for the portal's tests: a local stand-in for Google's keys and for Google
# Identity Services (t/fakes/google_certs_fake.pl), signing ID tokens with a key of its own
mkdir -p "$real_var/google"
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=google-fake \
    -keyout "$real_var/google/signer.key" -out "$real_var/google/signer.crt" 2>/dev/null
perl t/fakes/google_certs_fake.pl --port 0 --cert "suite=$real_var/google/signer.crt" \
    --signer "suite=$real_var/google/signer.key" >"$real_var/google/ready" 2>"$real_var/google/log" &
google_pid=$!
for _ in $(seq 1 100); do
    grep -q '^ready' "$real_var/google/ready" 2>/dev/null && break
    sleep 0.1
done
read -r ready port <"$real_var/google/ready" || true
[ "$ready" = ready ] || { echo "test.sh: the Google fake did not start" >&2; cat "$real_var/google/log" >&2; exit 1; }
export DOCPORTAL_GOOGLE_FAKE=http://127.0.0.1:$port

# Mail: the suite's server delivers to a local SMTP sink (t/fakes/smtp_fake.pl) that keeps
# each message as a file in DP_SMTP_DIR, where the tests read it (t/lib/DocPortal/Mail.pm).
export DP_SMTP_DIR=$real_var/smtp DP_SMTP_PORT
mkdir -p "$DP_SMTP_DIR"
DP_SMTP_PORT=$(bash build/freeport.sh $((http_port + 50)))
perl t/fakes/smtp_fake.pl --port "$DP_SMTP_PORT" --dir "$DP_SMTP_DIR" >"$real_var/smtp.ready" 2>"$real_var/smtp.log" &
for _ in $(seq 1 100); do
    grep -q '^ready' "$real_var/smtp.ready" 2>/dev/null && break
    sleep 0.1
done
grep -q '^ready' "$real_var/smtp.ready" || { echo "test.sh: the SMTP sink did not start" >&2; cat "$real_var/smtp.log" >&2; exit 1; }
export DOCPORTAL_SMTP_URL=smtp://127.0.0.1:$DP_SMTP_PORT

# TLS: a certificate for localhost, for the suite's TLS virtual host (t/conf/extra.conf.in)
export DOCPORTAL_TLS_CERT=$real_var/tls/server.crt DOCPORTAL_TLS_KEY=$real_var/tls/server.key
mkdir -p "$real_var/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$DOCPORTAL_TLS_KEY" -out "$DOCPORTAL_TLS_CERT" 2>/dev/null

# The portal (make portal) for the test server's DocumentRoot, where its children can read it
export DOCPORTAL_PORTAL_ROOT=$real_var/portal
bash build/portal.sh stage "$DOCPORTAL_PORTAL_ROOT"

# Apache::Test keeps generated files under t/; start from a clean slate every run.
rm -rf t/logs t/conf/httpd.conf t/conf/extra.conf t/conf/apache_test_config.pm
# Two passes over the same server configuration: plain HTTP (DocPortalRequireTLS Off on the
# main port), then every API test again over TLS on the TLS virtual host, where
# DocPortalRequireTLS is On as in production. DP_TEST_PASSES=plain or tls runs one of them.
# Each pass starts from an empty database and a new server log, as the first one does: tests
# count rows and read the log (the audit chain's checkpoints among them).
fresh_database() {
    psql -X -q -h "$real_var/pg/run" -p "$DP_PG_PORT" -U postgres -d postgres -c 'DROP DATABASE docportal WITH (FORCE)' >/dev/null
    rm -f "$real_var/pg/bootstrapped"    # pg.sh start then creates the database again
    bash build/pg.sh start >/dev/null
    DATABASE_URL=$(bash build/pg.sh url owner) bash build/migrate.sh >/dev/null
    rm -rf t/logs
}
# No test named: every API test. Apache::Test would otherwise take every .t under t/, the
# cluster's tests (t/cluster, make test-cluster) among them.
[ $# -gt 0 ] || set -- t/api/*.t
passes=${DP_TEST_PASSES:-plain tls}
first=1
for pass in $passes; do
    [ -n "$first" ] || fresh_database
    first=
    echo "== API tests over ${pass/plain/plain HTTP} =="
    DP_TLS=$([ "$pass" = tls ] && echo 1 || echo 0) \
        perl t/TEST -apxs /usr/bin/apxs -httpd "$DP_HTTPD" \
        -httpd_conf "$root/t/conf/modules.conf" -port "$http_port" "$@"
done
