/* Clinical notes: written, read and signed only by the appointment's provider. Content,
 * diagnosis and private notes are sealed together (AES-256-GCM, the message key ring; the
 * purpose, the note id and the appointment id bound as associated data). Signing fixes a
 * SHA-256 of the canonical note and locks it (a database trigger refuses later updates);
 * changes then go in as signed addenda. Every read checks a signed note, and each addendum,
 * against its hash: a mismatch reads as tampered, like a row that does not decrypt. */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_aead.h"
#include "core/dp_crypto.h"
#include "core/dp_json.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

#define MAX_FIELD_CHARS 20000

/* The content fields each note type requires, and no others. */
static const char *const soap_fields[] = {"subjective", "objective", "assessment", "plan", NULL};
static const char *const dap_fields[] = {"data", "assessment", "plan", NULL};
static const char *const progress_fields[] = {"text", NULL};

static const char *const *fields_of(const char *type)
{
    if (strcmp(type, "SOAP") == 0) return soap_fields;
    if (strcmp(type, "DAP") == 0) return dap_fields;
    if (strcmp(type, "Progress") == 0) return progress_fields;
    return NULL;
}

/* content must be an object with exactly the type's fields, each a string. */
static dp_error *check_content(apr_pool_t *p, const char *type, json_t *content, json_t **clean)
{
    const char *const *fields = fields_of(type);
    const char *key;
    json_t *v;
    dp_error *e;

    if (!json_is_object(content)) {
        return dp_error_field(p, "content", "content must be an object.");
    }
    json_object_foreach(content, key, v)
    {
        int known = 0;
        for (const char *const *f = fields; *f; f++) {
            known |= strcmp(*f, key) == 0;
        }
        if (!known) {
            return dp_error_field(p, apr_pstrcat(p, "content.", key, NULL),
                                  apr_psprintf(p, "A %s note has no field %s.", type, key));
        }
    }
    *clean = dp_json_own(p, json_object());
    for (const char *const *f = fields; *f; f++) {
        const char *s;
        if ((e = dp_json_string(p, content, *f, apr_pstrcat(p, "content.", *f, NULL), 1,
                                MAX_FIELD_CHARS, &s))) {
            return e;
        }
        json_object_set_new(*clean, *f, json_string(s));
    }
    return NULL;
}

static dp_error *read_type(apr_pool_t *p, json_t *body, int required, const char **type)
{
    dp_error *e = dp_json_string(p, body, "type", "type", required, 16, type);
    if (e == NULL && *type != NULL && fields_of(*type) == NULL) {
        e = dp_error_field(p, "type", "type must be SOAP, DAP or Progress.");
    }
    return e;
}

/* The sealed part of a note. */
typedef struct note_body {
    const char *type;
    json_t *content;
    const char *diagnosis, *private_notes;
} note_body;

static dp_error *seal_body(dp_ctx *c, const char *note_id, const char *appointment_id,
                           const note_body *b, dp_sealed *out)
{
    apr_pool_t *p = c->r->pool;
    dp_aead_binding bind = {DP_AEAD_NOTE, note_id, appointment_id, NULL};
    json_t *j = dp_json_own(p, json_object());
    apr_size_t len;
    const char *plain;

    json_object_set(j, "content", b->content);
    dp_json_set_str(j, "type", b->type); /* binds the clear-text type column to the content */
    dp_json_set_str(j, "diagnosis", b->diagnosis);
    dp_json_set_str(j, "privateNotes", b->private_notes);
    plain = dp_json_dump(p, j, &len);
    return dp_aead_seal_row(p, c->cfg->message_keys, &bind, plain, len, out);
}

/* Open the sealed part of a note (purpose DP_AEAD_NOTE, bound to its appointment) or of an
 * addendum (DP_AEAD_ADDENDUM, bound to its note); NULL (and a logged warning) when it does not
 * open. */
static json_t *open_body(dp_ctx *c, const dp_rows *rows, dp_aead_purpose purpose, const char *id,
                         const char *bound)
{
    apr_pool_t *p = c->r->pool;
    dp_aead_binding bind = {purpose, id, bound, NULL};
    dp_sealed s = {dp_rows_get(rows, 0, "key_id"), dp_rows_get(rows, 0, "nonce"),
                   dp_rows_get(rows, 0, "ciphertext")};
    const char *plain = NULL;
    apr_size_t len = 0;
    dp_aead_status st = dp_aead_open_row(
        p, c->cfg->message_keys, &bind, dp_aead_version_parse(dp_rows_get(rows, 0, "aead_version")),
        &s, &plain, &len);

    if (st == DP_AEAD_OK) {
        json_t *body = dp_json_own(p, json_loadb(plain, len, 0, NULL));
        const char *type = dp_rows_get(rows, 0, "type"), *sealed_type;
        /* a note's type is sealed with it: a type column changed behind its back is tampering */
        sealed_type = json_string_value(json_object_get(body, "type"));
        if (body != NULL
            && (type == NULL || (sealed_type != NULL && strcmp(type, sealed_type) == 0))) {
            return body;
        }
        st = DP_AEAD_TAMPERED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                  "DP08001: clinical note data %s does not decrypt (%s, key %s)", id,
                  dp_aead_status_name(st), s.key_id);
    return NULL;
}

/* SHA-256 over the canonical note: sorted keys, compact, UTF-8. */
static const char *note_hash(apr_pool_t *p, const char *appointment_id, const char *type,
                             json_t *body)
{
    json_t *canon = dp_json_own(p, json_deep_copy(body));
    char *text;
    const char *hash;

    json_object_set_new(canon, "appointmentId", json_string(appointment_id));
    json_object_set_new(canon, "type", json_string(type));
    text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        return NULL;
    }
    hash = dp_sha256_hex(p, text, strlen(text));
    free(text); /* jansson allocates with malloc */
    return hash;
}

/* Does a signed row still hold what was signed? An unsigned one (no hash) always does. A
 * mismatch is logged by id only. */
static int hash_holds(dp_ctx *c, const char *what, const char *id, const char *signed_hash,
                      const char *hash)
{
    if (signed_hash == NULL) {
        return 1;
    }
    if (hash != NULL && strcmp(hash, signed_hash) == 0) {
        return 1;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                  "DP08002: %s %s does not match its signed content hash", what, id);
    return 0;
}

static dp_error *no_note(apr_pool_t *p)
{
    return dp_error_make(p, 404, DP_E_NOT_FOUND, NULL, "No clinical note for that appointment.");
}

/* The note of an appointment with its addenda, opened, as the caller may read it: *answer. */
static dp_error *note_answer(dp_ctx *c, dp_db *db, const char *appointment_id, json_t **answer)
{
    apr_pool_t *p = c->r->pool;
    const char *id;
    dp_rows *rows, *add;
    json_t *out, *body, *arr;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_NOTE_GET, &rows, DP_ARGS(appointment_id, c->who->user_id)))) {
        return e;
    }
    if (rows->nrows == 0) return no_note(p);
    id = dp_rows_get(rows, 0, "id");
    if ((e = dp_db_select(db, DPQ_ADDENDA_OF_NOTE, &add, DP_ARGS(id)))) return e;
    out = dp_json_own(p, json_object());
    dp_json_set_str(out, "id", id);
    dp_json_set_str(out, "appointmentId", dp_rows_get(rows, 0, "appointment_id"));
    dp_json_set_str(out, "clientId", dp_rows_get(rows, 0, "client_id"));
    dp_json_set_str(out, "providerId", dp_rows_get(rows, 0, "provider_id"));
    dp_json_set_str(out, "date", dp_rows_get(rows, 0, "date"));
    dp_json_set_str(out, "type", dp_rows_get(rows, 0, "type"));
    body = open_body(c, rows, DP_AEAD_NOTE, id, dp_rows_get(rows, 0, "appointment_id"));
    if (body != NULL
        && !hash_holds(c, "clinical note", id, dp_rows_get(rows, 0, "content_hash"),
                       note_hash(p, dp_rows_get(rows, 0, "appointment_id"),
                                 dp_rows_get(rows, 0, "type"), body))) {
        body = NULL;
    }
    if (body != NULL) {
        json_object_set(out, "content", json_object_get(body, "content"));
        json_object_set(out, "diagnosis", json_object_get(body, "diagnosis"));
        json_object_set(out, "privateNotes", json_object_get(body, "privateNotes"));
    }
    else {
        json_object_set_new(out, "content", json_null());
        json_object_set_new(out, "diagnosis", json_null());
        json_object_set_new(out, "privateNotes", json_null());
        json_object_set_new(out, "decryptError", json_string("tampered"));
    }
    dp_json_set_str(out, "signedAt", dp_rows_get(rows, 0, "signed_at"));
    dp_json_set_str(out, "signedBy", dp_rows_get(rows, 0, "signed_by"));
    dp_json_set_str(out, "contentHash", dp_rows_get(rows, 0, "content_hash"));
    arr = dp_json_own(p, json_array());
    for (int i = 0; i < add->nrows; i++) {
        dp_rows one = {add->ncols, add->cols, 1, &add->vals[i]};
        const char *aid = dp_rows_get(add, i, "id");
        json_t *a = dp_json_own(p, json_object());
        json_t *t = open_body(c, &one, DP_AEAD_ADDENDUM, aid, id);
        const char *text = json_string_value(json_object_get(t, "text"));
        if (t != NULL
            && !hash_holds(c, "note addendum", aid, dp_rows_get(add, i, "content_hash"),
                           text ? dp_sha256_hex(p, text, strlen(text)) : NULL)) {
            t = NULL;
        }
        dp_json_set_str(a, "id", aid);
        json_object_set(a, "text", t ? json_object_get(t, "text") : json_null());
        if (t == NULL) {
            json_object_set_new(a, "decryptError", json_string("tampered"));
        }
        dp_json_set_str(a, "signedBy", dp_rows_get(add, i, "author_id"));
        dp_json_set_str(a, "signedAt", dp_rows_get(add, i, "signed_at"));
        dp_json_set_str(a, "contentHash", dp_rows_get(add, i, "content_hash"));
        json_array_append(arr, a);
    }
    json_object_set(out, "addenda", arr);
    dp_json_set_str(out, "createdAt", dp_rows_get(rows, 0, "created_at"));
    dp_json_set_str(out, "updatedAt", dp_rows_get(rows, 0, "updated_at"));
    *answer = out;
    return NULL;
}

static dp_error *reply_note(dp_ctx *c, dp_db *db, int status, const char *appointment_id)
{
    json_t *out;
    dp_error *e = note_answer(c, db, appointment_id, &out);

    if (e != NULL) return e;
    dp_reply_json(c, status, out);
    return NULL;
}

/* A write's answer is read within its transaction, then sent once the COMMIT succeeded: a
 * write answered 2xx is one that committed, and a connection lost after the COMMIT cannot turn
 * a committed write into a 503 (only a lost COMMIT leaves a write in doubt). */
static dp_error *commit_and_reply_note(dp_ctx *c, dp_db *db, int status,
                                       const char *appointment_id)
{
    json_t *out;
    dp_error *e;

    if ((e = note_answer(c, db, appointment_id, &out)) || (e = dp_db_commit(db))) return e;
    dp_reply_json(c, status, out);
    return NULL;
}

static dp_error *read_optional_text(apr_pool_t *p, json_t *body, const char *key, const char **out)
{
    return dp_json_string(p, body, key, key, 0, MAX_FIELD_CHARS, out);
}

/* POST /api/provider/clinical-notes {appointmentId, type, content, diagnosis?, privateNotes?}:
 * the appointment's provider, for a confirmed or completed appointment; one note each. */
dp_error *dp_notes_create(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *appt, *type, *id;
    dp_audit_event ev = {.outcome = DP_OUTCOME_DENIED};
    note_body b;
    dp_sealed sealed;
    dp_rows *a, *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, "appointmentId", "appointmentId", 1, 64, &appt))) {
        return e;
    }
    if ((e = read_type(p, c->body, 1, &type))) return e;
    if ((e = check_content(p, type, json_object_get(c->body, "content"), &b.content))) return e;
    b.type = type;
    if ((e = read_optional_text(p, c->body, "diagnosis", &b.diagnosis))) return e;
    if ((e = read_optional_text(p, c->body, "privateNotes", &b.private_notes))) return e;
    if (!dp_uuid_valid(appt)) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "appointmentId", "No such appointment.");
    }
    appt = dp_lower(p, appt);
    ev.resource_id = appt;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_NOTE_APPOINTMENT, &a, DP_ARGS(appt, c->who->user_id)))) {
        return e;
    }
    if (a->nrows == 0) {
        if ((e = dp_audit(c, &ev))) return e;
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "appointmentId", "No such appointment.");
    }
    ev.client_id = dp_rows_get(a, 0, "client_id");
    if (strcmp(dp_rows_get(a, 0, "status"), "confirmed") != 0
        && strcmp(dp_rows_get(a, 0, "status"), "completed") != 0) {
        ev.outcome = DP_OUTCOME_FAILURE;
        if ((e = dp_audit(c, &ev))) return e;
        return dp_error_make(p, 409, DP_E_INVALID_TRANSITION, "appointmentId",
                             "Notes are written for confirmed or completed appointments.");
    }
    if ((id = dp_uuid_new(p)) == NULL) return dp_error_internal(p);
    if ((e = seal_body(c, id, appt, &b, &sealed))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_NOTE_INSERT, &rows,
                          DP_ARGS(id, appt, c->who->user_id, ev.client_id, type, sealed.key_id,
                                  sealed.nonce_b64, sealed.ct_b64, DP_AEAD_VERSION_TEXT)))) {
        return e;
    }
    if (rows->nrows == 0) {
        ev.outcome = DP_OUTCOME_FAILURE;
        return dp_audit_refusal(
            c, db, &ev,
            dp_error_make(p, 409, DP_E_NOTE_EXISTS, NULL, "This appointment has a note already."));
    }
    ev.outcome = DP_OUTCOME_SUCCESS;
    if ((e = dp_audit(c, &ev))) return e;
    return commit_and_reply_note(c, db, 201, appt);
}

/* GET /api/provider/clinical-notes/:appointmentId: the appointment's provider. */
dp_error *dp_notes_get(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *appt = c->params[0];
    dp_audit_event ev = {.resource_id = appt, .outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_NOTE_GET, &rows, DP_ARGS(appt, c->who->user_id)))) return e;
    if (rows->nrows == 0) {
        ev.outcome = DP_OUTCOME_DENIED;
    }
    else {
        ev.client_id = dp_rows_get(rows, 0, "client_id");
    }
    if ((e = dp_audit(c, &ev))) return e;
    if (rows->nrows == 0) return no_note(p);
    return reply_note(c, db, 200, appt);
}

/* The unsigned note of the caller's appointment, locked; 404 or 409 note_signed. */
static dp_error *lock_unsigned(dp_ctx *c, dp_db *db, const char *appt, const char **id,
                               dp_audit_event *ev)
{
    apr_pool_t *p = c->r->pool;
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_NOTE_LOCK, &rows, DP_ARGS(appt, c->who->user_id)))) return e;
    if (rows->nrows == 0) {
        ev->outcome = DP_OUTCOME_DENIED;
        return dp_audit_refusal(c, db, ev, no_note(p));
    }
    ev->client_id = dp_rows_get(rows, 0, "client_id");
    if (strcmp(dp_rows_get(rows, 0, "signed"), "t") == 0) {
        ev->outcome = DP_OUTCOME_FAILURE;
        return dp_audit_refusal(c, db, ev,
                                dp_error_make(p, 409, DP_E_NOTE_SIGNED, NULL,
                                              "The note is signed; add an addendum instead."));
    }
    *id = dp_rows_get(rows, 0, "id");
    return NULL;
}

/* The note's current sealed part, for an update or for signing. */
static dp_error *current_body(dp_ctx *c, dp_db *db, const char *appt, dp_rows **rows, json_t **body,
                              dp_audit_event *ev)
{
    dp_error *e = dp_db_select(db, DPQ_NOTE_GET, rows, DP_ARGS(appt, c->who->user_id));
    if (e != NULL) return e;
    *body = open_body(c, *rows, DP_AEAD_NOTE, dp_rows_get(*rows, 0, "id"), appt);
    if (*body == NULL) {
        ev->outcome = DP_OUTCOME_FAILURE;
        return dp_audit_refusal(c, db, ev,
                                dp_error_make(c->r->pool, 409, DP_E_INVALID_TRANSITION, NULL,
                                              "The note cannot be read (it does not decrypt)."));
    }
    return NULL;
}

/* PATCH /api/provider/clinical-notes/:appointmentId {type?, content?, diagnosis?,
 * privateNotes?}: while unsigned; content is replaced whole. */
dp_error *dp_notes_update(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *appt = c->params[0], *id, *type;
    dp_audit_event ev = {.resource_id = appt, .outcome = DP_OUTCOME_SUCCESS};
    json_t *content = json_object_get(c->body, "content"), *old;
    note_body b;
    dp_sealed sealed;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    if ((e = read_type(p, c->body, 0, &type))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = lock_unsigned(c, db, appt, &id, &ev))) return e;
    if ((e = current_body(c, db, appt, &rows, &old, &ev))) return e;
    ev.client_id = dp_rows_get(rows, 0, "client_id");
    if (type == NULL) {
        type = dp_rows_get(rows, 0, "type");
    }
    if (content == NULL && strcmp(type, dp_rows_get(rows, 0, "type")) != 0) {
        return dp_error_field(p, "content", "A new type needs its content.");
    }
    if ((e = check_content(p, type, content ? content : json_object_get(old, "content"),
                           &b.content))) {
        return e;
    }
    b.type = type;
    b.diagnosis = json_string_value(json_object_get(old, "diagnosis"));
    b.private_notes = json_string_value(json_object_get(old, "privateNotes"));
    if (json_object_get(c->body, "diagnosis") != NULL
        && (e = read_optional_text(p, c->body, "diagnosis", &b.diagnosis))) {
        return e;
    }
    if (json_object_get(c->body, "privateNotes") != NULL
        && (e = read_optional_text(p, c->body, "privateNotes", &b.private_notes))) {
        return e;
    }
    if ((e = seal_body(c, id, appt, &b, &sealed))) return e;
    if ((e = dp_db_exec(db, DPQ_NOTE_UPDATE, NULL,
                        DP_ARGS(type, sealed.key_id, sealed.nonce_b64, sealed.ct_b64,
                                DP_AEAD_VERSION_TEXT, id)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    return commit_and_reply_note(c, db, 200, appt);
}

/* POST /api/provider/clinical-notes/:appointmentId/sign: locks the note with who, when and a
 * SHA-256 of the canonical note. */
dp_error *dp_notes_sign(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *appt = c->params[0], *id, *hash;
    dp_audit_event ev = {.resource_id = appt, .outcome = DP_OUTCOME_SUCCESS};
    json_t *body;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = lock_unsigned(c, db, appt, &id, &ev))) return e;
    if ((e = current_body(c, db, appt, &rows, &body, &ev))) return e;
    ev.client_id = dp_rows_get(rows, 0, "client_id");
    hash = note_hash(p, appt, dp_rows_get(rows, 0, "type"), body);
    if (hash == NULL) return dp_error_internal(p);
    if ((e = dp_db_exec(db, DPQ_NOTE_SIGN, NULL, DP_ARGS(c->who->user_id, hash, id)))) return e;
    if ((e = dp_audit(c, &ev))) return e;
    return commit_and_reply_note(c, db, 200, appt);
}

/* POST /api/provider/clinical-notes/:appointmentId/addenda {text}: to a signed note; each
 * addendum is itself signed (author, time, SHA-256 of its text) and sealed. */
dp_error *dp_notes_addendum(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *appt = c->params[0], *text, *aid, *plain;
    dp_audit_event ev = {.resource_id = appt, .outcome = DP_OUTCOME_SUCCESS};
    dp_aead_binding bind = {DP_AEAD_ADDENDUM, NULL, NULL, NULL};
    json_t *j;
    dp_sealed sealed;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    apr_size_t len;

    if ((e = dp_json_string(p, c->body, "text", "text", 1, MAX_FIELD_CHARS, &text))) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_NOTE_LOCK, &rows, DP_ARGS(appt, c->who->user_id)))) return e;
    if (rows->nrows == 0) {
        ev.outcome = DP_OUTCOME_DENIED;
        return dp_audit_refusal(c, db, &ev, no_note(p));
    }
    ev.client_id = dp_rows_get(rows, 0, "client_id");
    if (strcmp(dp_rows_get(rows, 0, "signed"), "t") != 0) {
        ev.outcome = DP_OUTCOME_FAILURE;
        return dp_audit_refusal(c, db, &ev,
                                dp_error_make(p, 409, DP_E_INVALID_TRANSITION, NULL,
                                              "The note is not signed yet: edit it instead."));
    }
    if ((aid = dp_uuid_new(p)) == NULL) {
        return dp_error_internal(p);
    }
    bind.row_id = aid;
    bind.owner = dp_rows_get(rows, 0, "id");
    j = dp_json_own(p, json_object());
    json_object_set_new(j, "text", json_string(text));
    plain = dp_json_dump(p, j, &len);
    if ((e = dp_aead_seal_row(p, c->cfg->message_keys, &bind, plain, len, &sealed))) {
        return e;
    }
    if ((e = dp_db_exec(db, DPQ_ADDENDUM_INSERT, NULL,
                        DP_ARGS(aid, dp_rows_get(rows, 0, "id"), c->who->user_id, sealed.key_id,
                                sealed.nonce_b64, sealed.ct_b64,
                                dp_sha256_hex(p, text, strlen(text)), DP_AEAD_VERSION_TEXT)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    return commit_and_reply_note(c, db, 201, appt);
}
