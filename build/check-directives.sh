#!/usr/bin/env bash
# Every directive the module declares (DP_DIR_* in modules/dp_config.h) is documented in
# conf/docportal.conf, and every DocPortal... name that file documents is a directive.
set -eu
cd "$(dirname "$0")/.."
declared=$(sed -n 's/^#define DP_DIR_[A-Z_]* *"\(DocPortal[A-Za-z]*\)".*/\1/p' modules/dp_config.h | sort -u)
# (a name the reference table breaks across two lines ends in '-' and goes on after '#')
documented=$(perl -0pe 's/(DocPortal[A-Za-z]+)-[^\n]*\n#\s*\|\s*([A-Za-z]+)/$1$2/g' conf/docportal.conf |
             grep -o 'DocPortal[A-Z][A-Za-z]*' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$documented"))
unknown=$(comm -13 <(echo "$declared") <(echo "$documented"))
if [ -n "$missing" ] || [ -n "$unknown" ]; then
    [ -z "$missing" ] || { echo "directives not documented in conf/docportal.conf:" >&2; echo "$missing" >&2; }
    [ -z "$unknown" ] || { echo "conf/docportal.conf documents names that are not directives:" >&2; echo "$unknown" >&2; }
    exit 1
fi
