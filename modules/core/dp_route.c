#include "dp_route.h"

#include <apr_strings.h>
#include <string.h>

/* Compare one pattern to a path, capturing ":param" segments. Returns 1 on match. */
static int pattern_match(apr_pool_t *p, const char *pat, const char *path, dp_match *m)
{
    int np = 0;

    while (*pat != '\0' && *path != '\0') {
        if (*pat == ':') {
            const char *seg_end = strchr(path, '/');
            apr_size_t seg_len = seg_end ? (apr_size_t)(seg_end - path) : strlen(path);
            const char *pat_end = strchr(pat, '/');

            if (seg_len == 0 || np == DP_ROUTE_MAX_PARAMS) {
                return 0;
            }
            if (m != NULL) {
                m->params[np] = apr_pstrmemdup(p, path, seg_len);
            }
            np++;
            path += seg_len;
            pat = pat_end ? pat_end : pat + strlen(pat);
            continue;
        }
        if (*pat != *path) {
            return 0;
        }
        pat++;
        path++;
    }
    if (*pat != '\0' || *path != '\0') {
        return 0;
    }
    if (m != NULL) {
        m->nparams = np;
    }
    return 1;
}

dp_match_status dp_route_match(apr_pool_t *p, const dp_route *table, apr_size_t n,
                               const char *method, const char *path, dp_match *m)
{
    const char *allow = NULL;

    memset(m, 0, sizeof(*m));
    for (apr_size_t i = 0; i < n; i++) {
        if (!pattern_match(p, table[i].pattern, path, NULL)) {
            continue;
        }
        if (strcmp(table[i].method, method) == 0) {
            pattern_match(p, table[i].pattern, path, m);
            m->route = &table[i];
            return DP_MATCH_OK;
        }
        allow = allow ? apr_pstrcat(p, allow, ", ", table[i].method, NULL) : table[i].method;
    }
    if (allow != NULL) {
        m->allow = allow;
        return DP_MATCH_METHOD;
    }
    return DP_MATCH_NOT_FOUND;
}

long dp_route_body_cap(const dp_route *route, long configured)
{
    long own = configured;

    if (route->flags & DP_ROUTE_SMALL_BODY) {
        own = DP_ROUTE_SMALL_BODY_MAX;
    }
    else if (route->flags & DP_ROUTE_PROFILE_BODY) {
        own = DP_ROUTE_PROFILE_BODY_MAX;
    }
    else if (route->flags & DP_ROUTE_EVENT_BODY) {
        own = DP_ROUTE_EVENT_BODY_MAX;
    }
    return own < configured ? own : configured;
}
