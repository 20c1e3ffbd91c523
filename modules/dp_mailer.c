/* The mail delivery thread (see dp_mailer.h). */
#include "dp_mailer.h"

#include "dp_config.h"
#include "dp_db.h"
#include "dp_outbox.h"
#include "dp_sql.h"
#include "dp_worker.h"
#include "core/dp_aead.h"
#include "core/dp_mail.h"

#include <apr_file_io.h>
#include <apr_optional.h>
#include <apr_strings.h>
#include <http_log.h>
#include <mod_dbd.h>

APLOG_USE_MODULE(docportal);

#define MAIL_PER_PASS    200          /* mails per wake; more wait for the next */
#define MAIL_LEASE_S     300          /* a claimed mail is not taken again before this */
#define MAIL_BACKOFF_MAX 3600         /* the longest wait between two attempts */
#define MAIL_MAX_FREE    (128 * 1024) /* bytes the thread's allocator keeps when idle */
#define MAIL_REWARN_S    300          /* while failing, repeat the warning this often */

typedef struct mailer {
    server_rec *s;
    const dp_config *cfg;
    dp_smtp_cfg smtp;
    dp_worker *worker;
    dp_worker_health health;
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) * dbd_open;
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) * dbd_close;
} mailer;

/* The child's delivery thread, for dp_mailer_kick (one per process). */
static dp_worker *this_child;

void dp_mailer_kick(void)
{
    dp_worker_kick(this_child);
}

/* Without SMTP: the message as a file, written under a temporary name and renamed, so a
 * reader never sees half a mail. */
static const char *write_file(apr_pool_t *p, const char *dir, const char *name, const char *msg)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    char *tmp = apr_pstrcat(p, dir, "/.tmp-XXXXXX", NULL); /* apr_file_mktemp's template */
    apr_size_t len = strlen(msg);
    apr_file_t *f;
    apr_status_t rv;

    rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot create a file in %s (%pm)", dir, &rv);
    }
    rv = apr_file_write_full(f, msg, len, NULL);
    if (rv == APR_SUCCESS) {
        rv = apr_file_close(f);
    }
    else {
        apr_file_close(f);
    }
    if (rv == APR_SUCCESS) {
        (void)apr_file_perms_set(tmp, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD);
        rv = apr_file_rename(tmp, path, p);
    }
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        return apr_psprintf(p, "cannot write %s (%pm)", path, &rv);
    }
    return NULL;
}

/* Seconds before attempt n + 1, after n failed ones. */
static int backoff(const mailer *m, int attempts)
{
    long long wait = m->cfg->mail_interval;
    for (int i = 1; i < attempts && wait < MAIL_BACKOFF_MAX; i++) {
        wait *= 2;
    }
    return wait < MAIL_BACKOFF_MAX ? (int)wait : MAIL_BACKOFF_MAX;
}

/* The row's message, ready to send, or NULL with *err (the row cannot ever be sent). */
static const char *message_of(mailer *m, apr_pool_t *p, const dp_rows *row, const char **err)
{
    const char *id = dp_rows_get(row, 0, "id"), *plain, *aad;
    dp_sealed sealed = {dp_rows_get(row, 0, "body_key_id"), dp_rows_get(row, 0, "body_nonce"),
                        dp_rows_get(row, 0, "body_ct")};
    apr_size_t aad_len;
    dp_mail mail;
    dp_aead_status st;

    aad = dp_outbox_aad(p, id, &aad_len);
    st = dp_aead_open(p, m->cfg->message_keys, &sealed, aad, aad_len, &plain, NULL);
    if (st != DP_AEAD_OK) {
        *err = st == DP_AEAD_UNKNOWN_KEY ? "its body is sealed under a key no longer in the ring"
                                         : "its body does not open (tampered or damaged)";
        return NULL;
    }
    mail.from = m->cfg->mail_from;
    mail.to = dp_rows_get(row, 0, "recipient");
    mail.subject = dp_rows_get(row, 0, "subject");
    mail.kind = dp_rows_get(row, 0, "kind");
    mail.message_id = dp_rows_get(row, 0, "message_id");
    mail.date = apr_atoi64(dp_rows_get(row, 0, "created_s"));
    mail.body = plain;
    return dp_mail_compose(p, &mail, err);
}

/* Send or write one claimed row. NULL when delivered; else why, with *permanent, and *down
 * when the transport did not answer at all (the rest of the pass would fail the same way). */
static const char *deliver(mailer *m, apr_pool_t *p, const dp_rows *row, int *permanent, int *down)
{
    const char *msg, *err = NULL;
    long reply = 0;

    *permanent = 1;
    *down = 0;
    if ((msg = message_of(m, p, row, &err)) == NULL) {
        return err;
    }
    if (m->smtp.url == NULL) {
        *permanent = 0;
        err = write_file(p, m->cfg->mail_dir,
                         apr_pstrcat(p, dp_rows_get(row, 0, "created_s"), "-",
                                     dp_rows_get(row, 0, "id"), ".eml", NULL),
                         msg);
        *down = err != NULL;
        return err;
    }
    err = dp_smtp_send(p, &m->smtp, dp_mail_from_address(p, m->cfg->mail_from),
                       dp_rows_get(row, 0, "recipient"), msg, strlen(msg), permanent, &reply);
    *down = err != NULL && reply == 0;
    return err;
}

/* One claimed mail: deliver it and record how it went. A failed attempt that will be retried
 * sets *failure (why); *stop when the transport did not answer at all, so the rest of the
 * pass would fail too. Answers a database failure, or NULL. */
static const char *handle_one(mailer *m, dp_bg *db, const dp_rows *row, int *stop,
                              const char **failure)
{
    const char *id = dp_rows_get(row, 0, "id"), *mid = dp_rows_get(row, 0, "message_id");
    const char *kind = dp_rows_get(row, 0, "kind");
    int attempts = atoi(dp_rows_get(row, 0, "attempts")), permanent = 0, down = 0;
    const char *why;

    *stop = 0;
    if (strcmp(dp_rows_get(row, 0, "too_old"), "t") == 0) {
        why = apr_psprintf(db->p, "not delivered within %d seconds", m->cfg->mail_max_age);
        permanent = 1;
    }
    else if ((why = deliver(m, db->p, row, &permanent, &down)) == NULL) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, m->s, "DP13010: mail %s (%s) delivered", mid, kind);
        return dp_bg_exec(db, DPQ_MAIL_SENT, DP_ARGS(id));
    }
    if (permanent || attempts >= m->cfg->mail_tries) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, m->s,
                     "DP13011: mail %s (%s) given up after %d attempt%s: %s", mid, kind, attempts,
                     attempts == 1 ? "" : "s", why);
        return dp_bg_exec(db, DPQ_MAIL_GIVE_UP, DP_ARGS(why, id));
    }
    *stop = down;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, m->s, "DP13012: mail %s (%s) attempt %d failed: %s",
                 mid, kind, attempts, why);
    *failure = why;
    return dp_bg_exec(db, DPQ_MAIL_RETRY, DP_ARGS(apr_itoa(db->p, backoff(m, attempts)), why, id));
}

static void report(mailer *m, const char *err)
{
    switch (dp_worker_health_update(&m->health, err != NULL, MAIL_REWARN_S)) {
    case DP_HEALTH_WARN:
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, m->s,
                     "DP13013: mail delivery: %s; retrying every %d s", err, m->cfg->mail_interval);
        break;
    case DP_HEALTH_RECOVERED:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, m->s, "DP13014: mail delivery: working again");
        break;
    default: break;
    }
}

/* Claim and deliver due mails until none is left, the transport fails or the child goes.
 * A failed attempt is the pass's failure too (for report's warning). */
static const char *deliver_due(dp_worker *w, mailer *m, dp_bg *db, apr_pool_t *p)
{
    const char *lease = apr_itoa(p, MAIL_LEASE_S), *max_age = apr_itoa(p, m->cfg->mail_max_age);
    const char *err = NULL, *pass_failure = NULL;
    apr_pool_t *one;

    if (apr_pool_create(&one, p) != APR_SUCCESS) {
        return "out of memory";
    }
    for (int i = 0; err == NULL && i < MAIL_PER_PASS && !dp_worker_stopping(w); i++) {
        dp_rows *row = NULL;
        const char *failure = NULL;
        int stop = 0;
        db->p = one;
        if ((err = dp_bg_select(db, DPQ_MAIL_CLAIM, &row, DP_ARGS(lease, max_age))) == NULL
            && row->nrows == 1) {
            err = handle_one(m, db, row, &stop, &failure);
        }
        if (err == NULL && failure != NULL && pass_failure == NULL) {
            pass_failure = apr_pstrdup(p, failure);
        }
        if (err != NULL) {
            err = apr_pstrdup(p, err);
        }
        if (err != NULL || row == NULL || row->nrows != 1 || stop) {
            break;
        }
        apr_pool_clear(one);
    }
    db->p = p;
    return err ? err : pass_failure;
}

/* One reminder: claimed by its unique key (appointment and start) and queued with its audit
 * event, in one transaction; a reminder already claimed, or a session moved or no longer
 * confirmed meanwhile, queues nothing. A reminder whose mail cannot be made (an address the
 * outbox refuses: old or damaged data) is claimed without a mail and logged, so that it
 * neither comes back on every pass nor holds up the rest. Answers a database failure. */
static const char *remind_one(mailer *m, dp_bg *db, const dp_rows *due, int i)
{
    const char *id = dp_rows_get(due, i, "id"), *err;
    dp_mail_vars v = {apr_pstrcat(db->p, m->cfg->public_url, "/appointments/", id, NULL),
                      dp_rows_get(due, i, "starts_local"), dp_rows_get(due, i, "time_zone")};
    dp_outmail om;
    dp_error *e;
    dp_rows *claimed;

    e = dp_outbox_compose(db->p, m->cfg->public_url, DP_MAIL_REMINDER, dp_rows_get(due, i, "email"),
                          &v, &om);
    if ((err = dp_bg_sql(db, "BEGIN")) != NULL) return err;
    err = dp_bg_select(db, DPQ_REMINDER_CLAIM, &claimed,
                       DP_ARGS(id, dp_rows_get(due, i, "starts_key")));
    if (err == NULL && claimed->nrows == 1 && e == NULL) {
        err = dp_bg_exec(
            db, DPQ_OUTBOX_INSERT,
            DP_ARGS(om.id, om.kind, om.to, om.subject, om.key_id, om.nonce, om.ct, om.message_id));
    }
    if (err == NULL && claimed->nrows == 1) {
        err = dp_bg_exec(db, DPQ_AUDIT_INSERT,
                         DP_ARGS(NULL, "system", "reminder.queue", "appointment", id,
                                 dp_rows_get(due, i, "client_id"), NULL,
                                 e == NULL ? "success" : "failure", NULL));
    }
    if (err != NULL) {
        (void)dp_bg_sql(db, "ROLLBACK");
        return err;
    }
    if (e != NULL && claimed->nrows == 1) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, m->s,
                     "DP13016: no reminder for appointment %s: its mail cannot be made (%s)", id,
                     e->detail);
    }
    return dp_bg_sql(db, "COMMIT");
}

/* Queue the reminders that are due: confirmed sessions starting within DocPortalReminderLead
 * hours whose client wants reminders and has none for that start yet. */
static const char *queue_reminders(mailer *m, dp_bg *db)
{
    dp_rows *due;
    const char *err =
        dp_bg_select(db, DPQ_REMINDERS_DUE, &due, DP_ARGS(apr_itoa(db->p, m->cfg->reminder_lead)));
    for (int i = 0; err == NULL && i < due->nrows; i++) {
        err = remind_one(m, db, due, i);
    }
    return err;
}

static void mail_run(dp_worker *w, void *baton, apr_pool_t *p)
{
    mailer *m = baton;
    dp_bg db = {m->s, p, m->dbd_open(p, m->s)};
    const char *err = NULL;
    dp_rows *lock;

    if (db.dbd == NULL) {
        err = "no database connection";
    }
    else if (!dp_db_ready(m->s, db.dbd)) {
        err = "the database connection is not usable";
    }
    else if ((err = dp_bg_select(&db, DPQ_MAIL_LOCK, &lock, DP_NOARGS)) == NULL
             && strcmp(dp_rows_get(lock, 0, "locked") ? dp_rows_get(lock, 0, "locked") : "f", "t")
                 == 0) {
        dp_rows *unlocked;
        const char *uerr;
        /* reminders first (they may be due now), and delivery whatever became of them */
        const char *rerr = queue_reminders(m, &db);
        err = deliver_due(w, m, &db, p);
        if (err == NULL) {
            err = rerr;
        }
        if (err == NULL) {
            dp_rows *pruned;
            err = dp_bg_select(&db, DPQ_MAIL_PRUNE, &pruned, DP_NOARGS);
        }
        /* the lock is the session's: it must go before the connection returns to the pool */
        uerr = dp_bg_select(&db, DPQ_MAIL_UNLOCK, &unlocked, DP_NOARGS);
        if (err == NULL) {
            err = uerr;
        }
    }
    if (db.dbd != NULL) {
        m->dbd_close(m->s, db.dbd);
    }
    report(m, err);
}

/* A send in progress gives up when the child is going away (a graceful restart must not
 * wait for a slow mail server). */
static int stopping(void *baton)
{
    mailer *m = baton;
    return m->worker != NULL && dp_worker_stopping(m->worker);
}

void dp_mailer_child_init(apr_pool_t *pchild, server_rec *s)
{
    mailer *m = apr_pcalloc(pchild, sizeof(*m));
    apr_status_t rv;

    m->s = s;
    m->cfg = dp_config_get(s);
    m->dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    m->dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (m->dbd_open == NULL || m->dbd_close == NULL
        || (m->cfg->smtp_url == NULL && m->cfg->mail_dir == NULL)) {
        return; /* post_config refused to start in these cases */
    }
    m->smtp.url = m->cfg->smtp_url;
    m->smtp.user = m->cfg->smtp_user;
    m->smtp.password = m->cfg->smtp_password;
    m->smtp.timeout_ms = 60000;
    m->smtp.cancelled = stopping;
    m->smtp.cancel_baton = m;
    rv = dp_worker_start(pchild, m->cfg->mail_interval, MAIL_MAX_FREE, mail_run, m, &m->worker);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "DP13015: mail delivery: could not start its thread in this child "
                     "(the other children still deliver)");
        return;
    }
    this_child = m->worker;
}
