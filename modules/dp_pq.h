/* dp_pq: what dp_db.c (apr_dbd through mod_dbd) and dp_pq.c (libpq under the same pooled
 * connection) share. Private to those two files; handlers use dp_db.h. */
#ifndef DP_PQ_H
#define DP_PQ_H

#include "dp_db.h"

struct dp_db {
    request_rec *r;
    ap_dbd_t *dbd;
    int in_tx; /* BEGIN sent, COMMIT/ROLLBACK not yet */
    int used;  /* a statement has succeeded on this connection */
};

/* dp_pq.c */

/* 1 if libpq holds the connection for open (it may still be dead unnoticed: see dp_db_ready). */
int dp_pq_connected(ap_dbd_t *dbd);

/* An idle pooled connection can be dead (PostgreSQL restarted) without libpq knowing until it
 * is used. After the first statement of a request failed that way outside a transaction,
 * nothing has happened on it yet: 1 once it is reconnected in place to run the statement
 * again, else 0. */
int dp_pq_switch_if_dead(dp_db *db);

/* dp_db.c */

/* The statement prepared under name on this connection, checked for its argument count; NULL
 * and *err (logged) otherwise. */
apr_dbd_prepared_t *dp_db_statement(dp_db *db, const char *name, int nargs, dp_error **err);
/* The same for a call that reads the results as text: refuses a statement declared with
 * results in binary (dp_statement.binary). */
apr_dbd_prepared_t *dp_db_text_statement(dp_db *db, const char *name, int nargs, dp_error **err);

/* After a failed statement: a dead connection is 503, anything else a logged 500. */
dp_error *dp_db_query_failed(dp_db *db, const char *name, int rv);

/* The first line of a driver message: the DETAIL line may quote row values (PHI). */
const char *dp_db_first_line(apr_pool_t *p, const char *msg);

#endif
