/* dp_stripe: card payments through Stripe's PaymentIntents API, and Stripe's webhooks.
 *
 * Outbound: one form-encoded POST /v1/payment_intents per payment (created and confirmed in
 * the same call) or per Stripe.js client secret, or a GET of an intent made before, through
 * dp_http, with the secret key as a
 * Bearer token, a pinned Stripe-Version and the caller's Idempotency-Key. Stripe stores the
 * answer to the first request made with a key and replays it to a retry with the same key
 * and the same parameters (and refuses the key with other parameters): the key is what keeps
 * a retry or a double click from charging twice, so derive it from what identifies the
 * attempt (the invoice and the payment method), never from the clock.
 *
 * Answers are sorted into what the caller must do:
 *   - a payment Stripe finished or refused: NULL, with a dp_stripe_result (a declined card is
 *     not an error of ours; its message is Stripe's own, written to be shown to the payer);
 *   - everything else (Stripe unreachable or too slow, 5xx, 429, an answer we cannot read, and
 *     the 4xx that only a configuration problem causes: bad key, bad version, bad parameter):
 *     a 502 upstream_error whose detail is safe to log and to show. It names the HTTP status
 *     and Stripe's error type and code, never Stripe's message (a 401's message echoes part
 *     of the key), the secret key, the payment method or the client secret.
 *
 * Inbound: dp_stripe_verify_signature checks a webhook's Stripe-Signature header (pure: no
 * I/O, no pool, thread-safe); dp_stripe_parse_event reads the verified body.
 *
 * Needs curl_global_init (see dp_http.h). Pure C, no httpd headers. */
#ifndef DP_STRIPE_H
#define DP_STRIPE_H

#include <apr_pools.h>

#include "dp_error.h"

#define DP_STRIPE_API_BASE      "https://api.stripe.com"
#define DP_STRIPE_API_VERSION   "2024-06-20" /* the version the parsing below was written for */
#define DP_STRIPE_TIMEOUT_MS    20000L       /* a confirm waits for the card network */
#define DP_STRIPE_MAX_RESPONSE  (256 * 1024)
#define DP_STRIPE_SIG_TOLERANCE 300        /* seconds, Stripe's own default */
#define DP_STRIPE_MAX_AMOUNT    99999999LL /* Stripe's ceiling: 8 digits in the smallest unit */

typedef struct dp_stripe_cfg {
    const char *api_base;    /* NULL: DP_STRIPE_API_BASE; a trailing '/' is ignored */
    const char *secret_key;  /* sk_live_... / sk_test_... / rk_...: required */
    const char *api_version; /* Stripe-Version header; NULL: DP_STRIPE_API_VERSION */
    long timeout_ms;         /* the whole request; <= 0: DP_STRIPE_TIMEOUT_MS */
} dp_stripe_cfg;

/* One payment: a PaymentIntent created and confirmed at once. */
typedef struct dp_stripe_payment {
    long long amount_cents;      /* > 0, at most DP_STRIPE_MAX_AMOUNT, in currency's minor unit */
    const char *currency;        /* ISO 4217, three letters ("usd"; sent in lower case) */
    const char *payment_method;  /* the PaymentMethod id from Stripe.js ("pm_...") */
    const char *invoice_id;      /* goes to metadata[invoice_id]: the webhook's way back */
    const char *idempotency_key; /* 1..255 printable ASCII characters, no spaces */
    const char *description;     /* optional (NULL): shown in Stripe's dashboard */
} dp_stripe_payment;

typedef enum dp_stripe_kind {
    DP_STRIPE_SUCCEEDED = 1,   /* paid: mark the invoice paid with intent_id */
    DP_STRIPE_REQUIRES_ACTION, /* 3-D Secure and the like: hand client_secret to Stripe.js */
    DP_STRIPE_DECLINED,        /* the card was refused: show decline_message, invoice stays */
    DP_STRIPE_PROCESSING       /* not final yet (processing, ...): the webhook will settle it */
} dp_stripe_kind;

typedef struct dp_stripe_result {
    dp_stripe_kind kind;
    const char *intent_id;       /* "pi_..."; NULL only for a decline Stripe tied to no intent */
    const char *status;          /* the PaymentIntent's status as Stripe gave it, or NULL */
    const char *client_secret;   /* for REQUIRES_ACTION (and whenever Stripe sent one) */
    const char *decline_message; /* DECLINED: Stripe's error.message, meant for the payer */
    const char *decline_code;    /* DECLINED: error.decline_code, else error.code, or NULL */
} dp_stripe_result;

/* ---- form encoding (application/x-www-form-urlencoded, as Stripe's API reads it) ---- */

/* Percent-encode every byte but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~), as
 * %XX with upper-case hex; a space is %20, brackets of nested keys are %5B and %5D. */
const char *dp_stripe_form_escape(apr_pool_t *p, const char *s);

/* Encode pairs: kv = {key1, value1, key2, value2, ..., NULL}; the list ends at a NULL key.
 * A pair whose value is NULL is left out (optional fields); an empty value is sent as
 * "key=". Nested keys are written out flat: "metadata[invoice_id]". Returns "" for no pairs;
 * *len (if not NULL) gets the length. */
const char *dp_stripe_form(apr_pool_t *p, const char *const *kv, apr_size_t *len);

/* ---- outbound calls ---- */

/* Create and confirm a PaymentIntent for req. Returns NULL when Stripe decided the payment
 * (res->kind SUCCEEDED, REQUIRES_ACTION, DECLINED or PROCESSING); a dp_error otherwise:
 * 422 validation_error with field "amount" or "paymentMethod" when those are unusable
 * (nothing is sent), 500 internal_error for another unusable argument, and 502
 * upstream_error for everything Stripe-side (see the top of this file). *res is zeroed
 * first. */
dp_error *dp_stripe_pay(apr_pool_t *p, const dp_stripe_cfg *cfg, const dp_stripe_payment *req,
                        dp_stripe_result *res);

/* Create an unconfirmed PaymentIntent (automatic payment methods) for Stripe.js to confirm
 * in the browser, for the invoice invoice_id (metadata[invoice_id], so the webhook settles
 * it; NULL: none); idempotency_key may be NULL (then a retry creates another intent).
 * On success *client_secret and *intent_id are set; any failure (Stripe's 4xx included) is
 * an error as for dp_stripe_pay, and leaves both NULL. */
dp_error *dp_stripe_intent(apr_pool_t *p, const dp_stripe_cfg *cfg, long long amount_cents,
                           const char *currency, const char *invoice_id,
                           const char *idempotency_key, const char **client_secret,
                           const char **intent_id);

/* Read back the PaymentIntent intent_id (GET /v1/payment_intents/ID), which must be for
 * amount_cents in currency: on success *client_secret and *status (Stripe's: "requires_
 * payment_method", ..., "succeeded", "canceled") are set; failures as for dp_stripe_intent. */
dp_error *dp_stripe_intent_get(apr_pool_t *p, const dp_stripe_cfg *cfg, const char *intent_id,
                               long long amount_cents, const char *currency,
                               const char **client_secret, const char **status);

/* ---- webhooks ---- */

/* Results of dp_stripe_verify_signature: 0 accepts, every refusal is negative. */
typedef enum dp_stripe_sig_status {
    DP_STRIPE_SIG_OK = 0,
    DP_STRIPE_SIG_MISSING = -1,   /* no header, an empty one, or no v1 signature in it */
    DP_STRIPE_SIG_MALFORMED = -2, /* not "k=v,k=v", or no / a repeated / a non-numeric t */
    DP_STRIPE_SIG_STALE = -3,     /* a valid signature, but |now - t| > tolerance */
    DP_STRIPE_SIG_MISMATCH = -4,  /* no v1 is the HMAC of this payload under this secret */
    DP_STRIPE_SIG_NO_SECRET = -5  /* the endpoint secret is NULL or empty: nothing verifies */
} dp_stripe_sig_status;

/* Verify a Stripe-Signature header ("t=<unix time>,v1=<hex>[,v1=<hex>...][,v0=...]", in any
 * order, spaces after commas allowed, unknown schemes ignored) against the raw request body
 * (payload, len bytes) and the endpoint's signing secret ("whsec_..."; used as given, as
 * Stripe does). Accepts when some v1 is HMAC-SHA256(secret, "<t>.<payload>") (hex, any case;
 * compared in constant time) and |now - t| <= tolerance_s (<= 0: DP_STRIPE_SIG_TOLERANCE).
 * The signature is checked before the time, so STALE always means a genuine but old or
 * early delivery (a replay). Returns DP_STRIPE_SIG_OK or one of the negative codes. */
dp_stripe_sig_status dp_stripe_verify_signature(const char *header, const char *payload,
                                                apr_size_t len, const char *secret, long long now,
                                                long long tolerance_s);

/* "ok", "missing", "malformed", "stale", "mismatch", "no_secret" (for logs); "unknown" for
 * no status. */
const char *dp_stripe_sig_status_name(dp_stripe_sig_status status);

/* The fields of an Event the billing webhook needs. The intent fields are set only when
 * data.object is a PaymentIntent (object "payment_intent"), else NULL / -1. */
typedef struct dp_stripe_event {
    const char *id;                 /* "evt_..." */
    const char *type;               /* "payment_intent.succeeded", ... */
    int livemode;                   /* 1 for live-mode events */
    const char *intent_id;          /* data.object.id */
    const char *intent_status;      /* data.object.status */
    const char *invoice_id;         /* data.object.metadata.invoice_id, or NULL */
    long long amount;               /* data.object.amount, or -1 */
    long long amount_received;      /* data.object.amount_received, or -1 */
    const char *currency;           /* data.object.currency, or NULL */
    const char *payment_method;     /* data.object.payment_method (its id if expanded) */
    const char *last_error_message; /* data.object.last_payment_error.message, or NULL */
} dp_stripe_event;

/* Read a (verified) event body. A body that is not a JSON object with a string id and type
 * and an object data.object, or whose PaymentIntent fields have the wrong JSON types, is a
 * 400 invalid_json. The strings are in p. */
dp_error *dp_stripe_parse_event(apr_pool_t *p, const char *payload, apr_size_t len,
                                dp_stripe_event *ev);

#endif
