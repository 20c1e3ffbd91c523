#include "dp_session.h"
#include "dp_audit.h"
#include "dp_sql.h"
#include "core/dp_cookie.h"
#include "core/dp_crypto.h"
#include "core/dp_jwt.h"

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
    const char *want = dp_cookie_csrf(c->r->pool, c->cfg->jwt_secret, c->cfg->jwt_secret_len, jti);

    if (sent == NULL || cookie == NULL || want == NULL) {
        return 0;
    }
    /* both comparisons always run: the time taken says nothing about which one failed */
    return dp_ct_equal(sent, strlen(sent), cookie, strlen(cookie))
        & dp_ct_equal(sent, strlen(sent), want, strlen(want));
}

/* ---- authentication: who the caller is, and what its session must still pass */

static dp_error *unauthorized(dp_ctx *c, const char *why)
{
    dp_audit_event ev = {.actor_type = "anonymous", .outcome = DP_OUTCOME_DENIED};
    /* a route that touches no user data has no audit action to record */
    dp_error *e = (c->route->flags & DP_ROUTE_NO_AUDIT) ? NULL : dp_audit(c, &ev);

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r, "DP01001: token refused (%s)", why);
    if (e != NULL) {
        return e;
    }
    apr_table_setn(c->r->err_headers_out, "WWW-Authenticate", "Bearer");
    return dp_error_make(c->r->pool, 401, DP_E_UNAUTHORIZED, NULL,
                         "A valid session token is required.");
}

/* A request authenticated by its cookie that may change something (not GET, HEAD, OPTIONS)
 * must carry the session's CSRF token: another site can make a browser send the cookie, but
 * cannot read or compute the token. */
static dp_error *csrf_refused(dp_ctx *c, const dp_claims *claims)
{
    dp_audit_event ev = {
        .actor_id = claims->sub, .actor_type = claims->role, .outcome = DP_OUTCOME_DENIED};
    dp_error *e = (c->route->flags & DP_ROUTE_NO_AUDIT) ? NULL : dp_audit(c, &ev);

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                  "DP12003: cookie session without its CSRF token refused");
    if (e != NULL) {
        return e;
    }
    return dp_error_make(c->r->pool, 403, DP_E_CSRF_FAILED, NULL,
                         "A request with the session cookie needs the session's " DP_CSRF_HEADER
                         " header.");
}

static const char *epoch_arg(dp_ctx *c, long long t)
{
    return apr_psprintf(c->r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)t);
}

/* What a valid session must still pass: the idle timeout (with a minute's allowance, the
 * last use being recorded at most once a minute), the CSRF token of a cookie session; then
 * the last use is recorded when the record is a minute old. */
static dp_error *session_rules(dp_ctx *c, dp_db *db, const dp_claims *claims, apr_int64_t idle,
                               int by_cookie)
{
    int m = c->r->method_number;
    dp_error *e;

    if (c->cfg->idle_timeout > 0 && idle > c->cfg->idle_timeout + DP_SESSION_TOUCH_S) {
        return unauthorized(c, "idle timeout");
    }
    if (by_cookie && m != M_GET && m != M_OPTIONS && !dp_session_csrf_ok(c, claims->jti)) {
        return csrf_refused(c, claims);
    }
    if (idle >= DP_SESSION_TOUCH_S
        && (e = dp_db_exec(db, DPQ_SESSION_TOUCH, NULL,
                           DP_ARGS(claims->jti, claims->sub, epoch_arg(c, claims->exp))))) {
        return e;
    }
    return NULL;
}

/* The claims of a token whose session the database has still to confirm. */
struct dp_session_pending {
    dp_claims claims;
    int by_cookie;
};

/* The statement that checks the session (DPQ_AUTH_PRINCIPAL) for these claims. */
static dp_db_call principal_call(dp_ctx *c, const dp_claims *claims)
{
    const char **args = apr_palloc(c->r->pool, sizeof(char *) * 5);
    dp_db_call call = {DPQ_AUTH_PRINCIPAL, 5, args, NULL};

    args[0] = claims->sub;
    args[1] = claims->role;
    args[2] = claims->jti;
    args[3] = epoch_arg(c, claims->iat);
    args[4] = epoch_arg(c, claims->sv);
    return call;
}

/* The session as the database knows it now (rows: DPQ_AUTH_PRINCIPAL's) -> c->who, or 401
 * (audited; c->who stays NULL). */
static dp_error *settle(dp_ctx *c, dp_db *db, const dp_claims *claims, int by_cookie,
                        const dp_rows *rows)
{
    dp_principal *who;
    dp_error *e;

    if (rows->nrows != 1) {
        return unauthorized(c, "revoked, or the account is gone");
    }
    if ((e = session_rules(c, db, claims, apr_atoi64(dp_rows_get(rows, 0, "idle_seconds")),
                           by_cookie))) {
        return e;
    }
    who = apr_pcalloc(c->r->pool, sizeof(*who));
    who->user_id = claims->sub;
    who->role = claims->role;
    who->provider_id = dp_rows_get(rows, 0, "provider_id");
    who->jti = claims->jti;
    who->exp = claims->exp;
    who->email_verified = strcmp(dp_rows_get(rows, 0, "email_verified"), "t") == 0;
    c->who = who;
    return NULL;
}

/* The database check can wait for the handler's read: a GET of a DP_ROUTE_FOLD_AUTH route
 * (no CSRF token to check). The role the route allows is checked from the token (a refused
 * one confirms the session first: dp_session_check); the verified email once the session is
 * confirmed (dp_session_confirm, dp_session_pipeline). */
static int can_fold(const dp_ctx *c)
{
    return (c->route->flags & DP_ROUTE_FOLD_AUTH) && c->r->method_number == M_GET;
}

dp_error *dp_session_unverified(dp_ctx *c)
{
    dp_audit_event ev = {.outcome = DP_OUTCOME_DENIED};
    dp_error *e;

    if (!c->cfg->require_verified || c->who->email_verified
        || (c->route->flags & DP_ROUTE_UNVERIFIED)) {
        return NULL;
    }
    e = (c->route->flags & DP_ROUTE_NO_AUDIT) ? NULL : dp_audit(c, &ev);
    if (e != NULL) {
        return e;
    }
    return dp_error_make(c->r->pool, 403, DP_E_EMAIL_UNVERIFIED, NULL,
                         "Confirm your email address first: open the link we mailed you, or "
                         "ask for a new one (POST /api/auth/verify-email/resend).");
}

static dp_error *request_db(dp_ctx *c)
{
    return c->db != NULL ? NULL : dp_db_acquire(c->r, &c->db);
}

/* Bearer token (else, with cookie sessions, the dp_session cookie) -> verified claims -> the
 * user as the database knows it now (or, on a folding route, later: dp_session_pipeline). */
dp_error *dp_session_authenticate(dp_ctx *c)
{
    const char *h = apr_table_get(c->r->headers_in, "Authorization");
    dp_claims claims;
    dp_jwt_status st;
    dp_db_call check;
    dp_error *e;
    int by_cookie = 0;

    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ') {
            h++;
        }
    }
    else if ((h = dp_session_cookie_token(c)) != NULL) {
        by_cookie = 1;
    }
    else {
        return unauthorized(c, "no bearer token");
    }
    st = dp_jwt_verify(c->r->pool, c->cfg->jwt_secret, c->cfg->jwt_secret_len, h,
                       (long long)apr_time_sec(apr_time_now()), &claims);
    if (st != DP_JWT_OK) {
        return unauthorized(c, dp_jwt_status_name(st));
    }
    if (can_fold(c)) {
        struct dp_session_pending *pend = apr_palloc(c->r->pool, sizeof(*pend));
        dp_principal *who = apr_pcalloc(c->r->pool, sizeof(*who));
        pend->claims = claims;
        pend->by_cookie = by_cookie;
        who->user_id = claims.sub;
        who->role = claims.role;
        who->jti = claims.jti;
        who->exp = claims.exp;
        who->pending = pend;
        c->who = who;
        return NULL;
    }
    check = principal_call(c, &claims);
    if ((e = request_db(c))) return e;
    if ((e = dp_db_select(c->db, check.name, &check.rows, check.nargs, check.args))) return e;
    return settle(c, c->db, &claims, by_cookie, check.rows);
}

dp_error *dp_session_check(dp_ctx *c)
{
    const struct dp_session_pending *pend = c->who->pending;
    dp_db_call check = principal_call(c, &pend->claims);
    dp_error *e;

    c->who = NULL; /* until settled: a refusal is the anonymous one of a bad token */
    if ((e = request_db(c))) return e;
    if ((e = dp_db_select(c->db, check.name, &check.rows, check.nargs, check.args))) return e;
    return settle(c, c->db, &pend->claims, pend->by_cookie, check.rows);
}

dp_error *dp_session_confirm(dp_ctx *c)
{
    dp_error *e = dp_session_check(c);
    return e != NULL ? e : dp_session_unverified(c);
}

dp_error *dp_session_pipeline(dp_ctx *c, dp_db_call *calls, int n)
{
    const struct dp_session_pending *pend;
    dp_db_call *all;
    dp_error *e;

    if ((e = request_db(c))) return e;
    if (c->who == NULL || c->who->pending == NULL) {
        return dp_db_pipeline(c->db, calls, n);
    }
    pend = c->who->pending;
    c->who = NULL;
    all = apr_palloc(c->r->pool, sizeof(*all) * (apr_size_t)(n + 1));
    all[0] = principal_call(c, &pend->claims);
    memcpy(all + 1, calls, sizeof(*all) * (apr_size_t)n);
    dp_audit_coming(c);
    if ((e = dp_db_pipeline_shared(c->db, all, n + 1, c->cfg->read_pipelines))) return e;
    /* the read's rows are dropped unless the session holds */
    if ((e = settle(c, c->db, &pend->claims, pend->by_cookie, all[0].rows))) return e;
    if ((e = dp_session_unverified(c))) return e;
    for (int i = 0; i < n; i++) {
        calls[i].rows = all[i + 1].rows;
    }
    return NULL;
}
