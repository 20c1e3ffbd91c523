/* GET /api/openapi.json: public, also over plain HTTP, not audited (a document about the API,
 * no user data). The document is the module's own, compiled in (modules/dp_openapi.h), so it
 * describes exactly the build that serves it. It changes only with the module: clients may
 * keep it and revalidate with If-None-Match (no-cache, a strong ETag, 304). */
#include "dp_handlers.h"
#include "dp_openapi.h"

#include <http_protocol.h>

dp_error *dp_openapi_get(dp_ctx *c)
{
    request_rec *r = c->r;

    /* err_headers_out: replaces the API's no-store of dp_common_headers for this answer */
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-cache");
    apr_table_setn(r->headers_out, "ETag", dp_openapi_etag);
    if (ap_meets_conditions(r) == HTTP_NOT_MODIFIED) {
        r->status = HTTP_NOT_MODIFIED;
        return NULL;
    }
    dp_reply_bytes(r, HTTP_OK, "application/json", dp_openapi_doc, dp_openapi_len);
    return NULL;
}
