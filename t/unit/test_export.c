/* What the audit report's export needs: CSV records (dp_csv) and Accept negotiation
 * (dp_accept). */
#include "dp_test.h"

#include "dp_accept.h"
#include "dp_csv.h"

static const char *record(apr_pool_t *p, const char *const *cells, int n)
{
    apr_size_t len;
    const char *r = dp_csv_record(p, cells, n, &len);
    CHECK_EQ(len, strlen(r));
    return r;
}

static void test_csv_plain(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *cells[] = {"id", "at", "2024-05-01T10:00:00.000Z", "127.0.0.1", "::1"};

    CHECK_STR(record(p, cells, 5), "id,at,2024-05-01T10:00:00.000Z,127.0.0.1,::1\r\n");
    CHECK_STR(record(p, cells, 1), "id\r\n");
    CHECK_STR(record(p, cells, 0), "\r\n");
}

static void test_csv_null_and_empty(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *cells[] = {NULL, "a", "", NULL};

    CHECK_STR(record(p, cells, 4), ",a,,\r\n");
}

static void test_csv_quoting(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *comma[] = {"a,b", "c"};
    const char *quote[] = {"say \"hi\"", "\""};
    const char *lines[] = {"one\ntwo", "one\r\ntwo", "x"};

    CHECK_STR(record(p, comma, 2), "\"a,b\",c\r\n");
    CHECK_STR(record(p, quote, 2), "\"say \"\"hi\"\"\",\"\"\"\"\r\n");
    CHECK_STR(record(p, lines, 3), "\"one\ntwo\",\"one\r\ntwo\",x\r\n");
}

static void test_csv_formulas(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *f[] = {"=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "a=b", "'quoted"};
    const char *both[] = {"=HYPERLINK(\"http://x\",\"y\")", "-a,b", "\r\n"};

    CHECK_STR(record(p, f, 8), "'=1+2,'+1,'-1,'@SUM(A1),'\tx,\"'\rx\",a=b,'quoted\r\n");
    /* neutralised first, then quoted: the apostrophe sits inside the quotes */
    CHECK_STR(record(p, both, 3),
              "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"'-a,b\",\"'\r\n\"\r\n");
}

static void test_csv_utf8(dp_test_env *env)
{
    const char *cells[] = {"Jos\xc3\xa9",
                           "\xe2\x82\xac"
                           "5"};
    CHECK_STR(record(env->pool, cells, 2),
              "Jos\xc3\xa9,\xe2\x82\xac"
              "5\r\n");
}

static void test_accept_absent(dp_test_env *env)
{
    (void)env;
    CHECK_EQ(dp_accept_quality(NULL, "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("  ", "application/json"), 1000);
}

static void test_accept_ranges(dp_test_env *env)
{
    (void)env;
    CHECK_EQ(dp_accept_quality("text/csv", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("text/csv", "application/json"), 0);
    CHECK_EQ(dp_accept_quality("TEXT/CSV", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("text/*", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("text/*", "application/json"), 0);
    CHECK_EQ(dp_accept_quality("*/*", "application/json"), 1000);
    CHECK_EQ(dp_accept_quality("text/csvx", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/cs", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("*/csv", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/html, application/xhtml+xml", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv; charset=utf-8", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("text/csv;header=present;q=0.4", "text/csv"), 400);
}

static void test_accept_q(dp_test_env *env)
{
    (void)env;
    CHECK_EQ(dp_accept_quality("text/csv;q=0.5", "text/csv"), 500);
    CHECK_EQ(dp_accept_quality("text/csv ; q=0.25 ", "text/csv"), 250);
    CHECK_EQ(dp_accept_quality("text/csv;Q=0.125", "text/csv"), 125);
    CHECK_EQ(dp_accept_quality("text/csv;q=1", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("text/csv;q=1.000", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("text/csv;q=0", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;q=0.", "text/csv"), 0);
    /* malformed q: the element is skipped */
    CHECK_EQ(dp_accept_quality("text/csv;q=1.5", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;q=0.1234", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;q=abc", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;q", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;q=2, */*;q=0.1", "text/csv"), 100);
}

static void test_accept_specific_wins(dp_test_env *env)
{
    (void)env;
    /* the most specific match decides, even with a lower q */
    CHECK_EQ(dp_accept_quality("*/*, text/csv;q=0", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/*;q=0.9, text/csv;q=0.2", "text/csv"), 200);
    CHECK_EQ(dp_accept_quality("text/csv;q=0.2, */*;q=0.9", "text/csv"), 200);
    CHECK_EQ(dp_accept_quality("text/csv;q=0.2, */*;q=0.9", "application/json"), 900);
    CHECK_EQ(dp_accept_quality("application/json;q=0.5, text/csv", "application/json"), 500);
    CHECK_EQ(dp_accept_quality("application/*;q=0.3,*/*;q=0.1", "application/json"), 300);
    /* a repeated range: the higher q */
    CHECK_EQ(dp_accept_quality("text/csv;q=0.3, text/csv;q=0.6", "text/csv"), 600);
}

static void test_accept_junk(dp_test_env *env)
{
    (void)env;
    CHECK_EQ(dp_accept_quality(",,, ,", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("garbage, text/csv", "text/csv"), 1000);
    CHECK_EQ(dp_accept_quality("/, text/, /csv", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;", "text/csv"), 0);
    CHECK_EQ(dp_accept_quality("text/csv;=1", "text/csv"), 1000);
}

const dp_test_case dp_suite_export[] = {
    {"csv_plain",            test_csv_plain           },
    {"csv_null_and_empty",   test_csv_null_and_empty  },
    {"csv_quoting",          test_csv_quoting         },
    {"csv_formulas",         test_csv_formulas        },
    {"csv_utf8",             test_csv_utf8            },
    {"accept_absent",        test_accept_absent       },
    {"accept_ranges",        test_accept_ranges       },
    {"accept_q",             test_accept_q            },
    {"accept_specific_wins", test_accept_specific_wins},
    {"accept_junk",          test_accept_junk         },
    {NULL,                   NULL                     },
};
