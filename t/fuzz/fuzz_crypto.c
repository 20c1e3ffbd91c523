/* The encodings of dp_crypto (base64 of key specs and sealed values, hex of MACs) and the
 * base64url of tokens. First byte: dp_base64_decode flags (low 3 bits); the rest is the text.
 * Properties: base64 is strict, so a value that decodes is the one canonical encoding of its
 * bytes (up to the alphabet the flags allow, left-out padding and skipped line breaks); hex
 * decodes only from exactly 2n hex digits and encodes back to them in lower case. */
#include "fuzz.h"

#include "dp_crypto.h"
#include "dp_jwt.h"

#include <apr_lib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

/* The standard padded form of a value the decoder accepted. */
static char *canonical_of_input(apr_pool_t *p, const char *in, size_t n, int flags)
{
    char *out = apr_palloc(p, n + 3), *o = out;

    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if ((flags & DP_B64_BREAKS) && (c == '\r' || c == '\n')) {
            continue;
        }
        *o++ = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while ((o - out) % 4 != 0) {
        *o++ = '='; /* padding left out (DP_B64_NOPAD) */
    }
    *o = '\0';
    return out;
}

static void check_base64(apr_pool_t *p, const char *in, size_t n, int flags)
{
    unsigned char *out = apr_palloc(p, n / 4 * 3 + 3);
    long got = dp_base64_decode(in, n, out, n / 4 * 3 + 3, flags);
    char *enc;

    if (got < 0) {
        return;
    }
    FZ_ASSERT((size_t)got <= n / 4 * 3 + 3);
    if (!(flags & DP_B64_URL)) {
        FZ_ASSERT(memchr(in, '-', n) == NULL && memchr(in, '_', n) == NULL);
    }
    enc = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)got));
    apr_base64_encode_binary(enc, out, (int)got);
    FZ_ASSERT(strcmp(enc, canonical_of_input(p, in, n, flags)) == 0);
}

static void check_hex(apr_pool_t *p, const char *in, size_t n)
{
    unsigned char *out = apr_palloc(p, n / 2 + 1);
    char *enc = apr_palloc(p, n + 1);

    if (dp_hex_decode(in, out, n / 2) != 0) {
        return;
    }
    FZ_ASSERT(n % 2 == 0);
    dp_hex_encode(enc, out, n / 2);
    for (size_t i = 0; i < n; i++) {
        FZ_ASSERT(enc[i] == apr_tolower(in[i]));
        FZ_ASSERT(dp_hex_value(in[i]) >= 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *text;
    size_t n;
    apr_size_t outlen;

    if (size < 1) {
        return 0;
    }
    p = fz_begin();
    text = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    n = strlen(text);
    check_base64(p, text, n, data[0] & 7);
    check_hex(p, text, n);
    dp_b64url_decode(p, text, n, &outlen);
    fz_end(p);
    return 0;
}
