/* The part of the database layer that reaches under apr_dbd to libpq's PGconn: telling a dead
 * pooled connection from a live one and reconnecting it in place (so that a PostgreSQL restart
 * costs no request an error), statements sent together in a pipeline, and results read one row
 * at a time. */
#include "dp_pq.h"
#include "dp_waiter.h"

#include "core/dp_pgbin.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_log.h>
#include <libpq-fe.h>

APLOG_USE_MODULE(docportal);

int dp_pq_connected(ap_dbd_t *dbd)
{
    PGconn *conn = apr_dbd_native_handle(dbd->driver, dbd->handle);
    return conn != NULL && PQstatus(conn) == CONNECTION_OK;
}

/* A connection is usable if libpq still believes in it after reading whatever the server
 * sent while it sat idle (a shutdown notice, or EOF). */
static int conn_alive(ap_dbd_t *dbd)
{
    PGconn *conn = apr_dbd_native_handle(dbd->driver, dbd->handle);
    if (conn == NULL) {
        return 0;
    }
    /* A server that went away left a notice and then EOF: the first read takes the notice,
     * the second meets the EOF and marks the connection bad. Both are non-blocking. */
    for (int i = 0; i < 2; i++) {
        if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
            return 0;
        }
        (void)PQisBusy(conn); /* parses what arrived */
    }
    return 1;
}

/* mod_dbd's liveness check revives a broken connection with PQreset, which opens a new
 * server session without the prepared statements. A new backend pid on a known connection
 * means exactly that: prepare them again (the statement handles only carry names). */
static int ensure_prepared(server_rec *s, ap_dbd_t *dbd)
{
    PGconn *conn = apr_dbd_native_handle(dbd->driver, dbd->handle);
    int pid = PQbackendPID(conn);
    void *seen = NULL;
    int *stash;

    apr_pool_userdata_get(&seen, "dp-backend-pid", dbd->pool);
    if (seen != NULL && *(int *)seen == pid) {
        return 1;
    }
    /* First sight of this connection: it may have been reset before we ever used it (made at
     * child start, PostgreSQL restarted since), so ask the session what it has prepared. */
    if (seen == NULL) {
        PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_prepared_statements");
        int have = (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            ? atoi(PQgetvalue(res, 0, 0))
            : -1;
        PQclear(res);
        if (have < 0) {
            return 0; /* the connection is not usable */
        }
        if ((apr_size_t)have < dp_statements_count) {
            seen = &pid; /* prepare them below */
        }
    }
    if (seen != NULL) {
        for (apr_size_t i = 0; i < dp_statements_count; i++) {
            apr_dbd_prepared_t *st = NULL;
            int rv = apr_dbd_prepare(dbd->driver, dbd->pool, dbd->handle, dp_statements[i].sql,
                                     dp_statements[i].name, &st);
            if (rv != 0) {
                const char *why = apr_dbd_error(dbd->driver, dbd->handle, rv);
                why = why != NULL ? why : "";
                /* PostgreSQL going away meanwhile is part of an outage its caller reports (a
                 * 503, the background thread's warning); a statement refused on a live
                 * connection is an error of its own */
                ap_log_error(APLOG_MARK, dp_pq_connected(dbd) ? APLOG_ERR : APLOG_WARNING, 0, s,
                             "DP02010: re-preparing %s on a reset connection failed: %.*s",
                             dp_statements[i].name, (int)strcspn(why, "\n"), why);
                return 0;
            }
            apr_hash_set(dbd->prepared, dp_statements[i].name, APR_HASH_KEY_STRING, st);
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "DP02011: database connection was reset; statements prepared again");
    }
    stash = apr_palloc(dbd->pool, sizeof(*stash));
    *stash = pid;
    apr_pool_userdata_setn(stash, "dp-backend-pid", NULL, dbd->pool);
    return 1;
}

/* Bring a dead pooled connection back in place: PQreset opens a new server session on the
 * same handle, so the pool keeps one healthy entry instead of a dead one that the next request
 * would meet again. ensure_prepared then sees the new backend pid and prepares the statements.
 * 0 if PostgreSQL is still unreachable (the caller answers 503). */
static int revive(server_rec *s, ap_dbd_t *dbd)
{
    PGconn *conn = apr_dbd_native_handle(dbd->driver, dbd->handle);
    if (conn == NULL) {
        return 0;
    }
    PQreset(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "DP02009: pooled database connection was dead; reconnected it");
    return 1;
}

int dp_db_ready(server_rec *s, ap_dbd_t *dbd)
{
    if (!conn_alive(dbd) && !revive(s, dbd)) {
        return 0;
    }
    return ensure_prepared(s, dbd);
}

int dp_pq_switch_if_dead(dp_db *db)
{
    if (db->used || db->in_tx || dp_pq_connected(db->dbd)) {
        return 0;
    }
    return revive(db->r->server, db->dbd) && ensure_prepared(db->r->server, db->dbd);
}

/* ---- statements in one round trip -------------------------------------------------------- */

/* What a binary value without a rendering was: its column's name and type, and its length. */
typedef struct unrendered {
    const char *col;
    unsigned int type;
    int len;
} unrendered;

/* A libpq result copied into p (text values; NULL for SQL NULL), a binary one rendered as
 * text (core/dp_pgbin.h). NULL, with *bad filled in, when a value has no rendering. */
static dp_rows *rows_of(apr_pool_t *p, const PGresult *res, unrendered *bad)
{
    dp_rows *rows = apr_pcalloc(p, sizeof(*rows));
    int n = PQntuples(res);
    unsigned int *types = NULL;
    int binary;

    rows->ncols = PQnfields(res);
    binary = rows->ncols > 0 && PQbinaryTuples(res);
    if (binary) {
        types = apr_palloc(p, sizeof(*types) * (apr_size_t)rows->ncols);
    }
    rows->cols = apr_palloc(p, sizeof(char *) * (apr_size_t)(rows->ncols > 0 ? rows->ncols : 1));
    for (int c = 0; c < rows->ncols; c++) {
        rows->cols[c] = apr_pstrdup(p, PQfname(res, c));
        if (binary) {
            types[c] = PQftype(res, c);
        }
    }
    rows->vals = apr_palloc(p, sizeof(char **) * (apr_size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        const char **vals = apr_palloc(p, sizeof(char *) * (apr_size_t)(rows->ncols + 1));
        for (int c = 0; c < rows->ncols; c++) {
            const char *v = PQgetvalue(res, i, c);
            int len = PQgetlength(res, i, c);
            if (PQgetisnull(res, i, c)) {
                vals[c] = NULL;
            }
            else if (!binary) {
                vals[c] = apr_pstrmemdup(p, v, (apr_size_t)len);
            }
            else if (!dp_pgbin_text(p, types[c], v, len, &vals[c])) {
                *bad = (unrendered){rows->cols[c], types[c], len};
                return NULL;
            }
        }
        rows->vals[i] = vals;
    }
    rows->nrows = n;
    return rows;
}

/* Each call's rows from res (which it clears): NULL, or a logged 500 when a binary result
 * holds a value that has no rendering as text (a type dp_pgbin does not know, or a length
 * that does not fit its type). */
static dp_error *take_rows(dp_db *db, dp_db_call *calls, int n, PGresult **res)
{
    apr_pool_t *p = db->r->pool;
    dp_error *e = NULL;
    unrendered bad = {"", 0, 0};

    for (int q = 0; q < n; q++) {
        /* a statement without rows (an INSERT) has an empty result */
        calls[q].rows = res[q] == NULL ? apr_pcalloc(p, sizeof(dp_rows))
            : e == NULL                ? rows_of(p, res[q], &bad)
                                       : NULL;
        if (e == NULL && calls[q].rows == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r,
                          "DP02014: statement %s: column %s (type %u, %d bytes) has no rendering "
                          "of its binary result as text",
                          calls[q].name, bad.col, bad.type, bad.len);
            e = dp_error_internal(p);
        }
        PQclear(res[q]);
        res[q] = NULL;
    }
    return e;
}

/* Reads the results of n statements sent before one Sync, then the Sync's own: 1 when all
 * succeeded (res[q] holds statement q's result, to be cleared by the caller; NULL for one
 * without rows); else 0, with PostgreSQL's message for the statement that failed copied into
 * why (whylen bytes) when there is one, and every res[q] cleared. */
static int read_group(PGconn *conn, int n, PGresult **res, char *why, apr_size_t whylen)
{
    PGresult *r;
    int ok = 1;

    why[0] = '\0';
    /* each statement's results end with a NULL (after an error, the later ones' are
     * PGRES_PIPELINE_ABORTED); then comes the Sync's own result */
    for (int q = 0; q < n; q++) {
        int got = 0;
        res[q] = NULL;
        while ((r = PQgetResult(conn)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            got = 1;
            if (st == PGRES_TUPLES_OK && res[q] == NULL) {
                res[q] = r;
                continue;
            }
            if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                const char *m = PQresultErrorMessage(r);
                if (why[0] == '\0' && m != NULL) {
                    apr_cpystrn(why, m, whylen);
                }
                ok = 0;
            }
            PQclear(r);
        }
        ok = ok && got;
    }
    r = PQgetResult(conn);
    ok = ok && r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    for (int q = 0; !ok && q < n; q++) {
        PQclear(res[q]);
        res[q] = NULL;
    }
    return ok;
}

/* Sends n statements and their Sync: 1 when libpq took them all. */
static int send_group(PGconn *conn, const dp_db_call *calls, int n)
{
    int ok = 1;
    for (int q = 0; q < n; q++) {
        const dp_statement *d = dp_statement_named(calls[q].name);
        ok = ok
            && PQsendQueryPrepared(conn, calls[q].name, calls[q].nargs, calls[q].args, NULL, NULL,
                                   d != NULL && d->binary);
    }
    return ok && PQpipelineSync(conn);
}

/* Leaves pipeline mode; a connection with results left unread is reset, never handed back to
 * the pool in pipeline mode. 1 when it left cleanly. */
static int leave_pipeline(PGconn *conn)
{
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn)) {
        PQreset(conn);
        return 0;
    }
    return 1;
}

/* Sends the statements and one Sync, then reads every result up to the Sync's. 1 when all
 * succeeded (res[i] holds statement i's result, to be cleared by the caller); else *why is
 * PostgreSQL's message for the statement that failed, copied into p, when there is one. */
static int run_pipeline(apr_pool_t *p, PGconn *conn, const dp_db_call *calls, int n, PGresult **res,
                        const char **why)
{
    char msg[1024];
    int ok = PQenterPipelineMode(conn) && send_group(conn, calls, n);

    *why = NULL;
    for (int q = 0; q < n; q++) {
        res[q] = NULL;
    }
    if (ok) {
        ok = read_group(conn, n, res, msg, sizeof(msg));
        *why = msg[0] != '\0' ? apr_pstrdup(p, msg) : NULL;
    }
    if (!leave_pipeline(conn)) {
        ok = 0;
    }
    for (int q = 0; !ok && q < n; q++) {
        PQclear(res[q]);
        res[q] = NULL;
    }
    return ok;
}

dp_error *dp_db_pipeline(dp_db *db, dp_db_call *calls, int n)
{
    apr_pool_t *p = db->r->pool;
    PGresult **res = apr_pcalloc(p, sizeof(PGresult *) * (apr_size_t)n);
    const char *why = NULL, *names;
    dp_error *err;
    int ok = 0;

    for (int q = 0; q < n; q++) {
        calls[q].rows = NULL;
    }
    for (int tries = 0; tries < 5; tries++) {
        PGconn *conn = apr_dbd_native_handle(db->dbd->driver, db->dbd->handle);
        for (int q = 0; q < n; q++) {
            if (dp_db_statement(db, calls[q].name, calls[q].nargs, &err) == NULL) {
                return err;
            }
        }
        if (conn != NULL && (ok = run_pipeline(p, conn, calls, n, res, &why))) {
            break;
        }
        if (!dp_pq_switch_if_dead(db)) {
            break;
        }
    }
    if (!ok) {
        names = calls[0].name;
        for (int q = 1; q < n; q++) {
            names = apr_pstrcat(p, names, " + ", calls[q].name, NULL);
        }
        if (why != NULL && dp_pq_connected(db->dbd)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r, "DP02008: statement %s failed: %s",
                          names, dp_db_first_line(p, why));
            return dp_error_internal(p);
        }
        return dp_db_query_failed(db, names, 1);
    }
    db->used = 1;
    return take_rows(db, calls, n, res);
}

/* ---- the reads of many requests in one round trip ----------------------------------------
 *
 * A folded read (the session's check and the handler's read: dp_session_pipeline) costs
 * PostgreSQL little to execute and much to receive: a backend woken for one short transaction
 * spends most of its CPU on the wake-up, the system calls and the transaction's start and end
 * (on the bench machine, pgbench at 1,500 a second: 0.135 ms of CPU for SELECT 1, 0.24 ms for
 * the two statements of GET /api/auth/me). So each child shares the round trips of its reads.
 * A request queues its statements; while fewer than DocPortalReadPipelines round trips of the
 * child are in flight, the first waiting request takes what is queued (up to SHARED_MAX
 * requests, oldest first) and sends it on its own connection in one pipeline, each request's
 * statements followed by a Sync of their own: one implicit transaction per request, as when it
 * sends them itself, so that a statement that fails aborts its own request's statements only.
 * It hands each request its results and wakes each of them, and the first still queued, who
 * may take the next round trip (each sleeps on a condition variable of its own: dp_waiter.h);
 * each copies its rows into its own pool.
 * With nothing in flight a request takes its own turn at once: no added wait when the child is
 * quiet. A request whose statements did not all succeed in the shared round trip (the taker's
 * connection was lost, or one of its statements failed) sends them again itself with
 * dp_db_pipeline, which reconnects a dead connection and logs and answers a failure as for
 * any request: the statements are reads, so running them twice changes nothing.
 *
 * The queue holds pointers to the waiting requests' stack frames; a request never leaves
 * before its turn is done (no timeout: its taker waits on PostgreSQL as it would itself). */

#define SHARED_MAX 64 /* requests whose reads share one round trip */

enum { SHARED_QUEUED, SHARED_TAKEN, SHARED_DONE };

typedef struct shared_req {
    struct shared_req *next;
    const dp_db_call *calls;
    int n;
    PGresult **res; /* statement q's result, or NULL */
    int state;
    int ok;       /* once done: every statement succeeded */
    int parallel; /* round trips its virtual host allows in flight (DocPortalReadPipelines) */
    int sleeping; /* its thread waits on w */
    dp_waiter *w; /* what its thread sleeps on */
} shared_req;

static struct {
    dp_waitroom room;
    shared_req *head, *tail;
    int running; /* round trips in flight */
} sh;

void dp_pq_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    dp_statements_index(pchild);
    rv = dp_waitroom_init(&sh.room, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "DP02012: no lock for shared round trips; each read sends its own");
    }
}

/* The taken requests' statements on db's connection, in one pipeline. */
static void shared_round_trip(dp_db *db, shared_req **batch, int m)
{
    PGconn *conn = apr_dbd_native_handle(db->dbd->driver, db->dbd->handle);
    int sent[SHARED_MAX], ok, any = 0;
    char why[256];
    dp_error *err;

    ok = conn != NULL && PQstatus(conn) == CONNECTION_OK && PQenterPipelineMode(conn);
    for (int i = 0; i < m; i++) {
        int prepared = 1;
        for (int q = 0; q < batch[i]->n; q++) {
            prepared = prepared
                && dp_db_statement(db, batch[i]->calls[q].name, batch[i]->calls[q].nargs, &err)
                    != NULL;
        }
        /* a statement this connection lacks: that request sends its own, and fails there */
        sent[i] = ok && prepared && send_group(conn, batch[i]->calls, batch[i]->n);
        ok = ok && (sent[i] || !prepared);
        any |= sent[i];
    }
    for (int i = 0; i < m; i++) {
        batch[i]->ok = sent[i] && read_group(conn, batch[i]->n, batch[i]->res, why, sizeof(why));
    }
    if (conn != NULL && !leave_pipeline(conn)) {
        for (int i = 0; i < m; i++) {
            for (int q = 0; batch[i]->ok && q < batch[i]->n; q++) {
                PQclear(batch[i]->res[q]);
                batch[i]->res[q] = NULL;
            }
            batch[i]->ok = 0;
        }
    }
    if (any) {
        db->used = 1;
    }
}

/* A round trip may go: wake the first queued request that sleeps and whose virtual host
 * allows one more in flight, to take it (a queued request that does not sleep is a taker busy
 * with a round trip of its own, which looks again when it is back). */
static void wake_next(void)
{
    int seen = 0;
    for (shared_req *q = sh.head; q != NULL && seen < SHARED_MAX; q = q->next, seen++) {
        if (q->sleeping && sh.running < q->parallel) {
            apr_thread_cond_signal(q->w->cond);
            return;
        }
    }
}

/* Called with the lock held, which it releases while PostgreSQL works: one round trip for up
 * to SHARED_MAX queued requests, then wakes each of them, and the next in the queue. */
static void take_turn(dp_db *db)
{
    shared_req *batch[SHARED_MAX];
    int m = 0;

    while (sh.head != NULL && m < SHARED_MAX) {
        batch[m] = sh.head;
        sh.head = sh.head->next;
        batch[m++]->state = SHARED_TAKEN;
    }
    if (sh.head == NULL) {
        sh.tail = NULL;
    }
    sh.running++;
    wake_next(); /* more queued than one round trip takes: a second may go now */
    apr_thread_mutex_unlock(sh.room.lock);
    shared_round_trip(db, batch, m);
    if (m > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, db->r,
                      "DP02013: the reads of %d requests in one round trip", m);
    }
    apr_thread_mutex_lock(sh.room.lock);
    sh.running--;
    /* each waits until it is done, so none has gone; the taker's own signal is not waited on */
    for (int i = 0; i < m; i++) {
        batch[i]->state = SHARED_DONE;
        apr_thread_cond_signal(batch[i]->w->cond);
    }
    wake_next();
}

dp_error *dp_db_pipeline_shared(dp_db *db, dp_db_call *calls, int n, int parallel)
{
    apr_pool_t *p = db->r->pool;
    shared_req me = {NULL, calls, n, NULL, SHARED_QUEUED, 0, parallel, 0, NULL};

    if (sh.room.lock == NULL || parallel <= 0 || db->in_tx) {
        return dp_db_pipeline(db, calls, n);
    }
    me.res = apr_pcalloc(p, sizeof(PGresult *) * (apr_size_t)n);
    apr_thread_mutex_lock(sh.room.lock);
    if ((me.w = dp_waiter_take(&sh.room)) == NULL) {
        apr_thread_mutex_unlock(sh.room.lock);
        return dp_db_pipeline(db, calls, n);
    }
    if (sh.tail)
        sh.tail->next = &me;
    else
        sh.head = &me;
    sh.tail = &me;
    while (me.state != SHARED_DONE) {
        if (sh.head != NULL && sh.running < parallel) {
            take_turn(db);
            continue;
        }
        me.sleeping = 1;
        apr_thread_cond_wait(me.w->cond, sh.room.lock);
        me.sleeping = 0;
    }
    dp_waiter_give(&sh.room, me.w);
    apr_thread_mutex_unlock(sh.room.lock);
    if (!me.ok) {
        return dp_db_pipeline(db, calls, n);
    }
    return take_rows(db, calls, n, me.res);
}

dp_error *dp_db_pair(dp_db *db, const char *first, dp_rows **out, int nargs, const char **args,
                     const char *second, int nargs2, const char **args2)
{
    dp_db_call calls[2] = {
        {first,  nargs,  args,  NULL},
        {second, nargs2, args2, NULL}
    };
    dp_error *e = dp_db_pipeline(db, calls, 2);

    if (out != NULL) {
        *out = calls[0].rows;
    }
    return e;
}

int dp_db_try_exec(dp_db *db, const char *name, int nargs, const char **args, char *why,
                   apr_size_t whylen, int *lost)
{
    PGconn *conn = apr_dbd_native_handle(db->dbd->driver, db->dbd->handle);
    PGresult *res;
    int ok;

    *lost = 0;
    if (conn == NULL) {
        *lost = 1;
        apr_cpystrn(why, "no connection", whylen);
        return 0;
    }
    res = PQexecPrepared(conn, name, nargs, args, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) {
        const char *m = PQresultErrorMessage(res);
        const char *nl = m != NULL ? strchr(m, '\n') : NULL;
        apr_size_t n = m == NULL ? 0 : nl != NULL ? (apr_size_t)(nl - m) : strlen(m);
        /* the first line only: a DETAIL line may quote row values */
        apr_cpystrn(why, m != NULL ? m : "", n + 1 < whylen ? n + 1 : whylen);
        *lost = PQstatus(conn) != CONNECTION_OK;
    }
    else {
        db->used = 1;
    }
    PQclear(res);
    return ok;
}

/* ---- audit report: results too large to hold whole ---------------------------- */

dp_error *dp_db_stream(dp_db *db, const char *name, int nargs, const char **args, dp_db_row_fn fn,
                       void *baton)
{
    PGconn *conn = apr_dbd_native_handle(db->dbd->driver, db->dbd->handle);
    dp_error *err = NULL;
    dp_rows row = {0};
    const char **vals = NULL;
    PGresult *res;
    int stop = 0, failed = 0;

    if (dp_db_text_statement(db, name, nargs, &err) == NULL) {
        return err;
    }
    /* apr_dbd prepared the statement under its name (PREPARE name AS ...), so libpq can run
     * it on the same connection; single-row mode hands the rows over one by one instead of
     * buffering the whole result */
    if (conn == NULL || !PQsendQueryPrepared(conn, name, nargs, args, NULL, NULL, 0)
        || !PQsetSingleRowMode(conn)) {
        failed = 1;
    }
    while (conn != NULL && (res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE && !stop && !failed) {
            if (vals == NULL) {
                row.ncols = PQnfields(res);
                row.cols = apr_palloc(db->r->pool, sizeof(char *) * (apr_size_t)(row.ncols + 1));
                vals = apr_palloc(db->r->pool, sizeof(char *) * (apr_size_t)(row.ncols + 1));
                for (int c = 0; c < row.ncols; c++) {
                    row.cols[c] = apr_pstrdup(db->r->pool, PQfname(res, c));
                }
                row.nrows = 1;
                row.vals = &vals;
            }
            /* the values point into res: fn must not keep them */
            for (int c = 0; c < row.ncols; c++) {
                vals[c] = PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c);
            }
            stop = fn(baton, &row);
        }
        else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
            failed = 1;
        }
        PQclear(res); /* every result is read to the end, so the connection is idle again */
    }
    db->used = 1;
    /* the connection's last error message says what went wrong; a lost one is a 503 */
    return failed ? dp_db_query_failed(db, name, 1) : NULL;
}
