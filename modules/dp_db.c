/* mod_dbd glue: statements prepared by name, a connection per request, transactions, drained
 * results, and the same for the background threads. What needs libpq itself (a dead pooled
 * connection found and reconnected, pipelines, row-by-row results) is in dp_pq.c. */
#include "dp_pq.h"
#include "dp_sql.h"

#include <apr_hash.h>
#include <apr_optional.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_log.h>
#include <mod_dbd.h>

APLOG_USE_MODULE(docportal);

static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) * dbd_prepare_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) * dbd_open_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) * dbd_close_fn;

/* Per process: set once the database was seen at (or above) the module's schema level. */
static volatile int schema_checked;

static int retrieve_fns(void)
{
    if (dbd_prepare_fn == NULL) {
        dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
        dbd_open_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
        dbd_close_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    }
    return dbd_prepare_fn != NULL && dbd_open_fn != NULL && dbd_close_fn != NULL;
}

void dp_db_prepare_all(server_rec *s)
{
    if (!retrieve_fns()) {
        return; /* mod_docportal's post_config reports the missing mod_dbd */
    }
    for (apr_size_t i = 0; i < dp_statements_count; i++) {
        dbd_prepare_fn(s, dp_statements[i].sql, dp_statements[i].name);
    }
}

const char *dp_db_first_line(apr_pool_t *p, const char *msg)
{
    const char *nl;
    if (msg == NULL) {
        return "(no message)";
    }
    nl = strchr(msg, '\n');
    return nl ? apr_pstrmemdup(p, msg, (apr_size_t)(nl - msg)) : msg;
}

/* Find the main server's DBDriver/DBDParams in the parsed configuration: mod_dbd keeps its
 * settings private, and its pool does not exist before the children do. */
static void find_dbd_settings(apr_pool_t *p, const char **driver, const char **params)
{
    for (ap_directive_t *d = ap_conftree; d != NULL; d = d->next) {
        const char *args = d->args;
        if (strcasecmp(d->directive, "DBDriver") == 0) {
            *driver = ap_getword_conf(p, &args);
        }
        else if (strcasecmp(d->directive, "DBDParams") == 0) {
            *params = ap_getword_conf(p, &args);
        }
    }
}

const char *dp_db_startup_check(apr_pool_t *ptemp, server_rec *s)
{
    const char *name = NULL, *params = NULL, *level_s;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_status_t rv;
    int level;

    find_dbd_settings(ptemp, &name, &params);
    if (name == NULL || params == NULL) {
        return "DBDriver and DBDParams (mod_dbd) must name the PostgreSQL database";
    }
    if (apr_dbd_get_driver(ptemp, name, &driver) != APR_SUCCESS) {
        return apr_psprintf(ptemp,
                            "apr_dbd driver '%s' is not available "
                            "(install libaprutil1-dbd-pgsql)",
                            name);
    }
    rv = apr_dbd_open(driver, ptemp, params, &handle);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "DP02001: database not reachable at startup; its schema level will be "
                     "checked when it is (API answers 503 until then)");
        return NULL;
    }
    if (apr_dbd_select(driver, ptemp, handle, &res,
                       "SELECT coalesce(max(version), 0) FROM schema_migrations", 0)
            != 0
        || apr_dbd_get_row(driver, ptemp, res, &row, -1) != 0) {
        const char *msg;
        apr_dbd_results_t *probe = NULL;
        if (apr_dbd_select(driver, ptemp, handle, &probe, "SELECT 1", 1) != 0) {
            /* the database went away during the check (a shutdown, a failover; libpq may not
             * have marked the connection bad yet, so a second query tells): as if it had not
             * been reachable, not a database without the schema */
            apr_dbd_close(driver, handle);
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "DP02001: database connection lost during the startup check; its "
                         "schema level will be checked when it is reachable (API answers 503 "
                         "until then)");
            return NULL;
        }
        msg = apr_psprintf(ptemp,
                           "the database has no migrations applied "
                           "(level 0; this module needs level %d): run "
                           "'make migrate DATABASE_URL=...'",
                           DP_SCHEMA_LEVEL);
        apr_dbd_close(driver, handle);
        return msg;
    }
    level_s = apr_dbd_get_entry(driver, row, 0);
    level = level_s ? atoi(level_s) : 0;
    while (apr_dbd_get_row(driver, ptemp, res, &row, -1) == 0) {
        /* drain */
    }
    apr_dbd_close(driver, handle);
    if (level < DP_SCHEMA_LEVEL) {
        return apr_psprintf(ptemp,
                            "the database is at migration level %d but this module "
                            "needs level %d: run 'make migrate DATABASE_URL=...' (or "
                            "build/migrate.sh) before starting httpd",
                            level, DP_SCHEMA_LEVEL);
    }
    if (level > DP_SCHEMA_LEVEL) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "DP02002: database migration level %d is newer than this module's %d", level,
                     DP_SCHEMA_LEVEL);
    }
    schema_checked = 1;
    return NULL;
}

typedef struct held_conn {
    server_rec *s;
    ap_dbd_t *dbd;
} held_conn;

static apr_status_t release_conn(void *data)
{
    held_conn *h = data;
    dbd_close_fn(h->s, h->dbd);
    return APR_SUCCESS;
}

/* Transactions are plain BEGIN/COMMIT/ROLLBACK statements: apr_dbd's own transaction calls
 * dereference a NULL transaction when BEGIN fails on a dead connection. */
static int tx_statement(dp_db *db, const char *sql)
{
    int n = 0;
    return apr_dbd_query(db->dbd->driver, db->dbd->handle, &n, sql);
}

static apr_status_t rollback_open(void *data)
{
    dp_db *db = data;
    if (db->in_tx) {
        db->in_tx = 0;
        (void)tx_statement(db, "ROLLBACK");
    }
    return APR_SUCCESS;
}

static dp_error *unavailable(request_rec *r)
{
    return dp_error_make(r->pool, 503, DP_E_UNAVAILABLE, NULL,
                         "The database is unavailable; try again shortly.");
}

static dp_error *check_schema(dp_db *db)
{
    dp_rows *rows;
    dp_error *e;
    int level;

    e = dp_db_select(db, DPQ_SCHEMA_LEVEL, &rows, DP_NOARGS);
    if (e != NULL) {
        return e;
    }
    level = atoi(dp_rows_get(rows, 0, "level") ? dp_rows_get(rows, 0, "level") : "0");
    if (level < DP_SCHEMA_LEVEL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r,
                      "DP02003: database migration level %d is older than this module's %d; "
                      "run make migrate",
                      level, DP_SCHEMA_LEVEL);
        return unavailable(db->r);
    }
    schema_checked = 1;
    return NULL;
}

/* A live pooled connection (held until the request ends), or NULL. After a PostgreSQL
 * restart every idle connection in the pool is dead; each is revived as it is taken, so no
 * request depends on how many dead ones sit before a good one. */
static ap_dbd_t *open_live(request_rec *r)
{
    held_conn *h;
    ap_dbd_t *dbd = dbd_open_fn(r->pool, r->server);

    if (dbd == NULL) {
        return NULL;
    }
    h = apr_palloc(r->pool, sizeof(*h));
    h->s = r->server;
    h->dbd = dbd;
    apr_pool_cleanup_register(r->pool, h, release_conn, apr_pool_cleanup_null);
    return dp_db_ready(r->server, dbd) ? dbd : NULL;
}

static const char *bg_failure(dp_bg *b, const char *what, int rv)
{
    return apr_psprintf(b->p, "%s failed: %s", what,
                        dp_db_first_line(b->p, apr_dbd_error(b->dbd->driver, b->dbd->handle, rv)));
}

const char *dp_bg_sql(dp_bg *b, const char *sql)
{
    int n = 0, rv = apr_dbd_query(b->dbd->driver, b->dbd->handle, &n, sql);
    return rv != 0 ? bg_failure(b, sql, rv) : NULL;
}

/* NULL for a statement not prepared, or one with results in binary (read as text here). */
static apr_dbd_prepared_t *bg_statement(dp_bg *b, const char *name)
{
    const dp_statement *d = dp_statement_named(name);
    return d != NULL && !d->binary ? apr_hash_get(b->dbd->prepared, name, APR_HASH_KEY_STRING)
                                   : NULL;
}

const char *dp_bg_select(dp_bg *b, const char *name, dp_rows **rows, int nargs, const char **args)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_prepared_t *st = bg_statement(b, name);
    int rv;

    if (st == NULL) {
        return apr_psprintf(b->p, "statement %s is not prepared (or has results in binary)", name);
    }
    rv = apr_dbd_pselect(b->dbd->driver, b->p, b->dbd->handle, &res, st, 1, nargs, args);
    if (rv != 0) {
        return bg_failure(b, name, rv);
    }
    *rows = dp_db_drain(b->p, b->dbd->driver, res);
    return NULL;
}

const char *dp_bg_exec(dp_bg *b, const char *name, int nargs, const char **args)
{
    apr_dbd_prepared_t *st = bg_statement(b, name);
    int n = 0, rv;

    if (st == NULL) {
        return apr_psprintf(b->p, "statement %s is not prepared (or has results in binary)", name);
    }
    rv = apr_dbd_pquery(b->dbd->driver, b->p, b->dbd->handle, &n, st, nargs, args);
    return rv != 0 ? bg_failure(b, name, rv) : NULL;
}

dp_error *dp_db_acquire(request_rec *r, dp_db **out)
{
    dp_db *db;
    ap_dbd_t *dbd;

    *out = NULL;
    if (!retrieve_fns() || (dbd = open_live(r)) == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "DP02004: no database connection available; answering 503");
        return unavailable(r);
    }
    db = apr_pcalloc(r->pool, sizeof(*db));
    db->r = r;
    db->dbd = dbd;
    /* registered after the connection's release, so it runs before it */
    apr_pool_cleanup_register(r->pool, db, rollback_open, apr_pool_cleanup_null);
    if (!schema_checked) {
        dp_error *e = check_schema(db);
        if (e != NULL) {
            return e;
        }
    }
    *out = db;
    return NULL;
}

static apr_hash_t *statement_index; /* name -> dp_statement, per child, read-only once made */

static apr_status_t forget_index(void *unused)
{
    statement_index = NULL;
    return APR_SUCCESS;
}

void dp_statements_index(apr_pool_t *pchild)
{
    apr_hash_t *h = apr_hash_make(pchild);
    for (apr_size_t i = 0; i < dp_statements_count; i++) {
        apr_hash_set(h, dp_statements[i].name, APR_HASH_KEY_STRING, &dp_statements[i]);
    }
    statement_index = h;
    /* the index lives in pchild: without it, lookups walk the table again */
    apr_pool_cleanup_register(pchild, NULL, forget_index, apr_pool_cleanup_null);
}

const dp_statement *dp_statement_named(const char *name)
{
    if (statement_index != NULL) {
        return apr_hash_get(statement_index, name, APR_HASH_KEY_STRING);
    }
    for (apr_size_t i = 0; i < dp_statements_count; i++) {
        if (strcmp(dp_statements[i].name, name) == 0) {
            return &dp_statements[i];
        }
    }
    return NULL;
}

apr_dbd_prepared_t *dp_db_statement(dp_db *db, const char *name, int nargs, dp_error **err)
{
    apr_dbd_prepared_t *st = apr_hash_get(db->dbd->prepared, name, APR_HASH_KEY_STRING);
    const dp_statement *d = dp_statement_named(name);
    *err = NULL;
    if (st == NULL || d == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r,
                      "DP02005: statement %s is not prepared on this connection", name);
        *err = dp_error_internal(db->r->pool);
        return NULL;
    }
    if (d->nargs != nargs) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r,
                      "DP02006: statement %s takes %d arguments, %d given", name, d->nargs, nargs);
        *err = dp_error_internal(db->r->pool);
        return NULL;
    }
    return st;
}

/* For the calls that read results as text (apr_dbd's, and dp_db_stream): a statement whose
 * results come in binary is refused. */
apr_dbd_prepared_t *dp_db_text_statement(dp_db *db, const char *name, int nargs, dp_error **err)
{
    const dp_statement *d = dp_statement_named(name);
    if (d != NULL && d->binary) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r,
                      "DP02015: statement %s has results in binary; read it with dp_db_pipeline",
                      name);
        *err = dp_error_internal(db->r->pool);
        return NULL;
    }
    return dp_db_statement(db, name, nargs, err);
}

dp_error *dp_db_query_failed(dp_db *db, const char *name, int rv)
{
    const char *msg = apr_dbd_error(db->dbd->driver, db->dbd->handle, rv);

    if (!dp_pq_connected(db->dbd)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r,
                      "DP02007: database connection lost during %s: %s", name,
                      dp_db_first_line(db->r->pool, msg));
        return unavailable(db->r);
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, db->r, "DP02008: statement %s failed: %s", name,
                  dp_db_first_line(db->r->pool, msg));
    return dp_error_internal(db->r->pool);
}

dp_error *dp_db_select(dp_db *db, const char *name, dp_rows **out, int nargs, const char **args)
{
    apr_pool_t *p = db->r->pool;
    const apr_dbd_driver_t *drv = db->dbd->driver;
    apr_dbd_results_t *res = NULL;
    dp_error *err;
    apr_dbd_prepared_t *st = dp_db_text_statement(db, name, nargs, &err);
    int rv;

    *out = NULL;
    if (st == NULL) {
        return err;
    }
    rv = apr_dbd_pselect(drv, p, db->dbd->handle, &res, st, 1, nargs, args);
    for (int tries = 0; rv != 0 && tries < 4 && dp_pq_switch_if_dead(db); tries++) {
        drv = db->dbd->driver;
        if ((st = dp_db_text_statement(db, name, nargs, &err)) == NULL) {
            return err;
        }
        res = NULL;
        rv = apr_dbd_pselect(drv, p, db->dbd->handle, &res, st, 1, nargs, args);
    }
    if (rv != 0) {
        return dp_db_query_failed(db, name, rv);
    }
    db->used = 1;
    *out = dp_db_drain(p, drv, res);
    return NULL;
}

dp_rows *dp_db_drain(apr_pool_t *p, const apr_dbd_driver_t *drv, apr_dbd_results_t *res)
{
    apr_dbd_row_t *row = NULL;
    dp_rows *rows = apr_pcalloc(p, sizeof(*rows));
    int n;

    rows->ncols = apr_dbd_num_cols(drv, res);
    n = apr_dbd_num_tuples(drv, res);
    rows->cols = apr_palloc(p, sizeof(char *) * (apr_size_t)(rows->ncols > 0 ? rows->ncols : 1));
    /* Copies, not pointers: the driver frees its result once the last row is read. */
    for (int c = 0; c < rows->ncols; c++) {
        rows->cols[c] = apr_pstrdup(p, apr_dbd_get_name(drv, res, c));
    }
    rows->vals = apr_palloc(p, sizeof(char **) * (apr_size_t)(n > 0 ? n : 1));
    while (apr_dbd_get_row(drv, p, res, &row, -1) == 0) {
        const char **vals = apr_palloc(p, sizeof(char *) * (apr_size_t)(rows->ncols + 1));
        for (int c = 0; c < rows->ncols; c++) {
            const char *v = NULL;
            /* get_entry reads SQL NULL as ""; datum_get tells them apart (APR_ENOENT) */
            if (apr_dbd_datum_get(drv, row, c, APR_DBD_TYPE_STRING, &v) != APR_SUCCESS) {
                v = NULL;
            }
            vals[c] = v != NULL ? apr_pstrdup(p, v) : NULL;
        }
        if (rows->nrows < n) {
            rows->vals[rows->nrows++] = vals;
        }
    }
    return rows;
}

dp_error *dp_db_exec(dp_db *db, const char *name, int *affected, int nargs, const char **args)
{
    dp_error *err;
    apr_dbd_prepared_t *st = dp_db_text_statement(db, name, nargs, &err);
    int n = 0, rv;

    if (st == NULL) {
        return err;
    }
    rv = apr_dbd_pquery(db->dbd->driver, db->r->pool, db->dbd->handle, &n, st, nargs, args);
    for (int tries = 0; rv != 0 && tries < 4 && dp_pq_switch_if_dead(db); tries++) {
        if ((st = dp_db_text_statement(db, name, nargs, &err)) == NULL) {
            return err;
        }
        rv = apr_dbd_pquery(db->dbd->driver, db->r->pool, db->dbd->handle, &n, st, nargs, args);
    }
    if (rv != 0) {
        return dp_db_query_failed(db, name, rv);
    }
    db->used = 1;
    if (affected != NULL) {
        *affected = n;
    }
    return NULL;
}

dp_error *dp_db_begin(dp_db *db)
{
    int rv = tx_statement(db, "BEGIN");
    for (int tries = 0; rv != 0 && tries < 4 && dp_pq_switch_if_dead(db); tries++) {
        rv = tx_statement(db, "BEGIN");
    }
    if (rv != 0) {
        return dp_db_query_failed(db, "BEGIN", rv);
    }
    db->in_tx = 1;
    db->used = 1;
    return NULL;
}

dp_error *dp_db_commit(dp_db *db)
{
    int rv;
    if (!db->in_tx) {
        return NULL;
    }
    db->in_tx = 0;
    rv = tx_statement(db, "COMMIT");
    if (rv != 0) {
        return dp_db_query_failed(db, "COMMIT", rv);
    }
    return NULL;
}

void dp_db_rollback(dp_db *db)
{
    rollback_open(db);
}

int dp_db_in_tx(const dp_db *db)
{
    return db->in_tx;
}

int dp_rows_col(const dp_rows *rows, const char *col)
{
    for (int c = 0; rows != NULL && c < rows->ncols; c++) {
        if (strcmp(rows->cols[c], col) == 0) {
            return c;
        }
    }
    return -1;
}

const char *dp_rows_at(const dp_rows *rows, int i, int col)
{
    if (rows == NULL || i < 0 || i >= rows->nrows || col < 0 || col >= rows->ncols) {
        return NULL;
    }
    return rows->vals[i][col];
}

const char *dp_rows_get(const dp_rows *rows, int i, const char *col)
{
    return dp_rows_at(rows, i, dp_rows_col(rows, col));
}
