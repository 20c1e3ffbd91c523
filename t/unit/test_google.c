/* dp_http and dp_google against local fakes: t/fakes/google_fake.pl (started here on a free
 * port, once per mode) and, for TLS verification, `openssl s_server` with a self-signed
 * certificate. The service-account keys are generated here; nothing leaves 127.0.0.1.
 *
 * The suite keeps a little state across its tests (keys, temp dir, the running fake) in
 * its own root pool; the last test tears it down, and an atexit handler kills any child left
 * when only some tests were selected. */
#include "dp_test.h"
#include "fake_http.h"

#include "dp_google.h"
#include "dp_http.h"
#include "dp_json.h"

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <unistd.h>

extern const dp_test_case dp_suite_google[];

#define CLIENT_EMAIL "portal@dp-test.iam.gserviceaccount.com"
#define KEY_ID       "kid-0123456789abcdef"
#define SCOPE        "https://www.googleapis.com/auth/calendar.events"
#define START        "2030-05-06T09:00:00Z"
#define END          "2030-05-06T09:30:00Z"

static struct {
    apr_pool_t *pool; /* lives from the first test to the last */
    int ready;
    char dir[64];          /* temp dir: public key, key files, TLS material */
    const char *pub_path;  /* public half of key_pem, for the fake */
    const char *key_pem;   /* the service account's key (PKCS#8) */
    const char *other_pem; /* another RSA key the fake does not know */
    const char *ec_pem;    /* an EC key: readable, but not RSA */
    dp_fake fake;          /* the running fake */
} S = {.fake = DP_FAKE_NONE};

/* ---- set-up ----------------------------------------------------------------------------- */

static const char *bio_text(apr_pool_t *p, BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    return n > 0 ? apr_pstrmemdup(p, data, (apr_size_t)n) : NULL;
}

/* A fresh key as PKCS#8 PEM; its public half as SubjectPublicKeyInfo PEM if pub != NULL. */
static const char *gen_key(apr_pool_t *p, int rsa, const char **pub)
{
    EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                      : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *b = BIO_new(BIO_s_mem()), *pb = BIO_new(BIO_s_mem());
    const char *pem = NULL;

    if (k != NULL && b != NULL && pb != NULL
        && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1
        && PEM_write_bio_PUBKEY(pb, k) == 1) {
        pem = bio_text(p, b);
        if (pub != NULL) {
            *pub = bio_text(p, pb);
        }
    }
    BIO_free(b);
    BIO_free(pb);
    EVP_PKEY_free(k);
    return pem;
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

static const char *read_file(apr_pool_t *p, const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[16384];
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return apr_pstrmemdup(p, buf, n);
}

static void remove_dir(void)
{
    static const char *const names[] = {"pub.pem", "key.json", "tls.crt", "tls.key", NULL};
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
    dp_fake_stop(&S.fake); /* only when the last test did not run */
    remove_dir();
}

static int setup(void)
{
    const char *pub = NULL;

    if (S.ready) {
        return 1;
    }
    if (apr_pool_create(&S.pool, NULL) != APR_SUCCESS
        || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK
        || dp_google_init(S.pool) != APR_SUCCESS) {
        return 0;
    }
    atexit(at_exit);
    strcpy(S.dir, "/tmp/dp-google-XXXXXX");
    if (mkdtemp(S.dir) == NULL) {
        S.dir[0] = '\0';
        return 0;
    }
    S.key_pem = gen_key(S.pool, 1, &pub);
    S.other_pem = gen_key(S.pool, 1, NULL);
    S.ec_pem = gen_key(S.pool, 0, NULL);
    S.pub_path = apr_pstrcat(S.pool, S.dir, "/pub.pem", NULL);
    if (S.key_pem == NULL || S.other_pem == NULL || S.ec_pem == NULL || pub == NULL
        || !write_file(S.pub_path, pub)) {
        return 0;
    }
    S.ready = 1;
    return 1;
}

/* (Re)start the fake in the given mode; 1 when it said "ready <port>". */
static int fake_start(dp_test_env *env, const char *mode)
{
    const char *argv[] = {"perl",   NULL, "--port",  "0", "--pubkey", NULL,
                          "--mode", mode, "--delay", "1", NULL};

    if (!setup()) {
        return CHECK_MSG(0, "suite set-up failed (keys, temp dir, curl)");
    }
    argv[1] = dp_fake_script(env->pool, env->cases_dir, "DP_GOOGLE_FAKE", "google_fake.pl");
    argv[5] = S.pub_path;
    return dp_fake_spawn(&S.fake, argv, NULL, 0, 10000);
}

static const char *fake_url(apr_pool_t *p, const char *path)
{
    return dp_fake_url(p, &S.fake, path);
}

/* GET or POST one of the fake's own endpoints and parse its JSON answer. */
static json_t *fake_call(apr_pool_t *p, const char *method, const char *path)
{
    return dp_fake_call(p, &S.fake, method, path, NULL);
}

static json_t *fake_log(apr_pool_t *p)
{
    return dp_fake_log(p, &S.fake);
}

static size_t count_path(json_t *log, const char *path)
{
    size_t i, n = 0;
    json_t *e;

    json_array_foreach(log, i, e)
    {
        const char *pth = json_string_value(json_object_get(e, "path"));
        n += pth != NULL && strcmp(pth, path) == 0;
    }
    return n;
}

/* The n-th (0-based) entry of the log for path, or NULL. */
static json_t *nth_entry(json_t *log, const char *path, size_t n)
{
    size_t i;
    json_t *e;

    json_array_foreach(log, i, e)
    {
        const char *pth = json_string_value(json_object_get(e, "path"));
        if (pth != NULL && strcmp(pth, path) == 0 && n-- == 0) {
            return e;
        }
    }
    return NULL;
}

/* String at a dotted path ("jwt.claims.sub") of a JSON object, or NULL. */
static const char *jstr(json_t *j, const char *path)
{
    char buf[128], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        j = json_object_get(j, k);
    }
    return json_string_value(j);
}

static json_t *jget(json_t *j, const char *path)
{
    char buf[128], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        j = json_object_get(j, k);
    }
    return j;
}

/* A service-account key file as Google issues it, written to disk and read back as the
 * module would. token_uri NULL leaves it out. */
static dp_google_cfg *make_cfg(apr_pool_t *p, const char *pem, const char *token_uri,
                               int cfg_token_url)
{
    dp_google_cfg *cfg = apr_pcalloc(p, sizeof(*cfg));
    json_t *k =
        dp_json_own(p,
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
                              "project_id", "dp-test", "private_key_id", KEY_ID, "private_key", pem,
                              "client_email", CLIENT_EMAIL, "client_id", "1234567890"));
    const char *path = apr_pstrcat(p, S.dir, "/key.json", NULL);

    if (token_uri != NULL) {
        json_object_set_new(k, "token_uri", json_string(token_uri));
    }
    CHECK(write_file(path, dp_json_dump(p, k, NULL)));
    cfg->key_file_json = read_file(p, path);
    cfg->api_base = fake_url(p, "");
    cfg->token_url = cfg_token_url ? fake_url(p, "/token") : NULL;
    cfg->timeout_ms = 5000;
    return cfg;
}

/* A failure must be a 502 upstream_error, without a link, and its detail must hold no
 * secret: token, key, assertion, the provider's address. */
static void check_upstream(dp_error *e, const char *link, const char *subject,
                           const char *detail_has)
{
    if (!CHECK_NOT_NULL(e)) {
        return;
    }
    CHECK_EQ(e->status, 502);
    CHECK_STR(e->code, DP_E_UPSTREAM);
    CHECK_NULL(link);
    CHECK_MSG(e->detail != NULL && strstr(e->detail, "fake-") == NULL
                  && strstr(e->detail, "BEGIN") == NULL && strstr(e->detail, "eyJ") == NULL
                  && (subject == NULL || strstr(e->detail, subject) == NULL),
              "detail leaks a secret: %s", e->detail ? e->detail : "(null)");
    if (detail_has != NULL) {
        CHECK_MSG(e->detail != NULL && strstr(e->detail, detail_has) != NULL,
                  "detail \"%s\" lacks \"%s\"", e->detail ? e->detail : "(null)", detail_has);
    }
}

/* ---- dp_http ---------------------------------------------------------------------------- */

static void http_get(dp_test_env *env)
{
    dp_http_req req = {0};
    dp_http_resp resp;

    if (!fake_start(env, "ok")) {
        return;
    }
    req.url = fake_url(env->pool, "/__requests");
    CHECK_NULL(dp_http_do(env->pool, &req, &resp));
    CHECK_EQ(resp.status, 200);
    CHECK_STR(resp.body, "[]");
    CHECK_EQ(resp.len, 2);

    req.url = fake_url(env->pool, "/nowhere");
    CHECK_NULL(dp_http_do(env->pool, &req, &resp)); /* an answer, whatever its status */
    CHECK_EQ(resp.status, 404);
    CHECK(strstr(resp.body, "NOT_FOUND") != NULL);

    req.url = fake_url(env->pool, "/__big?n=0");
    CHECK_NULL(dp_http_do(env->pool, &req, &resp));
    CHECK_EQ(resp.status, 200);
    CHECK_STR(resp.body, "");
    CHECK_EQ(resp.len, 0);
}

static void http_no_redirect(dp_test_env *env)
{
    dp_http_req req = {0};
    dp_http_resp resp;

    if (!fake_start(env, "ok")) {
        return;
    }
    req.url = fake_url(env->pool, "/__redirect");
    CHECK_NULL(dp_http_do(env->pool, &req, &resp));
    CHECK_EQ(resp.status, 302); /* handed back, not followed */
    CHECK_EQ(resp.len, 0);
}

static void http_response_cap(dp_test_env *env)
{
    dp_http_req req = {0};
    dp_http_resp resp;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    req.url = fake_url(env->pool, "/__big?n=100000");
    req.max_response = 1000;
    e = dp_http_do(env->pool, &req, &resp);
    if (CHECK_NOT_NULL(e)) {
        CHECK_EQ(e->status, 502);
        CHECK_STR(e->code, DP_E_UPSTREAM);
        CHECK(strstr(e->detail, "1000 bytes") != NULL);
    }
    CHECK_EQ(resp.status, 0);
    CHECK_STR(resp.body, "");

    req.max_response = 100000; /* exactly the cap is fine */
    CHECK_NULL(dp_http_do(env->pool, &req, &resp));
    CHECK_EQ(resp.status, 200);
    CHECK_EQ(resp.len, 100000);
    CHECK_EQ(strlen(resp.body), 100000);

    req.url = fake_url(env->pool, "/__big?n=100001");
    CHECK_NOT_NULL(dp_http_do(env->pool, &req, &resp));
}

static void http_timeout(dp_test_env *env)
{
    dp_http_req req = {0};
    dp_http_resp resp;
    apr_time_t t0;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    req.url = fake_url(env->pool, "/__sleep?ms=1500");
    req.timeout_ms = 200;
    t0 = apr_time_now();
    e = dp_http_do(env->pool, &req, &resp);
    CHECK_MSG(apr_time_now() - t0 < apr_time_from_msec(1000), "the timeout was not enforced");
    if (CHECK_NOT_NULL(e)) {
        CHECK_EQ(e->status, 502);
        CHECK_STR(e->code, DP_E_UPSTREAM);
        CHECK_MSG(strstr(e->detail, "200 ms") != NULL, "detail: %s", e->detail);
    }
}

static void http_protocols(dp_test_env *env)
{
    static const char *const urls[] = {"file:///etc/passwd", "ftp://127.0.0.1/x",
                                       "dict://127.0.0.1/x", "gopher://127.0.0.1/x",
                                       "ldap://127.0.0.1/x", NULL};
    dp_http_req req = {0};
    dp_http_resp resp;

    for (int i = 0; urls[i] != NULL; i++) {
        dp_error *e;
        req.url = urls[i];
        e = dp_http_do(env->pool, &req, &resp);
        dp_t_context(urls[i]);
        if (CHECK_NOT_NULL(e)) { /* refused by curl's protocol list, not by a failed connect */
            CHECK_EQ(e->status, 502);
            CHECK_STR(e->code, DP_E_UPSTREAM);
            CHECK_MSG(strstr(e->detail, "only http and https") != NULL, "detail: %s", e->detail);
        }
        CHECK_STR(resp.body, "");
    }
    dp_t_context(NULL);
}

static void http_refused_detail(dp_test_env *env)
{
    dp_http_req req = {0};
    dp_http_resp resp;
    dp_error *e;
    int port = dp_fake_free_port();

    req.url =
        apr_psprintf(env->pool, "http://user:s3cretpw@127.0.0.1:%d/path/X-ID?token=SECRET", port);
    e = dp_http_do(env->pool, &req, &resp);
    if (CHECK_NOT_NULL(e)) {
        CHECK_EQ(e->status, 502);
        CHECK_STR(e->code, DP_E_UPSTREAM);
        CHECK_MSG(strstr(e->detail, "s3cretpw") == NULL && strstr(e->detail, "SECRET") == NULL
                      && strstr(e->detail, "X-ID") == NULL && strstr(e->detail, "user") == NULL,
                  "detail leaks the URL: %s", e->detail);
        CHECK_MSG(strstr(e->detail, "127.0.0.1") != NULL, "detail names no host: %s", e->detail);
    }
}

static void http_bad_request(dp_test_env *env)
{
    const char *const bad_header[] = {"X-Ok: 1", "X-Evil: a\r\nHost: evil", NULL};
    const char *const no_colon[] = {"NoColon", NULL};
    dp_http_req req = {0};
    dp_http_resp resp;
    dp_error *e;

    req.url = "http://127.0.0.1:9/";
    req.headers = bad_header;
    e = dp_http_do(env->pool, &req, &resp);
    CHECK(e != NULL && e->status == 500);
    req.headers = no_colon;
    e = dp_http_do(env->pool, &req, &resp);
    CHECK(e != NULL && e->status == 500);
    req.headers = NULL;
    req.method = "GET /x HTTP/1.1\r\n";
    e = dp_http_do(env->pool, &req, &resp);
    CHECK(e != NULL && e->status == 500);
    req.method = NULL;
    req.url = NULL;
    e = dp_http_do(env->pool, &req, &resp);
    CHECK(e != NULL && e->status == 500);
}

/* TLS: a self-signed server must be refused (peer and host verification are on). */
static void http_tls_verified(dp_test_env *env)
{
    const char *crt, *key, *cmd;
    dp_http_req req = {0};
    dp_http_resp resp;
    dp_error *e;
    dp_fake tls = DP_FAKE_NONE;
    const char *argv[] = {"openssl", "s_server", "-accept", NULL,       "-cert", NULL,
                          "-key",    NULL,       "-www",    "-naccept", "2",     NULL};

    if (!setup()) {
        CHECK_MSG(0, "suite set-up failed");
        return;
    }
    crt = apr_pstrcat(env->pool, S.dir, "/tls.crt", NULL);
    key = apr_pstrcat(env->pool, S.dir, "/tls.key", NULL);
    cmd = apr_psprintf(env->pool,
                       "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                       "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
                       key, crt);
    if (!CHECK_MSG(system(cmd) == 0, "openssl req failed")) {
        return;
    }
    tls.port = dp_fake_free_port();
    argv[3] = apr_psprintf(env->pool, "127.0.0.1:%d", tls.port);
    argv[5] = crt;
    argv[7] = key;
    if (dp_fake_spawn(&tls, argv, "ACCEPT", DP_FAKE_QUIET, 10000)) {
        req.url = apr_psprintf(env->pool, "https://127.0.0.1:%d/", tls.port);
        req.timeout_ms = 5000;
        e = dp_http_do(env->pool, &req, &resp);
        if (CHECK_NOT_NULL(e)) {
            CHECK_EQ(e->status, 502);
            CHECK_MSG(strstr(e->detail, "certificate") != NULL, "not a TLS refusal: %s", e->detail);
        }
    }
    dp_fake_stop(&tls);
    unlink(crt);
    unlink(key);
}

/* ---- dp_google ---------------------------------------------------------------------------- */

static void meet_ok(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *subject = "dr.ok@clinic.example", *link = NULL, *id = NULL;
    dp_google_cfg *cfg;
    json_t *log, *tok, *ev;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    e = dp_google_meet_create(p, cfg, subject, START, END, "Consultation", "req-ok-1", &link, &id);
    if (!CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "")) {
        return;
    }
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 2);
    tok = nth_entry(log, "/token", 0);
    ev = nth_entry(log, "/calendar/v3/calendars/primary/events", 0);
    if (!CHECK_NOT_NULL(tok) || !CHECK_NOT_NULL(ev)) {
        return;
    }
    /* what came back is what the fake answered */
    CHECK(link != NULL && strncmp(link, DP_GOOGLE_MEET_PREFIX, strlen(DP_GOOGLE_MEET_PREFIX)) == 0);
    CHECK_STR(link, jstr(ev, "response.hangoutLink"));
    CHECK_STR(id, jstr(ev, "response.id"));

    /* the token request */
    CHECK_STR(jstr(tok, "method"), "POST");
    CHECK_EQ(json_integer_value(json_object_get(tok, "status")), 200);
    CHECK_STR(jstr(tok, "headers.content-type"), "application/x-www-form-urlencoded");
    CHECK_STR(jstr(tok, "body.grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
    CHECK(json_is_true(jget(tok, "jwt.verified")));
    CHECK_EQ(json_array_size(jget(tok, "problems")), 0);
    CHECK_STR(jstr(tok, "jwt.header.alg"), "RS256");
    CHECK_STR(jstr(tok, "jwt.header.kid"), KEY_ID);
    CHECK_STR(jstr(tok, "jwt.claims.iss"), CLIENT_EMAIL);
    CHECK_STR(jstr(tok, "jwt.claims.sub"), subject);
    CHECK_STR(jstr(tok, "jwt.claims.scope"), SCOPE);
    CHECK_STR(jstr(tok, "jwt.claims.aud"), fake_url(p, "/token"));
    {
        json_int_t iat = json_integer_value(jget(tok, "jwt.claims.iat"));
        json_int_t exp = json_integer_value(jget(tok, "jwt.claims.exp"));
        json_int_t now = (json_int_t)apr_time_sec(apr_time_now());
        CHECK_EQ(exp - iat, 3600);
        CHECK(iat <= now && iat > now - 60);
    }

    /* the event request */
    CHECK_STR(jstr(ev, "method"), "POST");
    CHECK_EQ(json_integer_value(json_object_get(ev, "status")), 200);
    CHECK_STR(jstr(ev, "query.conferenceDataVersion"), "1");
    CHECK(jstr(ev, "headers.authorization") != NULL
          && strncmp(jstr(ev, "headers.authorization"), "Bearer fake-", 12) == 0);
    CHECK_STR(jstr(ev, "headers.content-type"), "application/json");
    CHECK_STR(jstr(ev, "headers.user-agent"), "mod_docportal");
    CHECK_NULL(jstr(tok, "headers.expect"));
    CHECK_STR(jstr(ev, "body.summary"), "Consultation");
    CHECK_STR(jstr(ev, "body.start.dateTime"), START);
    CHECK_STR(jstr(ev, "body.end.dateTime"), END);
    CHECK_STR(jstr(ev, "body.conferenceData.createRequest.requestId"), "req-ok-1");
    CHECK_STR(jstr(ev, "body.conferenceData.createRequest.conferenceSolutionKey.type"),
              "hangoutsMeet");
    CHECK_EQ(json_object_size(jget(ev, "body")), 4); /* summary, start, end, conferenceData */
}

static void meet_token_cached(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *subject = "dr.cache@clinic.example";
    const char *l1 = NULL, *l2 = NULL, *l3 = NULL, *id = NULL;
    dp_google_cfg *cfg;
    json_t *log;

    if (!fake_start(env, "ok")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    CHECK_NULL(dp_google_meet_create(p, cfg, subject, START, END, NULL, "req-c-1", &l1, &id));
    CHECK_NULL(dp_google_meet_create(p, cfg, subject, START, END, NULL, "req-c-2", &l2, &id));
    log = fake_log(p);
    CHECK_EQ(count_path(log, "/token"), 1);
    CHECK_EQ(count_path(log, "/calendar/v3/calendars/primary/events"), 2);
    CHECK_STR(
        jstr(nth_entry(log, "/calendar/v3/calendars/primary/events", 0), "headers.authorization"),
        jstr(nth_entry(log, "/calendar/v3/calendars/primary/events", 1), "headers.authorization"));
    CHECK(l1 != NULL && l2 != NULL && strcmp(l1, l2) != 0); /* one link per request id */
    /* no summary given: none sent */
    CHECK_NULL(jget(nth_entry(log, "/calendar/v3/calendars/primary/events", 0), "body.summary"));

    /* the cache is per provider: another subject needs its own token */
    CHECK_NULL(dp_google_meet_create(p, cfg, "dr.other@clinic.example", START, END, NULL, "req-c-3",
                                     &l3, &id));
    log = fake_log(p);
    CHECK_EQ(count_path(log, "/token"), 2);
    CHECK_STR(jstr(nth_entry(log, "/token", 1), "jwt.claims.sub"), "dr.other@clinic.example");
}

/* A cached token the upstream no longer takes (here: a new fake that never issued it) is
 * dropped, and the call succeeds with a fresh one. */
static void meet_stale_cached_token(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *subject = "dr.stale@clinic.example", *link = NULL, *id = NULL;
    json_t *log;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    CHECK_NULL(dp_google_meet_create(p, make_cfg(p, S.key_pem, NULL, 1), subject, START, END, NULL,
                                     "req-s-1", &link, &id));
    if (!fake_start(env, "ok")) {
        return;
    }
    e = dp_google_meet_create(p, make_cfg(p, S.key_pem, NULL, 1), subject, START, END, NULL,
                              "req-s-2", &link, &id);
    CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "");
    CHECK_NOT_NULL(link);
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 3);
    CHECK_STR(jstr(json_array_get(log, 0), "path"), "/calendar/v3/calendars/primary/events");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 0), "status")), 401);
    CHECK_STR(jstr(json_array_get(log, 1), "path"), "/token");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 2), "status")), 200);
}

static void meet_token_uri_from_key_file(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *link = NULL, *id = NULL;
    json_t *log;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    e = dp_google_meet_create(p, make_cfg(p, S.key_pem, fake_url(p, "/token"), 0),
                              "dr.uri@clinic.example", START, END, NULL, "req-u-1", &link, &id);
    CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "");
    log = fake_log(p);
    CHECK_EQ(count_path(log, "/token"), 1);
    CHECK_STR(jstr(nth_entry(log, "/token", 0), "jwt.claims.aud"), fake_url(p, "/token"));
}

static void meet_entry_point_link(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *link = NULL, *id = NULL;
    json_t *log;
    dp_error *e;

    if (!fake_start(env, "entry_only")) {
        return;
    }
    e = dp_google_meet_create(p, make_cfg(p, S.key_pem, NULL, 1), "dr.ep@clinic.example", START,
                              END, NULL, "req-e-1", &link, &id);
    CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "");
    log = fake_log(p);
    CHECK_NULL(
        jstr(nth_entry(log, "/calendar/v3/calendars/primary/events", 0), "response.hangoutLink"));
    CHECK_STR(link,
              jstr(nth_entry(log, "/calendar/v3/calendars/primary/events", 0), "response.link"));
}

typedef struct thread_job {
    const dp_google_cfg *cfg;
    int n, ok;
} thread_job;

static void *APR_THREAD_FUNC meet_thread(apr_thread_t *t, void *data)
{
    thread_job *job = data;
    apr_pool_t *p;

    (void)t;
    /* its own allocator, like an httpd worker's pool */
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        const char *link = NULL, *id = NULL;
        dp_error *e =
            dp_google_meet_create(p, job->cfg, "dr.threads@clinic.example", START, END, NULL,
                                  apr_psprintf(p, "req-t-%d-%d", job->n, i), &link, &id);
        job->ok += e == NULL && link != NULL;
    }
    apr_pool_destroy(p);
    return NULL; /* not apr_thread_exit: its pthread_exit trips GCC 12's ASan on thread exit */
}

/* Threads share the token cache: all succeed, and the subject's token is fetched once per
 * thread at most (usually once). */
static void meet_threads(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    apr_thread_t *threads[4];
    thread_job jobs[4];
    dp_google_cfg *cfg;
    json_t *log;
    size_t tokens;

    if (!fake_start(env, "ok")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    for (int i = 0; i < 4; i++) {
        jobs[i].cfg = cfg;
        jobs[i].n = i;
        jobs[i].ok = 0;
        CHECK_EQ(apr_thread_create(&threads[i], NULL, meet_thread, &jobs[i], p), APR_SUCCESS);
    }
    for (int i = 0; i < 4; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, threads[i]);
        CHECK_EQ(jobs[i].ok, 3);
    }
    log = fake_log(p);
    tokens = count_path(log, "/token");
    CHECK(tokens >= 1 && tokens <= 4);
    CHECK_EQ(count_path(log, "/calendar/v3/calendars/primary/events"), 12);
}

/* Each failure mode of the fake: a 502, no link, the right story in the detail. */
static void meet_failures(dp_test_env *env)
{
    static const struct {
        const char *mode, *detail, *token_status;
        int events, event_created;
    } cases[] = {
        {"token_fail", "invalid_grant",             "400", 0, 0},
        {"api_fail",   "HTTP 500, INTERNAL",        "200", 1, 0},
        {"api_401",    "HTTP 401, UNAUTHENTICATED", "200", 1, 0},
        {"no_link",    "no Meet link",              "200", 1, 1},
        {"pending",    "pending",                   "200", 1, 1},
        {"bad_link",   "not a Google Meet URL",     "200", 1, 1},
    };
    apr_pool_t *p = env->pool;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *subject = apr_psprintf(p, "dr.fail%d@clinic.example", (int)i);
        const char *link = "unset", *id = "unset";
        json_t *log;
        dp_error *e;

        dp_t_context(cases[i].mode);
        if (!fake_start(env, cases[i].mode)) {
            continue;
        }
        e = dp_google_meet_create(p, make_cfg(p, S.key_pem, NULL, 1), subject, START, END, "x",
                                  apr_psprintf(p, "req-f-%d", (int)i), &link, &id);
        check_upstream(e, link, subject, cases[i].detail);
        CHECK_MSG((id != NULL) == cases[i].event_created, "event id: %s", id ? id : "(null)");
        log = fake_log(p);
        CHECK_EQ(count_path(log, "/token"), 1);
        CHECK_EQ(json_integer_value(json_object_get(nth_entry(log, "/token", 0), "status")),
                 atoi(cases[i].token_status));
        CHECK_EQ(count_path(log, "/calendar/v3/calendars/primary/events"), cases[i].events);
    }
    dp_t_context(NULL);
}

static void meet_slow(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *link = NULL, *id = NULL;
    dp_google_cfg *cfg;
    apr_time_t t0;
    dp_error *e;

    if (!fake_start(env, "slow")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    cfg->timeout_ms = 300;
    t0 = apr_time_now();
    e = dp_google_meet_create(p, cfg, "dr.slow@clinic.example", START, END, NULL, "req-sl-1", &link,
                              &id);
    CHECK_MSG(apr_time_now() - t0 < apr_time_from_msec(900), "the budget was not enforced");
    check_upstream(e, link, "dr.slow@clinic.example", "ms");
}

/* A signature under a key the fake does not know is refused by the fake: proves it checks. */
static void meet_wrong_key(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *link = NULL, *id = NULL;
    json_t *log;

    if (!fake_start(env, "ok")) {
        return;
    }
    check_upstream(dp_google_meet_create(p, make_cfg(p, S.other_pem, NULL, 1),
                                         "dr.wrong@clinic.example", START, END, NULL, "req-w-1",
                                         &link, &id),
                   link, "dr.wrong@clinic.example", "invalid_grant");
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 1);
    CHECK(json_is_false(jget(nth_entry(log, "/token", 0), "jwt.verified")));
}

/* Broken key files and arguments fail before anything is sent. */
static void meet_bad_input(dp_test_env *env)
{
    static const char broken_pem[] =
        "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAq7BF\n"
        "-----END PRIVATE KEY-----\n";
    apr_pool_t *p = env->pool;
    const char *link = NULL, *id = NULL, *s = "dr.bad@clinic.example";
    dp_google_cfg *cfg;

    if (!fake_start(env, "ok")) {
        return;
    }
    dp_t_context("broken private key");
    check_upstream(dp_google_meet_create(p, make_cfg(p, broken_pem, NULL, 1), s, START, END, NULL,
                                         "r", &link, &id),
                   link, s, "private_key");
    dp_t_context("EC private key");
    check_upstream(dp_google_meet_create(p, make_cfg(p, S.ec_pem, NULL, 1), s, START, END, NULL,
                                         "r", &link, &id),
                   link, s, "RSA");
    dp_t_context("not JSON");
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    cfg->key_file_json = "{\"type\": \"service_account\", ";
    check_upstream(dp_google_meet_create(p, cfg, s, START, END, NULL, "r", &link, &id), link, s,
                   "JSON");
    dp_t_context("no client_email");
    cfg->key_file_json = dp_json_dump(
        p,
        dp_json_own(p,
                    json_pack("{s:s, s:s}", "type", "service_account", "private_key", S.key_pem)),
        NULL);
    check_upstream(dp_google_meet_create(p, cfg, s, START, END, NULL, "r", &link, &id), link, s,
                   "client_email");
    dp_t_context("not a service account");
    cfg->key_file_json = "{\"type\":\"authorized_user\",\"client_id\":\"x\"}";
    check_upstream(dp_google_meet_create(p, cfg, s, START, END, NULL, "r", &link, &id), link, s,
                   NULL);
    dp_t_context("no key at all");
    cfg->key_file_json = NULL;
    check_upstream(dp_google_meet_create(p, cfg, s, START, END, NULL, "r", &link, &id), link, s,
                   NULL);
    check_upstream(dp_google_meet_create(p, NULL, s, START, END, NULL, "r", &link, &id), link, s,
                   NULL);

    cfg = make_cfg(p, S.key_pem, NULL, 1);
    dp_t_context("no subject");
    check_upstream(dp_google_meet_create(p, cfg, NULL, START, END, NULL, "r", &link, &id), link,
                   NULL, NULL);
    dp_t_context("subject not an address");
    check_upstream(dp_google_meet_create(p, cfg, "nobody", START, END, NULL, "r", &link, &id), link,
                   NULL, NULL);
    dp_t_context("no request id");
    check_upstream(dp_google_meet_create(p, cfg, s, START, END, NULL, "", &link, &id), link, s,
                   NULL);
    dp_t_context("no end");
    check_upstream(dp_google_meet_create(p, cfg, s, START, NULL, NULL, "r", &link, &id), link, s,
                   NULL);
    dp_t_context("summary not UTF-8");
    check_upstream(dp_google_meet_create(p, cfg, s, START, END, "caf\xe9", "r", &link, &id), link,
                   s, "UTF-8");
    dp_t_context(NULL);
    CHECK_EQ(json_array_size(fake_log(p)), 0); /* nothing reached the fake */
}

/* Nothing answers at the configured URLs: a 502, promptly. */
static void meet_unreachable(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *link = NULL, *id = NULL;
    dp_google_cfg *cfg;

    if (!setup()) {
        CHECK_MSG(0, "suite set-up failed");
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 0);
    cfg->token_url = apr_psprintf(p, "http://127.0.0.1:%d/token", dp_fake_free_port());
    check_upstream(
        dp_google_meet_create(p, cfg, "dr.none@clinic.example", START, END, NULL, "r", &link, &id),
        link, "dr.none@clinic.example", "127.0.0.1");
}

/* ---- moving and deleting an event ------------------------------------------------------- */

#define EVENTS_PATH "/calendar/v3/calendars/primary/events"
#define START2      "2030-05-07T14:00:00.000Z"
#define END2        "2030-05-07T14:50:00.000Z"

/* An event in subject's calendar on the running fake, and a fresh request log. */
static const char *event_made(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject,
                              const char *request_id)
{
    const char *link = NULL, *id = NULL;
    dp_error *e = dp_google_meet_create(p, cfg, subject, START, END, NULL, request_id, &link, &id);

    CHECK_MSG(e == NULL && id != NULL, "event not created: %s", e ? e->detail : "no id");
    fake_call(p, "POST", "/__reset");
    return id;
}

/* The fake's record of one event (organizer, start, end, deleted). */
static json_t *fake_event(apr_pool_t *p, const char *id)
{
    return json_object_get(fake_call(p, "GET", "/__events"), id);
}

static void event_move_ok(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *subject = "dr.move@clinic.example", *id;
    dp_google_cfg *cfg;
    json_t *log, *ev;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    if ((id = event_made(p, cfg, subject, "req-m-1")) == NULL) {
        return;
    }
    e = dp_google_event_move(p, cfg, subject, id, START2, END2);
    CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "");
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 1); /* the creation's token, from the cache */
    ev = json_array_get(log, 0);
    CHECK_STR(jstr(ev, "method"), "PATCH");
    CHECK_STR(jstr(ev, "path"), apr_pstrcat(p, EVENTS_PATH "/", id, NULL));
    CHECK_STR(jstr(ev, "event_id"), id);
    CHECK_EQ(json_integer_value(json_object_get(ev, "status")), 200);
    CHECK_EQ(json_object_size(jget(ev, "query")), 0);
    CHECK(jstr(ev, "headers.authorization") != NULL
          && strncmp(jstr(ev, "headers.authorization"), "Bearer fake-", 12) == 0);
    CHECK_STR(jstr(ev, "headers.content-type"), "application/json");
    CHECK_STR(jstr(ev, "headers.user-agent"), "mod_docportal");
    /* start and end only: the conference, summary and the rest stay as they are */
    CHECK_EQ(json_object_size(jget(ev, "body")), 2);
    CHECK_EQ(json_object_size(jget(ev, "body.start")), 1);
    CHECK_EQ(json_object_size(jget(ev, "body.end")), 1);
    CHECK_STR(jstr(ev, "body.start.dateTime"), START2);
    CHECK_STR(jstr(ev, "body.end.dateTime"), END2);
    ev = fake_event(p, id);
    CHECK_STR(jstr(ev, "start"), START2);
    CHECK_STR(jstr(ev, "end"), END2);
    CHECK(json_is_false(json_object_get(ev, "deleted")));

    /* another provider's calendar has no such event: Google's 404 is a failure for a move */
    check_upstream(dp_google_event_move(p, cfg, "dr.someone.else@clinic.example", id, START, END),
                   NULL, "dr.someone.else@clinic.example", "HTTP 404, NOT_FOUND");
    CHECK_STR(jstr(fake_event(p, id), "start"), START2);
}

static void event_delete_ok(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *subject = "dr.delete@clinic.example", *id;
    dp_google_cfg *cfg;
    json_t *log, *ev;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    if ((id = event_made(p, cfg, subject, "req-d-1")) == NULL) {
        return;
    }
    e = dp_google_event_delete(p, cfg, subject, id);
    CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "");
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 1);
    ev = json_array_get(log, 0);
    CHECK_STR(jstr(ev, "method"), "DELETE");
    CHECK_STR(jstr(ev, "path"), apr_pstrcat(p, EVENTS_PATH "/", id, NULL));
    CHECK_EQ(json_integer_value(json_object_get(ev, "status")), 204);
    CHECK(jstr(ev, "headers.authorization") != NULL
          && strncmp(jstr(ev, "headers.authorization"), "Bearer fake-", 12) == 0);
    CHECK_NULL(jstr(ev, "headers.content-type")); /* no body */
    CHECK_NULL(jget(ev, "body"));
    CHECK(json_is_true(json_object_get(fake_event(p, id), "deleted")));

    /* deleted already (410), never there (404): gone is gone */
    dp_t_context("deleted twice");
    CHECK_NULL(dp_google_event_delete(p, cfg, subject, id));
    log = fake_log(p);
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 1), "status")), 410);
    dp_t_context("unknown id");
    CHECK_NULL(dp_google_event_delete(p, cfg, subject, "nosuchevent0123"));
    log = fake_log(p);
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 2), "status")), 404);
    dp_t_context("the longest id taken");
    {
        char *longest = apr_palloc(p, 1025);
        memset(longest, 'a', 1024);
        longest[1024] = '\0';
        CHECK_NULL(dp_google_event_delete(p, cfg, subject, longest));
        CHECK_EQ(json_array_size(fake_log(p)), 4);
    }
    dp_t_context("moving a deleted event");
    check_upstream(dp_google_event_move(p, cfg, subject, id, START2, END2), NULL, subject,
                   "HTTP 404");
    dp_t_context(NULL);
}

/* A cached token the upstream no longer takes is dropped and the call made again, as for a
 * creation. (The new fake has no events: the deletion then meets a 404, which is success.) */
static void event_stale_cached_token(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *subject = "dr.stale.ev@clinic.example", *id;
    json_t *log;
    dp_error *e;

    if (!fake_start(env, "ok")) {
        return;
    }
    if ((id = event_made(p, make_cfg(p, S.key_pem, NULL, 1), subject, "req-se-1")) == NULL
        || !fake_start(env, "ok")) {
        return;
    }
    e = dp_google_event_delete(p, make_cfg(p, S.key_pem, NULL, 1), subject, id);
    CHECK_MSG(e == NULL, "error: %s", e ? e->detail : "");
    log = fake_log(p);
    CHECK_EQ(json_array_size(log), 3);
    CHECK_STR(jstr(json_array_get(log, 0), "method"), "DELETE");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 0), "status")), 401);
    CHECK_STR(jstr(json_array_get(log, 1), "path"), "/token");
    CHECK_STR(jstr(json_array_get(log, 2), "method"), "DELETE");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 2), "status")), 404);
    CHECK_STR(jstr(json_array_get(log, 0), "path"), jstr(json_array_get(log, 2), "path"));
}

/* Each failure mode: a 502 naming what Google said, never a secret. */
static void event_failures(dp_test_env *env)
{
    static const struct {
        const char *mode, *detail;
        int tokens, calls; /* what reaches the fake for one move (or one deletion) */
    } cases[] = {
        {"change_fail", "HTTP 500, INTERNAL",        0, 1},
        {"api_fail",    "HTTP 500, INTERNAL",        1, 1},
        {"api_401",     "HTTP 401, UNAUTHENTICATED", 1, 1},
        {"token_fail",  "invalid_grant",             1, 0},
    };
    apr_pool_t *p = env->pool;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *subject = apr_psprintf(p, "dr.evfail%d@clinic.example", (int)i);
        const char *id = "eventid0123456789";
        dp_google_cfg *cfg;
        json_t *log;

        dp_t_context(cases[i].mode);
        if (!fake_start(env, "ok")) {
            continue;
        }
        cfg = make_cfg(p, S.key_pem, NULL, 1);
        if (cases[i].tokens == 0 /* a live event, its token cached */
            && (id = event_made(p, cfg, subject, apr_psprintf(p, "req-ef-%d", (int)i))) == NULL) {
            continue;
        }
        fake_call(p, "POST", apr_pstrcat(p, "/__mode?mode=", cases[i].mode, NULL));
        check_upstream(dp_google_event_move(p, cfg, subject, id, START2, END2), NULL, subject,
                       cases[i].detail);
        log = fake_log(p);
        CHECK_EQ(count_path(log, "/token"), cases[i].tokens);
        CHECK_EQ(json_array_size(log), cases[i].tokens + cases[i].calls);
        fake_call(p, "POST", "/__reset");
        dp_google_cache_clear(); /* the deletion fetches a token of its own */
        if (cases[i].tokens == 0) {
            check_upstream(dp_google_event_delete(p, cfg, subject, id), NULL, subject,
                           cases[i].detail);
            log = fake_log(p);
            CHECK_EQ(count_path(log, "/token"), 1);
            CHECK_EQ(json_integer_value(json_object_get(json_array_get(log, 1), "status")), 500);
            CHECK(json_is_false(json_object_get(fake_event(p, id), "deleted")));
        }
        else {
            check_upstream(dp_google_event_delete(p, cfg, subject, id), NULL, subject,
                           cases[i].detail);
            CHECK_EQ(json_array_size(fake_log(p)), cases[i].tokens + cases[i].calls);
        }
    }
    dp_t_context(NULL);
}

static void event_slow(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_google_cfg *cfg;
    apr_time_t t0;

    if (!fake_start(env, "slow")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    cfg->timeout_ms = 300;
    t0 = apr_time_now();
    check_upstream(dp_google_event_delete(p, cfg, "dr.slow.ev@clinic.example", "evslow0123"), NULL,
                   "dr.slow.ev@clinic.example", "ms");
    t0 = apr_time_now() - t0;
    CHECK_MSG(t0 < apr_time_from_msec(900), "the budget was not enforced (deletion)");
    t0 = apr_time_now();
    check_upstream(
        dp_google_event_move(p, cfg, "dr.slow.ev@clinic.example", "evslow0123", START2, END2), NULL,
        "dr.slow.ev@clinic.example", "ms");
    CHECK_MSG(apr_time_now() - t0 < apr_time_from_msec(900), "the budget was not enforced (move)");
}

/* Malformed ids, subjects, instants and configurations fail before anything is sent: an id
 * is never a path of its own ("../", "/", "?", "%"). */
static void event_bad_input(dp_test_env *env)
{
    static const char *const bad_ids[] = {"",
                                          "a/b",
                                          "../../users/me/calendarList",
                                          "id?x=1",
                                          "id#x",
                                          "a b",
                                          "a%2Fb",
                                          "a.b",
                                          "caf\xc3\xa9",
                                          "a\r\nX-Evil: 1",
                                          NULL};
    static const char *const bad_instants[] = {
        "", "2030-05-07", "2030-05-07 14:00:00Z", "2030-05-07T14:00:00Z\"}", "tomorrow at 9", NULL};
    apr_pool_t *p = env->pool;
    const char *s = "dr.bad.ev@clinic.example", *ok_id = "okid0123";
    char *too_long;
    dp_google_cfg *cfg;

    if (!fake_start(env, "ok")) {
        return;
    }
    cfg = make_cfg(p, S.key_pem, NULL, 1);
    for (int i = 0; bad_ids[i] != NULL; i++) {
        dp_t_context(apr_psprintf(p, "event id \"%s\"", bad_ids[i]));
        check_upstream(dp_google_event_move(p, cfg, s, bad_ids[i], START2, END2), NULL, s,
                       "malformed");
        check_upstream(dp_google_event_delete(p, cfg, s, bad_ids[i]), NULL, s, "malformed");
    }
    dp_t_context("event id NULL");
    check_upstream(dp_google_event_move(p, cfg, s, NULL, START2, END2), NULL, s, NULL);
    check_upstream(dp_google_event_delete(p, cfg, s, NULL), NULL, s, NULL);
    dp_t_context("event id of 1025 characters");
    too_long = apr_palloc(p, 1026);
    memset(too_long, 'a', 1025);
    too_long[1025] = '\0';
    check_upstream(dp_google_event_move(p, cfg, s, too_long, START2, END2), NULL, s, NULL);
    check_upstream(dp_google_event_delete(p, cfg, s, too_long), NULL, s, NULL);
    for (int i = 0; bad_instants[i] != NULL; i++) {
        dp_t_context(apr_psprintf(p, "instant \"%s\"", bad_instants[i]));
        check_upstream(dp_google_event_move(p, cfg, s, ok_id, bad_instants[i], END2), NULL, s,
                       NULL);
        check_upstream(dp_google_event_move(p, cfg, s, ok_id, START2, bad_instants[i]), NULL, s,
                       NULL);
    }
    dp_t_context("no start, no end");
    check_upstream(dp_google_event_move(p, cfg, s, ok_id, NULL, END2), NULL, s, NULL);
    check_upstream(dp_google_event_move(p, cfg, s, ok_id, START2, NULL), NULL, s, NULL);
    dp_t_context("subject");
    check_upstream(dp_google_event_move(p, cfg, NULL, ok_id, START2, END2), NULL, NULL, NULL);
    check_upstream(dp_google_event_delete(p, cfg, "nobody", ok_id), NULL, NULL, NULL);
    dp_t_context("no key");
    check_upstream(dp_google_event_delete(p, NULL, s, ok_id), NULL, s, "no service-account key");
    cfg->key_file_json = NULL;
    check_upstream(dp_google_event_move(p, cfg, s, ok_id, START2, END2), NULL, s,
                   "no service-account key");
    dp_t_context(NULL);
    CHECK_EQ(json_array_size(fake_log(p)), 0); /* nothing reached the fake */
}

static void zz_teardown(dp_test_env *env)
{
    (void)env;
    dp_fake_teardown(&S.fake);
    remove_dir();
    if (S.ready) {
        dp_google_cache_clear();
        apr_pool_destroy(S.pool); /* the token cache goes with it */
        curl_global_cleanup();
        S.ready = 0;
    }
}

const dp_test_case dp_suite_google[] = {
    {"http_get",                     http_get                    },
    {"http_no_redirect",             http_no_redirect            },
    {"http_response_cap",            http_response_cap           },
    {"http_timeout",                 http_timeout                },
    {"http_protocols",               http_protocols              },
    {"http_refused_detail",          http_refused_detail         },
    {"http_bad_request",             http_bad_request            },
    {"http_tls_verified",            http_tls_verified           },
    {"meet_ok",                      meet_ok                     },
    {"meet_token_cached",            meet_token_cached           },
    {"meet_stale_cached_token",      meet_stale_cached_token     },
    {"meet_token_uri_from_key_file", meet_token_uri_from_key_file},
    {"meet_entry_point_link",        meet_entry_point_link       },
    {"meet_threads",                 meet_threads                },
    {"meet_failures",                meet_failures               },
    {"meet_slow",                    meet_slow                   },
    {"meet_wrong_key",               meet_wrong_key              },
    {"meet_bad_input",               meet_bad_input              },
    {"meet_unreachable",             meet_unreachable            },
    {"event_move_ok",                event_move_ok               },
    {"event_delete_ok",              event_delete_ok             },
    {"event_stale_cached_token",     event_stale_cached_token    },
    {"event_failures",               event_failures              },
    {"event_slow",                   event_slow                  },
    {"event_bad_input",              event_bad_input             },
    {"zz_teardown",                  zz_teardown                 },
    {NULL,                           NULL                        },
};
