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

/* ---- two statements in one round trip ---------------------------------------------------- */

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

/* Sends both statements and one Sync, then reads every result up to the Sync's. 1 when both
 * succeeded (*first holds the first one's result, to be cleared by the caller); else *why is
 * PostgreSQL's message for the statement that failed, copied into p, when there is one. */
static int run_pair(apr_pool_t *p, PGconn *conn, const char *n1, int c1, const char **a1,
                    const char *n2, int c2, const char **a2, PGresult **first, const char **why)
{
    int ok = PQenterPipelineMode(conn) && PQsendQueryPrepared(conn, n1, c1, a1, NULL, NULL, 0)
        && PQsendQueryPrepared(conn, n2, c2, a2, NULL, NULL, 0) && PQpipelineSync(conn);
    PGresult *res;

    *first = NULL;
    *why = NULL;
    if (ok) {
        /* each statement's results end with a NULL (after an error, the second one's is
         * PGRES_PIPELINE_ABORTED); then comes the Sync's own result */
        for (int q = 0; q < 2; q++) {
            int got = 0;
            while ((res = PQgetResult(conn)) != NULL) {
                ExecStatusType st = PQresultStatus(res);
                got = 1;
                if (q == 0 && st == PGRES_TUPLES_OK && *first == NULL) {
                    *first = res;
                    continue;
                }
                if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                    const char *m = PQresultErrorMessage(res);
                    if (*why == NULL && m != NULL && *m) {
                        *why = apr_pstrdup(p, m);
                    }
                    ok = 0;
                }
                PQclear(res);
            }
            ok = ok && got;
        }
        res = PQgetResult(conn);
        ok = ok && res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
    }
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn)) {
        /* results left unread: never hand a connection in pipeline mode back to the pool */
        PQreset(conn);
        ok = 0;
    }
    if (!ok && *first != NULL) {
        PQclear(*first);
        *first = NULL;
    }
    return ok;
}

dp_error *dp_db_pair(dp_db *db, const char *first, dp_rows **out, int nargs, const char **args,
                     const char *second, int nargs2, const char **args2)
{
    dp_error *err;
    PGresult *res = NULL;
    const char *why = NULL;
    int ok = 0;

    if (out != NULL) {
        *out = NULL;
    }
    for (int tries = 0; tries < 5; tries++) {
        PGconn *conn = apr_dbd_native_handle(db->dbd->driver, db->dbd->handle);
        if (dp_db_statement(db, first, nargs, &err) == NULL
            || dp_db_statement(db, second, nargs2, &err) == NULL) {
            return err;
        }
        if (conn != NULL
            && (ok = run_pair(db->r->pool, conn, first, nargs, args, second, nargs2, args2, &res,
                              &why))) {
            break;
        }
        if (!dp_pq_switch_if_dead(db)) {
            break;
        }
    }
    if (!ok) {
        if (why != NULL && dp_pq_connected(db->dbd)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r, "DP02008: statement %s + %s failed: %s",
                          first, second, dp_db_first_line(db->r->pool, why));
            return dp_error_internal(db->r->pool);
        }
        return dp_db_query_failed(db, apr_pstrcat(db->r->pool, first, " + ", second, NULL), 1);
    }
    db->used = 1;
    if (out != NULL) {
        *out = rows_of(db->r->pool, res);
    }
    PQclear(res);
    return NULL;
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
