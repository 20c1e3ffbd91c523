/* dp_outbox: mail, queued in PostgreSQL in the transaction of the change that causes it and
 * delivered by a thread of each child (dp_mailer). A request never waits for SMTP.
 *
 * What a mail may say: a link to the portal and the least a person needs to act on it. No
 * names, no message text, no note, no diagnosis, no appointment detail: mail leaves the
 * practice's control. The texts live here, one per kind. The body, which holds a single-use
 * link, is sealed under the main server's message key before it reaches SQL, and erased
 * once the mail is sent or given up. */
#ifndef DP_OUTBOX_H
#define DP_OUTBOX_H

#include "dp_request.h"

#define DP_MAIL_VERIFY_EMAIL     "verify-email"
#define DP_MAIL_PASSWORD_RESET   "password-reset"
#define DP_MAIL_PASSWORD_CHANGED "password-changed"
#define DP_MAIL_INVITE           "invite"
/* optional kinds (a user may turn them off: notificationPrefs) */
#define DP_MAIL_APPT_BOOKED      "appointment-booked"
#define DP_MAIL_APPT_CONFIRMED   "appointment-confirmed"
#define DP_MAIL_APPT_CANCELLED   "appointment-cancelled"
#define DP_MAIL_APPT_RESCHEDULED "appointment-rescheduled"
#define DP_MAIL_REMINDER         "reminder"
#define DP_MAIL_NEW_MESSAGE      "new-message"

/* What a mail's text is filled with: its link, and for appointments when (in words, local)
 * and the zone that is in. NULL: not used by the kind. */
typedef struct dp_mail_vars {
    const char *link, *when, *zone;
} dp_mail_vars;

/* Lifetimes of the mailed links, in seconds. */
#define DP_VERIFY_LINK_S (48 * 3600)
#define DP_RESET_LINK_S  3600

/* A mail ready for its INSERT: what outbox_insert (and reset_request) bind. */
typedef struct dp_outmail {
    const char *id, *kind, *to, *subject, *key_id, *nonce, *ct, *message_id;
} dp_outmail;

/* The portal's base URL: DocPortalPublicURL, else http://ServerName (no trailing slash);
 * never taken from a request, whose Host header the sender chooses. */
const char *dp_outbox_public_base(dp_ctx *c);

/* The link of a mailed token: the public base + "/" + page + "?token=" + token. */
const char *dp_outbox_link(dp_ctx *c, const char *page, const char *token);

/* The mail of a kind to address to: its text (link: the page's link, or NULL for kinds
 * without one), sealed. */
dp_error *dp_outbox_make(dp_ctx *c, const char *kind, const char *to, const char *link,
                         dp_outmail *m);

/* The same outside a request (the delivery thread): base is the portal's base URL, the
 * texts filled from v. */
dp_error *dp_outbox_compose(apr_pool_t *p, const char *base, const char *kind, const char *to,
                            const dp_mail_vars *v, dp_outmail *m);

/* Insert a made mail in the open transaction; the delivery thread is woken once the request
 * has answered. */
dp_error *dp_outbox_insert(dp_ctx *c, dp_db *db, const dp_outmail *m);

/* dp_outbox_make + dp_outbox_insert. */
dp_error *dp_outbox_queue(dp_ctx *c, dp_db *db, const char *kind, const char *to, const char *link);

/* dp_outbox_compose + dp_outbox_insert, for a request. */
dp_error *dp_outbox_queue_v(dp_ctx *c, dp_db *db, const char *kind, const char *to,
                            const dp_mail_vars *v);

/* The AAD that binds a sealed body to its outbox row. */
const char *dp_outbox_aad(apr_pool_t *p, const char *id, apr_size_t *len);

/* The text of a mail kind (NULL: unknown kind). The mailer uses the subject too. */
const char *dp_outbox_subject(const char *kind);

#endif
