/* Queued mail: texts, links, sealing (see dp_outbox.h). */
#include "dp_outbox.h"

#include "dp_sql.h"
#include "core/dp_aead.h"
#include "core/dp_mail.h"
#include "core/dp_uuid.h"

#include <apr_strings.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>

APLOG_USE_MODULE(docportal);

/* One text per kind. {link}: the link (or the portal's address), {time}: when it happened
 * (UTC), {when}: an appointment's start in words, {zone}: the zone {when} is in. */
typedef struct mail_text {
    const char *kind, *subject, *body;
} mail_text;

static const mail_text texts[] = {
    {DP_MAIL_VERIFY_EMAIL,     "Confirm your email address",
     "Hello,\n\n"
     "Please confirm the email address of your DocPortal account by opening this link:\n\n"
     "{link}\n\n"
     "The link works once and expires in 48 hours. If you did not create an account, you\n"
     "can ignore this mail.\n"                   },
    {DP_MAIL_PASSWORD_RESET,   "Reset your password",
     "Hello,\n\n"
     "Someone asked to reset the password of the DocPortal account for this address. To\n"
     "choose a new password, open this link:\n\n"
     "{link}\n\n"
     "The link works once and expires in 1 hour. If you did not ask for it, you can ignore\n"
     "this mail: your password stays as it is.\n"},
    {DP_MAIL_PASSWORD_CHANGED, "Your password was changed",
     "Hello,\n\n"
     "The password of your DocPortal account was changed on {time} (UTC), and every device\n"
     "signed in before was signed out.\n\n"
     "If you did not change it, reset your password at once from the sign-in page at\n"
     "{link} and tell your practice.\n"          },
    {DP_MAIL_INVITE,           "You are invited to your client portal",
     "Hello,\n\n"
     "You have been invited to set up your account on a secure client portal (DocPortal).\n"
     "To do so, open this link:\n\n"
     "{link}\n\n"
     "The link works once and expires in 7 days. If you were not expecting this, you can\n"
     "ignore this mail.\n"                       },
    {DP_MAIL_APPT_BOOKED,      "New session request",
     "Hello,\n\n"
     "A client asked for a session on {when} ({zone}).\n\n"
     "To confirm or decline it, open it in your portal:\n\n"
     "{link}\n"                                  },
    {DP_MAIL_APPT_CONFIRMED,   "Your session is confirmed",
     "Hello,\n\n"
     "Your session on {when} ({zone}) is confirmed. The details and the video link are in\n"
     "your portal:\n\n"
     "{link}\n"                                  },
    {DP_MAIL_APPT_CANCELLED,   "A session was cancelled",
     "Hello,\n\n"
     "The session on {when} ({zone}) was cancelled. Your portal has the details:\n\n"
     "{link}\n"                                  },
    {DP_MAIL_APPT_RESCHEDULED, "A session was moved",
     "Hello,\n\n"
     "A session was moved to {when} ({zone}). Your portal has the details:\n\n"
     "{link}\n"                                  },
    {DP_MAIL_REMINDER,         "Reminder of your session",
     "Hello,\n\n"
     "This is a reminder of your session on {when} ({zone}). You can join it from your\n"
     "portal:\n\n"
     "{link}\n"                                  },
    {DP_MAIL_NEW_MESSAGE,      "A new secure message is waiting",
     "Hello,\n\n"
     "A new secure message is waiting for you in your portal. For your privacy, messages are\n"
     "never sent by mail; read it here:\n\n"
     "{link}\n"                                  },
};

/* The template with its {name} fields filled in; an unknown or missing one stays as it is. */
static const char *fill(apr_pool_t *p, const char *tmpl, const char *const names[],
                        const char *const values[], int n)
{
    const char *out = "", *at = tmpl, *brace;

    while ((brace = strchr(at, '{')) != NULL) {
        const char *value = NULL;
        apr_size_t len = 1;
        for (int i = 0; i < n && value == NULL; i++) {
            apr_size_t k = strlen(names[i]);
            if (values[i] != NULL && strncmp(brace, names[i], k) == 0) {
                value = values[i];
                len = k;
            }
        }
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, at, (apr_size_t)(brace - at)),
                          value ? value : "{", NULL);
        at = brace + len;
    }
    return apr_pstrcat(p, out, at, NULL);
}

static const mail_text *text_of(const char *kind)
{
    for (apr_size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (strcmp(texts[i].kind, kind) == 0) {
            return &texts[i];
        }
    }
    return NULL;
}

const char *dp_outbox_subject(const char *kind)
{
    const mail_text *t = text_of(kind);
    return t ? t->subject : NULL;
}

const char *dp_outbox_public_base(dp_ctx *c)
{
    const char *base = c->cfg->public_url; /* always set (dp_config_finish), never the Host */
    apr_size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    return apr_pstrmemdup(c->r->pool, base, n);
}

const char *dp_outbox_link(dp_ctx *c, const char *page, const char *token)
{
    return apr_pstrcat(c->r->pool, dp_outbox_public_base(c), "/", page, "?token=", token, NULL);
}

const char *dp_outbox_aad(apr_pool_t *p, const char *id, apr_size_t *len)
{
    const char *aad = apr_pstrcat(p, "docportal-outbox:", id, NULL);
    *len = strlen(aad);
    return aad;
}

static const char *utc_minute(apr_pool_t *p)
{
    apr_time_exp_t t;
    apr_time_exp_gmt(&t, apr_time_now());
    return apr_psprintf(p, "%04d-%02d-%02d %02d:%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                        t.tm_hour, t.tm_min);
}

dp_error *dp_outbox_compose(apr_pool_t *p, const char *base, const char *kind, const char *to,
                            const dp_mail_vars *v, dp_outmail *m)
{
    static const char *const names[] = {"{link}", "{time}", "{when}", "{zone}"};
    const dp_config *main_cfg = dp_config_get(ap_server_conf);
    const mail_text *t = text_of(kind);
    const char *from_addr, *body, *aad, *values[4];
    apr_size_t aad_len;
    dp_sealed sealed;
    dp_error *e;

    /* addresses were validated where they came in; this is the last wall before a header */
    if (t == NULL || !dp_mail_header_safe(to) || strchr(to, '@') == NULL) {
        ap_log_perror(APLOG_MARK, APLOG_ERR, 0, p,
                      "DP13001: refused to queue a %s mail: unknown kind or unsafe address", kind);
        return dp_error_internal(p);
    }
    from_addr = dp_mail_from_address(p, main_cfg->mail_from);
    m->id = dp_uuid_new(p);
    if (m->id == NULL || from_addr == NULL) {
        return dp_error_internal(p);
    }
    m->kind = kind;
    m->to = to;
    m->subject = t->subject;
    m->message_id = apr_pstrcat(p, "<", m->id, "@", dp_mail_domain(from_addr), ">", NULL);
    values[0] = v->link ? v->link : base;
    values[1] = utc_minute(p);
    values[2] = v->when;
    values[3] = v->zone;
    body = fill(p, t->body, names, values, 4);
    aad = dp_outbox_aad(p, m->id, &aad_len);
    if ((e = dp_aead_seal(p, main_cfg->message_keys, aad, aad_len, body, strlen(body), &sealed))) {
        return e;
    }
    m->key_id = sealed.key_id;
    m->nonce = sealed.nonce_b64;
    m->ct = sealed.ct_b64;
    return NULL;
}

dp_error *dp_outbox_make(dp_ctx *c, const char *kind, const char *to, const char *link,
                         dp_outmail *m)
{
    dp_mail_vars v = {link, NULL, NULL};
    return dp_outbox_compose(c->r->pool, dp_outbox_public_base(c), kind, to, &v, m);
}

dp_error *dp_outbox_insert(dp_ctx *c, dp_db *db, const dp_outmail *m)
{
    dp_error *e = dp_db_exec(
        db, DPQ_OUTBOX_INSERT, NULL,
        DP_ARGS(m->id, m->kind, m->to, m->subject, m->key_id, m->nonce, m->ct, m->message_id));
    if (e == NULL) {
        c->mail_queued = 1;
    }
    return e;
}

dp_error *dp_outbox_queue(dp_ctx *c, dp_db *db, const char *kind, const char *to, const char *link)
{
    dp_outmail m;
    dp_error *e = dp_outbox_make(c, kind, to, link, &m);
    return e ? e : dp_outbox_insert(c, db, &m);
}

dp_error *dp_outbox_queue_v(dp_ctx *c, dp_db *db, const char *kind, const char *to,
                            const dp_mail_vars *v)
{
    dp_outmail m;
    dp_error *e = dp_outbox_compose(c->r->pool, dp_outbox_public_base(c), kind, to, v, &m);
    return e ? e : dp_outbox_insert(c, db, &m);
}
