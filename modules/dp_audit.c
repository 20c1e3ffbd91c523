#include "dp_audit.h"

#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <http_log.h>

#include "dp_session.h"
#include "dp_sql.h"
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
 * implicit transaction, one COMMIT) on its own connection, then wakes every waiter. While it
 * writes, new events gather for the next batch: the busier the child, the more events each
 * COMMIT carries, with no thread of its own and no added delay when it is idle.
 *
 * A request learns its batch's outcome by the batch's number: one batch is written at a
 * time, so outcomes are recorded in order in a ring of recent batches. The queue holds
 * pointers into the waiting requests' pools; the writer copies the values into its own
 * array literals while it holds the lock, and a request that gives up removes its event
 * first, so nobody reads a pool that is gone. */

#define BATCH_RING 1024 /* outcomes of the latest batches */
#define BATCH_WHY  256  /* bytes of PostgreSQL's message kept for the waiters' logs */

typedef struct batch_entry {
    struct batch_entry *prev, *next;
    const char **args;  /* audit_insert's nine */
    apr_uint64_t batch; /* 0 while queued; then the number of the batch that took it */
} batch_entry;

typedef struct batch_outcome {
    apr_uint64_t batch;
    int status; /* 0: committed; 500: refused by PostgreSQL; 503: connection lost */
    char why[BATCH_WHY];
} batch_outcome;

static struct {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *done;
    batch_entry *head, *tail;
    int writing;             /* a request is writing a batch */
    apr_uint64_t last_batch; /* the number of the last batch taken */
    batch_outcome outcomes[BATCH_RING];
} gc;

void dp_audit_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (apr_thread_mutex_create(&gc.lock, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS
        || apr_thread_cond_create(&gc.done, pchild) != APR_SUCCESS) {
        gc.lock = NULL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
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

/* Called with the lock held, which it releases while PostgreSQL works: write up to max
 * queued events as one batch on db, then publish the outcome and wake the waiters. */
static void write_batch(dp_ctx *c, dp_db *db, int max)
{
    apr_pool_t *p = c->r->pool;
    const char **cols[9], *lits[9];
    apr_uint64_t b = ++gc.last_batch;
    batch_outcome *o = &gc.outcomes[b % BATCH_RING];
    char why[BATCH_WHY] = "";
    int n = 0, ok, lost = 0;

    for (int k = 0; k < 9; k++) {
        cols[k] = apr_palloc(p, sizeof(char *) * (apr_size_t)max);
    }
    while (gc.head != NULL && n < max) {
        batch_entry *e = gc.head;
        for (int k = 0; k < 9; k++) {
            cols[k][n] = e->args[k];
        }
        e->batch = b;
        unqueue(e);
        n++;
    }
    for (int k = 0; k < 9; k++) {
        lits[k] = dp_pgarray_text(p, cols[k], n);
    }
    gc.writing = 1;
    apr_thread_mutex_unlock(gc.lock);
    ok = dp_db_try_exec(db, DPQ_AUDIT_INSERT_BATCH, 9, lits, why, sizeof(why), &lost);
    apr_thread_mutex_lock(gc.lock);
    o->batch = b;
    o->status = ok ? 0 : lost ? 503 : 500;
    memcpy(o->why, why, sizeof(why));
    gc.writing = 0;
    apr_thread_cond_broadcast(gc.done);
}

/* The outcome of e's batch (0 committed, 500, 503), once known; -1 while not. */
static int outcome_of(const batch_entry *e, char *why)
{
    const batch_outcome *o;
    if (e->batch == 0) {
        return -1;
    }
    o = &gc.outcomes[e->batch % BATCH_RING];
    if (o->batch == e->batch) {
        memcpy(why, o->why, BATCH_WHY);
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

/* args into the child's batch; NULL once committed. */
static dp_error *batched(dp_ctx *c, dp_db *db, const char **args, const char *read)
{
    batch_entry me = {NULL, NULL, args, 0};
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(c->cfg->audit_batch_wait_ms);
    char why[BATCH_WHY] = "";
    int status;

    apr_thread_mutex_lock(gc.lock);
    me.prev = gc.tail;
    if (gc.tail)
        gc.tail->next = &me;
    else
        gc.head = &me;
    gc.tail = &me;
    while ((status = outcome_of(&me, why)) < 0) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (!gc.writing && gc.head != NULL) {
            write_batch(c, db, c->cfg->audit_batch_max);
            continue;
        }
        if (left <= 0) {
            if (me.batch == 0) {
                unqueue(&me); /* never written */
            }
            apr_cpystrn(why, "timed out", sizeof(why));
            status = 504;
            break;
        }
        apr_thread_cond_timedwait(gc.done, gc.lock, left);
    }
    apr_thread_mutex_unlock(gc.lock);
    if (status == 0) {
        return NULL;
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
    if (gc.lock == NULL || dp_db_in_tx(db) || strcmp(st.name, DPQ_AUDIT_INSERT) != 0) {
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
