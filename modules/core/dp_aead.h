/* dp_aead: PHI at rest. AES-256-GCM sealing under the current key of a ring (dp_keyring.h),
 * so message bodies and notes are ciphertext before they reach SQL.
 *
 * Each sealed value records the id of the key that sealed it, and opens under that key as
 * long as the ring holds it (rotation: dp_keyring.h).
 *
 * Associated data binds a ciphertext to its row: a ciphertext copied to another row (another
 * message id, another sender) does not open. For messages THE associated data is the one
 * dp_aead_message_aad() builds; the module and dp-rekey both use it and nothing else.
 *
 * Pure C (OpenSSL + APR), no httpd headers. Sealing and opening only read the ring, so they
 * are safe from any thread. */
#ifndef DP_AEAD_H
#define DP_AEAD_H

#include <apr_pools.h>

#include "dp_error.h"
#include "dp_keyring.h"

#define DP_AEAD_NONCE_LEN 12 /* random per seal */
#define DP_AEAD_TAG_LEN   16 /* appended to the ciphertext */
/* Largest plaintext (and associated data) sealed or opened: far above a 10,000-character
 * message, low enough that every length fits OpenSSL's int and base64 cannot overflow. */
#define DP_AEAD_MAX_PLAIN (16u * 1024u * 1024u)

/* Results of dp_aead_open. */
typedef enum dp_aead_status {
    DP_AEAD_OK = 0,
    DP_AEAD_UNKNOWN_KEY, /* the key id is not in the ring (rotated out too early?) */
    DP_AEAD_TAMPERED,    /* tag mismatch, bad base64, wrong nonce/ciphertext length */
    DP_AEAD_INTERNAL     /* OpenSSL could not allocate a context: not the row's fault */
} dp_aead_status;

/* One sealed value, as stored: key id, nonce and ciphertext||tag in standard base64 with
 * padding (what PostgreSQL's decode(..., 'base64') reads). */
typedef struct dp_sealed {
    const char *key_id;
    const char *nonce_b64; /* 12 bytes */
    const char *ct_b64;    /* len(plaintext) + 16 bytes: the GCM tag is the last 16 */
} dp_sealed;

/* Seal plain[0..len) under the ring's current key with a fresh random nonce, binding
 * aad[0..aad_len) (which is not stored). *out is filled with pool strings. Errors (no
 * current key, RNG or OpenSSL failure, oversized input) are 500s safe to show. */
dp_error *dp_aead_seal(apr_pool_t *p, const dp_keyring *kr, const void *aad, apr_size_t aad_len,
                       const char *plain, apr_size_t len, dp_sealed *out);

/* Open what dp_aead_seal produced, under the key named by in->key_id, checking the tag
 * against the same aad. Returns DP_AEAD_OK with *plain NUL-terminated in p (and *len, if len
 * is not NULL, its length: the plaintext may hold NUL bytes); otherwise *plain is NULL and
 * the result says why. Any input, NULL fields and garbage included, gives a result, never a
 * crash. The base64 must be the standard alphabet, padded; line breaks in it are skipped
 * (PostgreSQL's encode(..., 'base64') wraps at 76 characters); anything else is
 * DP_AEAD_TAMPERED. */
dp_aead_status dp_aead_open(apr_pool_t *p, const dp_keyring *kr, const dp_sealed *in,
                            const void *aad, apr_size_t aad_len, const char **plain,
                            apr_size_t *len);

/* "ok", "unknown_key", "tampered" or "internal" (for logs); "unknown" for no status. */
const char *dp_aead_status_name(dp_aead_status status);

#define DP_AEAD_MESSAGE_AAD_LEN 32

/* THE associated data of a message body: the 16 raw bytes of the message id's UUID followed
 * by the 16 raw bytes of the sender id's UUID. Returns DP_AEAD_MESSAGE_AAD_LEN, or 0 if
 * either id is not a UUID (then seal nothing and open nothing). */
apr_size_t dp_aead_message_aad(const char *message_id, const char *sender_id,
                               unsigned char out[DP_AEAD_MESSAGE_AAD_LEN]);

#endif
