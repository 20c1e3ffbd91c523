/* dp_crypto: randomness, encodings and comparisons the rest of the module relies on.
 * Pure C (OpenSSL + APR), no httpd headers. */
#ifndef DP_CRYPTO_H
#define DP_CRYPTO_H

#include <apr_pools.h>

/* Cryptographically strong random bytes (OpenSSL's CSPRNG). Returns 0 on success. */
int dp_random_bytes(unsigned char *buf, apr_size_t len);

/* n random bytes as 2n lower-case hex characters, in the pool; NULL if the RNG failed. */
const char *dp_random_hex(apr_pool_t *p, apr_size_t n);

/* SHA-256 of data as 64 lower-case hex characters (for storing token hashes). */
const char *dp_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len);

/* n bytes as 2n lower-case hex characters and a NUL, into out. */
void dp_hex_encode(char *out, const unsigned char *in, apr_size_t n);

/* Exactly 2n hex digits (any case) into n bytes. Returns 0, or -1 when hex is not that. */
int dp_hex_decode(const char *hex, unsigned char *out, apr_size_t n);

/* 0..15 for a hex digit (any case), -1 for any other character. */
int dp_hex_value(char c);

/* Flags of dp_base64_decode. */
#define DP_B64_URL    1 /* accept the url-safe alphabet (never mixed with the standard one) */
#define DP_B64_NOPAD  2 /* padding may be left out */
#define DP_B64_BREAKS 4 /* skip CR and LF anywhere */

/* Strict base64 decoding of in[0..inlen) into out[0..cap): standard alphabet (and, with
 * DP_B64_URL, the url-safe one, never both in one value), padding exact when present,
 * unused trailing bits zero, so each value has one encoding (line breaks aside). Returns the
 * decoded length, or -1. */
long dp_base64_decode(const char *in, apr_size_t inlen, unsigned char *out, apr_size_t cap,
                      int flags);

/* Constant-time equality of two byte strings (length differences leak only the length). */
int dp_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen);

#endif
