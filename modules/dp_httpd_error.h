/* dp_httpd_error: httpd's own errors under /api as the API's JSON error.
 *
 * Some requests fail in httpd before the module's handler runs (a header over
 * LimitRequestFieldSize, too many headers, an unknown Transfer-Encoding, an Expect httpd does
 * not know, a body over LimitRequestBody that httpd itself refuses, ...). httpd then answers
 * its HTML error page, unless an `ErrorDocument <status> /api/.error` sends the failed request,
 * as an internal redirect, to this path: the handler answers the JSON error shape
 * ({"detail","code"}) with the original status (httpd's REDIRECT_STATUS), the API's usual
 * headers, and no audit event (no route ran, nobody was identified). httpd raises most of
 * these errors before it reads any per-directory configuration, so the ErrorDocument lines
 * sit at server or virtual-host level and also catch requests for the portal's pages: a
 * failed request whose path httpd read and which is outside /api gets httpd's status line as
 * plain text instead. Reached directly (no internal redirect of an error), the path is an
 * unknown endpoint like any other: 404. */
#ifndef DP_HTTPD_ERROR_H
#define DP_HTTPD_ERROR_H

#include <httpd.h>

#define DP_HTTPD_ERROR_PATH "/api/.error"

/* The original status when r is httpd's internal redirect of an error to
 * DP_HTTPD_ERROR_PATH, else 0. */
int dp_httpd_error_status(request_rec *r);

/* Answer status (from dp_httpd_error_status) as the JSON error; returns OK. */
int dp_httpd_error_reply(request_rec *r, int status);

#endif
