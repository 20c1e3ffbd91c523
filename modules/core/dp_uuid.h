/* dp_uuid: UUIDs, the ids of every row, in canonical 8-4-4-4-12 hex form.
 * Pure C (OpenSSL + APR), no httpd headers. */
#ifndef DP_UUID_H
#define DP_UUID_H

#include <apr_pools.h>

#define DP_UUID_BYTES 16

/* A random (version 4) UUID string, lower case; NULL if the RNG failed. */
const char *dp_uuid_new(apr_pool_t *p);

/* The canonical 8-4-4-4-12 form, lower case, of the 16 bytes of a UUID. */
const char *dp_uuid_text(apr_pool_t *p, const unsigned char b[DP_UUID_BYTES]);

/* 1 if s is a UUID in canonical 8-4-4-4-12 hex form (any case). */
int dp_uuid_valid(const char *s);

/* The 16 bytes of a UUID in canonical 8-4-4-4-12 hex form (any case). Returns 0, or -1 (out
 * untouched) if uuid is NULL or not such a UUID. */
int dp_uuid_to_bytes(const char *uuid, unsigned char out[DP_UUID_BYTES]);

#endif
