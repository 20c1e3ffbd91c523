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

int dp_hex_value(char c)
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
        int hi = dp_hex_value(hex[2 * i]), lo = dp_hex_value(hex[2 * i + 1]);
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

long dp_base64_decode(const char *in, apr_size_t inlen, unsigned char *out, apr_size_t cap,
                      int flags)
{
    apr_size_t o = 0, digits = 0, pads = 0;
    unsigned int acc = 0;
    int bits = 0, seen = 0;

    for (apr_size_t i = 0; i < inlen; i++) {
        const char c = in[i];
        int alphabet, v;

        if ((flags & DP_B64_BREAKS) && (c == '\n' || c == '\r')) {
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
        if (v < 0 || (alphabet == 2 && !(flags & DP_B64_URL))
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
                 : (digits % 4 != 0 && !(flags & DP_B64_NOPAD))) {
        return -1;
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }
    return (long)o;
}
