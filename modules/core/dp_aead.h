/* dp_aead: PHI at rest. AES-256-GCM sealing under the current key of a ring (dp_keyring.h),
 * so message bodies and notes are ciphertext before they reach SQL.
 *
 * Each sealed value records the id of the key that sealed it, and opens under that key as
 * long as the ring holds it (rotation: dp_keyring.h).
 *
 * Associated data binds a ciphertext to its row: a ciphertext copied to another row (another
 * message id, another sender or receiver, a note row instead of a message row) does not open.
 * The rows of the ring (messages, clinical notes, note addenda) are sealed and opened through
 * dp_aead_seal_row() and dp_aead_open_row(), which build that associated data from a
 * dp_aead_binding; the module and dp-rekey both use them and nothing else.
 *
 * Row format versions (the aead_version column of each table): 1, the first layout, bound only
 * the row id and one other id, the same way for every table; 2 binds a purpose label, the
 * version, the row id and the row's other ids (a message's sender AND receiver). Sealing always
 * writes DP_AEAD_VERSION; opening accepts both, each with its own associated data, and dp-rekey
 * re-seals version 1 rows as version 2.
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

/* The version 1 associated data of every row: the 16 raw bytes of the row id's UUID followed
 * by the 16 raw bytes of the other id's UUID (a message's sender, a note's appointment, an
 * addendum's note). Returns DP_AEAD_MESSAGE_AAD_LEN, or 0 if either id is not a UUID (then
 * seal nothing and open nothing). Only for opening version 1 rows: nothing is sealed with it. */
apr_size_t dp_aead_message_aad(const char *message_id, const char *sender_id,
                               unsigned char out[DP_AEAD_MESSAGE_AAD_LEN]);

/* ---- rows ---- */

#define DP_AEAD_VERSION_1    1   /* row id + one id, no purpose (read only) */
#define DP_AEAD_VERSION      2   /* what sealing writes */
#define DP_AEAD_VERSION_TEXT "2" /* the same, as bound into SQL */

/* What a sealed row is for. Each has its own label in the associated data, so a ciphertext
 * of one purpose never opens as another. */
typedef enum dp_aead_purpose {
    DP_AEAD_MESSAGE = 0, /* messages.ciphertext */
    DP_AEAD_NOTE,        /* clinical_notes.ciphertext */
    DP_AEAD_ADDENDUM     /* note_addenda.ciphertext */
} dp_aead_purpose;

/* Everything a row's ciphertext is bound to (ids are UUIDs, any case). */
typedef struct dp_aead_binding {
    dp_aead_purpose purpose;
    const char *row_id;   /* the message, note or addendum id */
    const char *owner;    /* a message's sender, a note's appointment, an addendum's note */
    const char *receiver; /* a message's receiver; NULL for the other purposes */
} dp_aead_binding;

/* "docportal/message", "docportal/note", "docportal/addendum"; NULL for no such purpose. */
const char *dp_aead_purpose_label(dp_aead_purpose purpose);

/* Largest associated data of a row: the longest label, its NUL, the version byte, three ids. */
#define DP_AEAD_ROW_AAD_MAX (32 + 1 + 1 + 3 * 16)

/* The associated data of a row in the given format version: version 1 as
 * dp_aead_message_aad(row_id, owner); version 2 the purpose label, a NUL, the version byte, the
 * raw bytes of row_id and owner, and for a message those of receiver. Returns its length, or 0
 * (seal nothing, open nothing) for an unknown version or purpose, or an id that is not a UUID
 * (a message without a receiver included). */
apr_size_t dp_aead_row_aad(const dp_aead_binding *b, int version,
                           unsigned char out[DP_AEAD_ROW_AAD_MAX]);

/* The version in a row's aead_version column ("1", "2"); 0 for anything else. */
int dp_aead_version_parse(const char *text);

/* Seal a row's plaintext in the current format (DP_AEAD_VERSION) under the ring's current key.
 * A binding that does not make associated data is a 500. */
dp_error *dp_aead_seal_row(apr_pool_t *p, const dp_keyring *kr, const dp_aead_binding *b,
                           const char *plain, apr_size_t len, dp_sealed *out);

/* Open a row sealed in format version (1 or 2), as dp_aead_open. An unknown version or a
 * binding that does not make associated data is DP_AEAD_TAMPERED. */
dp_aead_status dp_aead_open_row(apr_pool_t *p, const dp_keyring *kr, const dp_aead_binding *b,
                                int version, const dp_sealed *in, const char **plain,
                                apr_size_t *len);

#endif
