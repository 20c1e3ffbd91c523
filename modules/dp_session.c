#include "dp_session.h"
#include "core/dp_cookie.h"
#include "core/dp_crypto.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

/* The token reaches the API only (Path=/api), never scripts; the CSRF token is for the front
 * end's scripts on any page of the site (Path=/). SameSite=Strict keeps both off requests
 * that other sites start. */
#define SESSION_ATTRS "; Path=/api; HttpOnly; Secure; SameSite=Strict; Max-Age="
#define CSRF_ATTRS    "; Path=/; Secure; SameSite=Strict; Max-Age="

dp_error *dp_session_cookies_set(dp_ctx *c, const char *token, const dp_claims *claims)
{
    apr_pool_t *p = c->r->pool;
    const char *csrf, *age;

    if (!c->cfg->cookie_sessions) {
        return NULL;
    }
    csrf = dp_cookie_csrf(p, c->cfg->jwt_secret, c->cfg->jwt_secret_len, claims->jti);
    if (csrf == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "DP12001: could not make a CSRF token");
        return dp_error_internal(p);
    }
    age = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)(claims->exp - claims->iat));
    apr_table_addn(c->r->headers_out, "Set-Cookie",
                   apr_pstrcat(p, DP_COOKIE_SESSION "=", token, SESSION_ATTRS, age, NULL));
    apr_table_addn(c->r->headers_out, "Set-Cookie",
                   apr_pstrcat(p, DP_COOKIE_CSRF "=", csrf, CSRF_ATTRS, age, NULL));
    return NULL;
}

void dp_session_cookies_clear(dp_ctx *c)
{
    if (!c->cfg->cookie_sessions) {
        return;
    }
    apr_table_addn(c->r->headers_out, "Set-Cookie", DP_COOKIE_SESSION "=" SESSION_ATTRS "0");
    apr_table_addn(c->r->headers_out, "Set-Cookie", DP_COOKIE_CSRF "=" CSRF_ATTRS "0");
}

typedef struct cookie_search {
    apr_pool_t *p;
    const char *name, *value;
} cookie_search;

static int find_cookie(void *rec, const char *key, const char *header)
{
    cookie_search *s = rec;
    (void)key;
    s->value = dp_cookie_get(s->p, header, s->name);
    return s->value == NULL; /* go on until found */
}

/* The first non-empty cookie called name over every Cookie header of the request. */
static const char *request_cookie(request_rec *r, const char *name)
{
    cookie_search s = {r->pool, name, NULL};
    apr_table_do(find_cookie, &s, r->headers_in, "Cookie", NULL);
    return s.value;
}

const char *dp_session_cookie_token(dp_ctx *c)
{
    return c->cfg->cookie_sessions ? request_cookie(c->r, DP_COOKIE_SESSION) : NULL;
}

int dp_session_csrf_ok(dp_ctx *c, const char *jti)
{
    const char *sent = apr_table_get(c->r->headers_in, DP_CSRF_HEADER);
    const char *cookie = request_cookie(c->r, DP_COOKIE_CSRF);
    const char *want = dp_cookie_csrf(c->r->pool, c->cfg->jwt_secret, c->cfg->jwt_secret_len,
                                      jti);

    if (sent == NULL || cookie == NULL || want == NULL) {
        return 0;
    }
    /* both comparisons always run: the time taken says nothing about which one failed */
    return dp_ct_equal(sent, strlen(sent), cookie, strlen(cookie))
           & dp_ct_equal(sent, strlen(sent), want, strlen(want));
}
