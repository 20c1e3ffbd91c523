/* dp_epoch: microsecond counts to the API's instants and local dates, checked against known
 * values and, over a spread of instants, against the C library's gmtime_r. */
#include "dp_test.h"

#include "dp_epoch.h"

#include <stdio.h>
#include <time.h>

static void test_parse(dp_test_env *env)
{
    long long v = 7;

    CHECK(dp_epoch_parse("0", &v) && v == 0);
    CHECK(dp_epoch_parse("-1", &v) && v == -1);
    CHECK(dp_epoch_parse("999999999999999999", &v) && v == 999999999999999999LL);
    CHECK(!dp_epoch_parse("1000000000000000000", &v)); /* 19 digits */
    CHECK(!dp_epoch_parse(NULL, &v));
    CHECK(!dp_epoch_parse("", &v));
    CHECK(!dp_epoch_parse("-", &v));
    CHECK(!dp_epoch_parse("12.5", &v));
    CHECK(!dp_epoch_parse(" 12", &v));
    CHECK(!dp_epoch_parse("12 ", &v));
    CHECK(!dp_epoch_parse("+12", &v));
    (void)env;
}

static void test_known(dp_test_env *env)
{
    const char *date, *time;

    CHECK_STR(dp_epoch_iso(env->pool, "0"), "1970-01-01T00:00:00.000Z");
    /* milliseconds are truncated, as to_char's MS */
    CHECK_STR(dp_epoch_iso(env->pool, "1796584915698640"), "2026-12-06T19:21:55.698Z");
    CHECK_STR(dp_epoch_iso(env->pool, "1796584915698999"), "2026-12-06T19:21:55.698Z");
    CHECK_STR(dp_epoch_iso(env->pool, "951782400000000"), "2000-02-29T00:00:00.000Z");
    CHECK_STR(dp_epoch_iso(env->pool, "4107542399999999"), "2100-02-28T23:59:59.999Z");
    CHECK_STR(dp_epoch_iso(env->pool, "4107542400000000"), "2100-03-01T00:00:00.000Z");
    /* before 1970: floor, not truncation toward zero */
    CHECK_STR(dp_epoch_iso(env->pool, "-1"), "1969-12-31T23:59:59.999Z");
    CHECK_STR(dp_epoch_iso(env->pool, "-2208988800000000"), "1900-01-01T00:00:00.000Z");
    CHECK_NULL(dp_epoch_iso(env->pool, NULL));
    CHECK_NULL(dp_epoch_iso(env->pool, "x"));
    /* the edges of four-digit years, and past them (PostgreSQL holds years to 294276) */
    CHECK_STR(dp_epoch_iso(env->pool, "253402300799999999"), "9999-12-31T23:59:59.999Z");
    CHECK_STR(dp_epoch_iso(env->pool, "253402300800000000"), "10000-01-01T00:00:00.000Z");
    CHECK_STR(dp_epoch_iso(env->pool, "-62135635980000000"), "0000-12-31T13:07:00.000Z");
    CHECK(dp_epoch_local(env->pool, "-62135635980000000", &date, &time));
    CHECK_STR(date, "0000-12-31");
    CHECK_STR(time, "13:07");
    CHECK(dp_epoch_local(env->pool, "253402300800000000", &date, &time));
    CHECK_STR(date, "10000-01-01");
    CHECK_STR(time, "00:00");

    CHECK(dp_epoch_local(env->pool, "1796634000000000", &date, &time));
    CHECK_STR(date, "2026-12-07");
    CHECK_STR(time, "09:00");
    CHECK(dp_epoch_local(env->pool, "1709164740000000", &date, &time));
    CHECK_STR(date, "2024-02-28");
    CHECK_STR(time, "23:59");
    CHECK(!dp_epoch_local(env->pool, NULL, &date, &time));
    CHECK_NULL(date);
    CHECK_NULL(time);
}

/* every 7919th minute plus an odd fraction, from 1901 to 2200, against gmtime_r */
static void test_against_libc(dp_test_env *env)
{
    const long long from = -2177452800LL, to = 7258118400LL;
    char want[64], us[24];
    int n = 0;

    for (long long s = from; s < to; s += 7919LL * 60 + 37) {
        time_t t = (time_t)s;
        struct tm tm;
        long long frac = (s * 7919) % 1000000;
        if (frac < 0) frac += 1000000;
        if (gmtime_r(&t, &tm) == NULL) continue;
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
        snprintf(us, sizeof us, "%lld", s * 1000000 + frac);
        n++;
        if (!CHECK_STR(dp_epoch_iso(env->pool, us), want)) break;
    }
    CHECK(n > 10000);
}

const dp_test_case dp_suite_epoch[] = {
    {"parse",        test_parse       },
    {"known",        test_known       },
    {"against_libc", test_against_libc},
    {NULL,           NULL             }
};
