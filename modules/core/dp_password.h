/* dp_password: bcrypt through APR-util. Pure C, no httpd headers. */
#ifndef DP_PASSWORD_H
#define DP_PASSWORD_H

#include <apr_pools.h>

#define DP_PASSWORD_MIN        8
#define DP_PASSWORD_MAX        72 /* bcrypt reads 72 bytes at most; longer would be silently cut */
#define DP_BCRYPT_COST_DEFAULT 11

/* Hash with a fresh 16-byte salt at the given cost; NULL on failure. */
const char *dp_password_hash(apr_pool_t *p, const char *password, int cost);

/* 1 if password matches hash. A NULL hash still spends a bcrypt verification against
 * `dummy` (a hash at the configured cost), so a missing account costs the same time. */
int dp_password_verify(const char *password, const char *hash, const char *dummy);

#endif
