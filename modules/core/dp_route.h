/* dp_route: matching a method and path against the one static route table.
 * Patterns are literal segments and ":name" parameters ("/api/appointments/:id/join").
 * Pure C, no httpd headers. */
#ifndef DP_ROUTE_H
#define DP_ROUTE_H

#include <apr_pools.h>

#include "dp_error.h"

/* Roles a route admits (bit set). DP_ROLE_PUBLIC needs no token at all. */
#define DP_ROLE_PUBLIC   0x0u
#define DP_ROLE_PROVIDER 0x1u
#define DP_ROLE_CLIENT   0x2u
#define DP_ROLE_ANY      (DP_ROLE_PROVIDER | DP_ROLE_CLIENT)

/* Route flags. */
#define DP_ROUTE_BODY       0x1u  /* reads a JSON object body */
#define DP_ROUTE_NO_AUDIT   0x2u  /* touches no user data (health) */
#define DP_ROUTE_PLAIN_HTTP 0x4u  /* answered over plain HTTP even when TLS is required */
#define DP_ROUTE_RAW_BODY   0x8u  /* reads the body as bytes (a signed payload) */
#define DP_ROUTE_UNVERIFIED 0x10u /* open to an account whose email is not verified yet */
#define DP_ROUTE_UUID_PARAM                                                                        \
    0x20u /* the first path parameter is a row's UUID: lower-cased for
                                     the handler, or refused as naming nothing */

/* A body cap of the route's own, below DocPortalMaxBody (which stays the ceiling); at most
 * one per route, without one the configured maximum applies. Public routes read what an
 * anonymous sender chooses to send: each reads a little more than its largest valid body. */
#define DP_ROUTE_SMALL_BODY   0x40u  /* credentials, a token or an email: 16 KiB */
#define DP_ROUTE_PROFILE_BODY 0x80u  /* an account with its whole profile (register): 64 KiB */
#define DP_ROUTE_EVENT_BODY   0x100u /* one Stripe event (the webhook): 256 KiB */

/* A GET whose handler runs its read in the same round trip as the session's database check
 * (dp_session_pipeline): the dispatcher verifies the token's signature only and leaves that
 * check to the handler's first use of the database. */
#define DP_ROUTE_FOLD_AUTH 0x200u

#define DP_ROUTE_SMALL_BODY_MAX   (16 * 1024)  /* a Google ID token may have 8192 characters */
#define DP_ROUTE_PROFILE_BODY_MAX (64 * 1024)  /* the longest valid profile: about 32 KiB */
#define DP_ROUTE_EVENT_BODY_MAX   (256 * 1024) /* see docs/api.md, "Webhook" */

#define DP_ROUTE_MAX_PARAMS 4

/* A route's handler. The request context is the glue's (modules/dp_request.h); the core
 * only carries the pointer, typed, so a handler of another shape does not compile. */
struct dp_ctx;
typedef dp_error *(*dp_route_fn)(struct dp_ctx *c);

typedef struct dp_route {
    const char *method;
    const char *pattern;
    unsigned roles;
    unsigned flags;
    const char *audit_action;  /* e.g. "user.read" */
    const char *resource_type; /* e.g. "user" */
    dp_route_fn handler;
} dp_route;

typedef enum { DP_MATCH_OK, DP_MATCH_NOT_FOUND, DP_MATCH_METHOD } dp_match_status;

typedef struct dp_match {
    const dp_route *route;
    int nparams;
    const char *params[DP_ROUTE_MAX_PARAMS];
    const char *allow; /* for DP_MATCH_METHOD: "GET, POST" */
} dp_match;

/* The most bytes the route's body may have: its own cap (DP_ROUTE_*_BODY), never more than
 * configured (DocPortalMaxBody). */
long dp_route_body_cap(const dp_route *route, long configured);

/* Match path (already percent-decoded by httpd) against n routes. */
dp_match_status dp_route_match(apr_pool_t *p, const dp_route *table, apr_size_t n,
                               const char *method, const char *path, dp_match *m);

#endif
