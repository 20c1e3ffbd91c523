#include "dp_google_id.h"
#include "dp_http.h"
#include "dp_jwt.h"

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_KID      256
#define MAX_SUB      255
#define MAX_EMAIL    320
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 8192

/* ---- the key cache ---------------------------------------------------------------------
 * One set of keys (kid -> SubjectPublicKeyInfo PEM, the form libjwt verifies with) in its own
 * subpool of the cache pool, swapped whole when a new set arrives, guarded by one mutex.
 * Fetches are single-flight: a thread claims the one fetch under the lock, fetches and parses
 * in its request pool without the lock, then installs the set (or records the failure and the
 * back-off) under the lock and wakes the threads that wait for that fetch's result. Readers
 * copy the PEM they need into their own pool before unlocking. */

static struct {
    apr_pool_t *pool;         /* NULL: no dp_google_id_init, run uncached */
    apr_pool_t *set_pool;     /* holds keys; NULL when no set */
    apr_hash_t *keys;         /* NULL when no set */
    long long expires;        /* the set is stale from this time on */
    long long last_kid_fetch; /* last fetch caused by an unknown kid */
    long long retry_after;    /* after a failed fetch, no new attempt before this */
    long long backoff;        /* the last back-off in seconds; 0 after a success */
    int fetching;             /* 1 while a thread fetches */
    unsigned long fetches;    /* fetches ended; a waiter waits for this to change */
    int last_failed;          /* the last fetch that ended failed */
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *done; /* signalled when a fetch ends */
#endif
} C;

static void cache_reset_state(void)
{
    C.set_pool = NULL;
    C.keys = NULL;
    C.expires = 0;
    C.last_kid_fetch = LLONG_MIN / 2;
    C.retry_after = LLONG_MIN / 2;
    C.backoff = 0;
    C.fetching = 0;
    C.last_failed = 0;
}

static apr_status_t cache_forget(void *unused)
{
    (void)unused;
    C.pool = NULL; /* the subpools went with pconf */
    cache_reset_state();
#if APR_HAS_THREADS
    C.mutex = NULL;
    C.done = NULL;
#endif
    return APR_SUCCESS;
}

apr_status_t dp_google_id_init(apr_pool_t *pconf)
{
    apr_status_t rv;
    apr_pool_t *cp;

    rv = apr_pool_create(&cp, pconf);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_tag(cp, "dp_google_id_keys");
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&C.mutex, APR_THREAD_MUTEX_DEFAULT, pconf);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&C.done, pconf);
    }
    if (rv != APR_SUCCESS) {
        C.mutex = NULL;
        C.done = NULL;
        apr_pool_destroy(cp);
        return rv;
    }
#endif
    cache_reset_state();
    C.pool = cp;
    /* when pconf goes (restart, or the end), the statics must not dangle */
    apr_pool_cleanup_register(pconf, NULL, cache_forget, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* Only dp_google_id_init and the pconf cleanup, both outside the threads' lifetime, set
 * C.mutex, C.done and C.pool: reading them unlocked is safe. The rest changes under the lock. */
static int cache_lock(void)
{
#if APR_HAS_THREADS
    return C.mutex != NULL && C.pool != NULL && apr_thread_mutex_lock(C.mutex) == APR_SUCCESS;
#else
    return C.pool != NULL;
#endif
}

static void cache_unlock(void)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(C.mutex);
#endif
}

void dp_google_id_cache_clear(void)
{
    if (cache_lock()) {
        if (C.set_pool != NULL) {
            apr_pool_destroy(C.set_pool);
        }
        {
            int fetching = C.fetching; /* a fetch in flight still ends and wakes its waiters */
            cache_reset_state();
            C.fetching = fetching;
        }
        cache_unlock();
    }
}

/* Under the lock: replace the set by a copy of keys. 0 when out of memory (old set kept). */
static int cache_install(apr_hash_t *keys, long long expires)
{
    apr_pool_t *np;
    apr_hash_t *h;

    if (apr_pool_create(&np, C.pool) != APR_SUCCESS) {
        return 0;
    }
    apr_pool_tag(np, "dp_google_id_set");
    h = apr_hash_make(np);
    for (apr_hash_index_t *hi = apr_hash_first(NULL, keys); hi != NULL; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        apr_hash_this(hi, &k, NULL, &v);
        apr_hash_set(h, apr_pstrdup(np, k), APR_HASH_KEY_STRING, apr_pstrdup(np, v));
    }
    if (C.set_pool != NULL) {
        apr_pool_destroy(C.set_pool);
    }
    C.set_pool = np;
    C.keys = h;
    C.expires = expires;
    return 1;
}

/* Under the lock: the end of the fetch in flight. A failure (or a set that could not be
 * installed) starts or doubles the back-off, whether or not a set is cached; a success ends
 * it. The threads waiting for this fetch wake up. */
static void cache_fetch_done(apr_hash_t *fresh, long long now, long long ttl)
{
    int ok = fresh != NULL && cache_install(fresh, now + ttl);

    if (ok) {
        C.backoff = 0;
        C.retry_after = LLONG_MIN / 2;
    }
    else {
        C.backoff = C.backoff <= 0 ? DP_GOOGLE_ID_BACKOFF_MIN : C.backoff * 2;
        if (C.backoff > DP_GOOGLE_ID_REFETCH_MIN) {
            C.backoff = DP_GOOGLE_ID_REFETCH_MIN;
        }
        C.retry_after = now + C.backoff;
    }
    C.last_failed = !ok;
    C.fetching = 0;
    C.fetches++;
#if APR_HAS_THREADS
    apr_thread_cond_broadcast(C.done);
#endif
}

/* Under the lock: wait until the fetch in flight ends (up to its own timeout and a second
 * more). 1 when it ended, 0 when the wait gave up. */
static int cache_wait_fetch(const dp_google_id_cfg *cfg)
{
#if APR_HAS_THREADS
    unsigned long seen = C.fetches;
    long ms = (cfg->timeout_ms > 0 ? cfg->timeout_ms : DP_HTTP_DEFAULT_TIMEOUT_MS) + 1000;
    apr_time_t until = apr_time_now() + apr_time_from_msec(ms);

    while (C.fetching && C.fetches == seen && C.pool != NULL) {
        apr_time_t left = until - apr_time_now();
        if (left <= 0 || apr_thread_cond_timedwait(C.done, C.mutex, left) == APR_TIMEUP) {
            break;
        }
    }
    return C.fetches != seen;
#else
    (void)cfg;
    return 0;
#endif
}

/* ---- Cache-Control ---------------------------------------------------------------------- */

long long dp_google_id_max_age(const char *cc)
{
    long long found = -1;
    int no_cache = 0;

    if (cc == NULL) {
        return -1;
    }
    while (*cc != '\0') {
        const char *start, *end;
        apr_size_t n;

        while (*cc == ' ' || *cc == '\t' || *cc == ',') {
            cc++;
        }
        start = cc;
        while (*cc != '\0' && *cc != ',') {
            cc++;
        }
        end = cc;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        n = (apr_size_t)(end - start);
        if ((n == 8 && strncasecmp(start, "no-store", 8) == 0)
            || (n == 8 && strncasecmp(start, "no-cache", 8) == 0)) {
            no_cache = 1;
        }
        else if (n > 8 && strncasecmp(start, "max-age=", 8) == 0 && found < 0) {
            const char *v = start + 8, *ve = end;
            long long x = 0;
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') { /* quoted-string form */
                v++;
                ve--;
            }
            if (v == ve) {
                return -1;
            }
            for (; v < ve; v++) {
                if (!apr_isdigit(*v)) {
                    return -1;
                }
                if (x < 1000000000000LL) { /* saturate, the caller clamps anyway */
                    x = x * 10 + (*v - '0');
                }
            }
            found = x;
        }
    }
    return no_cache ? 0 : found;
}

/* ---- keys from Google's answers ----------------------------------------------------------- */

static int rsa_usable(const EVP_PKEY *k)
{
    int bits;

    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        return 0;
    }
    bits = EVP_PKEY_get_bits(k);
    return bits >= MIN_RSA_BITS && bits <= MAX_RSA_BITS;
}

/* The public key as a "BEGIN PUBLIC KEY" PEM in p, or NULL. */
static const char *pubkey_pem(apr_pool_t *p, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    const char *pem = NULL;
    char *data = NULL;
    long n;

    if (b != NULL && PEM_write_bio_PUBKEY(b, k) == 1 && (n = BIO_get_mem_data(b, &data)) > 0) {
        pem = apr_pstrmemdup(p, data, (apr_size_t)n);
    }
    BIO_free(b);
    return pem;
}

/* v1 format: a "BEGIN CERTIFICATE" PEM. libjwt cannot verify with a certificate: its
 * public key is taken out and written as a SubjectPublicKeyInfo PEM. */
static const char *pem_from_cert(apr_pool_t *p, const char *cert)
{
    BIO *in;
    X509 *x = NULL;
    const char *pem = NULL;

    if (strstr(cert, "-----BEGIN CERTIFICATE-----") == NULL || strlen(cert) > 16384) {
        return NULL;
    }
    in = BIO_new_mem_buf(cert, -1);
    if (in != NULL && (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        EVP_PKEY *k = X509_get0_pubkey(x); /* owned by x */
        if (rsa_usable(k)) {
            pem = pubkey_pem(p, k);
        }
    }
    X509_free(x);
    BIO_free(in);
    return pem;
}

/* A JWKS number (base64url, padding tolerated) as a BIGNUM, or NULL. */
static BIGNUM *jwk_bn(apr_pool_t *p, const char *s, apr_size_t max_bytes)
{
    apr_size_t len, n;
    unsigned char *raw;

    if (s == NULL) {
        return NULL;
    }
    len = strlen(s);
    while (len > 0 && s[len - 1] == '=') {
        len--;
    }
    if (len == 0 || len > (max_bytes * 4 + 2) / 3 + 4
        || (raw = dp_b64url_decode(p, s, len, &n)) == NULL || n == 0 || n > max_bytes) {
        return NULL;
    }
    return BN_bin2bn(raw, (int)n, NULL);
}

/* JWKS format: an RSA key from its modulus n and exponent e. */
static const char *pem_from_jwk(apr_pool_t *p, json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    json_t *use = json_object_get(jwk, "use"), *alg = json_object_get(jwk, "alg");
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;
    const char *pem = NULL;

    if (kty == NULL || strcmp(kty, "RSA") != 0
        || (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        || (alg != NULL
            && (!json_is_string(alg) || strcmp(json_string_value(alg), "RS256") != 0))) {
        return NULL;
    }
    n = jwk_bn(p, json_string_value(json_object_get(jwk, "n")), MAX_RSA_BITS / 8 + 1);
    e = jwk_bn(p, json_string_value(json_object_get(jwk, "e")), 8);
    if (n != NULL && e != NULL && BN_is_odd(e) && !BN_is_one(e)
        && (bld = OSSL_PARAM_BLD_new()) != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1
        && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL
        && (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL
        && EVP_PKEY_fromdata_init(ctx) == 1
        && EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) == 1 && rsa_usable(k)) {
        pem = pubkey_pem(p, k);
    }
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pem;
}

static int kid_ok(const char *kid)
{
    return kid != NULL && kid[0] != '\0' && strlen(kid) <= MAX_KID;
}

static void keep(apr_pool_t *p, apr_hash_t *keys, const char *kid, const char *pem)
{
    if (pem != NULL && apr_hash_count(keys) < DP_GOOGLE_ID_MAX_KEYS
        && apr_hash_get(keys, kid, APR_HASH_KEY_STRING) == NULL) {
        apr_hash_set(keys, apr_pstrdup(p, kid), APR_HASH_KEY_STRING, pem);
    }
}

/* Both formats; entries that are not usable RSA signing keys are skipped. NULL when nothing
 * usable is left. */
static apr_hash_t *parse_keys(apr_pool_t *p, const char *body, apr_size_t len)
{
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *list, *v;
    apr_hash_t *keys = apr_hash_make(p);

    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    list = json_object_get(doc, "keys");
    if (list != NULL) { /* JWKS */
        size_t i;
        if (json_is_array(list)) {
            json_array_foreach(list, i, v)
            {
                const char *kid = json_string_value(json_object_get(v, "kid"));
                if (json_is_object(v) && kid_ok(kid)) {
                    keep(p, keys, kid, pem_from_jwk(p, v));
                }
            }
        }
    }
    else { /* v1: kid -> certificate */
        const char *kid;
        json_object_foreach(doc, kid, v)
        {
            if (json_is_string(v) && kid_ok(kid)) {
                keep(p, keys, kid, pem_from_cert(p, json_string_value(v)));
            }
        }
    }
    json_decref(doc);
    return apr_hash_count(keys) > 0 ? keys : NULL;
}

/* GET the key set. NULL with *why on any failure (transport, status, body). */
static apr_hash_t *fetch_keys(apr_pool_t *p, const dp_google_id_cfg *cfg, long long *ttl,
                              const char **why)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    dp_http_req req = {0};
    dp_http_resp resp;
    dp_error *e;
    apr_hash_t *keys;
    const char *cc = NULL;
    long long age;

    req.method = "GET";
    req.url = cfg->certs_url != NULL && cfg->certs_url[0] != '\0' ? cfg->certs_url
                                                                  : DP_GOOGLE_ID_CERTS_URL;
    req.headers = headers;
    req.timeout_ms = cfg->timeout_ms;
    req.max_response = DP_GOOGLE_ID_MAX_RESPONSE;
    e = dp_http_do(p, &req, &resp);
    if (e != NULL) {
        *why = e->detail; /* names the host and the kind of failure only */
        return NULL;
    }
    if (resp.status != 200) {
        *why = apr_psprintf(p, "Google's keys endpoint answered HTTP %d.", resp.status);
        return NULL;
    }
    keys = parse_keys(p, resp.body, resp.len);
    if (keys == NULL) {
        *why = "Google's keys endpoint answered no usable RSA key.";
        return NULL;
    }
#ifdef DP_HTTP_HAS_RESP_HEADERS
    cc = resp.headers != NULL ? apr_table_get(resp.headers, "Cache-Control") : NULL;
#endif
    /* Without response headers from dp_http, cc stays NULL: the default lifetime. */
    age = dp_google_id_max_age(cc);
    *ttl = age < 0                   ? DP_GOOGLE_ID_DEFAULT_TTL
        : age < 1                    ? 1
        : age > DP_GOOGLE_ID_MAX_TTL ? DP_GOOGLE_ID_MAX_TTL
                                     : age;
    return keys;
}

typedef enum { KEY_OK, KEY_UNKNOWN, KEY_UPSTREAM } key_result;

/* Under the lock: kid in the cached set, copied to p. */
static const char *cached_key(apr_pool_t *p, const char *kid)
{
    const char *hit = C.keys != NULL ? apr_hash_get(C.keys, kid, APR_HASH_KEY_STRING) : NULL;
    return hit != NULL ? apr_pstrdup(p, hit) : NULL;
}

/* Without a cache: fetch every time. */
static key_result find_key_uncached(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *kid,
                                    const char **pem, const char **why)
{
    long long ttl;
    apr_hash_t *fresh = fetch_keys(p, cfg, &ttl, why);

    if (fresh == NULL) {
        return KEY_UPSTREAM;
    }
    *pem = apr_hash_get(fresh, kid, APR_HASH_KEY_STRING);
    *why = "The token's kid is not among Google's keys.";
    return *pem != NULL ? KEY_OK : KEY_UNKNOWN;
}

/* Under the lock, with no fetch to make or wait for: what the cache has. */
static key_result cached_result(apr_pool_t *p, const char *kid, const char **pem,
                                const char **why)
{
    *pem = cached_key(p, kid);
    if (*pem != NULL) {
        return KEY_OK;
    }
    if (C.keys == NULL) {
        *why = C.last_failed ? "Google's keys endpoint failed; no key is cached (backing off)."
                             : "No key is cached.";
        return KEY_UPSTREAM;
    }
    *why = C.last_failed ? "The token's kid is not among the cached keys (refetch failed)."
                         : "The token's kid is not among the cached keys.";
    return KEY_UNKNOWN;
}

/* The PEM public key for kid, in p. One fetch at a time per process: a thread that needs
 * the keys while another fetches them waits for that fetch's result (or goes on with a stale
 * key it has); after a failed fetch nobody fetches again before the back-off ends. */
static key_result find_key(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *kid,
                           long long now, const char **pem, const char **why)
{
    apr_hash_t *fresh;
    const char *hit;
    long long ttl = DP_GOOGLE_ID_DEFAULT_TTL;
    int is_fresh, need, kid_fetch;
    key_result kr;

    *pem = NULL;
    if (!cache_lock()) {
        return find_key_uncached(p, cfg, kid, pem, why);
    }
    hit = cached_key(p, kid);
    is_fresh = C.keys != NULL && now < C.expires;
    if (hit != NULL && is_fresh) {
        *pem = hit;
        cache_unlock();
        return KEY_OK;
    }
    /* an unknown kid in a fresh set refetches at most once a minute */
    kid_fetch = is_fresh;
    need = !kid_fetch || now - C.last_kid_fetch >= DP_GOOGLE_ID_REFETCH_MIN;
    if (need && C.fetching) {
        if (hit != NULL) { /* stale, but good enough while another thread refreshes */
            *pem = hit;
            cache_unlock();
            return KEY_OK;
        }
        if (!cache_wait_fetch(cfg)) {
            *why = "Another request's fetch of Google's keys did not end in time.";
            cache_unlock();
            return KEY_UPSTREAM;
        }
        kr = cached_result(p, kid, pem, why);
        cache_unlock();
        return kr;
    }
    if (!need || now < C.retry_after) {
        kr = cached_result(p, kid, pem, why);
        cache_unlock();
        return kr;
    }
    if (kid_fetch) {
        C.last_kid_fetch = now;
    }
    C.fetching = 1;
    cache_unlock();

    fresh = fetch_keys(p, cfg, &ttl, why);

    if (!cache_lock()) { /* the cache went away meanwhile (shutdown) */
        if (fresh == NULL) {
            return KEY_UPSTREAM;
        }
        *pem = apr_hash_get(fresh, kid, APR_HASH_KEY_STRING);
        *why = "The token's kid is not among Google's keys.";
        return *pem != NULL ? KEY_OK : KEY_UNKNOWN;
    }
    cache_fetch_done(fresh, now, ttl);
    if (fresh != NULL) {
        *pem = apr_hash_get(fresh, kid, APR_HASH_KEY_STRING);
        kr = *pem != NULL ? KEY_OK : KEY_UNKNOWN;
        *why = "The token's kid is not among Google's keys (refetched).";
    }
    else { /* *why says why the fetch failed; a stale set still serves */
        *pem = cached_key(p, kid);
        kr = *pem != NULL ? KEY_OK : C.keys != NULL ? KEY_UNKNOWN : KEY_UPSTREAM;
    }
    cache_unlock();
    return kr;
}

/* ---- the token ------------------------------------------------------------------------------ */

/* Split into three non-empty base64url parts and read the header before any signature work:
 * exactly "alg":"RS256" and a kid, no "crit". The payload is decoded into *claims (the exact
 * bytes that are signed; read only after the signature verified). NULL or the reason. */
static const char *check_token(apr_pool_t *p, const char *token, apr_size_t len, const char **kid,
                               const char **claims, apr_size_t *claims_len)
{
    const char *dot1 = memchr(token, '.', len), *dot2, *alg;
    apr_size_t hlen, plen, slen, n;
    unsigned char *hdr, *payload;
    json_t *h;
    const char *why = NULL;

    if (dot1 == NULL) {
        return "The token is not three parts.";
    }
    dot2 = memchr(dot1 + 1, '.', len - (apr_size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (apr_size_t)(dot2 + 1 - token)) != NULL) {
        return "The token is not three parts.";
    }
    hlen = (apr_size_t)(dot1 - token);
    plen = (apr_size_t)(dot2 - dot1 - 1);
    slen = len - (apr_size_t)(dot2 + 1 - token);
    if (hlen == 0 || plen == 0 || slen == 0) {
        return "A part of the token is empty.";
    }
    /* libjwt 1.10 misbehaves on an empty payload: all three are checked here first */
    if ((payload = dp_b64url_decode(p, dot1 + 1, plen, claims_len)) == NULL || *claims_len == 0
        || dp_b64url_decode(p, dot2 + 1, slen, &n) == NULL || n == 0
        || (hdr = dp_b64url_decode(p, token, hlen, &n)) == NULL || n == 0) {
        return "A part of the token is not base64url.";
    }
    *claims = (const char *)payload;
    h = json_loadb((const char *)hdr, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        return "The token's header is not a JSON object.";
    }
    alg = json_string_value(json_object_get(h, "alg"));
    *kid = json_string_value(json_object_get(h, "kid"));
    if (alg == NULL || strcmp(alg, "RS256") != 0) {
        why = "The token's algorithm is not RS256.";
    }
    else if (!kid_ok(*kid)) {
        why = "The token's header has no usable kid.";
    }
    else if (json_object_get(h, "crit") != NULL) {
        why = "The token's header has crit.";
    }
    else {
        *kid = apr_pstrdup(p, *kid);
    }
    json_decref(h);
    return why;
}

static int aud_ok(json_t *aud, const char *client_id)
{
    size_t i;
    json_t *v;

    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), client_id) == 0;
    }
    if (json_is_array(aud)) {
        json_array_foreach(aud, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), client_id) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

static const char *opt_str(apr_pool_t *p, json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 ? apr_pstrdup(p, json_string_value(v))
                                                          : NULL;
}

/* The claims, from the signed payload. NULL or the reason. */
static const char *check_claims(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *payload,
                                apr_size_t len, long long now, long long leeway,
                                dp_google_identity *out)
{
    json_t *c = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *iss, *exp, *iat, *nbf, *sub, *email, *ev;
    const char *why = NULL;

    if (!json_is_object(c)) {
        json_decref(c);
        return "The token's claims are not a JSON object.";
    }
    iss = json_object_get(c, "iss");
    exp = json_object_get(c, "exp");
    iat = json_object_get(c, "iat");
    nbf = json_object_get(c, "nbf");
    sub = json_object_get(c, "sub");
    email = json_object_get(c, "email");
    ev = json_object_get(c, "email_verified");

    if (!json_is_string(iss)
        || (strcmp(json_string_value(iss), "accounts.google.com") != 0
            && strcmp(json_string_value(iss), "https://accounts.google.com") != 0)) {
        why = "iss is not Google.";
    }
    else if (!aud_ok(json_object_get(c, "aud"), cfg->client_id)) {
        why = "aud is not our client id.";
    }
    else if (!json_is_integer(exp) || !json_is_integer(iat)) {
        why = "exp or iat is missing or not an integer.";
    }
    else if ((long long)json_integer_value(exp) <= now - leeway) {
        why = "The token has expired.";
    }
    else if ((long long)json_integer_value(iat) > now + leeway) {
        why = "The token was issued in the future.";
    }
    else if (nbf != NULL
             && (!json_is_integer(nbf) || (long long)json_integer_value(nbf) > now + leeway)) {
        why = "The token is not valid yet (nbf).";
    }
    else if (!json_is_string(sub) || json_string_length(sub) == 0
             || json_string_length(sub) > MAX_SUB) {
        why = "sub is missing or malformed.";
    }
    else if (!json_is_string(email) || json_string_length(email) == 0
             || json_string_length(email) > MAX_EMAIL) {
        why = "email is missing or malformed.";
    }
    else if (!(json_is_true(ev)
               || (json_is_string(ev) && strcmp(json_string_value(ev), "true") == 0))) {
        why = "The email is not verified.";
    }
    else {
        out->sub = apr_pstrdup(p, json_string_value(sub));
        out->email = apr_pstrdup(p, json_string_value(email));
        out->name = opt_str(p, json_object_get(c, "name"));
        out->picture = opt_str(p, json_object_get(c, "picture"));
        out->email_verified = 1;
    }
    json_decref(c);
    return why;
}

static dp_error *unauthorized(apr_pool_t *p, const char **reason, const char *why)
{
    if (reason != NULL) {
        *reason = why;
    }
    return dp_error_make(p, 401, DP_E_UNAUTHORIZED, NULL, "%s", DP_GOOGLE_ID_DETAIL);
}

dp_error *dp_google_id_verify(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *id_token,
                              long long now, dp_google_identity *out, const char **reason)
{
    const char *kid = NULL, *claims = NULL, *pem = NULL, *why = NULL;
    apr_size_t len, claims_len = 0;
    long long leeway;
    jwt_t *j = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (reason != NULL) {
        *reason = "";
    }
    if (cfg == NULL || cfg->client_id == NULL || cfg->client_id[0] == '\0') {
        if (reason != NULL) {
            *reason = "No Google client id is configured.";
        }
        return dp_error_internal(p);
    }
    leeway = cfg->leeway_s <= 0                   ? DP_GOOGLE_ID_LEEWAY
        : cfg->leeway_s > DP_GOOGLE_ID_MAX_LEEWAY ? DP_GOOGLE_ID_MAX_LEEWAY
                                                  : cfg->leeway_s;
    if (id_token == NULL) {
        return unauthorized(p, reason, "No token.");
    }
    len = strnlen(id_token, DP_GOOGLE_ID_MAX_TOKEN + 1);
    if (len == 0 || len > DP_GOOGLE_ID_MAX_TOKEN) {
        return unauthorized(p, reason, "The token is empty or too long.");
    }
    why = check_token(p, id_token, len, &kid, &claims, &claims_len);
    if (why != NULL) {
        return unauthorized(p, reason, why);
    }

    switch (find_key(p, cfg, kid, now, &pem, &why)) {
    case KEY_OK: break;
    case KEY_UNKNOWN: return unauthorized(p, reason, why);
    default:
        if (reason != NULL) {
            *reason = why;
        }
        return dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                             "Google's sign-in keys could not be fetched.");
    }

    rc = jwt_decode(&j, id_token, (const unsigned char *)pem, (int)strlen(pem));
    if (rc != 0 || j == NULL) {
        jwt_free(j);
        return unauthorized(p, reason, "The signature does not verify under Google's key.");
    }
    rc = jwt_get_alg(j) == JWT_ALG_RS256; /* belt and braces after check_token */
    jwt_free(j);
    if (!rc) {
        return unauthorized(p, reason, "libjwt decoded another algorithm than RS256.");
    }

    why = check_claims(p, cfg, claims, claims_len, now, leeway, out);
    if (why != NULL) {
        memset(out, 0, sizeof(*out));
        return unauthorized(p, reason, why);
    }
    if (reason != NULL) {
        *reason = "ok";
    }
    return NULL;
}
