/* dp_stripe: webhook signatures and events as data, the form encoding, and the client against
 * t/fakes/stripe_fake.pl (started here once on a free port, with the one secret key it
 * accepts; each test resets it and picks its mode). Nothing leaves 127.0.0.1.
 *
 * Expected signatures are computed here with OpenSSL's one-shot HMAC(), one fixed vector
 * comes from the openssl command line, and one from the fake (Perl's Digest::SHA): the
 * verifier is never only checked against itself. */
#include "dp_test.h"
#include "fake_http.h"

#include "dp_http.h"
#include "dp_json.h"
#include "dp_stripe.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

extern const dp_test_case dp_suite_stripe[];

#define SK       "sk_test_51DpUnitFakeKey0123456789"
#define OTHER_SK "sk_test_51DpUnitWrongKey987654321"
#define VERSION  "2024-06-20"
#define INTENTS  "/v1/payment_intents"

static struct {
    int ready;    /* curl initialised */
    dp_fake fake; /* the running fake */
} S = {0, DP_FAKE_NONE};

/* ---- the fake ----------------------------------------------------------------------------- */

static void at_exit(void)
{
    dp_fake_stop(&S.fake); /* only when the last test did not run */
}

static const char *fake_url(apr_pool_t *p, const char *path)
{
    return dp_fake_url(p, &S.fake, path);
}

static json_t *fake_call(apr_pool_t *p, const char *method, const char *path, const char *body)
{
    return dp_fake_call(p, &S.fake, method, path, body);
}

/* Start the fake once (SK is the only key it takes); reset it and set its mode. */
static int fake_ready(dp_test_env *env, const char *mode)
{
    if (!S.ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return CHECK_MSG(0, "curl_global_init failed");
        }
        atexit(at_exit);
        S.ready = 1;
    }
    if (S.fake.pid == 0) {
        const char *argv[] = {
            "perl",
            dp_fake_script(env->pool, env->cases_dir, "DP_STRIPE_FAKE", "stripe_fake.pl"),
            "--port",
            "0",
            "--key",
            SK,
            "--delay",
            "1",
            NULL};
        if (!dp_fake_spawn(&S.fake, argv, NULL, 0, 10000)) {
            return 0;
        }
    }
    return fake_call(env->pool, "POST", "/__reset", NULL) != NULL
        && fake_call(env->pool, "POST", apr_pstrcat(env->pool, "/__mode?mode=", mode, NULL), NULL)
        != NULL;
}

static json_t *fake_log(apr_pool_t *p)
{
    return dp_fake_log(p, &S.fake);
}

static json_t *jget(json_t *j, const char *path)
{
    char buf[160], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        j = json_object_get(j, k);
    }
    return j;
}

static const char *jstr(json_t *j, const char *path)
{
    return json_string_value(jget(j, path));
}

static dp_stripe_cfg *make_cfg(apr_pool_t *p)
{
    dp_stripe_cfg *cfg = apr_pcalloc(p, sizeof(*cfg));

    cfg->api_base = fake_url(p, "/"); /* the trailing slash must not double */
    cfg->secret_key = SK;
    cfg->api_version = VERSION;
    cfg->timeout_ms = 5000;
    return cfg;
}

static dp_stripe_payment payment(const char *pm, const char *invoice, const char *key)
{
    dp_stripe_payment r = {0};

    r.amount_cents = 12550;
    r.currency = "usd";
    r.payment_method = pm;
    r.invoice_id = invoice;
    r.idempotency_key = key;
    return r;
}

/* A failure must be a 502 upstream_error whose detail holds no secret key, no payment
 * method and no client secret. */
static void check_upstream(dp_error *e, const char *detail_has)
{
    if (!CHECK_NOT_NULL(e)) {
        return;
    }
    CHECK_EQ(e->status, 502);
    CHECK_STR(e->code, DP_E_UPSTREAM);
    CHECK_MSG(e->detail != NULL && strstr(e->detail, "sk_") == NULL
                  && strstr(e->detail, "pm_card") == NULL && strstr(e->detail, "_secret_") == NULL
                  && strstr(e->detail, "DpUnit") == NULL,
              "detail leaks a secret: %s", e->detail ? e->detail : "(null)");
    if (detail_has != NULL) {
        CHECK_MSG(e->detail != NULL && strstr(e->detail, detail_has) != NULL,
                  "detail \"%s\" lacks \"%s\"", e->detail ? e->detail : "(null)", detail_has);
    }
}

/* ---- webhook signatures ---------------------------------------------------------------- */

#define NOW     1700000000LL
#define WHSEC   "whsec_unit_0123456789abcdef"
#define PAYLOAD "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\"}"

static const char *hmac_hex(apr_pool_t *p, const char *secret, long long t, const char *payload)
{
    const char *msg = apr_psprintf(p, "%" APR_INT64_T_FMT ".%s", (apr_int64_t)t, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *hex = apr_palloc(p, 65);

    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg),
             mac, &n)
            == NULL
        || n != 32) {
        return "hmac-failed";
    }
    for (unsigned int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    return hex;
}

typedef struct sig_case {
    const char *name;
    const char *header;         /* template, NULL: no header; see expand() */
    long long dt;               /* the signed timestamp is NOW + dt */
    const char *sign_secret;    /* NULL: WHSEC */
    const char *verify_payload; /* NULL: PAYLOAD (which {SIG} signs) */
    const char *secret;         /* given to verify; NULL: WHSEC; "(null)": NULL */
    long long tolerance;        /* 0: the default */
    dp_stripe_sig_status want;
} sig_case;

/* {T} the timestamp, {T1} the timestamp + 1, {SIG} the signature, {SIGUP} it in upper case,
 * {SIG63} it cut short, {OTHER} a signature under another secret, {BAD} 64 hex digits that
 * are no signature, {NONHEX} 64 characters that are not hex. */
static const char *expand(apr_pool_t *p, const sig_case *c)
{
    long long t = NOW + c->dt;
    const char *sig = hmac_hex(p, c->sign_secret ? c->sign_secret : WHSEC, t, PAYLOAD);
    const char *out = "", *s = c->header;

    if (s == NULL) {
        return NULL;
    }
    while (*s) {
        const char *end = *s == '{' ? strchr(s, '}') : NULL, *rep = NULL;
        if (end == NULL) {
            out = apr_pstrcat(p, out, apr_pstrndup(p, s, 1), NULL);
            s++;
            continue;
        }
        const char *tok = apr_pstrndup(p, s + 1, (apr_size_t)(end - s - 1));
        if (strcmp(tok, "T") == 0) {
            rep = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)t);
        }
        else if (strcmp(tok, "T1") == 0) {
            rep = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)(t + 1));
        }
        else if (strcmp(tok, "SIG") == 0) {
            rep = sig;
        }
        else if (strcmp(tok, "SIGUP") == 0) {
            char *u = apr_pstrdup(p, sig);
            for (char *q = u; *q; q++) {
                *q = (char)(*q >= 'a' && *q <= 'f' ? *q - 32 : *q);
            }
            rep = u;
        }
        else if (strcmp(tok, "SIG63") == 0) {
            rep = apr_pstrndup(p, sig, 63);
        }
        else if (strcmp(tok, "OTHER") == 0) {
            rep = hmac_hex(p, "whsec_someone_else", t, PAYLOAD);
        }
        else if (strcmp(tok, "BAD") == 0) {
            rep = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        }
        else if (strcmp(tok, "NONHEX") == 0) {
            rep = "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg";
        }
        else {
            rep = "{?}";
        }
        out = apr_pstrcat(p, out, rep, NULL);
        s = end + 1;
    }
    return out;
}

static void sig_cases(dp_test_env *env)
{
    static const sig_case cases[] = {
        {"valid single v1",                 "t={T},v1={SIG}",                         0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_OK       },
        {"v1 before t",                     "v1={SIG},t={T}",                         0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_OK       },
        {"blanks after commas",             "t={T}, v1={SIG} ,\tv0={BAD}",            0,      NULL,             NULL,         NULL,     0,
         DP_STRIPE_SIG_OK                                                                                                                                          },
        {"several v1, one valid",           "t={T},v1={BAD},v1={SIG},v1={OTHER}",     0,      NULL,             NULL,         NULL,     0,
         DP_STRIPE_SIG_OK                                                                                                                                          },
        {"several v1, the last valid",      "t={T},v1={OTHER},v1={BAD},v1={SIG}",     0,      NULL,             NULL,         NULL,     0,
         DP_STRIPE_SIG_OK                                                                                                                                          },
        {"unknown schemes ignored",         "t={T},v0={BAD},v1={SIG},v9=zzz,foo=bar", 0,      NULL,             NULL,         NULL,
         0,                                                                                                                                 DP_STRIPE_SIG_OK       },
        {"upper-case hex",                  "t={T},v1={SIGUP}",                       0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_OK       },
        {"v0 only",                         "t={T},v0={SIG}",                         0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISSING  },
        {"300 s old",                       "t={T},v1={SIG}",                         -300,   NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_OK       },
        {"stale by 301 s",                  "t={T},v1={SIG}",                         -301,   NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_STALE    },
        {"300 s ahead",                     "t={T},v1={SIG}",                         300,    NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_OK       },
        {"future by 301 s",                 "t={T},v1={SIG}",                         301,    NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_STALE    },
        {"a day old",                       "t={T},v1={SIG}",                         -86400, NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_STALE    },
        {"own tolerance 10 s, 11 s old",    "t={T},v1={SIG}",                         -11,    NULL,             NULL,         NULL,     10,
         DP_STRIPE_SIG_STALE                                                                                                                                       },
        {"own tolerance 10 s, 10 s old",    "t={T},v1={SIG}",                         -10,    NULL,             NULL,         NULL,     10,
         DP_STRIPE_SIG_OK                                                                                                                                          },
        {"stale and wrong: mismatch wins",  "t={T},v1={OTHER}",                       -1000,  NULL,             NULL,         NULL,     0,
         DP_STRIPE_SIG_MISMATCH                                                                                                                                    },
        {"wrong secret",                    "t={T},v1={SIG}",                         0,      "whsec_not_ours", NULL,         NULL,     0,
         DP_STRIPE_SIG_MISMATCH                                                                                                                                    },
        {"tampered payload",                "t={T},v1={SIG}",                         0,      NULL,
         "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"payment_intent.succeedeD\"}",                                     NULL,     0,
         DP_STRIPE_SIG_MISMATCH                                                                                                                                    },
        {"payload with a trailing newline", "t={T},v1={SIG}",                         0,      NULL,             PAYLOAD "\n", NULL,     0,
         DP_STRIPE_SIG_MISMATCH                                                                                                                                    },
        {"timestamp changed",               "t={T1},v1={SIG}",                        0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISMATCH },
        {"v1 cut short",                    "t={T},v1={SIG63}",                       0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISMATCH },
        {"v1 not hex",                      "t={T},v1={NONHEX}",                      0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISMATCH },
        {"v1 empty",                        "t={T},v1=",                              0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISMATCH },
        {"missing t",                       "v1={SIG}",                               0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"t empty",                         "t=,v1={SIG}",                            0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"t not a number",                  "t=abc,v1={SIG}",                         0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"t signed",                        "t=+{T},v1={SIG}",                        0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"t huge",                          "t=99999999999999999999,v1={SIG}",        0,      NULL,             NULL,         NULL,     0,
         DP_STRIPE_SIG_MALFORMED                                                                                                                                   },
        {"t twice",                         "t={T},t={T},v1={SIG}",                   0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"empty element",                   "t={T},,v1={SIG}",                        0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"element without =",               "t={T},v1={SIG},junk",                    0,      NULL,             NULL,         NULL,     0,
         DP_STRIPE_SIG_MALFORMED                                                                                                                                   },
        {"garbage header",                  "garbage",                                0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"=only",                           "=,=",                                    0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MALFORMED},
        {"empty header",                    "",                                       0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISSING  },
        {"blank header",                    "  \t ",                                  0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISSING  },
        {"no header",                       NULL,                                     0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISSING  },
        {"t only",                          "t={T}",                                  0,      NULL,             NULL,         NULL,     0,  DP_STRIPE_SIG_MISSING  },
        {"empty secret",                    "t={T},v1={SIG}",                         0,      NULL,             NULL,         "",       0,  DP_STRIPE_SIG_NO_SECRET},
        {"no secret",                       "t={T},v1={SIG}",                         0,      NULL,             NULL,         "(null)", 0,  DP_STRIPE_SIG_NO_SECRET},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const sig_case *c = &cases[i];
        const char *header = expand(env->pool, c);
        const char *payload = c->verify_payload ? c->verify_payload : PAYLOAD;
        const char *secret = c->secret == NULL ? WHSEC
            : strcmp(c->secret, "(null)") == 0 ? NULL
                                               : c->secret;
        dp_stripe_sig_status got =
            dp_stripe_verify_signature(header, payload, strlen(payload), secret, NOW, c->tolerance);

        dp_t_context(c->name);
        CHECK_MSG(got == c->want, "got %d (%s), want %d (%s); header %s", got,
                  dp_stripe_sig_status_name(got), c->want, dp_stripe_sig_status_name(c->want),
                  header ? header : "(null)");
    }
    dp_t_context(NULL);
}

/* A vector from the openssl command line:
 * printf '%s' '1700000000.{"id":"evt_kat","object":"event"}' \
 *   | openssl dgst -sha256 -hmac whsec_kat_0123456789 */
static void sig_known_answer(dp_test_env *env)
{
    static const char payload[] = "{\"id\":\"evt_kat\",\"object\":\"event\"}";
    static const char good[] =
        "t=1700000000,v1=08eb4c28f515dbb2674378db4485ad1774a08e87d1b395628182e4d17f62e926";
    static const char other[] = /* the same under whsec_other */
        "t=1700000000,v1=c4e77b357f50dee9fa92157b9f57b35c6cbebc5c4fc2199c071b85fbe5e4a747";

    (void)env;
    CHECK_EQ(dp_stripe_verify_signature(good, payload, strlen(payload), "whsec_kat_0123456789",
                                        1700000000LL, 300),
             DP_STRIPE_SIG_OK);
    CHECK_EQ(dp_stripe_verify_signature(other, payload, strlen(payload), "whsec_kat_0123456789",
                                        1700000000LL, 300),
             DP_STRIPE_SIG_MISMATCH);
    CHECK_EQ(dp_stripe_verify_signature(other, payload, strlen(payload), "whsec_other",
                                        1700000000LL, 300),
             DP_STRIPE_SIG_OK);
    CHECK_EQ(dp_stripe_verify_signature(good, payload, strlen(payload), "whsec_kat_0123456789",
                                        1700000000LL + 301, 300),
             DP_STRIPE_SIG_STALE);
}

/* The payload is len bytes, NULs included, not a C string. */
static void sig_payload_length(dp_test_env *env)
{
    static const char body[] = "{\"a\":1}\0tail";
    apr_pool_t *p = env->pool;
    const char *sig = hmac_hex(p, WHSEC, NOW, "{\"a\":1}");
    const char *header = apr_psprintf(p, "t=%" APR_INT64_T_FMT ",v1=%s", (apr_int64_t)NOW, sig);
    char big[9000];

    CHECK_EQ(dp_stripe_verify_signature(header, body, 7, WHSEC, NOW, 0), DP_STRIPE_SIG_OK);
    CHECK_EQ(dp_stripe_verify_signature(header, body, sizeof(body) - 1, WHSEC, NOW, 0),
             DP_STRIPE_SIG_MISMATCH);
    CHECK_EQ(dp_stripe_verify_signature(header, body, 6, WHSEC, NOW, 0), DP_STRIPE_SIG_MISMATCH);
    /* an empty body can be signed too */
    header = apr_psprintf(p, "t=%" APR_INT64_T_FMT ",v1=%s", (apr_int64_t)NOW,
                          hmac_hex(p, WHSEC, NOW, ""));
    CHECK_EQ(dp_stripe_verify_signature(header, "", 0, WHSEC, NOW, 0), DP_STRIPE_SIG_OK);
    CHECK_EQ(dp_stripe_verify_signature(header, NULL, 0, WHSEC, NOW, 0), DP_STRIPE_SIG_OK);
    CHECK_EQ(dp_stripe_verify_signature(header, NULL, 5, WHSEC, NOW, 0), DP_STRIPE_SIG_MALFORMED);
    /* an absurdly long header is refused before any work */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "t=1,v1=", 7);
    CHECK_EQ(dp_stripe_verify_signature(big, "x", 1, WHSEC, NOW, 0), DP_STRIPE_SIG_MALFORMED);
}

static void sig_names(dp_test_env *env)
{
    (void)env;
    CHECK_STR(dp_stripe_sig_status_name(DP_STRIPE_SIG_OK), "ok");
    CHECK_STR(dp_stripe_sig_status_name(DP_STRIPE_SIG_MISSING), "missing");
    CHECK_STR(dp_stripe_sig_status_name(DP_STRIPE_SIG_MALFORMED), "malformed");
    CHECK_STR(dp_stripe_sig_status_name(DP_STRIPE_SIG_STALE), "stale");
    CHECK_STR(dp_stripe_sig_status_name(DP_STRIPE_SIG_MISMATCH), "mismatch");
    CHECK_STR(dp_stripe_sig_status_name(DP_STRIPE_SIG_NO_SECRET), "no_secret");
    CHECK_STR(dp_stripe_sig_status_name((dp_stripe_sig_status)42), "unknown");
    /* all distinct and negative */
    CHECK(DP_STRIPE_SIG_MISSING < 0 && DP_STRIPE_SIG_MALFORMED < 0 && DP_STRIPE_SIG_STALE < 0
          && DP_STRIPE_SIG_MISMATCH < 0 && DP_STRIPE_SIG_NO_SECRET < 0);
}

/* The fake's /__sign (Perl's Digest::SHA) and this verifier agree, non-ASCII included. */
static void sig_fake_signer(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *payload = "{\"id\":\"evt_2\",\"note\":\"Caf\xc3\xa9 \xe2\x98\x95\"}";
    json_t *req, *r;
    long long now = (long long)apr_time_sec(apr_time_now());

    if (!fake_ready(env, "ok")) {
        return;
    }
    req = dp_json_own(p, json_pack("{s:s, s:s}", "payload", payload, "secret", WHSEC));
    r = fake_call(p, "POST", "/__sign", dp_json_dump(p, req, NULL));
    if (!CHECK_NOT_NULL(r)) {
        return;
    }
    CHECK_EQ(dp_stripe_verify_signature(jstr(r, "header"), payload, strlen(payload), WHSEC, now, 0),
             DP_STRIPE_SIG_OK);
    CHECK_EQ(dp_stripe_verify_signature(jstr(r, "header"), payload, strlen(payload), "whsec_other",
                                        now, 0),
             DP_STRIPE_SIG_MISMATCH);

    json_object_set_new(req, "timestamp", json_integer(NOW - 3600));
    r = fake_call(p, "POST", "/__sign", dp_json_dump(p, req, NULL));
    if (CHECK_NOT_NULL(r)) {
        CHECK_STR(jstr(r, "signature"), hmac_hex(p, WHSEC, NOW - 3600, payload));
        CHECK_EQ(
            dp_stripe_verify_signature(jstr(r, "header"), payload, strlen(payload), WHSEC, NOW, 0),
            DP_STRIPE_SIG_STALE);
    }
}

/* ---- form encoding ---------------------------------------------------------------------- */

static void form_cases(dp_test_env *env)
{
    static const struct {
        const char *kv[9];
        const char *want;
    } cases[] = {
        {{"amount", "1000", "currency", "usd", NULL},                            "amount=1000&currency=usd"         },
        {{"metadata[invoice_id]", "inv 1", NULL},                                "metadata%5Binvoice_id%5D=inv%201" },
        {{"automatic_payment_methods[enabled]", "true",
          "automatic_payment_methods[allow_redirects]", "never", NULL},
         "automatic_payment_methods%5Benabled%5D=true"
         "&automatic_payment_methods%5Ballow_redirects%5D=never"                                                    },
        {{"d", "a&b=c+d%e/f?g#h", NULL},                                         "d=a%26b%3Dc%2Bd%25e%2Ff%3Fg%23h"  },
        {{"k", "AZaz09-._~", NULL},                                              "k=AZaz09-._~"                     },
        {{"description", "Caf\xc3\xa9 \xe2\x98\x95", NULL},                      "description=Caf%C3%A9%20%E2%98%95"},
        {{"crlf", "a\r\nb", NULL},                                               "crlf=a%0D%0Ab"                    },
        {{"quotes", "\"'<>`", NULL},                                             "quotes=%22%27%3C%3E%60"           },
        {{"a", "1", "b", NULL, "c", "3", NULL},                                  "a=1&c=3"                          },
        {{"a", NULL, "b", "2", NULL},                                            "b=2"                              },
        {{"a", NULL, NULL},                                                      ""                                 },
        {{"a", "", NULL},                                                        "a="                               },
        {{NULL},                                                                 ""                                 },
    };
    apr_size_t len;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = dp_stripe_form(env->pool, cases[i].kv, &len);
        dp_t_context(cases[i].want);
        CHECK_STR(got, cases[i].want);
        CHECK_EQ(len, strlen(cases[i].want));
    }
    dp_t_context(NULL);
    CHECK_STR(dp_stripe_form(env->pool, NULL, NULL), "");
    CHECK_STR(dp_stripe_form_escape(env->pool, NULL), "");
}

/* Every byte: the unreserved set stays, the rest is %XX in upper case, and it decodes back. */
static void form_escape_all_bytes(dp_test_env *env)
{
    char in[256], dec[256];
    const char *out;
    size_t n = 0, o = 0;

    for (int c = 1; c < 256; c++) {
        in[c - 1] = (char)c;
    }
    in[255] = '\0';
    out = dp_stripe_form_escape(env->pool, in);
    while (out[o] != '\0' && n < sizeof(dec)) {
        if (out[o] == '%') {
            unsigned int v = 0;
            CHECK_MSG(strchr("0123456789ABCDEF", out[o + 1]) != NULL
                          && strchr("0123456789ABCDEF", out[o + 2]) != NULL,
                      "not %%XX upper case at %d", (int)o);
            sscanf(out + o + 1, "%2X", &v);
            CHECK_MSG(!((v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9')
                        || v == '-' || v == '.' || v == '_' || v == '~'),
                      "unreserved 0x%02X was escaped", v);
            dec[n++] = (char)v;
            o += 3;
        }
        else {
            char c = out[o++];
            CHECK_MSG((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                          || c == '-' || c == '.' || c == '_' || c == '~',
                      "0x%02X left unescaped", (unsigned char)c);
            dec[n++] = c;
        }
    }
    CHECK_EQ(n, 255);
    CHECK(memcmp(dec, in, 255) == 0);
}

/* ---- events ----------------------------------------------------------------------------- */

/* A body parse_event must refuse with 400 invalid_json. */
#define BAD(n, j)                                                                                  \
    {                                                                                              \
        .name = (n), .json = (j), .status = 400                                                    \
    }
/* An event whose PaymentIntent has an object field, plus the fields in more. */
#define PI_EVENT(more)                                                                             \
    "{\"id\":\"evt_1\",\"type\":\"x\",\"data\":{\"object\":{\"object\":\"payment_intent\"" more    \
    "}}}"

static void event_cases(dp_test_env *env)
{
    static const struct {
        const char *name, *json;
        int status; /* 0: parses */
        const char *id, *type, *intent, *istatus, *invoice, *pm, *last_error, *currency;
        long long amount, received;
        int livemode;
    } cases[] = {
        {"succeeded",
         "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\","
         "\"livemode\":false,\"data\":{\"object\":{\"id\":\"pi_1\",\"object\":\"payment_intent\","
         "\"status\":\"succeeded\",\"amount\":12550,\"amount_received\":12550,"
         "\"currency\":\"usd\",\"payment_method\":\"pm_1\",\"metadata\":{\"invoice_id\":"
         "\"3f1c\"},\"last_payment_error\":null}}}",                                             0, "evt_1", "payment_intent.succeeded",      "pi_1", "succeeded",               "3f1c",  "pm_1", NULL,                      "usd",
         12550,                                                                                                                                                                                                                          12550, 0},
        {"payment failed",
         "{\"id\":\"evt_2\",\"type\":\"payment_intent.payment_failed\",\"livemode\":true,"
         "\"data\":{\"object\":{\"id\":\"pi_2\",\"object\":\"payment_intent\",\"status\":"
         "\"requires_payment_method\",\"amount\":500,\"amount_received\":0,\"payment_method\":"
         "null,\"metadata\":{\"invoice_id\":\"inv-2\"},\"last_payment_error\":{\"type\":"
         "\"card_error\",\"message\":\"Your card was declined.\"}}}}",                           0, "evt_2", "payment_intent.payment_failed", "pi_2", "requires_payment_method", "inv-2",
         NULL,                                                                                                                                                                                    "Your card was declined.", NULL,  500, 0,     1},
        {"expanded payment method, no metadata",
         "{\"id\":\"evt_3\",\"type\":\"payment_intent.processing\",\"data\":{\"object\":"
         "{\"id\":\"pi_3\",\"object\":\"payment_intent\",\"status\":\"processing\","
         "\"payment_method\":{\"id\":\"pm_3\",\"object\":\"payment_method\"}}}}",                0, "evt_3", "payment_intent.processing",     "pi_3", "processing",              NULL,    "pm_3", NULL,                      NULL,
         -1,                                                                                                                                                                                                                             -1,    0},
        {"another object: no intent fields",
         "{\"id\":\"evt_4\",\"type\":\"charge.refunded\",\"data\":{\"object\":{\"id\":"
         "\"ch_4\",\"object\":\"charge\",\"amount\":100,\"metadata\":{\"invoice_id\":\"x\"}}}}", 0, "evt_4", "charge.refunded",               NULL,   NULL,                      NULL,    NULL,   NULL,                      NULL,  -1,  -1,    0},
        {"minimal intent (the base of the refusals below)", PI_EVENT(",\"id\":\"pi_1\""),        0,
         "evt_1",                                                                                            "x",                             "pi_1", NULL,                      NULL,    NULL,   NULL,                      NULL,  -1,  -1,    0},
        BAD("not JSON", "{\"id\":"),
        BAD("empty", ""),
        BAD("an array", "[{\"id\":\"evt_1\"}]"),
        BAD("duplicate keys",
            "{\"id\":\"evt_1\",\"id\":\"evt_2\",\"type\":\"t\",\"data\":{\"object\":{}}}"),
        BAD("no id", "{\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{}}}"),
        BAD("empty id", "{\"id\":\"\",\"type\":\"x\",\"data\":{\"object\":{}}}"),
        BAD("id not a string", "{\"id\":7,\"type\":\"x\",\"data\":{\"object\":{}}}"),
        BAD("no type", "{\"id\":\"evt_1\",\"data\":{\"object\":{}}}"),
        BAD("no data", "{\"id\":\"evt_1\",\"type\":\"x\"}"),
        BAD("data.object not an object",
            "{\"id\":\"evt_1\",\"type\":\"x\",\"data\":{\"object\":1}}"),
        BAD("not an event",
            "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"type\":\"x\","
            "\"data\":{\"object\":{}}}"),
        BAD("intent without id", PI_EVENT("")),
        BAD("intent id a number", PI_EVENT(",\"id\":5")),
        BAD("amount_received a string", PI_EVENT(",\"id\":\"pi_1\",\"amount_received\":\"100\"")),
        BAD("amount negative", PI_EVENT(",\"id\":\"pi_1\",\"amount\":-5")),
        BAD("invoice_id a number", PI_EVENT(",\"id\":\"pi_1\",\"metadata\":{\"invoice_id\":12}")),
        BAD("metadata an array", PI_EVENT(",\"id\":\"pi_1\",\"metadata\":[]")),
        BAD("payment_method a number", PI_EVENT(",\"id\":\"pi_1\",\"payment_method\":5")),
        BAD("status a number", PI_EVENT(",\"id\":\"pi_1\",\"status\":1")),
        BAD("last_payment_error a string",
            PI_EVENT(",\"id\":\"pi_1\",\"last_payment_error\":\"x\"")),
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_stripe_event ev;
        dp_error *e;

        dp_t_context(cases[i].name);
        e = dp_stripe_parse_event(env->pool, cases[i].json, strlen(cases[i].json), &ev);
        if (cases[i].status != 0) {
            if (CHECK_NOT_NULL(e)) {
                CHECK_EQ(e->status, 400);
                CHECK_STR(e->code, DP_E_INVALID_JSON);
            }
            continue;
        }
        if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
            continue;
        }
        CHECK_STR(ev.id, cases[i].id);
        CHECK_STR(ev.type, cases[i].type);
        CHECK_STR(ev.intent_id, cases[i].intent);
        CHECK_STR(ev.intent_status, cases[i].istatus);
        CHECK_STR(ev.invoice_id, cases[i].invoice);
        CHECK_STR(ev.payment_method, cases[i].pm);
        CHECK_STR(ev.last_error_message, cases[i].last_error);
        CHECK_STR(ev.currency, cases[i].currency);
        CHECK_EQ(ev.amount, cases[i].amount);
        CHECK_EQ(ev.amount_received, cases[i].received);
        CHECK_EQ(ev.livemode, cases[i].livemode);
    }
    dp_t_context(NULL);
}

/* An event made by the fake (Stripe's Event shape) parses. */
static void event_from_fake(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_threeDSecure2Required", "inv-ev", "key-ev");
    dp_stripe_result res;
    dp_stripe_event ev;
    const char *body;
    json_t *evj;

    if (!fake_ready(env, "ok") || !CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &req, &res))) {
        return;
    }
    evj = fake_call(p, "POST", "/__event",
                    apr_psprintf(p, "{\"type\":\"payment_intent.succeeded\",\"intent\":\"%s\"}",
                                 res.intent_id));
    if (!CHECK_NOT_NULL(evj)) {
        return;
    }
    body = dp_json_dump(p, evj, NULL);
    CHECK_NULL(dp_stripe_parse_event(p, body, strlen(body), &ev));
    CHECK_STR(ev.type, "payment_intent.succeeded");
    CHECK(ev.id != NULL && strncmp(ev.id, "evt_", 4) == 0);
    CHECK_STR(ev.intent_id, res.intent_id);
    CHECK_STR(ev.intent_status, "succeeded");
    CHECK_STR(ev.invoice_id, "inv-ev");
    CHECK_EQ(ev.amount_received, 12550);
    CHECK_STR(ev.payment_method, "pm_card_threeDSecure2Required");
}

/* ---- payments against the fake ---------------------------------------------------------- */

static void pay_succeeded(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-0001", "inv-0001:pm_card_visa");
    dp_stripe_result res;
    json_t *log, *r;
    dp_error *e;

    if (!fake_ready(env, "ok")) {
        return;
    }
    req.currency = "USD"; /* sent in lower case */
    e = dp_stripe_pay(p, make_cfg(p), &req, &res);
    if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
        return;
    }
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 1);
    r = json_array_get(log, 0);
    CHECK_EQ(json_integer_value(json_object_get(r, "status")), 200);

    /* the result is what the fake answered */
    CHECK_EQ(res.kind, DP_STRIPE_SUCCEEDED);
    CHECK_STR(res.status, "succeeded");
    CHECK(res.intent_id != NULL && strncmp(res.intent_id, "pi_", 3) == 0);
    CHECK_STR(res.intent_id, jstr(r, "response.id"));
    CHECK_STR(res.client_secret, jstr(r, "response.client_secret"));
    CHECK_NULL(res.decline_message);
    CHECK_NULL(res.decline_code);

    /* the request, exactly */
    CHECK_STR(jstr(r, "method"), "POST");
    CHECK_STR(jstr(r, "path"), INTENTS);
    CHECK_EQ(json_object_size(jget(r, "query")), 0);
    CHECK_STR(jstr(r, "headers.authorization"), "Bearer " SK);
    CHECK_STR(jstr(r, "headers.stripe-version"), VERSION);
    CHECK_STR(jstr(r, "headers.idempotency-key"), "inv-0001:pm_card_visa");
    CHECK_STR(jstr(r, "headers.content-type"), "application/x-www-form-urlencoded");
    CHECK_STR(jstr(r, "headers.accept"), "application/json");
    CHECK_NULL(jstr(r, "headers.expect"));
    CHECK_STR(jstr(r, "body"),
              "amount=12550&currency=usd&payment_method=pm_card_visa&confirm=true"
              "&automatic_payment_methods%5Benabled%5D=true"
              "&automatic_payment_methods%5Ballow_redirects%5D=never"
              "&metadata%5Binvoice_id%5D=inv-0001");
    CHECK_EQ(json_object_size(jget(r, "form")), 7);
    CHECK_STR(jstr(r, "form.amount"), "12550");
    CHECK_STR(jstr(r, "form.currency"), "usd");
    CHECK_STR(jstr(r, "form.payment_method"), "pm_card_visa");
    CHECK_STR(jstr(r, "form.confirm"), "true");
    CHECK_STR(jstr(r, "form.automatic_payment_methods[enabled]"), "true");
    CHECK_STR(jstr(r, "form.automatic_payment_methods[allow_redirects]"), "never");
    CHECK_STR(jstr(r, "form.metadata[invoice_id]"), "inv-0001");
    CHECK(json_is_false(jget(r, "replayed")));
}

/* An optional description, and values that need escaping, arrive intact. */
static void pay_escaping(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv 7/[a]&b=c", "key+plus&amp;/x=[1]");
    dp_stripe_result res;
    json_t *r;
    dp_error *e;

    if (!fake_ready(env, "ok")) {
        return;
    }
    req.description = "Session 5 & notes = 100% \xe2\x80\x94 Caf\xc3\xa9";
    e = dp_stripe_pay(p, make_cfg(p), &req, &res);
    if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
        return;
    }
    CHECK_EQ(res.kind, DP_STRIPE_SUCCEEDED);
    r = json_array_get(fake_log(p), 0);
    CHECK_EQ(json_object_size(jget(r, "form")), 8);
    CHECK_STR(jstr(r, "form.description"), req.description);
    CHECK_STR(jstr(r, "form.metadata[invoice_id]"), "inv 7/[a]&b=c");
    CHECK_STR(jstr(r, "headers.idempotency-key"), "key+plus&amp;/x=[1]");
}

static void pay_declined(dp_test_env *env)
{
    static const struct {
        const char *pm, *message, *code;
    } cases[] = {
        {"pm_card_chargeDeclined",                  "Your card was declined.",           "generic_decline"},
        {"pm_card_visa_chargeDeclined",             "Your card was declined.",           "generic_decline"},
        {"pm_card_chargeDeclinedInsufficientFunds", "Your card has insufficient funds.",
         "insufficient_funds"                                                                             },
    };
    apr_pool_t *p = env->pool;

    if (!fake_ready(env, "ok")) {
        return;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_stripe_payment req = payment(cases[i].pm, "inv-d", cases[i].pm);
        dp_stripe_result res;
        json_t *r;
        dp_error *e;

        dp_t_context(cases[i].pm);
        e = dp_stripe_pay(p, make_cfg(p), &req, &res);
        if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
            continue;
        }
        CHECK_EQ(res.kind, DP_STRIPE_DECLINED);
        CHECK_STR(res.decline_message, cases[i].message);
        CHECK_STR(res.decline_code, cases[i].code);
        CHECK(res.intent_id != NULL && strncmp(res.intent_id, "pi_", 3) == 0);
        CHECK_STR(res.status, "requires_payment_method");
        r = json_array_get(fake_log(p), (size_t)i);
        CHECK_EQ(json_integer_value(json_object_get(r, "status")), 402);
        CHECK_STR(jstr(r, "response.error_type"), "card_error");
        CHECK_STR(jstr(r, "form.payment_method"), cases[i].pm);
    }
    dp_t_context(NULL);
}

static void pay_requires_action(dp_test_env *env)
{
    static const char *const pms[] = {"pm_card_threeDSecure2Required",
                                      "pm_card_authenticationRequired"};
    apr_pool_t *p = env->pool;

    if (!fake_ready(env, "ok")) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        dp_stripe_payment req = payment(pms[i], "inv-3ds", pms[i]);
        dp_stripe_result res;
        dp_error *e;

        dp_t_context(pms[i]);
        e = dp_stripe_pay(p, make_cfg(p), &req, &res);
        if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
            continue;
        }
        CHECK_EQ(res.kind, DP_STRIPE_REQUIRES_ACTION);
        CHECK_STR(res.status, "requires_action");
        CHECK(res.client_secret != NULL && res.intent_id != NULL
              && strncmp(res.client_secret, res.intent_id, strlen(res.intent_id)) == 0
              && strstr(res.client_secret, "_secret_") != NULL);
        CHECK_STR(res.client_secret,
                  jstr(json_array_get(fake_log(p), (size_t)i), "response.client_secret"));
    }
    dp_t_context(NULL);
}

static void pay_processing(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_fake_processing", "inv-pr", "k-pr");
    dp_stripe_result res;

    if (!fake_ready(env, "ok")) {
        return;
    }
    CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &req, &res));
    CHECK_EQ(res.kind, DP_STRIPE_PROCESSING);
    CHECK_STR(res.status, "processing");
}

/* Each failure mode of the fake: a 502 with the right story, nothing secret in it. */
static void pay_upstream_failures(dp_test_env *env)
{
    static const struct {
        const char *mode, *detail;
    } cases[] = {
        {"down500",      "HTTP 500, api_error"                        },
        {"rate_limited", "HTTP 429, invalid_request_error, rate_limit"},
        {"garbage",      "not a PaymentIntent"                        },
        {"tampered",     "does not match the request"                 },
    };
    apr_pool_t *p = env->pool;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_stripe_payment req = payment("pm_card_visa", "inv-f", "k-f");
        dp_stripe_result res;
        const char *cs = "unset", *id = "unset";

        dp_t_context(cases[i].mode);
        if (!fake_ready(env, cases[i].mode)) {
            continue;
        }
        check_upstream(dp_stripe_pay(p, make_cfg(p), &req, &res), cases[i].detail);
        CHECK_EQ(json_array_size(fake_log(p)), 1);
        check_upstream(dp_stripe_intent(p, make_cfg(p), 5000, "usd", NULL, NULL, &cs, &id),
                       cases[i].detail);
        CHECK_NULL(cs);
        CHECK_NULL(id);
    }
    dp_t_context(NULL);
}

static void pay_slow(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-slow", "k-slow");
    dp_stripe_result res;
    dp_stripe_cfg *cfg;
    apr_time_t t0;

    if (!fake_ready(env, "slow")) {
        return;
    }
    cfg = make_cfg(p);
    cfg->timeout_ms = 300;
    t0 = apr_time_now();
    check_upstream(dp_stripe_pay(p, cfg, &req, &res), "300 ms");
    CHECK_MSG(apr_time_now() - t0 < apr_time_from_msec(900), "the timeout was not enforced");
}

/* A key Stripe does not know: 401 at the fake, a 502 here naming the type, not the key
 * (Stripe's message quotes part of it). */
static void pay_wrong_key(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-wk", "k-wk");
    dp_stripe_result res;
    dp_stripe_cfg *cfg;
    json_t *r;
    dp_error *e;

    if (!fake_ready(env, "ok")) {
        return;
    }
    cfg = make_cfg(p);
    cfg->secret_key = OTHER_SK;
    e = dp_stripe_pay(p, cfg, &req, &res);
    check_upstream(e, "HTTP 401, invalid_request_error");
    CHECK_MSG(e == NULL || strstr(e->detail, "4321") == NULL, "detail: %s", e->detail);
    r = json_array_get(fake_log(p), 0);
    CHECK_EQ(json_integer_value(json_object_get(r, "status")), 401);
    CHECK_STR(jstr(r, "headers.authorization"), "Bearer " OTHER_SK);
}

/* Configuration errors fail before anything is sent. */
static void pay_bad_config(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-bc", "k-bc");
    dp_stripe_result res;
    dp_stripe_cfg *cfg;
    const char *cs, *id;

    if (!fake_ready(env, "ok")) {
        return;
    }
    cfg = make_cfg(p);
    cfg->secret_key = NULL;
    check_upstream(dp_stripe_pay(p, cfg, &req, &res), "no secret key");
    check_upstream(dp_stripe_pay(p, NULL, &req, &res), "no secret key");
    cfg->secret_key = "pk_test_51DpUnitPublishable";
    check_upstream(dp_stripe_pay(p, cfg, &req, &res), "publishable");
    cfg->secret_key = "sk_test_ab\r\nX-Evil: 1";
    check_upstream(dp_stripe_pay(p, cfg, &req, &res), "not a Stripe API key");
    cfg->secret_key = SK;
    cfg->api_version = "2024-06-20\r\nX: y";
    check_upstream(dp_stripe_pay(p, cfg, &req, &res), "API version");
    check_upstream(dp_stripe_intent(p, cfg, 100, "usd", NULL, NULL, &cs, &id), "API version");
    CHECK_EQ(json_array_size(fake_log(p)), 0);
}

/* Arguments the caller should have checked: refused before anything is sent. */
static void pay_bad_input(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_cfg *cfg;
    dp_stripe_result res;
    const char *cs, *id;
    dp_error *e;

    if (!fake_ready(env, "ok")) {
        return;
    }
    cfg = make_cfg(p);
    {
        static const long long amounts[] = {0, -100, DP_STRIPE_MAX_AMOUNT + 1};
        for (int i = 0; i < 3; i++) {
            dp_stripe_payment req = payment("pm_card_visa", "inv-bi", "k-bi");
            req.amount_cents = amounts[i];
            e = dp_stripe_pay(p, cfg, &req, &res);
            CHECK(e != NULL && e->status == 422 && e->field && strcmp(e->field, "amount") == 0);
        }
    }
    {
        static const char *const pms[] = {"", "pm card", "pm_x\r\n", "pm_\xc3\xa9", NULL};
        for (int i = 0; i < 5; i++) {
            dp_stripe_payment req = payment(pms[i], "inv-bi", "k-bi");
            e = dp_stripe_pay(p, cfg, &req, &res);
            CHECK(e != NULL && e->status == 422 && e->field
                  && strcmp(e->field, "paymentMethod") == 0);
        }
    }
    {
        dp_stripe_payment req = payment("pm_card_visa", "inv-bi", "k-bi");
        req.currency = "us";
        e = dp_stripe_pay(p, cfg, &req, &res);
        CHECK(e != NULL && e->status == 500);
        req.currency = "usd";
        req.idempotency_key = "two words";
        CHECK(dp_stripe_pay(p, cfg, &req, &res) != NULL);
        req.idempotency_key = "k\r\nX-Evil: 1";
        CHECK(dp_stripe_pay(p, cfg, &req, &res) != NULL);
        req.idempotency_key = NULL; /* a payment always has one */
        CHECK(dp_stripe_pay(p, cfg, &req, &res) != NULL);
        req.idempotency_key = "k-bi";
        req.invoice_id = "";
        CHECK(dp_stripe_pay(p, cfg, &req, &res) != NULL);
        req.invoice_id = NULL;
        CHECK(dp_stripe_pay(p, cfg, &req, &res) != NULL);
        CHECK(dp_stripe_pay(p, cfg, NULL, &res) != NULL);
    }
    e = dp_stripe_intent(p, cfg, 0, "usd", NULL, NULL, &cs, &id);
    CHECK(e != NULL && e->status == 422);
    e = dp_stripe_intent(p, cfg, 100, "u$d", NULL, NULL, &cs, &id);
    CHECK(e != NULL && e->status == 500);
    e = dp_stripe_intent(p, cfg, 100, "usd", NULL, "bad key", &cs, &id);
    CHECK(e != NULL && e->status == 500);
    CHECK_EQ(json_array_size(fake_log(p)), 0); /* nothing reached the fake */
}

/* Stripe's 400 for a parameter: a configuration-class 502 with the code and param. */
static void pay_invalid_request(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-small", "k-small");
    dp_stripe_result res;

    if (!fake_ready(env, "ok")) {
        return;
    }
    req.amount_cents = 10; /* below Stripe's minimum charge */
    check_upstream(dp_stripe_pay(p, make_cfg(p), &req, &res),
                   "HTTP 400, invalid_request_error, amount_too_small, param amount");
    req = payment("pm_card_unknown", "inv-x", "k-x");
    check_upstream(dp_stripe_pay(p, make_cfg(p), &req, &res),
                   "HTTP 400, invalid_request_error, resource_missing, param payment_method");
}

static void pay_unreachable(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-u", "k-u");
    dp_stripe_result res;
    dp_stripe_cfg *cfg;

    if (!fake_ready(env, "ok")) { /* for curl's set-up */
        return;
    }
    cfg = make_cfg(p);
    cfg->api_base = apr_psprintf(p, "http://127.0.0.1:%d", dp_fake_free_port());
    check_upstream(dp_stripe_pay(p, cfg, &req, &res), "127.0.0.1");
}

/* The same key twice: one PaymentIntent, the second answer a replay. */
static void pay_idempotent_replay(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment req = payment("pm_card_visa", "inv-rp", "inv-rp:pm_card_visa");
    dp_stripe_result a, b;
    json_t *log;

    if (!fake_ready(env, "ok")) {
        return;
    }
    CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &req, &a));
    CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &req, &b));
    CHECK_EQ(a.kind, DP_STRIPE_SUCCEEDED);
    CHECK_EQ(b.kind, DP_STRIPE_SUCCEEDED);
    CHECK(a.intent_id != NULL);
    CHECK_STR(a.intent_id, b.intent_id);
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 2);
    CHECK(json_is_false(jget(json_array_get(log, 0), "replayed")));
    CHECK(json_is_true(jget(json_array_get(log, 1), "replayed")));
    CHECK_STR(jstr(json_array_get(log, 1), "response.id"), a.intent_id);

    /* the same key for another amount: Stripe's idempotency_error, a 502 here */
    req.amount_cents = 12551;
    check_upstream(dp_stripe_pay(p, make_cfg(p), &req, &b), "HTTP 400, idempotency_error");
}

/* The key scheme: a decline replays for the same card, a new card gets a new key. */
static void pay_decline_then_new_card(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_stripe_payment bad =
        payment("pm_card_chargeDeclined", "inv-dn", "inv-dn:pm_card_chargeDeclined");
    dp_stripe_payment good = payment("pm_card_visa", "inv-dn", "inv-dn:pm_card_visa");
    dp_stripe_result r1, r2, r3;
    json_t *log;

    if (!fake_ready(env, "ok")) {
        return;
    }
    CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &bad, &r1));
    CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &bad, &r2));
    CHECK_NULL(dp_stripe_pay(p, make_cfg(p), &good, &r3));
    CHECK_EQ(r1.kind, DP_STRIPE_DECLINED);
    CHECK_EQ(r2.kind, DP_STRIPE_DECLINED);
    CHECK_STR(r2.intent_id, r1.intent_id);
    CHECK_STR(r2.decline_message, "Your card was declined.");
    CHECK_EQ(r3.kind, DP_STRIPE_SUCCEEDED);
    CHECK(r3.intent_id != NULL && r1.intent_id != NULL && strcmp(r3.intent_id, r1.intent_id) != 0);
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 3);
    CHECK(json_is_true(jget(json_array_get(log, 1), "replayed")));
    CHECK(json_is_false(jget(json_array_get(log, 2), "replayed")));
}

static void intent_create(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *cs = NULL, *id = NULL;
    json_t *log, *r;
    dp_error *e;

    if (!fake_ready(env, "ok")) {
        return;
    }
    e = dp_stripe_intent(p, make_cfg(p), 7500, "EUR", NULL, "pi-create-1", &cs, &id);
    if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
        return;
    }
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 1);
    r = json_array_get(log, 0);
    CHECK_STR(id, jstr(r, "response.id"));
    CHECK_STR(cs, jstr(r, "response.client_secret"));
    CHECK_STR(jstr(r, "response.status"), "requires_payment_method");
    CHECK(id != NULL && cs != NULL && strncmp(cs, id, strlen(id)) == 0);
    CHECK_STR(jstr(r, "body"),
              "amount=7500&currency=eur&automatic_payment_methods%5Benabled%5D=true");
    CHECK_EQ(json_object_size(jget(r, "form")), 3);
    CHECK_NULL(jget(r, "form.confirm"));
    CHECK_NULL(jget(r, "form.payment_method"));
    CHECK_STR(jstr(r, "headers.authorization"), "Bearer " SK);
    CHECK_STR(jstr(r, "headers.stripe-version"), VERSION);
    CHECK_STR(jstr(r, "headers.idempotency-key"), "pi-create-1");

    /* without a key: none sent, and a second call is a second intent */
    {
        const char *cs2 = NULL, *id2 = NULL, *cs3 = NULL, *id3 = NULL;
        dp_stripe_cfg *cfg = make_cfg(p);
        cfg->api_version = NULL; /* the pinned default */
        CHECK_NULL(dp_stripe_intent(p, cfg, 7500, "eur", NULL, NULL, &cs2, &id2));
        CHECK_NULL(dp_stripe_intent(p, cfg, 7500, "eur", NULL, NULL, &cs3, &id3));
        CHECK(id2 != NULL && id3 != NULL && strcmp(id2, id3) != 0);
        r = json_array_get(fake_log(p), 1);
        CHECK_NULL(jget(r, "headers.idempotency-key"));
        CHECK_STR(jstr(r, "headers.stripe-version"), DP_STRIPE_API_VERSION);
    }
}

static void intent_read_back(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *cs = NULL, *id = NULL, *cs2 = NULL, *status = NULL;
    dp_stripe_cfg *cfg = make_cfg(p);
    json_t *log, *r;
    dp_error *e;

    if (!fake_ready(env, "ok")) {
        return;
    }
    /* made for an invoice: the webhook's way back is in the metadata */
    e = dp_stripe_intent(p, cfg, 2500, "usd", "4b6f2c1e-0d3a-4f5e-9a7b-1c2d3e4f5a6b", "pi-get-1",
                         &cs, &id);
    if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
        return;
    }
    r = json_array_get(fake_log(p), 0);
    CHECK_STR(jstr(r, "form.metadata[invoice_id]"), "4b6f2c1e-0d3a-4f5e-9a7b-1c2d3e4f5a6b");

    /* read back: the same client secret and Stripe's status, by a GET without a key */
    e = dp_stripe_intent_get(p, cfg, id, 2500, "USD", &cs2, &status);
    if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
        return;
    }
    CHECK_STR(cs2, cs);
    CHECK_STR(status, "requires_payment_method");
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 2);
    r = json_array_get(log, 1);
    CHECK_STR(jstr(r, "method"), "GET");
    CHECK_STR(jstr(r, "path"), apr_pstrcat(p, "/v1/payment_intents/", id, NULL));
    CHECK_NULL(jget(r, "headers.idempotency-key"));
    CHECK_NULL(jget(r, "headers.content-type"));
    CHECK_STR(jstr(r, "headers.authorization"), "Bearer " SK);

    /* an intent for another amount or currency is not handed out */
    check_upstream(dp_stripe_intent_get(p, cfg, id, 2600, "usd", &cs2, &status), "match");
    CHECK_NULL(cs2);
    check_upstream(dp_stripe_intent_get(p, cfg, id, 2500, "eur", &cs2, &status), "match");
    /* one Stripe does not know: its 404, as a 502 */
    check_upstream(dp_stripe_intent_get(p, cfg, "pi_unknown123", 2500, "usd", &cs2, &status),
                   "resource_missing");
    /* what is not an intent id never reaches Stripe */
    e = dp_stripe_intent_get(p, cfg, "../charges", 2500, "usd", &cs2, &status);
    CHECK(e != NULL && e->status == 500);
    e = dp_stripe_intent_get(p, cfg, "ch_123", 2500, "usd", &cs2, &status);
    CHECK(e != NULL && e->status == 500);
    CHECK_EQ(json_array_size(fake_log(p)), 5);
}

static void zz_teardown(dp_test_env *env)
{
    (void)env;
    dp_fake_teardown(&S.fake);
    if (S.ready) {
        curl_global_cleanup();
        S.ready = 0;
    }
}

const dp_test_case dp_suite_stripe[] = {
    {"sig_cases",                 sig_cases                },
    {"sig_known_answer",          sig_known_answer         },
    {"sig_payload_length",        sig_payload_length       },
    {"sig_names",                 sig_names                },
    {"sig_fake_signer",           sig_fake_signer          },
    {"form_cases",                form_cases               },
    {"form_escape_all_bytes",     form_escape_all_bytes    },
    {"event_cases",               event_cases              },
    {"event_from_fake",           event_from_fake          },
    {"pay_succeeded",             pay_succeeded            },
    {"pay_escaping",              pay_escaping             },
    {"pay_declined",              pay_declined             },
    {"pay_requires_action",       pay_requires_action      },
    {"pay_processing",            pay_processing           },
    {"pay_upstream_failures",     pay_upstream_failures    },
    {"pay_slow",                  pay_slow                 },
    {"pay_wrong_key",             pay_wrong_key            },
    {"pay_bad_config",            pay_bad_config           },
    {"pay_bad_input",             pay_bad_input            },
    {"pay_invalid_request",       pay_invalid_request      },
    {"pay_unreachable",           pay_unreachable          },
    {"pay_idempotent_replay",     pay_idempotent_replay    },
    {"pay_decline_then_new_card", pay_decline_then_new_card},
    {"intent_create",             intent_create            },
    {"intent_read_back",          intent_read_back         },
    {"zz_teardown",               zz_teardown              },
    {NULL,                        NULL                     },
};
