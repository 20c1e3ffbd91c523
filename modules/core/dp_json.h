/* dp_json: jansson values tied to APR pools, and typed field readers that answer with a
 * dp_error naming the field. Pure C, no httpd headers. */
#ifndef DP_JSON_H
#define DP_JSON_H

#include <apr_pools.h>
#include <jansson.h>

#include "dp_error.h"

/* Hand a new reference to the pool: it is released when the pool is destroyed.
 * Returns j, so dp_json_own(p, json_object()) reads naturally. NULL passes through. */
json_t *dp_json_own(apr_pool_t *p, json_t *j);

/* Parse a request body. Malformed JSON, or anything but an object, is 400 invalid_json. */
dp_error *dp_json_parse_object(apr_pool_t *p, const char *buf, apr_size_t len, json_t **out);

/* Serialise compactly into pool memory (no malloc'd intermediate). */
const char *dp_json_dump(apr_pool_t *p, const json_t *j, apr_size_t *len);

/* Set key to a string copy, or to null when s is NULL. */
void dp_json_set_str(json_t *obj, const char *key, const char *s);
/* Set key to cents / 100 as a JSON number with at most two decimals, or null when !present. */
void dp_json_set_money(json_t *obj, const char *key, long long cents, int present);

/* Typed readers for request fields. Each returns NULL on success, or a 422 naming `field`.
 * Absent and JSON null both count as "not given": *out is NULL (required ones fail then). */
dp_error *dp_json_string(apr_pool_t *p, json_t *obj, const char *key, const char *field,
                         int required, apr_size_t max_chars, const char **out);

/* Money: a JSON number (or numeric string is refused), >= 0, at most 2 decimals,
 * at most max_cents. *present tells whether it was given. */
dp_error *dp_json_money(apr_pool_t *p, json_t *obj, const char *key, const char *field,
                        long long max_cents, long long *cents, int *present);

/* Convert a JSON number to integer cents exactly (rounding away the binary noise of the
 * double, refusing a third decimal). Returns 0 on success. Exposed for unit tests. */
int dp_money_from_double(double v, long long *cents);

#endif
