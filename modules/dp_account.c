/* /api/auth: the account's email and password. Verifying the address through a mailed link,
 * asking for another link, resetting a forgotten password through a mailed link, changing a
 * known one; and what every sign-in door shares (dp_account.h).
 *
 * A mailed token is 256 random bits in hex, single use, and stored only as its SHA-256: the
 * database alone cannot produce a working link. */
#include "dp_account.h"

#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_lockout.h"
#include "dp_outbox.h"
#include "dp_session.h"
#include "dp_sql.h"
#include "dp_user.h"

#include "core/dp_crypto.h"
#include "core/dp_json.h"
#include "core/dp_jwt.h"
#include "core/dp_password.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

#define TOKEN_HEX 64 /* the mailed tokens: 32 random bytes */
#define RESET_ANSWER                                                                               \
    "If an account exists for that address, a link to reset its password "                         \
    "has been sent."

dp_error *dp_account_session_mode(dp_ctx *c, int *cookie_only)
{
    apr_pool_t *p = c->r->pool;
    const char *mode;
    dp_error *e;

    *cookie_only = 0;
    if ((e = dp_json_string(p, c->body, "session", "session", 0, 16, &mode))) return e;
    if (mode == NULL) {
        return NULL;
    }
    if (strcmp(mode, "cookie") != 0) {
        return dp_error_field(p, "session", "session may only be \"cookie\" (or left out).");
    }
    if (!c->cfg->cookie_sessions) {
        return dp_error_field(p, "session", "This server does not hand out cookie sessions.");
    }
    *cookie_only = 1;
    return NULL;
}

dp_error *dp_account_reply_session(dp_ctx *c, int status, const dp_rows *user, int cookie_only)
{
    const char *token, *sv = dp_rows_get(user, 0, "session_version");
    dp_claims claims;
    dp_error *e;
    json_t *out;

    if (dp_jwt_issue_sv(c->r->pool, c->cfg->jwt_secret, c->cfg->jwt_secret_len,
                        dp_rows_get(user, 0, "id"), dp_rows_get(user, 0, "user_type"),
                        sv ? apr_atoi64(sv) : 0, (long long)apr_time_sec(apr_time_now()),
                        (long long)c->cfg->token_hours * 3600, &token, &claims)
        != DP_JWT_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "DP04001: could not issue a token");
        return dp_error_internal(c->r->pool);
    }
    if ((e = dp_session_cookies_set(c, token, &claims))) return e;
    out = dp_json_own(c->r->pool, json_object());
    if (!cookie_only) {
        json_object_set_new(out, "token", json_string(token));
    }
    json_object_set(out, "user", dp_user_json(c->r->pool, user, 0));
    dp_reply_json(c, status, out);
    return NULL;
}

/* One request counted under key against limit per hour; NULL within the limit, else the 429
 * (not yet audited). whose: what the count is of, for the log and the answer. */
static dp_error *rate_hit(dp_ctx *c, dp_db *db, const char *key, int limit, const char *whose)
{
    apr_pool_t *p = c->r->pool;
    const char *retry;
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_RATE_HIT, &rows, DP_ARGS(key, apr_itoa(p, limit), "3600")))) {
        return e;
    }
    retry = dp_rows_get(rows, 0, "retry_after");
    if (retry == NULL || strcmp(retry, "0") == 0) {
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                  "DP04010: %s refused: the %s hourly limit is used (retry after %s s)",
                  c->route->pattern, whose, retry);
    apr_table_setn(c->r->err_headers_out, "Retry-After", retry);
    return dp_error_make(p, 429, DP_E_RATE_LIMITED, NULL,
                         "Too many requests from your %s; try again in %s seconds.", whose, retry);
}

/* The per-address count. */
static dp_error *rate_check(dp_ctx *c, dp_db *db, const char *prefix, int limit)
{
    return rate_hit(c, db, apr_pstrcat(c->r->pool, prefix, dp_client_address(c), NULL), limit,
                    "address");
}

/* The refusal audited (denied), the 429 answered. */
static dp_error *rate_refused(dp_ctx *c, dp_error *e)
{
    dp_audit_event ev = {.outcome = DP_OUTCOME_DENIED};
    dp_error *ae;

    if (e == NULL || e->status != 429) {
        return e;
    }
    return (ae = dp_audit(c, &ev)) != NULL ? ae : e;
}

dp_error *dp_account_rate_limit(dp_ctx *c, dp_db *db, const char *prefix, int limit)
{
    return rate_refused(c, rate_check(c, db, prefix, limit));
}

dp_error *dp_account_rate_limit_user(dp_ctx *c, dp_db *db, const char *prefix, int limit)
{
    return rate_refused(
        c,
        rate_hit(c, db, apr_pstrcat(c->r->pool, prefix, c->who->user_id, NULL), limit, "account"));
}

dp_error *dp_account_rate_check(dp_ctx *c, dp_db *db, const char *prefix, int limit)
{
    return rate_check(c, db, prefix, limit);
}

/* A new token (hex) and its hash. */
static dp_error *new_token(dp_ctx *c, const char **token, const char **hash)
{
    if ((*token = dp_random_hex(c->r->pool, TOKEN_HEX / 2)) == NULL) {
        return dp_error_internal(c->r->pool);
    }
    *hash = dp_sha256_hex(c->r->pool, *token, strlen(*token));
    return NULL;
}

dp_error *dp_account_queue_verification(dp_ctx *c, dp_db *db, const char *user_id,
                                        const char *email)
{
    const char *token, *hash;
    dp_error *e;

    if ((e = new_token(c, &token, &hash))) return e;
    if ((e = dp_db_exec(db, DPQ_EMAIL_TOKEN_INSERT, NULL,
                        DP_ARGS(hash, user_id, DP_MAIL_VERIFY_EMAIL,
                                apr_itoa(c->r->pool, DP_VERIFY_LINK_S))))) {
        return e;
    }
    return dp_outbox_queue(c, db, DP_MAIL_VERIFY_EMAIL, email,
                           dp_outbox_link(c, "verify-email", token));
}

static dp_error *invalid_token(apr_pool_t *p)
{
    return dp_error_make(p, 400, DP_E_INVALID_TOKEN, "token",
                         "This link is unknown, already used or expired; ask for a new one.");
}

/* The body's token: a string; its hash when it has the shape of ours, else NULL (no such
 * token can exist, but the caller answers as for any unknown one). */
static dp_error *read_token(dp_ctx *c, const char **hash)
{
    const char *token;
    dp_error *e;

    *hash = NULL;
    if ((e = dp_json_string(c->r->pool, c->body, "token", "token", 1, 256, &token))) return e;
    if (strlen(token) == TOKEN_HEX && strspn(token, "0123456789abcdef") == TOKEN_HEX) {
        *hash = dp_sha256_hex(c->r->pool, token, TOKEN_HEX);
    }
    return NULL;
}

/* The success event of a change to the user's own account, made by its owner. */
static dp_error *audit_own(dp_ctx *c, const dp_rows *user)
{
    const char *id = dp_rows_get(user, 0, "id");
    dp_audit_event ev = {.actor_id = id,
                         .actor_type = dp_rows_get(user, 0, "user_type"),
                         .resource_id = id,
                         .client_id = dp_user_client_id(user),
                         .outcome = DP_OUTCOME_SUCCESS};
    return dp_audit(c, &ev);
}

/* POST /api/auth/verify-email {token}: public (the link may be opened anywhere). 200 {user};
 * 400 invalid_token. */
dp_error *dp_account_verify_email(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    dp_audit_event refused = {.outcome = DP_OUTCOME_FAILURE};
    const char *hash, *id;
    dp_rows *rows, *user;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = read_token(c, &hash))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if (hash == NULL) {
        return dp_audit_refusal(c, db, &refused, invalid_token(p));
    }
    if ((e = dp_db_select(db, DPQ_EMAIL_TOKEN_USE, &rows, DP_ARGS(hash, DP_MAIL_VERIFY_EMAIL)))) {
        return e;
    }
    if (rows->nrows == 0) {
        return dp_audit_refusal(c, db, &refused, invalid_token(p));
    }
    id = dp_rows_get(rows, 0, "user_id");
    if ((e = dp_db_exec(db, DPQ_USER_VERIFY_EMAIL, NULL, DP_ARGS(id)))
        || (e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(id))) || (e = audit_own(c, user))
        || (e = dp_db_commit(db))) {
        return e;
    }
    out = dp_json_own(p, json_object());
    json_object_set(out, "user", dp_user_json(p, user, 0));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* POST /api/auth/verify-email/resend: provider or client, verified or not. 202 and a new
 * link; at most one a minute (429 with Retry-After); 409 once verified. */
dp_error *dp_account_verify_resend(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *wait;
    dp_audit_event ev = {.resource_id = c->who->user_id,
                         .client_id = strcmp(c->who->role, "client") == 0 ? c->who->user_id : NULL,
                         .outcome = DP_OUTCOME_FAILURE};
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_VERIFY_RESEND_LOCK, &rows, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if (rows->nrows == 0) {
        return dp_error_make(p, 401, DP_E_UNAUTHORIZED, NULL, "The account no longer exists.");
    }
    if (strcmp(dp_rows_get(rows, 0, "email_verified"), "t") == 0) {
        return dp_audit_refusal(c, db, &ev,
                                dp_error_make(p, 409, DP_E_ALREADY_VERIFIED, NULL,
                                              "This email address is verified already."));
    }
    wait = dp_rows_get(rows, 0, "wait_s");
    if (wait != NULL && strcmp(wait, "0") != 0) {
        apr_table_setn(c->r->err_headers_out, "Retry-After", wait);
        ev.outcome = DP_OUTCOME_DENIED;
        return dp_audit_refusal(c, db, &ev,
                                dp_error_make(p, 429, DP_E_RATE_LIMITED, NULL,
                                              "A link was sent less than a minute ago; try "
                                              "again in %s seconds.",
                                              wait));
    }
    ev.outcome = DP_OUTCOME_SUCCESS;
    if ((e = dp_account_queue_verification(c, db, c->who->user_id, dp_rows_get(rows, 0, "email")))
        || (e = dp_audit(c, &ev)) || (e = dp_db_commit(db))) {
        return e;
    }
    out = dp_json_own(p, json_object());
    json_object_set_new(out, "message", json_string("A new confirmation link has been sent."));
    dp_reply_json(c, 202, out);
    return NULL;
}

/* POST /api/auth/password-reset {email}: public. Always 202 with the same answer, whether
 * or not an account has the address (no enumeration), after the same work: one statement
 * that queues the link only when there is such an account with fewer than three links in
 * the last hour. Limited per client address (429). */
dp_error *dp_account_reset_request(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    dp_audit_event ev = {.outcome = DP_OUTCOME_SUCCESS};
    const char *email, *token, *hash, *to;
    dp_outmail m;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_json_string(p, c->body, "email", "email", 1, 1024, &email))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_account_rate_limit(c, db, "p:", c->cfg->reset_limit))) return e;
    /* an address no account can have matches nothing, at the same cost */
    to = dp_valid_email(email) ? dp_email_normalize(p, email) : "";
    if ((e = new_token(c, &token, &hash))
        || (e = dp_outbox_make(c, DP_MAIL_PASSWORD_RESET, *to ? to : "nobody@invalid",
                               dp_outbox_link(c, "reset-password", token), &m))) {
        return e;
    }
    if ((e = dp_audited(
             c, &ev, DPQ_RESET_REQUEST, &rows,
             DP_ARGS(to, hash, m.id, m.subject, m.key_id, m.nonce, m.ct, m.message_id)))) {
        return e;
    }
    c->mail_queued = rows->nrows > 0;
    out = dp_json_own(p, json_object());
    json_object_set_new(out, "message", json_string(RESET_ANSWER));
    dp_reply_json(c, 202, out);
    return NULL;
}

/* A new password from the body's field, by the registration's rules, hashed. */
static dp_error *new_password(dp_ctx *c, const char *field, const char **hash)
{
    apr_pool_t *p = c->r->pool;
    const char *pw;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, field, field, 1, 1024, &pw))) return e;
    if (!dp_valid_password(pw)) {
        return dp_error_field(p, field,
                              apr_pstrcat(p, field, " must be 8 to 72 bytes long.", NULL));
    }
    if ((*hash = dp_password_hash(p, pw, c->cfg->bcrypt_cost)) == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "DP04002: password hashing failed");
        return dp_error_internal(p);
    }
    return NULL;
}

/* The password was set: every session of the user ended with the version's bump, the owner
 * is told by mail, the event is written and the new session answered. Inside the open
 * transaction, which this commits. */
static dp_error *password_set(dp_ctx *c, dp_db *db, const char *id, int cookie_only, int status)
{
    dp_rows *user;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(id)))
        || (e = dp_outbox_queue(c, db, DP_MAIL_PASSWORD_CHANGED, dp_rows_get(user, 0, "email"),
                                NULL))
        || (e = audit_own(c, user)) || (e = dp_db_commit(db))) {
        return e;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                  "DP04011: password of user %s set; its other sessions are revoked", id);
    return dp_account_reply_session(c, status, user, cookie_only);
}

/* POST /api/auth/password-reset/confirm {token, password, session?}: public. The link is
 * used up, the password set, the email counts as verified (the link proved it), every
 * session of the user ends and its other reset links die; 200 {token, user}. */
dp_error *dp_account_reset_confirm(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    dp_audit_event refused = {.outcome = DP_OUTCOME_FAILURE};
    const char *hash, *pw_hash, *id;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    int cookie_only;

    if ((e = read_token(c, &hash))) return e;
    if ((e = dp_account_session_mode(c, &cookie_only))) return e;
    {
        const char *pw;
        if ((e = dp_json_string(p, c->body, "password", "password", 1, 1024, &pw))) return e;
        if (!dp_valid_password(pw)) {
            return dp_error_field(p, "password", "password must be 8 to 72 bytes long.");
        }
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    /* the link is checked before the costly hash, so that made-up tokens cost nothing */
    if (hash != NULL
        && (e = dp_db_select(db, DPQ_EMAIL_TOKEN_VALID, &rows,
                             DP_ARGS(hash, DP_MAIL_PASSWORD_RESET)))) {
        return e;
    }
    if (hash == NULL || rows->nrows == 0) {
        return (e = dp_audit(c, &refused)) != NULL ? e : invalid_token(p);
    }
    if ((e = new_password(c, "password", &pw_hash))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_EMAIL_TOKEN_USE, &rows, DP_ARGS(hash, DP_MAIL_PASSWORD_RESET)))) {
        return e;
    }
    if (rows->nrows == 0) { /* used by a concurrent request a moment ago */
        return dp_audit_refusal(c, db, &refused, invalid_token(p));
    }
    id = dp_rows_get(rows, 0, "user_id");
    if ((e = dp_db_exec(db, DPQ_USER_PASSWORD_SET, NULL, DP_ARGS(pw_hash, "true", id)))
        || (e = dp_db_exec(db, DPQ_EMAIL_TOKENS_RETIRE, NULL,
                           DP_ARGS(id, DP_MAIL_PASSWORD_RESET, DP_MAIL_PASSWORD_RESET)))) {
        return e;
    }
    return password_set(c, db, id, cookie_only, 200);
}

/* POST /api/auth/change-password {currentPassword, newPassword, session?}: provider or
 * client. A wrong current password is 400 invalid_credentials and counts toward the sign-in
 * lockout; an account without a password (Google only) sets one through the reset link
 * (409 no_password). On success every session of the user ends, the calling one too, and
 * the answer is a new one. */
dp_error *dp_account_change_password(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *id = c->who->user_id;
    dp_audit_event ev = {.resource_id = id,
                         .client_id = strcmp(c->who->role, "client") == 0 ? id : NULL,
                         .outcome = DP_OUTCOME_FAILURE};
    const char *current, *email, *old_hash, *pw_hash;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    int cookie_only;

    if ((e = dp_json_string(p, c->body, "currentPassword", "currentPassword", 1, 1024, &current))) {
        return e;
    }
    {
        const char *pw;
        if ((e = dp_json_string(p, c->body, "newPassword", "newPassword", 1, 1024, &pw))) {
            return e;
        }
        if (!dp_valid_password(pw)) {
            return dp_error_field(p, "newPassword", "newPassword must be 8 to 72 bytes long.");
        }
    }
    if ((e = dp_account_session_mode(c, &cookie_only))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_USER_PASSWORD_HASH, &rows, DP_ARGS(id)))) return e;
    if (rows->nrows == 0) {
        return dp_error_make(p, 401, DP_E_UNAUTHORIZED, NULL, "The account no longer exists.");
    }
    email = dp_rows_get(rows, 0, "email");
    old_hash = dp_rows_get(rows, 0, "password_hash");
    if (old_hash == NULL) {
        return (e = dp_audit(c, &ev)) != NULL
            ? e
            : dp_error_make(p, 409, DP_E_NO_PASSWORD, "currentPassword",
                            "This account signs in with Google and has no password; "
                            "set one through a password reset link.");
    }
    if ((e = dp_lockout_attempt(c, db, email))) return e;
    if (!dp_password_verify(current, old_hash, c->cfg->dummy_hash)) {
        return (e = dp_audit(c, &ev)) != NULL
            ? e
            : dp_error_make(p, 400, DP_E_INVALID_CREDENTIALS, "currentPassword",
                            "The current password is incorrect.");
    }
    if ((e = new_password(c, "newPassword", &pw_hash))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_exec(db, DPQ_USER_PASSWORD_SET, NULL, DP_ARGS(pw_hash, "false", id)))
        || (e = dp_db_exec(
                db, DPQ_LOGIN_THROTTLE_SUCCESS, NULL,
                DP_ARGS(email, dp_client_address(c), apr_itoa(p, c->cfg->lockout_ip.failures))))) {
        return e;
    }
    return password_set(c, db, id, cookie_only, 200);
}
