/* dp_pgbin: values that PostgreSQL sends in its binary result format, rendered as the text the
 * handlers read. A statement declared with results in binary (sql/statements.sql, "-- results:
 * binary") costs PostgreSQL no output formatting: a timestamp leaves as the 8 bytes it is
 * stored in instead of going through to_char or extract, a uuid or a bytea as its raw bytes.
 * The module renders them here, in the form the handlers already read for that column:
 * integers, booleans and text as PostgreSQL's text format writes them, a bytea as base64 (what
 * encode(x, 'base64') gives, without its line breaks), and a timestamp as microseconds since
 * 1970-01-01 (core/dp_epoch.h; a timestamp without time zone counted as if it were UTC).
 * Pure C, no httpd headers. */
#ifndef DP_PGBIN_H
#define DP_PGBIN_H

#include <apr_pools.h>

/* Type OIDs of PostgreSQL's built-in types (pg_type.oid; fixed since PostgreSQL 7). */
enum {
    DP_PGBIN_BOOL = 16,
    DP_PGBIN_BYTEA = 17,
    DP_PGBIN_NAME = 19,
    DP_PGBIN_INT8 = 20,
    DP_PGBIN_INT2 = 21,
    DP_PGBIN_INT4 = 23,
    DP_PGBIN_TEXT = 25,
    DP_PGBIN_BPCHAR = 1042,
    DP_PGBIN_VARCHAR = 1043,
    DP_PGBIN_TIMESTAMP = 1114,
    DP_PGBIN_TIMESTAMPTZ = 1184,
    DP_PGBIN_UUID = 2950
};

/* The text of the len bytes at v, a value of type oid in binary format, into *out (in p,
 * NUL-terminated): 1. *out is NULL for a timestamp of +/-infinity (no instant to write, as
 * to_char and dp_ts() give none), which the handlers write as they write SQL NULL. 0, and
 * *out NULL, for a type not listed above or a length that does not fit the type. */
int dp_pgbin_text(apr_pool_t *p, unsigned int oid, const char *v, int len, const char **out);

#endif
