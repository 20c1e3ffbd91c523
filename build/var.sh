#!/bin/bash
# Make sure REPO/var (the runtime state root) exists and print its physical path.
# Usage: build/var.sh [REPO]     (default: the checkout this script lives in)
#
# As root, PostgreSQL runs as `postgres` and httpd's children as www-data or
# nobody: they must be able to walk into the state root. When the checkout is
# not traversable by them (e.g. under /root, mode 700), the state lives in
# /var/lib/docportal/<basename>-<8 hex of sha256(abs repo path)> and REPO/var
# is a symlink to it. As a normal user everything runs as that user, so a plain
# directory is always fine. Idempotent: an existing symlink is kept as it is.
set -eu

die() { echo "var.sh: $*" >&2; exit 1; }

repo=${1:-$(dirname "$0")/..}
[ -d "$repo" ] || die "not a directory: $repo"
repo=$(cd "$repo" && pwd -P)
var=$repo/var

# Can USER walk down to PATH? Asks the kernel as that user; if the user does
# not exist (yet), fall back to "every component is world-searchable".
can_traverse() {
    local user=$1 path=$2 p
    if id -u "$user" >/dev/null 2>&1; then
        runuser -u "$user" -- test -x "$path" 2>/dev/null
        return
    fi
    p=$path
    while [ -n "$p" ] && [ "$p" != / ]; do
        [ "$(( 0$(stat -c %a "$p") & 1 ))" -ne 0 ] || return 1
        p=$(dirname "$p")
    done
}

needs_link=0
if [ "$(id -u)" -eq 0 ]; then
    for u in postgres www-data nobody; do
        can_traverse "$u" "$repo" || { needs_link=1; break; }
    done
fi

if [ -L "$var" ]; then
    # Keep whatever the link points to (ours or the user's); recreate a
    # target that was wiped, e.g. after `rm -rf /var/lib/docportal`.
    target=$(readlink -f "$var") || die "cannot resolve $var"
    [ -d "$target" ] || install -d -m 755 "$target"
elif [ -e "$var" ] && [ ! -d "$var" ]; then
    die "$var exists and is not a directory"
elif [ "$needs_link" -eq 1 ]; then
    hash=$(printf '%s' "$repo" | sha256sum | cut -c1-8)
    target=/var/lib/docportal/$(basename "$repo")-$hash
    if [ -d "$var" ]; then
        # An empty plain dir (e.g. left by an earlier non-root run) can be
        # swapped for the link; a non-empty one may hold a live cluster.
        rmdir "$var" 2>/dev/null || die "$var is a directory that postgres/www-data cannot reach
  (the checkout is not traversable by them). Stop what runs from it, then
  move it away (e.g. rm -rf '$var') and run this again."
    fi
    install -d -m 755 /var/lib/docportal "$target"
    ln -s "$target" "$var"
else
    [ -d "$var" ] || mkdir -m 755 "$var"
    # Root with umask 077 would make it unreachable for postgres.
    if [ "$(id -u)" -eq 0 ] && [ "$(stat -c %u "$var")" -eq 0 ]; then
        chmod 755 "$var"
    fi
fi

readlink -f "$var"
