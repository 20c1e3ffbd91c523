/* The unit-test runner: build/out/unit-tests CASES_DIR [SUITE[/TEST]]
 * Runs every registered test (or those matching the filter), each in its own subpool,
 * prints failing checks as file:line, then "unit: N checks, F failed"; exits 1 on failure. */
#include "dp_test.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdarg.h>
#include <stdlib.h>

static const struct {
    const char *name;
    const dp_test_case *cases;
} suites[] = {
    {"jwt",        dp_suite_jwt       },
    {"password",   dp_suite_password  },
    {"route",      dp_suite_route     },
    {"json",       dp_suite_json      },
    {"validate",   dp_suite_validate  },
    {"google",     dp_suite_google    },
    {"aead",       dp_suite_aead      },
    {"google_id",  dp_suite_google_id },
    {"stripe",     dp_suite_stripe    },
    {"cookie",     dp_suite_cookie    }, /* cookie sessions */
    {"auditchain", dp_suite_auditchain}, /* audit chain */
    {"export",     dp_suite_export    }, /* audit report: CSV and Accept */
    {"jsonw",      dp_suite_jsonw     },
    {"mail",       dp_suite_mail      },
    {"ics",        dp_suite_ics       }, /* calendar feed */
    {"pgarray",    dp_suite_pgarray   }, /* audit batches */
    {"epoch",      dp_suite_epoch     }, /* timestamps of lists */
    {"pgbin",      dp_suite_pgbin     }, /* binary results */
    {"base64",     dp_suite_base64    }, /* strict base64 decoding */
};

static long checks, failed;
static const char *cur_suite, *cur_test, *cur_ctx;

void dp_t_context(const char *ctx)
{
    cur_ctx = ctx;
}

static void report_failure(const char *file, int line, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s:%d: [%s/%s] ", file, line, cur_suite, cur_test);
    if (cur_ctx != NULL) {
        fprintf(stderr, "(%s) ", cur_ctx);
    }
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int dp_t_check(int ok, const char *file, int line, const char *fmt, ...)
{
    checks++;
    if (!ok) {
        va_list ap;
        failed++;
        va_start(ap, fmt);
        report_failure(file, line, fmt, ap);
        va_end(ap);
    }
    return ok;
}

int dp_t_check_int(long long a, long long b, int want_equal, const char *file, int line,
                   const char *ea, const char *eb)
{
    return dp_t_check((a == b) == want_equal, file, line, "CHECK_%s(%s, %s): %lld vs %lld",
                      want_equal ? "EQ" : "NE", ea, eb, a, b);
}

int dp_t_check_str(const char *a, const char *b, const char *file, int line, const char *ea,
                   const char *eb)
{
    int ok = (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
    return dp_t_check(ok, file, line, "CHECK_STR(%s, %s): \"%s\" vs \"%s\"", ea, eb,
                      a ? a : "(null)", b ? b : "(null)");
}

static int selected(const char *filter, const char *suite, const char *test)
{
    apr_size_t n;
    if (filter == NULL) {
        return 1;
    }
    n = strlen(suite);
    if (strncmp(filter, suite, n) != 0) {
        return 0;
    }
    if (filter[n] == '\0') {
        return 1;
    }
    return filter[n] == '/' && strcmp(filter + n + 1, test) == 0;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *root;
    dp_test_env env;
    const char *filter = argc > 2 ? argv[2] : NULL;
    int ran = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s CASES_DIR [SUITE[/TEST]]\n", argv[0]);
        return 2;
    }
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&root, NULL) != APR_SUCCESS) {
        fprintf(stderr, "unit: cannot initialise APR\n");
        return 2;
    }
    env.cases_dir = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep summaries and failures (stderr) in order */

    for (apr_size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        long c0 = checks, f0 = failed;
        int tests = 0;

        cur_suite = suites[s].name;
        for (const dp_test_case *t = suites[s].cases; t->name != NULL; t++) {
            if (!selected(filter, cur_suite, t->name)) {
                continue;
            }
            cur_test = t->name;
            cur_ctx = NULL;
            if (apr_pool_create(&env.pool, root) != APR_SUCCESS) {
                fprintf(stderr, "unit: cannot create a pool\n");
                return 2;
            }
            t->fn(&env);
            apr_pool_destroy(env.pool);
            tests++;
        }
        if (tests > 0) {
            printf("%-9s %3d tests, %5ld checks, %ld failed\n", cur_suite, tests, checks - c0,
                   failed - f0);
            ran += tests;
        }
    }
    apr_pool_destroy(root);
    apr_terminate();

    if (ran == 0) {
        fprintf(stderr, "unit: no test matches \"%s\"\n", filter ? filter : "");
        return 2;
    }
    printf("unit: %ld checks, %ld failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
