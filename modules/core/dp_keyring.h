/* dp_keyring: a ring of named AES-256 keys, one of them current, for PHI at rest (dp_aead
 * seals under the current key and opens under the key a sealed value names).
 *
 * Rotation: an admin adds a new current key and keeps the old ones in the ring (old rows
 * still open, new rows are sealed under the new key), then moves old rows with build/rekey.c
 * (dp-rekey).
 *
 * Pure C (OpenSSL + APR), no httpd headers. A ring is filled while the configuration is read
 * and only read afterwards, so it is safe to use from any thread. */
#ifndef DP_KEYRING_H
#define DP_KEYRING_H

#include <apr_pools.h>

#define DP_KEYRING_KEY_LEN  32 /* AES-256 */
#define DP_KEYRING_MAX_KEYS 32
#define DP_KEYRING_MAX_ID   32 /* key ids: 1..32 of [A-Za-z0-9_-] */

typedef struct dp_keyring dp_keyring; /* opaque */

/* An empty ring in p. Key bytes live in the ring and are cleansed (OPENSSL_cleanse) by a
 * cleanup of p, so the ring must not outlive p (in httpd: the configuration pool). */
dp_keyring *dp_keyring_make(apr_pool_t *p);

/* Add key id from spec: 64 hex digits (any case); or base64 of exactly 32 bytes, standard or
 * url-safe alphabet, padded or not; or "file:PATH", a file holding one of those (trailing
 * whitespace and newline ignored). current != 0 makes it the key new values are sealed
 * under. Returns NULL, or an error sentence allocated in p that names the id (or the file)
 * but never key material. On error the ring is unchanged. Refused: an id that is empty,
 * longer than 32 or has other characters than [A-Za-z0-9_-]; an id already in the ring; a
 * second current key; a 33rd key; anything but 32 key bytes. */
const char *dp_keyring_add(dp_keyring *kr, apr_pool_t *p, const char *id, const char *spec,
                           int current);

/* NULL when the ring is usable: empty (no encryption configured) or exactly one current
 * key. Else an error sentence (static). Call once the configuration is complete. */
const char *dp_keyring_check(const dp_keyring *kr);

/* Id of the current key, or NULL if none. */
const char *dp_keyring_current_id(const dp_keyring *kr);

/* Number of keys in the ring. */
int dp_keyring_count(const dp_keyring *kr);

/* The DP_KEYRING_KEY_LEN bytes of key id, or NULL when kr is NULL or holds no such key. The
 * bytes belong to the ring: for dp_aead, which feeds them to the cipher and copies nothing. */
const unsigned char *dp_keyring_key(const dp_keyring *kr, const char *id);

#endif
