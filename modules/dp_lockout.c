#include "dp_lockout.h"
#include "dp_audit.h"
#include "dp_sql.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

dp_error *dp_lockout_attempt(dp_ctx *c, dp_db *db, const char *email)
{
    apr_pool_t *p = c->r->pool;
    const dp_lockout_rule *a = &c->cfg->lockout, *ip = &c->cfg->lockout_ip;
    dp_audit_event ev = {.outcome = DP_OUTCOME_DENIED};
    const char *retry;
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_LOGIN_THROTTLE, &rows,
                          DP_ARGS(email, apr_itoa(p, a->failures), apr_itoa(p, a->window_s),
                                  apr_itoa(p, a->lock_s), dp_client_address(c),
                                  apr_itoa(p, ip->failures), apr_itoa(p, ip->window_s),
                                  apr_itoa(p, ip->lock_s))))) {
        return e;
    }
    retry = dp_rows_get(rows, 0, "retry_after");
    if (retry == NULL || strcmp(retry, "0") == 0) {
        return NULL;
    }
    /* no password check, no delay: the worker is free again at once */
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                  "DP12002: sign-in refused: too many failures (retry after %s s)", retry);
    if ((e = dp_audit(c, &ev))) return e;
    apr_table_setn(c->r->err_headers_out, "Retry-After", retry);
    return dp_error_make(p, 429, DP_E_RATE_LIMITED, NULL,
                         "Too many failed sign-ins; try again in %s seconds.", retry);
}

dp_error *dp_lockout_success(dp_ctx *c, const char *email, const dp_audit_event *ev)
{
    return dp_audited(
        c, ev, DPQ_LOGIN_THROTTLE_SUCCESS, NULL,
        DP_ARGS(email, dp_client_address(c), apr_itoa(c->r->pool, c->cfg->lockout_ip.failures)));
}
