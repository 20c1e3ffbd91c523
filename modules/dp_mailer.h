/* dp_mailer: delivers the outbox (dp_outbox). A dp_worker thread in every child wakes every
 * DocPortalMailInterval seconds, or at once when a request of its child queued a mail, and,
 * if it gets the database's advisory lock (one sender at a time across children and
 * servers), sends what is due: over SMTP (DocPortalSMTPURL) or, without one, as files in
 * DocPortalMailDir. Each mail is claimed with a lease before it is sent, so a second sender
 * never takes it while the first is at it. A failure is retried later with exponential
 * back-off; a mail is given up after DocPortalMailRetry's attempts or age, or at once when
 * the server refuses it for good, and the give-up is logged with its Message-ID. A crash
 * between the server's acceptance and the row's update is the one case that can send a
 * mail twice (after the lease); nothing can lose one. After each pass the thread prunes
 * mail sent or given up 30 days ago and mailed links a week past their expiry. */
#ifndef DP_MAILER_H
#define DP_MAILER_H

#include <httpd.h>

/* child_init hook: start this child's delivery thread. */
void dp_mailer_child_init(apr_pool_t *pchild, server_rec *s);

/* A request of this child queued mail: deliver now rather than at the next interval. */
void dp_mailer_kick(void);

#endif
