#include "dp_aead.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

typedef struct dp_aead_key {
    char id[DP_AEAD_MAX_ID + 1];
    unsigned char key[DP_AEAD_KEY_LEN];
} dp_aead_key;

struct dp_keyring {
    int n;
    int current; /* index into keys, -1 if none */
    dp_aead_key keys[DP_AEAD_MAX_KEYS];
};

/* A key file holds one line of hex or base64: anything bigger is not a key file. */
#define KEY_FILE_MAX 1024

static apr_status_t keyring_cleanse(void *data)
{
    OPENSSL_cleanse(data, sizeof(dp_keyring));
    return APR_SUCCESS;
}

dp_keyring *dp_keyring_make(apr_pool_t *p)
{
    dp_keyring *kr = apr_pcalloc(p, sizeof(*kr));

    kr->current = -1;
    apr_pool_cleanup_register(p, kr, keyring_cleanse, apr_pool_cleanup_null);
    return kr;
}

/* ---- encodings ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 0..63 for a base64 digit of either alphabet; *alphabet records which one a digit belongs
 * to (1 standard, 2 url-safe, 0 both) so mixed input can be refused. -1 if not a digit. */
static int b64_value(char c, int *alphabet)
{
    *alphabet = 0;
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') {
        *alphabet = c == '+' ? 1 : 2;
        return 62;
    }
    if (c == '/' || c == '_') {
        *alphabet = c == '/' ? 1 : 2;
        return 63;
    }
    return -1;
}

/* Flags of b64_decode. Keys come from people (either alphabet, padded or not); stored
 * values come from dp_aead_seal or PostgreSQL's encode() (standard, padded, maybe wrapped). */
#define B64_URL    1 /* accept the url-safe alphabet (never mixed with the standard one) */
#define B64_NOPAD  2 /* padding may be left out */
#define B64_BREAKS 4 /* skip CR and LF anywhere */

/* Strict base64 decoding into out[0..cap): one alphabet, padding exact when present,
 * unused trailing bits zero, so each value has one encoding (line breaks aside). Returns the
 * decoded length, or -1. */
static long b64_decode(const char *in, apr_size_t inlen, unsigned char *out, apr_size_t cap,
                       int flags)
{
    apr_size_t o = 0, digits = 0, pads = 0;
    unsigned int acc = 0;
    int bits = 0, seen = 0;

    for (apr_size_t i = 0; i < inlen; i++) {
        const char c = in[i];
        int alphabet, v;

        if ((flags & B64_BREAKS) && (c == '\n' || c == '\r')) {
            continue;
        }
        if (c == '=') {
            pads++;
            continue;
        }
        if (pads > 0) {
            return -1; /* data after padding */
        }
        v = b64_value(c, &alphabet);
        if (v < 0 || (alphabet == 2 && !(flags & B64_URL))
            || (alphabet != 0 && seen != 0 && alphabet != seen)) {
            return -1;
        }
        if (alphabet != 0) {
            seen = alphabet;
        }
        digits++;
        acc = ((acc << 6) | (unsigned int)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) {
                return -1;
            }
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    if (digits % 4 == 1) {
        return -1;
    }
    if (pads > 0 ? (digits % 4 == 0 || pads != 4 - digits % 4)
                 : (digits % 4 != 0 && !(flags & B64_NOPAD))) {
        return -1;
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }
    return (long)o;
}

/* Standard base64 with padding, in the pool. n <= DP_AEAD_MAX_PLAIN + tag. */
static const char *b64_encode(apr_pool_t *p, const unsigned char *in, apr_size_t n)
{
    char *out = apr_palloc(p, 4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* ---- the key ring ---- */

static int id_valid(const char *id)
{
    apr_size_t n;

    if (id == NULL) {
        return 0;
    }
    n = strlen(id);
    if (n < 1 || n > DP_AEAD_MAX_ID) {
        return 0;
    }
    for (apr_size_t i = 0; i < n; i++) {
        const char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static const dp_aead_key *find_key(const dp_keyring *kr, const char *id)
{
    if (kr == NULL || id == NULL) {
        return NULL;
    }
    for (int i = 0; i < kr->n; i++) {
        if (strcmp(kr->keys[i].id, id) == 0) {
            return &kr->keys[i];
        }
    }
    return NULL;
}

/* Decode a key in text form (hex or base64, no file:) into key. what names the source in
 * messages ("key 'a'" or "key 'a' (file /x)"). */
static const char *decode_key_text(apr_pool_t *p, const char *what, const char *s,
                                   apr_size_t n, unsigned char key[DP_AEAD_KEY_LEN])
{
    unsigned char buf[3 * DP_AEAD_KEY_LEN]; /* room to say how long a wrong key is */
    apr_size_t hexdigits = 0;
    long got;

    if (n == 0) {
        return apr_psprintf(p, "%s is empty", what);
    }
    while (hexdigits < n && hex_value(s[hexdigits]) >= 0) {
        hexdigits++;
    }
    /* Hex digits only, and an even count or too many for base64: hex. Base64 of 32 bytes is
     * 43 characters, or 44 ending in '=', so a valid key is never ambiguous. */
    if (hexdigits == n && (n % 2 == 0 || n > 44)) {
        if (n != 2 * DP_AEAD_KEY_LEN) {
            return apr_psprintf(p, "%s has %" APR_SIZE_T_FMT " hex digits; a key is 32 bytes"
                                " (64 hex digits)", what, n);
        }
        for (apr_size_t i = 0; i < DP_AEAD_KEY_LEN; i++) {
            key[i] = (unsigned char)((hex_value(s[2 * i]) << 4) | hex_value(s[2 * i + 1]));
        }
        return NULL;
    }
    got = b64_decode(s, n, buf, sizeof(buf), B64_URL | B64_NOPAD);
    if (got < 0) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return apr_psprintf(p, "%s is neither 64 hex digits nor base64 of 32 bytes", what);
    }
    if (got != DP_AEAD_KEY_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return apr_psprintf(p, "%s decodes (as base64) to %ld bytes; a key is 32 bytes", what,
                            got);
    }
    memcpy(key, buf, DP_AEAD_KEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return NULL;
}

static const char *read_key_file(apr_pool_t *p, const char *id, const char *path,
                                 unsigned char key[DP_AEAD_KEY_LEN])
{
    char buf[KEY_FILE_MAX + 1];
    apr_file_t *f;
    apr_size_t n = 0;
    apr_status_t rv;
    const char *err;
    char ebuf[120];

    if (*path == '\0') {
        return apr_psprintf(p, "key '%s': file: needs a path", id);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "key '%s': cannot open %s: %s", id, path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    /* Read one byte more than allowed to tell a full buffer from a too-big file. */
    while (n < sizeof(buf)) {
        apr_size_t want = sizeof(buf) - n;
        rv = apr_file_read(f, buf + n, &want);
        n += want;
        if (rv == APR_EOF || (rv == APR_SUCCESS && want == 0)) {
            break;
        }
        if (rv != APR_SUCCESS) {
            apr_file_close(f);
            OPENSSL_cleanse(buf, sizeof(buf));
            return apr_psprintf(p, "key '%s': cannot read %s: %s", id, path,
                                apr_strerror(rv, ebuf, sizeof(ebuf)));
        }
    }
    apr_file_close(f);
    if (n > KEY_FILE_MAX) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return apr_psprintf(p, "key '%s': %s is too big for a key file", id, path);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '
                     || buf[n - 1] == '\t')) {
        n--;
    }
    err = decode_key_text(p, apr_psprintf(p, "key '%s' (file %s)", id, path), buf, n, key);
    OPENSSL_cleanse(buf, sizeof(buf));
    return err;
}

const char *dp_keyring_add(dp_keyring *kr, apr_pool_t *p, const char *id, const char *spec,
                           int current)
{
    unsigned char key[DP_AEAD_KEY_LEN];
    const char *err;
    dp_aead_key *k;

    if (kr == NULL) {
        return "no key ring";
    }
    if (!id_valid(id)) {
        return apr_psprintf(p, "key id '%s' is not 1 to %d characters of A-Z a-z 0-9 _ -",
                            id ? id : "", DP_AEAD_MAX_ID);
    }
    if (find_key(kr, id) != NULL) {
        return apr_psprintf(p, "key id '%s' is given twice", id);
    }
    if (kr->n >= DP_AEAD_MAX_KEYS) {
        return apr_psprintf(p, "key '%s': too many keys (at most %d)", id, DP_AEAD_MAX_KEYS);
    }
    if (current && kr->current >= 0) {
        return apr_psprintf(p, "key '%s' is marked current but '%s' already is", id,
                            kr->keys[kr->current].id);
    }
    if (spec == NULL) {
        return apr_psprintf(p, "key '%s' has no value", id);
    }
    if (strncmp(spec, "file:", 5) == 0) {
        err = read_key_file(p, id, spec + 5, key);
    }
    else {
        err = decode_key_text(p, apr_psprintf(p, "key '%s'", id), spec, strlen(spec), key);
    }
    if (err == NULL) {
        k = &kr->keys[kr->n];
        memcpy(k->key, key, sizeof(key));
        memcpy(k->id, id, strlen(id) + 1);
        if (current) {
            kr->current = kr->n;
        }
        kr->n++;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return err;
}

const char *dp_keyring_check(const dp_keyring *kr)
{
    if (kr == NULL || kr->n == 0) {
        return NULL;
    }
    if (kr->current < 0) {
        return "no message key is marked current";
    }
    return NULL;
}

const char *dp_keyring_current_id(const dp_keyring *kr)
{
    return kr != NULL && kr->current >= 0 ? kr->keys[kr->current].id : NULL;
}

int dp_keyring_count(const dp_keyring *kr)
{
    return kr != NULL ? kr->n : 0;
}

/* ---- sealing ---- */

dp_error *dp_aead_seal(apr_pool_t *p, const dp_keyring *kr, const void *aad,
                       apr_size_t aad_len, const char *plain, apr_size_t len, dp_sealed *out)
{
    const dp_aead_key *k;
    unsigned char nonce[DP_AEAD_NONCE_LEN];
    unsigned char *ct;
    EVP_CIPHER_CTX *ctx;
    int n = 0, fin = 0, aadn = 0, ok;

    memset(out, 0, sizeof(*out));
    if (kr == NULL || kr->current < 0) {
        return dp_error_make(p, 500, DP_E_INTERNAL, NULL,
                             "Message encryption is not configured.");
    }
    if (len > DP_AEAD_MAX_PLAIN || aad_len > DP_AEAD_MAX_PLAIN || (plain == NULL && len > 0)
        || (aad == NULL && aad_len > 0)) {
        return dp_error_internal(p);
    }
    k = &kr->keys[kr->current];
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        return dp_error_internal(p);
    }
    ct = apr_palloc(p, len + DP_AEAD_TAG_LEN);
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
        return dp_error_internal(p);
    }
    ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DP_AEAD_NONCE_LEN, NULL) == 1
         && EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, nonce) == 1
         && (aad_len == 0
             || EVP_EncryptUpdate(ctx, NULL, &aadn, aad, (int)aad_len) == 1)
         && (len == 0
             || EVP_EncryptUpdate(ctx, ct, &n, (const unsigned char *)plain, (int)len) == 1)
         && EVP_EncryptFinal_ex(ctx, ct + n, &fin) == 1
         && (apr_size_t)n + (apr_size_t)fin == len
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, DP_AEAD_TAG_LEN, ct + len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return dp_error_internal(p);
    }
    out->key_id = apr_pstrdup(p, k->id);
    out->nonce_b64 = b64_encode(p, nonce, sizeof(nonce));
    out->ct_b64 = b64_encode(p, ct, len + DP_AEAD_TAG_LEN);
    return NULL;
}

int dp_aead_open(apr_pool_t *p, const dp_keyring *kr, const dp_sealed *in, const void *aad,
                 apr_size_t aad_len, const char **plain, apr_size_t *len)
{
    const dp_aead_key *k;
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
    if ((k = find_key(kr, in->key_id)) == NULL) {
        return DP_AEAD_UNKNOWN_KEY;
    }
    if (in->nonce_b64 == NULL || in->ct_b64 == NULL || (aad == NULL && aad_len > 0)
        || aad_len > DP_AEAD_MAX_PLAIN) {
        return DP_AEAD_TAMPERED;
    }
    got = b64_decode(in->nonce_b64, strlen(in->nonce_b64), nonce, sizeof(nonce), B64_BREAKS);
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
    got = b64_decode(in->ct_b64, b64len, ct, cap, B64_BREAKS);
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
         && EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) == 1
         && (aad_len == 0
             || EVP_DecryptUpdate(ctx, NULL, &aadn, aad, (int)aad_len) == 1)
         && (ptlen == 0 || EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ptlen) == 1)
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, DP_AEAD_TAG_LEN, ct + ptlen) == 1
         && EVP_DecryptFinal_ex(ctx, pt + n, &fin) > 0
         && (apr_size_t)n + (apr_size_t)fin == ptlen;
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

const char *dp_aead_status_name(int status)
{
    switch (status) {
    case DP_AEAD_OK: return "ok";
    case DP_AEAD_UNKNOWN_KEY: return "unknown_key";
    case DP_AEAD_TAMPERED: return "tampered";
    default: return "internal";
    }
}

/* ---- associated data ---- */

int dp_uuid_to_bytes(const char *uuid, unsigned char out[16])
{
    unsigned char b[16];
    const char *s = uuid;

    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < 16; i++) {
        int hi, lo;
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (*s++ != '-') {
                return -1;
            }
        }
        /* && stops at the terminating NUL: nothing past it is read */
        if ((hi = hex_value(s[0])) < 0 || (lo = hex_value(s[1])) < 0) {
            return -1;
        }
        b[i] = (unsigned char)((hi << 4) | lo);
        s += 2;
    }
    if (*s != '\0') {
        return -1;
    }
    memcpy(out, b, sizeof(b));
    return 0;
}

apr_size_t dp_aead_message_aad(const char *message_id, const char *sender_id,
                               unsigned char out[DP_AEAD_MESSAGE_AAD_LEN])
{
    unsigned char b[DP_AEAD_MESSAGE_AAD_LEN];

    if (dp_uuid_to_bytes(message_id, b) != 0 || dp_uuid_to_bytes(sender_id, b + 16) != 0) {
        return 0;
    }
    memcpy(out, b, sizeof(b));
    return DP_AEAD_MESSAGE_AAD_LEN;
}
