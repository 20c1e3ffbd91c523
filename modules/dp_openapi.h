/* The OpenAPI document of the API (docs/openapi.json), embedded at build time by
 * build/gen-openapi.sh. */
#ifndef DP_OPENAPI_H
#define DP_OPENAPI_H

#include <apr.h>

extern const unsigned char dp_openapi_doc[]; /* the file's bytes, not NUL-terminated */
extern const apr_size_t dp_openapi_len;
extern const char dp_openapi_etag[]; /* quoted, as the ETag header carries it */

#endif
