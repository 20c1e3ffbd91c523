/* dp_base64_decode: every length of bytes up to 300 as apr_base64 encodes them, with PostgreSQL's
 * line breaks and in the url-safe form, each way a value can be malformed; and dp_hex_value. */
#include "dp_test.h"

#include "dp_crypto.h"

#include <apr_base64.h>
#include <apr_strings.h>
#include <string.h>

static long dec(const char *in, unsigned char *out, apr_size_t cap, int flags)
{
    return dp_base64_decode(in, strlen(in), out, cap, flags);
}

/* the standard form with a line break after every 76 characters, as encode(..., 'base64') */
static char *with_breaks(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *o = apr_palloc(p, n + n / 76 + 1), *w = o;

    for (apr_size_t i = 0; i < n; i++) {
        if (i > 0 && i % 76 == 0) {
            *w++ = '\n';
        }
        *w++ = s[i];
    }
    *w = '\0';
    return o;
}

/* the url-safe form without padding */
static char *url_nopad(apr_pool_t *p, const char *s)
{
    char *o = apr_pstrdup(p, s);

    for (char *c = o; *c != '\0'; c++) {
        if (*c == '+') *c = '-';
        if (*c == '/') *c = '_';
        if (*c == '=') {
            *c = '\0';
            break;
        }
    }
    return o;
}

static void test_round_trips(dp_test_env *env)
{
    unsigned char in[300], out[300];

    for (int i = 0; i < (int)sizeof(in); i++) {
        in[i] = (unsigned char)(i * 151 + 7);
    }
    for (int n = 0; n <= (int)sizeof(in); n++) {
        char *b64 = apr_palloc(env->pool, (apr_size_t)apr_base64_encode_len(n));
        char *u;
        long got;
        apr_base64_encode_binary(b64, in, n);
        got = dec(b64, out, sizeof(out), 0);
        if (!CHECK_EQ(got, n) || !CHECK(memcmp(in, out, (apr_size_t)n) == 0)) break;
        CHECK_EQ(dec(with_breaks(env->pool, b64), out, sizeof(out), DP_B64_BREAKS), n);
        u = url_nopad(env->pool, b64);
        CHECK_EQ(dec(u, out, sizeof(out), DP_B64_URL | DP_B64_NOPAD), n);
        CHECK(memcmp(in, out, (apr_size_t)n) == 0);
        if (n > 0) {
            /* one byte short of room */
            CHECK_EQ(dec(b64, out, (apr_size_t)n - 1, 0), -1);
        }
        if (n % 3 != 0) {
            /* padding left out without the flag */
            char *bare = apr_pstrndup(env->pool, b64, strcspn(b64, "="));
            CHECK_EQ(dec(bare, out, sizeof(out), 0), -1);
            CHECK_EQ(dec(bare, out, sizeof(out), DP_B64_NOPAD), n);
        }
    }
}

static void test_refused(dp_test_env *env)
{
    unsigned char out[64];

    (void)env;
    CHECK_EQ(dec("", out, sizeof(out), 0), 0);
    CHECK_EQ(dec("QUJD", out, sizeof(out), 0), 3);
    CHECK_EQ(dec("+/+/", out, sizeof(out), 0), 3);
    CHECK_EQ(dec("-_-_", out, sizeof(out), DP_B64_URL), 3);
    CHECK_EQ(dec("-_-_", out, sizeof(out), 0), -1);          /* url-safe without the flag */
    CHECK_EQ(dec("+_+_", out, sizeof(out), DP_B64_URL), -1); /* both alphabets */
    CHECK_EQ(dec("-/AA", out, sizeof(out), DP_B64_URL), -1);
    CHECK_EQ(dec("QQ==", out, sizeof(out), 0), 1);
    CHECK_EQ(dec("QQ=", out, sizeof(out), 0), -1);   /* short padding */
    CHECK_EQ(dec("QQ===", out, sizeof(out), 0), -1); /* too much */
    CHECK_EQ(dec("QUJD=", out, sizeof(out), 0), -1);
    CHECK_EQ(dec("QQ==QQ==", out, sizeof(out), 0), -1); /* data after padding */
    CHECK_EQ(dec("QR==", out, sizeof(out), 0), -1);     /* unused bits not zero */
    CHECK_EQ(dec("QUI=", out, sizeof(out), 0), 2);
    CHECK_EQ(dec("QUJ=", out, sizeof(out), 0), -1);
    CHECK_EQ(dec("Q", out, sizeof(out), DP_B64_NOPAD), -1); /* one digit is no byte */
    CHECK_EQ(dec("QUJDR", out, sizeof(out), DP_B64_NOPAD), -1);
    CHECK_EQ(dec("QQ", out, sizeof(out), DP_B64_NOPAD), 1);
    CHECK_EQ(dec("QQ", out, sizeof(out), 0), -1);
    CHECK_EQ(dec("QU\nJD", out, sizeof(out), 0), -1); /* a break without the flag */
    CHECK_EQ(dec("QU\r\nJD", out, sizeof(out), DP_B64_BREAKS), 3);
    CHECK_EQ(dec("QUJD\n", out, sizeof(out), DP_B64_BREAKS), 3);
    CHECK_EQ(dec("QQ=\n=", out, sizeof(out), DP_B64_BREAKS), 1);
    CHECK_EQ(dec("QU JD", out, sizeof(out), 0), -1);
    CHECK_EQ(dec("QU*D", out, sizeof(out), 0), -1);
    CHECK_EQ(dec("QU\x80"
                 "D",
                 out, sizeof(out), 0),
             -1);
    CHECK_EQ(dp_base64_decode("QU\0D", 4, out, sizeof(out), 0), -1);
    CHECK_EQ(dec("QUJD", out, 2, 0), -1);
}

/* dp_hex_value over every byte: the sixteen digits in either case, nothing else */
static void test_hex_value(dp_test_env *env)
{
    const char *lower = "0123456789abcdef", *upper = "0123456789ABCDEF";

    (void)env;
    for (int c = 0; c < 256; c++) {
        const char *l = c != 0 ? strchr(lower, c) : NULL, *u = c != 0 ? strchr(upper, c) : NULL;
        const int want = l != NULL ? (int)(l - lower) : u != NULL ? (int)(u - upper) : -1;
        if (!CHECK_EQ(dp_hex_value((char)c), want)) break;
    }
}

const dp_test_case dp_suite_base64[] = {
    {"hex_value",   test_hex_value  },
    {"round_trips", test_round_trips},
    {"refused",     test_refused    },
    {NULL,          NULL            }
};
