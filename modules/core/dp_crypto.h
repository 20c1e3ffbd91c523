/* dp_crypto: randomness, encodings and comparisons the rest of the module relies on.
 * Pure C (OpenSSL + APR), no httpd headers. */
#ifndef DP_CRYPTO_H
#define DP_CRYPTO_H

#include <apr_pools.h>

/* Cryptographically strong random bytes (OpenSSL's CSPRNG). Returns 0 on success. */
int dp_random_bytes(unsigned char *buf, apr_size_t len);

/* n random bytes as 2n lower-case hex characters, in the pool; NULL if the RNG failed. */
const char *dp_random_hex(apr_pool_t *p, apr_size_t n);

/* A random (version 4) UUID string; NULL if the RNG failed. */
const char *dp_uuid_new(apr_pool_t *p);

/* 1 if s is a UUID in canonical 8-4-4-4-12 hex form (any case). */
int dp_uuid_valid(const char *s);

/* SHA-256 of data as 64 lower-case hex characters (for storing token hashes). */
const char *dp_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len);

/* n bytes as 2n lower-case hex characters and a NUL, into out. */
void dp_hex_encode(char *out, const unsigned char *in, apr_size_t n);

/* Exactly 2n hex digits (any case) into n bytes. Returns 0, or -1 when hex is not that. */
int dp_hex_decode(const char *hex, unsigned char *out, apr_size_t n);

/* Constant-time equality of two byte strings (length differences leak only the length). */
int dp_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen);

#endif
