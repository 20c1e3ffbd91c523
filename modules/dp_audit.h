/* dp_audit: the one writer of audit events (docs/api.md, "Audit").
 * A read's event is its own short statement, or goes with the read in one round trip
 * (dp_audited); a write's event goes in the write's transaction (between dp_db_begin and
 * dp_db_commit, or with a single-statement write through dp_audited). A refusal of an
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

/* A refusal inside a write: roll the transaction back, record the attempt (outcome failure
 * or denied, the route's action) and answer e. */
dp_error *dp_audit_refusal(dp_ctx *c, dp_db *db, const dp_audit_event *ev, dp_error *e);

#endif
