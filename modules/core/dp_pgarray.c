#include "dp_pgarray.h"

#include <string.h>

const char *dp_pgarray_text(apr_pool_t *p, const char *const *vals, int n)
{
    apr_size_t len = 3; /* { } and the terminating NUL */
    char *out, *o;

    for (int i = 0; i < n; i++) {
        const char *v = vals[i];
        len += 1; /* the comma */
        if (v == NULL) {
            len += 4;
            continue;
        }
        len += 2;
        for (; *v; v++) {
            len += (*v == '"' || *v == '\\') ? 2 : 1;
        }
    }
    o = out = apr_palloc(p, len);
    *o++ = '{';
    for (int i = 0; i < n; i++) {
        const char *v = vals[i];
        if (i > 0) {
            *o++ = ',';
        }
        if (v == NULL) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (; *v; v++) {
            if (*v == '"' || *v == '\\') {
                *o++ = '\\';
            }
            *o++ = *v;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}
