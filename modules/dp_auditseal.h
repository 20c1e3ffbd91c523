/* dp_auditseal: the audit sealer (docs/security.md, "Tamper-evident audit trail"). One thread per child, started
 * by child_init and stopped (and joined) when the child's pool goes, wakes every
 * DocPortalAuditSealInterval seconds and, if it wins the database's advisory lock (one sealer
 * works at a time across all children and servers), chains the audit rows committed since
 * its last run (dp_auditchain), stores their seals and a signed checkpoint, and writes the
 * checkpoint to the error log as well. Requests never wait for it: they only INSERT audit
 * rows, which the sealer reads and never locks. Each wake first turns the ended minutes'
 * counts of anonymous refusals past DocPortalAnonymousAuditLimit into audit events. */
#ifndef DP_AUDITSEAL_H
#define DP_AUDITSEAL_H

#include <httpd.h>

/* child_init hook: start the sealer thread of this child. */
void dp_auditseal_child_init(apr_pool_t *pchild, server_rec *s);

#endif
