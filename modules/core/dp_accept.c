#include "dp_accept.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <string.h>

/* A piece of the header: [s, s + n). */
typedef struct span {
    const char *s;
    apr_size_t n;
} span;

static span trim(span x)
{
    while (x.n > 0 && (x.s[0] == ' ' || x.s[0] == '\t')) {
        x.s++;
        x.n--;
    }
    while (x.n > 0 && (x.s[x.n - 1] == ' ' || x.s[x.n - 1] == '\t')) {
        x.n--;
    }
    return x;
}

/* Split x at the first c: *head is what comes before it, the result what comes after
 * (n == 0 and s == NULL when there is no c). */
static span split(span x, char c, span *head)
{
    span rest = {NULL, 0};
    apr_size_t i = 0;
    while (i < x.n && x.s[i] != c) {
        i++;
    }
    head->s = x.s;
    head->n = i;
    if (i < x.n) {
        rest.s = x.s + i + 1;
        rest.n = x.n - i - 1;
    }
    return rest;
}

/* qvalue = "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], as 0..1000; -1 when malformed */
static int qvalue(span v)
{
    int q, scale = 100;

    if (v.n == 0 || v.n > 5 || (v.s[0] != '0' && v.s[0] != '1') || (v.n > 1 && v.s[1] != '.')) {
        return -1;
    }
    q = (v.s[0] - '0') * 1000;
    for (apr_size_t i = 2; i < v.n; i++, scale /= 10) {
        if (!apr_isdigit(v.s[i])) {
            return -1;
        }
        q += (v.s[i] - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

static int same(span a, const char *b, apr_size_t n)
{
    return a.n == n && strncasecmp(a.s, b, n) == 0;
}

/* 2: type/subtype matches, 1: type/ *, 0: * / *, -1: no match (or not a media range) */
static int specificity(span range, const char *type)
{
    const char *tslash = strchr(type, '/');
    span main_type, sub;

    sub = split(range, '/', &main_type);
    if (sub.s == NULL || main_type.n == 0 || sub.n == 0 || tslash == NULL) {
        return -1;
    }
    if (same(main_type, "*", 1) && same(sub, "*", 1)) {
        return 0;
    }
    if (!same(main_type, type, (apr_size_t)(tslash - type))) {
        return -1;
    }
    if (same(sub, "*", 1)) {
        return 1;
    }
    return same(sub, tslash + 1, strlen(tslash + 1)) ? 2 : -1;
}

/* The q among the parameters "name=value;name=value": 1000 when absent, -1 when malformed. */
static int params_q(span params)
{
    int q = 1000;
    while (params.s != NULL) {
        span param, name, value;
        params = split(params, ';', &param);
        value = split(param, '=', &name);
        name = trim(name);
        if (value.s == NULL) {
            return -1;
        }
        if (same(name, "q", 1) && (q = qvalue(trim(value))) < 0) {
            return -1;
        }
    }
    return q;
}

int dp_accept_quality(const char *accept, const char *type)
{
    int best_spec = -1, best_q = 0;
    span rest;

    if (accept == NULL || trim((span){accept, strlen(accept)}).n == 0) {
        return 1000;
    }
    rest.s = accept;
    rest.n = strlen(accept);
    while (rest.s != NULL) {
        span element, range, params;
        int spec, q;

        rest = split(rest, ',', &element);
        params = split(element, ';', &range);
        spec = specificity(trim(range), type);
        q = params.s != NULL ? params_q(params) : 1000;
        if (spec >= 0 && q >= 0 && (spec > best_spec || (spec == best_spec && q > best_q))) {
            best_spec = spec;
            best_q = q;
        }
    }
    return best_spec >= 0 ? best_q : 0;
}
