#!/usr/bin/env bash
# Embed the OpenAPI document in the module: docs/openapi.json becomes a C array (its exact
# bytes), its length and a strong ETag (a SHA-256 prefix of the bytes), served by
# GET /api/openapi.json (modules/dp_openapi.c). A document that is not JSON fails the build.
#   build/gen-openapi.sh docs/openapi.json build/out/dp_openapi_doc.c
set -eu
doc=$1 out=$2
perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die "$ARGV[0]: $!\n";
    JSON::PP->new->decode(<$f>); 1' "$doc" ||
    { echo "gen-openapi.sh: $doc is not a JSON document" >&2; exit 1; }
len=$(wc -c <"$doc")
etag=$(sha256sum "$doc" | cut -c1-32)
mkdir -p "$(dirname "$out")"
{
    echo "/* Generated from $doc by build/gen-openapi.sh. Do not edit. */"
    echo '#include "modules/dp_openapi.h"'
    echo
    echo "const apr_size_t dp_openapi_len = $len;"
    echo "const char dp_openapi_etag[] = \"\\\"$etag\\\"\";"
    echo 'const unsigned char dp_openapi_doc[] = {'
    od -An -v -tx1 "$doc" | awk '{ line = "   "; for (i = 1; i <= NF; i++) line = line " 0x" $i ","; print line }'
    echo '};'
} >"$out.tmp"
mv "$out.tmp" "$out"
