/* dp_account: what the sign-in doors share: how a session is handed out ({token, user}, or
 * with "session": "cookie" only the cookies and {user}), the per-address limits on the public
 * doors, and the verification link every new account is mailed. */
#ifndef DP_ACCOUNT_H
#define DP_ACCOUNT_H

#include "dp_request.h"

/* The body's optional "session": absent (NULL, *cookie_only 0) or "cookie" (*cookie_only 1,
 * which needs DocPortalCookieSessions On); anything else is a 422 on field session. */
dp_error *dp_account_session_mode(dp_ctx *c, int *cookie_only);

/* Answer status with a new session for the user row (which has id, user_type and
 * session_version): {token, user}, or {user} alone when cookie_only. */
dp_error *dp_account_reply_session(dp_ctx *c, int status, const dp_rows *user, int cookie_only);

/* Count one request of the caller's address under prefix ("r:" accounts created, "p:"
 * password resets) against limit per hour. Over it: the refusal is audited (denied) and the
 * answer is 429 rate_limited with Retry-After. */
dp_error *dp_account_rate_limit(dp_ctx *c, dp_db *db, const char *prefix, int limit);

/* The same per signed-in user (the caller's account) under prefix ("i:" payment intents). */
dp_error *dp_account_rate_limit_user(dp_ctx *c, dp_db *db, const char *prefix, int limit);

/* The per-address count without the audit event, for a refusal inside a transaction (the caller
 * records it with dp_audit_refusal). */
dp_error *dp_account_rate_check(dp_ctx *c, dp_db *db, const char *prefix, int limit);

/* A fresh verification link for the user, and its mail (in the open transaction). */
dp_error *dp_account_queue_verification(dp_ctx *c, dp_db *db, const char *user_id,
                                        const char *email);

#endif
