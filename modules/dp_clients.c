/* A provider's clients (and their invitations), and a client's view of its provider. */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_outbox.h"
#include "dp_profile.h"
#include "dp_sql.h"
#include "dp_user.h"

#include "core/dp_crypto.h"
#include "core/dp_json.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <http_core.h>
#include <http_protocol.h>
#include <httpd.h>

/* GET /api/provider/clients: provider; its own clients, invited ones included. */
dp_error *dp_clients_list(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    json_t *arr = dp_json_own(p, json_array());
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    dp_audit_event ev = {.outcome = DP_OUTCOME_SUCCESS};

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_CLIENTS_OF_PROVIDER, &rows, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    for (int i = 0; i < rows->nrows; i++) {
        json_t *u = dp_user_json(p, rows, i);
        json_object_set_new(u, "invited",
                            json_boolean(strcmp(dp_rows_get(rows, i, "invited"), "t") == 0));
        json_array_append(arr, u);
    }
    dp_reply_json(c, 200, arr);
    return NULL;
}

/* POST /api/provider/clients: provider; creates the client record under this provider with
 * a single-use, 7-day invitation through which the client sets a password, and mails the
 * invitation's link to the client. */
dp_error *dp_clients_create(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *email, *token, *id, *link;
    dp_profile pr;
    dp_rows *rows, *user;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_json_string(p, c->body, "email", "email", 1, 254, &email))) return e;
    if (!dp_valid_email(email)) {
        return dp_error_field(p, "email", "email is not a valid address.");
    }
    email = dp_email_normalize(p, email);
    if ((e = dp_profile_read(p, c->body, "client", &pr))) return e;
    if (!pr.given[DP_PF_NAME]) {
        return dp_error_field(p, "name", "name is required.");
    }
    if ((token = dp_random_hex(p, 32)) == NULL) {
        return dp_error_internal(p);
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_CLIENT_INSERT, &rows,
                          DP_ARGS(email, pr.value[DP_PF_NAME], pr.value[DP_PF_PHONE],
                                  pr.value[DP_PF_AVATAR], pr.value[DP_PF_DATE_OF_BIRTH],
                                  pr.value[DP_PF_ADDRESS], pr.value[DP_PF_INSURANCE],
                                  c->who->user_id, pr.value[DP_PF_EMERGENCY])))) {
        return e;
    }
    if (rows->nrows == 0) {
        dp_audit_event ev = {.outcome = DP_OUTCOME_FAILURE};
        return dp_audit_refusal(c, db, &ev, dp_error_email_taken(p));
    }
    id = dp_rows_get(rows, 0, "id");
    /* only the hash is kept: the database alone cannot hand out invitations */
    if ((e = dp_db_exec(db, DPQ_INVITE_INSERT, NULL,
                        DP_ARGS(dp_sha256_hex(p, token, strlen(token)), id)))) {
        return e;
    }
    link = dp_outbox_link(c, "invite", token);
    if ((e = dp_outbox_queue(c, db, DP_MAIL_INVITE, email, link))) return e;
    if ((e = dp_db_select(db, DPQ_USER_BY_ID, &user, DP_ARGS(id)))) return e;
    {
        dp_audit_event ev = {.resource_id = id, .client_id = id, .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    if ((e = dp_db_commit(db))) return e;
    out = dp_user_json(p, user, 0);
    json_object_set_new(out, "invited", json_true());
    json_object_set_new(out, "inviteUrl", json_string(link));
    dp_reply_json(c, 201, out);
    return NULL;
}

/* GET /api/client/provider: client; its provider's public profile. */
dp_error *dp_client_provider(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    static const char *const strs[][2] = {
        {"id",        "id"       },
        {"name",      "name"     },
        {"email",     "email"    },
        {"phone",     "phone"    },
        {"avatar",    "avatar"   },
        {"specialty", "specialty"},
        {"bio",       "bio"      },
        {"time_zone", "timeZone" },
    };
    const char *rate;
    dp_rows *rows = NULL;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_ctx_db(c, &db))) return e;
    if (c->who->provider_id != NULL
        && (e = dp_db_select(db, DPQ_PROVIDER_PUBLIC, &rows, DP_ARGS(c->who->provider_id)))) {
        return e;
    }
    {
        dp_audit_event ev = {.resource_id = c->who->provider_id,
                             .client_id = c->who->user_id,
                             .outcome = rows != NULL && rows->nrows > 0 ? DP_OUTCOME_SUCCESS
                                                                        : DP_OUTCOME_FAILURE};
        if ((e = dp_audit(c, &ev))) return e;
    }
    if (rows == NULL || rows->nrows == 0) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, NULL, "You are not linked to a provider.");
    }
    out = dp_json_own(p, json_object());
    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
        dp_json_set_str(out, strs[k][1], dp_rows_get(rows, 0, strs[k][0]));
    }
    rate = dp_rows_get(rows, 0, "hourly_rate_cents");
    dp_json_set_money(out, "hourlyRate", rate ? apr_atoi64(rate) : 0, rate != NULL);
    dp_reply_json(c, 200, out);
    return NULL;
}
