#!/bin/bash
# Print a TCP port on 127.0.0.1 that nothing is using, at or above START.
# Usage: build/freeport.sh [START]
# Without START the scan begins at a random port in 20000..31999: below the
# kernel's ephemeral range (32768+), so an outgoing connection is unlikely to
# grab it before our server binds it, and random so parallel runs rarely meet.
# Two calls in a row may return the same port (nothing is bound in between):
# ask for the second one with START = first + 1.
set -eu

start=${1:-$((20000 + RANDOM % 12000))}
case $start in
    '' | *[!0-9]*) echo "freeport.sh: START must be a number, got '$start'" >&2; exit 2 ;;
esac
start=$((10#$start))
if [ "$start" -lt 1 ] || [ "$start" -gt 65535 ]; then
    echo "freeport.sh: START must be in 1..65535" >&2
    exit 2
fi

if command -v ss >/dev/null 2>&1; then
    # One snapshot of every local TCP port in any state (listening, bound,
    # connected, TIME_WAIT): cheaper than one probe per candidate.
    declare -A used=()
    while read -r local; do
        used[${local##*:}]=1
    done < <(ss -Htan | awk '{print $4}')
    for ((p = start; p <= 65535; p++)); do
        if [ -z "${used[$p]:-}" ]; then
            echo "$p"
            exit 0
        fi
    done
else
    # No iproute2 (minimal install): a port is taken if a connect succeeds.
    # A refused connect on loopback fails at once, so this stays fast.
    for ((p = start; p <= 65535; p++)); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            exit 0
        fi
    done
fi
echo "freeport.sh: no free port at or above $start" >&2
exit 1
