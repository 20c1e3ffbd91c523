#include "dp_stripe.h"
#include "dp_http.h"
#include "dp_json.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>
#include <strings.h>

#define KEY_MAX             255 /* secret keys, idempotency keys, ids: Stripe's own limits */
#define METADATA_VALUE_MAX  500
#define DESCRIPTION_MAX     1000
#define DECLINE_MESSAGE_MAX 1000
#define SIG_HEADER_MAX      8192
#define SIG_T_DIGITS_MAX    15 /* keeps now - t far from overflowing */

/* ---- small helpers ----------------------------------------------------------------------- */

static dp_error *upstream(apr_pool_t *p, const char *detail)
{
    return dp_error_make(p, 502, DP_E_UPSTREAM, NULL, "%s", detail);
}

/* 1 if s is 1..max characters, each alphanumeric or one of extra. */
static int token_ok(const char *s, apr_size_t max, const char *extra)
{
    apr_size_t n = 0;

    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    for (; *s; s++, n++) {
        if (n >= max || (!apr_isalnum(*s) && (extra == NULL || strchr(extra, *s) == NULL))) {
            return 0;
        }
    }
    return 1;
}

/* A value from Stripe worth naming in an error detail (an error type or code, a parameter
 * name): short and made of harmless characters, else left out. */
static const char *safe_code(apr_pool_t *p, json_t *v)
{
    const char *s = json_string_value(v);
    return token_ok(s, 60, "_.-[]") ? apr_pstrdup(p, s) : NULL;
}

static const char *pstr(apr_pool_t *p, json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL ? apr_pstrdup(p, s) : NULL;
}

/* ---- form encoding ----------------------------------------------------------------------- */

const char *dp_stripe_form_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out, *o;

    if (s == NULL) {
        return "";
    }
    out = o = apr_palloc(p, strlen(s) * 3 + 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* explicit ASCII ranges: apr_isalnum follows the locale */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
            || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *dp_stripe_form(apr_pool_t *p, const char *const *kv, apr_size_t *len)
{
    const char *out = "";
    int first = 1;

    for (apr_size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        if (kv[i + 1] == NULL) {
            continue;
        }
        out = apr_pstrcat(p, out, first ? "" : "&", dp_stripe_form_escape(p, kv[i]), "=",
                          dp_stripe_form_escape(p, kv[i + 1]), NULL);
        first = 0;
    }
    if (len != NULL) {
        *len = strlen(out);
    }
    return out;
}

/* ---- the request ------------------------------------------------------------------------- */

/* The configuration, checked: a broken one fails before anything is sent, and its detail
 * never quotes the key. */
static dp_error *check_cfg(apr_pool_t *p, const dp_stripe_cfg *cfg)
{
    const char *k = cfg != NULL ? cfg->secret_key : NULL;

    if (k == NULL || k[0] == '\0') {
        return upstream(p, "Stripe is not configured: no secret key.");
    }
    if (strncmp(k, "pk_", 3) == 0) {
        return upstream(p,
                        "Stripe is misconfigured: the secret key setting holds a "
                        "publishable key (pk_...).");
    }
    if (!token_ok(k, KEY_MAX, "_")) {
        return upstream(p, "Stripe is misconfigured: the secret key is not a Stripe API key.");
    }
    if (cfg->api_version != NULL && !token_ok(cfg->api_version, 64, "-._")) {
        return upstream(p, "Stripe is misconfigured: the API version is not a version name.");
    }
    return NULL;
}

/* Printable ASCII without spaces: it goes into a header line as it is. */
static int idempotency_key_ok(const char *k)
{
    apr_size_t n = 0;

    if (k == NULL || k[0] == '\0') {
        return 0;
    }
    for (; *k; k++, n++) {
        if (n >= KEY_MAX || *k <= ' ' || *k > '~') {
            return 0;
        }
    }
    return 1;
}

/* Three ASCII letters, in lower case; NULL if not a currency code. */
static const char *currency_code(apr_pool_t *p, const char *c)
{
    char *out;

    if (c == NULL || strlen(c) != 3) {
        return NULL;
    }
    out = apr_pstrdup(p, c);
    for (char *o = out; *o; o++) {
        if (*o >= 'A' && *o <= 'Z') {
            *o = (char)(*o - 'A' + 'a');
        }
        else if (*o < 'a' || *o > 'z') {
            return NULL;
        }
    }
    return out;
}

/* One call to /v1/payment_intents: a form-encoded POST (body), or with body NULL a GET of
 * the intent named by id. */
static dp_error *call_intents(apr_pool_t *p, const dp_stripe_cfg *cfg, const char *id,
                              const char *body, apr_size_t body_len, const char *idempotency_key,
                              dp_http_resp *resp)
{
    const char *base =
        cfg->api_base != NULL && cfg->api_base[0] != '\0' ? cfg->api_base : DP_STRIPE_API_BASE;
    apr_size_t n = strlen(base);
    const char *headers[6];
    dp_http_req req = {0};
    int h = 0;

    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    headers[h++] = apr_pstrcat(p, "Authorization: Bearer ", cfg->secret_key, NULL);
    headers[h++] = apr_pstrcat(
        p, "Stripe-Version: ", cfg->api_version ? cfg->api_version : DP_STRIPE_API_VERSION, NULL);
    if (idempotency_key != NULL) {
        headers[h++] = apr_pstrcat(p, "Idempotency-Key: ", idempotency_key, NULL);
    }
    if (body != NULL) {
        headers[h++] = "Content-Type: application/x-www-form-urlencoded";
    }
    headers[h++] = "Accept: application/json";
    headers[h] = NULL;

    req.method = body != NULL ? "POST" : "GET";
    req.url = apr_pstrcat(p, apr_pstrndup(p, base, n), "/v1/payment_intents", id != NULL ? "/" : "",
                          id != NULL ? id : "", NULL);
    req.headers = headers;
    req.body = body;
    req.body_len = body_len;
    req.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DP_STRIPE_TIMEOUT_MS;
    req.max_response = DP_STRIPE_MAX_RESPONSE;
    /* dp_http's own 502 names the host and the failure, nothing of the request */
    return dp_http_do(p, &req, resp);
}

/* ---- reading answers --------------------------------------------------------------------- */

/* A non-200 answer that is not a card decline: one 502 whose detail says what Stripe said in
 * codes (status, error type, code, parameter), never its message. */
static dp_error *refusal(apr_pool_t *p, int status, json_t *err)
{
    const char *type = safe_code(p, json_object_get(err, "type"));
    const char *code = safe_code(p, json_object_get(err, "code"));
    const char *param = safe_code(p, json_object_get(err, "param"));
    const char *what = status == 429 ? "Stripe is rate limiting the requests"
        : status >= 500              ? "Stripe failed"
                                     : "Stripe refused the request";

    return dp_error_make(p, 502, DP_E_UPSTREAM, NULL, "%s (HTTP %d%s%s%s%s%s%s).", what, status,
                         type ? ", " : "", type ? type : "", code ? ", " : "", code ? code : "",
                         param ? ", param " : "", param ? param : "");
}

typedef struct intent_view {
    const char *id, *status, *client_secret;
    json_t *obj;
} intent_view;

/* The parts of a PaymentIntent object we rely on, checked. 0 if it is not one. */
static int read_intent(apr_pool_t *p, json_t *pi, intent_view *v)
{
    const char *obj = json_string_value(json_object_get(pi, "object"));
    const char *id = json_string_value(json_object_get(pi, "id"));
    const char *status = json_string_value(json_object_get(pi, "status"));
    const char *secret = json_string_value(json_object_get(pi, "client_secret"));

    memset(v, 0, sizeof(*v));
    if (!json_is_object(pi)
        || (json_object_get(pi, "object") != NULL
            && (obj == NULL || strcmp(obj, "payment_intent") != 0))
        || !token_ok(id, KEY_MAX, "_") || strncmp(id, "pi_", 3) != 0
        || !token_ok(status, 64, "_")) {
        return 0;
    }
    v->id = apr_pstrdup(p, id);
    v->status = apr_pstrdup(p, status);
    /* pi_..._secret_...: anything else is not handed to a browser */
    v->client_secret = token_ok(secret, KEY_MAX, "_") ? apr_pstrdup(p, secret) : NULL;
    v->obj = pi;
    return 1;
}

/* The intent must be for what was asked: a mismatch means we are not talking to the Stripe
 * we think we are, and nothing it says can settle an invoice. */
static int intent_matches(json_t *pi, long long amount, const char *currency)
{
    json_t *a = json_object_get(pi, "amount");
    const char *c = json_string_value(json_object_get(pi, "currency"));

    return json_is_integer(a) && json_integer_value(a) == amount && c != NULL
        && strcasecmp(c, currency) == 0;
}

static const char *bounded_message(apr_pool_t *p, json_t *v, const char *fallback)
{
    const char *s = json_string_value(v);
    return s != NULL && s[0] != '\0' && strlen(s) <= DECLINE_MESSAGE_MAX ? apr_pstrdup(p, s)
                                                                         : fallback;
}

static void declined_from_error(apr_pool_t *p, json_t *err, dp_stripe_result *res)
{
    intent_view v;
    const char *dc = safe_code(p, json_object_get(err, "decline_code"));

    res->kind = DP_STRIPE_DECLINED;
    res->decline_message =
        bounded_message(p, json_object_get(err, "message"), "Your card was declined.");
    res->decline_code = dc ? dc : safe_code(p, json_object_get(err, "code"));
    if (read_intent(p, json_object_get(err, "payment_intent"), &v)) {
        res->intent_id = v.id;
        res->status = v.status;
    }
}

/* ---- payments ---------------------------------------------------------------------------- */

dp_error *dp_stripe_pay(apr_pool_t *p, const dp_stripe_cfg *cfg, const dp_stripe_payment *req,
                        dp_stripe_result *res)
{
    const char *kv[17], *body, *currency;
    apr_size_t body_len;
    dp_http_resp resp;
    json_t *j, *err;
    intent_view v;
    dp_error *e;
    int n = 0;

    memset(res, 0, sizeof(*res));
    if ((e = check_cfg(p, cfg)) != NULL) {
        return e;
    }
    if (req == NULL || req->amount_cents <= 0 || req->amount_cents > DP_STRIPE_MAX_AMOUNT) {
        return dp_error_field(p, "amount",
                              "The amount must be positive and within Stripe's "
                              "limit.");
    }
    if (!token_ok(req->payment_method, KEY_MAX, "_")) {
        return dp_error_field(p, "paymentMethod",
                              "The payment method is not a Stripe "
                              "payment method id.");
    }
    currency = currency_code(p, req->currency);
    if (currency == NULL || !idempotency_key_ok(req->idempotency_key) || req->invoice_id == NULL
        || req->invoice_id[0] == '\0' || strlen(req->invoice_id) > METADATA_VALUE_MAX
        || (req->description != NULL && strlen(req->description) > DESCRIPTION_MAX)) {
        return dp_error_make(p, 500, DP_E_INTERNAL, NULL,
                             "The payment request is incomplete (currency, invoice or "
                             "idempotency key).");
    }

    kv[n++] = "amount";
    kv[n++] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)req->amount_cents);
    kv[n++] = "currency";
    kv[n++] = currency;
    kv[n++] = "payment_method";
    kv[n++] = req->payment_method;
    kv[n++] = "confirm";
    kv[n++] = "true";
    /* Without allow_redirects=never Stripe refuses a confirm that has no return_url: a
     * redirecting method could not come back to an API call. */
    kv[n++] = "automatic_payment_methods[enabled]";
    kv[n++] = "true";
    kv[n++] = "automatic_payment_methods[allow_redirects]";
    kv[n++] = "never";
    kv[n++] = "metadata[invoice_id]";
    kv[n++] = req->invoice_id;
    kv[n++] = "description";
    kv[n++] = req->description; /* NULL: left out */
    kv[n] = NULL;
    body = dp_stripe_form(p, kv, &body_len);

    if ((e = call_intents(p, cfg, NULL, body, body_len, req->idempotency_key, &resp)) != NULL) {
        return e;
    }
    j = dp_json_own(p, json_loadb(resp.body, resp.len, 0, NULL));
    err = json_object_get(j, "error");

    if (resp.status != 200) {
        const char *type = json_string_value(json_object_get(err, "type"));
        if (!json_is_object(err)) {
            return dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                                 "Stripe answered HTTP %d without an error object.", resp.status);
        }
        if (resp.status == 402
            || (resp.status >= 400 && resp.status < 500 && type != NULL
                && strcmp(type, "card_error") == 0)) {
            declined_from_error(p, err, res);
            return NULL;
        }
        return refusal(p, resp.status, err);
    }
    if (!read_intent(p, j, &v)) {
        return upstream(p, "Stripe's answer (HTTP 200) is not a PaymentIntent.");
    }
    if (!intent_matches(j, req->amount_cents, currency)) {
        return upstream(p,
                        "Stripe's PaymentIntent does not match the request (amount or "
                        "currency).");
    }
    res->intent_id = v.id;
    res->status = v.status;
    res->client_secret = v.client_secret;

    if (strcmp(v.status, "succeeded") == 0) {
        res->kind = DP_STRIPE_SUCCEEDED;
    }
    else if (strcmp(v.status, "requires_action") == 0) {
        if (v.client_secret == NULL) {
            return upstream(p, "Stripe asked for customer action but sent no client secret.");
        }
        res->kind = DP_STRIPE_REQUIRES_ACTION;
    }
    else if (strcmp(v.status, "requires_payment_method") == 0
             || strcmp(v.status, "canceled") == 0) {
        /* confirmed, yet back to needing a card: the attempt failed without a 402 */
        json_t *lpe = json_object_get(j, "last_payment_error");
        const char *dc = safe_code(p, json_object_get(lpe, "decline_code"));
        res->kind = DP_STRIPE_DECLINED;
        res->decline_message =
            bounded_message(p, json_object_get(lpe, "message"), "The payment was not completed.");
        res->decline_code = dc ? dc : safe_code(p, json_object_get(lpe, "code"));
    }
    else {
        res->kind = DP_STRIPE_PROCESSING; /* processing, requires_capture, ... */
    }
    return NULL;
}

/* A PaymentIntent answer (HTTP 200, else Stripe's refusal) for amount and currency, with a
 * client secret. */
static dp_error *intent_answer(apr_pool_t *p, const dp_http_resp *resp, long long amount_cents,
                               const char *currency, intent_view *v)
{
    json_t *j = dp_json_own(p, json_loadb(resp->body, resp->len, 0, NULL));

    if (resp->status != 200) {
        json_t *err = json_object_get(j, "error");
        if (!json_is_object(err)) {
            return dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                                 "Stripe answered HTTP %d without an error object.", resp->status);
        }
        return refusal(p, resp->status, err);
    }
    if (!read_intent(p, j, v) || v->client_secret == NULL) {
        return upstream(p,
                        "Stripe's answer (HTTP 200) is not a PaymentIntent with a client "
                        "secret.");
    }
    if (!intent_matches(j, amount_cents, currency)) {
        return upstream(p,
                        "Stripe's PaymentIntent does not match the request (amount or "
                        "currency).");
    }
    return NULL;
}

dp_error *dp_stripe_intent(apr_pool_t *p, const dp_stripe_cfg *cfg, long long amount_cents,
                           const char *currency, const char *invoice_id,
                           const char *idempotency_key, const char **client_secret,
                           const char **intent_id)
{
    const char *kv[9], *body, *cur;
    apr_size_t body_len;
    dp_http_resp resp;
    intent_view v;
    dp_error *e;

    *client_secret = NULL;
    *intent_id = NULL;
    if ((e = check_cfg(p, cfg)) != NULL) {
        return e;
    }
    if (amount_cents <= 0 || amount_cents > DP_STRIPE_MAX_AMOUNT) {
        return dp_error_field(p, "amount",
                              "The amount must be positive and within Stripe's "
                              "limit.");
    }
    cur = currency_code(p, currency);
    if (cur == NULL || (idempotency_key != NULL && !idempotency_key_ok(idempotency_key))
        || (invoice_id != NULL && !token_ok(invoice_id, METADATA_VALUE_MAX, "-"))) {
        return dp_error_make(p, 500, DP_E_INTERNAL, NULL,
                             "The payment intent request is incomplete (currency, invoice or "
                             "idempotency key).");
    }
    kv[0] = "amount";
    kv[1] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)amount_cents);
    kv[2] = "currency";
    kv[3] = cur;
    kv[4] = "automatic_payment_methods[enabled]";
    kv[5] = "true";
    kv[6] = "metadata[invoice_id]";
    kv[7] = invoice_id; /* NULL: left out */
    kv[8] = NULL;
    body = dp_stripe_form(p, kv, &body_len);

    if ((e = call_intents(p, cfg, NULL, body, body_len, idempotency_key, &resp)) != NULL
        || (e = intent_answer(p, &resp, amount_cents, cur, &v)) != NULL) {
        return e;
    }
    *client_secret = v.client_secret;
    *intent_id = v.id;
    return NULL;
}

dp_error *dp_stripe_intent_get(apr_pool_t *p, const dp_stripe_cfg *cfg, const char *intent_id,
                               long long amount_cents, const char *currency,
                               const char **client_secret, const char **status)
{
    const char *cur;
    dp_http_resp resp;
    intent_view v;
    dp_error *e;

    *client_secret = NULL;
    *status = NULL;
    if ((e = check_cfg(p, cfg)) != NULL) {
        return e;
    }
    cur = currency_code(p, currency);
    if (cur == NULL || !token_ok(intent_id, KEY_MAX, "_") || strncmp(intent_id, "pi_", 3) != 0) {
        return dp_error_make(p, 500, DP_E_INTERNAL, NULL,
                             "The payment intent lookup is incomplete (currency or id).");
    }
    if ((e = call_intents(p, cfg, intent_id, NULL, 0, NULL, &resp)) != NULL
        || (e = intent_answer(p, &resp, amount_cents, cur, &v)) != NULL) {
        return e;
    }
    if (strcmp(v.id, intent_id) != 0) {
        return upstream(p, "Stripe answered another PaymentIntent than the one asked for.");
    }
    *client_secret = v.client_secret;
    *status = v.status;
    return NULL;
}

/* ---- webhook signatures ------------------------------------------------------------------ */

typedef struct span {
    const char *s;
    apr_size_t n;
} span;

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The next "key=value" element of the header at *cur. Returns 1 with key and value (trimmed
 * of blanks), 0 at the end, -1 on an element that is not key=value. */
static int next_element(const char **cur, span *key, span *val)
{
    const char *s = *cur, *end, *eq;

    if (*s == '\0') {
        return 0;
    }
    end = strchr(s, ',');
    if (end == NULL) {
        end = s + strlen(s);
    }
    *cur = *end == ',' ? end + 1 : end;
    while (s < end && is_blank(*s)) {
        s++;
    }
    while (end > s && is_blank(end[-1])) {
        end--;
    }
    eq = memchr(s, '=', (apr_size_t)(end - s));
    if (eq == NULL || eq == s) {
        return -1;
    }
    key->s = s;
    key->n = (apr_size_t)(eq - s);
    val->s = eq + 1;
    val->n = (apr_size_t)(end - eq - 1);
    return 1;
}

static int span_is(const span *a, const char *lit)
{
    return a->n == strlen(lit) && memcmp(a->s, lit, a->n) == 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* HMAC-SHA256(secret, t "." payload) into out[32]. 1 on success. */
static int webhook_mac(const char *secret, const span *t, const char *payload, apr_size_t len,
                       unsigned char out[32])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    size_t outl = 0;
    int ok;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = ctx != NULL
        && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1
        && EVP_MAC_update(ctx, (const unsigned char *)t->s, t->n) == 1
        && EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1
        && (len == 0 || EVP_MAC_update(ctx, (const unsigned char *)payload, len) == 1)
        && EVP_MAC_final(ctx, out, &outl, 32) == 1 && outl == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

dp_stripe_sig_status dp_stripe_verify_signature(const char *header, const char *payload,
                                                apr_size_t len, const char *secret, long long now,
                                                long long tolerance_s)
{
    const char *cur;
    span key, val, t = {NULL, 0};
    unsigned char mac[32], sig[32];
    long long ts = 0, age;
    int rc, v1 = 0, matched = 0;

    if (secret == NULL || secret[0] == '\0') {
        return DP_STRIPE_SIG_NO_SECRET;
    }
    if (header == NULL) {
        return DP_STRIPE_SIG_MISSING;
    }
    for (cur = header; is_blank(*cur); cur++) {
    }
    if (*cur == '\0') {
        return DP_STRIPE_SIG_MISSING;
    }
    if (strlen(header) > SIG_HEADER_MAX || (payload == NULL && len > 0)) {
        return DP_STRIPE_SIG_MALFORMED;
    }

    /* first pass: the shape, the one timestamp, whether any v1 is there */
    cur = header;
    while ((rc = next_element(&cur, &key, &val)) == 1) {
        if (span_is(&key, "t")) {
            if (t.s != NULL || val.n == 0 || val.n > SIG_T_DIGITS_MAX) {
                return DP_STRIPE_SIG_MALFORMED;
            }
            for (apr_size_t i = 0; i < val.n; i++) {
                if (val.s[i] < '0' || val.s[i] > '9') {
                    return DP_STRIPE_SIG_MALFORMED;
                }
                ts = ts * 10 + (val.s[i] - '0');
            }
            t = val;
        }
        else if (span_is(&key, "v1")) {
            v1++;
        }
        /* v0 (test-mode legacy) and future schemes: ignored */
    }
    if (rc < 0 || t.s == NULL) {
        return DP_STRIPE_SIG_MALFORMED;
    }
    if (v1 == 0) {
        return DP_STRIPE_SIG_MISSING;
    }

    /* the MAC signs the timestamp as written in the header */
    if (!webhook_mac(secret, &t, payload, len, mac)) {
        return DP_STRIPE_SIG_MISMATCH;
    }
    cur = header;
    while (next_element(&cur, &key, &val) == 1) {
        int bad = 0;
        if (!span_is(&key, "v1") || val.n != 64) {
            continue;
        }
        for (int i = 0; i < 32; i++) {
            int hi = hex_digit(val.s[2 * i]), lo = hex_digit(val.s[2 * i + 1]);
            bad |= hi < 0 || lo < 0;
            sig[i] = (unsigned char)(((hi & 15) << 4) | (lo & 15));
        }
        /* every candidate is compared, in constant time, with no early exit */
        matched |= !bad && CRYPTO_memcmp(mac, sig, sizeof(mac)) == 0;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!matched) {
        return DP_STRIPE_SIG_MISMATCH;
    }
    if (tolerance_s <= 0) {
        tolerance_s = DP_STRIPE_SIG_TOLERANCE;
    }
    age = now - ts;
    if (age > tolerance_s || age < -tolerance_s) {
        return DP_STRIPE_SIG_STALE;
    }
    return DP_STRIPE_SIG_OK;
}

const char *dp_stripe_sig_status_name(dp_stripe_sig_status status)
{
    switch (status) {
    case DP_STRIPE_SIG_OK: return "ok";
    case DP_STRIPE_SIG_MISSING: return "missing";
    case DP_STRIPE_SIG_MALFORMED: return "malformed";
    case DP_STRIPE_SIG_STALE: return "stale";
    case DP_STRIPE_SIG_MISMATCH: return "mismatch";
    case DP_STRIPE_SIG_NO_SECRET: return "no_secret";
    }
    return "unknown";
}

/* ---- events ------------------------------------------------------------------------------ */

static dp_error *bad_event(apr_pool_t *p, const char *detail)
{
    return dp_error_make(p, 400, DP_E_INVALID_JSON, NULL, "%s", detail);
}

/* An optional string: absent and null give NULL; another JSON type is an error (0). */
static int opt_string(apr_pool_t *p, json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return 1;
    }
    if (!json_is_string(v)) {
        return 0;
    }
    *out = pstr(p, v);
    return 1;
}

static int opt_integer(json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);

    *out = -1;
    if (v == NULL || json_is_null(v)) {
        return 1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return 0;
    }
    *out = (long long)json_integer_value(v);
    return 1;
}

static int opt_object(json_t *obj, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);

    *out = json_is_object(v) ? v : NULL;
    return v == NULL || json_is_null(v) || json_is_object(v);
}

dp_error *dp_stripe_parse_event(apr_pool_t *p, const char *payload, apr_size_t len,
                                dp_stripe_event *ev)
{
    json_t *j, *data, *pi, *meta, *lpe, *pm, *v;
    const char *kind;

    memset(ev, 0, sizeof(*ev));
    ev->amount = ev->amount_received = -1;
    if (payload == NULL || len == 0) {
        return bad_event(p, "The event body is empty.");
    }
    j = dp_json_own(p, json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL));
    if (!json_is_object(j)) {
        return bad_event(p, "The event is not a JSON object.");
    }
    v = json_object_get(j, "object");
    if (v != NULL && !(json_is_string(v) && strcmp(json_string_value(v), "event") == 0)) {
        return bad_event(p, "The body is not a Stripe event.");
    }
    if (!json_is_string(json_object_get(j, "id")) || !json_is_string(json_object_get(j, "type"))
        || json_string_length(json_object_get(j, "id")) == 0
        || json_string_length(json_object_get(j, "type")) == 0) {
        return bad_event(p, "The event has no id or no type.");
    }
    data = json_object_get(j, "data");
    pi = json_object_get(data, "object");
    if (!json_is_object(pi)) {
        return bad_event(p, "The event has no data.object.");
    }
    ev->id = pstr(p, json_object_get(j, "id"));
    ev->type = pstr(p, json_object_get(j, "type"));
    ev->livemode = json_is_true(json_object_get(j, "livemode"));

    kind = json_string_value(json_object_get(pi, "object"));
    if (kind == NULL || strcmp(kind, "payment_intent") != 0) {
        return NULL; /* another kind of object: the caller decides by type whether it cares */
    }
    if (!json_is_string(json_object_get(pi, "id"))
        || !opt_string(p, pi, "status", &ev->intent_status) || !opt_object(pi, "metadata", &meta)
        || !opt_string(p, meta, "invoice_id", &ev->invoice_id)
        || !opt_integer(pi, "amount", &ev->amount)
        || !opt_integer(pi, "amount_received", &ev->amount_received)
        || !opt_string(p, pi, "currency", &ev->currency)
        || !opt_object(pi, "last_payment_error", &lpe)
        || !opt_string(p, lpe, "message", &ev->last_error_message)) {
        return bad_event(p, "The event's PaymentIntent has fields of the wrong type.");
    }
    ev->intent_id = pstr(p, json_object_get(pi, "id"));
    pm = json_object_get(pi, "payment_method");
    if (json_is_object(pm)) { /* expanded: the PaymentMethod object itself */
        pm = json_object_get(pm, "id");
    }
    if (pm != NULL && !json_is_null(pm) && !json_is_string(pm)) {
        return bad_event(p, "The event's PaymentIntent has fields of the wrong type.");
    }
    ev->payment_method = pstr(p, pm);
    return NULL;
}
