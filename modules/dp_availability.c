/* A provider's availability: weekly working hours with an optional break per day and the
 * length of the slots offered, days off, and the open slots of a day (computed in PostgreSQL,
 * in the provider's zone: see sql/statements-availability.sql). */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_json.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_strings.h>

static const char *const days[] = {"monday", "tuesday",  "wednesday", "thursday",
                                   "friday", "saturday", "sunday"};
#define NDAYS        7
#define DEFAULT_SLOT 60

/* One day of the template, times as HH:MM (break NULL when there is none). */
typedef struct day_hours {
    int enabled;
    const char *start, *end, *break_start, *break_end;
} day_hours;

static json_t *day_json(const day_hours *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "enabled", json_boolean(d->enabled));
    dp_json_set_str(o, "startTime", d->start);
    dp_json_set_str(o, "endTime", d->end);
    dp_json_set_str(o, "breakStart", d->break_start);
    dp_json_set_str(o, "breakEnd", d->break_end);
    return o;
}

static json_t *hours_json(apr_pool_t *p, const day_hours *d, int slot, int configured)
{
    json_t *out = dp_json_own(p, json_object());
    for (int i = 0; i < NDAYS; i++) {
        json_object_set_new(out, days[i], day_json(&d[i]));
    }
    json_object_set_new(out, "slotDuration", json_integer(slot));
    json_object_set_new(out, "configured", json_boolean(configured));
    return out;
}

/* The saved template, or the default one (Monday to Friday, 09:00-17:00). */
static dp_error *load_hours(dp_db *db, const char *provider, day_hours *d, int *slot,
                            int *configured)
{
    dp_rows *rows;
    dp_error *e = dp_db_select(db, DPQ_WORKING_HOURS_GET, &rows, DP_ARGS(provider));

    if (e != NULL) return e;
    *configured = rows->nrows == NDAYS;
    *slot = *configured ? atoi(dp_rows_get(rows, 0, "slot_minutes")) : DEFAULT_SLOT;
    for (int i = 0; i < NDAYS; i++) {
        if (*configured) {
            d[i].enabled = strcmp(dp_rows_get(rows, i, "enabled"), "t") == 0;
            d[i].start = dp_rows_get(rows, i, "start_time");
            d[i].end = dp_rows_get(rows, i, "end_time");
            d[i].break_start = dp_rows_get(rows, i, "break_start");
            d[i].break_end = dp_rows_get(rows, i, "break_end");
        }
        else {
            d[i] = (day_hours){i < 5, "09:00", "17:00", NULL, NULL};
        }
    }
    return NULL;
}

/* GET /api/provider/working-hours: provider; its template (configured: false until saved). */
dp_error *dp_avail_hours_get(dp_ctx *c)
{
    day_hours d[NDAYS];
    int slot, configured;
    dp_db *db;
    dp_error *e;
    dp_audit_event ev = {.resource_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = load_hours(db, c->who->user_id, d, &slot, &configured))) return e;
    if ((e = dp_audit(c, &ev))) return e;
    dp_reply_json(c, 200, hours_json(c->r->pool, d, slot, configured));
    return NULL;
}

/* A time field of a day: HH:MM or "9:00 AM" (answered as HH:MM); NULL when absent. */
static dp_error *day_time(apr_pool_t *p, json_t *o, const char *day, const char *key, int required,
                          const char **out)
{
    const char *field = apr_pstrcat(p, day, ".", key, NULL), *v;
    dp_error *e;

    if ((e = dp_json_string(p, o, key, field, required, 16, &v))) return e;
    if (v != NULL && (*out = dp_time_normalize(p, v)) == NULL) {
        return dp_error_field(p, field,
                              apr_pstrcat(p, field,
                                          " must be HH:MM (24 h) or like "
                                          "9:00 AM.",
                                          NULL));
    }
    if (v == NULL) {
        *out = NULL;
    }
    return NULL;
}

/* One day of a PUT: enabled, start before end, a break (both ends or neither) inside the
 * day. A disabled day may leave its times out. HH:MM strings compare as times. */
static dp_error *read_day(apr_pool_t *p, json_t *body, const char *day, day_hours *d)
{
    json_t *o = json_object_get(body, day), *en;
    dp_error *e;

    if (!json_is_object(o)) {
        return dp_error_field(p, day,
                              apr_pstrcat(p, day,
                                          " must be an object {enabled, "
                                          "startTime, endTime, breakStart, breakEnd}.",
                                          NULL));
    }
    en = json_object_get(o, "enabled");
    if (!json_is_boolean(en)) {
        return dp_error_field(p, apr_pstrcat(p, day, ".enabled", NULL),
                              apr_pstrcat(p, day, ".enabled must be true or false.", NULL));
    }
    d->enabled = json_is_true(en);
    if ((e = day_time(p, o, day, "startTime", d->enabled, &d->start))
        || (e = day_time(p, o, day, "endTime", d->enabled, &d->end))
        || (e = day_time(p, o, day, "breakStart", 0, &d->break_start))
        || (e = day_time(p, o, day, "breakEnd", 0, &d->break_end))) {
        return e;
    }
    if (d->start == NULL) d->start = "09:00";
    if (d->end == NULL) d->end = "17:00";
    if (strcmp(d->start, d->end) >= 0) {
        return dp_error_field(p, apr_pstrcat(p, day, ".endTime", NULL),
                              "The day must end after it starts.");
    }
    if ((d->break_start == NULL) != (d->break_end == NULL)) {
        const char *missing = d->break_start == NULL ? "breakStart" : "breakEnd";
        return dp_error_field(p, apr_pstrcat(p, day, ".", missing, NULL),
                              "A break needs both breakStart and breakEnd (or neither).");
    }
    if (d->break_start != NULL) {
        if (strcmp(d->break_start, d->start) < 0) {
            return dp_error_field(p, apr_pstrcat(p, day, ".breakStart", NULL),
                                  "The break must start within the working day.");
        }
        if (strcmp(d->break_end, d->break_start) <= 0 || strcmp(d->break_end, d->end) > 0) {
            return dp_error_field(p, apr_pstrcat(p, day, ".breakEnd", NULL),
                                  "The break must end after it starts and within the working "
                                  "day.");
        }
    }
    return NULL;
}

/* "{a,b,...}" of the seven values, NULL as SQL NULL */
static const char *array_of(apr_pool_t *p, const char *const *v)
{
    const char *out = "{";
    for (int i = 0; i < NDAYS; i++) {
        out = apr_pstrcat(p, out, i ? "," : "", v[i] ? v[i] : "NULL", NULL);
    }
    return apr_pstrcat(p, out, "}", NULL);
}

/* PUT /api/provider/working-hours: provider; all seven days and slotDuration (15..240,
 * default 60); 422 with the field at fault. Answers the saved template. */
dp_error *dp_avail_hours_put(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    day_hours d[NDAYS];
    const char *en[NDAYS], *st[NDAYS], *en_t[NDAYS], *bs[NDAYS], *be[NDAYS];
    json_t *slot_v = json_object_get(c->body, "slotDuration");
    int slot = DEFAULT_SLOT;
    dp_db *db;
    dp_error *e;
    dp_audit_event ev = {.resource_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};

    for (int i = 0; i < NDAYS; i++) {
        if ((e = read_day(p, c->body, days[i], &d[i]))) return e;
        en[i] = d[i].enabled ? "t" : "f";
        st[i] = d[i].start;
        en_t[i] = d[i].end;
        bs[i] = d[i].break_start;
        be[i] = d[i].break_end;
    }
    if (slot_v != NULL && !json_is_null(slot_v)) {
        if (!json_is_integer(slot_v) || json_integer_value(slot_v) < 15
            || json_integer_value(slot_v) > 240) {
            return dp_error_field(p, "slotDuration",
                                  "slotDuration must be a whole number of "
                                  "minutes from 15 to 240.");
        }
        slot = (int)json_integer_value(slot_v);
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))
        || (e = dp_db_exec(db, DPQ_WORKING_HOURS_SAVE, NULL,
                           DP_ARGS(c->who->user_id, apr_itoa(p, slot))))
        || (e = dp_db_exec(db, DPQ_WORKING_DAYS_SAVE, NULL,
                           DP_ARGS(c->who->user_id, array_of(p, en), array_of(p, st),
                                   array_of(p, en_t), array_of(p, bs), array_of(p, be))))
        || (e = dp_audit(c, &ev)) || (e = dp_db_commit(db))) {
        return e;
    }
    dp_reply_json(c, 200, hours_json(p, d, slot, 1));
    return NULL;
}

static json_t *time_off_json(const dp_rows *rows, int i)
{
    json_t *o = json_object();
    dp_json_set_str(o, "id", dp_rows_get(rows, i, "id"));
    dp_json_set_str(o, "from", dp_rows_get(rows, i, "first_day"));
    dp_json_set_str(o, "to", dp_rows_get(rows, i, "last_day"));
    dp_json_set_str(o, "reason", dp_rows_get(rows, i, "reason"));
    dp_json_set_str(o, "createdAt", dp_rows_get(rows, i, "created_at"));
    return o;
}

/* GET /api/provider/time-off: provider; its days off, earliest first. */
dp_error *dp_avail_timeoff_list(dp_ctx *c)
{
    json_t *arr = dp_json_own(c->r->pool, json_array());
    dp_audit_event ev = {.outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_audited_read(c, &ev, DPQ_TIME_OFF_LIST, &rows, DP_ARGS(c->who->user_id)))) return e;
    for (int i = 0; i < rows->nrows; i++) {
        json_array_append_new(arr, time_off_json(rows, i));
    }
    dp_reply_json(c, 200, arr);
    return NULL;
}

/* POST /api/provider/time-off {from, to, reason?}: provider; whole local days, both
 * included. 201 with the entry. */
dp_error *dp_avail_timeoff_create(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *from, *to, *reason;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, "from", "from", 1, 10, &from))) return e;
    if (!dp_valid_date(from)) return dp_error_field(p, "from", "from must be YYYY-MM-DD.");
    if ((e = dp_json_string(p, c->body, "to", "to", 1, 10, &to))) return e;
    if (!dp_valid_date(to)) return dp_error_field(p, "to", "to must be YYYY-MM-DD.");
    if (strcmp(to, from) < 0) {
        return dp_error_field(p, "to", "to must be the same day as from or later.");
    }
    if ((e = dp_json_string(p, c->body, "reason", "reason", 0, 500, &reason))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))
        || (e = dp_db_select(db, DPQ_TIME_OFF_INSERT, &rows,
                             DP_ARGS(c->who->user_id, from, to, reason)))) {
        return e;
    }
    {
        dp_audit_event ev = {.resource_id = dp_rows_get(rows, 0, "id"),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev)) || (e = dp_db_commit(db))) return e;
    }
    dp_reply_json(c, 201, dp_json_own(p, time_off_json(rows, 0)));
    return NULL;
}

/* DELETE /api/provider/time-off/:id: provider; its own entry (404 otherwise). 204. */
dp_error *dp_avail_timeoff_delete(dp_ctx *c)
{
    const char *id = c->params[0];
    dp_audit_event ev = {.resource_id = id, .outcome = DP_OUTCOME_DENIED};
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))
        || (e = dp_db_select(db, DPQ_TIME_OFF_DELETE, &rows, DP_ARGS(id, c->who->user_id)))) {
        return e;
    }
    if (rows->nrows == 1) {
        ev.outcome = DP_OUTCOME_SUCCESS;
        if ((e = dp_audit(c, &ev)) || (e = dp_db_commit(db))) return e;
        dp_reply_empty(c);
        return NULL;
    }
    dp_db_rollback(db);
    if ((e = dp_audit(c, &ev))) return e;
    return dp_error_make(c->r->pool, 404, DP_E_NOT_FOUND, NULL, "No such time off.");
}

/* "09:00" -> "09:00 AM", "13:30" -> "01:30 PM" */
static const char *twelve_hour(apr_pool_t *p, const char *hhmm)
{
    int h = atoi(hhmm);
    return apr_psprintf(p, "%02d:%s %s", h % 12 == 0 ? 12 : h % 12, hhmm + 3, h < 12 ? "AM" : "PM");
}

/* The open slots of a provider's day: {date, timeZone, slotDuration, slots: [{time,
 * time24h, startsAt}]}. */
static dp_error *slots_of(dp_ctx *c, const char *provider, const char *client)
{
    apr_pool_t *p = c->r->pool;
    const char *date = c->params[0];
    dp_audit_event ev = {
        .resource_id = provider, .client_id = client, .outcome = DP_OUTCOME_SUCCESS};
    json_t *out, *arr;
    dp_rows *set, *rows;
    dp_db *db;
    dp_error *e;

    if (!dp_valid_date(date)) {
        return dp_error_field(p, "date", "The date must be YYYY-MM-DD.");
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_SLOT_SETTINGS, &set, DP_ARGS(provider)))) return e;
    if (set->nrows == 0) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, NULL, "No such provider.");
    }
    if ((e = dp_audited_read(c, &ev, DPQ_AVAILABLE_SLOTS, &rows,
                             DP_ARGS(provider, date, apr_itoa(p, c->cfg->min_notice),
                                     apr_itoa(p, c->cfg->horizon_days))))) {
        return e;
    }
    out = dp_json_own(p, json_object());
    arr = json_array();
    for (int i = 0; i < rows->nrows; i++) {
        const char *t = dp_rows_get(rows, i, "time24");
        json_t *s = json_object();
        dp_json_set_str(s, "time", twelve_hour(p, t));
        dp_json_set_str(s, "time24h", t);
        dp_json_set_str(s, "startsAt", dp_rows_get(rows, i, "starts_at"));
        json_array_append_new(arr, s);
    }
    dp_json_set_str(out, "date", date);
    dp_json_set_str(out, "timeZone", dp_rows_get(set, 0, "time_zone"));
    json_object_set_new(out, "slotDuration",
                        json_integer(atoi(dp_rows_get(set, 0, "slot_minutes"))));
    json_object_set_new(out, "slots", arr);
    dp_reply_json(c, 200, out);
    return NULL;
}

/* GET /api/provider/available-slots/:date: provider; its own open slots. */
dp_error *dp_avail_slots_provider(dp_ctx *c)
{
    return slots_of(c, c->who->user_id, NULL);
}

/* GET /api/client/provider/available-slots/:date: client; its provider's open slots. */
dp_error *dp_avail_slots_client(dp_ctx *c)
{
    if (c->who->provider_id == NULL) {
        dp_audit_event ev = {.client_id = c->who->user_id, .outcome = DP_OUTCOME_FAILURE};
        dp_error *e = dp_audit(c, &ev);
        return e ? e
                 : dp_error_make(c->r->pool, 404, DP_E_NOT_FOUND, NULL,
                                 "You are not linked to a provider yet.");
    }
    return slots_of(c, c->who->provider_id, c->who->user_id);
}
