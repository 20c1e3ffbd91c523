/* dp_google_id_verify: a Google ID token, and the key set Google's endpoint answers (v1
 * certificate PEMs or a JWKS), both untrusted bytes here. The harness is that endpoint:
 * its dp_http_do answers the input's key set (the core's dp_http is not linked), and with no
 * dp_google_id_init every verification fetches, so the key parser runs on every input.
 * First byte even: the rest is "key set" NUL "token" (seeds: key sets and tokens made with
 * one test key). Odd: "key set" NUL "header JSON" NUL "claims JSON", signed here with RS256
 * under the harness's key (an empty key set part: the JWKS of that key, kid "fz"), so the
 * checks behind the signature get fuzzed too. The Cache-Control reader gets the key set
 * part as a header value. */
#include "fuzz.h"

#include "dp_google_id.h"
#include "dp_http.h"

#include <apr_tables.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#define NOW       1700000000LL
#define CLIENT_ID "123456789012-fuzz.apps.googleusercontent.com"

static EVP_PKEY *key;
static const char *own_jwks;
static const char *answer; /* the key set dp_http_do serves for this input */
static apr_size_t answer_len;

dp_error *dp_http_do(apr_pool_t *p, const dp_http_req *req, dp_http_resp *resp)
{
    resp->status = 200;
    resp->body = apr_pstrmemdup(p, answer, answer_len);
    resp->len = answer_len;
    resp->headers = apr_table_make(p, 1);
    return NULL;
}

static const char *bn_b64url(apr_pool_t *p, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int n;

    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1 || (n = BN_bn2bin(bn, buf)) <= 0) {
        abort();
    }
    BN_free(bn);
    return fz_b64url(p, buf, (size_t)n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (key == NULL) {
        abort();
    }
    own_jwks = apr_psprintf(fz_root,
                            "{\"keys\":[{\"kid\":\"fz\",\"kty\":\"RSA\",\"alg\":\"RS256\","
                            "\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}]}",
                            bn_b64url(fz_root, OSSL_PKEY_PARAM_RSA_N),
                            bn_b64url(fz_root, OSSL_PKEY_PARAM_RSA_E));
    return 0;
}

static const char *signed_token(apr_pool_t *p, const char *hdr, const char *claims)
{
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    const char *input = apr_pstrcat(p, fz_b64url(p, hdr, strlen(hdr)), ".",
                                    fz_b64url(p, claims, strlen(claims)), NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        abort();
    }
    EVP_MD_CTX_free(md);
    return apr_pstrcat(p, input, ".", fz_b64url(p, sig, siglen), NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const dp_google_id_cfg cfg = {NULL, CLIENT_ID, 0, 0};
    apr_pool_t *p;
    const char *parts[3], *token, *reason = NULL;
    size_t lens[3];
    dp_google_identity who;
    dp_error *e;

    if (size < 1) {
        return 0;
    }
    p = fz_begin();
    if (data[0] & 1) {
        fz_split(p, data + 1, size - 1, 3, parts, lens);
        token = signed_token(p, parts[1], parts[2]);
        if (lens[0] == 0) {
            parts[0] = own_jwks;
            lens[0] = strlen(own_jwks);
        }
    }
    else {
        fz_split(p, data + 1, size - 1, 2, parts, lens);
        token = parts[1];
    }
    answer = parts[0];
    answer_len = lens[0];
    dp_google_id_max_age(parts[0]);
    e = dp_google_id_verify(p, &cfg, token, NOW, &who, &reason);
    FZ_ASSERT(reason != NULL);
    if (e == NULL) {
        FZ_ASSERT(who.sub != NULL && who.email != NULL && who.email_verified == 1);
    }
    else {
        FZ_ASSERT(e->status == 401 || e->status == 502);
        FZ_ASSERT(who.sub == NULL && who.email == NULL);
    }
    fz_end(p);
    return 0;
}
