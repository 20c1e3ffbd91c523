/* dp_request: what a resource handler gets (the caller, the body, the route's parameters,
 * the database) and the one way it answers (JSON, or one dp_error). */
#ifndef DP_REQUEST_H
#define DP_REQUEST_H

#include <httpd.h>
#include <jansson.h>

#include "core/dp_error.h"
#include "core/dp_route.h"
#include "dp_config.h"
#include "dp_db.h"

/* The authenticated caller; NULL on public routes. */
typedef struct dp_principal {
    const char *user_id;
    const char *role;        /* "provider" | "client" */
    const char *provider_id; /* a client's provider, else NULL */
    const char *jti;
    long long exp;
    int email_verified;
    /* On a DP_ROUTE_FOLD_AUTH route until the database has confirmed the session: the
     * token's claims, signature verified (provider_id and email_verified are not known yet);
     * NULL once confirmed. */
    const struct dp_session_pending *pending;
} dp_principal;

typedef struct dp_ctx {
    request_rec *r;
    dp_config *cfg;
    const dp_route *route;
    const char *params[DP_ROUTE_MAX_PARAMS];
    const dp_principal *who;
    json_t *body;         /* the parsed JSON object, for DP_ROUTE_BODY routes */
    const char *raw_body; /* the bytes as sent, for DP_ROUTE_RAW_BODY routes */
    apr_size_t raw_len;
    const char *request_id;
    dp_db *db;       /* acquired on first use by dp_ctx_db */
    int audited;     /* an audit event was written (checked by the dispatcher) */
    int event_due;   /* its read's audit event is awaited by the child's batch
                      * (dp_audit_coming) */
    int mail_queued; /* a mail was queued: wake the delivery thread after answering */
} dp_ctx;

typedef dp_route_fn dp_handler; /* dp_error *handler(dp_ctx *c) */

/* The request's database connection (acquired once). With the session still to be confirmed
 * (dp_principal.pending), it is confirmed first: 401 when it no longer holds. */
dp_error *dp_ctx_db(dp_ctx *c, dp_db **db);

/* A query-string argument (decoded), or NULL when absent or empty. */
const char *dp_query_arg(dp_ctx *c, const char *name);

/* Answer with JSON and the given status (the handler then returns NULL). */
void dp_reply_json(dp_ctx *c, int status, json_t *body);
/* Answer with the document of a JSON writer (list answers: core/dp_jsonw.h); a document
 * that is not well formed is a 500 (the handler returns what this returns). */
struct dp_jw;
dp_error *dp_reply_jw(dp_ctx *c, int status, struct dp_jw *w);
/* Answer 204 with no body. */
void dp_reply_empty(dp_ctx *c);
/* Answer with these bytes as they are, of that content type (no body for HEAD). */
void dp_reply_bytes(request_rec *r, int status, const char *ctype, const void *body,
                    apr_size_t len);

/* Write an error as {"detail","code"[,"field"]}; used by the dispatcher only. */
int dp_reply_error(request_rec *r, const dp_error *e);

/* Read the raw body of at most max bytes (for signed payloads: the webhook); a longer one is
 * 413 payload_too_large. The dispatcher gives the route's cap (dp_route_body_cap). */
dp_error *dp_read_body(request_rec *r, long max, const char **out, apr_size_t *len);

/* Read and parse a JSON object body of at most max bytes. */
dp_error *dp_read_json_body(request_rec *r, long max, json_t **out);

/* The client's address as httpd sees it (behind a proxy: mod_remoteip's), "" when unknown. */
const char *dp_client_address(const dp_ctx *c);

/* The unique id of this request (also in X-Request-Id). */
const char *dp_request_id(request_rec *r);

/* Did this request reach us over TLS (or, with DocPortalTrustForwardedProto On, over TLS to
 * the proxy in front: X-Forwarded-Proto: https)? */
int dp_is_tls(request_rec *r, const dp_config *cfg);

/* X-Request-Id, Cache-Control no-store, nosniff, HSTS over TLS, CORS: on every /api answer */
void dp_common_headers(request_rec *r, const dp_config *cfg, const char *request_id);

#endif
