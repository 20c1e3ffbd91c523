/* Appointments: booking, reading, rescheduling, status changes, cancelling and joining.
 * Dates and times are the provider's local ones; the instant is computed in SQL (the C
 * library's time zone handling is process-wide). One provider's bookings and reschedules are
 * serialised on its row, and an exclusion constraint forbids overlaps in any case. */
#include "dp_appointments.h"
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_outbox.h"
#include "dp_sql.h"
#include "dp_video.h"

#include "core/dp_epoch.h"
#include "core/dp_json.h"
#include "core/dp_jsonw.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

#define DEFAULT_TYPE     "Video Session"
#define DEFAULT_DURATION 50

/* The Appointment model: its string fields (column, key) in answer order, then duration and
 * amount. A result gives each formatted field either as the appointments_api view writes it
 * (col) or unformatted (raw: microseconds since 1970, the appointments_list view of
 * sql/018_appointments_list.sql), which is then written here as appointments_api would. */
enum { RAW_NONE, RAW_LOCAL_DATE, RAW_LOCAL_TIME, RAW_INSTANT };

static const struct {
    const char *col, *key, *raw;
    int how;
} appointment_strs[] = {
    {"id",            "id",           NULL,         RAW_NONE      },
    {"client_id",     "clientId",     NULL,         RAW_NONE      },
    {"provider_id",   "providerId",   NULL,         RAW_NONE      },
    {"client_name",   "clientName",   NULL,         RAW_NONE      },
    {"provider_name", "providerName", NULL,         RAW_NONE      },
    {"date",          "date",         "local_us",   RAW_LOCAL_DATE},
    {"time",          "time",         "local_us",   RAW_LOCAL_TIME},
    {"type",          "type",         NULL,         RAW_NONE      },
    {"status",        "status",       NULL,         RAW_NONE      },
    {"notes",         "notes",        NULL,         RAW_NONE      },
    {"video_link",    "videoLink",    NULL,         RAW_NONE      },
    {"time_zone",     "timeZone",     NULL,         RAW_NONE      },
    {"starts_at",     "startsAt",     "starts_us",  RAW_INSTANT   },
    {"ends_at",       "endsAt",       "ends_us",    RAW_INSTANT   },
    {"created_at",    "createdAt",    "created_us", RAW_INSTANT   },
    {"updated_at",    "updatedAt",    "updated_us", RAW_INSTANT   },
};
#define APPOINTMENT_STRS (sizeof(appointment_strs) / sizeof(appointment_strs[0]))

/* The columns of a result, looked up once for all its rows: str[n] the formatted column of
 * field n, else raw[n] its unformatted one (-1: absent). */
typedef struct appointment_cols {
    int str[APPOINTMENT_STRS], raw[APPOINTMENT_STRS], duration, cents;
} appointment_cols;

static void appointment_cols_of(const dp_rows *rows, appointment_cols *k)
{
    for (size_t n = 0; n < APPOINTMENT_STRS; n++) {
        k->str[n] = dp_rows_col(rows, appointment_strs[n].col);
        k->raw[n] = k->str[n] < 0 && appointment_strs[n].raw != NULL
            ? dp_rows_col(rows, appointment_strs[n].raw)
            : -1;
    }
    k->duration = dp_rows_col(rows, "duration_minutes");
    k->cents = dp_rows_col(rows, "amount_cents");
}

static void appointment_write(dp_jw *w, apr_pool_t *p, const dp_rows *rows, int i,
                              const appointment_cols *k)
{
    const char *dur = dp_rows_at(rows, i, k->duration);
    const char *cents = dp_rows_at(rows, i, k->cents);
    const char *local[2] = {NULL, NULL}, *v;
    int local_done = 0;

    dp_jw_object(w);
    for (size_t n = 0; n < APPOINTMENT_STRS; n++) {
        int how = appointment_strs[n].how;
        if (k->str[n] >= 0 || k->raw[n] < 0) {
            v = dp_rows_at(rows, i, k->str[n]);
        }
        else if (how == RAW_INSTANT) {
            v = dp_epoch_iso(p, dp_rows_at(rows, i, k->raw[n]));
        }
        else {
            if (!local_done) {
                dp_epoch_local(p, dp_rows_at(rows, i, k->raw[n]), &local[0], &local[1]);
                local_done = 1;
            }
            v = local[how == RAW_LOCAL_TIME];
        }
        dp_jw_kstr(w, appointment_strs[n].key, v);
    }
    dp_jw_kint(w, "duration", dur ? atoi(dur) : 0);
    dp_jw_key(w, "amount");
    dp_jw_money(w, cents ? apr_atoi64(cents) : 0, 1);
    dp_jw_end(w);
}

/* For answers built as jansson trees (the dashboards embed the next appointment). */
json_t *dp_appointment_json(apr_pool_t *p, const dp_rows *rows, int i)
{
    dp_jw *w = dp_jw_make(p, 1024);
    appointment_cols k;
    const char *text;
    apr_size_t len;

    appointment_cols_of(rows, &k);
    appointment_write(w, p, rows, i, &k);
    text = dp_jw_finish(w, &len);
    return dp_json_own(p, text ? json_loadb(text, len, 0, NULL) : NULL);
}

/* Answers written straight into one buffer (no jansson tree: see core/dp_jsonw.h): the list,
 * or (one >= 0) that row alone. */
static dp_error *reply_appointments(dp_ctx *c, int status, const dp_rows *rows, int one)
{
    dp_jw *w = dp_jw_make(c->r->pool, 600 * (apr_size_t)rows->nrows + 16);
    appointment_cols k;

    appointment_cols_of(rows, &k);
    if (one >= 0) {
        appointment_write(w, c->r->pool, rows, one, &k);
        return dp_reply_jw(c, status, w);
    }
    dp_jw_array(w);
    for (int i = 0; i < rows->nrows; i++) {
        appointment_write(w, c->r->pool, rows, i, &k);
    }
    dp_jw_end(w);
    return dp_reply_jw(c, status, w);
}

/* The instant of a provider-local date/time, refusing the past and DST gaps. */
typedef struct instant {
    const char *starts_at, *ends_at;
} instant;

static dp_error *local_instant(dp_db *db, apr_pool_t *p, const char *date, const char *time,
                               const char *duration, const char *zone, instant *out)
{
    dp_rows *rows;
    dp_error *e = dp_db_select(db, DPQ_APPT_INSTANT, &rows,
                               DP_ARGS(duration, zone, date, time, date, time, zone));
    const char *exists;
    if (e != NULL) return e;
    exists = dp_rows_get(rows, 0, "exists_local");
    if (exists == NULL || strcmp(exists, "t") != 0) {
        return dp_error_field(p, "time",
                              "That local time does not exist in the provider's "
                              "time zone (a daylight-saving change).");
    }
    if (strcmp(dp_rows_get(rows, 0, "past"), "t") == 0) {
        return dp_error_field(p, "date", "The appointment must start in the future.");
    }
    out->starts_at = dp_rows_get(rows, 0, "starts_at");
    out->ends_at = dp_rows_get(rows, 0, "ends_at");
    return NULL;
}

static dp_error *read_duration(apr_pool_t *p, json_t *body, int *minutes, int *given)
{
    json_t *v = json_object_get(body, "duration");
    *given = 0;
    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 15 || json_integer_value(v) > 240) {
        return dp_error_field(p, "duration",
                              "duration must be a whole number of minutes "
                              "from 15 to 240.");
    }
    *minutes = (int)json_integer_value(v);
    *given = 1;
    return NULL;
}

static dp_error *read_date_time(apr_pool_t *p, json_t *body, int required, const char **date,
                                const char **time)
{
    dp_error *e;
    if ((e = dp_json_string(p, body, "date", "date", required, 10, date))) return e;
    if (*date != NULL && !dp_valid_date(*date)) {
        return dp_error_field(p, "date", "date must be YYYY-MM-DD.");
    }
    if ((e = dp_json_string(p, body, "time", "time", required, 16, time))) return e;
    if (*time != NULL && (*time = dp_time_normalize(p, *time)) == NULL) {
        return dp_error_field(p, "time", "time must be HH:MM (24 h) or like 9:00 AM.");
    }
    return NULL;
}

/* amount = hourly rate x minutes / 60, rounded half-up to cents */
static const char *amount_for(apr_pool_t *p, const char *rate_cents, int minutes)
{
    apr_int64_t rate = rate_cents ? apr_atoi64(rate_cents) : 0;
    return apr_psprintf(p, "%" APR_INT64_T_FMT, (rate * minutes + 30) / 60);
}

/* The appointment as the caller may read it, within the write's transaction: the answer to a
 * write is read before its COMMIT, so that a write answered 2xx is one that committed, and a
 * connection lost after the COMMIT cannot turn a committed write into a 503 (only a lost
 * COMMIT leaves a write in doubt). */
static dp_error *read_appointment(dp_ctx *c, dp_db *db, const char *id, dp_rows **rows)
{
    dp_error *e =
        dp_db_select(db, DPQ_APPT_GET, rows, DP_ARGS(id, c->who->user_id, c->who->user_id));
    if (e != NULL) return e;
    return (*rows)->nrows == 0 ? dp_error_internal(c->r->pool) : NULL;
}

/* Mail one party of an appointment about it (in the open transaction), unless that party
 * turned appointment mail off. The text says when (in the provider's zone) and links to the
 * appointment in the portal; never who, nor why. */
static dp_error *notify(dp_ctx *c, dp_db *db, const char *id, const char *kind, int to_client)
{
    apr_pool_t *p = c->r->pool;
    dp_mail_vars v;
    dp_rows *r;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_APPT_NOTICE, &r, DP_ARGS(id)))) return e;
    if (r->nrows == 0
        || strcmp(dp_rows_get(r, 0, to_client ? "client_wants" : "provider_wants"), "t") != 0) {
        return NULL;
    }
    v.link = apr_pstrcat(p, dp_outbox_public_base(c), "/appointments/", id, NULL);
    v.when = dp_rows_get(r, 0, "starts_local");
    v.zone = dp_rows_get(r, 0, "time_zone");
    return dp_outbox_queue_v(c, db, kind,
                             dp_rows_get(r, 0, to_client ? "client_email" : "provider_email"), &v);
}

/* Who books with whom, and how the booking starts. */
typedef struct booking {
    const char *provider_id, *client_id;
    int by_provider; /* the provider's own booking: confirmed, and free of the client rules */
} booking;

/* The fields of a booking request. */
typedef struct booking_req {
    const char *date, *time, *type, *notes, *dur_s;
    int minutes;
} booking_req;

static dp_error *read_booking(apr_pool_t *p, json_t *body, booking_req *q)
{
    dp_error *e;
    int given;

    q->minutes = DEFAULT_DURATION;
    if ((e = read_date_time(p, body, 1, &q->date, &q->time))) return e;
    if ((e = read_duration(p, body, &q->minutes, &given))) return e;
    if ((e = dp_json_string(p, body, "type", "type", 0, 100, &q->type))) return e;
    if ((e = dp_json_string(p, body, "notes", "notes", 0, 2000, &q->notes))) return e;
    if (q->type == NULL || *q->type == '\0') {
        q->type = DEFAULT_TYPE;
    }
    q->dur_s = apr_itoa(p, q->minutes);
    return NULL;
}

static dp_error *outside(apr_pool_t *p, const char *field, const char *detail)
{
    return dp_error_make(p, 422, DP_E_OUTSIDE_AVAILABILITY, field, "%s", detail);
}

/* What a client's booking must meet besides a free slot: the horizon, the provider's hours
 * once it saved them, the minimum notice. */
static dp_error *client_rules(dp_ctx *c, dp_db *db, const booking *b, const booking_req *q)
{
    apr_pool_t *p = c->r->pool;
    dp_rows *r;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_BOOKING_RULES, &r,
                          DP_ARGS(b->provider_id, q->date, q->time, q->dur_s,
                                  apr_itoa(p, c->cfg->min_notice),
                                  apr_itoa(p, c->cfg->horizon_days))))) {
        return e;
    }
    if (r->nrows == 0) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "providerId", "No such provider.");
    }
    if (strcmp(dp_rows_get(r, 0, "within_horizon"), "t") != 0) {
        return dp_error_make(p, 422, DP_E_VALIDATION, "date",
                             "Sessions can be booked at most %d days ahead.", c->cfg->horizon_days);
    }
    if (strcmp(dp_rows_get(r, 0, "configured"), "t") == 0
        && strcmp(dp_rows_get(r, 0, "fits_hours"), "t") != 0) {
        return outside(p, "time",
                       "That time is outside the provider's working hours, in a "
                       "break or on a day off; pick one of the open slots.");
    }
    if (strcmp(dp_rows_get(r, 0, "soon_enough"), "t") != 0) {
        return outside(p, "time",
                       apr_psprintf(p,
                                    "Sessions must be booked at least %d "
                                    "minutes ahead.",
                                    c->cfg->min_notice));
    }
    return NULL;
}

/* A client may hold at most DocPortalMaxPendingPerClient pending appointments. */
static dp_error *pending_limit(dp_ctx *c, dp_db *db, const booking *b)
{
    dp_rows *r;
    dp_error *e;

    if (b->by_provider) {
        return NULL;
    }
    if ((e = dp_db_select(db, DPQ_CLIENT_PENDING_COUNT, &r, DP_ARGS(b->client_id)))) return e;
    if (apr_atoi64(dp_rows_get(r, 0, "pending")) < c->cfg->max_pending) {
        return NULL;
    }
    return dp_error_make(c->r->pool, 409, DP_E_TOO_MANY_PENDING, NULL,
                         "You already have %d appointments waiting for your provider's "
                         "confirmation.",
                         c->cfg->max_pending);
}

static dp_error *refused(dp_ctx *c, dp_db *db, const booking *b, dp_error *e)
{
    dp_audit_event ev = {.client_id = b->client_id, .outcome = DP_OUTCOME_FAILURE};
    return dp_audit_refusal(c, db, &ev, e);
}

static dp_error *slot_taken(apr_pool_t *p)
{
    return dp_error_make(p, 409, DP_E_SLOT_TAKEN, NULL,
                         "The provider already has an appointment at that time.");
}

/* The video room a booking made before taking the lock. */
typedef struct room {
    const char *link, *vendor, *event;
} room;

/* Under the provider's lock: the pending count again, the insert (the exclusion constraint
 * is the final word on overlaps), the mail and the audit event; the caller commits. */
static dp_error *book_tx(dp_ctx *c, dp_db *db, const booking *b, const booking_req *q,
                         const dp_rows *prov, const instant *at, const char *id, const room *rm)
{
    apr_pool_t *p = c->r->pool;
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_PROVIDER_LOCK, &rows, DP_ARGS(b->provider_id)))) return e;
    if ((e = pending_limit(c, db, b))) {
        return e->status < 500 ? refused(c, db, b, e) : e;
    }
    if ((e = dp_db_select(
             db, DPQ_APPT_INSERT, &rows,
             DP_ARGS(id, b->provider_id, b->client_id, at->starts_at, q->dur_s, at->ends_at,
                     q->type, b->by_provider ? "confirmed" : "pending", q->notes, rm->link,
                     rm->vendor, rm->event,
                     amount_for(p, dp_rows_get(prov, 0, "hourly_rate_cents"), q->minutes))))) {
        return e;
    }
    if (rows->nrows == 0) {
        return refused(c, db, b, slot_taken(p));
    }
    /* the other party hears of it: the provider of a request, the client of a booking */
    if ((e = notify(c, db, id, b->by_provider ? DP_MAIL_APPT_CONFIRMED : DP_MAIL_APPT_BOOKED,
                    b->by_provider))) {
        return e;
    }
    c->mail_queued = 1; /* also: a confirmed session close enough gets its reminder now */
    {
        dp_audit_event ev = {
            .resource_id = id, .client_id = b->client_id, .outcome = DP_OUTCOME_SUCCESS};
        return dp_audit(c, &ev);
    }
}

/* Book: the instant in the provider's zone, the client's rules, a cheap look at the slot
 * and the pending count before a video room is made, then the locked part (book_tx). */
static dp_error *book(dp_ctx *c, const booking *b, const booking_req *q)
{
    apr_pool_t *p = c->r->pool;
    const char *id;
    dp_rows *prov, *rows;
    instant at;
    room rm;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_PROVIDER_FOR_BOOKING, &prov, DP_ARGS(b->provider_id)))) {
        return e;
    }
    if (prov->nrows == 0) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "providerId", "No such provider.");
    }
    if ((e = local_instant(db, p, q->date, q->time, q->dur_s, dp_rows_get(prov, 0, "time_zone"),
                           &at))) {
        return e;
    }
    if (!b->by_provider && (e = client_rules(c, db, b, q))) {
        return e->status < 500 ? refused(c, db, b, e) : e;
    }
    if ((e = dp_db_select(db, DPQ_SLOT_TAKEN, &rows,
                          DP_ARGS(b->provider_id, NULL, at.starts_at, at.ends_at)))) {
        return e;
    }
    if (rows->nrows > 0) {
        return refused(c, db, b, slot_taken(p));
    }
    if ((e = pending_limit(c, db, b))) {
        return e->status < 500 ? refused(c, db, b, e) : e;
    }
    if ((id = dp_uuid_new(p)) == NULL) {
        return dp_error_internal(p);
    }
    if ((e = dp_video_room(c, id, dp_rows_get(prov, 0, "email"),
                           strcmp(dp_rows_get(prov, 0, "email_verified"), "t") == 0, at.starts_at,
                           at.ends_at, q->type, &rm.link, &rm.vendor, &rm.event))) {
        return e;
    }
    if ((e = book_tx(c, db, b, q, prov, &at, id, &rm))) {
        /* Nothing was committed (the slot went to another booking under the lock, the
         * pending limit, a failed statement): the Google event made for it goes, once the
         * lock is released. */
        if (rm.event != NULL) {
            dp_db_rollback(db);
            dp_video_gone(c, id, dp_rows_get(prov, 0, "email"), rm.event);
        }
        return e;
    }
    if ((e = read_appointment(c, db, id, &rows)) || (e = dp_db_commit(db))) return e;
    return reply_appointments(c, 201, rows, 0);
}

/* POST /api/client/appointments: client; asks its own provider for a session (pending). */
dp_error *dp_appointment_book(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *provider_id;
    booking b = {NULL, c->who->user_id, 0};
    booking_req q;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, "providerId", "providerId", 0, 64, &provider_id))) {
        return e;
    }
    if ((e = read_booking(p, c->body, &q))) return e;
    /* a client books only with its own provider; another one is not there for it */
    if (c->who->provider_id == NULL) {
        return dp_error_field(p, "providerId", "You are not linked to a provider yet.");
    }
    if (provider_id != NULL && strcasecmp(provider_id, c->who->provider_id) != 0) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "providerId", "No such provider.");
    }
    b.provider_id = c->who->provider_id;
    return book(c, &b, &q);
}

/* POST /api/provider/appointments {clientId, date, time, duration?, type?, notes?}: provider;
 * schedules one of its own clients. Confirmed at once, and a therapist's own choice of time:
 * working hours, notice, horizon and the pending limit do not apply; overlaps still do. */
dp_error *dp_appointment_book_by_provider(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    booking b = {c->who->user_id, NULL, 1};
    booking_req q;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, "clientId", "clientId", 1, 64, &b.client_id))) return e;
    if ((e = read_booking(p, c->body, &q))) return e;
    if (!dp_uuid_valid(b.client_id)) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "clientId", "No such client.");
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_PROVIDER_CLIENT, &rows, DP_ARGS(b.client_id, b.provider_id)))) {
        return e;
    }
    if (rows->nrows == 0) { /* another practice's client, or none: not there for this one */
        dp_audit_event ev = {.resource_id = b.client_id, .outcome = DP_OUTCOME_DENIED};
        return (e = dp_audit(c, &ev)) != NULL
            ? e
            : dp_error_make(p, 404, DP_E_NOT_FOUND, "clientId", "No such client.");
    }
    return book(c, &b, &q);
}

/* One appointment of the caller's (as its provider or client), with the read's audit event
 * (denied when it is not the caller's or does not exist: 404 either way). */
static dp_error *read_own(dp_ctx *c, const char *id, dp_rows **rows)
{
    dp_db *db;
    dp_error *e;
    dp_audit_event ev = {.resource_id = id, .outcome = DP_OUTCOME_DENIED};

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_APPT_GET, rows, DP_ARGS(id, c->who->user_id, c->who->user_id)))) {
        return e;
    }
    if ((*rows)->nrows > 0) {
        ev.client_id = dp_rows_get(*rows, 0, "client_id");
        ev.outcome = DP_OUTCOME_SUCCESS;
    }
    if ((e = dp_audit(c, &ev))) return e;
    if ((*rows)->nrows == 0) {
        return dp_error_make(c->r->pool, 404, DP_E_NOT_FOUND, NULL, "No such appointment.");
    }
    return NULL;
}

/* GET /api/appointments/:id: the appointment's provider or client. */
dp_error *dp_appointment_get(dp_ctx *c)
{
    dp_rows *rows;
    dp_error *e = read_own(c, c->params[0], &rows);
    return e != NULL ? e : reply_appointments(c, 200, rows, 0);
}

/* May this role move an appointment from one status to another? (docs/api.md,
 * "Appointments"). Returns NULL or the error. */
static dp_error *check_transition(apr_pool_t *p, const char *role, const char *from, const char *to,
                                  int started)
{
    int provider = strcmp(role, "provider") == 0;
    if (strcmp(from, to) == 0) {
        return NULL;
    }
    if (!provider && (strcmp(to, "confirmed") == 0 || strcmp(to, "completed") == 0)) {
        return dp_error_make(p, 403, DP_E_FORBIDDEN, "status",
                             "Only the provider may confirm or complete an appointment.");
    }
    if ((strcmp(to, "confirmed") == 0 && strcmp(from, "pending") == 0)
        || (strcmp(to, "completed") == 0 && strcmp(from, "confirmed") == 0 && started)
        || (strcmp(to, "cancelled") == 0
            && (strcmp(from, "pending") == 0 || strcmp(from, "confirmed") == 0))) {
        return NULL;
    }
    return dp_error_make(p, 409, DP_E_INVALID_TRANSITION, "status",
                         "An appointment cannot go from %s to %s%s.", from, to,
                         strcmp(to, "completed") == 0 && !started ? " before it starts" : "");
}

/* The change a PATCH or DELETE asks for, applied to the locked row in one transaction. */
typedef struct change {
    const char *status, *date, *time, *notes;
    int minutes, minutes_given, notes_given;
} change;

/* Who hears of a change: the other party of a cancellation or a move, the client of its
 * provider's confirmation. A confirmation also wakes the delivery thread, which queues the
 * reminder at once when the session is close. */
static dp_error *notify_change(dp_ctx *c, dp_db *db, const char *id, const char *from,
                               const char *to, int resched)
{
    int by_provider = strcmp(c->who->role, "provider") == 0;

    if (strcmp(to, "cancelled") == 0 && strcmp(from, "cancelled") != 0) {
        return notify(c, db, id, DP_MAIL_APPT_CANCELLED, by_provider);
    }
    if (strcmp(to, "confirmed") == 0) {
        c->mail_queued = 1;
    }
    /* a confirmation names the (new) time, so a move confirmed at once is told as such */
    if (strcmp(to, "confirmed") == 0 && strcmp(from, "confirmed") != 0) {
        return notify(c, db, id, DP_MAIL_APPT_CONFIRMED, 1);
    }
    if (resched && strcmp(to, "completed") != 0) {
        return notify(c, db, id, DP_MAIL_APPT_RESCHEDULED, by_provider);
    }
    return NULL;
}

static dp_error *apply_change_tx(dp_ctx *c, const char *id, const change *ch,
                                 const char **client_id)
{
    apr_pool_t *p = c->r->pool;
    const char *me = c->who->user_id, *from, *to, *date, *time, *starts, *amount = NULL;
    int minutes, resched, cancelled, moved;
    dp_rows *cur, *rows, *gev = NULL;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_APPT_LOCK, &cur, DP_ARGS(id, me, me)))) return e;
    if (cur->nrows == 0) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, NULL, "No such appointment.");
    }
    *client_id = dp_rows_get(cur, 0, "client_id");
    /* lock the provider first, then the row: the same order as a booking */
    if ((e = dp_db_select(db, DPQ_PROVIDER_LOCK, &rows,
                          DP_ARGS(dp_rows_get(cur, 0, "provider_id"))))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_APPT_ROW_LOCK, &rows, DP_ARGS(id)))) return e;
    if ((e = dp_db_select(db, DPQ_APPT_LOCK, &cur, DP_ARGS(id, me, me)))) return e;

    from = dp_rows_get(cur, 0, "status");
    minutes = ch->minutes_given ? ch->minutes : atoi(dp_rows_get(cur, 0, "duration_minutes"));
    date = ch->date ? ch->date : dp_rows_get(cur, 0, "date");
    time = ch->time ? ch->time : dp_rows_get(cur, 0, "time");
    resched = ch->date != NULL || ch->time != NULL || ch->minutes_given;
    to = ch->status ? ch->status : from;
    if (resched
        && (strcmp(from, "completed") == 0 || strcmp(from, "cancelled") == 0
            || strcmp(to, "completed") == 0)) {
        return dp_error_make(p, 409, DP_E_INVALID_TRANSITION, NULL,
                             "A %s appointment cannot be rescheduled.",
                             strcmp(to, "completed") == 0 ? "completed" : from);
    }
    if ((e = check_transition(p, c->who->role, from, to,
                              strcmp(dp_rows_get(cur, 0, "started"), "t") == 0))) {
        return e;
    }
    /* a client's reschedule of a confirmed appointment needs the provider's confirmation */
    if (resched && strcmp(c->who->role, "client") == 0 && strcmp(to, "confirmed") == 0) {
        to = "pending";
    }
    starts = dp_rows_get(cur, 0, "starts_at");
    if (resched) {
        instant at;
        dp_rows *prov;
        if ((e = local_instant(db, p, date, time, apr_itoa(p, minutes),
                               dp_rows_get(cur, 0, "time_zone"), &at))) {
            return e;
        }
        starts = at.starts_at;
        if (strcmp(c->who->role, "client") == 0 && strcmp(to, "cancelled") != 0) {
            booking b = {dp_rows_get(cur, 0, "provider_id"), *client_id, 0};
            booking_req q = {date, time, NULL, NULL, apr_itoa(p, minutes), minutes};
            if ((e = client_rules(c, db, &b, &q))) return e;
        }
        if (strcmp(to, "cancelled") != 0) {
            if ((e = dp_db_select(
                     db, DPQ_SLOT_TAKEN, &rows,
                     DP_ARGS(dp_rows_get(cur, 0, "provider_id"), id, starts, at.ends_at)))) {
                return e;
            }
            if (rows->nrows > 0) {
                return dp_error_make(p, 409, DP_E_SLOT_TAKEN, NULL,
                                     "The provider already has an appointment at that time.");
            }
        }
        if (ch->minutes_given) {
            if ((e = dp_db_select(db, DPQ_PROVIDER_FOR_BOOKING, &prov,
                                  DP_ARGS(dp_rows_get(cur, 0, "provider_id"))))) {
                return e;
            }
            amount = amount_for(p, dp_rows_get(prov, 0, "hourly_rate_cents"), minutes);
        }
    }
    if ((e = dp_db_exec(db, DPQ_APPT_UPDATE, NULL,
                        DP_ARGS(starts, apr_itoa(p, minutes), starts, apr_itoa(p, minutes), to,
                                ch->notes_given ? ch->notes : dp_rows_get(cur, 0, "notes"), amount,
                                id)))) {
        return e;
    }
    if ((e = notify_change(c, db, id, from, to, resched))) return e;
    {
        dp_audit_event ev = {.resource_id = id,
                             .client_id = dp_rows_get(cur, 0, "client_id"),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    /* a Google event follows a cancellation or a move, once it is committed */
    cancelled = strcmp(to, "cancelled") == 0 && strcmp(from, "cancelled") != 0;
    moved = resched && !cancelled
        && (strcmp(starts, dp_rows_get(cur, 0, "starts_at")) != 0
            || minutes != atoi(dp_rows_get(cur, 0, "duration_minutes")));
    if ((cancelled || moved) && (e = dp_db_select(db, DPQ_APPT_GOOGLE_EVENT, &gev, DP_ARGS(id)))) {
        return e;
    }
    if ((e = read_appointment(c, db, id, &rows)) || (e = dp_db_commit(db))) return e;
    if (gev != NULL && gev->nrows > 0) {
        const char *email = dp_rows_get(gev, 0, "provider_email");
        const char *event = dp_rows_get(gev, 0, "google_event_id");
        if (cancelled) {
            dp_video_gone(c, id, email, event);
        }
        else {
            dp_video_moved(c, id, email, event, dp_rows_get(gev, 0, "starts_at"),
                           dp_rows_get(gev, 0, "ends_at"));
        }
    }
    return reply_appointments(c, 200, rows, 0);
}

/* One transaction; a refusal (not found, forbidden, conflict) is rolled back and leaves an
 * audit event of its own, like every other access to a client's record. */
static dp_error *apply_change(dp_ctx *c, const char *id, const change *ch)
{
    const char *client_id = NULL;
    dp_error *e = apply_change_tx(c, id, ch, &client_id);
    dp_db *db;

    if (e != NULL && e->status < 500 && dp_ctx_db(c, &db) == NULL) {
        dp_audit_event ev = {.resource_id = id,
                             .client_id = client_id,
                             .outcome = e->status == 404 || e->status == 403 ? DP_OUTCOME_DENIED
                                                                             : DP_OUTCOME_FAILURE};
        return dp_audit_refusal(c, db, &ev, e);
    }
    return e;
}

/* PATCH /api/appointments/:id: provider or client of it. Reschedule (date, time, duration),
 * change status by the rules, edit notes. */
dp_error *dp_appointment_update(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    change ch;
    dp_error *e;

    memset(&ch, 0, sizeof(ch));
    if ((e = read_date_time(p, c->body, 0, &ch.date, &ch.time))) return e;
    if ((e = read_duration(p, c->body, &ch.minutes, &ch.minutes_given))) return e;
    if ((e = dp_json_string(p, c->body, "status", "status", 0, 16, &ch.status))) return e;
    if (ch.status != NULL && strcmp(ch.status, "pending") != 0
        && strcmp(ch.status, "confirmed") != 0 && strcmp(ch.status, "completed") != 0
        && strcmp(ch.status, "cancelled") != 0) {
        return dp_error_field(p, "status",
                              "status must be pending, confirmed, completed or cancelled.");
    }
    ch.notes_given = json_object_get(c->body, "notes") != NULL;
    if ((e = dp_json_string(p, c->body, "notes", "notes", 0, 2000, &ch.notes))) return e;
    return apply_change(c, c->params[0], &ch);
}

/* DELETE /api/appointments/:id: provider or client of it; cancels, the row is kept. */
dp_error *dp_appointment_cancel(dp_ctx *c)
{
    change ch;
    memset(&ch, 0, sizeof(ch));
    ch.status = "cancelled";
    return apply_change(c, c->params[0], &ch);
}

/* POST /api/appointments/:id/join: provider or client of it; the video room's link. */
dp_error *dp_appointment_join(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    dp_rows *rows;
    dp_error *e;
    json_t *out;

    if ((e = read_own(c, c->params[0], &rows))) return e;
    if (strcmp(dp_rows_get(rows, 0, "status"), "cancelled") == 0) {
        return dp_error_make(p, 409, DP_E_INVALID_TRANSITION, NULL,
                             "The appointment was cancelled.");
    }
    out = dp_json_own(p, json_object());
    dp_json_set_str(out, "videoLink", dp_rows_get(rows, 0, "video_link"));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* GET /api/provider/appointments?date=YYYY-MM-DD&status=: provider; its own, by start. */
dp_error *dp_appointment_list_provider(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *date = dp_query_arg(c, "date"), *status = dp_query_arg(c, "status");
    dp_rows *rows;
    dp_error *e;
    dp_audit_event ev = {.outcome = DP_OUTCOME_SUCCESS};

    if (date != NULL && !dp_valid_date(date)) {
        return dp_error_field(p, "date", "date must be YYYY-MM-DD.");
    }
    if (status != NULL && strcmp(status, "pending") != 0 && strcmp(status, "confirmed") != 0
        && strcmp(status, "completed") != 0 && strcmp(status, "cancelled") != 0) {
        return dp_error_field(p, "status",
                              "status must be pending, confirmed, completed or cancelled.");
    }
    if ((e = dp_audited_read(c, &ev, DPQ_APPTS_OF_PROVIDER, &rows,
                             DP_ARGS(c->who->user_id, date, date, status, status)))) {
        return e;
    }
    return reply_appointments(c, 200, rows, -1);
}

/* GET /api/client/appointments?status=upcoming|completed: client; its own, by start. */
dp_error *dp_appointment_list_client(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *status = dp_query_arg(c, "status");
    dp_rows *rows;
    dp_error *e;
    dp_audit_event ev = {.client_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};

    if (status != NULL && strcmp(status, "upcoming") != 0 && strcmp(status, "completed") != 0) {
        return dp_error_field(p, "status", "status must be upcoming or completed.");
    }
    if ((e = dp_audited_read(c, &ev, DPQ_APPTS_OF_CLIENT, &rows,
                             DP_ARGS(c->who->user_id, status, status, status)))) {
        return e;
    }
    return reply_appointments(c, 200, rows, -1);
}
