/* dp_jsonw: the streaming writer prints byte for byte what dp_json_dump prints for the same
 * values (the list endpoints switched from jansson trees to it and their answers must not
 * change), and refuses documents that are not well nested. */
#include "dp_test.h"

#include "dp_json.h"
#include "dp_jsonw.h"

#include <apr_strings.h>

/* {"k": s} through jansson and through the writer. */
static void same_string(apr_pool_t *p, const char *s)
{
    json_t *o = dp_json_own(p, json_object());
    dp_jw *w = dp_jw_make(p, 8);
    const char *want, *got;

    dp_json_set_str(o, "k", s);
    want = dp_json_dump(p, o, NULL);
    dp_jw_object(w);
    dp_jw_kstr(w, "k", s);
    dp_jw_end(w);
    got = dp_jw_finish(w, NULL);
    CHECK_MSG(got != NULL && strcmp(want, got) == 0, "string %s: jansson %s, writer %s",
              s ? s : "(null)", want, got ? got : "(null)");
}

static void test_strings(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *samples[] = {
        "",
        "plain",
        "quote \" and backslash \\ and slash /",
        "tab\tnew\nline\rcr",
        "\b\f",
        "caf\xc3\xa9",
        "\xe2\x82\xac 5",
        "\xf0\x9f\x99\x82 smile",
        "\x7f del",
        "Noa \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
        "a\"b\"c",
        "\\\\",
        NULL,
    };
    char one[2] = {0, 0}, all[128];

    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        same_string(p, samples[i]);
    }
    for (int b = 1; b < 128; b++) { /* every ASCII byte alone */
        one[0] = (char)b;
        same_string(p, one);
        all[b - 1] = (char)b;
    }
    all[127] = '\0';
    same_string(p, all);
}

static const char *write_one(apr_pool_t *p, const char *s)
{
    dp_jw *w = dp_jw_make(p, 8);
    dp_jw_array(w);
    dp_jw_str(w, s);
    dp_jw_end(w);
    return dp_jw_finish(w, NULL);
}

static void test_invalid_utf8(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\xff"
         "b",       "[\"a\xef\xbf\xbd"
         "b\"]"                                    }, /* never in UTF-8 */
        {"\xc0\x80",         "[\"\xef\xbf\xbd\xef\xbf\xbd\"]"            }, /* overlong NUL */
        {"\xed\xa0\x80",     "[\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"]"}, /* surrogate */
        {"x\xe2\x82",        "[\"x\xef\xbf\xbd\xef\xbf\xbd\"]"           }, /* cut short */
        {"\xf4\x90\x80\x80",
         "[\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"]"        }, /* > U+10FFFF */
        {"\x80",             "[\"\xef\xbf\xbd\"]"                        }, /* lone continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = write_one(p, cases[i].in);
        json_error_t err;
        json_t *back;
        CHECK_STR(got, cases[i].out);
        back = got ? json_loads(got, 0, &err) : NULL; /* and it is JSON jansson reads */
        CHECK_NOT_NULL(back);
        json_decref(back);
    }
}

static void test_money(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long samples[] = {0,   1,    5,      10,       99,        100,
                           101, 110,  14999,  15000,    15050,     -1,
                           -50, -100, -12345, 99999999, 100000000, 123456789012LL};

    for (long long cents = -300; cents <= 100000; cents += 7) {
        apr_pool_t *sub;
        apr_pool_create(&sub, p);
        {
            json_t *o = dp_json_own(sub, json_object());
            dp_jw *w = dp_jw_make(sub, 8);
            const char *want, *got;
            dp_json_set_money(o, "m", cents, 1);
            want = dp_json_dump(sub, o, NULL);
            dp_jw_object(w);
            dp_jw_key(w, "m");
            dp_jw_money(w, cents, 1);
            dp_jw_end(w);
            got = dp_jw_finish(w, NULL);
            if (!CHECK_MSG(got != NULL && strcmp(want, got) == 0, "%lld cents: %s vs %s", cents,
                           want, got ? got : "(null)")) {
                apr_pool_destroy(sub);
                break;
            }
        }
        apr_pool_destroy(sub);
    }
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        json_t *o = dp_json_own(p, json_object());
        dp_jw *w = dp_jw_make(p, 8);
        dp_json_set_money(o, "m", samples[i], 1);
        dp_jw_object(w);
        dp_jw_key(w, "m");
        dp_jw_money(w, samples[i], 1);
        dp_jw_end(w);
        CHECK_STR(dp_jw_finish(w, NULL), dp_json_dump(p, o, NULL));
    }
    {
        dp_jw *w = dp_jw_make(p, 8);
        dp_jw_array(w);
        dp_jw_money(w, 500, 0);
        dp_jw_end(w);
        CHECK_STR(dp_jw_finish(w, NULL), "[null]");
    }
}

/* A nested document with every kind of value, written both ways, and growth from a tiny
 * buffer past many doublings. */
static void test_document(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    json_t *arr = dp_json_own(p, json_array());
    dp_jw *w = dp_jw_make(p, 1);
    apr_size_t len = 0;
    const char *got, *want;

    dp_jw_array(w);
    for (int i = 0; i < 300; i++) {
        json_t *o = json_object();
        json_t *inner = json_array();
        const char *name = apr_psprintf(p, "row \"%d\"\n", i);
        json_object_set_new(o, "i", json_integer(i * 1000003LL));
        dp_json_set_str(o, "name", name);
        dp_json_set_str(o, "none", NULL);
        json_object_set_new(o, "read", json_boolean(i % 2));
        json_array_append_new(inner, json_integer(-i));
        json_array_append_new(inner, json_object());
        json_array_append_new(inner, json_array());
        json_object_set_new(o, "inner", inner);
        dp_json_set_money(o, "amount", i * 37LL, 1);
        json_array_append_new(arr, o);

        dp_jw_object(w);
        dp_jw_kint(w, "i", i * 1000003LL);
        dp_jw_kstr(w, "name", name);
        dp_jw_kstr(w, "none", NULL);
        dp_jw_key(w, "read");
        dp_jw_bool(w, i % 2);
        dp_jw_key(w, "inner");
        dp_jw_array(w);
        dp_jw_int(w, -i);
        dp_jw_object(w);
        dp_jw_end(w);
        dp_jw_array(w);
        dp_jw_end(w);
        dp_jw_end(w);
        dp_jw_key(w, "amount");
        dp_jw_money(w, i * 37LL, 1);
        dp_jw_end(w);
    }
    dp_jw_end(w);
    want = dp_json_dump(p, arr, NULL);
    got = dp_jw_finish(w, &len);
    CHECK_STR(got, want);
    CHECK_EQ((long long)len, (long long)strlen(want));

    w = dp_jw_make(p, 8); /* empty containers */
    dp_jw_array(w);
    dp_jw_end(w);
    CHECK_STR(dp_jw_finish(w, NULL), "[]");
    w = dp_jw_make(p, 8);
    dp_jw_object(w);
    dp_jw_end(w);
    CHECK_STR(dp_jw_finish(w, NULL), "{}");
}

static void test_not_well_formed(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_jw *w;

    w = dp_jw_make(p, 8); /* nothing written */
    CHECK_NULL(dp_jw_finish(w, NULL));
    w = dp_jw_make(p, 8); /* left open */
    dp_jw_object(w);
    CHECK_NULL(dp_jw_finish(w, NULL));
    w = dp_jw_make(p, 8); /* a key without its value */
    dp_jw_object(w);
    dp_jw_key(w, "k");
    dp_jw_end(w);
    CHECK_NULL(dp_jw_finish(w, NULL));
    w = dp_jw_make(p, 8); /* closed more than opened */
    dp_jw_array(w);
    dp_jw_end(w);
    dp_jw_end(w);
    CHECK_NULL(dp_jw_finish(w, NULL));
    w = dp_jw_make(p, 8); /* deeper than DP_JW_DEPTH */
    for (int i = 0; i <= DP_JW_DEPTH; i++) dp_jw_array(w);
    for (int i = 0; i <= DP_JW_DEPTH; i++) dp_jw_end(w);
    CHECK_NULL(dp_jw_finish(w, NULL));
    w = dp_jw_make(p, 8); /* exactly DP_JW_DEPTH is fine */
    for (int i = 0; i < DP_JW_DEPTH; i++) dp_jw_array(w);
    for (int i = 0; i < DP_JW_DEPTH; i++) dp_jw_end(w);
    CHECK_NOT_NULL(dp_jw_finish(w, NULL));
}

const dp_test_case dp_suite_jsonw[] = {
    {"strings",         test_strings        },
    {"invalid_utf8",    test_invalid_utf8   },
    {"money",           test_money          },
    {"document",        test_document       },
    {"not_well_formed", test_not_well_formed},
    {NULL,              NULL                },
};
