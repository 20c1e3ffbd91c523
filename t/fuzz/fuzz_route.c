/* dp_route_match, on every request's method and path (percent-decoded by httpd, so any byte
 * but NUL). The table holds the shapes of the module's routes (literal segments, one and two
 * parameters, a method shared by a literal and a parameter route). Input: "method" NUL
 * "path". Properties: a match names a route of that method with its parameter count, each
 * parameter one non-empty segment; a 405 names the methods allowed. */
#include "fuzz.h"

#include "dp_route.h"

static const dp_route table[] = {
    {"GET",    "/api/health",                                      0, 0, NULL, NULL, NULL},
    {"POST",   "/api/auth/login",                                  0, 0, NULL, NULL, NULL},
    {"GET",    "/api/appointments/:id",                            0, 0, NULL, NULL, NULL},
    {"PATCH",  "/api/appointments/:id",                            0, 0, NULL, NULL, NULL},
    {"POST",   "/api/appointments/:id/join",                       0, 0, NULL, NULL, NULL},
    {"GET",    "/api/provider/available-slots/:date",              0, 0, NULL, NULL, NULL},
    {"POST",   "/api/provider/clinical-notes/:appointmentId/sign", 0, 0, NULL, NULL, NULL},
    {"DELETE", "/api/provider/time-off/:id",                       0, 0, NULL, NULL, NULL},
    {"GET",    "/api/calendar/:token",                             0, 0, NULL, NULL, NULL},
    {"GET",    "/api/a/:b/:c/:d/:e",                               0, 0, NULL, NULL, NULL},
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

static int count_params(const char *pattern)
{
    int n = 0;
    for (const char *c = pattern; *c; c++) {
        n += *c == ':';
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    const char *parts[2];
    dp_match m;

    fz_split(p, data, size, 2, parts, NULL);
    switch (dp_route_match(p, table, NROUTES, parts[0], parts[1], &m)) {
    case DP_MATCH_OK:
        FZ_ASSERT(m.route != NULL && strcmp(m.route->method, parts[0]) == 0);
        FZ_ASSERT(m.nparams == count_params(m.route->pattern));
        for (int i = 0; i < m.nparams; i++) {
            FZ_ASSERT(m.params[i][0] != '\0' && strchr(m.params[i], '/') == NULL);
        }
        break;
    case DP_MATCH_METHOD: FZ_ASSERT(m.route == NULL && m.allow != NULL); break;
    case DP_MATCH_NOT_FOUND: FZ_ASSERT(m.route == NULL && m.allow == NULL); break;
    }
    fz_end(p);
    return 0;
}
