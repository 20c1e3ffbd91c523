#include "dp_httpd_error.h"
#include "dp_request.h"

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>

APLOG_USE_MODULE(docportal);

/* What each status httpd raises on its own means to an API client. */
static const struct {
    int status;
    const char *code;
    const char *detail;
} known[] = {
    {400, DP_E_BAD_REQUEST,  "The request could not be read: a malformed request line or header, "
                             "or a header over the server's size limits."},
    {403, DP_E_FORBIDDEN,    "The server refused the request."},
    {404, DP_E_NOT_FOUND,    "No such endpoint."},
    {405, DP_E_METHOD,       "The method is not allowed here."},
    {408, DP_E_TIMEOUT,      "The request was not received in time."},
    {411, DP_E_BAD_REQUEST,  "The request body needs a Content-Length."},
    {413, DP_E_TOO_LARGE,    "The request body is larger than the server accepts."},
    {414, DP_E_URI_TOO_LONG, "The request URL is longer than the server accepts."},
    {417, DP_E_BAD_REQUEST,  "The server does not support the request's Expect header."},
    {431, DP_E_BAD_REQUEST,  "The request's headers are larger than the server accepts."},
    {501, DP_E_NOT_IMPLEMENTED, "The server does not support the request's method or "
                                "transfer coding."},
    {503, DP_E_UNAVAILABLE,  "The service is unavailable; try again later."},
};

int dp_httpd_error_status(request_rec *r)
{
    const char *s;
    int status;

    if (r->prev == NULL || r->uri == NULL || strcmp(r->uri, DP_HTTPD_ERROR_PATH) != 0) {
        return 0;
    }
    s = apr_table_get(r->subprocess_env, "REDIRECT_STATUS");
    status = s != NULL ? atoi(s) : r->prev->status;
    return status >= 400 && status <= 599 ? status : 0;
}

/* The failed request's path, when httpd read that far, is outside /api (the portal's pages
 * share the server-level ErrorDocument). */
static int outside_api(const request_rec *orig)
{
    const char *u = orig->uri;
    return u != NULL && u[0] == '/'
        && !(strncmp(u, "/api", 4) == 0 && (u[4] == '\0' || u[4] == '/'));
}

int dp_httpd_error_reply(request_rec *r, int status)
{
    dp_error e = {.status = status,
                  .code = status >= 500 ? DP_E_INTERNAL : DP_E_BAD_REQUEST,
                  .detail = status >= 500 ? "The server could not complete the request."
                                          : "The server refused the request."};

    if (outside_api(r->prev)) { /* not the API's: httpd's status line as plain text */
        const char *text = apr_pstrcat(r->pool, ap_get_status_line(status), "\n", NULL);
        dp_reply_bytes(r, status, "text/plain; charset=utf-8", text, strlen(text));
        return OK;
    }
    for (apr_size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (known[i].status == status) {
            e.code = known[i].code;
            e.detail = known[i].detail;
        }
    }
    /* not the URL: it may carry a calendar feed's key */
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  "DP01005: httpd refused a request with %d before the API ran; answered as JSON",
                  status);
    return dp_reply_error(r, &e);
}
