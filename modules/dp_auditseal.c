/* The audit sealer thread (see dp_auditseal.h and sql/006_audit_chain.sql).
 *
 * Why a thread in every child rather than one daemon process: it needs nothing from the
 * hosting admin (no extra process to supervise, no module like mod_watchdog to load), it
 * uses mod_dbd's pool and prepared statements like any request, and it starts and stops
 * with the children, also across graceful restarts. Several sealers (children, servers)
 * never work at once: each batch first takes a transaction-scoped advisory lock with
 * pg_try_advisory_xact_lock, and a sealer that does not get it skips its turn.
 *
 * A batch, in one transaction: the chain's head (last position and MAC), up to SEAL_BATCH
 * committed rows without a seal in seq order, their MACs chained on, one INSERT of the
 * seals, one signed checkpoint; after COMMIT the checkpoint also goes to the error log at
 * NOTICE (which httpd logs at any LogLevel): a copy outside the database, so that deleting
 * the tail of the chain (rows, seals and checkpoints) is still found by the verifier.
 *
 * Where a batch looks for unsealed rows (sql/009_audit_seal_frontier.sql): above the seq
 * frontier the last checkpoint recorded, and at the few seqs it left open, which costs the
 * same however busy the last ten minutes were. Without a frontier (the first batch after an
 * upgrade, too many open seqs), and once every DocPortalAuditSweepInterval seconds across all
 * the sealers of the database, the batch searches every row of the window instead, as a safety
 * net: such a search also chains a row whose seal went missing below the frontier. It costs
 * PostgreSQL a lookup of every row of the last ten minutes (1 to 2 s of CPU for a million), so
 * it runs minutes apart (at the first wake once the period is over), not at every wake; a
 * period of at most half the window searches every row while the row is in it, as long as the
 * sealer keeps up. When the last one ran is a row of the database
 * (sql/019_audit_sweep.sql), read and set under the lock, so the search is neither repeated by
 * each child nor lost when the sealer whose turn it was found the lock taken; a batch that
 * searched commits even when it found nothing.
 *
 * Before its batches, each wake also closes the counts of anonymous refusals whose minute has
 * ended (DocPortalAnonymousAuditLimit, sql/016_audit_refusal_counts.sql): one statement that
 * deletes them and writes one audit event for each address that went past the limit, so the
 * same wake seals those events. It needs no lock (the DELETE hands each count to one sealer),
 * and its failure does not keep the batches from running. */
#include "dp_auditseal.h"

#include "dp_config.h"
#include "dp_db.h"
#include "dp_sql.h"
#include "dp_worker.h"
#include "core/dp_auditchain.h"
#include "core/dp_crypto.h"

#include <apr_optional.h>
#include <apr_strings.h>
#include <http_log.h>
#include <mod_dbd.h>

APLOG_USE_MODULE(docportal);

#define SEAL_BATCH       1000         /* rows per transaction */
#define SEAL_MAX_BATCHES 20           /* per wake; a larger backlog goes on at the next one */
#define SEAL_REWARN_SEC  300          /* while failing, repeat the warning this often */
#define SEAL_MAX_FREE    (256 * 1024) /* bytes the sealer's allocator keeps when idle */

typedef struct sealer {
    server_rec *s;
    const dp_config *cfg;
    dp_worker *worker;
    dp_worker_health health;
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) * dbd_open;
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) * dbd_close;
} sealer;

/* One batch on one connection. */
typedef struct seal_tx {
    sealer *sl;
    dp_bg db;    /* db.p: the batch's pool */
    int written; /* this batch wrote something to commit: seals, or the time of a search */
} seal_tx;

/* The batch's links: positions, event seqs and MACs as PostgreSQL array literals; head
 * moves to the last link. */
typedef struct seal_links {
    const char *positions, *seqs, *macs;
    apr_int64_t position; /* of the last link */
    unsigned char mac[DP_AUDITCHAIN_MAC_LEN];
} seal_links;

static const char *chain_rows(seal_tx *t, const dp_rows *rows, seal_links *l)
{
    apr_array_header_t *pos = apr_array_make(t->db.p, rows->nrows, sizeof(char *));
    apr_array_header_t *seq = apr_array_make(t->db.p, rows->nrows, sizeof(char *));
    apr_array_header_t *mac = apr_array_make(t->db.p, rows->nrows, sizeof(char *));
    const dp_config *cfg = t->sl->cfg;

    if (rows->ncols != DP_AUDITCHAIN_NFIELDS) {
        return apr_psprintf(t->db.p, "audit_unsealed gave %d columns, not %d", rows->ncols,
                            DP_AUDITCHAIN_NFIELDS);
    }
    for (int i = 0; i < rows->nrows; i++) {
        char *hex = apr_palloc(t->db.p, 2 * DP_AUDITCHAIN_MAC_LEN + 1);
        if (rows->vals[i][0] == NULL
            || dp_auditchain_link(cfg->audit_key, cfg->audit_key_len, l->mac, rows->vals[i], l->mac)
                != 0) {
            return "computing a MAC failed";
        }
        dp_hex_encode(hex, l->mac, DP_AUDITCHAIN_MAC_LEN);
        l->position++;
        APR_ARRAY_PUSH(pos, const char *) = apr_psprintf(t->db.p, "%" APR_INT64_T_FMT, l->position);
        APR_ARRAY_PUSH(seq, const char *) = rows->vals[i][0];
        APR_ARRAY_PUSH(mac, const char *) = hex;
    }
    l->positions = apr_pstrcat(t->db.p, "{", apr_array_pstrcat(t->db.p, pos, ','), "}", NULL);
    l->seqs = apr_pstrcat(t->db.p, "{", apr_array_pstrcat(t->db.p, seq, ','), "}", NULL);
    l->macs = apr_pstrcat(t->db.p, "{", apr_array_pstrcat(t->db.p, mac, ','), "}", NULL);
    return NULL;
}

/* Inside the transaction, after the lock: chain what is unsealed, store seals and the
 * checkpoint. *sealed: rows sealed; *log_line: the checkpoint for the error log. */
static const char *seal_locked(seal_tx *t, int *sealed, const char **log_line)
{
    const dp_config *cfg = t->sl->cfg;
    const char *limit = apr_itoa(t->db.p, SEAL_BATCH), *err, *head_mac;
    char mac_hex[2 * DP_AUDITCHAIN_MAC_LEN + 1], sig_hex[2 * DP_AUDITCHAIN_MAC_LEN + 1];
    unsigned char sig[DP_AUDITCHAIN_MAC_LEN];
    const char *seq_hi, *open_seqs, *open_since, *due;
    const char *period = apr_itoa(t->db.p, cfg->audit_sweep_interval);
    dp_rows *head, *rows;
    seal_links l = {0};
    apr_int64_t now_us;
    int sweep_due;

    if ((err = dp_bg_select(&t->db, DPQ_AUDIT_SEAL_HEAD, &head, DP_ARGS(period))) != NULL) {
        return err;
    }
    if (head->nrows != 1 || dp_rows_get(head, 0, "now_us") == NULL) {
        return "audit_seal_head gave no row";
    }
    now_us = apr_atoi64(dp_rows_get(head, 0, "now_us"));
    l.position = apr_atoi64(dp_rows_get(head, 0, "position"));
    head_mac = dp_rows_get(head, 0, "mac");
    if (head_mac == NULL) {
        dp_auditchain_genesis(l.mac);
    }
    else if (dp_hex_decode(head_mac, l.mac, DP_AUDITCHAIN_MAC_LEN) != 0) {
        return apr_psprintf(
            t->db.p, "the seal at position %" APR_INT64_T_FMT " has a malformed MAC", l.position);
    }
    /* the frontier the head's checkpoint recorded (all three, or none) */
    seq_hi = dp_rows_get(head, 0, "seq_hi");
    open_seqs = dp_rows_get(head, 0, "open_seqs");
    open_since = dp_rows_get(head, 0, "open_since");
    if (seq_hi == NULL || open_seqs == NULL || open_since == NULL) {
        seq_hi = open_seqs = open_since = NULL;
    }
    /* the search of the whole window: when it is due (and then its time is recorded, which
     * alone is worth a COMMIT), or for want of a frontier (recorded only when due, so that an
     * idle database without one writes nothing) */
    due = dp_rows_get(head, 0, "sweep_due");
    sweep_due = due == NULL || strcmp(due, "f") != 0;
    if (seq_hi == NULL || sweep_due) {
        err = dp_bg_select(&t->db, DPQ_AUDIT_UNSEALED, &rows, DP_ARGS(limit));
        if (err == NULL && sweep_due) {
            err = dp_bg_exec(&t->db, DPQ_AUDIT_SWEEP_DONE, DP_NOARGS);
            t->written = (err == NULL);
        }
    }
    else {
        err = dp_bg_select(&t->db, DPQ_AUDIT_UNSEALED_AFTER, &rows,
                           DP_ARGS(seq_hi, limit, open_seqs, limit));
    }
    if (err != NULL) {
        return err;
    }
    if (rows->nrows == 0) {
        return NULL;
    }
    if ((err = chain_rows(t, rows, &l)) != NULL
        || (err =
                dp_bg_exec(&t->db, DPQ_AUDIT_SEAL_INSERT, DP_ARGS(l.positions, l.seqs, l.macs)))) {
        return err;
    }
    if (dp_auditchain_checkpoint_sign(cfg->audit_key, cfg->audit_key_len, l.position, l.mac, now_us,
                                      sig)
        != 0) {
        return "signing the checkpoint failed";
    }
    dp_hex_encode(mac_hex, l.mac, DP_AUDITCHAIN_MAC_LEN);
    dp_hex_encode(sig_hex, sig, DP_AUDITCHAIN_MAC_LEN);
    err = dp_bg_exec(&t->db, DPQ_AUDIT_CHECKPOINT_INSERT,
                     DP_ARGS(seq_hi, open_seqs, open_since,
                             apr_psprintf(t->db.p, "%" APR_INT64_T_FMT, l.position), mac_hex,
                             sig_hex));
    if (err != NULL) {
        return err;
    }
    *sealed = rows->nrows;
    t->written = 1;
    *log_line =
        apr_psprintf(t->db.p,
                     DP_AUDITCHAIN_CHECKPOINT_TAG "position=%" APR_INT64_T_FMT
                                                  " at=%" APR_INT64_T_FMT " mac=%s sig=%s rows=%d",
                     l.position, now_us, mac_hex, sig_hex, rows->nrows);
    return NULL;
}

/* One batch in its own transaction. *sealed is 0 when there was nothing to do or another
 * sealer holds the lock. */
static const char *seal_batch(seal_tx *t, int *sealed)
{
    const char *err, *log_line = NULL;
    dp_rows *lock;

    *sealed = 0;
    t->written = 0;
    if ((err = dp_bg_sql(&t->db, "BEGIN")) != NULL) {
        return err;
    }
    err = dp_bg_select(&t->db, DPQ_AUDIT_SEAL_LOCK, &lock, DP_NOARGS);
    if (err == NULL
        && strcmp(dp_rows_get(lock, 0, "locked") ? dp_rows_get(lock, 0, "locked") : "f", "t")
            == 0) {
        err = seal_locked(t, sealed, &log_line);
    }
    if (err != NULL || !t->written) {
        (void)dp_bg_sql(&t->db, "ROLLBACK"); /* nothing written, or a failure to undo */
        *sealed = 0;
        return err;
    }
    if ((err = dp_bg_sql(&t->db, "COMMIT")) != NULL) {
        *sealed = 0;
        return err;
    }
    if (log_line != NULL) {
        /* DP09001: the id leads DP_AUDITCHAIN_CHECKPOINT_TAG, the verifier reads it there */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, t->sl->s, "%s", log_line);
    }
    return NULL;
}

/* The counts of anonymous refusals whose minute has ended, into events (see the top). */
static const char *close_refusals(sealer *sl, dp_bg *db)
{
    dp_rows *rows;
    const char *err = dp_bg_select(db, DPQ_AUDIT_REFUSALS_CLOSE, &rows, DP_NOARGS);

    if (err != NULL) {
        return apr_pstrcat(db->p, "closing the counts of anonymous refusals: ", err, NULL);
    }
    if (rows->nrows > 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, sl->s,
                     "DP09005: audit: %d client address(es) went past %s in a minute; each "
                     "one's refusals beyond it are recorded as one audit.refusals event",
                     rows->nrows, DP_DIR_ANON_AUDIT_LIMIT);
    }
    return NULL;
}

/* A failure is a warning (the database may just be down; the next run retries), logged
 * once when it starts and again every few minutes while it lasts. */
static void report(sealer *sl, const char *err)
{
    switch (dp_worker_health_update(&sl->health, err != NULL, SEAL_REWARN_SEC)) {
    case DP_HEALTH_WARN:
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sl->s,
                     "DP09002: audit sealer: %s; retrying every %d s", err,
                     sl->cfg->audit_seal_interval);
        break;
    case DP_HEALTH_RECOVERED:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, sl->s, "DP09003: audit sealer: working again");
        break;
    default: break;
    }
}

static void seal_run(dp_worker *w, void *baton, apr_pool_t *p)
{
    sealer *sl = baton;
    seal_tx t = {
        sl, {sl->s, p, sl->dbd_open(p, sl->s)},
         0
    };
    const char *err = NULL, *closing = NULL;

    if (t.db.dbd == NULL) {
        err = "no database connection";
    }
    else if (!dp_db_ready(sl->s, t.db.dbd)) {
        err = "the database connection is not usable";
    }
    else {
        /* each batch in its own pool, cleared after it: a backlog of many batches never
         * holds more than one batch's rows and results */
        apr_pool_t *batch;
        closing = close_refusals(sl, &t.db);
        if (apr_pool_create(&batch, p) != APR_SUCCESS) {
            err = "out of memory";
        }
        for (int i = 0; err == NULL && i < SEAL_MAX_BATCHES && !dp_worker_stopping(w); i++) {
            int sealed = 0;
            t.db.p = batch;
            if ((err = seal_batch(&t, &sealed)) != NULL) {
                err = apr_pstrdup(p, err);
            }
            apr_pool_clear(batch);
            if (sealed < SEAL_BATCH) {
                break;
            }
        }
        t.db.p = p;
        if (err == NULL) {
            err = closing;
        }
    }
    if (t.db.dbd != NULL) {
        sl->dbd_close(sl->s, t.db.dbd);
    }
    report(sl, err);
}

void dp_auditseal_child_init(apr_pool_t *pchild, server_rec *s)
{
    sealer *sl = apr_pcalloc(pchild, sizeof(*sl));
    apr_status_t rv;

    sl->s = s;
    sl->cfg = dp_config_get(s);
    sl->dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    sl->dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (sl->dbd_open == NULL || sl->dbd_close == NULL || sl->cfg->audit_key == NULL) {
        return; /* post_config refused to start in these cases */
    }
    /* a batch of 1,000 rows needs a few hundred KiB; the rest goes back after it, so a
     * backlog does not leave the child's resident memory at its high-water mark */
    rv = dp_worker_start(pchild, sl->cfg->audit_seal_interval, SEAL_MAX_FREE, seal_run, sl,
                         &sl->worker);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "DP09004: audit sealer: could not start its thread in this child "
                     "(the other children still seal)");
    }
}
