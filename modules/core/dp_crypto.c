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

/* 1 + the value of each hex digit, 0 for any other byte. */
static const unsigned char hex_digit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int dp_hex_value(char c)
{
    return hex_digit[(unsigned char)c] - 1;
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

/* 1 + the value of each base64 digit of either alphabet, 0 for any other byte. */
static const unsigned char b64_digit[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['-'] = 63,
    ['/'] = 64, ['_'] = 64,
};

long dp_base64_decode(const char *in, apr_size_t inlen, unsigned char *out, apr_size_t cap,
                      int flags)
{
    apr_size_t o = 0, digits = 0, pads = 0;
    unsigned int acc = 0;
    int bits = 0, seen = 0;

    for (apr_size_t i = 0; i < inlen; i++) {
        const char c = in[i];
        int v;

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
        if ((v = b64_digit[(unsigned char)c] - 1) < 0) {
            return -1;
        }
        if (v >= 62) {
            /* the two digits the alphabets write differently: 1 standard, 2 url-safe */
            const int alphabet = (c == '+' || c == '/') ? 1 : 2;
            if ((alphabet == 2 && !(flags & DP_B64_URL)) || (seen != 0 && alphabet != seen)) {
                return -1;
            }
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
