/* dp_audit: the one writer of audit events (docs/api.md, "Audit").
 * A read's event is committed in a group with other reads' events of the child before the
 * read is answered (dp_audit_read, dp_audited_read), or is its own short statement; a write's
 * event goes in the write's transaction (between dp_db_begin and dp_db_commit, or with a
 * single-statement write through dp_audited). A refusal of an
 * anonymous request that names no record is counted per client address and minute in the
 * same statement, and written only within DocPortalAnonymousAuditLimit; the audit sealer
 * writes one event for the rest of the minute (docs/security.md, "Anonymous refusals"). */
#ifndef DP_AUDIT_H
#define DP_AUDIT_H

#include "dp_request.h"

#define DP_OUTCOME_SUCCESS "success"
#define DP_OUTCOME_FAILURE "failure"
#define DP_OUTCOME_DENIED  "denied"

typedef struct dp_audit_event {
    const char *actor_id;      /* NULL: the caller, or anonymous if there is none */
    const char *actor_type;    /* NULL: from the caller */
    const char *action;        /* NULL: the route's action */
    const char *resource_type; /* NULL: the route's resource type */
    const char *resource_id;
    const char *client_id; /* the client whose data this is, when there is one */
    const char *outcome;
} dp_audit_event;

/* Write the event. Failing to write it fails the request (503/500): no unaudited access. */
dp_error *dp_audit(dp_ctx *c, const dp_audit_event *ev);

/* Statement name and its event in one round trip and one transaction (dp_db_pair): the
 * event is committed with the statement, and if either fails neither took effect and the
 * request fails. Only for events that nothing in the statement's rows changes (the outcome
 * is success whatever rows come back). rows: the statement's rows, as dp_db_select. */
dp_error *dp_audited(dp_ctx *c, const dp_audit_event *ev, const char *name, dp_rows **rows,
                     int nargs, const char **args);

/* A read's event, committed in a group with other reads' events of this child (group
 * commit: DocPortalAuditBatchMax, DocPortalAuditBatchWaitMs): it returns once the batch
 * holding the event has committed, or fails the request (a batch PostgreSQL refused: 500;
 * the connection lost or no commit within the wait: 503), so that no read is answered
 * before its event is durable. For a read whose event nothing in its rows changes, run
 * outside a transaction (inside one the event is written at once, as dp_audit). read: the
 * read's statement name, for the error log. */
dp_error *dp_audit_read(dp_ctx *c, const dp_audit_event *ev, const char *read);

/* The read (on a DP_ROUTE_FOLD_AUTH route, in one round trip with the session's check:
 * dp_session_pipeline), then its event through dp_audit_read. rows: the read's rows. */
dp_error *dp_audited_read(dp_ctx *c, const dp_audit_event *ev, const char *name, dp_rows **rows,
                          int nargs, const char **args);

/* Child start: the lock of the child's audit batch and its waiting room (dp_waiter.h). */
void dp_audit_child_init(apr_pool_t *pchild, server_rec *s);

/* The request is about to send its read (a folded read: dp_session_pipeline), whose event
 * will come to the child's batch of read events soon: the batch waits a little for it. */
void dp_audit_coming(dp_ctx *c);

/* The handler is done: a read announced by dp_audit_coming whose event did not come (a refusal,
 * an error) is no longer awaited. */
void dp_audit_settled(dp_ctx *c);

/* A refusal inside a write: roll the transaction back, record the attempt (outcome failure
 * or denied, the route's action) and answer e. */
dp_error *dp_audit_refusal(dp_ctx *c, dp_db *db, const dp_audit_event *ev, dp_error *e);

#endif
