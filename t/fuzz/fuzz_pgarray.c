/* dp_pgarray_text: the literal reads back, element by element, as the values given (NULL as
 * SQL NULL), the way PostgreSQL's array input reads quoted elements. Input: one byte whose
 * bits mark the NULL values, then up to 8 values separated by NUL bytes. */
#include "fuzz.h"

#include "dp_pgarray.h"

#define NVALS 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    const char *vals[NVALS];
    unsigned mask = size > 0 ? data[0] : 0;
    const char *lit, *s;
    int n = 1;

    fz_split(p, size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0, NVALS, vals, NULL);
    for (size_t i = 1; i < size; i++) {
        n += data[i] == 0 && n < NVALS;
    }
    for (int i = 0; i < n; i++) {
        if (mask & (1u << i)) vals[i] = NULL;
    }
    lit = dp_pgarray_text(p, vals, n);
    s = lit;
    FZ_ASSERT(*s++ == '{');
    for (int i = 0; i < n; i++) {
        if (i > 0) FZ_ASSERT(*s++ == ',');
        if (vals[i] == NULL) {
            FZ_ASSERT(strncmp(s, "NULL", 4) == 0);
            s += 4;
            continue;
        }
        FZ_ASSERT(*s++ == '"');
        for (const char *v = vals[i]; *v; v++) {
            if (*s == '\\')
                s++;
            else
                FZ_ASSERT(*s != '"' && *s != '\\');
            FZ_ASSERT(*s++ == *v);
        }
        FZ_ASSERT(*s++ == '"');
    }
    FZ_ASSERT(s[0] == '}' && s[1] == '\0');
    fz_end(p);
    return 0;
}
