/* dp_pgarray: PostgreSQL array literals, to bind a whole column of values as one parameter
 * ($1::text[], unnest(...)). Pure C, no httpd headers. */
#ifndef DP_PGARRAY_H
#define DP_PGARRAY_H

#include <apr_pools.h>

/* The literal of a one-dimensional array of the n values: {"a","b",NULL}. Every value is
 * enclosed in double quotes with its double quotes and backslashes escaped by a backslash,
 * so that any text (commas, braces, spaces, the word NULL) reads back as itself; a NULL value
 * is SQL NULL. n == 0 gives {}. */
const char *dp_pgarray_text(apr_pool_t *p, const char *const *vals, int n);

#endif
