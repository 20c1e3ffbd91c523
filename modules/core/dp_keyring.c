#include "dp_keyring.h"
#include "dp_crypto.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/crypto.h>
#include <string.h>

typedef struct ring_key {
    char id[DP_KEYRING_MAX_ID + 1];
    unsigned char key[DP_KEYRING_KEY_LEN];
} ring_key;

struct dp_keyring {
    int n;
    int current; /* index into keys, -1 if none */
    ring_key keys[DP_KEYRING_MAX_KEYS];
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

static int id_valid(const char *id)
{
    apr_size_t n;

    if (id == NULL) {
        return 0;
    }
    n = strlen(id);
    if (n < 1 || n > DP_KEYRING_MAX_ID) {
        return 0;
    }
    for (apr_size_t i = 0; i < n; i++) {
        const char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
              || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static const ring_key *find_key(const dp_keyring *kr, const char *id)
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
static const char *decode_key_text(apr_pool_t *p, const char *what, const char *s, apr_size_t n,
                                   unsigned char key[DP_KEYRING_KEY_LEN])
{
    unsigned char buf[3 * DP_KEYRING_KEY_LEN]; /* room to say how long a wrong key is */
    apr_size_t hexdigits = 0;
    long got;

    if (n == 0) {
        return apr_psprintf(p, "%s is empty", what);
    }
    while (hexdigits < n && dp_hex_value(s[hexdigits]) >= 0) {
        hexdigits++;
    }
    /* Hex digits only, and an even count or too many for base64: hex. Base64 of 32 bytes is
     * 43 characters, or 44 ending in '=', so a valid key is never ambiguous. */
    if (hexdigits == n && (n % 2 == 0 || n > 44)) {
        if (n != 2 * DP_KEYRING_KEY_LEN) {
            return apr_psprintf(p,
                                "%s has %" APR_SIZE_T_FMT " hex digits; a key is 32 bytes"
                                " (64 hex digits)",
                                what, n);
        }
        for (apr_size_t i = 0; i < DP_KEYRING_KEY_LEN; i++) {
            key[i] = (unsigned char)((dp_hex_value(s[2 * i]) << 4) | dp_hex_value(s[2 * i + 1]));
        }
        return NULL;
    }
    got = dp_base64_decode(s, n, buf, sizeof(buf), DP_B64_URL | DP_B64_NOPAD);
    if (got < 0) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return apr_psprintf(p, "%s is neither 64 hex digits nor base64 of 32 bytes", what);
    }
    if (got != DP_KEYRING_KEY_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return apr_psprintf(p, "%s decodes (as base64) to %ld bytes; a key is 32 bytes", what, got);
    }
    memcpy(key, buf, DP_KEYRING_KEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return NULL;
}

static const char *read_key_file(apr_pool_t *p, const char *id, const char *path,
                                 unsigned char key[DP_KEYRING_KEY_LEN])
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
    while (
        n > 0
        && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        n--;
    }
    err = decode_key_text(p, apr_psprintf(p, "key '%s' (file %s)", id, path), buf, n, key);
    OPENSSL_cleanse(buf, sizeof(buf));
    return err;
}

const char *dp_keyring_add(dp_keyring *kr, apr_pool_t *p, const char *id, const char *spec,
                           int current)
{
    unsigned char key[DP_KEYRING_KEY_LEN];
    const char *err;
    ring_key *k;

    if (kr == NULL) {
        return "no key ring";
    }
    if (!id_valid(id)) {
        return apr_psprintf(p, "key id '%s' is not 1 to %d characters of A-Z a-z 0-9 _ -",
                            id ? id : "", DP_KEYRING_MAX_ID);
    }
    if (find_key(kr, id) != NULL) {
        return apr_psprintf(p, "key id '%s' is given twice", id);
    }
    if (kr->n >= DP_KEYRING_MAX_KEYS) {
        return apr_psprintf(p, "key '%s': too many keys (at most %d)", id, DP_KEYRING_MAX_KEYS);
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

const unsigned char *dp_keyring_key(const dp_keyring *kr, const char *id)
{
    const ring_key *k = find_key(kr, id);

    return k != NULL ? k->key : NULL;
}
