/* dp_http: the module's one outbound HTTP client (libcurl), for Stripe and Google.
 *
 * Deliberately small and strict: http and https only, redirects never followed, TLS peers and
 * host names always verified, a hard time limit, and a cap on the response size (the transfer
 * is aborted beyond it). Every transport failure becomes one dp_error (502 upstream_error)
 * whose detail names the host and the kind of failure, never the URL's path, query or
 * credentials, nor any header or body.
 *
 * Process set-up is the caller's job: curl_global_init(CURL_GLOBAL_DEFAULT) must have run
 * once, before any thread calls dp_http_do (the module does it in post_config, before the
 * children exist; the unit tests in main). It is not thread-safe and so is not done here.
 *
 * Pure C (APR + libcurl), no httpd headers. */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "dp_error.h"

#define DP_HTTP_DEFAULT_TIMEOUT_MS   10000L
#define DP_HTTP_DEFAULT_MAX_RESPONSE (1024 * 1024)
#define DP_HTTP_MAX_RESPONSE_LIMIT   (256 * 1024 * 1024) /* a larger max_response is cut to this */

typedef struct dp_http_req {
    const char *method;         /* "GET", "POST", "PUT", "PATCH", "DELETE"; NULL = GET */
    const char *url;            /* http:// or https:// only */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* request body, or NULL */
    apr_size_t body_len;
    long timeout_ms;         /* whole transfer; <= 0: DP_HTTP_DEFAULT_TIMEOUT_MS */
    apr_size_t max_response; /* body cap in bytes; 0: DP_HTTP_DEFAULT_MAX_RESPONSE */
} dp_http_req;

typedef struct dp_http_resp {
    int status;           /* HTTP status of the answer (any: 2xx or not) */
    char *body;           /* pool memory, always NUL-terminated ("" when empty) */
    apr_size_t len;       /* bytes in body, without the NUL */
    apr_table_t *headers; /* the answer's header fields in p (names case-insensitive,
                                     * values trimmed; of the final answer, not of a 1xx);
                                     * never NULL, empty when no answer arrived */
} dp_http_resp;

#define DP_HTTP_HAS_RESP_HEADERS 1           /* dp_http_resp.headers exists */
#define DP_HTTP_MAX_HEADER_BYTES (64 * 1024) /* header lines beyond this are not kept */

/* Perform one request. Returns NULL when an HTTP answer arrived, whatever its status (the
 * caller judges 4xx/5xx); *resp then holds it. Returns a 502 upstream_error when no complete
 * answer arrived (refused, DNS, TLS verification, timeout, protocol not allowed, response
 * over the cap); *resp is then zeroed with body "". A malformed request (no URL, a header
 * with CR/LF) is a 500 internal_error. All curl resources are released before returning. */
dp_error *dp_http_do(apr_pool_t *p, const dp_http_req *req, dp_http_resp *resp);

#endif
