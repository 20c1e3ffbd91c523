/* dp_cookie: one cookie out of a Cookie header, and the session's CSRF token. */
#include "dp_test.h"

#include "dp_cookie.h"

/* header, name, expected value (NULL: absent) */
static const struct {
    const char *header, *name, *want;
} cases[] = {
    {"dp_session=abc",                    "dp_session", "abc"    },
    {"a=1; dp_session=abc; b=2",          "dp_session", "abc"    },
    {"a=1;dp_session=abc;b=2",            "dp_session", "abc"    },
    {"  a=1 ;   dp_session = abc  ; b=2", "dp_session", "abc"    },
    {"\tdp_session=abc\t",                "dp_session", "abc"    },
    {"dp_session=\"abc\"",                "dp_session", "abc"    },
    {"dp_session=\"\"",                   "dp_session", NULL     },
    {"dp_session=\"abc",                  "dp_session", "\"abc"  },
    {"dp_session=a.b-c_d",                "dp_session", "a.b-c_d"},
    {"dp_session=x=y",                    "dp_session", "x=y"    },
    {"a=1, dp_session=abc",               "dp_session", "abc"    }, /* repeated headers joined by httpd */
    {"dp_session=one; dp_session=two",    "dp_session", "one"    },
    {"dp_session=; dp_session=two",       "dp_session", "two"    },
    {"dp_session=",                       "dp_session", NULL     },
    {"dp_session",                        "dp_session", NULL     },
    {"dp_session; x=1",                   "dp_session", NULL     },
    {"xdp_session=abc",                   "dp_session", NULL     },
    {"dp_sessionx=abc",                   "dp_session", NULL     },
    {"DP_SESSION=abc",                    "dp_session", NULL     }, /* names are case-sensitive */
    {"dp_csrf=c1; dp_session=s1",         "dp_csrf",    "c1"     },
    {"dp_csrf=c1; dp_session=s1",         "dp_session", "s1"     },
    {"=abc; dp_session=s",                "dp_session", "s"      },
    {";;; ,, dp_session=s ;;",            "dp_session", "s"      },
    {"",                                  "dp_session", NULL     },
    {"a=1; b=2",                          "dp_session", NULL     },
};

static void test_get(dp_test_env *env)
{
    char ctx[160];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(ctx, sizeof(ctx), "'%s' / %s", cases[i].header, cases[i].name);
        dp_t_context(ctx);
        CHECK_STR(dp_cookie_get(env->pool, cases[i].header, cases[i].name), cases[i].want);
    }
    dp_t_context(NULL);
    CHECK_NULL(dp_cookie_get(env->pool, NULL, "dp_session"));
    CHECK_NULL(dp_cookie_get(env->pool, "dp_session=a", ""));
    CHECK_NULL(dp_cookie_get(env->pool, "dp_session=a", NULL));
}

static void test_csrf(dp_test_env *env)
{
    static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
    const char *a = dp_cookie_csrf(env->pool, key, 32, "6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c01");
    const char *b = dp_cookie_csrf(env->pool, key, 32, "6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c02");
    static const unsigned char other[] = "0123456789abcdef0123456789abcdeX";

    /* reference values: Python's hmac.new(key, b"csrf:" + jti, sha256).hexdigest() */
    CHECK_STR(a, "a2ba37e57665b11ac5a998c7b0a219f59b60085676f6756f3bf48a8ac3000968");
    CHECK_STR(b, "c37a1d07c85af1db30fb69a942dc4eab4e6dc98211cca9f59d27da728bfe5e3c");
    CHECK(a != NULL
          && strcmp(a, dp_cookie_csrf(env->pool, other, 32, "6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c01"))
              != 0);
    CHECK_NULL(dp_cookie_csrf(env->pool, key, 32, NULL));
}

const dp_test_case dp_suite_cookie[] = {
    {"get",  test_get },
    {"csrf", test_csrf},
    {NULL,   NULL     },
};
