#include "dp_aead.h"
#include "dp_crypto.h"
#include "dp_uuid.h"

#include <apr_strings.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

/* The cipher is AES-256: the ring's keys must be its key size. */
_Static_assert(DP_KEYRING_KEY_LEN == 32, "AES-256 keys are 32 bytes");

/* Standard base64 with padding, in the pool. n <= DP_AEAD_MAX_PLAIN + tag. */
static const char *b64_encode(apr_pool_t *p, const unsigned char *in, apr_size_t n)
{
    char *out = apr_palloc(p, 4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* ---- sealing ---- */

dp_error *dp_aead_seal(apr_pool_t *p, const dp_keyring *kr, const void *aad, apr_size_t aad_len,
                       const char *plain, apr_size_t len, dp_sealed *out)
{
    const char *key_id = dp_keyring_current_id(kr);
    const unsigned char *key = dp_keyring_key(kr, key_id);
    unsigned char nonce[DP_AEAD_NONCE_LEN];
    unsigned char *ct;
    EVP_CIPHER_CTX *ctx;
    int n = 0, fin = 0, aadn = 0, ok;

    memset(out, 0, sizeof(*out));
    if (key == NULL) {
        return dp_error_make(p, 500, DP_E_INTERNAL, NULL, "Message encryption is not configured.");
    }
    if (len > DP_AEAD_MAX_PLAIN || aad_len > DP_AEAD_MAX_PLAIN || (plain == NULL && len > 0)
        || (aad == NULL && aad_len > 0)) {
        return dp_error_internal(p);
    }
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        return dp_error_internal(p);
    }
    ct = apr_palloc(p, len + DP_AEAD_TAG_LEN);
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
        return dp_error_internal(p);
    }
    ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DP_AEAD_NONCE_LEN, NULL) == 1
        && EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
        && (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &aadn, aad, (int)aad_len) == 1)
        && (len == 0 || EVP_EncryptUpdate(ctx, ct, &n, (const unsigned char *)plain, (int)len) == 1)
        && EVP_EncryptFinal_ex(ctx, ct + n, &fin) == 1 && (apr_size_t)n + (apr_size_t)fin == len
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, DP_AEAD_TAG_LEN, ct + len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return dp_error_internal(p);
    }
    out->key_id = apr_pstrdup(p, key_id);
    out->nonce_b64 = b64_encode(p, nonce, sizeof(nonce));
    out->ct_b64 = b64_encode(p, ct, len + DP_AEAD_TAG_LEN);
    return NULL;
}

dp_aead_status dp_aead_open(apr_pool_t *p, const dp_keyring *kr, const dp_sealed *in,
                            const void *aad, apr_size_t aad_len, const char **plain,
                            apr_size_t *len)
{
    const unsigned char *key;
    unsigned char nonce[DP_AEAD_NONCE_LEN];
    unsigned char *ct, *pt;
    apr_size_t b64len, cap, ptlen;
    long got;
    EVP_CIPHER_CTX *ctx;
    int n = 0, fin = 0, aadn = 0, ok;

    *plain = NULL;
    if (len != NULL) {
        *len = 0;
    }
    if (in == NULL) {
        return DP_AEAD_TAMPERED;
    }
    if ((key = dp_keyring_key(kr, in->key_id)) == NULL) {
        return DP_AEAD_UNKNOWN_KEY;
    }
    if (in->nonce_b64 == NULL || in->ct_b64 == NULL || (aad == NULL && aad_len > 0)
        || aad_len > DP_AEAD_MAX_PLAIN) {
        return DP_AEAD_TAMPERED;
    }
    got =
        dp_base64_decode(in->nonce_b64, strlen(in->nonce_b64), nonce, sizeof(nonce), DP_B64_BREAKS);
    if (got != DP_AEAD_NONCE_LEN) {
        return DP_AEAD_TAMPERED;
    }
    /* Bound the work before allocating: base64 with line breaks of the largest ciphertext. */
    b64len = strlen(in->ct_b64);
    if (b64len > 2 * (DP_AEAD_MAX_PLAIN + DP_AEAD_TAG_LEN)) {
        return DP_AEAD_TAMPERED;
    }
    cap = b64len / 4 * 3 + 3;
    ct = apr_palloc(p, cap);
    got = dp_base64_decode(in->ct_b64, b64len, ct, cap, DP_B64_BREAKS);
    if (got < DP_AEAD_TAG_LEN || (apr_size_t)got - DP_AEAD_TAG_LEN > DP_AEAD_MAX_PLAIN) {
        return DP_AEAD_TAMPERED;
    }
    ptlen = (apr_size_t)got - DP_AEAD_TAG_LEN;
    pt = apr_palloc(p, ptlen + 1);
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
        return DP_AEAD_INTERNAL;
    }
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DP_AEAD_NONCE_LEN, NULL) == 1
        && EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
        && (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &aadn, aad, (int)aad_len) == 1)
        && (ptlen == 0 || EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ptlen) == 1)
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, DP_AEAD_TAG_LEN, ct + ptlen) == 1
        && EVP_DecryptFinal_ex(ctx, pt + n, &fin) > 0 && (apr_size_t)n + (apr_size_t)fin == ptlen;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        /* Unauthenticated plaintext must not linger where someone could use it. */
        OPENSSL_cleanse(pt, ptlen + 1);
        return DP_AEAD_TAMPERED;
    }
    pt[ptlen] = '\0';
    *plain = (const char *)pt;
    if (len != NULL) {
        *len = ptlen;
    }
    return DP_AEAD_OK;
}

const char *dp_aead_status_name(dp_aead_status status)
{
    switch (status) {
    case DP_AEAD_OK: return "ok";
    case DP_AEAD_UNKNOWN_KEY: return "unknown_key";
    case DP_AEAD_TAMPERED: return "tampered";
    case DP_AEAD_INTERNAL: return "internal";
    }
    return "unknown";
}

/* ---- associated data ---- */

apr_size_t dp_aead_message_aad(const char *message_id, const char *sender_id,
                               unsigned char out[DP_AEAD_MESSAGE_AAD_LEN])
{
    unsigned char b[DP_AEAD_MESSAGE_AAD_LEN];

    if (dp_uuid_to_bytes(message_id, b) != 0
        || dp_uuid_to_bytes(sender_id, b + DP_UUID_BYTES) != 0) {
        return 0;
    }
    memcpy(out, b, sizeof(b));
    return DP_AEAD_MESSAGE_AAD_LEN;
}

/* ---- rows ---- */

/* One place for the labels: each purpose has its own, and none is a prefix of another. */
static const char *const PURPOSE_LABELS[] = {
    [DP_AEAD_MESSAGE] = "docportal/message",
    [DP_AEAD_NOTE] = "docportal/note",
    [DP_AEAD_ADDENDUM] = "docportal/addendum",
};
#define NPURPOSES ((int)(sizeof(PURPOSE_LABELS) / sizeof(PURPOSE_LABELS[0])))

const char *dp_aead_purpose_label(dp_aead_purpose purpose)
{
    return (int)purpose >= 0 && (int)purpose < NPURPOSES ? PURPOSE_LABELS[purpose] : NULL;
}

apr_size_t dp_aead_row_aad(const dp_aead_binding *b, int version,
                           unsigned char out[DP_AEAD_ROW_AAD_MAX])
{
    unsigned char buf[DP_AEAD_ROW_AAD_MAX];
    const char *label;
    apr_size_t n, at;

    if (b == NULL || (label = dp_aead_purpose_label(b->purpose)) == NULL) {
        return 0;
    }
    if (version == DP_AEAD_VERSION_1) {
        return dp_aead_message_aad(b->row_id, b->owner, out);
    }
    if (version != DP_AEAD_VERSION) {
        return 0;
    }
    n = strlen(label) + 1; /* the NUL ends the label: no label runs into the bytes after it */
    memcpy(buf, label, n);
    buf[n] = (unsigned char)version;
    at = n + 1;
    if (dp_uuid_to_bytes(b->row_id, buf + at) != 0
        || dp_uuid_to_bytes(b->owner, buf + at + DP_UUID_BYTES) != 0) {
        return 0;
    }
    at += 2 * DP_UUID_BYTES;
    if (b->purpose == DP_AEAD_MESSAGE) {
        if (dp_uuid_to_bytes(b->receiver, buf + at) != 0) {
            return 0;
        }
        at += DP_UUID_BYTES;
    }
    memcpy(out, buf, at);
    return at;
}

_Static_assert(sizeof("docportal/addendum") <= 32 + 1, "DP_AEAD_ROW_AAD_MAX holds every label");

int dp_aead_version_parse(const char *text)
{
    if (text != NULL && text[0] != '\0' && text[1] == '\0') {
        if (text[0] == '1') return DP_AEAD_VERSION_1;
        if (text[0] == '2') return DP_AEAD_VERSION;
    }
    return 0;
}

dp_error *dp_aead_seal_row(apr_pool_t *p, const dp_keyring *kr, const dp_aead_binding *b,
                           const char *plain, apr_size_t len, dp_sealed *out)
{
    unsigned char aad[DP_AEAD_ROW_AAD_MAX];
    apr_size_t n = dp_aead_row_aad(b, DP_AEAD_VERSION, aad);

    if (n == 0) {
        memset(out, 0, sizeof(*out));
        return dp_error_internal(p);
    }
    return dp_aead_seal(p, kr, aad, n, plain, len, out);
}

dp_aead_status dp_aead_open_row(apr_pool_t *p, const dp_keyring *kr, const dp_aead_binding *b,
                                int version, const dp_sealed *in, const char **plain,
                                apr_size_t *len)
{
    unsigned char aad[DP_AEAD_ROW_AAD_MAX];
    apr_size_t n = dp_aead_row_aad(b, version, aad);

    if (n == 0) {
        *plain = NULL;
        if (len != NULL) {
            *len = 0;
        }
        return DP_AEAD_TAMPERED;
    }
    return dp_aead_open(p, kr, in, aad, n, plain, len);
}
