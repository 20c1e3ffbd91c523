/* Dashboards, computed from the database and scoped to the caller (docs/api.md,
 * "Dashboards"). Each is one statement (sql/statements-dashboards.sql) sent with its audit
 * event in one round trip: one snapshot, so the figures of an answer agree with each other.
 * The answer keeps the first keys of docs/api.md's dashboards and adds the stats front ends
 * written for the original API read (totalIncome, monthlyIncome, ...); where both name the same figure, both keys carry it, so a front end written
 * for either works. */
#include "dp_appointments.h"
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_json.h"

#include <apr_strings.h>

/* One figure of an answer: its key, the statement's column, and whether it is money (cents,
 * printed as dp_json_set_money does) rather than a count. */
typedef struct figure {
    const char *key, *col;
    int money;
} figure;

static const figure provider_figures[] = {
    {"totalClients",         "total_clients",    0},
    {"upcomingAppointments", "upcoming",         0},
    {"todayAppointments",    "today",            0},
    {"pendingAppointments",  "pending",          0},
    {"unreadMessages",       "unread",           0},
    {"pendingInvoices",      "pending_invoices", 0},
    {"outstandingAmount",    "outstanding",      1},
    {"revenueThisMonth",     "income_month",     1},
 /* mockDashboardStats.provider */
    {"totalIncome",          "income_total",     1},
    {"monthlyIncome",        "income_month",     1},
    {"appointmentsToday",    "today",            0},
    {"appointmentsWeek",     "week",             0},
    {"pendingNotes",         "pending_notes",    0},
    {"activeClients",        "active_clients",   0},
    {"messagesUnread",       "unread",           0},
};

static const figure client_figures[] = {
    {"upcomingAppointments",  "upcoming",         0},
    {"completedAppointments", "completed",        0},
    {"unreadMessages",        "unread",           0},
    {"outstandingAmount",     "outstanding",      1},
 /* mockDashboardStats.client */
    {"pendingPayments",       "pending_payments", 0},
    {"completedSessions",     "completed",        0},
};

/* A missing row (the caller's account vanished mid-request) reads as zeros, not a crash. */
static void set_figures(json_t *out, const dp_rows *rows, const figure *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = dp_rows_get(rows, 0, f[i].col);
        apr_int64_t x = v ? apr_atoi64(v) : 0;

        if (f[i].money) {
            dp_json_set_money(out, f[i].key, x, 1);
        }
        else {
            json_object_set_new(out, f[i].key, json_integer(x));
        }
    }
}

/* GET /api/provider/dashboard: provider. */
dp_error *dp_dashboard_provider(dp_ctx *c)
{
    json_t *out = dp_json_own(c->r->pool, json_object());
    dp_audit_event ev = {.outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_audited_read(c, &ev, DPQ_DASHBOARD_PROVIDER_STATS, &rows,
                             DP_ARGS(c->who->user_id)))) {
        return e;
    }
    set_figures(out, rows, provider_figures,
                sizeof(provider_figures) / sizeof(provider_figures[0]));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* GET /api/client/dashboard: client. The row carries the next appointment's columns too
 * (NULL when there is none). */
dp_error *dp_dashboard_client(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    json_t *out = dp_json_own(p, json_object());
    dp_audit_event ev = {.client_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_audited_read(c, &ev, DPQ_DASHBOARD_CLIENT_STATS, &rows,
                             DP_ARGS(c->who->user_id)))) {
        return e;
    }
    set_figures(out, rows, client_figures, sizeof(client_figures) / sizeof(client_figures[0]));
    json_object_set(out, "nextAppointment",
                    dp_rows_get(rows, 0, "id") ? dp_appointment_json(p, rows, 0) : json_null());
    dp_reply_json(c, 200, out);
    return NULL;
}
