/* dp_epoch: timestamps that PostgreSQL hands over as microseconds since 1970-01-01 (a bigint,
 * read the same whatever the session's DateStyle or float settings), formatted in C the way the
 * API writes them. Formatting a row's timestamps here instead of with to_char() in the
 * statement takes most of a list's formatting work off the database. Pure C, no httpd headers. */
#ifndef DP_EPOCH_H
#define DP_EPOCH_H

#include <apr_pools.h>

/* Parses an optional minus sign and 1 to 18 digits, nothing else. 1 on success. */
int dp_epoch_parse(const char *s, long long *usec);

/* The API's instant, "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds truncated, as dp_ts() in
 * sql/001_init.sql writes it), of the microseconds in usec. NULL when usec is NULL (SQL NULL)
 * or not a number. */
const char *dp_epoch_iso(apr_pool_t *p, const char *usec);

/* The wall-clock date "YYYY-MM-DD" and time "HH:MM" of a local timestamp given as
 * microseconds (a timestamp without time zone, such as t AT TIME ZONE zone, counted from
 * 1970-01-01 00:00 as if it were UTC). 1 on success; 0 (and both NULL) when usec is NULL or
 * not a number. */
int dp_epoch_local(apr_pool_t *p, const char *usec, const char **date, const char **time);

#endif
