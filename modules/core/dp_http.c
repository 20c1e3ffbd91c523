#include "dp_http.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <curl/curl.h>
#include <string.h>

/* The body grows in pool memory, doubling, and never past the cap: a hostile or broken
 * upstream cannot make us hold more than about twice max_response per request. */
typedef struct sink {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap, max;
    int over; /* the cap was hit: the transfer was aborted on purpose */
} sink;

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    sink *s = userdata;
    apr_size_t n = size * nmemb;

    if (n > s->max - s->len) {
        s->over = 1;
        return 0; /* anything but n aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        apr_size_t cap = s->cap < 4096 ? 4096 : s->cap;
        char *nb;
        while (cap < s->len + n + 1) {
            cap *= 2;
        }
        if (cap > s->max + 1) {
            cap = s->max + 1;
        }
        nb = apr_palloc(s->p, cap);
        if (s->len > 0) {
            memcpy(nb, s->buf, s->len);
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

/* Response header lines into an APR table. A status line starts a new answer (after a 1xx),
 * so what was kept so far is dropped. Beyond DP_HTTP_MAX_HEADER_BYTES nothing more is kept
 * (the transfer goes on). */
typedef struct hsink {
    apr_pool_t *p;
    apr_table_t *t;
    apr_size_t bytes;
} hsink;

static size_t header_write(char *data, size_t size, size_t nitems, void *userdata)
{
    hsink *h = userdata;
    apr_size_t n = size * nitems, nl, vs, ve;
    const char *colon;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        apr_table_clear(h->t);
        h->bytes = 0;
        return n;
    }
    colon = memchr(data, ':', n);
    if (colon == NULL || colon == data || n > DP_HTTP_MAX_HEADER_BYTES - h->bytes) {
        return n; /* the blank line, a folded line, or over the cap */
    }
    h->bytes += n;
    nl = (apr_size_t)(colon - data);
    vs = nl + 1;
    ve = n;
    while (vs < ve && (data[vs] == ' ' || data[vs] == '\t')) {
        vs++;
    }
    while (ve > vs
           && (data[ve - 1] == '\r' || data[ve - 1] == '\n' || data[ve - 1] == ' '
               || data[ve - 1] == '\t')) {
        ve--;
    }
    apr_table_addn(h->t, apr_pstrmemdup(h->p, data, nl), apr_pstrmemdup(h->p, data + vs, ve - vs));
    return n;
}

static apr_status_t easy_cleanup(void *data)
{
    curl_easy_cleanup((CURL *)data);
    return APR_SUCCESS;
}

static apr_status_t slist_cleanup(void *data)
{
    curl_slist_free_all((struct curl_slist *)data);
    return APR_SUCCESS;
}

/* Host (and port) of the URL for error details: never its user info, path or query, which
 * may carry credentials or identifiers. Anything unexpected in it is replaced. */
static const char *safe_host(apr_pool_t *p, const char *url)
{
    apr_uri_t u;
    char *h;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.hostname == NULL
        || u.hostname[0] == '\0') {
        return "the upstream service";
    }
    h = u.port_str ? apr_pstrcat(p, u.hostname, ":", u.port_str, NULL) : apr_pstrdup(p, u.hostname);
    if (strlen(h) > 100) {
        h[100] = '\0';
    }
    for (char *c = h; *c; c++) {
        if (!apr_isalnum(*c) && *c != '.' && *c != '-' && *c != ':' && *c != '[' && *c != ']') {
            *c = '?';
        }
    }
    return h;
}

static int valid_method(const char *m)
{
    if (m[0] == '\0' || strlen(m) > 16) {
        return 0;
    }
    for (; *m; m++) {
        if (*m < 'A' || *m > 'Z') {
            return 0;
        }
    }
    return 1;
}

static dp_error *transfer_error(apr_pool_t *p, const dp_http_req *req, CURLcode rc, const sink *s,
                                long timeout_ms)
{
    const char *host = safe_host(p, req->url);
    const char *why;

    if (s->over || rc == CURLE_FILESIZE_EXCEEDED) {
        why = apr_psprintf(p, "the answer exceeded %" APR_SIZE_T_FMT " bytes", s->max);
    }
    else if (rc == CURLE_OPERATION_TIMEDOUT) {
        why = apr_psprintf(p, "no answer within %ld ms", timeout_ms);
    }
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
        why = "only http and https are allowed";
    }
    else {
        /* curl's static description: it names no URL, header or body */
        why = curl_easy_strerror(rc);
    }
    return dp_error_make(p, 502, DP_E_UPSTREAM, NULL, "The request to %s failed: %s.", host, why);
}

dp_error *dp_http_do(apr_pool_t *p, const dp_http_req *req, dp_http_resp *resp)
{
    const char *method = req->method ? req->method : "GET";
    long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DP_HTTP_DEFAULT_TIMEOUT_MS;
    sink s = {p, NULL, 0, 0, req->max_response ? req->max_response : DP_HTTP_DEFAULT_MAX_RESPONSE,
              0};
    struct curl_slist *hl = NULL;
    CURL *h;
    CURLcode rc;
    long status = 0;
    hsink hs;
    int ok;

    if (s.max > DP_HTTP_MAX_RESPONSE_LIMIT) {
        s.max = DP_HTTP_MAX_RESPONSE_LIMIT; /* keeps max + 1 and the doubling from overflowing */
    }
    resp->status = 0;
    resp->body = apr_pstrdup(p, "");
    resp->len = 0;
    resp->headers = apr_table_make(p, 8);
    hs.p = p;
    hs.t = apr_table_make(p, 8);
    hs.bytes = 0;
    if (req->url == NULL || !valid_method(method)) {
        return dp_error_internal(p);
    }

    /* Header list: ours first, so a caller's line of the same name wins. "Expect:" stops
     * curl from waiting for a 100-continue on larger bodies. */
    hl = curl_slist_append(NULL, "Expect:");
    if (hl == NULL) {
        return dp_error_internal(p);
    }
    apr_pool_cleanup_register(p, hl, slist_cleanup, apr_pool_cleanup_null);
    for (const char *const *hp = req->headers; hp != NULL && *hp != NULL; hp++) {
        struct curl_slist *n;
        if (strpbrk(*hp, "\r\n") != NULL || strchr(*hp, ':') == NULL) {
            apr_pool_cleanup_run(p, hl, slist_cleanup);
            return dp_error_internal(p);
        }
        n = curl_slist_append(hl, *hp); /* returns the same head, or NULL leaving hl intact */
        if (n == NULL) {
            apr_pool_cleanup_run(p, hl, slist_cleanup);
            return dp_error_internal(p);
        }
    }

    h = curl_easy_init();
    if (h == NULL) {
        apr_pool_cleanup_run(p, hl, slist_cleanup);
        return dp_error_internal(p);
    }
    apr_pool_cleanup_register(p, h, easy_cleanup, apr_pool_cleanup_null);

    /* The security-relevant options must all take, or nothing is sent. */
    ok = curl_easy_setopt(h, CURLOPT_URL, req->url) == CURLE_OK
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
        && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK
#else
        && curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))
            == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))
            == CURLE_OK
#endif
        && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK /* threads: no SIGALRM */
        && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s.max) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_WRITEDATA, &s) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_write) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_HEADERDATA, &hs) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_USERAGENT, "mod_docportal") == CURLE_OK;

    if (ok && strcmp(method, "GET") == 0 && req->body == NULL) {
        ok = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    }
    else if (ok && strcmp(method, "HEAD") == 0) {
        ok = curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK;
    }
    else if (ok) {
        if (strcmp(method, "POST") == 0 || req->body != NULL) {
            /* POSTFIELDS does not copy: req->body outlives the transfer */
            ok = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                  (curl_off_t)(req->body ? req->body_len : 0))
                    == CURLE_OK
                && curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK;
        }
        if (ok && strcmp(method, "POST") != 0) {
            ok = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
        }
    }
    if (!ok) {
        apr_pool_cleanup_run(p, h, easy_cleanup);
        apr_pool_cleanup_run(p, hl, slist_cleanup);
        return dp_error_internal(p);
    }

    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    apr_pool_cleanup_run(p, h, easy_cleanup);
    apr_pool_cleanup_run(p, hl, slist_cleanup);

    if (rc != CURLE_OK || status < 100 || status > 999) {
        return transfer_error(p, req, rc == CURLE_OK ? CURLE_WEIRD_SERVER_REPLY : rc, &s,
                              timeout_ms);
    }
    resp->status = (int)status;
    resp->headers = hs.t;
    if (s.buf != NULL) {
        s.buf[s.len] = '\0'; /* the sink always keeps one byte spare */
        resp->body = s.buf;
        resp->len = s.len;
    }
    return NULL;
}
