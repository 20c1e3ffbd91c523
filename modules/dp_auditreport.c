/* The audit report (docs/api.md, "Audit"): GET /api/audit, a provider's view
 * of the audit trail, as JSON or, when the Accept header prefers it, as a CSV download.
 *
 * Scope: the events about the provider's own clients, plus the events without a client that
 * the provider or one of its clients caused (its logins, its list reads, its own reports, a
 * client's refused calls); never another practice's. Reading the report is itself audited:
 * its one event (audit.read) is written before the rows are selected, so a report includes
 * the event of its own reading when that matches the filters. */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_accept.h"
#include "core/dp_csv.h"
#include "core/dp_json.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_buckets.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <stdlib.h>

APLOG_USE_MODULE(docportal);

#define LIMIT_DEFAULT    100
#define LIMIT_MAX_JSON   1000
#define LIMIT_MAX_CSV    100000 /* streamed row by row, so memory does not grow with it */
#define OFFSET_MAX       1000000000
#define FILTER_MAX_BYTES 200

/* An event's fields in answer order: JSON key (also the CSV header and the sort name) and
 * the column of audit_report. */
static const struct {
    const char *key;
    const char *col;
} fields[] = {
    {"id",           "id"           },
    {"at",           "at"           },
    {"actorId",      "actor_id"     },
    {"actorType",    "actor_type"   },
    {"action",       "action"       },
    {"resourceType", "resource_type"},
    {"resourceId",   "resource_id"  },
    {"clientId",     "client_id"    },
    {"ip",           "ip"           },
    {"outcome",      "outcome"      },
};
#define NFIELDS ((int)(sizeof(fields) / sizeof(fields[0])))

typedef struct report_query {
    const char *client, *action, *actor, *actor_type, *resource_type, *resource_id, *outcome;
    const char *from_instant, *from_day, *to_instant, *to_day;
    const char *from_at, *to_at; /* the period as UTC instants ('-infinity'/'infinity') */
    const char *sort, *limit, *offset;
    int csv;
} report_query;

static int is_one_of(const char *s, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(s, *list) == 0) return 1;
    }
    return 0;
}

/* A whole number in [min, max] written with digits only; NULL when it is not one. */
static const char *read_count(apr_pool_t *p, const char *s, long min, long max)
{
    char *end;
    long v;
    if (s == NULL || !apr_isdigit(*s) || strlen(s) > 10) return NULL;
    v = strtol(s, &end, 10);
    return (*end == '\0' && v >= min && v <= max) ? apr_ltoa(p, v) : NULL;
}

/* from/to: an RFC 3339 instant, or a day (YYYY-MM-DD, in the provider's time zone). */
static dp_error *read_bound(dp_ctx *c, const char *name, const char **instant, const char **day)
{
    const char *v = dp_query_arg(c, name);
    *instant = *day = NULL;
    if (v == NULL) return NULL;
    if (dp_valid_date(v)) {
        *day = v;
    }
    else if (dp_valid_instant(v)) {
        *instant = v;
    }
    else {
        return dp_error_make(c->r->pool, 422, DP_E_VALIDATION, name,
                             "%s must be an RFC 3339 instant (2024-05-01T09:30:00Z) or a day "
                             "(YYYY-MM-DD).",
                             name);
    }
    return NULL;
}

static dp_error *read_text(dp_ctx *c, const char *name, const char **out)
{
    *out = dp_query_arg(c, name);
    if (*out != NULL && strlen(*out) > FILTER_MAX_BYTES) {
        return dp_error_make(c->r->pool, 422, DP_E_VALIDATION, name, "%s is longer than %d bytes.",
                             name, FILTER_MAX_BYTES);
    }
    return NULL;
}

static dp_error *read_uuid(dp_ctx *c, const char *name, const char **out)
{
    *out = dp_query_arg(c, name);
    if (*out != NULL && !dp_uuid_valid(*out)) {
        return dp_error_make(c->r->pool, 422, DP_E_VALIDATION, name, "%s must be a UUID.", name);
    }
    *out = dp_lower(c->r->pool, *out);
    return NULL;
}

static int valid_sort(const char *s)
{
    const char *name = *s == '-' ? s + 1 : s;
    for (int i = 0; i < NFIELDS; i++) {
        if (strcmp(name, fields[i].key) == 0) return 1;
    }
    return 0;
}

/* CSV when the Accept header rates text/csv above application/json; JSON otherwise (also
 * when it names neither: JSON is the API's format, never a 406). */
static int wants_csv(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    int csv = dp_accept_quality(accept, "text/csv");
    return csv > 0 && csv > dp_accept_quality(accept, "application/json");
}

static dp_error *read_query(dp_ctx *c, report_query *q)
{
    static const char *const actor_types[] = {"provider", "client", "anonymous", "system", NULL};
    static const char *const outcomes[] = {"success", "failure", "denied", NULL};
    apr_pool_t *p = c->r->pool;
    const char *limit = dp_query_arg(c, "limit"), *offset = dp_query_arg(c, "offset");
    long max;
    dp_error *e;

    memset(q, 0, sizeof(*q));
    q->csv = wants_csv(c->r);
    max = q->csv ? LIMIT_MAX_CSV : LIMIT_MAX_JSON;
    q->limit = limit ? read_count(p, limit, 1, max) : apr_itoa(p, LIMIT_DEFAULT);
    if (q->limit == NULL) {
        return dp_error_make(p, 422, DP_E_VALIDATION, "limit",
                             "limit must be a whole number from 1 to %ld.", max);
    }
    q->offset = offset ? read_count(p, offset, 0, OFFSET_MAX) : "0";
    if (q->offset == NULL) {
        return dp_error_make(p, 422, DP_E_VALIDATION, "offset",
                             "offset must be a whole number from 0 to %d.", OFFSET_MAX);
    }
    q->sort = dp_query_arg(c, "sort") ? dp_query_arg(c, "sort") : "-at";
    if (!valid_sort(q->sort)) {
        return dp_error_field(p, "sort",
                              "sort must name an event field (id, at, actorId, "
                              "actorType, action, resourceType, resourceId, clientId, ip, "
                              "outcome), with '-' first for descending.");
    }
    if ((e = read_uuid(c, "clientId", &q->client))) return e;
    if ((e = read_uuid(c, "actorId", &q->actor))) return e;
    if ((e = read_bound(c, "from", &q->from_instant, &q->from_day))) return e;
    if ((e = read_bound(c, "to", &q->to_instant, &q->to_day))) return e;
    if ((e = read_text(c, "action", &q->action))) return e;
    if ((e = read_text(c, "resourceType", &q->resource_type))) return e;
    if ((e = read_text(c, "resourceId", &q->resource_id))) return e;
    q->actor_type = dp_query_arg(c, "actorType");
    if (q->actor_type != NULL && !is_one_of(q->actor_type, actor_types)) {
        return dp_error_field(p, "actorType",
                              "actorType must be provider, client, anonymous or system.");
    }
    q->outcome = dp_query_arg(c, "outcome");
    if (q->outcome != NULL && !is_one_of(q->outcome, outcomes)) {
        return dp_error_field(p, "outcome", "outcome must be success, failure or denied.");
    }
    return NULL;
}

/* The period as instants, and whether clientId is the caller's (*client_ok). */
static dp_error *resolve_period(dp_ctx *c, dp_db *db, report_query *q, int *client_ok)
{
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_AUDIT_REPORT_PERIOD, &rows,
                          DP_ARGS(c->who->user_id, q->client, q->from_instant, q->from_day,
                                  q->to_instant, q->to_day)))) {
        return e;
    }
    if (rows->nrows != 1) {
        return dp_error_internal(c->r->pool); /* the route admits providers only */
    }
    *client_ok = strcmp(dp_rows_get(rows, 0, "client_ok"), "t") == 0;
    q->from_at = dp_rows_get(rows, 0, "from_at") ? dp_rows_get(rows, 0, "from_at") : "-infinity";
    q->to_at = dp_rows_get(rows, 0, "to_at") ? dp_rows_get(rows, 0, "to_at") : "infinity";
    /* one fixed form with four-digit years: text order is time order */
    if (q->from_at[0] != '-' && q->to_at[0] != 'i' && strcmp(q->from_at, q->to_at) >= 0) {
        return dp_error_field(c->r->pool, "to", "to must come after from.");
    }
    return NULL;
}

/* ---- CSV, written row by row as the database hands them over ---------------------------- */

typedef struct csv_out {
    request_rec *r;
    apr_pool_t *rowp; /* cleared after every row */
    int started;      /* the header row is out */
    int gone;         /* the client went away */
} csv_out;

static void set_total(request_rec *r, const dp_rows *rows)
{
    const char *total = dp_rows_get(rows, 0, "total");
    apr_table_setn(r->headers_out, "X-Total-Count", apr_pstrdup(r->pool, total ? total : "0"));
}

static void csv_write(csv_out *o, const char *const *cells)
{
    apr_size_t len;
    const char *rec = dp_csv_record(o->rowp, cells, NFIELDS, &len);
    if (!o->gone && ap_rwrite(rec, (int)len, o->r) < 0) {
        o->gone = 1;
    }
    apr_pool_clear(o->rowp);
}

static void csv_start(csv_out *o)
{
    const char *header[NFIELDS];
    if (o->started) return;
    o->started = 1;
    for (int i = 0; i < NFIELDS; i++) {
        header[i] = fields[i].key;
    }
    csv_write(o, header);
}

static int csv_row(void *baton, const dp_rows *row)
{
    csv_out *o = baton;
    const char *cells[NFIELDS];
    if (!o->started) {
        set_total(o->r, row); /* every row carries it; the headers leave with the first */
        csv_start(o);
    }
    if (dp_rows_get(row, 0, "id") == NULL) {
        return 0; /* the one row of an empty page */
    }
    for (int i = 0; i < NFIELDS; i++) {
        cells[i] = dp_rows_get(row, 0, fields[i].col);
    }
    csv_write(o, cells);
    return o->gone;
}

/* The response has gone out in part: end it as broken (no last chunk, connection closed),
 * as mod_proxy does for a backend that fails mid-answer, so the client cannot take it for a
 * complete file. */
static void csv_break(request_rec *r)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    ap_rflush(r);
    APR_BRIGADE_INSERT_TAIL(
        bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    r->connection->keepalive = AP_CONN_CLOSE;
    ap_pass_brigade(r->output_filters, bb);
}

/* args[nargs - 2] is the limit: HEAD asks for no rows, only the total. */
static dp_error *reply_csv(dp_ctx *c, dp_db *db, int nargs, const char **args)
{
    request_rec *r = c->r;
    apr_time_exp_t today;
    csv_out o = {.r = r};
    dp_error *e;

    apr_time_exp_gmt(&today, r->request_time);
    ap_set_content_type(r, "text/csv; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "attachment; filename=\"audit-%04d-%02d-%02d.csv\"",
                                today.tm_year + 1900, today.tm_mon + 1, today.tm_mday));
    r->status = HTTP_OK;
    if (r->header_only) {
        dp_rows *rows;
        args[nargs - 2] = "0";
        if ((e = dp_db_select(db, DPQ_AUDIT_REPORT, &rows, nargs, args))) return e;
        set_total(r, rows);
        return NULL;
    }
    apr_pool_create(&o.rowp, r->pool);
    e = dp_db_stream(db, DPQ_AUDIT_REPORT, nargs, args, csv_row, &o);
    if (e != NULL && o.started) {
        /* the cause is logged where it happened (dp_db) */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "DP11001: the audit CSV export broke off after it had started");
        csv_break(r);
        e = NULL;
    }
    apr_pool_destroy(o.rowp);
    return e;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static dp_error *reply_json(dp_ctx *c, dp_db *db, const report_query *q, int nargs,
                            const char **args)
{
    apr_pool_t *p = c->r->pool;
    json_t *out = dp_json_own(p, json_object()), *events = json_array();
    const char *total;
    dp_rows *rows;
    dp_error *e;

    json_object_set_new(out, "events", events);
    if ((e = dp_db_select(db, DPQ_AUDIT_REPORT, &rows, nargs, args))) return e;
    for (int i = 0; i < rows->nrows; i++) {
        json_t *ev;
        if (dp_rows_get(rows, i, "id") == NULL) {
            continue; /* the one row of an empty page */
        }
        ev = json_object();
        for (int f = 0; f < NFIELDS; f++) {
            dp_json_set_str(ev, fields[f].key, dp_rows_get(rows, i, fields[f].col));
        }
        json_array_append_new(events, ev);
    }
    set_total(c->r, rows);
    total = dp_rows_get(rows, 0, "total");
    json_object_set_new(out, "total", json_integer(total ? apr_atoi64(total) : 0));
    json_object_set_new(out, "limit", json_integer(apr_atoi64(q->limit)));
    json_object_set_new(out, "offset", json_integer(apr_atoi64(q->offset)));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* GET /api/audit: provider. Filters clientId, from, to, action, actorId, actorType,
 * resourceType, resourceId, outcome; sort (a field, '-' for descending; default -at);
 * limit (default 100; at most 1000, or 100000 for CSV) and offset. */
dp_error *dp_auditreport_get(dp_ctx *c)
{
    report_query q;
    dp_db *db;
    dp_error *e;
    int client_ok = 0;

    if ((e = read_query(c, &q))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = resolve_period(c, db, &q, &client_ok))) return e;
    {
        /* written before the rows are read: no report leaves without its record */
        dp_audit_event ev = {.resource_id = q.client,
                             .client_id = client_ok ? q.client : NULL,
                             .outcome = client_ok ? DP_OUTCOME_SUCCESS : DP_OUTCOME_DENIED};
        if ((e = dp_audit(c, &ev))) return e;
    }
    if (!client_ok) {
        /* another practice's client, or nobody: the same answer (never a 403) */
        return dp_error_make(c->r->pool, 404, DP_E_NOT_FOUND, "clientId", "No such client.");
    }
    {
        const char *args[] = {
            c->who->user_id, q.client,      q.from_at, q.to_at, q.action, q.actor, q.actor_type,
            q.resource_type, q.resource_id, q.outcome, q.sort,  q.limit,  q.offset};
        const int nargs = (int)(sizeof(args) / sizeof(args[0]));

        apr_table_mergen(c->r->headers_out, "Vary", "Accept");
        return q.csv ? reply_csv(c, db, nargs, args) : reply_json(c, db, &q, nargs, args);
    }
}
