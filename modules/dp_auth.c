/* /api/auth: register, login, me, logout. Passwords are bcrypt (APR-util); sessions are
 * HS256 tokens whose revocation lives in PostgreSQL, so a logout holds on every server. */
#include "dp_account.h"
#include "dp_audit.h"
#include "dp_lockout.h"
#include "dp_profile.h"
#include "dp_session.h"
#include "dp_handlers.h"
#include "dp_sql.h"
#include "dp_user.h"

#include "core/dp_json.h"
#include "core/dp_crypto.h"
#include "core/dp_google_id.h"
#include "core/dp_jwt.h"
#include "core/dp_password.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

/* The account fields of a registration; the profile fields come from dp_profile. */
typedef struct reg_fields {
    const char *email, *password, *user_type, *provider_id, *invite_token;
    dp_profile profile;
} reg_fields;

static dp_error *read_registration(apr_pool_t *p, json_t *b, reg_fields *f)
{
    dp_error *e;
    const char *email;

    if ((e = dp_json_string(p, b, "email", "email", 1, 254, &email)) != NULL) return e;
    if (!dp_valid_email(email)) {
        return dp_error_field(p, "email", "email is not a valid address.");
    }
    f->email = dp_email_normalize(p, email);
    if ((e = dp_json_string(p, b, "password", "password", 1, 1024, &f->password)) != NULL) {
        return e;
    }
    if (!dp_valid_password(f->password)) {
        return dp_error_field(p, "password", "password must be 8 to 72 bytes long.");
    }
    if ((e = dp_json_string(p, b, "inviteToken", "inviteToken", 0, 256, &f->invite_token))) {
        return e;
    }
    /* an invitation is always for a client; otherwise the type must be said */
    if ((e = dp_json_string(p, b, "userType", "userType", f->invite_token == NULL, 16,
                            &f->user_type))
        != NULL) {
        return e;
    }
    if (f->user_type == NULL) {
        f->user_type = "client";
    }
    if (!dp_valid_user_type(f->user_type)
        || (f->invite_token != NULL && strcmp(f->user_type, "client") != 0)) {
        return dp_error_field(p, "userType", "userType must be provider or client.");
    }
    if ((e = dp_profile_read(p, b, f->user_type, &f->profile))) return e;
    if (f->invite_token == NULL && !f->profile.given[DP_PF_NAME]) {
        return dp_error_field(p, "name", "name is required.");
    }
    if (strcmp(f->user_type, "client") == 0 && f->invite_token == NULL) {
        if ((e = dp_json_string(p, b, "providerId", "providerId", 0, 64, &f->provider_id))) {
            return e;
        }
        if (f->provider_id != NULL && !dp_uuid_valid(f->provider_id)) {
            return dp_error_field(p, "providerId", "providerId does not name a provider.");
        }
    }
    return NULL;
}

/* Checks that need the database: the provider a client names, the zone a provider names. */
static dp_error *check_references(dp_db *db, apr_pool_t *p, const reg_fields *f)
{
    dp_rows *rows;
    dp_error *e;

    if (f->provider_id != NULL) {
        if ((e = dp_db_select(db, DPQ_PROVIDER_EXISTS, &rows, DP_ARGS(f->provider_id)))) {
            return e;
        }
        if (rows->nrows == 0) {
            return dp_error_field(p, "providerId", "providerId does not name a provider.");
        }
    }
    return dp_profile_check(db, p, &f->profile);
}

/* The invited client sets a password: the invitation is used once, its email must match,
 * and profile fields given now are applied. Returns the user's id or an error. */
static dp_error *claim_invite(dp_ctx *c, dp_db *db, const reg_fields *f, const char *hash,
                              const char **id)
{
    apr_pool_t *p = c->r->pool;
    dp_rows *rows;
    dp_error *e;
    const char **args;
    int nargs;

    if ((e = dp_db_select(db, DPQ_INVITE_CLAIM, &rows,
                          DP_ARGS(dp_sha256_hex(p, f->invite_token, strlen(f->invite_token)))))) {
        return e;
    }
    if (rows->nrows == 0) {
        return dp_error_field(p, "inviteToken", "The invitation is unknown, used or expired.");
    }
    if ((e = dp_db_select(db, DPQ_INVITED_CLIENT_ACTIVATE, &rows,
                          DP_ARGS(hash, f->profile.value[DP_PF_NAME],
                                  dp_rows_get(rows, 0, "client_id"), f->email)))) {
        return e;
    }
    if (rows->nrows == 0) {
        return dp_error_field(p, "email", "email does not match the invitation.");
    }
    *id = dp_rows_get(rows, 0, "id");
    args = dp_profile_update_args(p, &f->profile, *id, &nargs);
    return dp_db_exec(db, DPQ_USER_UPDATE, NULL, nargs, args);
}

/* POST /api/auth/register: public. 201 {token, user}; 409 email_taken; 422 by field; 429
 * past the address's hourly limit. The new account's email is unverified and a link to
 * verify it is mailed. With inviteToken, completes the client record a provider created (the
 * invitation came by mail, so that address is verified). */
dp_error *dp_auth_register(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const dp_profile *pr;
    reg_fields f;
    dp_rows *rows, *user;
    dp_db *db;
    dp_error *e;
    const char *hash, *id = NULL;

    int cookie_only;

    memset(&f, 0, sizeof(f));
    if ((e = read_registration(p, c->body, &f))) return e;
    if ((e = dp_account_session_mode(c, &cookie_only))) return e;
    pr = &f.profile;
    if ((e = dp_ctx_db(c, &db))) return e;
    /* counted before the costly hash: a flood of sign-ups costs one statement each */
    if ((e = dp_account_rate_limit(c, db, "r:", c->cfg->register_limit))) return e;
    if ((e = check_references(db, p, &f))) return e;

    hash = dp_password_hash(p, f.password, c->cfg->bcrypt_cost);
    if (hash == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "DP04002: password hashing failed");
        return dp_error_internal(p);
    }

    if ((e = dp_db_begin(db))) return e;
    if (f.invite_token != NULL) {
        if ((e = claim_invite(c, db, &f, hash, &id))) {
            dp_audit_event ev = {.outcome = DP_OUTCOME_FAILURE};
            return e->status < 500 ? dp_audit_refusal(c, db, &ev, e) : e;
        }
    }
    else {
        e = dp_db_select(
            db, DPQ_USER_INSERT, &rows,
            DP_ARGS(f.email, hash, pr->value[DP_PF_NAME], f.user_type, pr->value[DP_PF_PHONE],
                    pr->value[DP_PF_AVATAR], pr->value[DP_PF_SPECIALTY], pr->value[DP_PF_LICENSE],
                    pr->value[DP_PF_BIO], pr->value[DP_PF_HOURLY_RATE], pr->value[DP_PF_TIME_ZONE],
                    pr->value[DP_PF_DATE_OF_BIRTH], pr->value[DP_PF_ADDRESS],
                    pr->value[DP_PF_INSURANCE], f.provider_id, pr->value[DP_PF_EMERGENCY]));
        if (e != NULL) return e;
        if (rows->nrows == 0) {
            dp_audit_event ev = {.outcome = DP_OUTCOME_FAILURE};
            return dp_audit_refusal(c, db, &ev, dp_error_email_taken(p));
        }
        id = dp_rows_get(rows, 0, "id");
        /* nothing proves the address yet: the link mailed to it will */
        if ((e = dp_account_queue_verification(c, db, id, f.email))) return e;
    }
    if ((e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(id)))) return e;
    {
        dp_audit_event ev = {.actor_id = id,
                             .actor_type = f.user_type,
                             .resource_id = id,
                             .client_id = dp_user_client_id(user),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    if ((e = dp_db_commit(db))) return e;
    return dp_account_reply_session(c, 201, user, cookie_only);
}

/* POST /api/auth/login: public. The same 401 for an unknown email and a wrong password, and
 * the same bcrypt work on both paths. The attempt is counted first: a locked email or
 * address is 429 at once (dp_lockout). */
dp_error *dp_auth_login(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *email, *password, *hash;
    dp_rows *user;
    dp_db *db;
    dp_error *e;
    int cookie_only;

    if ((e = dp_json_string(p, c->body, "email", "email", 1, 254, &email))) return e;
    if ((e = dp_json_string(p, c->body, "password", "password", 1, 1024, &password))) return e;
    if ((e = dp_account_session_mode(c, &cookie_only))) return e;
    email = dp_email_normalize(p, email);
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_lockout_attempt(c, db, email))) return e;
    if ((e = dp_db_select(db, DPQ_USER_LOGIN, &user, DP_ARGS(email)))) return e;
    hash = dp_rows_get(user, 0, "password_hash");
    if (!dp_password_verify(password, hash, c->cfg->dummy_hash)) {
        dp_audit_event ev = {.resource_id = dp_rows_get(user, 0, "id"),
                             .client_id = dp_user_client_id(user),
                             .outcome = DP_OUTCOME_FAILURE};
        if ((e = dp_audit(c, &ev))) return e;
        return dp_error_make(p, 401, DP_E_INVALID_CREDENTIALS, NULL,
                             "The email or password is incorrect.");
    }
    {
        const char *id = dp_rows_get(user, 0, "id");
        dp_audit_event ev = {.actor_id = id,
                             .actor_type = dp_rows_get(user, 0, "user_type"),
                             .resource_id = id,
                             .client_id = dp_user_client_id(user),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_lockout_success(c, email, &ev))) return e;
    }
    return dp_account_reply_session(c, 200, user, cookie_only);
}

/* GET /api/auth/me: provider or client; its own profile. */
dp_error *dp_auth_me(dp_ctx *c)
{
    dp_rows *user;
    dp_error *e;
    json_t *out;

    /* the read in one round trip with the session's check, its event in the child's audit
     * batch; the caller's role says whose data it is */
    dp_audit_event ev = {.resource_id = c->who->user_id,
                         .client_id = strcmp(c->who->role, "client") == 0 ? c->who->user_id : NULL,
                         .outcome = DP_OUTCOME_SUCCESS};

    if ((e = dp_audited_read(c, &ev, DPQ_USER_BY_ID, &user, DP_ARGS(c->who->user_id)))) return e;
    if (user->nrows == 0) {
        /* deleted since the token check a moment ago */
        return dp_error_make(c->r->pool, 401, DP_E_UNAUTHORIZED, NULL,
                             "The account no longer exists.");
    }
    out = dp_json_own(c->r->pool, json_object());
    json_object_set(out, "user", dp_user_json(c->r->pool, user, 0));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* notificationPrefs: an object of the optional mail kinds to turn on or off ({reminders,
 * messages, appointments}: booleans; keys left out stay as they are). *json: the keys given,
 * as a JSON object text, or NULL when the body has none. */
static dp_error *read_prefs(apr_pool_t *p, json_t *body, const char **out)
{
    static const char *const keys[] = {"reminders", "messages", "appointments"};
    json_t *np = json_object_get(body, "notificationPrefs"), *given, *v;
    const char *key;
    char *text;

    *out = NULL;
    if (np == NULL) {
        return NULL;
    }
    if (!json_is_object(np)) {
        return dp_error_field(p, "notificationPrefs",
                              "notificationPrefs must be an object "
                              "{reminders, messages, appointments}.");
    }
    given = dp_json_own(p, json_object());
    json_object_foreach(np, key, v)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            known |= strcmp(key, keys[i]) == 0;
        }
        if (!known || !json_is_boolean(v)) {
            const char *field = apr_pstrcat(p, "notificationPrefs.", key, NULL);
            return dp_error_field(p, field,
                                  known ? apr_pstrcat(p, field,
                                                      " must be true or "
                                                      "false.",
                                                      NULL)
                                        : "Only reminders, messages and appointments "
                                          "can be turned off.");
        }
        json_object_set(given, key, v);
    }
    if ((text = json_dumps(given, JSON_COMPACT)) == NULL) {
        return dp_error_internal(p);
    }
    *out = apr_pstrdup(p, text);
    free(text);
    return NULL;
}

/* PATCH /api/auth/me: provider or client; its own profile fields (by its role) and which
 * optional mail it wants. */
dp_error *dp_auth_me_update(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    dp_profile pr;
    dp_rows *user;
    dp_db *db;
    dp_error *e;
    const char **args, *prefs;
    int nargs;
    json_t *out;
    dp_audit_event ev = {.resource_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};

    if ((e = dp_profile_read(p, c->body, c->who->role, &pr))) return e;
    if ((e = read_prefs(p, c->body, &prefs))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_profile_check(db, p, &pr))) return e;
    args = dp_profile_update_args(p, &pr, c->who->user_id, &nargs);
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_exec(db, DPQ_USER_UPDATE, NULL, nargs, args))) return e;
    if (prefs != NULL
        && (e = dp_db_exec(db, DPQ_USER_PREFS_UPDATE, NULL, DP_ARGS(prefs, c->who->user_id)))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(c->who->user_id)))) return e;
    ev.client_id = dp_user_client_id(user);
    if ((e = dp_audit(c, &ev))) return e;
    if ((e = dp_db_commit(db))) return e;
    out = dp_json_own(p, json_object());
    json_object_set(out, "user", dp_user_json(p, user, 0));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* Google's name as a profile name: control characters become spaces, at most 200
 * characters (never half of one); the email's local part when nothing is left. */
static const char *google_name(apr_pool_t *p, const char *name, const char *email)
{
    char *out = apr_pstrdup(p, name ? name : "");
    apr_size_t chars = 0, i;

    for (i = 0; out[i] != '\0'; i++) {
        unsigned char u = (unsigned char)out[i];
        if (u < 0x20 || u == 0x7f) {
            out[i] = ' ';
        }
        if ((u & 0xc0) != 0x80 && ++chars > 200) {
            break;
        }
    }
    out[i] = '\0';
    while (i > 0 && out[i - 1] == ' ') {
        out[--i] = '\0';
    }
    while (*out == ' ') {
        out++;
    }
    return *out ? out : apr_pstrndup(p, email, strcspn(email, "@"));
}

/* Known by email, not by this Google account: link it when the account's holder proved the
 * address through a link only its owner receives; otherwise (unverified, or claimed through
 * an invitation whose link the provider saw too) Google's verified owner takes the account
 * over from whoever holds it (password gone, every token revoked, open mailed links dead). */
static dp_error *google_link(dp_ctx *c, dp_db *db, const dp_google_identity *g, dp_rows **user)
{
    apr_pool_t *p = c->r->pool;
    const char *id = dp_rows_get(*user, 0, "id"), *via;
    dp_rows *rows;
    dp_error *e;

    if (dp_rows_get(*user, 0, "google_sub") != NULL) { /* another Google account's */
        return dp_error_make(p, 401, DP_E_UNAUTHORIZED, NULL,
                             "The Google sign-in could not be verified.");
    }
    via = dp_rows_get(*user, 0, "email_verified_via");
    if (via != NULL && strcmp(via, "link") == 0) {
        e = dp_db_select(db, DPQ_USER_LINK_GOOGLE, &rows, DP_ARGS(g->sub, id));
    }
    else {
        e = dp_db_select(db, DPQ_USER_GOOGLE_TAKEOVER, &rows, DP_ARGS(g->sub, id));
        if (e == NULL && rows->nrows == 1) {
            ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, c->r,
                          "DP04012: account %s (address not proven by a mailed link) taken "
                          "over by the Google account that owns its address; its password "
                          "and sessions are revoked",
                          id);
            e = dp_db_exec(db, DPQ_EMAIL_TOKENS_RETIRE, NULL, DP_ARGS(id, NULL, NULL));
        }
    }
    if (e != NULL) return e;
    if (rows->nrows == 0) { /* changed under us (row locked, so only by a bug) */
        return dp_error_make(p, 409, DP_E_EMAIL_TAKEN, NULL,
                             "The account changed meanwhile; sign in again.");
    }
    return dp_db_select(db, DPQ_USER_BY_ID, user, DP_ARGS(id));
}

/* Find or create the user behind a verified Google identity. *created tells which. */
static dp_error *google_user(dp_ctx *c, dp_db *db, const dp_google_identity *g,
                             const char *user_type, dp_rows **user, int *created)
{
    apr_pool_t *p = c->r->pool;
    const char *email, *id, *avatar = NULL;
    dp_rows *rows;
    dp_error *e;

    *created = 0;
    if (!dp_valid_email(g->email)) {
        return dp_error_field(p, "googleToken",
                              "The Google account's email address cannot be "
                              "used for an account here.");
    }
    email = dp_email_normalize(p, g->email);
    if ((e = dp_db_select(db, DPQ_USER_BY_GOOGLE_SUB, user, DP_ARGS(g->sub)))) return e;
    if ((*user)->nrows > 0) {
        return dp_db_select(db, DPQ_USER_BY_ID, user, DP_ARGS(dp_rows_get(*user, 0, "id")));
    }
    if ((e = dp_db_select(db, DPQ_USER_BY_EMAIL_GOOGLE, user, DP_ARGS(email)))) return e;
    if ((*user)->nrows > 0) {
        return google_link(c, db, g, user);
    }
    if (user_type == NULL) {
        return dp_error_field(p, "userType",
                              "userType (provider or client) is required for "
                              "a new account.");
    }
    if ((e = dp_account_rate_check(c, db, "r:", c->cfg->register_limit))) return e;
    if (g->picture != NULL && dp_valid_url(g->picture)) {
        avatar = g->picture;
    }
    if ((e = dp_db_select(
             db, DPQ_USER_INSERT_GOOGLE, &rows,
             DP_ARGS(email, google_name(p, g->name, email), user_type, g->sub, avatar)))) {
        return e;
    }
    if (rows->nrows == 0) { /* lost a race with another sign-in of the same email */
        return dp_error_email_taken(p);
    }
    id = dp_rows_get(rows, 0, "id");
    *created = 1;
    return dp_db_select(db, DPQ_USER_BY_ID, user, DP_ARGS(id));
}

/* POST /api/auth/google {googleToken, userType?, session?}: public. A verified Google ID
 * token (Google vouches for the address) logs in a known account (by Google id, else by
 * email: see google_link), or creates a verified one (counted against the address's hourly
 * limit of new accounts). The token is verified before a database connection is taken; a
 * refused one is still audited (and, with the database away, answers 503 like every other
 * refusal that cannot be recorded). */
dp_error *dp_auth_google(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *token, *user_type, *reason = NULL;
    dp_google_identity g;
    dp_audit_event ev = {.outcome = DP_OUTCOME_FAILURE};
    dp_rows *user;
    dp_db *db;
    dp_error *e;
    int created, cookie_only;

    if ((e = dp_json_string(p, c->body, "googleToken", "googleToken", 1, 8192, &token))) {
        return e;
    }
    if ((e = dp_account_session_mode(c, &cookie_only))) return e;
    if ((e = dp_json_string(p, c->body, "userType", "userType", 0, 16, &user_type))) return e;
    if (user_type != NULL && !dp_valid_user_type(user_type)) {
        return dp_error_field(p, "userType", "userType must be provider or client.");
    }
    if (c->cfg->google_id.client_id == NULL) {
        return dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                             "Google sign-in is not configured on this server.");
    }
    /* the token (and the fetch of Google's keys it may need) before a pooled connection is
     * taken: a slow or failing Google holds no database connection */
    e = dp_google_id_verify(p, &c->cfg->google_id, token, (long long)apr_time_sec(apr_time_now()),
                            &g, &reason);
    if (e != NULL) {
        dp_error *ae;
        ap_log_rerror(APLOG_MARK, e->status == 502 ? APLOG_WARNING : APLOG_INFO, 0, c->r,
                      "DP04004: Google sign-in refused (%s)", reason ? reason : e->detail);
        return (ae = dp_audit(c, &ev)) != NULL ? ae : e;
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = google_user(c, db, &g, user_type, &user, &created))) {
        return e->status < 500 ? dp_audit_refusal(c, db, &ev, e) : e;
    }
    {
        const char *id = dp_rows_get(user, 0, "id");
        dp_audit_event ok = {.actor_id = id,
                             .actor_type = dp_rows_get(user, 0, "user_type"),
                             .resource_id = id,
                             .client_id = dp_user_client_id(user),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ok))) return e;
    }
    if ((e = dp_db_commit(db))) return e;
    return dp_account_reply_session(c, created ? 201 : 200, user, cookie_only);
}

/* GET /api/auth/config: public, before sign-in; whether Google sign-in is on (its OAuth
 * client id, which is public) and where the portal loads Google Identity Services from. */
dp_error *dp_auth_config(dp_ctx *c)
{
    json_t *out = dp_json_own(c->r->pool, json_object());
    dp_json_set_str(out, "googleClientId", c->cfg->google_id.client_id);
    dp_json_set_str(out, "googleGsiUrl", c->cfg->google_gsi_url);
    dp_reply_json(c, 200, out);
    return NULL;
}

/* POST /api/auth/logout: provider or client; revokes the presented token everywhere. */
dp_error *dp_auth_logout(dp_ctx *c)
{
    const char *exp = apr_psprintf(c->r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)c->who->exp);
    const char *client = strcmp(c->who->role, "client") == 0 ? c->who->user_id : NULL;
    dp_audit_event ev = {
        .resource_id = c->who->user_id, .client_id = client, .outcome = DP_OUTCOME_SUCCESS};
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_exec(db, DPQ_TOKEN_REVOKE, NULL, DP_ARGS(c->who->jti, c->who->user_id, exp)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    if ((e = dp_db_commit(db))) return e;
    dp_session_cookies_clear(c);
    /* Revocations of expired tokens are dead weight; dropping them is housekeeping, and a
     * failure here changes nothing for the caller. */
    if (dp_db_exec(db, DPQ_TOKEN_PURGE, NULL, DP_NOARGS) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                      "DP04003: purging expired revocations failed");
    }
    dp_reply_empty(c);
    return NULL;
}
