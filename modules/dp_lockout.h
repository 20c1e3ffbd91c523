/* dp_lockout: failed sign-ins counted in PostgreSQL (so the count holds across servers) per
 * account (the lower-cased email, whether or not an account has it) and per client address
 * (DocPortalLockout, DocPortalLockoutIP). */
#ifndef DP_LOCKOUT_H
#define DP_LOCKOUT_H

#include "dp_audit.h"
#include "dp_request.h"

/* Count this sign-in attempt for email and the caller's address before the password is
 * checked. NULL: go on (a failure stays counted). Locked: the refusal is audited (denied)
 * and the answer is 429 rate_limited with Retry-After. */
dp_error *dp_lockout_attempt(dp_ctx *c, dp_db *db, const char *email);

/* The attempt succeeded: the account's count starts over, the address's attempt is undone,
 * and the sign-in's audit event ev is written: one round trip, one transaction. */
dp_error *dp_lockout_success(dp_ctx *c, const char *email, const dp_audit_event *ev);

#endif
