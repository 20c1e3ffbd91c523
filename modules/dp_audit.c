#include "dp_audit.h"

#include <http_log.h>

#include "dp_sql.h"

APLOG_USE_MODULE(docportal);

/* audit_insert's nine arguments for ev, with the caller and the route filling the gaps */
static const char **event_args(dp_ctx *c, const dp_audit_event *ev)
{
    const char *actor_id = ev->actor_id, *actor_type = ev->actor_type;
    const char **args = apr_palloc(c->r->pool, sizeof(char *) * 9);

    if (actor_id == NULL && c->who != NULL) {
        actor_id = c->who->user_id;
    }
    if (actor_type == NULL) {
        actor_type = (c->who != NULL && actor_id == c->who->user_id) ? c->who->role : "anonymous";
    }
    args[0] = actor_id;
    args[1] = actor_type;
    args[2] = ev->action ? ev->action : c->route->audit_action;
    args[3] = ev->resource_type ? ev->resource_type : c->route->resource_type;
    args[4] = ev->resource_id;
    args[5] = ev->client_id;
    args[6] = c->r->useragent_ip;
    args[7] = ev->outcome;
    args[8] = c->request_id;
    return args;
}

static dp_error *written(dp_ctx *c, const dp_audit_event *ev, dp_error *e)
{
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

dp_error *dp_audit(dp_ctx *c, const dp_audit_event *ev)
{
    dp_db *db;
    dp_error *e = dp_ctx_db(c, &db);

    if (e == NULL) {
        e = dp_db_exec(db, DPQ_AUDIT_INSERT, NULL, 9, event_args(c, ev));
    }
    return written(c, ev, e);
}

dp_error *dp_audited(dp_ctx *c, const dp_audit_event *ev, const char *name, dp_rows **rows,
                     int nargs, const char **args)
{
    dp_db *db;
    dp_error *e = dp_ctx_db(c, &db);

    if (e == NULL) {
        e = dp_db_pair(db, name, rows, nargs, args, DPQ_AUDIT_INSERT, 9, event_args(c, ev));
    }
    return written(c, ev, e);
}

dp_error *dp_audit_refusal(dp_ctx *c, dp_db *db, const dp_audit_event *ev, dp_error *e)
{
    dp_error *ae;
    dp_db_rollback(db);
    return (ae = dp_audit(c, ev)) != NULL ? ae : e;
}
