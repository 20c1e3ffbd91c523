/* /api/auth: register, login, me, logout. Passwords are bcrypt (APR-util); sessions are
 * HS256 tokens whose revocation lives in PostgreSQL, so a logout holds on every server. */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"
#include "dp_user.h"

#include "core/dp_json.h"
#include "core/dp_crypto.h"
#include "core/dp_jwt.h"
#include "core/dp_password.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

#define MAX_MONEY_CENTS 100000000LL /* 1,000,000.00 (contract addendum, "Billing") */

/* The validated fields of a registration, as the strings user_insert binds. */
typedef struct reg_fields {
    const char *email, *password, *name, *user_type, *phone, *avatar;
    const char *specialty, *license, *bio, *hourly_rate_cents, *time_zone;
    const char *date_of_birth, *address, *insurance, *provider_id, *emergency_contact;
} reg_fields;

static dp_error *read_common(apr_pool_t *p, json_t *b, reg_fields *f)
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
    if ((e = dp_json_string(p, b, "name", "name", 1, 200, &f->name)) != NULL) return e;
    if ((e = dp_json_string(p, b, "userType", "userType", 1, 16, &f->user_type)) != NULL) {
        return e;
    }
    if (!dp_valid_user_type(f->user_type)) {
        return dp_error_field(p, "userType", "userType must be provider or client.");
    }
    if ((e = dp_json_string(p, b, "phone", "phone", 0, 32, &f->phone)) != NULL) return e;
    if (f->phone != NULL && !dp_valid_phone(f->phone)) {
        return dp_error_field(p, "phone", "phone is not a valid phone number.");
    }
    if ((e = dp_json_string(p, b, "avatar", "avatar", 0, 2048, &f->avatar)) != NULL) return e;
    if (f->avatar != NULL && !dp_valid_url(f->avatar)) {
        return dp_error_field(p, "avatar", "avatar must be an http(s) URL.");
    }
    return NULL;
}

static dp_error *read_provider(apr_pool_t *p, json_t *b, reg_fields *f)
{
    dp_error *e;
    long long cents;
    int present;

    if ((e = dp_json_string(p, b, "specialty", "specialty", 0, 200, &f->specialty))) return e;
    if ((e = dp_json_string(p, b, "license", "license", 0, 100, &f->license))) return e;
    if ((e = dp_json_string(p, b, "bio", "bio", 0, 5000, &f->bio))) return e;
    if ((e = dp_json_money(p, b, "hourlyRate", "hourlyRate", MAX_MONEY_CENTS, &cents,
                           &present))) {
        return e;
    }
    f->hourly_rate_cents = present ? apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)cents) : NULL;
    if ((e = dp_json_string(p, b, "timeZone", "timeZone", 0, 64, &f->time_zone))) return e;
    if (f->time_zone != NULL && !dp_valid_zone_name(f->time_zone)) {
        return dp_error_field(p, "timeZone", "timeZone must be an IANA time zone name.");
    }
    return NULL;
}

static dp_error *read_client(apr_pool_t *p, json_t *b, reg_fields *f)
{
    static const char *const ec_keys[] = {"name", "phone", "relationship"};
    dp_error *e;
    json_t *ec;

    if ((e = dp_json_string(p, b, "providerId", "providerId", 0, 64, &f->provider_id))) {
        return e;
    }
    if (f->provider_id != NULL && !dp_uuid_valid(f->provider_id)) {
        return dp_error_field(p, "providerId", "providerId does not name a provider.");
    }
    if ((e = dp_json_string(p, b, "dateOfBirth", "dateOfBirth", 0, 10, &f->date_of_birth))) {
        return e;
    }
    if (f->date_of_birth != NULL) {
        apr_time_exp_t now;
        char today[11];
        apr_time_exp_gmt(&now, apr_time_now());
        apr_snprintf(today, sizeof(today), "%04d-%02d-%02d", now.tm_year + 1900,
                     now.tm_mon + 1, now.tm_mday);
        if (!dp_valid_date(f->date_of_birth) || strcmp(f->date_of_birth, today) > 0) {
            return dp_error_field(p, "dateOfBirth",
                                  "dateOfBirth must be a past date as YYYY-MM-DD.");
        }
    }
    if ((e = dp_json_string(p, b, "address", "address", 0, 500, &f->address))) return e;
    if ((e = dp_json_string(p, b, "insurance", "insurance", 0, 200, &f->insurance))) return e;

    ec = json_object_get(b, "emergencyContact");
    if (ec != NULL && !json_is_null(ec)) {
        json_t *clean = dp_json_own(p, json_object());
        if (!json_is_object(ec)) {
            return dp_error_field(p, "emergencyContact",
                                  "emergencyContact must be an object {name, phone, "
                                  "relationship}.");
        }
        for (size_t k = 0; k < sizeof(ec_keys) / sizeof(ec_keys[0]); k++) {
            const char *v;
            const char *field = apr_pstrcat(p, "emergencyContact.", ec_keys[k], NULL);
            if ((e = dp_json_string(p, ec, ec_keys[k], field, 0, 200, &v))) return e;
            dp_json_set_str(clean, ec_keys[k], v);
        }
        f->emergency_contact = dp_json_dump(p, clean, NULL);
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
    if (f->time_zone != NULL) {
        if ((e = dp_db_select(db, DPQ_ZONE_EXISTS, &rows, DP_ARGS(f->time_zone)))) return e;
        if (rows->nrows == 0) {
            return dp_error_field(p, "timeZone", "timeZone is not a known IANA time zone.");
        }
    }
    return NULL;
}

/* {token, user} for a freshly authenticated user row. */
static dp_error *reply_session(dp_ctx *c, int status, const dp_rows *user)
{
    const char *token;
    dp_claims claims;
    json_t *out;

    if (dp_jwt_issue(c->r->pool, c->cfg->jwt_secret, c->cfg->jwt_secret_len,
                     dp_rows_get(user, 0, "id"), dp_rows_get(user, 0, "user_type"),
                     (long long)apr_time_sec(apr_time_now()),
                     (long long)c->cfg->token_hours * 3600, &token, &claims) != DP_JWT_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "DP04001: could not issue a token");
        return dp_error_internal(c->r->pool);
    }
    out = dp_json_own(c->r->pool, json_object());
    json_object_set_new(out, "token", json_string(token));
    json_object_set(out, "user", dp_user_json(c->r->pool, user, 0));
    dp_reply_json(c, status, out);
    return NULL;
}

static const char *client_id_of(const dp_rows *user)
{
    const char *type = dp_rows_get(user, 0, "user_type");
    return (type != NULL && strcmp(type, "client") == 0) ? dp_rows_get(user, 0, "id") : NULL;
}

/* POST /api/auth/register: public. 201 {token, user}; 409 email_taken; 422 by field. */
dp_error *dp_auth_register(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    reg_fields f;
    dp_rows *rows, *user;
    dp_db *db;
    dp_error *e;
    const char *hash, *id;

    memset(&f, 0, sizeof(f));
    if ((e = read_common(p, c->body, &f))) return e;
    e = strcmp(f.user_type, "provider") == 0 ? read_provider(p, c->body, &f)
                                             : read_client(p, c->body, &f);
    if (e != NULL) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = check_references(db, p, &f))) return e;

    hash = dp_password_hash(p, f.password, c->cfg->bcrypt_cost);
    if (hash == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, "DP04002: password hashing failed");
        return dp_error_internal(p);
    }

    if ((e = dp_db_begin(db))) return e;
    e = dp_db_select(db, DPQ_USER_INSERT, &rows,
                     DP_ARGS(f.email, hash, f.name, f.user_type, f.phone, f.avatar, f.specialty,
                             f.license, f.bio, f.hourly_rate_cents, f.time_zone,
                             f.date_of_birth, f.address, f.insurance, f.provider_id,
                             f.emergency_contact));
    if (e != NULL) return e;
    if (rows->nrows == 0) {
        dp_audit_event ev = {.outcome = DP_OUTCOME_FAILURE};
        dp_db_rollback(db);
        if ((e = dp_audit(c, &ev))) return e;
        return dp_error_make(p, 409, DP_E_EMAIL_TAKEN, "email",
                             "An account with this email already exists.");
    }
    id = dp_rows_get(rows, 0, "id");
    if ((e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(id)))) return e;
    {
        dp_audit_event ev = {.actor_id = id, .actor_type = f.user_type, .resource_id = id,
                             .client_id = client_id_of(user), .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    if ((e = dp_db_commit(db))) return e;
    return reply_session(c, 201, user);
}

/* POST /api/auth/login: public. The same 401 for an unknown email and a wrong password, and
 * the same bcrypt work on both paths. */
dp_error *dp_auth_login(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *email, *password, *hash;
    dp_rows *user;
    dp_db *db;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, "email", "email", 1, 254, &email))) return e;
    if ((e = dp_json_string(p, c->body, "password", "password", 1, 1024, &password))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_USER_LOGIN, &user, DP_ARGS(dp_email_normalize(p, email))))) {
        return e;
    }
    hash = dp_rows_get(user, 0, "password_hash");
    if (!dp_password_verify(password, hash, c->cfg->dummy_hash)) {
        dp_audit_event ev = {.resource_id = dp_rows_get(user, 0, "id"),
                             .client_id = client_id_of(user), .outcome = DP_OUTCOME_FAILURE};
        if ((e = dp_audit(c, &ev))) return e;
        return dp_error_make(p, 401, DP_E_INVALID_CREDENTIALS, NULL,
                             "The email or password is incorrect.");
    }
    {
        const char *id = dp_rows_get(user, 0, "id");
        dp_audit_event ev = {.actor_id = id, .actor_type = dp_rows_get(user, 0, "user_type"),
                             .resource_id = id, .client_id = client_id_of(user),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    return reply_session(c, 200, user);
}

/* GET /api/auth/me: provider or client; its own profile. */
dp_error *dp_auth_me(dp_ctx *c)
{
    dp_rows *user;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(c->who->user_id)))) return e;
    if (user->nrows == 0) {
        return dp_error_make(c->r->pool, 401, DP_E_UNAUTHORIZED, NULL,
                             "The account no longer exists.");
    }
    {
        dp_audit_event ev = {.resource_id = c->who->user_id, .client_id = client_id_of(user),
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    out = dp_json_own(c->r->pool, json_object());
    json_object_set(out, "user", dp_user_json(c->r->pool, user, 0));
    dp_reply_json(c, 200, out);
    return NULL;
}

/* POST /api/auth/logout: provider or client; revokes the presented token everywhere. */
dp_error *dp_auth_logout(dp_ctx *c)
{
    const char *exp = apr_psprintf(c->r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)c->who->exp);
    const char *client = strcmp(c->who->role, "client") == 0 ? c->who->user_id : NULL;
    dp_audit_event ev = {.resource_id = c->who->user_id, .client_id = client,
                         .outcome = DP_OUTCOME_SUCCESS};
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_exec(db, DPQ_TOKEN_REVOKE, NULL,
                        DP_ARGS(c->who->jti, c->who->user_id, exp)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    if ((e = dp_db_commit(db))) return e;
    /* Revocations of expired tokens are dead weight; dropping them is housekeeping, and a
     * failure here changes nothing for the caller. */
    if (dp_db_exec(db, DPQ_TOKEN_PURGE, NULL, DP_NOARGS) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                      "DP04003: purging expired revocations failed");
    }
    dp_reply_empty(c);
    return NULL;
}
