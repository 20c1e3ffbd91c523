/* dp_google_id against t/fakes/google_certs_fake.pl (started once on a free port, reset before
 * each test). The RSA keys and their self-signed certificates are made here with OpenSSL's
 * X509 API; ID tokens are signed here with libjwt (or by hand, for shapes libjwt would not
 * produce). Nothing leaves 127.0.0.1.
 *
 * Each test initialises the key cache in a subpool of its own pool, so every test starts
 * with an empty cache (the pool's cleanup resets it). The suite state (keys, temp dir, the
 * fake) lives in its own root pool; the last test tears it down, and an atexit handler kills
 * the fake when only some tests were selected. */
#include "dp_test.h"
#include "fake_http.h"

#include "dp_google_id.h"
#include "dp_http.h"
#include "dp_json.h"

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <curl/curl.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern const dp_test_case dp_suite_google_id[];

#define CLIENT_ID "123456789012-abcdefghijklmnop.apps.googleusercontent.com"
#define SUB       "110169484474386276334"
#define EMAIL     "pat.client@example.com"
#define KID_A     "kid-a-2f1e0d"
#define KID_B     "kid-b-9c8b7a"
#define KID_C     "kid-c-unknown"
#define V1        "/oauth2/v1/certs"
#define V3        "/oauth2/v3/certs"

typedef struct keypair {
    const char *key;  /* private key, PKCS#8 PEM (for signing) */
    const char *pub;  /* SubjectPublicKeyInfo PEM */
    const char *cert; /* self-signed certificate PEM */
    const char *cert_path;
} keypair;

static struct {
    apr_pool_t *pool; /* from the first test to the last */
    int ready;
    char dir[64];
    keypair a, b, c; /* a: served from the start; b: rotated in by tests; c: never served */
    dp_fake fake;
} S = {.fake = DP_FAKE_NONE};

/* ---- set-up ----------------------------------------------------------------------------- */

static const char *bio_text(apr_pool_t *p, BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    return n > 0 ? apr_pstrmemdup(p, data, (apr_size_t)n) : NULL;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL && fputs(text, f) >= 0;
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    return ok;
}

/* An RSA 2048 key and a self-signed certificate for it, valid from an hour ago for a day. */
static int make_keypair(apr_pool_t *p, const char *name, long serial, keypair *kp)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    X509 *x = X509_new();
    BIO *kb = BIO_new(BIO_s_mem()), *pb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    X509_NAME *n;
    int ok = 0;

    if (k != NULL && x != NULL && kb != NULL && pb != NULL && cb != NULL
        && X509_set_version(x, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1
        && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL && X509_set_pubkey(x, k) == 1
        && (n = X509_get_subject_name(x)) != NULL
        && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0)
            == 1
        && X509_set_issuer_name(x, n) == 1 && X509_sign(x, k, EVP_sha256()) > 0
        && PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) == 1
        && PEM_write_bio_PUBKEY(pb, k) == 1 && PEM_write_bio_X509(cb, x) == 1) {
        kp->key = bio_text(p, kb);
        kp->pub = bio_text(p, pb);
        kp->cert = bio_text(p, cb);
        kp->cert_path = apr_psprintf(p, "%s/%s.crt", S.dir, name);
        ok = kp->key != NULL && kp->pub != NULL && kp->cert != NULL
            && write_file(kp->cert_path, kp->cert);
    }
    BIO_free(kb);
    BIO_free(pb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok;
}

static void remove_dir(void)
{
    static const char *const names[] = {"a.crt", "b.crt", "c.crt", NULL};
    char path[128];

    if (S.dir[0] == '\0') {
        return;
    }
    for (int i = 0; names[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/%s", S.dir, names[i]);
        unlink(path);
    }
    rmdir(S.dir);
    S.dir[0] = '\0';
}

static void at_exit(void)
{
    dp_fake_stop(&S.fake);
    remove_dir();
}

static int start_fake(const char *cases_dir)
{
    const char *argv[] = {"perl", NULL, "--port", "0", "--cert", NULL, "--max-age", "3600", NULL};

    argv[1] = dp_fake_script(S.pool, cases_dir, "DP_GOOGLE_CERTS_FAKE", "google_certs_fake.pl");
    argv[5] = apr_pstrcat(S.pool, KID_A, "=", S.a.cert_path, NULL); /* KID=CERTFILE */
    return dp_fake_spawn(&S.fake, argv, NULL, 0, 15000);
}

static int setup(dp_test_env *env)
{
    if (S.ready) {
        return 1;
    }
    if (apr_pool_create(&S.pool, NULL) != APR_SUCCESS
        || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 0;
    }
    atexit(at_exit);
    strcpy(S.dir, "/tmp/dp-google-id-XXXXXX");
    if (mkdtemp(S.dir) == NULL) {
        S.dir[0] = '\0';
        return 0;
    }
    if (!make_keypair(S.pool, "a", 1, &S.a) || !make_keypair(S.pool, "b", 2, &S.b)
        || !make_keypair(S.pool, "c", 3, &S.c) || !start_fake(env->cases_dir)) {
        return 0;
    }
    S.ready = 1;
    return 1;
}

/* ---- the fake ----------------------------------------------------------------------------- */

static const char *fake_url(apr_pool_t *p, const char *path)
{
    return dp_fake_url(p, &S.fake, path);
}

static json_t *fake_call(apr_pool_t *p, const char *method, const char *path)
{
    return dp_fake_call(p, &S.fake, method, path, NULL);
}

/* Fetches of one certs path the fake has seen since the last reset. */
static long long fetches(apr_pool_t *p, const char *path)
{
    json_t *j = fake_call(p, "GET", "/__requests");
    json_t *n = json_object_get(j, path);
    return json_is_integer(n) ? (long long)json_integer_value(n) : -1;
}

static void fake_mode(apr_pool_t *p, const char *mode)
{
    fake_call(p, "POST", apr_pstrcat(p, "/__mode?mode=", mode, NULL));
}

static void fake_add_b(apr_pool_t *p)
{
    fake_call(p, "POST", apr_pstrcat(p, "/__add?kid=", KID_B, "&cert=", S.b.cert_path, NULL));
}

/* Start a test: the suite is set up, the fake reset, a fresh key cache whose lifetime is the
 * test's pool. */
static int begin(dp_test_env *env)
{
    apr_pool_t *cache_pool;

    if (!setup(env)) {
        return CHECK_MSG(0, "suite set-up failed (keys, temp dir, curl, fake)");
    }
    if (fake_call(env->pool, "POST", "/__reset") == NULL) {
        return 0;
    }
    return CHECK(apr_pool_create(&cache_pool, env->pool) == APR_SUCCESS
                 && dp_google_id_init(cache_pool) == APR_SUCCESS);
}

static dp_google_id_cfg *make_cfg(apr_pool_t *p, const char *path)
{
    dp_google_id_cfg *cfg = apr_pcalloc(p, sizeof(*cfg));
    cfg->certs_url = fake_url(p, path);
    cfg->client_id = CLIENT_ID;
    cfg->timeout_ms = 5000;
    return cfg;
}

/* ---- tokens ------------------------------------------------------------------------------- */

static long long now_s(void)
{
    return (long long)time(NULL);
}

/* Claims as Google puts them in an ID token, issued at now. */
static json_t *claims_at(apr_pool_t *p, long long now)
{
    return dp_json_own(p,
                       json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:I}", "iss",
                                 "https://accounts.google.com", "azp", CLIENT_ID, "aud", CLIENT_ID,
                                 "sub", SUB, "email", EMAIL, "email_verified", 1, "at_hash",
                                 "HK6E_P6Dh8Y93mRNtsDB1Q", "name", "Pat Client", "picture",
                                 "https://lh3.googleusercontent.com/a/pat", "iat",
                                 (json_int_t)(now - 10), "exp", (json_int_t)(now + 3590)));
}

/* A token signed with libjwt: alg and key as given, kid header unless NULL. */
static const char *sign_alg(apr_pool_t *p, jwt_alg_t alg, const char *key, const char *kid,
                            json_t *claims)
{
    jwt_t *j = NULL;
    char *grants = json_dumps(claims, JSON_COMPACT), *enc = NULL;
    const char *tok = NULL;

    if (grants != NULL && jwt_new(&j) == 0 && (kid == NULL || jwt_add_header(j, "kid", kid) == 0)
        && jwt_add_grants_json(j, grants) == 0
        && jwt_set_alg(j, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0) == 0
        && (enc = jwt_encode_str(j)) != NULL) {
        tok = apr_pstrdup(p, enc);
    }
    free(enc);
    free(grants);
    jwt_free(j);
    CHECK_MSG(tok != NULL, "libjwt could not sign a test token");
    return tok;
}

static const char *sign(apr_pool_t *p, const keypair *kp, const char *kid, json_t *claims)
{
    return sign_alg(p, JWT_ALG_RS256, kp->key, kid, claims);
}

static const char *b64url(apr_pool_t *p, const void *data, apr_size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *d = data;
    char *out = apr_palloc(p, len * 4 / 3 + 4), *o = out;
    apr_size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *o++ = tab[d[i] >> 2];
        *o++ = tab[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
        *o++ = tab[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)];
        *o++ = tab[d[i + 2] & 63];
    }
    if (i < len) {
        *o++ = tab[d[i] >> 2];
        if (i + 1 < len) {
            *o++ = tab[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
            *o++ = tab[(d[i + 1] & 15) << 2];
        }
        else {
            *o++ = tab[(d[i] & 3) << 4];
        }
    }
    *o = '\0';
    return out;
}

static const char *b64s(apr_pool_t *p, const char *s)
{
    return b64url(p, s, strlen(s));
}

/* A token built by hand: the header and payload texts as given, signed RS256 with kp (or
 * with a fixed junk signature when kp is NULL). */
static const char *handmade(apr_pool_t *p, const char *header, const char *payload,
                            const keypair *kp)
{
    const char *input = apr_pstrcat(p, b64s(p, header), ".", b64s(p, payload), NULL);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    const char *tok = NULL;

    if (kp == NULL) {
        return apr_pstrcat(p, input, ".", b64s(p, "not a signature at all"), NULL);
    }
    {
        BIO *b = BIO_new_mem_buf(kp->key, -1);
        EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (k != NULL && ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) == 1
            && EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input))
                == 1) {
            tok = apr_pstrcat(p, input, ".", b64url(p, sig, siglen), NULL);
        }
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(k);
        BIO_free(b);
    }
    CHECK_MSG(tok != NULL, "could not sign a handmade token");
    return tok;
}

/* ---- checks ------------------------------------------------------------------------------- */

static void check_identity(const dp_google_identity *id)
{
    CHECK_STR(id->sub, SUB);
    CHECK_STR(id->email, EMAIL);
    CHECK_STR(id->name, "Pat Client");
    CHECK_STR(id->picture, "https://lh3.googleusercontent.com/a/pat");
    CHECK_EQ(id->email_verified, 1);
}

/* Verify and expect success. */
static int verify_ok(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *tok, long long now,
                     const char *what)
{
    dp_google_identity id;
    const char *reason = NULL;
    dp_error *e = dp_google_id_verify(p, cfg, tok, now, &id, &reason);

    if (!CHECK_MSG(e == NULL, "%s: refused (%d %s), reason: %s", what, e ? e->status : 0,
                   e ? e->code : "", reason ? reason : "(null)")) {
        return 0;
    }
    CHECK_STR(reason, "ok");
    check_identity(&id);
    return 1;
}

/* Verify and expect the generic 401; the reason is logged-only and holds no token material
 * or claim value. */
static void verify_401(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *tok, long long now,
                       const char *what)
{
    dp_google_identity id;
    const char *reason = NULL;
    dp_error *e = dp_google_id_verify(p, cfg, tok, now, &id, &reason);

    if (!CHECK_MSG(e != NULL && e->status == 401, "%s: expected 401, got %d (%s)", what,
                   e ? e->status : 200, reason ? reason : "(null)")) {
        return;
    }
    CHECK_STR(e->code, DP_E_UNAUTHORIZED);
    CHECK_STR(e->detail, DP_GOOGLE_ID_DETAIL);
    CHECK_NULL(e->field);
    CHECK_MSG(reason != NULL && reason[0] != '\0' && strstr(reason, EMAIL) == NULL
                  && strstr(reason, SUB) == NULL && strstr(reason, "eyJ") == NULL
                  && strstr(reason, "BEGIN") == NULL,
              "%s: reason \"%s\" is empty or leaks", what, reason ? reason : "(null)");
    CHECK(id.sub == NULL && id.email == NULL && id.name == NULL && id.picture == NULL
          && id.email_verified == 0);
}

static void verify_502(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *tok, long long now,
                       const char *what)
{
    dp_google_identity id;
    const char *reason = NULL;
    dp_error *e = dp_google_id_verify(p, cfg, tok, now, &id, &reason);

    if (!CHECK_MSG(e != NULL && e->status == 502, "%s: expected 502, got %d (%s)", what,
                   e ? e->status : 200, reason ? reason : "(null)")) {
        return;
    }
    CHECK_STR(e->code, DP_E_UPSTREAM);
    CHECK(id.sub == NULL && id.email == NULL);
    CHECK_MSG(reason != NULL && reason[0] != '\0', "%s: no reason", what);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void good_v1(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;
    json_t *c;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "v1 good");
    CHECK_EQ(fetches(p, V1), 1);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "v1 good, cached");
    CHECK_EQ(fetches(p, V1), 1);

    /* the other accepted shapes: iss without scheme, aud as an array, "true" as a string */
    c = claims_at(p, now);
    json_object_set_new(c, "iss", json_string("accounts.google.com"));
    json_object_set_new(c, "aud", json_pack("[s, s]", "another-client", CLIENT_ID));
    json_object_set_new(c, "email_verified", json_string("true"));
    verify_ok(p, cfg, sign(p, &S.a, KID_A, c), now, "iss bare, aud array, verified string");

    /* exp just inside the leeway; iat just inside it */
    c = claims_at(p, now);
    json_object_set_new(c, "exp", json_integer((json_int_t)(now - 30)));
    json_object_set_new(c, "iat", json_integer((json_int_t)(now + 30)));
    verify_ok(p, cfg, sign(p, &S.a, KID_A, c), now, "within the leeway");

    /* name and picture are optional */
    {
        dp_google_identity id;
        c = claims_at(p, now);
        json_object_del(c, "name");
        json_object_del(c, "picture");
        CHECK_NULL(dp_google_id_verify(p, cfg, sign(p, &S.a, KID_A, c), now, &id, NULL));
        CHECK_STR(id.sub, SUB);
        CHECK_NULL(id.name);
        CHECK_NULL(id.picture);
    }
    CHECK_EQ(fetches(p, V1), 1);
}

static void good_jwks(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V3);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "jwks good");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "jwks good, cached");
    CHECK_EQ(fetches(p, V3), 1);
    CHECK_EQ(fetches(p, V1), 0);
    /* a rotated-in key reaches JWKS too (n and e derived by the fake) */
    fake_add_b(p);
    verify_ok(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now)), now, "jwks rotated key");
    CHECK_EQ(fetches(p, V3), 2);
    verify_401(p, cfg, sign(p, &S.c, KID_A, claims_at(p, now)), now, "jwks, wrong key");
}

static void claims_refused(dp_test_env *env)
{
    static const struct {
        const char *what, *key, *json; /* json NULL: delete key */
    } cases[] = {
        {"wrong aud",                "aud",            "\"other-client.apps.googleusercontent.com\""},
        {"aud array without us",     "aud",            "[\"a\", \"b\"]"                             },
        {"aud empty array",          "aud",            "[]"                                         },
        {"aud a number",             "aud",            "123456789012"                               },
        {"no aud",                   "aud",            NULL                                         },
        {"wrong iss",                "iss",            "\"https://accounts.example.com\""           },
        {"iss http",                 "iss",            "\"http://accounts.google.com\""             },
        {"iss with a slash",         "iss",            "\"https://accounts.google.com/\""           },
        {"no iss",                   "iss",            NULL                                         },
        {"expired",                  "exp",            "EXPIRED"                                    },
        {"exp a string",             "exp",            "\"99999999999\""                            },
        {"exp a real",               "exp",            "9999999999.5"                               },
        {"no exp",                   "exp",            NULL                                         },
        {"iat far in the future",    "iat",            "FUTURE"                                     },
        {"no iat",                   "iat",            NULL                                         },
        {"nbf in the future",        "nbf",            "FUTURE"                                     },
        {"email_verified false",     "email_verified", "false"                                      },
        {"email_verified \"false\"", "email_verified", "\"false\""                                  },
        {"email_verified 1",         "email_verified", "1"                                          },
        {"email_verified null",      "email_verified", "null"                                       },
        {"no email_verified",        "email_verified", NULL                                         },
        {"no sub",                   "sub",            NULL                                         },
        {"sub a number",             "sub",            "110169484474"                               },
        {"sub empty",                "sub",            "\"\""                                       },
        {"no email",                 "email",          NULL                                         },
        {"email empty",              "email",          "\"\""                                       },
        {"email an array",           "email",          "[\"pat@example.com\"]"                      },
    };
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = claims_at(p, now);
        dp_t_context(cases[i].what);
        if (cases[i].json == NULL) {
            json_object_del(c, cases[i].key);
        }
        else if (strcmp(cases[i].json, "EXPIRED") == 0) {
            json_object_set_new(c, cases[i].key, json_integer((json_int_t)(now - 61)));
        }
        else if (strcmp(cases[i].json, "FUTURE") == 0) {
            json_object_set_new(c, cases[i].key, json_integer((json_int_t)(now + 3600)));
        }
        else {
            json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
            CHECK_NOT_NULL(v);
            json_object_set_new(c, cases[i].key, v);
        }
        verify_401(p, cfg, sign(p, &S.a, KID_A, c), now, cases[i].what);
    }
    dp_t_context(NULL);
    /* a leeway given in the configuration is used: 10 s makes exp 30 s ago too old */
    {
        json_t *c = claims_at(p, now);
        json_object_set_new(c, "exp", json_integer((json_int_t)(now - 30)));
        cfg->leeway_s = 10;
        verify_401(p, cfg, sign(p, &S.a, KID_A, c), now, "exp beyond a 10 s leeway");
        cfg->leeway_s = 0;
        verify_ok(p, cfg, sign(p, &S.a, KID_A, c), now, "the same with the default leeway");
    }
    CHECK_EQ(fetches(p, V1), 1);
}

/* The key was rotated in before the token arrives: the unknown kid refetches once, and the
 * token verifies. A second unknown kid within the minute does not refetch; after it, it does. */
static void unknown_kid_rotation(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "kid a");
    CHECK_EQ(fetches(p, V1), 1);
    fake_add_b(p);
    verify_ok(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now)), now, "kid b after rotation");
    CHECK_EQ(fetches(p, V1), 2);
    verify_ok(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now)), now, "kid b again");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "kid a still");
    CHECK_EQ(fetches(p, V1), 2);

    verify_401(p, cfg, sign(p, &S.c, KID_C, claims_at(p, now)), now, "kid c, unknown");
    CHECK_EQ(fetches(p, V1), 2); /* within a minute of the last kid refetch */
    verify_401(p, cfg, sign(p, &S.c, KID_C, claims_at(p, now + 59)), now + 59, "kid c at +59");
    CHECK_EQ(fetches(p, V1), 2);
    verify_401(p, cfg, sign(p, &S.c, KID_C, claims_at(p, now + 61)), now + 61, "kid c at +61");
    CHECK_EQ(fetches(p, V1), 3);
    verify_401(p, cfg, sign(p, &S.c, "kid-d", claims_at(p, now + 62)), now + 62, "kid d");
    CHECK_EQ(fetches(p, V1), 3);
}

/* The token arrives before the fake serves its key: the refetch finds nothing (401), the
 * next tries within the minute do not fetch; once the key is served and the minute passed,
 * the same kind of token verifies. */
static void unknown_kid_then_added(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    verify_401(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now)), now, "kid b, first load");
    CHECK_EQ(fetches(p, V1), 1);
    verify_401(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now)), now, "kid b, refetch");
    CHECK_EQ(fetches(p, V1), 2);
    fake_add_b(p);
    verify_401(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now + 1)), now + 1, "kid b, limited");
    CHECK_EQ(fetches(p, V1), 2);
    verify_ok(p, cfg, sign(p, &S.b, KID_B, claims_at(p, now + 60)), now + 60, "kid b at +60");
    CHECK_EQ(fetches(p, V1), 3);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now + 60)), now + 60, "kid a at +60");
    CHECK_EQ(fetches(p, V1), 3);
}

/* HS256 signed with the PEM text Google's key is known by (the certificate, and the public
 * key as the module hands it to libjwt): refused before any fetch. Other algorithm names too. */
static void alg_confusion(dp_test_env *env)
{
    static const jwt_alg_t hmacs[] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512};
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;
    const char *secrets[2];

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    secrets[0] = S.a.pub;
    secrets[1] = S.a.cert;
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < sizeof(hmacs) / sizeof(hmacs[0]); i++) {
            const char *tok = sign_alg(p, hmacs[i], secrets[s], KID_A, claims_at(p, now));
            dp_t_context(apr_psprintf(p, "%s with the %s", jwt_alg_str(hmacs[i]),
                                      s ? "certificate" : "public key"));
            verify_401(p, cfg, tok, now, "HMAC with the PEM");
            /* as proof the attack is real: libjwt alone accepts it with that PEM */
            if (hmacs[i] == JWT_ALG_HS256 && s == 0) {
                jwt_t *j = NULL;
                CHECK_EQ(jwt_decode(&j, tok, (const unsigned char *)S.a.pub, (int)strlen(S.a.pub)),
                         0);
                jwt_free(j);
            }
        }
    }
    dp_t_context(NULL);
    CHECK_EQ(fetches(p, V1), 0); /* refused before any key work */

    /* the header claims RS256 but the signature is an HMAC with the public key's PEM */
    {
        const char *hs = sign_alg(p, JWT_ALG_HS256, S.a.pub, KID_A, claims_at(p, now));
        const char *claims = strchr(hs, '.');
        const char *hdr = b64s(p, "{\"alg\":\"RS256\",\"kid\":\"" KID_A "\",\"typ\":\"JWT\"}");
        verify_401(p, cfg, apr_pstrcat(p, hdr, claims, NULL), now, "RS256 header, HMAC signature");
    }
    /* names close to RS256, other families, and a valid RS256 signature under them */
    {
        static const char *const algs[] = {"rs256", "RS256 ", "RS384", "RS512", "PS256",
                                           "ES256", "none",   "None",  "",      NULL};
        json_t *c = claims_at(p, now);
        const char *payload = dp_json_dump(p, c, NULL);
        for (int i = 0; algs[i] != NULL; i++) {
            const char *h = apr_psprintf(p, "{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i], KID_A);
            dp_t_context(algs[i]);
            verify_401(p, cfg, handmade(p, h, payload, &S.a), now, "alg name");
        }
        verify_401(p, cfg, handmade(p, "{\"kid\":\"" KID_A "\"}", payload, &S.a), now, "no alg");
        verify_401(p, cfg,
                   handmade(p, "{\"alg\":[\"RS256\"],\"kid\":\"" KID_A "\"}", payload, &S.a), now,
                   "alg an array");
        verify_401(p, cfg,
                   handmade(p, "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"" KID_A "\"}",
                            payload, &S.a),
                   now, "duplicate alg");
        dp_t_context(NULL);
        /* the same handmade way with the right alg verifies: the refusals above are the alg */
        verify_ok(
            p, cfg,
            handmade(p, "{\"alg\":\"RS256\",\"kid\":\"" KID_A "\",\"typ\":\"JWT\"}", payload, &S.a),
            now, "handmade RS256");
    }
}

static void alg_none(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;
    const char *tok, *payload;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    tok = sign_alg(p, JWT_ALG_NONE, NULL, KID_A, claims_at(p, now)); /* "h.p." */
    verify_401(p, cfg, tok, now, "libjwt's alg none");
    verify_401(p, cfg, apr_pstrcat(p, tok, b64s(p, "sig"), NULL), now, "alg none, a signature");
    payload = dp_json_dump(p, claims_at(p, now), NULL);
    verify_401(p, cfg, handmade(p, "{\"alg\":\"none\",\"kid\":\"" KID_A "\"}", payload, NULL), now,
               "handmade alg none");
    CHECK_EQ(fetches(p, V1), 0);
}

static void wrong_key(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;
    const char *good, *bad, *dot;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    verify_401(p, cfg, sign(p, &S.c, KID_A, claims_at(p, now)), now, "key c under kid a");
    fake_add_b(p);
    verify_401(p, cfg, sign(p, &S.b, KID_A, claims_at(p, now)), now, "key b under kid a");
    /* a good token with its claims swapped for others keeps a's signature: refused */
    good = sign(p, &S.a, KID_A, claims_at(p, now));
    {
        json_t *c = claims_at(p, now);
        json_object_set_new(c, "email", json_string("mallory@example.com"));
        bad = sign(p, &S.c, KID_A, c);
    }
    dot = strrchr(good, '.');
    verify_401(
        p, cfg,
        apr_pstrcat(p, apr_pstrndup(p, bad, (apr_size_t)(strrchr(bad, '.') - bad)), dot, NULL), now,
        "claims swapped");
    verify_ok(p, cfg, good, now, "the original");
}

/* Down with nothing cached: one fetch, then nobody fetches before the back-off (5 s, doubling
 * with each failure in a row up to a minute) ends; every verification meanwhile is a 502. */
static void certs_down_nothing_cached(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s(), t;
    dp_google_id_cfg *cfg;
    const char *tok;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    tok = sign(p, &S.a, KID_A, claims_at(p, now));
    fake_mode(p, "down");
    verify_502(p, cfg, tok, now, "certs answer 500");
    CHECK_EQ(fetches(p, V1), 1);
    for (int i = 0; i < 5; i++) {
        verify_502(p, cfg, tok, now + i % 5, "within the back-off: no fetch");
    }
    CHECK_EQ(fetches(p, V1), 1);
    t = now + DP_GOOGLE_ID_BACKOFF_MIN;
    verify_502(p, cfg, tok, t, "the back-off over: one more fetch");
    CHECK_EQ(fetches(p, V1), 2);
    verify_502(p, cfg, tok, t + 2 * DP_GOOGLE_ID_BACKOFF_MIN - 1, "twice as long now");
    CHECK_EQ(fetches(p, V1), 2);
    t += 2 * DP_GOOGLE_ID_BACKOFF_MIN;
    fake_mode(p, "garbage");
    verify_502(p, cfg, tok, t, "certs answer garbage");
    CHECK_EQ(fetches(p, V1), 3);
    t += 4 * DP_GOOGLE_ID_BACKOFF_MIN;
    cfg->certs_url = fake_url(p, "/nowhere");
    verify_502(p, cfg, tok, t, "certs URL answers an error status");
    t += 8 * DP_GOOGLE_ID_BACKOFF_MIN;
    {
        dp_google_id_cfg closed = *cfg;
        closed.certs_url = "http://127.0.0.1:1/oauth2/v1/certs";
        verify_502(p, &closed, tok, t, "connection refused");
    }
    /* a bad token is still a 401 first: no fetch for it */
    verify_401(p, cfg, "a.b", t, "malformed while down");
    fake_mode(p, "ok");
    cfg->certs_url = fake_url(p, V1);
    verify_502(p, cfg, tok, t + DP_GOOGLE_ID_REFETCH_MIN - 1, "up, but the back-off (capped) runs");
    CHECK_EQ(fetches(p, V1), 3);
    t += DP_GOOGLE_ID_REFETCH_MIN;
    verify_ok(p, cfg, tok, t, "back up");
    CHECK_EQ(fetches(p, V1), 4);
    /* a success ends the back-off: the next failure waits the shortest again */
    dp_google_id_cache_clear();
    fake_mode(p, "down");
    verify_502(p, cfg, tok, t, "down again");
    verify_502(p, cfg, tok, t + DP_GOOGLE_ID_BACKOFF_MIN, "after the shortest back-off");
    CHECK_EQ(fetches(p, V1), 6);
}

/* Down with a cached set: a fresh set needs no fetch; a stale one is tried once, then used
 * as it is until the back-off ends. */
static void certs_down_cached(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s(), later = now + 3600 + 5; /* the set (max-age 3600) is stale then */
    long long retry = later + DP_GOOGLE_ID_BACKOFF_MIN;
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "load");
    fake_mode(p, "down");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "down, fresh cache");
    CHECK_EQ(fetches(p, V1), 1);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, later)), later, "down, stale cache");
    CHECK_EQ(fetches(p, V1), 2);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, retry - 1)), retry - 1, "stale, backing off");
    CHECK_EQ(fetches(p, V1), 2);
    /* an unknown kid while down with a cache is a 401, not a 502 */
    verify_401(p, cfg, sign(p, &S.c, KID_C, claims_at(p, retry - 1)), retry - 1, "unknown kid");
    CHECK_EQ(fetches(p, V1), 2);
    fake_mode(p, "ok");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, retry)), retry, "retry");
    CHECK_EQ(fetches(p, V1), 3);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, retry + 1)), retry + 1, "fresh again");
    CHECK_EQ(fetches(p, V1), 3);
}

static void max_age_parse(dp_test_env *env)
{
    (void)env;
    CHECK_EQ(dp_google_id_max_age("public, max-age=21600, must-revalidate, no-transform"), 21600);
    CHECK_EQ(dp_google_id_max_age("max-age=1"), 1);
    CHECK_EQ(dp_google_id_max_age("  MAX-AGE=7 ,private"), 7);
    CHECK_EQ(dp_google_id_max_age("max-age=\"9\""), 9);
    CHECK_EQ(dp_google_id_max_age("private, max-age=0"), 0);
    CHECK_EQ(dp_google_id_max_age("s-maxage=5"), -1);
    CHECK_EQ(dp_google_id_max_age("s-maxage=5, max-age=6"), 6);
    CHECK_EQ(dp_google_id_max_age("max-age=abc"), -1);
    CHECK_EQ(dp_google_id_max_age("max-age="), -1);
    CHECK_EQ(dp_google_id_max_age("max-age=-5"), -1);
    CHECK_EQ(dp_google_id_max_age("no-store"), 0);
    CHECK_EQ(dp_google_id_max_age("max-age=600, no-cache"), 0);
    CHECK_EQ(dp_google_id_max_age("public"), -1);
    CHECK_EQ(dp_google_id_max_age(""), -1);
    CHECK_EQ(dp_google_id_max_age(NULL), -1);
    CHECK(dp_google_id_max_age("max-age=99999999999999999999999") > 0);
}

/* The set lives for the answer's max-age: 1 s, then a refetch after 2 s. Without response
 * headers from dp_http the lifetime is the 1 hour default instead. */
static void cache_max_age(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    fake_call(p, "POST", "/__max_age?s=1");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "load");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "cached");
    CHECK_EQ(fetches(p, V1), 1);
    sleep(2);
    now = now_s();
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "after 2 s");
#ifdef DP_HTTP_HAS_RESP_HEADERS
    CHECK_EQ(fetches(p, V1), 2);
#else
    CHECK_EQ(fetches(p, V1), 1); /* the 1 hour fallback */
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now + 3601)), now + 3601, "after 1 h");
    CHECK_EQ(fetches(p, V1), 2);
#endif
}

static void malformed(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;
    const char *good, *d1, *d2, *h, *pl, *sg;
    char *big, *bin;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    good = sign(p, &S.a, KID_A, claims_at(p, now));
    d1 = strchr(good, '.');
    d2 = strrchr(good, '.');
    h = apr_pstrndup(p, good, (apr_size_t)(d1 - good));
    pl = apr_pstrndup(p, d1 + 1, (apr_size_t)(d2 - d1 - 1));
    sg = d2 + 1;

    verify_401(p, cfg, NULL, now, "NULL");
    verify_401(p, cfg, "", now, "empty");
    verify_401(p, cfg, "garbage", now, "one part");
    verify_401(p, cfg, apr_pstrcat(p, h, ".", pl, NULL), now, "two parts");
    verify_401(p, cfg, apr_pstrcat(p, h, "..", sg, NULL), now, "empty payload");
    verify_401(p, cfg, apr_pstrcat(p, ".", pl, ".", sg, NULL), now, "empty header");
    verify_401(p, cfg, apr_pstrcat(p, h, ".", pl, ".", NULL), now, "empty signature");
    verify_401(p, cfg, "..", now, "dots");
    verify_401(p, cfg, apr_pstrcat(p, good, ".", sg, NULL), now, "four parts");
    verify_401(p, cfg, apr_pstrcat(p, h, ".", pl, "=.", sg, NULL), now, "padding");
    verify_401(p, cfg, apr_pstrcat(p, h, ".", pl, ".", sg, "+", NULL), now, "base64 not url");
    verify_401(p, cfg, apr_pstrcat(p, " ", good, NULL), now, "leading space");
    verify_401(p, cfg, apr_pstrcat(p, "Bearer ", good, NULL), now, "Bearer prefix");
    verify_401(p, cfg, apr_pstrcat(p, h, "A.", pl, ".", sg, NULL), now, "header one char more");
    verify_401(p, cfg, apr_pstrcat(p, b64s(p, "not json"), ".", pl, ".", sg, NULL), now,
               "header not JSON");
    verify_401(p, cfg, apr_pstrcat(p, b64s(p, "[\"RS256\"]"), ".", pl, ".", sg, NULL), now,
               "header an array");
    {
        const char *payload = dp_json_dump(p, claims_at(p, now), NULL);
        verify_401(p, cfg, handmade(p, "{\"alg\":\"RS256\"}", payload, &S.a), now, "no kid");
        verify_401(p, cfg, handmade(p, "{\"alg\":\"RS256\",\"kid\":\"\"}", payload, &S.a), now,
                   "empty kid");
        verify_401(p, cfg, handmade(p, "{\"alg\":\"RS256\",\"kid\":7}", payload, &S.a), now,
                   "kid a number");
        verify_401(p, cfg,
                   handmade(p, "{\"alg\":\"RS256\",\"kid\":\"" KID_A "\",\"crit\":[\"exp\"]}",
                            payload, &S.a),
                   now, "crit");
        /* signed properly, but the payload is not a claims object */
        verify_401(p, cfg, handmade(p, "{\"alg\":\"RS256\",\"kid\":\"" KID_A "\"}", "[1,2]", &S.a),
                   now, "payload an array");
        verify_401(p, cfg,
                   handmade(p, "{\"alg\":\"RS256\",\"kid\":\"" KID_A "\"}", "not json", &S.a), now,
                   "payload not JSON");
        verify_401(p, cfg,
                   handmade(p, "{\"alg\":\"RS256\",\"kid\":\"" KID_A "\"}",
                            apr_pstrcat(p, "{\"sub\":\"evil\",", payload + 1, NULL), &S.a),
                   now, "duplicate sub");
        big = apr_palloc(p, 300);
        memset(big, 'k', 299);
        big[299] = '\0';
        verify_401(
            p, cfg,
            handmade(p, apr_psprintf(p, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", big), payload, &S.a),
            now, "kid too long");
    }
    big = apr_palloc(p, DP_GOOGLE_ID_MAX_TOKEN + 2);
    memset(big, 'A', DP_GOOGLE_ID_MAX_TOKEN + 1);
    big[DP_GOOGLE_ID_MAX_TOKEN + 1] = '\0';
    big[100] = '.';
    big[200] = '.';
    verify_401(p, cfg, big, now, "too long");
    bin = apr_pstrdup(p, "\x01\xff\xfe.\x80\x81.\x7f");
    verify_401(p, cfg, bin, now, "binary");
    srand(7);
    for (int i = 0; i < 200; i++) { /* random mutations of a good token never verify */
        char *m = apr_pstrdup(p, good);
        size_t len = strlen(m), at = (size_t)rand() % len;
        char was = m[at];
        m[at] = "AbZz09-_.x=+/"[rand() % 13];
        if (m[at] != was) {
            dp_google_identity id;
            dp_error *e = dp_google_id_verify(p, cfg, m, now, &id, NULL);
            /* a change in the last character may only flip unused bits, refused anyway */
            CHECK_MSG(e != NULL && e->status == 401, "mutation %d at %zu verified", i, at);
        }
    }
    CHECK(fetches(p, V1) <= 2); /* a mutated kid may refetch once */
    verify_ok(p, cfg, good, now, "the original");
}

static void config_errors(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    dp_google_id_cfg *cfg;
    dp_google_identity id;
    const char *reason = NULL, *tok;
    dp_error *e;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    tok = sign(p, &S.a, KID_A, claims_at(p, now));
    cfg->client_id = NULL;
    e = dp_google_id_verify(p, cfg, tok, now, &id, &reason);
    CHECK(e != NULL && e->status == 500);
    CHECK(reason != NULL && strstr(reason, "client id") != NULL);
    cfg->client_id = "";
    e = dp_google_id_verify(p, cfg, tok, now, &id, &reason);
    CHECK(e != NULL && e->status == 500);
    CHECK_EQ(fetches(p, V1), 0);
}

/* Without dp_google_id_init (or after its pool went): every call fetches, all still work. */
static void no_cache(dp_test_env *env)
{
    apr_pool_t *p = env->pool, *cp;
    long long now = now_s();
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V3);
    CHECK_EQ(apr_pool_create(&cp, p), APR_SUCCESS);
    CHECK_EQ(dp_google_id_init(cp), APR_SUCCESS);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "cached");
    apr_pool_destroy(cp); /* like pconf cleared at a restart: the statics are reset */
    /* begin()'s cache pool was initialised before cp: cp's cleanup reset the statics, so
     * there is no cache now */
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "uncached 1");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "uncached 2");
    verify_401(p, cfg, sign(p, &S.c, KID_C, claims_at(p, now)), now, "uncached unknown kid");
    CHECK_EQ(fetches(p, V3), 4);
    dp_google_id_cache_clear(); /* harmless without a cache */
    CHECK_EQ(apr_pool_create(&cp, p), APR_SUCCESS);
    CHECK_EQ(dp_google_id_init(cp), APR_SUCCESS);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "a new cache");
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "a new cache, hit");
    CHECK_EQ(fetches(p, V3), 5);
    dp_google_id_cache_clear();
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "after clear");
    CHECK_EQ(fetches(p, V3), 6);
}

typedef struct thread_job {
    const dp_google_id_cfg *cfg;
    const char *good, *unknown;
    long long now;
    int ok, refused;
} thread_job;

static void *APR_THREAD_FUNC verify_thread(apr_thread_t *t, void *data)
{
    thread_job *job = data;
    apr_pool_t *p;

    (void)t;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    for (int i = 0; i < 25; i++) {
        dp_google_identity id;
        dp_error *e = dp_google_id_verify(p, job->cfg, job->good, job->now, &id, NULL);
        job->ok += e == NULL && id.sub != NULL && strcmp(id.sub, SUB) == 0;
        e = dp_google_id_verify(p, job->cfg, job->unknown, job->now, &id, NULL);
        job->refused += e != NULL && e->status == 401;
    }
    apr_pool_destroy(p);
    return NULL;
}

/* Threads share the cache: a stale set is refreshed by one of them while the others go on
 * with it (or wait for it, without a key); unknown kids from all of them refetch at most once. */
static void threads(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now = now_s(), later = now + 3605;
    apr_thread_t *th[4];
    thread_job jobs[4];
    dp_google_id_cfg *cfg;
    long long n;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    verify_ok(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "load");
    for (int i = 0; i < 4; i++) {
        jobs[i].cfg = cfg;
        jobs[i].good = sign(p, &S.a, KID_A, claims_at(p, later));
        jobs[i].unknown = sign(p, &S.c, apr_psprintf(p, "kid-t%d", i), claims_at(p, later));
        jobs[i].now = later;
        jobs[i].ok = jobs[i].refused = 0;
        CHECK_EQ(apr_thread_create(&th[i], NULL, verify_thread, &jobs[i], p), APR_SUCCESS);
    }
    for (int i = 0; i < 4; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        CHECK_EQ(jobs[i].ok, 25);
        CHECK_EQ(jobs[i].refused, 25);
    }
    n = fetches(p, V1);
    /* the load, one refresh of the stale set (single flight), one kid refetch at most */
    CHECK_MSG(n >= 2 && n <= 3, "fetches: %lld", n);
}

typedef struct once_job {
    const dp_google_id_cfg *cfg;
    const char *token;
    long long now;
    int status; /* 200 on success, else the error's status */
} once_job;

static void *APR_THREAD_FUNC verify_once_thread(apr_thread_t *t, void *data)
{
    once_job *job = data;
    apr_pool_t *p;
    dp_google_identity id;
    dp_error *e;

    (void)t;
    job->status = -1;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    e = dp_google_id_verify(p, job->cfg, job->token, job->now, &id, NULL);
    job->status = e == NULL ? (id.sub != NULL && strcmp(id.sub, SUB) == 0 ? 200 : -2) : e->status;
    apr_pool_destroy(p);
    return NULL;
}

#define N_CONCURRENT 8

/* N_CONCURRENT verifications at once against an empty cache, with the fake answering 300 ms
 * late so that they overlap: one fetch, every one answered from its result. */
static void concurrent(dp_test_env *env, const char *mode, int want_status, long long want_fetches)
{
    apr_pool_t *p = env->pool;
    long long now = now_s();
    apr_thread_t *th[N_CONCURRENT];
    once_job jobs[N_CONCURRENT];
    dp_google_id_cfg *cfg;

    if (!begin(env)) {
        return;
    }
    cfg = make_cfg(p, V1);
    fake_mode(p, mode);
    fake_call(p, "POST", "/__delay?ms=300");
    for (int i = 0; i < N_CONCURRENT; i++) {
        jobs[i].cfg = cfg;
        jobs[i].token = sign(p, &S.a, KID_A, claims_at(p, now));
        jobs[i].now = now;
        CHECK_EQ(apr_thread_create(&th[i], NULL, verify_once_thread, &jobs[i], p), APR_SUCCESS);
    }
    for (int i = 0; i < N_CONCURRENT; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        CHECK_MSG(jobs[i].status == want_status, "thread %d: %d, expected %d", i,
                  jobs[i].status, want_status);
    }
    CHECK_EQ(fetches(p, V1), want_fetches);
}

static void concurrent_one_fetch(dp_test_env *env)
{
    concurrent(env, "ok", 200, 1);
}

/* The same against a failing endpoint: one fetch for all of them, and none again while the
 * back-off runs, however many verifications come. */
static void concurrent_failing_one_fetch(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long now;
    dp_google_id_cfg *cfg;

    concurrent(env, "down", 502, 1);
    now = now_s();
    cfg = make_cfg(p, V1);
    for (int i = 0; i < 20; i++) {
        verify_502(p, cfg, sign(p, &S.a, KID_A, claims_at(p, now)), now, "backing off");
    }
    CHECK_EQ(fetches(p, V1), 1);
}

static void zz_teardown(dp_test_env *env)
{
    (void)env;
    dp_fake_teardown(&S.fake);
    remove_dir();
    if (S.ready) {
        apr_pool_destroy(S.pool);
        curl_global_cleanup();
        S.ready = 0;
    }
}

const dp_test_case dp_suite_google_id[] = {
    {"good_v1",                   good_v1                  },
    {"good_jwks",                 good_jwks                },
    {"claims_refused",            claims_refused           },
    {"unknown_kid_rotation",      unknown_kid_rotation     },
    {"unknown_kid_then_added",    unknown_kid_then_added   },
    {"alg_confusion",             alg_confusion            },
    {"alg_none",                  alg_none                 },
    {"wrong_key",                 wrong_key                },
    {"certs_down_nothing_cached", certs_down_nothing_cached},
    {"certs_down_cached",         certs_down_cached        },
    {"max_age_parse",             max_age_parse            },
    {"cache_max_age",             cache_max_age            },
    {"malformed",                 malformed                },
    {"config_errors",             config_errors            },
    {"no_cache",                  no_cache                 },
    {"threads",                   threads                  },
    {"concurrent_one_fetch",      concurrent_one_fetch     },
    {"concurrent_failing_one_fetch", concurrent_failing_one_fetch},
    {"zz_teardown",               zz_teardown              },
    {NULL,                        NULL                     },
};
