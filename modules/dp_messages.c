/* Secure messaging between a client and its provider. Bodies are sealed with AES-256-GCM
 * before they reach SQL (the purpose, the message id, its sender and its receiver bound as
 * associated data, so a ciphertext moved to another row does not open), and opened only on the
 * way out. */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_outbox.h"
#include "dp_session.h"
#include "dp_sql.h"

#include "core/dp_aead.h"
#include "core/dp_epoch.h"
#include "core/dp_json.h"
#include "core/dp_jsonw.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

#define MAX_MESSAGE_CHARS 10000
#define PAGE_DEFAULT      50 /* also written into the statement msg_conversation */
#define PAGE_MAX          200

/* The columns of a message result, looked up once for all its rows. The time is created_at
 * as dp_ts() writes it, or created_us (microseconds since 1970: a page's binary results). */
typedef struct msg_cols {
    int id, sender, receiver, sender_type, key_id, nonce, ciphertext, version, created, created_us,
        is_read;
} msg_cols;

static void msg_cols_of(const dp_rows *rows, msg_cols *k)
{
    k->id = dp_rows_col(rows, "id");
    k->sender = dp_rows_col(rows, "sender_id");
    k->receiver = dp_rows_col(rows, "receiver_id");
    k->sender_type = dp_rows_col(rows, "sender_type");
    k->key_id = dp_rows_col(rows, "key_id");
    k->nonce = dp_rows_col(rows, "nonce");
    k->ciphertext = dp_rows_col(rows, "ciphertext");
    k->version = dp_rows_col(rows, "aead_version");
    k->created = dp_rows_col(rows, "created_at");
    k->created_us = dp_rows_col(rows, "created_us");
    k->is_read = dp_rows_col(rows, "is_read");
}

/* The fields of the Message model from a row, into an object the caller opened (and
 * closes); a row that does not open reads message: null with decryptError, and is logged
 * (by id only). */
static void message_fields(dp_ctx *c, dp_jw *w, const dp_rows *rows, int i, const msg_cols *k)
{
    const char *id = dp_rows_at(rows, i, k->id), *sender = dp_rows_at(rows, i, k->sender);
    const char *receiver = dp_rows_at(rows, i, k->receiver);
    const char *is_read = dp_rows_at(rows, i, k->is_read);
    dp_aead_binding bind = {DP_AEAD_MESSAGE, id, sender, receiver};
    dp_sealed sealed = {dp_rows_at(rows, i, k->key_id), dp_rows_at(rows, i, k->nonce),
                        dp_rows_at(rows, i, k->ciphertext)};
    const char *plain = NULL, *created;
    dp_aead_status st = dp_aead_open_row(c->r->pool, c->cfg->message_keys, &bind,
                                         dp_aead_version_parse(dp_rows_at(rows, i, k->version)),
                                         &sealed, &plain, NULL);

    dp_jw_kstr(w, "id", id);
    dp_jw_kstr(w, "senderId", sender);
    dp_jw_kstr(w, "receiverId", receiver);
    dp_jw_kstr(w, "senderType", dp_rows_at(rows, i, k->sender_type));
    if (st == DP_AEAD_OK) {
        dp_jw_kstr(w, "message", plain);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                      "DP06001: message %s does not decrypt (%s, key %s)", id,
                      dp_aead_status_name(st), sealed.key_id);
        /* the client sees one answer for any row that does not open; the log says why */
        dp_jw_kstr(w, "message", NULL);
        dp_jw_kstr(w, "decryptError", "tampered");
    }
    created = k->created >= 0 ? dp_rows_at(rows, i, k->created)
                              : dp_epoch_iso(c->r->pool, dp_rows_at(rows, i, k->created_us));
    dp_jw_kstr(w, "timestamp", created);
    dp_jw_key(w, "read");
    dp_jw_bool(w, is_read != NULL && strcmp(is_read, "t") == 0);
    dp_jw_kstr(w, "createdAt", created);
}

static dp_error *no_user(apr_pool_t *p, const char *field)
{
    return dp_error_make(p, 404, DP_E_NOT_FOUND, field, "No such user.");
}

/* Messages pass only between a client and its provider. Another practice's user does not
 * exist for the caller (404); someone in the same practice who is not the counterpart is a
 * 403. On success *client_id is the client of the pair (for the audit trail). u: the
 * counterpart's row (DPQ_MSG_COUNTERPART). */
static dp_error *judge_counterpart(dp_ctx *c, const dp_rows *u, const char *field,
                                   const char **client_id)
{
    apr_pool_t *p = c->r->pool;
    const char *my_practice = c->who->provider_id ? c->who->provider_id : c->who->user_id;

    if (u->nrows == 0 || my_practice == NULL
        || strcasecmp(dp_rows_get(u, 0, "practice_id"), my_practice) != 0) {
        return no_user(p, field);
    }
    if (strcmp(c->who->role, "client") == 0) {
        /* a client writes only to its own provider */
        if (strcmp(dp_rows_get(u, 0, "user_type"), "provider") != 0) {
            return dp_error_make(p, 403, DP_E_FORBIDDEN, field,
                                 "Messages go only between a client and its provider.");
        }
        *client_id = c->who->user_id;
    }
    else {
        if (strcmp(dp_rows_get(u, 0, "user_type"), "client") != 0) {
            return dp_error_make(p, 403, DP_E_FORBIDDEN, field,
                                 "Messages go only between a client and its provider.");
        }
        *client_id = dp_rows_get(u, 0, "id");
    }
    return NULL;
}

static dp_error *check_counterpart(dp_ctx *c, dp_db *db, const char *other, const char *field,
                                   const char **client_id)
{
    dp_rows *u;
    dp_error *e;

    if (!dp_uuid_valid(other)) return no_user(c->r->pool, field);
    other = dp_lower(c->r->pool, other); /* ids are stored and answered lower-case */
    if ((e = dp_db_select(db, DPQ_MSG_COUNTERPART, &u, DP_ARGS(other)))) return e;
    return judge_counterpart(c, u, field, client_id);
}

/* A refusal of the counterpart, audited (denied) unless the database failed. */
static dp_error *counterpart_refused(dp_ctx *c, const char *client_id, dp_error *e)
{
    dp_audit_event ev = {.client_id = client_id, .outcome = DP_OUTCOME_DENIED};
    dp_error *ae = e->status < 500 ? dp_audit(c, &ev) : NULL;
    return ae ? ae : e;
}

/* true if s has nothing but white space */
static int blank(const char *s)
{
    for (; *s; s++) {
        if (!apr_isspace(*s)) return 0;
    }
    return 1;
}

/* The receiver hears by mail that a message is waiting (never what it says): at most once per
 * conversation every 15 minutes, if it wants such mail. One statement claims the notice and
 * queues its mail together; it follows the message's own commit, so a failure here leaves the
 * message sent and only the notice missing. */
static dp_error *notice(dp_ctx *c, dp_db *db, const char *receiver)
{
    apr_pool_t *p = c->r->pool;
    dp_mail_vars v = {apr_pstrcat(p, dp_outbox_public_base(c), "/messages", NULL), NULL, NULL};
    dp_outmail m;
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_outbox_compose(p, dp_outbox_public_base(c), DP_MAIL_NEW_MESSAGE, "receiver@invalid",
                               &v, &m))
        || (e = dp_db_select(db, DPQ_MESSAGE_NOTICE_QUEUE, &rows,
                             DP_ARGS(receiver, c->who->user_id, m.id, m.subject, m.key_id, m.nonce,
                                     m.ct, m.message_id)))) {
        return e;
    }
    c->mail_queued = rows->nrows > 0;
    return NULL;
}

/* POST /api/messages {receiverId, message}: provider or client. 201 with the message. */
dp_error *dp_messages_send(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *receiver, *text, *id, *client_id = NULL;
    dp_aead_binding bind = {DP_AEAD_MESSAGE, NULL, NULL, NULL};
    dp_sealed sealed;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_json_string(p, c->body, "receiverId", "receiverId", 1, 64, &receiver))) {
        return e;
    }
    if ((e = dp_json_string(p, c->body, "message", "message", 1, MAX_MESSAGE_CHARS, &text))) {
        return e;
    }
    if (blank(text)) {
        return dp_error_field(p, "message", "message must not be empty.");
    }
    if ((e = dp_ctx_db(c, &db))) return e;
    receiver = dp_lower(p, receiver); /* canonical (lower-case) UUID */
    if ((e = check_counterpart(c, db, receiver, "receiverId", &client_id))) {
        return counterpart_refused(c, client_id, e);
    }
    if ((id = dp_uuid_new(p)) == NULL) {
        return dp_error_internal(p);
    }
    bind.row_id = id;
    bind.owner = c->who->user_id;
    bind.receiver = receiver;
    if ((e = dp_aead_seal_row(p, c->cfg->message_keys, &bind, text, strlen(text), &sealed))) {
        return e;
    }
    {
        /* the message and its event in one round trip and one transaction */
        dp_audit_event ev = {
            .resource_id = id, .client_id = client_id, .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audited(c, &ev, DPQ_MSG_INSERT, &rows,
                            DP_ARGS(id, c->who->user_id, receiver, c->who->role, sealed.key_id,
                                    sealed.nonce_b64, sealed.ct_b64, DP_AEAD_VERSION_TEXT)))) {
            return e;
        }
    }

    /* the message is committed: a notice that fails (logged where it failed) leaves it sent,
     * and the answer says so; a 5xx here would have the sender send it again */
    (void)notice(c, db, receiver);

    out = dp_json_own(p, json_object());
    dp_json_set_str(out, "id", id);
    dp_json_set_str(out, "senderId", c->who->user_id);
    dp_json_set_str(out, "receiverId", receiver);
    dp_json_set_str(out, "senderType", c->who->role);
    dp_json_set_str(out, "message", text);
    dp_json_set_str(out, "timestamp", dp_rows_get(rows, 0, "created_at"));
    json_object_set_new(out, "read", json_false());
    dp_json_set_str(out, "createdAt", dp_rows_get(rows, 0, "created_at"));
    dp_reply_json(c, 201, out);
    return NULL;
}

static dp_error *read_limit(apr_pool_t *p, const char *s, int *limit)
{
    char *end;
    long v;
    *limit = PAGE_DEFAULT;
    if (s == NULL) return NULL;
    v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > PAGE_MAX) {
        return dp_error_field(p, "limit", "limit must be a whole number from 1 to 200.");
    }
    *limit = (int)v;
    return NULL;
}

/* GET /api/messages?conversationWith=id[&before=id&limit=n]: the conversation, oldest first
 * (the newest page); without conversationWith, the latest message of each conversation. */
dp_error *dp_messages_list(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *other = dp_lower(c->r->pool, dp_query_arg(c, "conversationWith"));
    const char *before = dp_query_arg(c, "before");
    const char *me = c->who->user_id, *client_id = NULL;
    dp_rows *rows;
    dp_jw *w;
    msg_cols k;
    dp_error *e;
    int limit;

    if ((e = read_limit(p, dp_query_arg(c, "limit"), &limit))) return e;
    if (before != NULL && !dp_uuid_valid(before)) {
        return dp_error_field(p, "before", "before must be a message id.");
    }
    if (other == NULL) {
        dp_audit_event ev = {.action = "message.list",
                             .client_id = strcmp(c->who->role, "client") == 0 ? me : NULL,
                             .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audited_read(c, &ev, DPQ_MSG_LATEST, &rows, DP_ARGS(me, me, me, me)))) {
            return e;
        }
        {
            int cid = dp_rows_col(rows, "counterpart_id");
            int cname = dp_rows_col(rows, "counterpart_name");
            int unread = dp_rows_col(rows, "unread_count");
            w = dp_jw_make(p, 700 * (apr_size_t)rows->nrows + 16);
            msg_cols_of(rows, &k);
            dp_jw_array(w);
            for (int i = 0; i < rows->nrows; i++) {
                const char *n = dp_rows_at(rows, i, unread);
                dp_jw_object(w);
                message_fields(c, w, rows, i, &k);
                dp_jw_kstr(w, "counterpartId", dp_rows_at(rows, i, cid));
                dp_jw_kstr(w, "counterpartName", dp_rows_at(rows, i, cname));
                dp_jw_kint(w, "unreadCount", n ? apr_atoi64(n) : 0);
                dp_jw_end(w);
            }
            dp_jw_end(w);
            return dp_reply_jw(c, 200, w);
        }
    }
    if (!dp_uuid_valid(other)) {
        return counterpart_refused(c, NULL, no_user(p, "conversationWith"));
    }
    {
        /* the session's check, the counterpart and the page in one round trip (the page is
         * the caller's own conversation, dropped when either check fails); three statements
         * for the page, so that PostgreSQL plans each once (sql/statements.sql) */
        dp_db_call calls[2] = {
            {DPQ_MSG_COUNTERPART, DP_ARGS(other), NULL},
            { NULL,                  0,           NULL, NULL}
        };
        const char *lim = apr_itoa(p, limit);
        const char *page[] = {me, other, me, other, before, lim};
        const char *sized[] = {me, other, me, other, lim};
        dp_audit_event ev = {.resource_id = other, .outcome = DP_OUTCOME_SUCCESS};
        if (before != NULL) {
            calls[1] = (dp_db_call){DPQ_MSG_CONVERSATION_BEFORE, 6, page, NULL};
        }
        else if (limit == PAGE_DEFAULT) {
            calls[1] = (dp_db_call){DPQ_MSG_CONVERSATION, 4, page, NULL};
        }
        else {
            calls[1] = (dp_db_call){DPQ_MSG_CONVERSATION_SIZED, 5, sized, NULL};
        }
        if ((e = dp_session_pipeline(c, calls, 2))) return e;
        if ((e = judge_counterpart(c, calls[0].rows, "conversationWith", &client_id))) {
            return counterpart_refused(c, client_id, e);
        }
        ev.client_id = client_id;
        if ((e = dp_audit_read(c, &ev, calls[1].name))) return e;
        rows = calls[1].rows;
    }
    /* written straight into one buffer (no jansson tree: see core/dp_jsonw.h) */
    w = dp_jw_make(p, 600 * (apr_size_t)rows->nrows + 16);
    msg_cols_of(rows, &k);
    dp_jw_array(w);
    for (int i = rows->nrows - 1; i >= 0; i--) { /* the page came newest first */
        dp_jw_object(w);
        message_fields(c, w, rows, i, &k);
        dp_jw_end(w);
    }
    dp_jw_end(w);
    return dp_reply_jw(c, 200, w);
}

/* PATCH /api/messages/:id/read: provider or client; only the receiver may mark it. */
dp_error *dp_messages_mark_read(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *id = c->params[0], *me = c->who->user_id;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    dp_audit_event ev = {.resource_id = id, .outcome = DP_OUTCOME_SUCCESS};

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_MSG_MARK_READ, &rows, DP_ARGS(id, me)))) return e;
    if (rows->nrows == 0) {
        dp_rows *seen;
        dp_db_rollback(db);
        if ((e = dp_db_select(db, DPQ_MSG_VISIBLE, &seen, DP_ARGS(id, me, me)))) return e;
        ev.outcome = DP_OUTCOME_DENIED;
        if ((e = dp_audit(c, &ev))) return e;
        if (seen->nrows > 0) {
            return dp_error_make(p, 403, DP_E_FORBIDDEN, NULL,
                                 "Only the receiver may mark a message read.");
        }
        return dp_error_make(p, 404, DP_E_NOT_FOUND, NULL, "No such message.");
    }
    ev.client_id = strcmp(c->who->role, "client") == 0 ? me : dp_rows_get(rows, 0, "sender_id");
    if ((e = dp_audit(c, &ev))) return e;
    if ((e = dp_db_commit(db))) return e;
    {
        dp_jw *w = dp_jw_make(p, 1024);
        msg_cols k;
        msg_cols_of(rows, &k);
        dp_jw_object(w);
        message_fields(c, w, rows, 0, &k);
        dp_jw_end(w);
        return dp_reply_jw(c, 200, w);
    }
}
