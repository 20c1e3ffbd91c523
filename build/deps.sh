#!/bin/bash
# Make sure the Debian packages mod_docportal needs are installed, by what they are for:
#   --build    compiling the module (the compiler, apxs, the -dev headers)
#   --runtime  running it in an Apache (httpd, mod_dbd's PostgreSQL driver, psql for the
#              migrations, openssl for the secrets)
#   --dev      the private instance of `make run` / `make start` (a PostgreSQL server, curl)
#   --portal   building the web front end in portal/ (Node.js and npm; `make portal`, which
#              `make run`, `make start`, `make test` and `make install` use)
#   --test     the test suite (the PostgreSQL server, Apache::Test from mod_perl, the Perl and
#              Python modules of the tests and fakes, Node.js and Chromium for the portal's
#              browser tests)
#   --fuzz     the libFuzzer harnesses of `make fuzz` (clang and its sanitizer runtimes)
#   --cluster  `make cluster` and `make test-cluster` (HAProxy in front of two httpd nodes, the
#              PostgreSQL server for a primary and its standby, curl, socat for HAProxy's socket,
#              procps)
#   --sqlmap   the injection scan of `make sqlmap` (sqlmap; not part of "every group")
# Usage: build/deps.sh [--build] [--runtime] [--dev] [--portal] [--test] [--fuzz] [--cluster] [--sqlmap] [EXTRA-PACKAGE...]
# Without a group, every group. `make build` and `make install` ask for build and runtime only,
# so a production web server never gets the PostgreSQL server or mod_perl.
# Silent and quick when nothing is missing. Otherwise installs with apt-get as
# root (or through sudo); without either, prints the command and exits 1.
set -eu

BUILD=(gcc libc6-dev make pkg-config apache2-dev libpq-dev libjansson-dev libjwt-dev libssl-dev
    libcurl4-openssl-dev)
RUNTIME=(apache2 libaprutil1-dbd-pgsql postgresql-client openssl ca-certificates)
DEV=(postgresql curl)
PORTAL=(nodejs npm ca-certificates)
TEST=(postgresql curl libapache2-mod-perl2 perl liblwp-protocol-https-perl libio-socket-ssl-perl
    python3-icalendar python3-jsonschema nodejs npm chromium)
FUZZ=(clang libclang-rt-14-dev)
CLUSTER=(haproxy postgresql curl socat perl procps)
SQLMAP=(sqlmap)

want=()
extra=()
for arg in "$@"; do
    case $arg in
        --build) want+=("${BUILD[@]}") ;;
        --runtime) want+=("${RUNTIME[@]}") ;;
        --dev) want+=("${DEV[@]}") ;;
        --portal) want+=("${PORTAL[@]}") ;;
        --test) want+=("${TEST[@]}") ;;
        --fuzz) want+=("${FUZZ[@]}") ;;
        --cluster) want+=("${CLUSTER[@]}") ;;
        --sqlmap) want+=("${SQLMAP[@]}") ;;
        --*) echo "deps.sh: unknown group $arg" >&2; exit 2 ;;
        *) extra+=("$arg") ;;
    esac
done
[ "${#want[@]}" -gt 0 ] || want=("${BUILD[@]}" "${RUNTIME[@]}" "${DEV[@]}" "${PORTAL[@]}" "${TEST[@]}"
    "${FUZZ[@]}")
want+=(${extra[@]+"${extra[@]}"})

# One dpkg-query for all; unknown names only make it complain on stderr.
# Both spellings count: Multi-Arch "same" packages report libc6-dev:amd64.
declare -A have=()
while read -r name full state; do
    if [ "$state" = "install ok installed" ]; then
        have[$name]=1
        have[$full]=1
    fi
done < <(dpkg-query -W -f='${Package} ${binary:Package} ${Status}\n' "${want[@]}" 2>/dev/null || true)

# Some Node.js builds (NodeSource's) carry npm inside the nodejs package and conflict with
# Debian's npm: an npm that runs counts as installed.
if command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; then
    have[npm]=1
fi

missing=()
for p in "${want[@]}"; do
    [ -n "${have[$p]:-}" ] || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo --)
else
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: run as root, or:" >&2
    echo "sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 1
fi

# apache2 and postgresql would start their system services on install; the
# project runs private instances only. A policy-rc.d that exits 101 forbids
# service starts (invoke-rc.d and deb-systemd-invoke both ask it). Only a
# policy we create ourselves is removed again.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    trap '"${as_root[@]}" rm -f "$policy"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    printf '#!/bin/sh\n# temporary, from mod_docportal build/deps.sh\nexit 101\n' |
        "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
fi

echo "deps.sh: installing ${missing[*]}" >&2
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing.
"${as_root[@]}" apt-get -q -o DPkg::Lock::Timeout=300 update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 \
    install -y --no-install-recommends "${missing[@]}"
