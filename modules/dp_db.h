/* dp_db: PostgreSQL through mod_dbd's pooled connections and prepared statements.
 * Statements are declared once in sql/statements.sql and referred to by DPQ_* names. */
#ifndef DP_DB_H
#define DP_DB_H

#include <apr_dbd.h>
#include <httpd.h>
#include <mod_dbd.h>

#include "core/dp_error.h"

typedef struct dp_statement {
    const char *name;
    int nargs;
    const char *sql;
    /* "-- results: binary": PostgreSQL sends the rows in binary format, which dp_pq.c renders
     * as text (core/dp_pgbin.h: a timestamp as microseconds since 1970, a bytea as base64).
     * Such a statement is read with dp_db_pipeline or dp_db_pipeline_shared only; the other
     * calls refuse it. */
    int binary;
} dp_statement;

extern const dp_statement dp_statements[];
extern const apr_size_t dp_statements_count;

/* The declaration of the statement called name, or NULL. Looked up in an index made by
 * dp_statements_index (in each child before its threads start), else by a walk of the table. */
const dp_statement *dp_statement_named(const char *name);
void dp_statements_index(apr_pool_t *pchild);

/* A fully drained result: column names and text values (NULL for SQL NULL). */
typedef struct dp_rows {
    int ncols;
    const char **cols;
    int nrows;
    const char ***vals;
} dp_rows;

typedef struct dp_db dp_db;

/* Bound arguments: dp_db_select(db, DPQ_X, &rows, DP_ARGS(a, b)). NULL binds SQL NULL. */
#define DP_ARGS(...)                                                                               \
    (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), (const char *[])          \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define DP_NOARGS 0, NULL

/* Configuration time: have mod_dbd prepare every statement for server s. */
void dp_db_prepare_all(server_rec *s);

/* Configuration time: if the database can be reached, refuse (non-NULL message) when its
 * migration level is older than this module's; warn and go on when it cannot be reached. */
const char *dp_db_startup_check(apr_pool_t *ptemp, server_rec *s);

/* Outside a request (the audit sealer): 1 if a connection from ap_dbd_open is alive and has
 * every statement prepared (again, after mod_dbd reset it), else 0. */
int dp_db_ready(server_rec *s, ap_dbd_t *dbd);

/* Work outside a request (the audit sealer, the mail delivery thread): one connection from
 * ap_dbd_open, checked with dp_db_ready, and a pool for results. Each call answers NULL, or
 * a sentence for the error log (the first line of the driver's message: a DETAIL line may
 * quote values). */
typedef struct dp_bg {
    server_rec *s;
    apr_pool_t *p;
    ap_dbd_t *dbd;
} dp_bg;

const char *dp_bg_sql(dp_bg *b, const char *sql); /* BEGIN, COMMIT, ROLLBACK */
const char *dp_bg_select(dp_bg *b, const char *name, dp_rows **rows, int nargs, const char **args);
const char *dp_bg_exec(dp_bg *b, const char *name, int nargs, const char **args);

/* A live connection for this request, or 503 unavailable. */
dp_error *dp_db_acquire(request_rec *r, dp_db **db);

dp_error *dp_db_select(dp_db *db, const char *name, dp_rows **rows, int nargs, const char **args);
dp_error *dp_db_exec(dp_db *db, const char *name, int *affected, int nargs, const char **args);

/* One transaction per request at most; an open one is rolled back at request end. */
dp_error *dp_db_begin(dp_db *db);
dp_error *dp_db_commit(dp_db *db);
void dp_db_rollback(dp_db *db);
/* 1 between dp_db_begin and dp_db_commit/dp_db_rollback. */
int dp_db_in_tx(const dp_db *db);

/* Every row of a result, copied into p (the driver frees its own after the last row). */
dp_rows *dp_db_drain(apr_pool_t *p, const apr_dbd_driver_t *drv, apr_dbd_results_t *res);

/* Statements in one round trip, as one unit: they go to PostgreSQL together in a libpq
 * pipeline ending in a single Sync. Outside a transaction they form one implicit transaction
 * (committed together; if one fails, none took effect); inside an open one they are part of
 * it. Each call gets its statement's rows (empty for one that returns none). */
typedef struct dp_db_call {
    const char *name;
    int nargs;
    const char **args;
    dp_rows *rows; /* out */
} dp_db_call;
dp_error *dp_db_pipeline(dp_db *db, dp_db_call *calls, int n);

/* The same for the reads of a request outside a transaction, sharing one round trip with the
 * reads other requests of this child are waiting to send (dp_pq.c): at most parallel such
 * round trips are in flight in the child at a time (DocPortalReadPipelines; 0: the request
 * sends its own, as dp_db_pipeline). Only for statements that change nothing: one whose shared
 * round trip failed is sent again. */
dp_error *dp_db_pipeline_shared(dp_db *db, dp_db_call *calls, int n, int parallel);

/* Per child, before its threads start: the statements' index and the lock of the shared round
 * trips. */
void dp_pq_child_init(apr_pool_t *pchild, server_rec *s);

/* Two of them; rows (if not NULL) gets the first statement's rows. */
dp_error *dp_db_pair(dp_db *db, const char *first, dp_rows **rows, int nargs, const char **args,
                     const char *second, int nargs2, const char **args2);

/* One statement on this connection as it is (no reconnecting), logging nothing: 1 when it
 * succeeded; else 0 with the first line of PostgreSQL's message in why (whylen bytes) and
 * *lost set when the connection is gone. For the audit batch (dp_audit.c), whose writer
 * reports the outcome to every request of the batch. */
int dp_db_try_exec(dp_db *db, const char *name, int nargs, const char **args, char *why,
                   apr_size_t whylen, int *lost);

/* Value of column col in row i, or NULL (SQL NULL, or no such row/column). */
const char *dp_rows_get(const dp_rows *rows, int i, const char *col);
/* For many rows: the index of column col (-1 when there is none) once, then the value of
 * that column in row i (NULL for SQL NULL, a column -1 or no such row). */
int dp_rows_col(const dp_rows *rows, const char *col);
const char *dp_rows_at(const dp_rows *rows, int i, int col);

/* Audit report: a select whose rows are handed to fn one at a time as they arrive (a result
 * of any size in bounded memory). row holds one row (index 0) whose values live only until fn
 * returns. fn returns non-zero to stop: the rest of the result is read and dropped. */
typedef int (*dp_db_row_fn)(void *baton, const dp_rows *row);
dp_error *dp_db_stream(dp_db *db, const char *name, int nargs, const char **args, dp_db_row_fn fn,
                       void *baton);

#endif
