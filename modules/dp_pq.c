/* The part of the database layer that reaches under apr_dbd to libpq's PGconn: telling a dead
 * pooled connection from a live one and reconnecting it in place (so that a PostgreSQL restart
 * costs no request an error), statements sent together in a pipeline, and results read one row
 * at a time. */
#include "dp_pq.h"

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

/* A libpq result copied into p (text values; NULL for SQL NULL). */
static dp_rows *rows_of(apr_pool_t *p, const PGresult *res)
{
    dp_rows *rows = apr_pcalloc(p, sizeof(*rows));
    int n = PQntuples(res);

    rows->ncols = PQnfields(res);
    rows->cols = apr_palloc(p, sizeof(char *) * (apr_size_t)(rows->ncols > 0 ? rows->ncols : 1));
    for (int c = 0; c < rows->ncols; c++) {
        rows->cols[c] = apr_pstrdup(p, PQfname(res, c));
    }
    rows->vals = apr_palloc(p, sizeof(char **) * (apr_size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        const char **vals = apr_palloc(p, sizeof(char *) * (apr_size_t)(rows->ncols + 1));
        for (int c = 0; c < rows->ncols; c++) {
            vals[c] = PQgetisnull(res, i, c)
                ? NULL
                : apr_pstrmemdup(p, PQgetvalue(res, i, c), (apr_size_t)PQgetlength(res, i, c));
        }
        rows->vals[i] = vals;
    }
    rows->nrows = n;
    return rows;
}

/* Sends the statements and one Sync, then reads every result up to the Sync's. 1 when all
 * succeeded (res[i] holds statement i's result, to be cleared by the caller); else *why is
 * PostgreSQL's message for the statement that failed, copied into p, when there is one. */
static int run_pipeline(apr_pool_t *p, PGconn *conn, const dp_db_call *calls, int n, PGresult **res,
                        const char **why)
{
    int ok = PQenterPipelineMode(conn);
    PGresult *r;

    for (int q = 0; q < n; q++) {
        res[q] = NULL;
        ok = ok
            && PQsendQueryPrepared(conn, calls[q].name, calls[q].nargs, calls[q].args, NULL, NULL,
                                   0);
    }
    ok = ok && PQpipelineSync(conn);
    *why = NULL;
    if (ok) {
        /* each statement's results end with a NULL (after an error, the later ones' are
         * PGRES_PIPELINE_ABORTED); then comes the Sync's own result */
        for (int q = 0; q < n; q++) {
            int got = 0;
            while ((r = PQgetResult(conn)) != NULL) {
                ExecStatusType st = PQresultStatus(r);
                got = 1;
                if (st == PGRES_TUPLES_OK && res[q] == NULL) {
                    res[q] = r;
                    continue;
                }
                if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                    const char *m = PQresultErrorMessage(r);
                    if (*why == NULL && m != NULL && *m) {
                        *why = apr_pstrdup(p, m);
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
    }
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn)) {
        /* results left unread: never hand a connection in pipeline mode back to the pool */
        PQreset(conn);
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
    for (int q = 0; q < n; q++) {
        /* a statement without rows (an INSERT) has an empty result */
        calls[q].rows = res[q] != NULL ? rows_of(p, res[q]) : apr_pcalloc(p, sizeof(dp_rows));
        PQclear(res[q]);
    }
    return NULL;
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

    if (dp_db_statement(db, name, nargs, &err) == NULL) {
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
