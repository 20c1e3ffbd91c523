#include "dp_audit.h"

#include <http_log.h>

#include "dp_sql.h"

APLOG_USE_MODULE(docportal);

dp_error *dp_audit(dp_ctx *c, const dp_audit_event *ev)
{
    const char *actor_id = ev->actor_id, *actor_type = ev->actor_type;
    dp_db *db;
    dp_error *e;

    if (actor_id == NULL && c->who != NULL) {
        actor_id = c->who->user_id;
    }
    if (actor_type == NULL) {
        actor_type = (c->who != NULL && actor_id == c->who->user_id) ? c->who->role
                                                                      : "anonymous";
    }
    e = dp_ctx_db(c, &db);
    if (e == NULL) {
        e = dp_db_exec(db, DPQ_AUDIT_INSERT, NULL,
                       DP_ARGS(actor_id, actor_type,
                               ev->action ? ev->action : c->route->audit_action,
                               ev->resource_type ? ev->resource_type : c->route->resource_type,
                               ev->resource_id, ev->client_id, c->r->useragent_ip,
                               ev->outcome, c->request_id));
    }
    if (e == NULL) {
        c->audited = 1;
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r,
                      "DP01201: audit event %s could not be written; request refused",
                      ev->action ? ev->action : c->route->audit_action);
    }
    return e;
}

dp_error *dp_audit_refusal(dp_ctx *c, dp_db *db, const dp_audit_event *ev, dp_error *e)
{
    dp_error *ae;
    dp_db_rollback(db);
    return (ae = dp_audit(c, ev)) != NULL ? ae : e;
}
