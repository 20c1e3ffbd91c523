#include "dp_google.h"
#include "dp_http.h"
#include "dp_json.h"

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_MAX_RESPONSE (64 * 1024)
#define EVENT_MAX_RESPONSE (1024 * 1024)
#define TOKEN_MAX_LEN      4096
#define TOKEN_EARLY_SEC    60 /* refresh this long before Google's expiry */
#define ASSERTION_TTL      3600

/* ---- the token cache -----------------------------------------------------------------
 * One hash in its own long-lived pool, guarded by one mutex. A refreshed token reuses its
 * entry's buffer when it fits; each fresh allocation counts as a write, and after
 * DP_GOOGLE_CACHE_MAX writes the pool is cleared whole, which bounds its memory. */

typedef struct cache_entry {
    char *token;
    apr_size_t cap;
    apr_time_t valid_until; /* already 60 s before Google's expiry */
} cache_entry;

static apr_pool_t *cache_pool;
static apr_hash_t *cache;
static int cache_writes;
#if APR_HAS_THREADS
static apr_thread_mutex_t *cache_mutex;
#endif

static apr_status_t cache_forget(void *unused)
{
    (void)unused;
    cache_pool = NULL;
    cache = NULL;
    cache_writes = 0;
#if APR_HAS_THREADS
    cache_mutex = NULL;
#endif
    return APR_SUCCESS;
}

apr_status_t dp_google_init(apr_pool_t *pconf)
{
    apr_status_t rv;
    apr_pool_t *cp;

    rv = apr_pool_create(&cp, pconf);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_tag(cp, "dp_google_cache");
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&cache_mutex, APR_THREAD_MUTEX_DEFAULT, pconf);
    if (rv != APR_SUCCESS) {
        cache_mutex = NULL;
        apr_pool_destroy(cp);
        return rv;
    }
#endif
    cache_pool = cp;
    cache = apr_hash_make(cp);
    cache_writes = 0;
    /* when pconf goes (restart, or the end), the statics must not dangle */
    apr_pool_cleanup_register(pconf, NULL, cache_forget, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* Only dp_google_init and the pconf cleanup, both before or after the threads, set
 * cache_mutex (and cache_pool): reading them unlocked here is safe. cache itself changes
 * under the lock. */
static int cache_lock(void)
{
#if APR_HAS_THREADS
    return cache_mutex != NULL && apr_thread_mutex_lock(cache_mutex) == APR_SUCCESS;
#else
    return cache_pool != NULL; /* no dp_google_init: run without a cache */
#endif
}

static void cache_unlock(void)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(cache_mutex);
#endif
}

void dp_google_cache_clear(void)
{
    if (cache_lock()) {
        apr_pool_clear(cache_pool);
        cache = apr_hash_make(cache_pool);
        cache_writes = 0;
        cache_unlock();
    }
}

/* A copy in p of a still-valid token, or NULL. */
static const char *cache_get(apr_pool_t *p, const char *key)
{
    const char *tok = NULL;

    if (cache_lock()) {
        cache_entry *e = apr_hash_get(cache, key, APR_HASH_KEY_STRING);
        if (e != NULL && e->token[0] != '\0' && apr_time_now() < e->valid_until) {
            tok = apr_pstrdup(p, e->token);
        }
        cache_unlock();
    }
    return tok;
}

static void cache_put(const char *key, const char *token, long long expires_in)
{
    apr_size_t len = strlen(token);

    if (expires_in <= TOKEN_EARLY_SEC || !cache_lock()) {
        return;
    }
    {
        cache_entry *e = apr_hash_get(cache, key, APR_HASH_KEY_STRING);
        if (e == NULL || len >= e->cap) {
            if (cache_writes >= DP_GOOGLE_CACHE_MAX) {
                apr_pool_clear(cache_pool);
                cache = apr_hash_make(cache_pool);
                cache_writes = 0;
                e = NULL;
            }
            if (e == NULL) {
                e = apr_pcalloc(cache_pool, sizeof(*e));
                apr_hash_set(cache, apr_pstrdup(cache_pool, key), APR_HASH_KEY_STRING, e);
            }
            e->cap = len < 256 ? 256 : len + 1;
            e->token = apr_palloc(cache_pool, e->cap);
            cache_writes++;
        }
        memcpy(e->token, token, len + 1);
        e->valid_until = apr_time_now() + apr_time_from_sec(expires_in - TOKEN_EARLY_SEC);
    }
    cache_unlock();
}

/* Drop the entry if it still holds this (refused) token; another thread may have
 * refreshed it meanwhile. */
static void cache_evict(const char *key, const char *token)
{
    if (cache_lock()) {
        cache_entry *e = apr_hash_get(cache, key, APR_HASH_KEY_STRING);
        if (e != NULL && strcmp(e->token, token) == 0) {
            e->token[0] = '\0';
            e->valid_until = 0;
        }
        cache_unlock();
    }
}

/* ---- helpers -------------------------------------------------------------------------- */

static dp_error *fail(apr_pool_t *p, const char *detail)
{
    return dp_error_make(p, 502, DP_E_UPSTREAM, NULL, "%s", detail);
}

/* A short code from an upstream answer (e.g. "invalid_grant", "PERMISSION_DENIED") for an
 * error detail: only [A-Za-z0-9_.-], at most 40 characters, else nothing. */
static const char *safe_code(apr_pool_t *p, const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 40) {
        return NULL;
    }
    for (const char *c = s; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '.' && *c != '-') {
            return NULL;
        }
    }
    return apr_pstrdup(p, s);
}

static const char *form_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
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

/* RFC 6750 b64token: what may follow "Bearer " in a header line, nothing else. */
static int valid_access_token(const char *t)
{
    apr_size_t n = t ? strlen(t) : 0;

    if (n == 0 || n > TOKEN_MAX_LEN) {
        return 0;
    }
    for (apr_size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!apr_isalnum(c) && !strchr("-._~+/", c) && !(c == '=' && i > 0)) {
            return 0;
        }
    }
    return 1;
}

/* https://meet.google.com/<code>, with nothing in it a browser or a mail client could take
 * for anything else. */
static int valid_meet_link(const char *s)
{
    apr_size_t plen = sizeof(DP_GOOGLE_MEET_PREFIX) - 1, n = s ? strlen(s) : 0;

    if (n <= plen || n > 256 || strncmp(s, DP_GOOGLE_MEET_PREFIX, plen) != 0) {
        return 0;
    }
    for (const char *c = s + plen; *c; c++) {
        if (!apr_isalnum(*c) && !strchr("-._~/?=&%", *c)) {
            return 0;
        }
    }
    return 1;
}

static int valid_event_id(const char *s)
{
    apr_size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 1024) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '-') {
            return 0;
        }
    }
    return 1;
}

static long remaining_ms(apr_time_t deadline)
{
    apr_interval_time_t left = deadline - apr_time_now();
    return left > 0 ? (long)apr_time_as_msec(left) : 0;
}

/* ---- the service account -------------------------------------------------------------- */

typedef struct account {
    const char *client_email;
    const char *private_key; /* PEM */
    const char *key_id;      /* private_key_id, or NULL */
    const char *token_url;
    const char *api_base;
} account;

static dp_error *read_key_file(apr_pool_t *p, const dp_google_cfg *cfg, account *a)
{
    json_t *k, *v;
    const char *type, *uri;

    memset(a, 0, sizeof(*a));
    if (cfg == NULL || cfg->key_file_json == NULL) {
        return fail(p, "Google is not configured: no service-account key.");
    }
    k = dp_json_own(p, json_loads(cfg->key_file_json, JSON_REJECT_DUPLICATES, NULL));
    if (k == NULL || !json_is_object(k)) {
        return fail(p, "The Google service-account key file is not a JSON object.");
    }
    type = json_string_value(json_object_get(k, "type"));
    if (json_object_get(k, "type") != NULL
        && (type == NULL || strcmp(type, "service_account") != 0)) {
        return fail(p, "The Google key file is not a service-account key.");
    }
    a->client_email = json_string_value(json_object_get(k, "client_email"));
    a->private_key = json_string_value(json_object_get(k, "private_key"));
    if (a->client_email == NULL || strchr(a->client_email, '@') == NULL || a->private_key == NULL
        || strstr(a->private_key, "-----BEGIN") == NULL) {
        return fail(p, "The Google key file lacks client_email or private_key.");
    }
    v = json_object_get(k, "private_key_id");
    a->key_id = json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
    uri = json_string_value(json_object_get(k, "token_uri"));
    a->token_url = cfg->token_url ? cfg->token_url : (uri && *uri ? uri : DP_GOOGLE_TOKEN_URL);
    a->api_base = cfg->api_base ? cfg->api_base : DP_GOOGLE_API_BASE;
    /* the strings live as long as k, which the pool owns */
    return NULL;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* never prompt on a terminal for an encrypted key */
}

/* The private key must be an RSA key OpenSSL can read, checked here so that a broken key
 * file fails with a clear detail and before anything is sent. */
static int rsa_key_usable(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = NULL;
    int ok = 0;

    if (bio != NULL) {
        pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        ok = pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA;
        EVP_PKEY_free(pk);
        BIO_free(bio);
    }
    return ok;
}

static apr_status_t jwt_cleanup(void *data)
{
    jwt_free((jwt_t *)data);
    return APR_SUCCESS;
}

static const char *sign_assertion(apr_pool_t *p, const account *a, const char *subject)
{
    long now = (long)apr_time_sec(apr_time_now());
    const char *out = NULL;
    jwt_t *j = NULL;
    char *enc;

    if (jwt_new(&j) != 0 || j == NULL) {
        return NULL;
    }
    apr_pool_cleanup_register(p, j, jwt_cleanup, apr_pool_cleanup_null);
    if ((a->key_id == NULL || jwt_add_header(j, "kid", a->key_id) == 0)
        && jwt_add_grant(j, "iss", a->client_email) == 0 && jwt_add_grant(j, "sub", subject) == 0
        && jwt_add_grant(j, "scope", DP_GOOGLE_SCOPE) == 0
        && jwt_add_grant(j, "aud", a->token_url) == 0 && jwt_add_grant_int(j, "iat", now) == 0
        && jwt_add_grant_int(j, "exp", now + ASSERTION_TTL) == 0
        && jwt_set_alg(j, JWT_ALG_RS256, (const unsigned char *)a->private_key,
                       (int)strlen(a->private_key))
            == 0
        && (enc = jwt_encode_str(j)) != NULL) {
        out = apr_pstrdup(p, enc);
        free(enc); /* malloc'd by libjwt */
    }
    apr_pool_cleanup_run(p, j, jwt_cleanup); /* also scrubs libjwt's copy of the key */
    return out;
}

/* Trade a fresh assertion for an access token. */
static dp_error *fetch_token(apr_pool_t *p, const account *a, const char *subject,
                             apr_time_t deadline, const char **token, long long *expires_in)
{
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded",
                                          "Accept: application/json", NULL};
    const char *assertion, *body, *tok;
    dp_http_req req = {0};
    dp_http_resp resp;
    dp_error *e;
    json_t *j, *v;

    if (!rsa_key_usable(a->private_key)) {
        return fail(p, "The Google key file's private_key is not a readable RSA key.");
    }
    assertion = sign_assertion(p, a, subject);
    if (assertion == NULL) {
        return fail(p, "Signing the Google token request failed.");
    }
    body = apr_pstrcat(p, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
                       "&assertion=", form_escape(p, assertion), NULL);
    req.method = "POST";
    req.url = a->token_url;
    req.headers = headers;
    req.body = body;
    req.body_len = strlen(body);
    req.timeout_ms = remaining_ms(deadline);
    req.max_response = TOKEN_MAX_RESPONSE;
    if (req.timeout_ms <= 0) {
        return fail(p, "Google did not answer in time.");
    }
    if ((e = dp_http_do(p, &req, &resp)) != NULL) {
        return e;
    }
    j = dp_json_own(p, json_loadb(resp.body, resp.len, 0, NULL));
    if (resp.status != 200) {
        const char *code = safe_code(p, json_string_value(json_object_get(j, "error")));
        return dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                             "Google refused the token request (HTTP %d%s%s).", resp.status,
                             code ? ", " : "", code ? code : "");
    }
    tok = json_string_value(json_object_get(j, "access_token"));
    v = json_object_get(j, "token_type");
    if (!valid_access_token(tok)
        || (v != NULL && (!json_is_string(v) || strcasecmp(json_string_value(v), "Bearer") != 0))) {
        return fail(p, "Google's token answer holds no usable bearer token.");
    }
    v = json_object_get(j, "expires_in");
    *expires_in = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
    *token = apr_pstrdup(p, tok);
    return NULL;
}

/* ---- the event ------------------------------------------------------------------------- */

static const char *video_entry_uri(json_t *conf)
{
    json_t *eps = json_object_get(conf, "entryPoints"), *ep;
    size_t i;

    json_array_foreach(eps, i, ep)
    {
        const char *type = json_string_value(json_object_get(ep, "entryPointType"));
        if (type != NULL && strcmp(type, "video") == 0) {
            return json_string_value(json_object_get(ep, "uri"));
        }
    }
    return NULL;
}

/* Read the created event: its id, and a Meet link or why there is none. */
static dp_error *read_event(apr_pool_t *p, const dp_http_resp *resp, const char **meet_link,
                            const char **event_id)
{
    json_t *ev = dp_json_own(p, json_loadb(resp->body, resp->len, 0, NULL));
    json_t *conf, *hl;
    const char *id, *link, *status;

    if (ev == NULL || !json_is_object(ev)) {
        return fail(p, "Google's event answer is not a JSON object.");
    }
    id = json_string_value(json_object_get(ev, "id"));
    if (!valid_event_id(id)) {
        return fail(p, "Google's event answer has no usable id.");
    }
    *event_id = apr_pstrdup(p, id);
    conf = json_object_get(ev, "conferenceData");
    hl = json_object_get(ev, "hangoutLink");
    link = hl != NULL ? json_string_value(hl) : video_entry_uri(conf);
    if (link == NULL) {
        status = json_string_value(json_object_get(
            json_object_get(json_object_get(conf, "createRequest"), "status"), "statusCode"));
        if (status != NULL && strcmp(status, "pending") == 0) {
            return fail(p, "The Google Meet conference is still pending.");
        }
        if (status != NULL && strcmp(status, "failure") == 0) {
            return fail(p, "Google could not create the Meet conference.");
        }
        return fail(p, "Google's event has no Meet link.");
    }
    if (!valid_meet_link(link)) {
        return fail(p, "Google's event link is not a Google Meet URL.");
    }
    *meet_link = apr_pstrdup(p, link);
    return NULL;
}

/* One Calendar API request as the token's subject. path lies below the API base; a body,
 * when given, is JSON. */
static dp_error *api_request(apr_pool_t *p, const account *a, const char *token, const char *method,
                             const char *path, const char *body, apr_size_t body_len,
                             apr_time_t deadline, dp_http_resp *resp)
{
    const char *headers[] = {apr_pstrcat(p, "Authorization: Bearer ", token, NULL),
                             "Accept: application/json",
                             body != NULL ? "Content-Type: application/json" : NULL, NULL};
    const char *base = a->api_base;
    apr_size_t n = strlen(base);
    dp_http_req req = {0};

    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    req.method = method;
    req.url = apr_pstrcat(p, apr_pstrndup(p, base, n), path, NULL);
    req.headers = headers;
    req.body = body;
    req.body_len = body_len;
    req.timeout_ms = remaining_ms(deadline);
    req.max_response = EVENT_MAX_RESPONSE;
    if (req.timeout_ms <= 0) {
        return fail(p, "Google did not answer in time.");
    }
    return dp_http_do(p, &req, resp);
}

/* The request with a token for subject: the cached one, else a fresh one. A cached token
 * Google no longer takes (revoked, key rotated) is dropped and the request made once more
 * with a fresh one: a 401 changed nothing on Google's side. On NULL, *resp holds Google's
 * answer, whatever its status (a token refused even fresh is evicted as well). */
static dp_error *calendar_call(apr_pool_t *p, const account *a, const char *subject,
                               const char *method, const char *path, const char *body,
                               apr_size_t body_len, apr_time_t deadline, dp_http_resp *resp)
{
    const char *cache_key = apr_pstrcat(p, a->client_email, "\n", subject, NULL);
    const char *token = cache_get(p, cache_key);
    int from_cache = token != NULL;
    long long expires_in = 0;
    dp_error *e;

    for (;;) {
        if (token == NULL) {
            if ((e = fetch_token(p, a, subject, deadline, &token, &expires_in)) != NULL) {
                return e;
            }
            cache_put(cache_key, token, expires_in);
        }
        if ((e = api_request(p, a, token, method, path, body, body_len, deadline, resp))) {
            return e;
        }
        if (resp->status == 401) {
            cache_evict(cache_key, token);
            if (from_cache) {
                token = NULL;
                from_cache = 0;
                continue;
            }
        }
        return NULL;
    }
}

/* A 502 for a non-2xx answer of the Calendar API: the status and Google's short code. */
static dp_error *refused_by_google(apr_pool_t *p, const dp_http_resp *resp, const char *what)
{
    json_t *j = dp_json_own(p, json_loadb(resp->body, resp->len, 0, NULL));
    const char *code =
        safe_code(p, json_string_value(json_object_get(json_object_get(j, "error"), "status")));

    return dp_error_make(p, 502, DP_E_UPSTREAM, NULL, "Google Calendar refused %s (HTTP %d%s%s).",
                         what, resp->status, code ? ", " : "", code ? code : "");
}

static int valid_subject(const char *s)
{
    return s != NULL && strchr(s, '@') != NULL && strlen(s) <= 320;
}

static apr_time_t deadline_of(const dp_google_cfg *cfg)
{
    long budget = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : DP_GOOGLE_TIMEOUT_MS;
    return apr_time_now() + apr_time_from_msec(budget);
}

/* The path of one event of the subject's primary calendar. */
static const char *event_path(apr_pool_t *p, const char *event_id)
{
    return apr_pstrcat(p, "/calendar/v3/calendars/primary/events/", form_escape(p, event_id), NULL);
}

static const char *event_json(apr_pool_t *p, const char *start, const char *end,
                              const char *summary, const char *request_id, apr_size_t *len)
{
    json_t *ev = dp_json_own(p,
                             json_pack("{s:{s:s}, s:{s:s}, s:{s:{s:s, s:{s:s}}}}", "start",
                                       "dateTime", start, "end", "dateTime", end, "conferenceData",
                                       "createRequest", "requestId", request_id,
                                       "conferenceSolutionKey", "type", "hangoutsMeet"));
    if (ev == NULL
        || (summary != NULL && json_object_set_new(ev, "summary", json_string(summary)) != 0)) {
        return NULL; /* json_string refuses invalid UTF-8: set_new then fails */
    }
    return dp_json_dump(p, ev, len);
}

dp_error *dp_google_meet_create(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject_email,
                                const char *start_rfc3339, const char *end_rfc3339,
                                const char *summary, const char *request_id, const char **meet_link,
                                const char **event_id)
{
    apr_time_t deadline = deadline_of(cfg);
    const char *body;
    apr_size_t body_len;
    dp_http_resp resp;
    account a;
    dp_error *e;

    *meet_link = NULL;
    *event_id = NULL;
    if ((e = read_key_file(p, cfg, &a)) != NULL) {
        return e;
    }
    if (!valid_subject(subject_email) || start_rfc3339 == NULL || end_rfc3339 == NULL
        || request_id == NULL || request_id[0] == '\0' || strlen(request_id) > 1024) {
        return fail(p, "The Google Meet request is incomplete.");
    }
    body = event_json(p, start_rfc3339, end_rfc3339, summary, request_id, &body_len);
    if (body == NULL) {
        return fail(p, "The Google Meet request is not valid UTF-8.");
    }
    if ((e = calendar_call(p, &a, subject_email, "POST",
                           "/calendar/v3/calendars/primary/events?conferenceDataVersion=1", body,
                           body_len, deadline, &resp))
        != NULL) {
        return e;
    }
    if (resp.status < 200 || resp.status > 299) {
        return refused_by_google(p, &resp, "the event");
    }
    return read_event(p, &resp, meet_link, event_id);
}

/* An instant as the API takes it: RFC 3339 date and time (YYYY-MM-DDTHH:MM:SS), then
 * fractions and an offset or Z, of a sane length. */
static int valid_instant(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    apr_size_t n = s ? strlen(s) : 0, i;

    if (n <= sizeof(shape) - 1 || n > 64) {
        return 0;
    }
    for (i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !apr_isdigit(s[i]) : s[i] != shape[i]) {
            return 0;
        }
    }
    for (; i < n; i++) {
        if (!apr_isdigit(s[i]) && !strchr(".:+-Z", s[i])) {
            return 0;
        }
    }
    return 1;
}

dp_error *dp_google_event_move(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject_email,
                               const char *event_id, const char *start_rfc3339,
                               const char *end_rfc3339)
{
    apr_time_t deadline = deadline_of(cfg);
    const char *body;
    apr_size_t body_len;
    dp_http_resp resp;
    json_t *times;
    account a;
    dp_error *e;

    if ((e = read_key_file(p, cfg, &a)) != NULL) {
        return e;
    }
    if (!valid_subject(subject_email) || !valid_event_id(event_id) || !valid_instant(start_rfc3339)
        || !valid_instant(end_rfc3339)) {
        return fail(p, "The Google event move is incomplete or malformed.");
    }
    times = dp_json_own(p,
                        json_pack("{s:{s:s}, s:{s:s}}", "start", "dateTime", start_rfc3339, "end",
                                  "dateTime", end_rfc3339));
    if (times == NULL) {
        return fail(p, "The Google event move could not be written.");
    }
    body = dp_json_dump(p, times, &body_len);
    if ((e = calendar_call(p, &a, subject_email, "PATCH", event_path(p, event_id), body, body_len,
                           deadline, &resp))
        != NULL) {
        return e;
    }
    if (resp.status < 200 || resp.status > 299) {
        return refused_by_google(p, &resp, "to move the event");
    }
    return NULL;
}

dp_error *dp_google_event_delete(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject_email,
                                 const char *event_id)
{
    apr_time_t deadline = deadline_of(cfg);
    dp_http_resp resp;
    account a;
    dp_error *e;

    if ((e = read_key_file(p, cfg, &a)) != NULL) {
        return e;
    }
    if (!valid_subject(subject_email) || !valid_event_id(event_id)) {
        return fail(p, "The Google event deletion is incomplete or malformed.");
    }
    if ((e = calendar_call(p, &a, subject_email, "DELETE", event_path(p, event_id), NULL, 0,
                           deadline, &resp))
        != NULL) {
        return e;
    }
    /* 404 (never there, or purged) and 410 (deleted already): what was asked for holds */
    if ((resp.status >= 200 && resp.status <= 299) || resp.status == 404 || resp.status == 410) {
        return NULL;
    }
    return refused_by_google(p, &resp, "to delete the event");
}
