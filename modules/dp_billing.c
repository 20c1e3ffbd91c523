/* Billing: invoices in integer cents, payments through Stripe's PaymentIntents API, and
 * Stripe's webhook. A payment claims the invoice (a recorded claim, not a held lock) while
 * Stripe is asked, so a second click is refused at once and no transaction stays open during
 * the call; the idempotency key is derived from the invoice and the payment method, so a
 * retry never charges twice and another card can still be tried after a decline. */
#include "dp_account.h"
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_crypto.h"
#include "core/dp_json.h"
#include "core/dp_stripe.h"
#include "core/dp_uuid.h"
#include "core/dp_validate.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

/* 999,999.99: the largest card payment Stripe takes, within docs/api.md's 1,000,000.00, so
 * that every invoice can be paid */
#define MAX_AMOUNT_CENTS    99999999LL
#define WEBHOOK_TOLERANCE_S 300
/* PaymentIntent requests a client may make in an hour (docs/api.md, "Billing") */
#define INTENT_LIMIT_PER_HOUR 30

static json_t *invoice_json(apr_pool_t *p, const dp_rows *rows, int i)
{
    static const char *const strs[][2] = {
        {"id",             "id"           },
        {"client_id",      "clientId"     },
        {"provider_id",    "providerId"   },
        {"appointment_id", "appointmentId"},
        {"client_name",    "clientName"   },
        {"currency",       "currency"     },
        {"date",           "date"         },
        {"due_date",       "dueDate"      },
        {"status",         "status"       },
        {"description",    "description"  },
        {"payment_method", "paymentMethod"},
        {"transaction_id", "transactionId"},
        {"paid_at",        "paidAt"       },
        {"created_at",     "createdAt"    },
        {"updated_at",     "updatedAt"    },
    };
    json_t *o = dp_json_own(p, json_object());
    const char *cents = dp_rows_get(rows, i, "amount_cents");

    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
        dp_json_set_str(o, strs[k][1], dp_rows_get(rows, i, strs[k][0]));
    }
    dp_json_set_money(o, "amount", cents ? apr_atoi64(cents) : 0, 1);
    return o;
}

static const char *status_filter(dp_ctx *c, dp_error **e)
{
    const char *s = dp_query_arg(c, "status");
    *e = NULL;
    if (s != NULL && strcmp(s, "paid") != 0 && strcmp(s, "pending") != 0
        && strcmp(s, "overdue") != 0) {
        *e = dp_error_field(c->r->pool, "status", "status must be paid, pending or overdue.");
    }
    return s;
}

/* GET /api/billing/invoices?status=paid|pending|overdue: a provider's clients' invoices, or a
 * client's own. pending excludes overdue ones. */
dp_error *dp_billing_invoices(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    int provider = strcmp(c->who->role, "provider") == 0;
    json_t *arr = dp_json_own(p, json_array());
    dp_audit_event ev = {.client_id = provider ? NULL : c->who->user_id,
                         .outcome = DP_OUTCOME_SUCCESS};
    const char *status;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;

    status = status_filter(c, &e);
    if (e != NULL) return e;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, provider ? DPQ_INVOICES_OF_PROVIDER : DPQ_INVOICES_OF_CLIENT, &rows,
                          DP_ARGS(c->who->user_id, status, status)))) {
        return e;
    }
    if ((e = dp_audit(c, &ev))) return e;
    for (int i = 0; i < rows->nrows; i++) {
        json_array_append(arr, invoice_json(p, rows, i));
    }
    dp_reply_json(c, 200, arr);
    return NULL;
}

static dp_error *read_amount(apr_pool_t *p, json_t *obj, long long *cents)
{
    int present;
    dp_error *e = dp_json_money(p, obj, "amount", "amount", MAX_AMOUNT_CENTS, cents, &present);
    if (e != NULL) return e;
    /* Stripe charges cards from 0.50 (USD and most currencies): less cannot be paid online */
    if (!present || *cents < 50 || *cents > MAX_AMOUNT_CENTS) {
        return dp_error_field(p, "amount",
                              "amount must be from 0.50 to 999,999.99 with at "
                              "most 2 decimals.");
    }
    return NULL;
}

/* POST /api/billing/invoices {clientId, appointmentId?, amount, description, dueDate?}:
 * provider, for its own client; dueDate defaults to 30 days after today (its time zone). */
dp_error *dp_billing_invoice_create(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *client, *appt, *desc, *due, *id;
    long long cents;
    dp_rows *chk, *rows;
    dp_db *db;
    dp_error *e;

    if ((e = dp_json_string(p, c->body, "clientId", "clientId", 1, 64, &client))) return e;
    if ((e = dp_json_string(p, c->body, "appointmentId", "appointmentId", 0, 64, &appt))) {
        return e;
    }
    if ((e = read_amount(p, c->body, &cents))) return e;
    if ((e = dp_json_string(p, c->body, "description", "description", 1, 1000, &desc))) {
        return e;
    }
    if ((e = dp_json_string(p, c->body, "dueDate", "dueDate", 0, 10, &due))) return e;
    if (due != NULL && !dp_valid_date(due)) {
        return dp_error_field(p, "dueDate", "dueDate must be YYYY-MM-DD.");
    }
    if (!dp_uuid_valid(client)) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "clientId", "No such client.");
    }
    if (appt != NULL && !dp_uuid_valid(appt)) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "appointmentId", "No such appointment.");
    }
    client = dp_lower(p, client);
    appt = dp_lower(p, appt);
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(db, DPQ_INVOICE_CLIENT_CHECK, &chk,
                          DP_ARGS(appt, appt, client, c->who->user_id)))) {
        return e;
    }
    if (chk->nrows == 0 || strcmp(dp_rows_get(chk, 0, "appointment_ok"), "t") != 0) {
        dp_audit_event ev = {.resource_id = appt,
                             .client_id = chk->nrows ? client : NULL,
                             .outcome = DP_OUTCOME_DENIED};
        if ((e = dp_audit(c, &ev))) return e;
        return chk->nrows == 0
            ? dp_error_make(p, 404, DP_E_NOT_FOUND, "clientId", "No such client.")
            : dp_error_make(p, 404, DP_E_NOT_FOUND, "appointmentId",
                            "No such appointment of this client.");
    }
    if (due == NULL) {
        due = dp_rows_get(chk, 0, "default_due");
    }
    else if (strcmp(due, dp_rows_get(chk, 0, "today")) < 0) {
        return dp_error_field(p, "dueDate", "dueDate cannot be before today.");
    }
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_INVOICE_INSERT, &rows,
                          DP_ARGS(c->who->user_id, client, appt,
                                  apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)cents),
                                  c->cfg->currency, desc, dp_rows_get(chk, 0, "today"), due)))) {
        return e;
    }
    id = dp_rows_get(rows, 0, "id");
    {
        dp_audit_event ev = {.resource_id = id, .client_id = client, .outcome = DP_OUTCOME_SUCCESS};
        if ((e = dp_audit(c, &ev))) return e;
    }
    if ((e = dp_db_select(db, DPQ_INVOICE_GET, &rows,
                          DP_ARGS(id, c->who->user_id, c->who->user_id)))) {
        return e;
    }
    if ((e = dp_db_commit(db))) return e;
    dp_reply_json(c, 201, invoice_json(p, rows, 0));
    return NULL;
}

static dp_error *payments_off(apr_pool_t *p)
{
    return dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                         "Payments are not configured on this server.");
}

/* The card token Stripe.js produced: {paymentMethod: {cardToken}} (docs/api.md), or
 * a PaymentMethod id given directly as a string. */
static dp_error *read_payment_method(apr_pool_t *p, json_t *body, const char **pm)
{
    json_t *v = json_object_get(body, "paymentMethod");
    dp_error *e;

    if (json_is_object(v)) {
        e = dp_json_string(p, v, "cardToken", "paymentMethod.cardToken", 1, 255, pm);
    }
    else {
        e = dp_json_string(p, body, "paymentMethod", "paymentMethod", 1, 255, pm);
    }
    if (e == NULL) {
        for (const char *s = *pm; *s; s++) {
            if (!apr_isalnum(*s) && *s != '_') {
                return dp_error_field(p, "paymentMethod",
                                      "paymentMethod is not a Stripe "
                                      "payment method or card token.");
            }
        }
    }
    return e;
}

/* The claim a payment holds on its invoice while Stripe answers (sql/014_payment_claims.sql):
 * older than this, it belonged to a request that died, and another payment may take it. Well
 * beyond the longest Stripe call, so a live payment is never taken over. */
static int claim_stale_seconds(const dp_config *cfg)
{
    return (int)(cfg->stripe.timeout_ms / 1000) * 2 + 10;
}

/* Why the invoice could not be claimed: not the caller's, paid, or another payment's. */
static dp_error *claim_refused(dp_ctx *c, dp_db *db, dp_audit_event *ev, const char *invoice)
{
    apr_pool_t *p = c->r->pool;
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_INVOICE_PAY_STATE, &rows, DP_ARGS(invoice, c->who->user_id)))) {
        return e;
    }
    if (rows->nrows == 0) {
        ev->outcome = DP_OUTCOME_DENIED;
        return dp_audit_refusal(
            c, db, ev, dp_error_make(p, 404, DP_E_NOT_FOUND, "invoiceId", "No such invoice."));
    }
    if (strcmp(dp_rows_get(rows, 0, "status"), "paid") == 0) {
        return dp_audit_refusal(
            c, db, ev,
            dp_error_make(p, 409, DP_E_ALREADY_PAID, NULL, "This invoice is already paid."));
    }
    return dp_audit_refusal(c, db, ev,
                            dp_error_make(p, 409, DP_E_PAYMENT_IN_PROGRESS, NULL,
                                          "A payment of this invoice is in progress; wait for "
                                          "its answer before trying again."));
}

/* The answer did not settle the invoice: its claim ends (the audit row goes with it). */
static dp_error *release_claim(dp_ctx *c, dp_db *db, const dp_audit_event *ev, const char *invoice,
                               const char *claim)
{
    dp_error *e;

    if ((e = dp_db_begin(db))
        || (e = dp_db_exec(db, DPQ_INVOICE_PAY_RELEASE, NULL, DP_ARGS(invoice, claim)))
        || (e = dp_audit(c, ev))) {
        return e;
    }
    return dp_db_commit(db);
}

/* POST /api/billing/pay {invoiceId, paymentMethod: {cardToken}}: the invoice's client. The
 * invoice is claimed in one short statement, Stripe is asked with no transaction open, and
 * the answer is recorded in a second short transaction; a payment of an invoice already
 * claimed is 409 payment_in_progress at once. */
dp_error *dp_billing_pay(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *invoice, *pm, *claim;
    dp_stripe_payment req;
    dp_stripe_result res;
    dp_audit_event ev = {.client_id = c->who->user_id, .outcome = DP_OUTCOME_FAILURE};
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = dp_json_string(p, c->body, "invoiceId", "invoiceId", 1, 64, &invoice))) return e;
    if ((e = read_payment_method(p, c->body, &pm))) return e;
    if (!dp_uuid_valid(invoice)) {
        return dp_error_make(p, 404, DP_E_NOT_FOUND, "invoiceId", "No such invoice.");
    }
    invoice = dp_lower(p, invoice); /* the key, metadata and audit use the stored form */
    ev.resource_id = invoice;
    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_select(
             db, DPQ_INVOICE_PAY_CLAIM, &rows,
             DP_ARGS(apr_itoa(p, claim_stale_seconds(c->cfg)), invoice, c->who->user_id)))) {
        return e;
    }
    if (rows->nrows == 0) {
        return claim_refused(c, db, &ev, invoice);
    }
    claim = dp_rows_get(rows, 0, "claim");
    memset(&req, 0, sizeof(req));
    req.amount_cents = apr_atoi64(dp_rows_get(rows, 0, "amount_cents"));
    req.currency = dp_rows_get(rows, 0, "currency");
    req.payment_method = pm;
    req.invoice_id = invoice;
    {
        /* same invoice + same card: Stripe replays its first answer instead of charging again */
        const char *basis = apr_pstrcat(p, invoice, ":", pm, NULL);
        req.idempotency_key =
            apr_pstrcat(p, "dp-inv-", dp_sha256_hex(p, basis, strlen(basis)), NULL);
    }
    e = c->cfg->stripe.secret_key == NULL ? payments_off(p)
                                          : dp_stripe_pay(p, &c->cfg->stripe, &req, &res);
    if (e != NULL) {
        dp_error *re;
        if (e->status >= 500 && c->cfg->stripe.secret_key != NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                          "DP07001: Stripe payment for invoice %s failed: %s", invoice, e->detail);
            e = dp_error_make(p, 502, DP_E_UPSTREAM, NULL,
                              "The payment service is unavailable; you were not charged. "
                              "Try again.");
        }
        /* a 4xx: refused before anything was sent */
        return (re = release_claim(c, db, &ev, invoice, claim)) != NULL ? re : e;
    }
    out = dp_json_own(p, json_object());
    switch (res.kind) {
    case DP_STRIPE_SUCCEEDED:
        ev.outcome = DP_OUTCOME_SUCCESS;
        if ((e = dp_db_begin(db))
            || (e = dp_db_select(db, DPQ_INVOICE_MARK_PAID, &rows,
                                 DP_ARGS(pm, res.intent_id, invoice)))
            || (e = dp_audit(c, &ev)) || (e = dp_db_commit(db))) {
            return e;
        }
        json_object_set_new(out, "success", json_true());
        dp_json_set_str(out, "transactionId", res.intent_id);
        dp_reply_json(c, 200, out);
        return NULL;
    case DP_STRIPE_DECLINED:
        if ((e = release_claim(c, db, &ev, invoice, claim))) return e;
        return dp_error_make(p, 402, DP_E_CARD_DECLINED, NULL, "%s",
                             res.decline_message ? res.decline_message : "The card was declined.");
    default:
        /* requires_action (3-D Secure) or still processing: the webhook settles it later */
        if ((e = release_claim(c, db, &ev, invoice, claim))) return e;
        json_object_set_new(out, "success", json_false());
        json_object_set_new(out, "requiresAction",
                            json_boolean(res.kind == DP_STRIPE_REQUIRES_ACTION));
        dp_json_set_str(out, "clientSecret", res.client_secret);
        dp_json_set_str(out, "transactionId", res.intent_id);
        dp_reply_json(c, 200, out);
        return NULL;
    }
}

/* The amount of a payment-intent request: the body's (POST) or ?amount= (GET). */
static dp_error *intent_amount(dp_ctx *c, long long *cents)
{
    apr_pool_t *p = c->r->pool;
    const char *a;
    json_t *wrap, *num;
    json_error_t jerr;

    if (c->body != NULL) {
        return read_amount(p, c->body, cents);
    }
    a = dp_query_arg(c, "amount");
    wrap = dp_json_own(p, json_object());
    num = a ? json_loads(a, JSON_DECODE_ANY, &jerr) : NULL;
    if (num == NULL || !json_is_number(num)) {
        json_decref(num);
        return dp_error_field(p, "amount", "amount must be a positive number.");
    }
    json_object_set_new(wrap, "amount", num);
    return read_amount(p, wrap, cents);
}

/* The optional invoiceId of a payment-intent request (body or query); *invoice NULL when
 * absent. */
static dp_error *intent_invoice_id(dp_ctx *c, const char **invoice)
{
    apr_pool_t *p = c->r->pool;
    const char *v = NULL;
    dp_error *e;

    *invoice = NULL;
    if (c->body != NULL) {
        if ((e = dp_json_string(p, c->body, "invoiceId", "invoiceId", 0, 64, &v))) return e;
    }
    else {
        v = dp_query_arg(c, "invoiceId");
    }
    if (v == NULL) {
        return NULL;
    }
    if (!dp_uuid_valid(v)) {
        return dp_error_field(p, "invoiceId", "invoiceId does not name one of your invoices.");
    }
    *invoice = dp_lower(p, v);
    return NULL;
}

/* The one payable invoice of the caller the intent is for: the one named, or the one unpaid
 * invoice of that amount. Anything else is a 422 saying why. */
static dp_error *intent_invoice(dp_ctx *c, dp_db *db, const char *invoice, long long cents,
                                dp_rows **rows)
{
    apr_pool_t *p = c->r->pool;
    const char *cents_s = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)cents);
    dp_error *e;

    if ((e = dp_db_select(db, DPQ_INVOICE_INTENT_CANDIDATES, rows,
                          DP_ARGS(c->who->user_id, invoice, cents_s, invoice)))) {
        return e;
    }
    if (invoice != NULL) {
        if ((*rows)->nrows == 0) {
            return dp_error_field(p, "invoiceId", "invoiceId does not name one of your invoices.");
        }
        if (strcmp(dp_rows_get(*rows, 0, "status"), "paid") == 0) {
            return dp_error_field(p, "invoiceId", "That invoice is paid already.");
        }
        if (strcmp(dp_rows_get(*rows, 0, "amount_cents"), cents_s) != 0) {
            return dp_error_field(p, "amount", "amount must be what that invoice owes.");
        }
        return NULL;
    }
    if ((*rows)->nrows == 0) {
        return dp_error_field(p, "amount", "None of your unpaid invoices is for this amount.");
    }
    if ((*rows)->nrows > 1) {
        return dp_error_field(p, "invoiceId",
                              "Several of your unpaid invoices are for this amount: name one "
                              "with invoiceId.");
    }
    return NULL;
}

/* Stripe's PaymentIntent statuses that can still be paid through Stripe.js. */
static int intent_live(const char *status)
{
    return strcmp(status, "requires_payment_method") == 0
        || strcmp(status, "requires_confirmation") == 0 || strcmp(status, "requires_action") == 0
        || strcmp(status, "processing") == 0;
}

/* The invoice's live PaymentIntent, or a new one recorded on it. *secret NULL with no error:
 * the recorded intent already succeeded (the webhook settles the invoice). */
static dp_error *intent_for_invoice(dp_ctx *c, dp_db *db, const dp_rows *inv, const char **secret,
                                    const char **intent)
{
    apr_pool_t *p = c->r->pool;
    const char *invoice = dp_rows_get(inv, 0, "id"), *had = dp_rows_get(inv, 0, "intent_id");
    const char *currency = dp_rows_get(inv, 0, "currency"), *status, *basis, *key;
    long long cents = apr_atoi64(dp_rows_get(inv, 0, "amount_cents"));
    dp_rows *rows;
    dp_error *e;

    *secret = NULL;
    *intent = had;
    if (had != NULL) {
        if ((e = dp_stripe_intent_get(p, &c->cfg->stripe, had, cents, currency, secret, &status))) {
            return e;
        }
        if (intent_live(status)) {
            return NULL;
        }
        *secret = NULL;
        if (strcmp(status, "succeeded") == 0) {
            return NULL;
        }
    }
    /* one key per invoice, amount and predecessor: concurrent first requests get one intent */
    basis = apr_psprintf(p, "%s:%" APR_INT64_T_FMT ":%s", invoice, (apr_int64_t)cents,
                         had ? had : "none");
    key = apr_pstrcat(p, "dp-pi-", dp_sha256_hex(p, basis, strlen(basis)), NULL);
    if ((e = dp_stripe_intent(p, &c->cfg->stripe, cents, currency, invoice, key, secret, intent))) {
        return e;
    }
    if ((e = dp_db_select(db, DPQ_INVOICE_INTENT_RECORD, &rows, DP_ARGS(*intent, invoice, had)))) {
        return e;
    }
    if (rows->nrows == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                      "DP07005: invoice %s got another PaymentIntent meanwhile; %s not recorded",
                      invoice, *intent);
    }
    return NULL;
}

/* GET /api/billing/payment-intent?amount=&invoiceId= (or POST {amount, invoiceId?}): client;
 * {clientSecret} for Stripe.js to confirm a card payment of one of the caller's unpaid
 * invoices, for exactly what it owes. The invoice's live intent is handed out again; a new
 * one is recorded on the invoice. At most INTENT_LIMIT_PER_HOUR requests per client. */
dp_error *dp_billing_intent(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *secret = NULL, *intent = NULL, *invoice;
    dp_audit_event ev = {.client_id = c->who->user_id, .outcome = DP_OUTCOME_FAILURE};
    long long cents;
    dp_rows *inv;
    dp_db *db;
    dp_error *e;
    json_t *out;

    if ((e = intent_amount(c, &cents)) || (e = intent_invoice_id(c, &invoice))) return e;
    if ((e = dp_ctx_db(c, &db))
        || (e = dp_account_rate_limit_user(c, db, "i:", INTENT_LIMIT_PER_HOUR))) {
        return e;
    }
    if ((e = intent_invoice(c, db, invoice, cents, &inv))) {
        return e->status == 422 ? dp_audit_refusal(c, db, &ev, e) : e;
    }
    e = c->cfg->stripe.secret_key == NULL ? payments_off(p)
                                          : intent_for_invoice(c, db, inv, &secret, &intent);
    ev.resource_id = intent;
    if (e == NULL && secret == NULL) {
        return dp_audit_refusal(
            c, db, &ev,
            dp_error_make(p, 409, DP_E_ALREADY_PAID, NULL,
                          "This invoice's payment succeeded; it is marked paid shortly."));
    }
    ev.outcome = e == NULL ? DP_OUTCOME_SUCCESS : DP_OUTCOME_FAILURE;
    {
        dp_error *ae = dp_audit(c, &ev);
        if (ae != NULL) return ae;
    }
    if (e != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r, "DP07002: PaymentIntent failed: %s",
                      e->detail);
        return dp_error_make(p, 502, DP_E_UPSTREAM, NULL, "The payment service is unavailable.");
    }
    out = dp_json_own(p, json_object());
    dp_json_set_str(out, "clientSecret", secret);
    dp_reply_json(c, 200, out);
    return NULL;
}

/* GET /api/billing/config: signed-in users; what Stripe.js needs (no secret). */
dp_error *dp_billing_config(dp_ctx *c)
{
    json_t *out = dp_json_own(c->r->pool, json_object());
    dp_json_set_str(out, "publishableKey", c->cfg->stripe_publishable);
    dp_json_set_str(out, "stripeJsUrl", c->cfg->stripe_js_url);
    dp_json_set_str(out, "currency", c->cfg->currency);
    dp_reply_json(c, 200, out);
    return NULL;
}

static dp_error *bad_signature(dp_ctx *c, const char *why)
{
    dp_audit_event ev = {.actor_type = "anonymous", .outcome = DP_OUTCOME_DENIED};
    dp_error *e = dp_audit(c, &ev);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r, "DP07003: webhook refused (%s)", why);
    return e ? e
             : dp_error_make(c->r->pool, 400, DP_E_INVALID_SIGNATURE, NULL,
                             "The Stripe-Signature header does not verify.");
}

/* POST /api/billing/webhook: public, authenticated by Stripe's signature. Each event id is
 * settled once; unknown event types are acknowledged and ignored. */
dp_error *dp_billing_webhook(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    const char *sig = apr_table_get(c->r->headers_in, "Stripe-Signature");
    dp_audit_event ev = {.actor_type = "anonymous", .outcome = DP_OUTCOME_SUCCESS};
    dp_stripe_event event;
    dp_rows *rows;
    dp_db *db;
    dp_error *e;
    json_t *out = dp_json_own(p, json_object());
    dp_stripe_sig_status rv;

    if (c->cfg->stripe_webhook_secret == NULL) {
        return bad_signature(c, "no DocPortalStripeWebhookSecretFile configured");
    }
    rv = dp_stripe_verify_signature(sig, c->raw_body, c->raw_len, c->cfg->stripe_webhook_secret,
                                    (long long)apr_time_sec(apr_time_now()), WEBHOOK_TOLERANCE_S);
    if (rv != DP_STRIPE_SIG_OK) {
        return bad_signature(c, dp_stripe_sig_status_name(rv));
    }
    if ((e = dp_stripe_parse_event(p, c->raw_body, c->raw_len, &event))) return e;
    json_object_set_new(out, "received", json_true());

    if ((e = dp_ctx_db(c, &db))) return e;
    if ((e = dp_db_begin(db))) return e;
    if ((e = dp_db_select(db, DPQ_STRIPE_EVENT_RECORD, &rows, DP_ARGS(event.id, event.type)))) {
        return e;
    }
    if (rows->nrows == 0) { /* seen before: settled already, nothing changes */
        dp_db_rollback(db);
        ev.resource_id = event.invoice_id;
        if ((e = dp_audit(c, &ev))) return e;
        json_object_set_new(out, "duplicate", json_true());
        dp_reply_json(c, 200, out);
        return NULL;
    }
    ev.resource_id = event.invoice_id;
    if (strcmp(event.type, "payment_intent.succeeded") == 0 && event.invoice_id != NULL
        && dp_uuid_valid(event.invoice_id)) {
        if ((e = dp_db_select(
                 db, DPQ_INVOICE_SETTLE_WEBHOOK, &rows,
                 DP_ARGS(event.payment_method, event.intent_id, event.invoice_id,
                         apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)event.amount_received),
                         event.currency)))) {
            return e;
        }
        if (rows->nrows == 0) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                          "DP07004: event %s settles nothing (invoice %s already paid, or "
                          "amount/currency differ)",
                          event.id, event.invoice_id);
        }
        ev.client_id = rows->nrows ? dp_rows_get(rows, 0, "client_id") : NULL;
    }
    else if (strcmp(event.type, "payment_intent.payment_failed") == 0) {
        ev.outcome = DP_OUTCOME_FAILURE; /* recorded; the invoice simply stays pending */
    }
    if ((e = dp_audit(c, &ev))) return e;
    if ((e = dp_db_commit(db))) return e;
    dp_reply_json(c, 200, out);
    return NULL;
}
