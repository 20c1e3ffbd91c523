#include "dp_buf.h"

#include <string.h>

void dp_buf_reserve(apr_pool_t *p, char **buf, apr_size_t len, apr_size_t *cap, apr_size_t n)
{
    apr_size_t want = len + n + 1, c;
    char *grown;

    if (want <= *cap) {
        return;
    }
    c = *cap * 2;
    while (c < want) {
        c *= 2;
    }
    grown = apr_palloc(p, c);
    memcpy(grown, *buf, len);
    *buf = grown;
    *cap = c;
}
