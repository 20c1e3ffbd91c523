/* dp_route: matching against a small table shaped like the module's own. */
#include "dp_test.h"

#include "dp_route.h"

#include <apr_strings.h>

static const dp_route table[] = {
    {"GET",   "/api/health",                DP_ROLE_PUBLIC, DP_ROUTE_NO_AUDIT | DP_ROUTE_PLAIN_HTTP, NULL,                 NULL,
     NULL                                                                                                                                     },
    {"POST",  "/api/auth/login",            DP_ROLE_PUBLIC, DP_ROUTE_BODY,                           "auth.login",         "user",        NULL},
    {"GET",   "/api/appointments/:id",      DP_ROLE_ANY,    0,                                       "appointment.read",   "appointment", NULL},
    {"PATCH", "/api/appointments/:id",      DP_ROLE_ANY,    DP_ROUTE_BODY,                           "appointment.update",
     "appointment",                                                                                                                       NULL},
    {"POST",  "/api/appointments/:id/join", DP_ROLE_ANY,    0,                                       "appointment.join",   "appointment", NULL},
};
#define N (sizeof(table) / sizeof(table[0]))

static dp_match_status match(apr_pool_t *p, const char *method, const char *path, dp_match *m)
{
    return dp_route_match(p, table, N, method, path, m);
}

static void test_matches(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_match m;

    CHECK_EQ(match(p, "GET", "/api/health", &m), DP_MATCH_OK);
    CHECK(m.route == &table[0]);
    CHECK_EQ(m.nparams, 0);
    CHECK_NULL(m.allow);

    CHECK_EQ(match(p, "POST", "/api/auth/login", &m), DP_MATCH_OK);
    CHECK(m.route == &table[1]);
    CHECK_EQ(m.nparams, 0);

    CHECK_EQ(match(p, "GET", "/api/appointments/8d3c0a5e-1f2b-4c3d-9e4f-5a6b7c8d9e0f", &m),
             DP_MATCH_OK);
    CHECK(m.route == &table[2]);
    CHECK_EQ(m.nparams, 1);
    CHECK_STR(m.params[0], "8d3c0a5e-1f2b-4c3d-9e4f-5a6b7c8d9e0f");

    CHECK_EQ(match(p, "PATCH", "/api/appointments/42", &m), DP_MATCH_OK);
    CHECK(m.route == &table[3]);
    CHECK_EQ(m.nparams, 1);
    CHECK_STR(m.params[0], "42");
    CHECK_EQ(m.route->flags & DP_ROUTE_BODY, DP_ROUTE_BODY);

    CHECK_EQ(match(p, "POST", "/api/appointments/x/join", &m), DP_MATCH_OK);
    CHECK(m.route == &table[4]);
    CHECK_EQ(m.nparams, 1);
    CHECK_STR(m.params[0], "x");

    /* A parameter takes any non-empty segment, dots and all (httpd already decoded it). */
    CHECK_EQ(match(p, "GET", "/api/appointments/..", &m), DP_MATCH_OK);
    CHECK_STR(m.params[0], "..");
    CHECK_EQ(match(p, "GET", "/api/appointments/a b%", &m), DP_MATCH_OK);
    CHECK_STR(m.params[0], "a b%");
}

static void test_params_are_copies(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    char *path = apr_pstrdup(p, "/api/appointments/abc/join");
    dp_match m;

    CHECK_EQ(match(p, "POST", path, &m), DP_MATCH_OK);
    memset(path, 'z', strlen(path));
    CHECK_STR(m.params[0], "abc");
}

static void test_not_found(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *paths[] = {
        "/api/nope",
        "/api/healthz",
        "/api/healt",
        "/api/health/", /* trailing slash */
        "/api/health//",
        "//api/health", /* empty segment */
        "/api//health",
        "/api/appointments",
        "/api/appointments/",      /* empty parameter */
        "/api/appointments//join", /* empty parameter before a literal */
        "/api/appointments/x/join/",
        "/api/appointments/x//join",
        "/api/appointments/x/y",
        "/api/appointments/x/joinx",
        "/api/appointments/x/jo",
        "/API/health",
        "api/health",
        "/",
        "",
    };
    dp_match m;

    for (apr_size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        dp_match_status st = match(p, "GET", paths[i], &m);
        CHECK_MSG(st == DP_MATCH_NOT_FOUND, "GET \"%s\": got %d", paths[i], (int)st);
        CHECK_MSG(m.route == NULL && m.allow == NULL && m.nparams == 0,
                  "GET \"%s\": match not cleared", paths[i]);
        /* Whatever the method. */
        st = match(p, "POST", paths[i], &m);
        CHECK_MSG(st == DP_MATCH_NOT_FOUND, "POST \"%s\": got %d", paths[i], (int)st);
    }
    CHECK_EQ(dp_route_match(p, table, 0, "GET", "/api/health", &m), DP_MATCH_NOT_FOUND);
}

static void test_method(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_match m;

    CHECK_EQ(match(p, "DELETE", "/api/appointments/42", &m), DP_MATCH_METHOD);
    CHECK_STR(m.allow, "GET, PATCH");
    CHECK_NULL(m.route);

    CHECK_EQ(match(p, "POST", "/api/appointments/42", &m), DP_MATCH_METHOD);
    CHECK_STR(m.allow, "GET, PATCH");

    CHECK_EQ(match(p, "GET", "/api/appointments/42/join", &m), DP_MATCH_METHOD);
    CHECK_STR(m.allow, "POST");

    CHECK_EQ(match(p, "GET", "/api/auth/login", &m), DP_MATCH_METHOD);
    CHECK_STR(m.allow, "POST");

    CHECK_EQ(match(p, "POST", "/api/health", &m), DP_MATCH_METHOD);
    CHECK_STR(m.allow, "GET");

    /* Methods are case-sensitive tokens. */
    CHECK_EQ(match(p, "get", "/api/health", &m), DP_MATCH_METHOD);
    CHECK_STR(m.allow, "GET");
    CHECK_EQ(match(p, "HEAD", "/api/health", &m), DP_MATCH_METHOD);
}

static void test_param_limit(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const dp_route many[] = {
        {"GET", "/:a/:b/:c/:d",      DP_ROLE_PUBLIC, 0, NULL, NULL, NULL},
        {"GET", "/x/:a/:b/:c/:d/:e", DP_ROLE_PUBLIC, 0, NULL, NULL, NULL},
    };
    dp_match m;

    CHECK_EQ(dp_route_match(p, many, 2, "GET", "/1/2/3/4", &m), DP_MATCH_OK);
    CHECK_EQ(m.nparams, DP_ROUTE_MAX_PARAMS);
    CHECK_STR(m.params[0], "1");
    CHECK_STR(m.params[3], "4");
    /* A fifth parameter cannot be captured: the pattern never matches. */
    CHECK_EQ(dp_route_match(p, many, 2, "GET", "/x/1/2/3/4/5", &m), DP_MATCH_NOT_FOUND);
}

static void test_body_cap(dp_test_env *env)
{
    const dp_route plain = {"POST", "/a", DP_ROLE_PUBLIC, DP_ROUTE_BODY, NULL, NULL, NULL};
    const dp_route small = {"POST", "/b", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY, NULL,
                            NULL,   NULL};
    const dp_route profile = {
        "POST", "/c", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_PROFILE_BODY, NULL, NULL, NULL};
    const dp_route event = {
        "POST", "/d", DP_ROLE_PUBLIC, DP_ROUTE_RAW_BODY | DP_ROUTE_EVENT_BODY, NULL, NULL, NULL};

    (void)env;
    /* without a cap of its own: the configured one */
    CHECK_EQ(dp_route_body_cap(&plain, 1048576), 1048576);
    CHECK_EQ(dp_route_body_cap(&plain, 2048), 2048);
    /* its own cap, below the configured one */
    CHECK_EQ(dp_route_body_cap(&small, 1048576), DP_ROUTE_SMALL_BODY_MAX);
    CHECK_EQ(dp_route_body_cap(&profile, 1048576), DP_ROUTE_PROFILE_BODY_MAX);
    CHECK_EQ(dp_route_body_cap(&event, 1048576), DP_ROUTE_EVENT_BODY_MAX);
    CHECK_EQ(dp_route_body_cap(&event, 64L * 1024 * 1024), DP_ROUTE_EVENT_BODY_MAX);
    /* the configured maximum stays the ceiling */
    CHECK_EQ(dp_route_body_cap(&small, 4096), 4096);
    CHECK_EQ(dp_route_body_cap(&event, 100000), 100000);
}

const dp_test_case dp_suite_route[] = {
    {"matches",           test_matches          },
    {"params_are_copies", test_params_are_copies},
    {"not_found",         test_not_found        },
    {"method",            test_method           },
    {"param_limit",       test_param_limit      },
    {"body_cap",          test_body_cap         },
    {NULL,                NULL                  },
};
