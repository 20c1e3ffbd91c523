#include "dp_audit.h"

#include <apr_strings.h>
#include <http_log.h>

#include "dp_session.h"
#include "dp_sql.h"
#include "dp_waiter.h"
#include "core/dp_pgarray.h"

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

/* A session still to be confirmed (DP_ROUTE_FOLD_AUTH) is confirmed before an event names
 * its caller: when it no longer holds, its own refusal (401, audited as such) is the answer. */
static dp_error *session_confirmed(dp_ctx *c)
{
    return (c->who != NULL && c->who->pending != NULL) ? dp_session_confirm(c) : NULL;
}

dp_error *dp_audit(dp_ctx *c, const dp_audit_event *ev)
{
    dp_db *db;
    dp_error *e = session_confirmed(c);

    if (e != NULL) {
        return e;
    }
    e = dp_ctx_db(c, &db);

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

/* ---- group commit of read events ---------------------------------------------------------
 *
 * Each child keeps one queue of read events waiting to be written. A request appends its
 * event and waits (at most DocPortalAuditBatchWaitMs); whenever no batch is being written,
 * the first waiting request that sees events queued becomes the writer: it takes up to
 * DocPortalAuditBatchMax of them, the oldest first, and writes them with one INSERT (one
 * implicit transaction, one COMMIT) on its own connection, then wakes the requests whose
 * events it wrote, and the first of those queued meanwhile, to write the next batch unless a
 * request arriving first does (each sleeps on a condition variable of its own: dp_waiter.h).
 * While it writes, new events gather for the next batch: the busier the child, the more events
 * each COMMIT carries, with no thread of its own and no added delay when it is idle. Before a
 * batch is written it may wait, at most BATCH_HOLD, for the events of reads under way (below,
 * batched).
 *
 * A request learns its batch's outcome by the batch's number: one batch is written at a
 * time, so outcomes are recorded in order in a ring of recent batches. The queue holds
 * pointers into the waiting requests' pools; the writer copies the values into its own
 * array literals while it holds the lock, and a request that gives up removes its event
 * first, so nobody reads a pool that is gone. */

#define BATCH_RING 1024                  /* outcomes of the latest batches */
#define BATCH_HOLD apr_time_from_msec(1) /* longest wait for the events of reads under way */
#define BATCH_WHY  256 /* bytes of PostgreSQL's message kept for the waiters' logs */

typedef struct batch_entry {
    struct batch_entry *prev, *next;
    const char **args;  /* audit_insert's nine */
    apr_uint64_t batch; /* 0 while queued; then the number of the batch that took it */
    dp_waiter *w;       /* what its thread sleeps on */
} batch_entry;

typedef struct batch_outcome {
    apr_uint64_t batch;
    int status; /* 0: committed; 500: refused by PostgreSQL; 503: connection lost */
    int events; /* how many the batch held */
    char why[BATCH_WHY];
} batch_outcome;

static struct {
    dp_waitroom room;
    batch_entry *head, *tail;
    int writing;             /* a request is writing a batch */
    int en_route;            /* events announced by dp_audit_coming, not queued yet */
    apr_time_t hold_until;   /* the next batch waits for them until then; 0: not yet */
    apr_uint64_t last_batch; /* the number of the last batch taken */
    batch_outcome outcomes[BATCH_RING];
} gc;

void dp_audit_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv = dp_waitroom_init(&gc.room, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "DP01204: no lock for the audit batch; read events are written one by one");
    }
}

static void unqueue(batch_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        gc.head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        gc.tail = e->prev;
    e->prev = e->next = NULL;
}

/* The first queued event's request may write the next batch: wake it to see. */
static void wake_head(void)
{
    if (gc.head != NULL) {
        apr_thread_cond_signal(gc.head->w->cond);
    }
}

/* Called with the lock held, which it releases while PostgreSQL works: write up to max
 * queued events as one batch on db, then publish the outcome and wake the batch's waiters and
 * the next writer. */
static void write_batch(dp_ctx *c, dp_db *db, int max)
{
    apr_pool_t *p = c->r->pool;
    const char **cols[9], *lits[9];
    apr_uint64_t b = ++gc.last_batch;
    batch_outcome *o = &gc.outcomes[b % BATCH_RING];
    char why[BATCH_WHY] = "";
    /* a waiter that gives up before the outcome leaves its entry, not its variable: the
     * variables are kept, the entries are not */
    dp_waiter **ws = apr_palloc(p, sizeof(*ws) * (apr_size_t)max);
    int n = 0, ok, lost = 0;

    for (int k = 0; k < 9; k++) {
        cols[k] = apr_palloc(p, sizeof(char *) * (apr_size_t)max);
    }
    while (gc.head != NULL && n < max) {
        batch_entry *e = gc.head;
        for (int k = 0; k < 9; k++) {
            cols[k][n] = e->args[k];
        }
        ws[n] = e->w;
        e->batch = b;
        unqueue(e);
        n++;
    }
    for (int k = 0; k < 9; k++) {
        lits[k] = dp_pgarray_text(p, cols[k], n);
    }
    gc.writing = 1;
    gc.hold_until = 0;
    apr_thread_mutex_unlock(gc.room.lock);
    ok = dp_db_try_exec(db, DPQ_AUDIT_INSERT_BATCH, 9, lits, why, sizeof(why), &lost);
    apr_thread_mutex_lock(gc.room.lock);
    o->batch = b;
    o->status = ok ? 0 : lost ? 503 : 500;
    o->events = n;
    memcpy(o->why, why, sizeof(why));
    if (o->status == 500 && n > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                      "DP01205: PostgreSQL refused a batch of %d read events (%s); each is "
                      "written again on its own",
                      n, why);
    }
    gc.writing = 0;
    for (int i = 0; i < n; i++) {
        apr_thread_cond_signal(ws[i]->cond);
    }
    wake_head();
}

/* The outcome of e's batch (0 committed, 500, 503), once known, and how many events the batch
 * held; -1 while not known. */
static int outcome_of(const batch_entry *e, char *why, int *events)
{
    const batch_outcome *o;
    if (e->batch == 0) {
        return -1;
    }
    o = &gc.outcomes[e->batch % BATCH_RING];
    if (o->batch == e->batch) {
        memcpy(why, o->why, BATCH_WHY);
        *events = o->events;
        return o->status;
    }
    if (o->batch > e->batch || !gc.writing) {
        /* written so long ago that its outcome was overwritten: not known to be durable */
        apr_cpystrn(why, "the batch's outcome is no longer known", BATCH_WHY);
        return 503;
    }
    return -1;
}

static dp_error *unavailable(dp_ctx *c)
{
    return dp_error_make(c->r->pool, 503, DP_E_UNAVAILABLE, NULL,
                         "The database is unavailable; try again shortly.");
}

/* The request's event is no longer awaited: it came, or its handler is done without it. Called
 * with the lock held. */
static void arrived(dp_ctx *c)
{
    if (c->event_due) {
        c->event_due = 0;
        if (--gc.en_route == 0) {
            wake_head(); /* a batch held for it may go */
        }
    }
}

/* The same, as the request's pool cleanup (run by dp_audit_settled once the handler is done,
 * so the lock is taken during the request only). */
static apr_status_t never_arrived(void *data)
{
    dp_ctx *c = data;
    if (c->event_due) {
        apr_thread_mutex_lock(gc.room.lock);
        arrived(c);
        apr_thread_mutex_unlock(gc.room.lock);
    }
    return APR_SUCCESS;
}

void dp_audit_settled(dp_ctx *c)
{
    if (c->event_due) {
        apr_pool_cleanup_run(c->r->pool, c, never_arrived);
    }
}

void dp_audit_coming(dp_ctx *c)
{
    if (gc.room.lock == NULL || c->event_due) {
        return;
    }
    apr_thread_mutex_lock(gc.room.lock);
    gc.en_route++;
    c->event_due = 1;
    apr_thread_mutex_unlock(gc.room.lock);
    apr_pool_cleanup_register(c->r->pool, c, never_arrived, apr_pool_cleanup_null);
}

/* args into the child's batch; NULL once committed. A batch about to be written while reads
 * of this child are under way (gc.en_route: between dp_audit_coming and their event's
 * arrival) waits for their events, at most BATCH_HOLD, so that one COMMIT carries them too
 * rather than each writing its own. A batch PostgreSQL refused committed none of its events
 * (one statement, one transaction), so each of its reads then writes its own event alone:
 * an event PostgreSQL refuses fails its own read, not the reads it shared a batch with. */
static dp_error *batched(dp_ctx *c, dp_db *db, const char **args, const char *read)
{
    batch_entry me = {NULL, NULL, args, 0, NULL};
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(c->cfg->audit_batch_wait_ms);
    char why[BATCH_WHY] = "";
    int status, events = 0;

    apr_thread_mutex_lock(gc.room.lock);
    arrived(c);
    if ((me.w = dp_waiter_take(&gc.room)) == NULL) {
        apr_thread_mutex_unlock(gc.room.lock);
        return dp_db_exec(db, DPQ_AUDIT_INSERT, NULL, 9, args);
    }
    me.prev = gc.tail;
    if (gc.tail)
        gc.tail->next = &me;
    else
        gc.head = &me;
    gc.tail = &me;
    while ((status = outcome_of(&me, why, &events)) < 0) {
        apr_time_t now = apr_time_now(), until = deadline;
        if (!gc.writing && gc.head != NULL) {
            if (gc.en_route > 0 && gc.hold_until == 0) {
                gc.hold_until = now + BATCH_HOLD;
            }
            /* a waiter whose deadline comes first writes now rather than give up unwritten */
            if (gc.en_route == 0 || now >= gc.hold_until || deadline <= gc.hold_until) {
                write_batch(c, db, c->cfg->audit_batch_max);
                continue;
            }
            until = gc.hold_until < deadline ? gc.hold_until : deadline;
        }
        if (deadline <= now) {
            if (me.batch == 0) {
                unqueue(&me); /* never written */
                if (gc.head == NULL) {
                    gc.hold_until = 0;
                }
                wake_head(); /* it may have been the one to write the next batch */
            }
            apr_cpystrn(why, "timed out", sizeof(why));
            status = 504;
            break;
        }
        apr_thread_cond_timedwait(me.w->cond, gc.room.lock, until - now);
    }
    dp_waiter_give(&gc.room, me.w);
    apr_thread_mutex_unlock(gc.room.lock);
    if (status == 0) {
        return NULL;
    }
    if (status == 500 && events > 1) {
        return dp_db_exec(db, DPQ_AUDIT_INSERT, NULL, 9, args);
    }
    if (status == 504) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r,
                      "DP01203: the audit batch holding the event of %s did not commit within "
                      "%d ms",
                      read, c->cfg->audit_batch_wait_ms);
        return unavailable(c);
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "%s: statement %s + audit_insert failed: %s",
                  status == 503 ? "DP02007" : "DP02008", read, why);
    return status == 503 ? unavailable(c) : dp_error_internal(c->r->pool);
}

dp_error *dp_audit_read(dp_ctx *c, const dp_audit_event *ev, const char *read)
{
    dp_db *db;
    dp_error *e = session_confirmed(c);
    audit_stmt st;

    if (e != NULL) {
        return e;
    }
    if ((e = dp_ctx_db(c, &db)) != NULL) {
        return written(c, ev, e);
    }
    st = event_stmt(c, ev);
    if (gc.room.lock == NULL || dp_db_in_tx(db) || strcmp(st.name, DPQ_AUDIT_INSERT) != 0) {
        if (c->event_due) {
            never_arrived(c); /* written on its own */
        }
        return written(c, ev, dp_db_exec(db, st.name, NULL, st.nargs, st.args));
    }
    return written(c, ev, batched(c, db, st.args, read));
}

dp_error *dp_audited_read(dp_ctx *c, const dp_audit_event *ev, const char *name, dp_rows **rows,
                          int nargs, const char **args)
{
    dp_db_call read = {name, nargs, args, NULL};
    dp_error *e = dp_session_pipeline(c, &read, 1);

    *rows = NULL;
    if (e != NULL || (e = dp_audit_read(c, ev, name)) != NULL) {
        return e;
    }
    *rows = read.rows;
    return NULL;
}
