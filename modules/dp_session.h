/* dp_session: sessions beyond the Bearer header. With DocPortalCookieSessions the token also
 * travels as an HttpOnly cookie, and a cookie-borne request that changes something must
 * prove it comes from the front end: the CSRF token (bound to the session) in a readable
 * cookie and again in a header, which another site can neither read nor forge. */
#ifndef DP_SESSION_H
#define DP_SESSION_H

#include "dp_request.h"
#include "core/dp_jwt.h"

#define DP_COOKIE_SESSION "dp_session"
#define DP_COOKIE_CSRF    "dp_csrf"
#define DP_CSRF_HEADER    "X-CSRF-Token"

/* The last use of a session is recorded when the record is this old (seconds), so at most
 * once a minute per session; the idle timeout allows for it. */
#define DP_SESSION_TOUCH_S 60

/* With cookie sessions on: add the dp_session and dp_csrf cookies of a just-issued token to
 * the answer. NULL, or 500 when the CSRF token cannot be made. */
dp_error *dp_session_cookies_set(dp_ctx *c, const char *token, const dp_claims *claims);

/* With cookie sessions on: expire both cookies (logout). */
void dp_session_cookies_clear(dp_ctx *c);

/* The token in the dp_session cookie; NULL when there is none or cookie sessions are off. */
const char *dp_session_cookie_token(dp_ctx *c);

/* 1 when X-CSRF-Token equals the dp_csrf cookie and the CSRF token of session jti. */
int dp_session_csrf_ok(dp_ctx *c, const char *jti);

/* The dispatcher's authentication: the Bearer token (else, with cookie sessions, the
 * dp_session cookie), verified; the user as the database knows it now (not revoked, same
 * session version); the idle timeout and, for a cookie session changing something, the CSRF
 * token. Fills c->who, or answers 401/403 (audited). */
dp_error *dp_session_authenticate(dp_ctx *c);

/* On a DP_ROUTE_FOLD_AUTH route (a GET), dp_session_authenticate verifies the token's
 * signature and leaves c->who->pending: the database's check of the session (account,
 * revocation, session version, idle timeout, the last use recorded) comes with the
 * handler's read. */

/* The check on its own: fills c->who, or answers 401 as dp_session_authenticate would have. */
dp_error *dp_session_check(dp_ctx *c);

/* The check, then DocPortalRequireVerifiedEmail (dp_ctx_db calls it on the first use of the
 * database). */
dp_error *dp_session_confirm(dp_ctx *c);

/* DocPortalRequireVerifiedEmail: until its owner proved the address, an account reaches only
 * its own profile, logout, its password and the verification endpoints (DP_ROUTE_UNVERIFIED).
 * NULL, or 403 email_unverified (audited). */
dp_error *dp_session_unverified(dp_ctx *c);

/* The calls in one round trip (dp_db_pipeline) on the request's connection; with the session
 * still pending, after its check in the same round trip: when the check fails, the calls'
 * rows are dropped (left NULL) and the answer is 401 (or 403 email_unverified). */
dp_error *dp_session_pipeline(dp_ctx *c, dp_db_call *calls, int n);

#endif
