#!/usr/bin/env bash
# The module's directives and conf/docportal.conf agree: every directive of the command table
# (the AP_INIT_* entries of the C code) has a block in conf/docportal.conf, and every block
# there is a directive of the table. A block is a run of comment lines that describes the
# directive and ends with the directive itself, commented out with its default or an example
# ("# DocPortalXxx value"); blank lines separate blocks. Every other DocPortal... name in the
# file must be a directive too, none may appear twice as a block, and none may be set
# (uncommented): the file is a reference an admin uncomments from, and httpd starts with it
# included as it is.
set -eu
cd "$(dirname "$0")/.."
conf=conf/docportal.conf

# The command table's names: DP_DIR_* macros (resolved through their #defines) or literals.
declared=$(
    grep -ho 'AP_INIT_[A-Z0-9]*( *[A-Za-z_"][A-Za-z0-9_"]*' mod_docportal.c modules/*.c |
        sed 's/.*( *//' |
        while read -r name; do
            case $name in
                \"*) echo "${name//\"/}" ;;
                *) sed -n "s/^#define $name  *\"\\(DocPortal[A-Za-z]*\\)\".*/\\1/p" modules/*.h ;;
            esac
        done | sort -u)
[ -n "$declared" ] || { echo "check-directives: no AP_INIT_* entries found" >&2; exit 1; }

# One line per block: the directive its last line names, or "!message" for a malformed block.
blocks=$(awk '
    function flush() {
        if (n > 0 && match(last, /^[ \t]*# DocPortal[A-Za-z]+( |$)/)) {
            name = last; sub(/^[ \t]*# /, "", name); sub(/ .*/, "", name)
            print (n > 1 ? name : "!" name " has no description above its line")
        }
        n = 0
    }
    /^[ \t]*#/ { n++; last = $0; next }
    { flush() }
    /^[ \t]*DocPortal[A-Za-z]+/ { print "!line " NR " sets " $1 ": directives stay commented out" }
    END { flush() }' "$conf")
documented=$(grep -v '^!' <<<"$blocks" | sort || true)
mentioned=$(grep -o 'DocPortal[A-Z][A-Za-z]*' "$conf" | sort -u)

fail=0
report() { # title, lines
    [ -n "$2" ] || return 0
    echo "$1" >&2
    sed 's/^/  /' <<<"$2" >&2
    fail=1
}
report "conf/docportal.conf: malformed:" "$(grep '^!' <<<"$blocks" | sed 's/^!//' || true)"
report "directives without a block in conf/docportal.conf:" \
    "$(comm -23 <(echo "$declared") <(uniq <<<"$documented"))"
report "conf/docportal.conf: blocks of names the command table lacks:" \
    "$(comm -13 <(echo "$declared") <(uniq <<<"$documented"))"
report "conf/docportal.conf: other names that are not directives:" \
    "$(comm -13 <(echo "$declared") <(echo "$mentioned") | comm -23 - <(uniq <<<"$documented"))"
report "conf/docportal.conf: directives with more than one block:" "$(uniq -d <<<"$documented")"
exit $fail
