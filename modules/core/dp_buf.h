/* dp_buf: growing a buffer in an APR pool, for the writers that build an answer in one piece
 * (dp_jsonw, dp_ics). Pure C, no httpd headers. */
#ifndef DP_BUF_H
#define DP_BUF_H

#include <apr_pools.h>

/* Make room for n more bytes after len, and a final NUL: when *cap is too small, *buf moves
 * to a block of p at least twice as large (the old one stays with the pool). */
void dp_buf_reserve(apr_pool_t *p, char **buf, apr_size_t len, apr_size_t *cap, apr_size_t n);

#endif
