#include "dp_csv.h"

#include <string.h>

static int formula_lead(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

static int needs_quotes(const char *s)
{
    return strpbrk(s, ",\"\r\n") != NULL;
}

/* bytes the cell takes in the record */
static apr_size_t cell_len(const char *s)
{
    apr_size_t n = strlen(s) + (formula_lead(*s) ? 1 : 0);
    if (needs_quotes(s)) {
        n += 2;
        for (const char *q = strchr(s, '"'); q != NULL; q = strchr(q + 1, '"')) {
            n++;
        }
    }
    return n;
}

static char *put_cell(char *out, const char *s)
{
    int quoted = needs_quotes(s);
    if (quoted) {
        *out++ = '"';
    }
    if (formula_lead(*s)) {
        *out++ = '\'';
    }
    for (; *s; s++) {
        if (*s == '"') {
            *out++ = '"';
        }
        *out++ = *s;
    }
    if (quoted) {
        *out++ = '"';
    }
    return out;
}

const char *dp_csv_record(apr_pool_t *p, const char *const *cells, int n, apr_size_t *len)
{
    apr_size_t total = 2; /* CRLF */
    char *buf, *out;

    for (int i = 0; i < n; i++) {
        total += (i > 0 ? 1 : 0) + (cells[i] ? cell_len(cells[i]) : 0);
    }
    out = buf = apr_palloc(p, total + 1);
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            *out++ = ',';
        }
        if (cells[i] != NULL) {
            out = put_cell(out, cells[i]);
        }
    }
    *out++ = '\r';
    *out++ = '\n';
    *out = '\0';
    *len = total;
    return buf;
}
