/* Stripe's webhook: the Stripe-Signature header (dp_stripe_verify_signature) and the event
 * body (dp_stripe_parse_event). Input: "header" NUL "body" (the body may hold NULs). First
 * byte odd: the harness puts a genuine "t=...,v1=..." for the body in front of the header,
 * so the verification gets past the MAC and the fuzzed rest of the header still counts. */
#include "fuzz.h"

#include "dp_crypto.h"
#include "dp_stripe.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NOW    1700000000LL
#define SECRET "whsec_fuzz0123456789abcdef0123456789"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

/* "t=<now>,v1=<HMAC-SHA256(secret, "<now>.<body>")>," */
static const char *genuine(apr_pool_t *p, const char *body, size_t len)
{
    const char *t = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)NOW);
    size_t tlen = strlen(t);
    unsigned char *signed_text = apr_palloc(p, tlen + 1 + len + 1), mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    memcpy(signed_text, t, tlen);
    signed_text[tlen] = '.';
    memcpy(signed_text + tlen + 1, body, len);
    if (HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), signed_text, tlen + 1 + len, mac, &maclen)
        == NULL) {
        abort();
    }
    dp_hex_encode(hex, mac, maclen);
    return apr_pstrcat(p, "t=", t, ",v1=", hex, ",", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *parts[2], *header;
    size_t lens[2];
    dp_stripe_sig_status st;
    dp_stripe_event ev;
    dp_error *e;

    if (size < 1) {
        return 0;
    }
    p = fz_begin();
    fz_split(p, data + 1, size - 1, 2, parts, lens);
    header =
        (data[0] & 1) ? apr_pstrcat(p, genuine(p, parts[1], lens[1]), parts[0], NULL) : parts[0];
    st = dp_stripe_verify_signature(header, parts[1], lens[1], SECRET, NOW, 0);
    FZ_ASSERT(strcmp(dp_stripe_sig_status_name(st), "unknown") != 0);
    FZ_ASSERT(dp_stripe_verify_signature(header, parts[1], lens[1], "", NOW, 0)
              == DP_STRIPE_SIG_NO_SECRET);

    e = dp_stripe_parse_event(p, parts[1], lens[1], &ev);
    if (e == NULL) {
        FZ_ASSERT(ev.id != NULL && ev.type != NULL);
    }
    else {
        FZ_ASSERT(e->status == 400);
    }
    fz_end(p);
    return 0;
}
