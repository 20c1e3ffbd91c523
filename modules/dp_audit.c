#include "dp_audit.h"

#include <apr_strings.h>
#include <http_log.h>

#include "dp_sql.h"

APLOG_USE_MODULE(docportal);

/* The statement that writes an event: its name, and its arguments (audit_insert's nine, plus
 * the limit for audit_refusal_insert). */
typedef struct audit_stmt {
    const char *name;
    int nargs;
    const char **args;
} audit_stmt;

/* A refusal of an anonymous request that names no account or record: under
 * DocPortalAnonymousAuditLimit it is counted per client address and minute (a flood must
 * not grow the append-only trail without bound). One that names a record (a wrong password
 * for an existing account) is always its own row; the lockout bounds how many there are. */
static int limited_refusal(const dp_ctx *c, const char *const *args)
{
    return c->cfg->anon_audit_limit > 0 && args[0] == NULL && strcmp(args[1], "anonymous") == 0
        && strcmp(args[7], DP_OUTCOME_SUCCESS) != 0 && args[4] == NULL && args[5] == NULL;
}

/* The statement and arguments for ev, with the caller and the route filling the gaps */
static audit_stmt event_stmt(dp_ctx *c, const dp_audit_event *ev)
{
    const char *actor_id = ev->actor_id, *actor_type = ev->actor_type;
    const char **args = apr_palloc(c->r->pool, sizeof(char *) * 10);
    audit_stmt st = {DPQ_AUDIT_INSERT, 9, args};

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
    if (limited_refusal(c, args)) {
        args[9] = apr_itoa(c->r->pool, c->cfg->anon_audit_limit);
        st.name = DPQ_AUDIT_REFUSAL_INSERT;
        st.nargs = 10;
    }
    return st;
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
        audit_stmt st = event_stmt(c, ev);
        e = dp_db_exec(db, st.name, NULL, st.nargs, st.args);
    }
    return written(c, ev, e);
}

dp_error *dp_audited(dp_ctx *c, const dp_audit_event *ev, const char *name, dp_rows **rows,
                     int nargs, const char **args)
{
    dp_db *db;
    dp_error *e = dp_ctx_db(c, &db);

    if (e == NULL) {
        audit_stmt st = event_stmt(c, ev);
        e = dp_db_pair(db, name, rows, nargs, args, st.name, st.nargs, st.args);
    }
    return written(c, ev, e);
}

dp_error *dp_audit_refusal(dp_ctx *c, dp_db *db, const dp_audit_event *ev, dp_error *e)
{
    dp_error *ae;
    dp_db_rollback(db);
    return (ae = dp_audit(c, ev)) != NULL ? ae : e;
}
