/* Dashboards, computed from the database and scoped to the caller (contract addendum,
 * "Dashboards"). Messages and invoices add their fields when their tables exist. */
#include "dp_appointment.h"
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_json.h"

#include <apr_strings.h>

static json_t *count(const dp_rows *rows, const char *col)
{
    const char *v = dp_rows_get(rows, 0, col);
    return json_integer(v ? apr_atoi64(v) : 0);
}

/* GET /api/provider/dashboard: provider. */
dp_error *dp_dashboard_provider(dp_ctx *c)
{
    json_t *out = dp_json_own(c->r->pool, json_object());
    dp_audit_event ev = {.outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows, *unread, *inv;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_DASHBOARD_PROVIDER, &rows, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_MSG_UNREAD_COUNT, &unread, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_DASHBOARD_INVOICES_PROVIDER, &inv,
                          DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    json_object_set_new(out, "totalClients", count(rows, "total_clients"));
    json_object_set_new(out, "upcomingAppointments", count(rows, "upcoming"));
    json_object_set_new(out, "todayAppointments", count(rows, "today"));
    json_object_set_new(out, "pendingAppointments", count(rows, "pending"));
    json_object_set_new(out, "unreadMessages", count(unread, "unread"));
    json_object_set_new(out, "pendingInvoices", count(inv, "pending"));
    dp_json_set_money(out, "outstandingAmount", apr_atoi64(dp_rows_get(inv, 0, "outstanding")), 1);
    dp_json_set_money(out, "revenueThisMonth", apr_atoi64(dp_rows_get(inv, 0, "revenue")), 1);
    dp_reply_json(c, 200, out);
    return NULL;
}

/* GET /api/client/dashboard: client. */
dp_error *dp_dashboard_client(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    json_t *out = dp_json_own(p, json_object());
    dp_audit_event ev = {.client_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows, *next, *unread, *inv;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_DASHBOARD_CLIENT, &rows, DP_ARGS(c->who->user_id)))) return e;
    if ((e = dp_db_select(db, DPQ_APPT_NEXT_OF_CLIENT, &next, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_MSG_UNREAD_COUNT, &unread, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_DASHBOARD_INVOICES_CLIENT, &inv, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    json_object_set_new(out, "upcomingAppointments", count(rows, "upcoming"));
    json_object_set_new(out, "completedAppointments", count(rows, "completed"));
    json_object_set_new(out, "unreadMessages", count(unread, "unread"));
    dp_json_set_money(out, "outstandingAmount", apr_atoi64(dp_rows_get(inv, 0, "outstanding")), 1);
    json_object_set(out, "nextAppointment",
                    next->nrows ? dp_appointment_json(p, next, 0) : json_null());
    dp_reply_json(c, 200, out);
    return NULL;
}
