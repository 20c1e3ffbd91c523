#include "dp_crypto.h"

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

int dp_random_bytes(unsigned char *buf, apr_size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void to_hex(char *out, const unsigned char *in, apr_size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (apr_size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

void dp_hex_encode(char *out, const unsigned char *in, apr_size_t n)
{
    to_hex(out, in, n);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int dp_hex_decode(const char *hex, unsigned char *out, apr_size_t n)
{
    if (hex == NULL || strlen(hex) != 2 * n) {
        return -1;
    }
    for (apr_size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

const char *dp_random_hex(apr_pool_t *p, apr_size_t n)
{
    unsigned char *raw = apr_palloc(p, n);
    char *out = apr_palloc(p, 2 * n + 1);

    if (dp_random_bytes(raw, n) != 0) {
        return NULL;
    }
    to_hex(out, raw, n);
    return out;
}

const char *dp_uuid_new(apr_pool_t *p)
{
    unsigned char b[16];
    char hex[33];

    if (dp_random_bytes(b, sizeof(b)) != 0) {
        return NULL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    to_hex(hex, b, sizeof(b));
    return apr_psprintf(p, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
                        hex + 20);
}

int dp_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        const char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        }
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

const char *dp_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char *out = apr_palloc(p, 2 * SHA256_DIGEST_LENGTH + 1);

    SHA256(data, len, md);
    to_hex(out, md, sizeof(md));
    return out;
}

int dp_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen)
{
    if (alen != blen) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, alen) == 0;
}
