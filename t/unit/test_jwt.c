/* dp_jwt: issue/verify, and every way a token must be refused. Forged tokens are built
 * either by hand (alg "none", tampering) or with libjwt itself (other algorithms, bad
 * claims, RSA), always signed with the right key unless the point is the key. */
#include "dp_test.h"

#include "dp_jwt.h"
#include "dp_uuid.h"

#include <apr_strings.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#define NOW 1700000000LL
#define TTL 900LL

static const unsigned char KEY[] = "unit-test-secret-0123456789abcdef-XYZ!"; /* 38 bytes */
static const unsigned char BADKEY[] = "unit-test-secret-0123456789abcdef-XYZ?";
#define KEYLEN (sizeof(KEY) - 1)

static const char SUB[] = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
static const char JTI[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

/* ---- helpers ---------------------------------------------------------------------- */

/* base64url without padding, written for these tests. */
static const char *b64url(apr_pool_t *p, const void *data, apr_size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *in = data;
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    apr_size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
        out[o++] = tbl[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
    }
    else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static const char *b64s(apr_pool_t *p, const char *s)
{
    return b64url(p, s, strlen(s));
}

/* apr_psprintf has no %lld: numbers go through snprintf. */
static const char *num(apr_pool_t *p, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    return apr_pstrdup(p, buf);
}

static const char *claims_json(apr_pool_t *p, const char *sub, const char *role, const char *jti,
                               long long iat, long long exp)
{
    return apr_psprintf(p,
                        "{\"sub\":\"%s\",\"role\":\"%s\",\"jti\":\"%s\",\"iat\":%s,"
                        "\"exp\":%s}",
                        sub, role, jti, num(p, iat), num(p, exp));
}

static const char *good_claims(apr_pool_t *p)
{
    return claims_json(p, SUB, "provider", JTI, NOW, NOW + TTL);
}

/* A token made by libjwt with any algorithm, key and grants (a JSON object text). */
static const char *libjwt_token(apr_pool_t *p, jwt_alg_t alg, const void *key, apr_size_t keylen,
                                const char *grants)
{
    jwt_t *j = NULL;
    char *enc = NULL;
    const char *tok = NULL;

    if (jwt_new(&j) == 0 && jwt_add_grants_json(j, grants) == 0
        && jwt_set_alg(j, alg, key, (int)keylen) == 0 && (enc = jwt_encode_str(j)) != NULL) {
        tok = apr_pstrdup(p, enc);
        free(enc);
    }
    jwt_free(j);
    CHECK_MSG(tok != NULL, "libjwt could not build a %s token for %s", jwt_alg_str(alg), grants);
    return tok;
}

static dp_jwt_status verify(apr_pool_t *p, const char *tok, long long now)
{
    dp_claims c;
    return dp_jwt_verify(p, KEY, KEYLEN, tok, now, &c);
}

#define CHECK_JWT(tok, now, want)                                                                  \
    do {                                                                                           \
        dp_jwt_status got_ = verify(env->pool, (tok), (now));                                      \
        CHECK_MSG(got_ == (want), "verify(%s): got %s, want %s", #tok, dp_jwt_status_name(got_),   \
                  dp_jwt_status_name(want));                                                       \
    } while (0)

/* Split a token into its three parts (pool copies); returns the number of parts. */
static int split3(apr_pool_t *p, const char *tok, const char **h, const char **pl, const char **sig)
{
    const char *d1 = strchr(tok, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL) {
        return 0;
    }
    *h = apr_pstrmemdup(p, tok, (apr_size_t)(d1 - tok));
    *pl = apr_pstrmemdup(p, d1 + 1, (apr_size_t)(d2 - d1 - 1));
    *sig = apr_pstrdup(p, d2 + 1);
    return 3;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_roundtrip(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *roles[] = {"provider", "client"};

    for (int r = 0; r < 2; r++) {
        const char *sub = dp_uuid_new(p), *tok = NULL, *h, *pl, *sig;
        dp_claims issued, got;
        apr_size_t hl;
        unsigned char *hdr;

        CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, sub, roles[r], NOW, TTL, &tok, &issued), DP_JWT_OK);
        if (!CHECK_NOT_NULL(tok)) {
            continue;
        }
        CHECK_STR(issued.sub, sub);
        CHECK_STR(issued.role, roles[r]);
        CHECK(dp_uuid_valid(issued.jti));
        CHECK_EQ(issued.iat, NOW);
        CHECK_EQ(issued.exp - issued.iat, TTL);
        CHECK(strlen(tok) <= DP_JWT_MAX_LEN);

        CHECK_EQ(dp_jwt_verify(p, KEY, KEYLEN, tok, NOW + 1, &got), DP_JWT_OK);
        CHECK_STR(got.sub, issued.sub);
        CHECK_STR(got.role, issued.role);
        CHECK_STR(got.jti, issued.jti);
        CHECK_EQ(got.iat, issued.iat);
        CHECK_EQ(got.exp, issued.exp);
        CHECK_EQ(got.exp - got.iat, TTL);

        /* The header is exactly what check_header expects. */
        if (CHECK_EQ(split3(p, tok, &h, &pl, &sig), 3)) {
            hdr = dp_b64url_decode(p, h, strlen(h), &hl);
            CHECK_MSG(hdr != NULL && strstr((const char *)hdr, "\"HS256\"") != NULL, "header %s",
                      hdr ? (const char *)hdr : "(undecodable)");
        }
    }
    {
        /* Two tokens for the same user differ by jti. */
        const char *t1, *t2;
        dp_claims c1, c2;
        CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &t1, &c1), DP_JWT_OK);
        CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &t2, &c2), DP_JWT_OK);
        CHECK(c1.jti && c2.jti && strcmp(c1.jti, c2.jti) != 0);
        CHECK(t1 && t2 && strcmp(t1, t2) != 0);
    }
    /* A token made by libjwt from the same claims verifies too (uppercase UUIDs are fine). */
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN, good_claims(p)), NOW, DP_JWT_OK);
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN,
                           claims_json(p, "3F2504E0-4F89-41D3-9A0C-0305E82C3301", "client", JTI,
                                       NOW, NOW + TTL)),
              NOW, DP_JWT_OK);
}

static void test_expiry(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *tok;
    dp_claims c;

    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "provider", NOW, TTL, &tok, &c), DP_JWT_OK);
    CHECK_JWT(tok, NOW, DP_JWT_OK);
    CHECK_JWT(tok, NOW + TTL - 1, DP_JWT_OK);
    CHECK_JWT(tok, NOW + TTL, DP_JWT_EXPIRED); /* exp <= now */
    CHECK_JWT(tok, NOW + TTL + 1, DP_JWT_EXPIRED);
    CHECK_JWT(tok, NOW + 86400 * 365, DP_JWT_EXPIRED);

    /* Issued in the past, already expired. */
    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "provider", NOW - 1000, TTL, &tok, &c), DP_JWT_OK);
    CHECK_JWT(tok, NOW, DP_JWT_EXPIRED);
    CHECK(c.exp <= NOW);

    /* An expired token under another key is a bad signature: nothing is trusted unsigned. */
    CHECK_EQ(dp_jwt_verify(p, BADKEY, KEYLEN, tok, NOW, &c), DP_JWT_BAD_SIGNATURE);
}

static void test_wrong_secret(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *tok;
    dp_claims c;

    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    CHECK_EQ(dp_jwt_verify(p, BADKEY, KEYLEN, tok, NOW, &c), DP_JWT_BAD_SIGNATURE);
    CHECK_NULL(c.sub); /* nothing leaks out of a refused token */
    CHECK_NULL(c.role);
    /* A longer key with ours as a prefix is another key. */
    CHECK_EQ(dp_jwt_verify(p, (const unsigned char *)"unit-test-secret-0123456789abcdef-XYZ!!",
                           KEYLEN + 1, tok, NOW, &c),
             DP_JWT_BAD_SIGNATURE);
    /* libjwt token under another key. */
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, BADKEY, KEYLEN, good_claims(p)), NOW,
              DP_JWT_BAD_SIGNATURE);
}

static void test_alg_none(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *payload = b64s(p, good_claims(p));
    const char *real, *h, *pl, *sig;
    const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"none\"}",
        "{\"alg\":\"None\",\"typ\":\"JWT\"}",
        "{\"alg\":\"NONE\",\"typ\":\"JWT\"}",
        "{\"alg\":\"nOnE\",\"typ\":\"JWT\"}",
        "{\"alg\":\"\",\"typ\":\"JWT\"}",
        "{\"alg\":null,\"typ\":\"JWT\"}",
        "{\"alg\":256,\"typ\":\"JWT\"}",
        "{\"alg\":[\"HS256\"],\"typ\":\"JWT\"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\",\"alg\":\"none\"}", /* duplicate: last one wins in jansson */
        "{}",
    };
    dp_claims c;

    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "provider", NOW, TTL, &real, &c), DP_JWT_OK);
    CHECK_EQ(split3(p, real, &h, &pl, &sig), 3);

    for (apr_size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        const char *hb = b64s(p, headers[i]);
        const char *variants[] = {
            apr_pstrcat(p, hb, ".", payload, ".", NULL),      /* no signature */
            apr_pstrcat(p, hb, ".", payload, ".", sig, NULL), /* a real HS256 signature */
            apr_pstrcat(p, hb, ".", payload, ".AAAA", NULL),  /* junk signature */
            apr_pstrcat(p, hb, ".", payload, NULL),           /* two parts */
        };
        for (int v = 0; v < 4; v++) {
            dp_jwt_status st = dp_jwt_verify(p, KEY, KEYLEN, variants[v], NOW, &c);
            CHECK_MSG(st == DP_JWT_BAD_ALG || st == DP_JWT_MALFORMED,
                      "header %s variant %d: got %s", headers[i], v, dp_jwt_status_name(st));
            CHECK_MSG(st != DP_JWT_OK, "header %s variant %d accepted", headers[i], v);
        }
        /* With a signature present the header alone decides: bad_alg, precisely. */
        if (i < 2) {
            CHECK_JWT(variants[1], NOW, DP_JWT_BAD_ALG);
            CHECK_JWT(variants[2], NOW, DP_JWT_BAD_ALG);
        }
    }
    /* libjwt itself, asked for "none", produces a token we refuse. */
    {
        const char *none = libjwt_token(p, JWT_ALG_NONE, NULL, 0, good_claims(p));
        dp_jwt_status st = dp_jwt_verify(p, KEY, KEYLEN, none, NOW, &c);
        CHECK_MSG(st == DP_JWT_BAD_ALG || st == DP_JWT_MALFORMED, "libjwt none: %s",
                  dp_jwt_status_name(st));
    }
}

static void test_other_hmac(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    /* Right key, right claims, wrong algorithm. */
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS384, KEY, KEYLEN, good_claims(p)), NOW, DP_JWT_BAD_ALG);
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS512, KEY, KEYLEN, good_claims(p)), NOW, DP_JWT_BAD_ALG);
}

static EVP_PKEY *rsa_generate(int bits)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    EVP_PKEY *key = NULL;

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1
        || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) != 1 || EVP_PKEY_keygen(ctx, &key) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static const char *pem_text(apr_pool_t *p, EVP_PKEY *key, int private_part)
{
    BIO *bio = BIO_new(BIO_s_mem());
    const char *out = NULL;
    char *data;
    long n;
    int ok;

    if (bio == NULL) {
        return NULL;
    }
    ok = private_part ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_bio_PUBKEY(bio, key);
    if (ok == 1 && (n = BIO_get_mem_data(bio, &data)) > 0) {
        out = apr_pstrmemdup(p, data, (apr_size_t)n);
    }
    BIO_free(bio);
    return out;
}

static void test_hs_rs_confusion(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    EVP_PKEY *rsa = rsa_generate(2048);
    const char *priv, *pub, *rs, *hs_pem;
    dp_claims c;

    if (!CHECK_NOT_NULL(rsa)) {
        return;
    }
    priv = pem_text(p, rsa, 1);
    pub = pem_text(p, rsa, 0);
    EVP_PKEY_free(rsa);
    if (!CHECK_NOT_NULL(priv) || !CHECK_NOT_NULL(pub)) {
        return;
    }
    CHECK(strncmp(pub, "-----BEGIN PUBLIC KEY-----", 26) == 0);

    /* RS256 signed with the private key: refused on the header. */
    rs = libjwt_token(p, JWT_ALG_RS256, priv, strlen(priv), good_claims(p));
    CHECK_JWT(rs, NOW, DP_JWT_BAD_ALG);
    /* ... and also when the verifier's "secret" is the public key PEM (the classic setup in
     * which a library would pick RSA verification from the header). */
    CHECK_EQ(dp_jwt_verify(p, (const unsigned char *)pub, strlen(pub), rs, NOW, &c),
             DP_JWT_BAD_ALG);
    CHECK_NULL(c.sub);

    /* HS256 whose HMAC key is the public key PEM: a different key from ours. */
    hs_pem = libjwt_token(p, JWT_ALG_HS256, pub, strlen(pub), good_claims(p));
    CHECK_JWT(hs_pem, NOW, DP_JWT_BAD_SIGNATURE);
    /* Sanity: that token is well formed, it only fails because the key differs. */
    CHECK_EQ(dp_jwt_verify(p, (const unsigned char *)pub, strlen(pub), hs_pem, NOW, &c), DP_JWT_OK);
    /* libjwt with the public key would accept the RS256 token: our refusal is our own. */
    {
        jwt_t *j = NULL;
        CHECK_EQ(jwt_decode(&j, rs, (const unsigned char *)pub, (int)strlen(pub)), 0);
        jwt_free(j);
    }
}

static void test_tampered(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *tok, *h, *pl, *sig;
    dp_claims c;

    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    if (!CHECK_EQ(split3(p, tok, &h, &pl, &sig), 3)) {
        return;
    }
    /* Flip each character of the payload in turn. */
    for (apr_size_t i = 0; i < strlen(pl); i++) {
        char *t = apr_pstrdup(p, tok);
        char *c0 = t + strlen(h) + 1 + i;
        dp_jwt_status st;
        *c0 = *c0 == 'A' ? 'B' : 'A';
        st = dp_jwt_verify(p, KEY, KEYLEN, t, NOW, &c);
        if (!CHECK_MSG(st == DP_JWT_BAD_SIGNATURE || st == DP_JWT_MALFORMED,
                       "payload char %zu flipped: got %s", i, dp_jwt_status_name(st))) {
            break;
        }
    }
    /* Flip each character of the signature in turn. */
    for (apr_size_t i = 0; i < strlen(sig); i++) {
        char *t = apr_pstrdup(p, tok);
        char *c0 = t + strlen(h) + 1 + strlen(pl) + 1 + i;
        dp_jwt_status st;
        *c0 = *c0 == 'A' ? 'B' : 'A';
        st = dp_jwt_verify(p, KEY, KEYLEN, t, NOW, &c);
        if (!CHECK_MSG(st == DP_JWT_BAD_SIGNATURE || st == DP_JWT_MALFORMED,
                       "signature char %zu flipped: got %s", i, dp_jwt_status_name(st))) {
            break;
        }
    }
    /* Role escalation: a re-encoded payload with the original signature. */
    CHECK_JWT(apr_pstrcat(p, h, ".",
                          b64s(p, claims_json(p, SUB, "provider", c.jti, NOW, NOW + TTL)), ".", sig,
                          NULL),
              NOW, DP_JWT_BAD_SIGNATURE);
    /* Lifetime extension the same way. */
    CHECK_JWT(apr_pstrcat(p, h, ".",
                          b64s(p, claims_json(p, SUB, "client", c.jti, NOW, NOW + 86400 * 365)),
                          ".", sig, NULL),
              NOW, DP_JWT_BAD_SIGNATURE);
    /* Header re-encoded with an extra field (still HS256). */
    CHECK_JWT(apr_pstrcat(p, b64s(p, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"x\"}"), ".", pl,
                          ".", sig, NULL),
              NOW, DP_JWT_BAD_SIGNATURE);
    /* Signature of another valid token. */
    {
        const char *other, *h2, *pl2, *sig2;
        dp_claims c2;
        CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &other, &c2), DP_JWT_OK);
        CHECK_EQ(split3(p, other, &h2, &pl2, &sig2), 3);
        CHECK_JWT(apr_pstrcat(p, h, ".", pl, ".", sig2, NULL), NOW, DP_JWT_BAD_SIGNATURE);
    }
    /* Truncated signature: refused as malformed when the last character's spare bits are
     * not zero (not canonical base64url), else by the HMAC; never accepted. */
    {
        dp_jwt_status got = verify(p, apr_pstrmemdup(p, tok, strlen(tok) - 1), NOW);
        CHECK_MSG(got == DP_JWT_MALFORMED || got == DP_JWT_BAD_SIGNATURE,
                  "truncated signature: got %s", dp_jwt_status_name(got));
    }
}

/* Anything appended to, or folded into, a valid token makes another token. */
static void test_noncanonical(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *tok;
    const char *suffixes[] = {"A", "=", "==", "\n", " ", "%", "AAAA"};
    dp_claims c;

    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    for (apr_size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        dp_jwt_status st =
            dp_jwt_verify(p, KEY, KEYLEN, apr_pstrcat(p, tok, suffixes[i], NULL), NOW, &c);
        CHECK_MSG(st != DP_JWT_OK, "token + \"%s\" accepted", suffixes[i]);
    }
    /* Leading whitespace. */
    CHECK_JWT(apr_pstrcat(p, " ", tok, NULL), NOW, DP_JWT_MALFORMED);
}

static void test_malformed(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *tok, *h, *pl, *sig;
    dp_claims c;
    char *big;

    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    CHECK_EQ(split3(p, tok, &h, &pl, &sig), 3);

    CHECK_JWT(apr_pstrcat(p, h, ".", pl, NULL), NOW, DP_JWT_MALFORMED);    /* 2 */
    CHECK_JWT(apr_pstrcat(p, tok, ".", sig, NULL), NOW, DP_JWT_MALFORMED); /* 4 */
    CHECK_JWT(apr_pstrcat(p, tok, ".", NULL), NOW, DP_JWT_MALFORMED);      /* 4, empty */
    CHECK_JWT("", NOW, DP_JWT_MALFORMED);
    CHECK_JWT(NULL, NOW, DP_JWT_MALFORMED);
    CHECK_JWT(".", NOW, DP_JWT_MALFORMED);
    CHECK_JWT("..", NOW, DP_JWT_MALFORMED);
    CHECK_JWT("...", NOW, DP_JWT_MALFORMED);
    CHECK_JWT(apr_pstrcat(p, ".", pl, ".", sig, NULL), NOW, DP_JWT_MALFORMED);     /* no header */
    CHECK_JWT(apr_pstrcat(p, h, "=.", pl, ".", sig, NULL), NOW, DP_JWT_MALFORMED); /* padding */
    CHECK_JWT(apr_pstrcat(p, "!!!!.", pl, ".", sig, NULL), NOW, DP_JWT_MALFORMED);
    CHECK_JWT(apr_pstrcat(p, b64s(p, "not json"), ".", pl, ".", sig, NULL), NOW, DP_JWT_MALFORMED);
    CHECK_JWT(apr_pstrcat(p, b64s(p, "[\"HS256\"]"), ".", pl, ".", sig, NULL), NOW,
              DP_JWT_MALFORMED);
    CHECK_JWT(apr_pstrcat(p, b64s(p, "\"HS256\""), ".", pl, ".", sig, NULL), NOW, DP_JWT_MALFORMED);
    CHECK_JWT("eyJhbGciOiJIUzI1NiJ9", NOW, DP_JWT_MALFORMED); /* a header alone */

    /* An empty payload must be stopped before libjwt: libjwt 1.10's jwt_decode mallocs 0
     * bytes for it and writes past the block (seen under valgrind). */
    CHECK_JWT(apr_pstrcat(p, h, "..", sig, NULL), NOW, DP_JWT_MALFORMED);
    CHECK_JWT(apr_pstrcat(p, h, "..AAAA", NULL), NOW, DP_JWT_MALFORMED);
    /* Payload that is not JSON / not base64url under a valid header: never OK. */
    {
        const char *bad[] = {"", "!!!!", "bm90IGpzb24", "W10"}; /* -, junk, "not json", [] */
        for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            dp_jwt_status st = dp_jwt_verify(
                p, KEY, KEYLEN, apr_pstrcat(p, h, ".", bad[i], ".", sig, NULL), NOW, &c);
            CHECK_MSG(st != DP_JWT_OK, "payload \"%s\" accepted", bad[i]);
        }
    }

    /* Longer than DP_JWT_MAX_LEN: junk of 4097 bytes, and a genuinely signed big token. */
    big = apr_palloc(p, DP_JWT_MAX_LEN + 2);
    memset(big, 'A', DP_JWT_MAX_LEN + 1);
    big[DP_JWT_MAX_LEN + 1] = '\0';
    memcpy(big, h, strlen(h));
    big[strlen(h)] = '.';
    big[DP_JWT_MAX_LEN - 10] = '.';
    CHECK_EQ(strlen(big), DP_JWT_MAX_LEN + 1);
    CHECK_JWT(big, NOW, DP_JWT_MALFORMED);
    {
        char *pad = apr_palloc(p, 3200);
        const char *grants, *t, *base = claims_json(p, SUB, "client", JTI, NOW, NOW + TTL);
        base = apr_pstrmemdup(p, base, strlen(base) - 1); /* without the closing brace */
        memset(pad, 'x', 3199);
        pad[3199] = '\0';
        grants = apr_pstrcat(p, base, ",\"pad\":\"", pad, "\"}", NULL);
        t = libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN, grants);
        CHECK(t != NULL && strlen(t) > DP_JWT_MAX_LEN);
        CHECK_JWT(t, NOW, DP_JWT_MALFORMED);
        /* The same padding, but short enough, is accepted (unknown claims are ignored). */
        pad[2000] = '\0';
        grants = apr_pstrcat(p, base, ",\"pad\":\"", pad, "\"}", NULL);
        t = libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN, grants);
        CHECK(t != NULL && strlen(t) <= DP_JWT_MAX_LEN);
        CHECK_JWT(t, NOW, DP_JWT_OK);
    }
}

static void test_bad_claims(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const struct {
        const char *grants;
        dp_jwt_status want;
    } cases[] = {
        {"{\"sub\":\"42\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"3f2504e0-4f89-41d3-9a0c-0305e82c330\",\"role\":\"client\",\"jti\":\"%J\","
         "\"iat\":%I,\"exp\":%E}",                                               DP_JWT_BAD_CLAIMS}, /* 35 characters */
        {"{\"sub\":\"3f2504e0x4f89-41d3-9a0c-0305e82c3301\",\"role\":\"client\",\"jti\":\"%J\","
         "\"iat\":%I,\"exp\":%E}",                                               DP_JWT_BAD_CLAIMS},
        {"{\"sub\":12345,\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",                    DP_JWT_BAD_CLAIMS},
        {"{\"sub\":\"%S\",\"role\":\"admin\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"Provider\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",           DP_JWT_BAD_CLAIMS},
        {"{\"sub\":\"%S\",\"role\":[\"client\"],\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",                         DP_JWT_BAD_CLAIMS},
        {"{\"sub\":\"%S\",\"role\":\"client\",\"iat\":%I,\"exp\":%E}",                    DP_JWT_BAD_CLAIMS},
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"abc\",\"iat\":%I,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"exp\":%E}",                DP_JWT_BAD_CLAIMS},
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I}",                DP_JWT_BAD_CLAIMS},
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":\"%E\"}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":\"%I\",\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E.5}",
         DP_JWT_BAD_CLAIMS                                                                                 },
 /* iat of the wrong type (libjwt 1.10 reads any non-integer as 0 without errno) */
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I.5,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":true,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":null,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":{},\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":true}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":null}",
         DP_JWT_BAD_CLAIMS                                                                                 },
 /* iat 0 is a (very old) integer: allowed */
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":0,\"exp\":%E}",      DP_JWT_OK        },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":-5,\"exp\":%E}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":0}",
         DP_JWT_BAD_CLAIMS                                                                                 },
        {"{}",                                                                            DP_JWT_BAD_CLAIMS},
 /* control: the template itself is fine */
        {"{\"sub\":\"%S\",\"role\":\"client\",\"jti\":\"%J\",\"iat\":%I,\"exp\":%E}",     DP_JWT_OK        },
    };

    for (apr_size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* expand %S %J %I %E */
        const char *t = cases[i].grants;
        char *g = apr_pstrdup(p, "");
        dp_jwt_status st;
        for (; *t; t++) {
            if (t[0] == '%' && t[1] != '\0') {
                t++;
                g = apr_pstrcat(p, g,
                                *t == 'S'       ? SUB
                                    : *t == 'J' ? JTI
                                    : *t == 'I' ? num(p, NOW)
                                                : num(p, NOW + TTL),
                                NULL);
            }
            else {
                g = apr_pstrcat(p, g, apr_pstrmemdup(p, t, 1), NULL);
            }
        }
        st = verify(p, libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN, g), NOW);
        CHECK_MSG(st == cases[i].want, "claims %s: got %s, want %s", g, dp_jwt_status_name(st),
                  dp_jwt_status_name(cases[i].want));
    }
}

static void test_iat_future(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    /* Far in the future. */
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN,
                           claims_json(p, SUB, "client", JTI, NOW + 3600, NOW + 7200)),
              NOW, DP_JWT_BAD_CLAIMS);
    CHECK_JWT(libjwt_token(
                  p, JWT_ALG_HS256, KEY, KEYLEN,
                  claims_json(p, SUB, "client", JTI, NOW + 86400LL * 3650, NOW + 86400LL * 3651)),
              NOW, DP_JWT_BAD_CLAIMS);
    /* Within the 300 s of clock skew it is fine; one second beyond is not. */
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN,
                           claims_json(p, SUB, "client", JTI, NOW + 300, NOW + 1200)),
              NOW, DP_JWT_OK);
    CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN,
                           claims_json(p, SUB, "client", JTI, NOW + 301, NOW + 1200)),
              NOW, DP_JWT_BAD_CLAIMS);
}

static void test_short_key(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const unsigned char k31[] = "0123456789abcdef0123456789abcde";  /* 31 */
    const unsigned char k32[] = "0123456789abcdef0123456789abcdef"; /* 32 */
    const char *tok = "x";
    dp_claims c;
    dp_jwt_status st;

    CHECK_EQ(sizeof(k31) - 1, DP_JWT_MIN_KEY - 1);
    CHECK_NE(dp_jwt_issue(p, k31, sizeof(k31) - 1, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    CHECK_NULL(tok);
    CHECK_NE(dp_jwt_issue(p, KEY, 0, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);

    /* A token signed by libjwt with the short key is not accepted with it either. */
    st = dp_jwt_verify(p, k31, sizeof(k31) - 1,
                       libjwt_token(p, JWT_ALG_HS256, k31, sizeof(k31) - 1, good_claims(p)), NOW,
                       &c);
    CHECK_MSG(st != DP_JWT_OK, "31-byte key accepted by verify");
    st = dp_jwt_verify(p, (const unsigned char *)"", 0,
                       libjwt_token(p, JWT_ALG_HS256, "x", 1, good_claims(p)), NOW, &c);
    CHECK_MSG(st != DP_JWT_OK, "empty key accepted by verify");

    /* 32 bytes is enough. */
    CHECK_EQ(dp_jwt_issue(p, k32, sizeof(k32) - 1, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    CHECK_EQ(dp_jwt_verify(p, k32, sizeof(k32) - 1, tok, NOW, &c), DP_JWT_OK);
}

static void test_b64url(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const struct {
        const char *in;
        const char *out; /* NULL: must be refused */
        apr_size_t outlen;
    } cases[] = {
        {"",         "",         0},
        {"Zg",       "f",        1},
        {"Zm8",      "fo",       2},
        {"Zm9v",     "foo",      3},
        {"Zm9vYg",   "foob",     4},
        {"Zm9vYmE",  "fooba",    5},
        {"Zm9vYmFy", "foobar",   6},
        {"-_8",      "\xfb\xff", 2},
        {"AA",       "\0",       1},
        {"AAA",      "\0\0",     2},
        {"Zg==",     NULL,       0}, /* padding is not base64url-without-padding */
        {"Zm8=",     NULL,       0},
        {"Z",        NULL,       0}, /* 6 bits make no byte */
        {"Zm9vY",    NULL,       0}, /* 4n+1 */
        {"Zh",       NULL,       0}, /* non-zero leftover bits: non-canonical */
        {"Zm9",      NULL,       0},
        {"Zm+v",     NULL,       0}, /* standard base64 alphabet */
        {"Zm/v",     NULL,       0},
        {"Zm9v\n",   NULL,       0},
        {"Zm 9v",    NULL,       0},
        {"Zm.v",     NULL,       0},
    };

    for (apr_size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_size_t n = 12345;
        unsigned char *out = dp_b64url_decode(p, cases[i].in, strlen(cases[i].in), &n);
        if (cases[i].out == NULL) {
            CHECK_MSG(out == NULL, "b64url \"%s\" accepted", cases[i].in);
        }
        else if (CHECK_MSG(out != NULL, "b64url \"%s\" refused", cases[i].in)) {
            CHECK_MSG(n == cases[i].outlen && memcmp(out, cases[i].out, n) == 0,
                      "b64url \"%s\" decoded wrongly (len %zu)", cases[i].in, n);
            CHECK_EQ(out[n], 0); /* NUL-terminated for the JSON parser */
        }
    }
    /* inlen is honoured: only the first 4 characters are read. */
    {
        apr_size_t n = 0;
        unsigned char *out = dp_b64url_decode(p, "Zm9v!!!!", 4, &n);
        CHECK(out != NULL && n == 3 && memcmp(out, "foo", 3) == 0);
    }
    /* Round trip through our own encoder, every length up to 70, all byte values. */
    {
        unsigned char buf[70];
        int bad = 0;
        for (int i = 0; i < 70; i++) {
            buf[i] = (unsigned char)(i * 37 + 250);
        }
        for (apr_size_t len = 0; len <= sizeof(buf) && !bad; len++) {
            const char *e = b64url(p, buf, len);
            apr_size_t n = 0;
            unsigned char *d = dp_b64url_decode(p, e, strlen(e), &n);
            if (d == NULL || n != len || memcmp(d, buf, len) != 0) {
                bad = (int)len + 1;
            }
        }
        CHECK_MSG(bad == 0, "round trip fails at length %d", bad - 1);
        {
            unsigned char all[256];
            const char *e;
            apr_size_t n = 0;
            unsigned char *d;
            for (int i = 0; i < 256; i++) {
                all[i] = (unsigned char)i;
            }
            e = b64url(p, all, sizeof(all));
            d = dp_b64url_decode(p, e, strlen(e), &n);
            CHECK(d != NULL && n == 256 && memcmp(d, all, 256) == 0);
        }
    }
}

static void test_status_names(dp_test_env *env)
{
    (void)env;
    CHECK_STR(dp_jwt_status_name(DP_JWT_OK), "ok");
    CHECK_STR(dp_jwt_status_name(DP_JWT_MALFORMED), "malformed");
    CHECK_STR(dp_jwt_status_name(DP_JWT_BAD_ALG), "bad_alg");
    CHECK_STR(dp_jwt_status_name(DP_JWT_BAD_SIGNATURE), "bad_signature");
    CHECK_STR(dp_jwt_status_name(DP_JWT_EXPIRED), "expired");
    CHECK_STR(dp_jwt_status_name(DP_JWT_BAD_CLAIMS), "bad_claims");
    CHECK_STR(dp_jwt_status_name(DP_JWT_INTERNAL), "internal");
}

/* The session version: carried as "sv" when not 0, read back, and only a whole number from
 * 0 to INT_MAX is a valid one. */
static void test_session_version(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *tok, *h, *pl, *sig;
    dp_claims c, got;
    apr_size_t n;
    unsigned char *payload;

    CHECK_EQ(dp_jwt_issue_sv(p, KEY, KEYLEN, SUB, "client", 7, NOW, TTL, &tok, &c), DP_JWT_OK);
    CHECK_EQ(c.sv, 7);
    CHECK_EQ(dp_jwt_verify(p, KEY, KEYLEN, tok, NOW + 1, &got), DP_JWT_OK);
    CHECK_EQ(got.sv, 7);
    /* version 0 is the absent claim: tokens issued before versions existed stay valid */
    CHECK_EQ(dp_jwt_issue(p, KEY, KEYLEN, SUB, "client", NOW, TTL, &tok, &c), DP_JWT_OK);
    if (CHECK_EQ(split3(p, tok, &h, &pl, &sig), 3)) {
        payload = dp_b64url_decode(p, pl, strlen(pl), &n);
        CHECK(payload != NULL && strstr((const char *)payload, "\"sv\"") == NULL);
    }
    CHECK_EQ(dp_jwt_verify(p, KEY, KEYLEN, tok, NOW + 1, &got), DP_JWT_OK);
    CHECK_EQ(got.sv, 0);
    CHECK_NE(dp_jwt_issue_sv(p, KEY, KEYLEN, SUB, "client", -1, NOW, TTL, &tok, &c), DP_JWT_OK);
    {
        static const char *const bad[] = {"\"1\"", "-1", "1.5", "null", "2147483648", "true"};
        const char *base = good_claims(p);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            const char *claims =
                apr_psprintf(p, "%.*s,\"sv\":%s}", (int)(strlen(base) - 1), base, bad[i]);
            CHECK_JWT(libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN, claims), NOW, DP_JWT_BAD_CLAIMS);
        }
        CHECK_JWT(
            libjwt_token(p, JWT_ALG_HS256, KEY, KEYLEN,
                         apr_psprintf(p, "%.*s,\"sv\":2147483647}", (int)(strlen(base) - 1), base)),
            NOW, DP_JWT_OK);
    }
}

const dp_test_case dp_suite_jwt[] = {
    {"session_version", test_session_version},
    {"roundtrip",       test_roundtrip      },
    {"expiry",          test_expiry         },
    {"wrong_secret",    test_wrong_secret   },
    {"alg_none",        test_alg_none       },
    {"other_hmac",      test_other_hmac     },
    {"hs_rs_confusion", test_hs_rs_confusion},
    {"tampered",        test_tampered       },
    {"noncanonical",    test_noncanonical   },
    {"malformed",       test_malformed      },
    {"bad_claims",      test_bad_claims     },
    {"iat_future",      test_iat_future     },
    {"short_key",       test_short_key      },
    {"b64url",          test_b64url         },
    {"status_names",    test_status_names   },
    {NULL,              NULL                },
};
