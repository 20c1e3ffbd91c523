/* dp_error: the one error value of the project.
 * Every failure that reaches a client is one of these: an HTTP status, a stable machine code
 * (see docs/api.md, "Errors"), a human sentence, and optionally the offending field.
 * Pure C, no httpd headers. */
#ifndef DP_ERROR_H
#define DP_ERROR_H

#include <apr_pools.h>

typedef struct dp_error {
    int status;         /* HTTP status to answer with */
    const char *code;   /* stable code, e.g. "validation_error" */
    const char *detail; /* human sentence, safe to show to the caller */
    const char *field;  /* offending field ("content.plan"), or NULL */
} dp_error;

/* Error codes, named once (docs/api.md, "Errors"). */
#define DP_E_INVALID_JSON         "invalid_json"
#define DP_E_UNAUTHORIZED         "unauthorized"
#define DP_E_INVALID_CREDENTIALS  "invalid_credentials"
#define DP_E_FORBIDDEN            "forbidden"
#define DP_E_TLS_REQUIRED         "tls_required"
#define DP_E_NOT_FOUND            "not_found"
#define DP_E_METHOD               "method_not_allowed"
#define DP_E_EMAIL_TAKEN          "email_taken"
#define DP_E_SLOT_TAKEN           "slot_taken"
#define DP_E_INVALID_TRANSITION   "invalid_transition"
#define DP_E_NOTE_EXISTS          "note_exists"
#define DP_E_NOTE_SIGNED          "note_signed"
#define DP_E_ALREADY_PAID         "already_paid"
#define DP_E_PAYMENT_IN_PROGRESS  "payment_in_progress" /* another payment awaits Stripe */
#define DP_E_CARD_DECLINED        "card_declined"
#define DP_E_INVALID_SIGNATURE    "invalid_signature"
#define DP_E_TOO_LARGE            "payload_too_large"
#define DP_E_BAD_REQUEST          "bad_request"     /* refused by httpd (ErrorDocument) */
#define DP_E_TIMEOUT              "request_timeout" /* likewise */
#define DP_E_URI_TOO_LONG         "uri_too_long"    /* likewise */
#define DP_E_NOT_IMPLEMENTED      "not_implemented" /* likewise */
#define DP_E_VALIDATION           "validation_error"
#define DP_E_RATE_LIMITED         "rate_limited"
#define DP_E_UPSTREAM             "upstream_error"
#define DP_E_UNAVAILABLE          "unavailable"
#define DP_E_INTERNAL             "internal_error"
#define DP_E_CSRF_FAILED          "csrf_failed"      /* cookie sessions: X-CSRF-Token */
#define DP_E_INVALID_TOKEN        "invalid_token"    /* a mailed link: unknown, used, expired */
#define DP_E_EMAIL_UNVERIFIED     "email_unverified" /* DocPortalRequireVerifiedEmail */
#define DP_E_ALREADY_VERIFIED     "already_verified"
#define DP_E_NO_PASSWORD          "no_password"          /* a Google-only account */
#define DP_E_OUTSIDE_AVAILABILITY "outside_availability" /* not in the provider's hours */
#define DP_E_TOO_MANY_PENDING     "too_many_pending"     /* DocPortalMaxPendingPerClient */

dp_error *dp_error_make(apr_pool_t *p, int status, const char *code, const char *field,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Shorthands for the most common answers. */
dp_error *dp_error_field(apr_pool_t *p, const char *field, const char *detail);
dp_error *dp_error_internal(apr_pool_t *p);
dp_error *dp_error_email_taken(apr_pool_t *p);

#endif
