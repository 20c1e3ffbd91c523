#!/usr/bin/env bash
# Compile sql/statements.sql and sql/statements-*.sql (one file per area, read in name order)
# into C: a table of {name, argument count, text, results in binary} and DPQ_<NAME>
# macros (so a misspelt statement name fails the build), plus DP_SCHEMA_LEVEL, the number of
# the newest sql/NNN_*.sql migration, which the module requires of its database.
#   build/gen-statements.sh SQLDIR OUTDIR
set -eu
sqldir=$1 out=$2
mkdir -p "$out"
level=$(find "$sqldir" -maxdepth 1 -name '[0-9][0-9][0-9]_*.sql' -printf '%f\n' | sort | tail -n 1 | cut -c1-3)
level=$((10#${level:-0}))

awk -v hdr="$out/dp_sql.h.tmp" -v src="$out/dp_sql.c.tmp" -v level="$level" '
function flush(   t, n, a) {
    if (name == "") return
    t = text
    sub(/[ \n]*;[ \n]*$/, "", t)              # one statement, no trailing semicolon
    if (t ~ /;/) { printf "statement %s holds more than one statement\n", name > "/dev/stderr"; exit 1 }
    a = t; gsub(/%%/, "", a); n = gsub(/%[a-zA-Z]/, "", a)
    gsub(/\\/, "\\\\", t); gsub(/"/, "\\\"", t); gsub(/\n/, "\\n\"\n    \"", t)
    up = toupper(name)
    printf "#define DPQ_%s \"%s\"\n", up, name > hdr
    printf "    {\"%s\", %d,\n    \"%s\", %d},\n", name, n, t, binary > src
    count++
    name = ""; text = ""; binary = 0
}
BEGIN {
    print "/* Generated from sql/statements*.sql by build/gen-statements.sh. Do not edit. */" > hdr
    print "#ifndef DP_SQL_H\n#define DP_SQL_H\n" > hdr
    printf "#define DP_SCHEMA_LEVEL %d\n\n", level > hdr
    print "/* Generated from sql/statements*.sql by build/gen-statements.sh. Do not edit. */" > src
    print "#include \"dp_db.h\"\n\nconst dp_statement dp_statements[] = {" > src
}
/^-- name: / {
    flush()
    name = $3
    if (name !~ /^[a-z][a-z0-9_]*$/) { printf "bad statement name %s\n", name > "/dev/stderr"; exit 1 }
    if (seen[name]++) { printf "statement %s declared twice\n", name > "/dev/stderr"; exit 1 }
    next
}
# "-- results: binary" among the comments of a statement: its rows come in binary format
/^-- results: / {
    # only among the comments before the statement text, never after it
    if (name == "" || text != "" || $3 != "binary" || NF != 3) { printf "bad results line: %s\n", $0 > "/dev/stderr"; exit 1 }
    binary = 1
    next
}
/^[ \t]*--/ || /^[ \t]*$/ { next }
{ if (name != "") text = text (text == "" ? "" : "\n") $0 }
END {
    flush()
    print "};\n\nconst apr_size_t dp_statements_count = sizeof(dp_statements) / sizeof(dp_statements[0]);" > src
    print "\n#endif" > hdr
}' "$sqldir/statements.sql" $(find "$sqldir" -maxdepth 1 -name 'statements-*.sql' | sort)
mv "$out/dp_sql.h.tmp" "$out/dp_sql.h"
mv "$out/dp_sql.c.tmp" "$out/dp_sql.c"
