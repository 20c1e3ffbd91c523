/* dp_json (and dp_error): request parsing, money in and out, typed string fields. */
#include "dp_test.h"

#include "dp_error.h"
#include "dp_json.h"

#include <apr_strings.h>
#include <math.h>
#include <stdlib.h>

#define MAX_CENTS 100000000LL /* the module's limit: 1,000,000.00 */

/* Parse a literal known to be a valid object (the tests' own input). */
static json_t *obj(apr_pool_t *p, const char *text)
{
    json_t *o = NULL;
    dp_error *e = dp_json_parse_object(p, text, strlen(text), &o);
    CHECK_MSG(e == NULL && o != NULL, "test input %s does not parse", text);
    return o;
}

#define CHECK_400(e)                                                                               \
    do {                                                                                           \
        const dp_error *e_ = (e);                                                                  \
        CHECK_MSG(e_ != NULL && e_->status == 400 && strcmp(e_->code, DP_E_INVALID_JSON) == 0      \
                      && e_->detail != NULL && e_->field == NULL,                                  \
                  "%s: want 400 invalid_json, got %d %s", #e, e_ ? e_->status : 0,                 \
                  e_ ? e_->code : "(none)");                                                       \
    } while (0)

#define CHECK_422(e, fieldname)                                                                    \
    do {                                                                                           \
        const dp_error *e_ = (e);                                                                  \
        CHECK_MSG(e_ != NULL && e_->status == 422 && strcmp(e_->code, DP_E_VALIDATION) == 0        \
                      && e_->field != NULL && strcmp(e_->field, (fieldname)) == 0                  \
                      && e_->detail != NULL && e_->detail[0] != '\0',                              \
                  "%s: want 422 validation_error on %s, got %d %s (field %s)", #e, (fieldname),    \
                  e_ ? e_->status : 0, e_ ? e_->code : "(none)",                                   \
                  e_ && e_->field ? e_->field : "(none)");                                         \
    } while (0)

static void test_parse_object(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    json_t *o = (json_t *)1;
    const char *ok = "{\"email\":\"a@b.co\",\"n\":1,\"nested\":{\"x\":[1,2]}}";
    const char *bad[] = {
        "[1,2]",
        "[]",
        "\"string\"",
        "42",
        "true",
        "null", /* not objects */
        "{",
        "{\"a\":",
        "{\"a\":1,}",
        "{'a':1}",
        "{a:1}",
        "{} x",
        "{}{}",                      /* malformed */
        "{\"a\":1,\"a\":2}",         /* duplicate keys */
        "{\"a\":{\"b\":1,\"b\":1}}", /* nested duplicate */
        "{\"a\":\"\\u0000\"}",       /* NUL in a string */
        "{\"a\":\"\xff\"}",          /* not UTF-8 */
        "{\"a\":NaN}",
        " ",
    };

    CHECK_NULL(dp_json_parse_object(p, ok, strlen(ok), &o));
    CHECK(json_is_object(o));
    CHECK_STR(json_string_value(json_object_get(o, "email")), "a@b.co");
    CHECK_NULL(dp_json_parse_object(p, "{}", 2, &o));
    CHECK(json_is_object(o) && json_object_size(o) == 0);
    {
        const char *ws = " \n{ \"a\" : 1 }\n";
        CHECK_NULL(dp_json_parse_object(p, ws, strlen(ws), &o));
    }
    /* len is honoured: what follows is not read */
    CHECK_NULL(dp_json_parse_object(p, "{}garbage", 2, &o));

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dp_error *e;
        o = (json_t *)1;
        e = dp_json_parse_object(p, bad[i], strlen(bad[i]), &o);
        CHECK_MSG(e != NULL && e->status == 400 && strcmp(e->code, DP_E_INVALID_JSON) == 0,
                  "body %s: want 400 invalid_json", bad[i]);
        CHECK_MSG(o == NULL, "body %s: *out not cleared", bad[i]);
    }
    o = (json_t *)1;
    CHECK_400(dp_json_parse_object(p, "", 0, &o));
    CHECK_NULL(o);
    CHECK_400(dp_json_parse_object(p, NULL, 0, &o));
    CHECK_400(dp_json_parse_object(p, "{\"a\":1}", 0, &o)); /* empty body, whatever buf */
    /* truncated by len */
    CHECK_400(dp_json_parse_object(p, "{\"a\":1}", 5, &o));
}

static void test_own(dp_test_env *env)
{
    apr_pool_t *sub;
    json_t *j = json_object();

    CHECK_NULL(dp_json_own(env->pool, NULL));
    json_incref(j); /* keep it alive past the pool to look at the count */
    CHECK_EQ(j->refcount, 2);
    apr_pool_create(&sub, env->pool);
    CHECK(dp_json_own(sub, j) == j);
    apr_pool_destroy(sub);
    CHECK_EQ(j->refcount, 1);
    json_decref(j);
}

static const char *dump_money(apr_pool_t *p, long long cents, int present)
{
    json_t *o = dp_json_own(p, json_object());
    dp_json_set_money(o, "m", cents, present);
    return dp_json_dump(p, o, NULL);
}

static void test_dump(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    json_t *o;
    apr_size_t len = 0;
    const char *s;

    CHECK_STR(dump_money(p, 14999, 1), "{\"m\":149.99}");
    CHECK_STR(dump_money(p, 15000, 1), "{\"m\":150}");
    CHECK_STR(dump_money(p, 10, 1), "{\"m\":0.1}");
    CHECK_STR(dump_money(p, 1, 1), "{\"m\":0.01}");
    CHECK_STR(dump_money(p, 29, 1), "{\"m\":0.29}");
    CHECK_STR(dump_money(p, 0, 1), "{\"m\":0}");
    CHECK_STR(dump_money(p, 0, 0), "{\"m\":null}");
    CHECK_STR(dump_money(p, 12345, 0), "{\"m\":null}");
    CHECK_STR(dump_money(p, 435, 1), "{\"m\":4.35}");
    CHECK_STR(dump_money(p, 99999999, 1), "{\"m\":999999.99}");
    CHECK_STR(dump_money(p, MAX_CENTS, 1), "{\"m\":1000000}");

    o = dp_json_own(p, json_object());
    dp_json_set_str(o, "a", "x\"y");
    dp_json_set_str(o, "b", NULL);
    json_object_set_new(o, "c", json_integer(-3));
    s = dp_json_dump(p, o, &len);
    CHECK_STR(s, "{\"a\":\"x\\\"y\",\"b\":null,\"c\":-3}");
    CHECK_EQ(len, strlen(s));
    /* A real that is not money still prints briefly. */
    o = dp_json_own(p, json_object());
    json_object_set_new(o, "r", json_real(0.1 + 0.2));
    CHECK_STR(dp_json_dump(p, o, NULL), "{\"r\":0.3}");
    /* Arrays and empty containers. */
    CHECK_STR(dp_json_dump(p, dp_json_own(p, json_array()), &len), "[]");
    CHECK_EQ(len, 2);
    CHECK_STR(dp_json_dump(p, dp_json_own(p, json_object()), NULL), "{}");
    /* An answer far larger than the first buffer (it grows several times) comes out whole,
     * byte for byte what jansson writes. */
    o = dp_json_own(p, json_array());
    for (int i = 0; i < 500; i++) {
        json_t *row = json_object();
        json_object_set_new(row, "id", json_integer(i));
        json_object_set_new(row, "text", json_string("a row \"quoted\" with \u00e9 and \\ in it"));
        json_array_append_new(o, row);
    }
    {
        char *want = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
        s = dp_json_dump(p, o, &len);
        CHECK(want != NULL && len > 16384);
        CHECK_STR(s, want);
        CHECK_EQ(len, strlen(want));
        free(want);
    }
}

/* Every amount typed with two decimals converts exactly and prints back as typed
 * (without trailing zeros): 0.00 .. 2000.00 in full, then samples up to the limit. */
static void test_money_exhaustive(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    long long first_in = -1, first_out = -1, n = 0;
    apr_pool_t *it;

    apr_pool_create(&it, p);
    for (long long c = 0; c <= MAX_CENTS; c += (c < 200000 ? 1 : c > MAX_CENTS - 5000 ? 1 : 7919)) {
        char typed[32], expect[48], *z;
        long long got = -1;
        const char *dumped;

        snprintf(typed, sizeof(typed), "%lld.%02lld", c / 100, c % 100);
        if ((dp_money_from_double(strtod(typed, NULL), &got) != 0 || got != c) && first_in < 0) {
            first_in = c;
        }
        if (c % 100 == 0) {
            snprintf(expect, sizeof(expect), "{\"m\":%lld}", c / 100);
        }
        else {
            z = typed + strlen(typed) - 1;
            if (*z == '0') {
                *z = '\0';
            }
            snprintf(expect, sizeof(expect), "{\"m\":%s}", typed);
        }
        dumped = dump_money(it, c, 1);
        if (strcmp(dumped, expect) != 0 && first_out < 0) {
            first_out = c;
        }
        if (++n % 4096 == 0) {
            apr_pool_clear(it);
        }
    }
    apr_pool_destroy(it);
    CHECK_MSG(first_in < 0, "dp_money_from_double: first wrong at %lld cents", first_in);
    CHECK_MSG(first_out < 0, "dp_json_set_money+dump: first wrong at %lld cents", first_out);
    CHECK(n > 200000);
}

static void test_money_from_double(dp_test_env *env)
{
    (void)env;
    const struct {
        double v;
        long long cents; /* -1: refused */
    } cases[] = {
        {149.99,          14999             },
        {150,             15000             },
        {0,               0                 },
        {0.01,            1                 },
        {0.1,             10                },
        {0.29,            29                },
        {4.35,            435               },
        {1.15,            115               },
        {19.99,           1999              },
        {1000000.00,      100000000         },
        {999999.99,       99999999          },
        {1e6 + 0.01,      100000001         },
        {9.0e13,          9000000000000000LL},
        {1.234,           -1                },
        {1.005,           -1                },
        {0.125,           -1                },
        {0.001,           -1                },
        {0.009,           -1                },
        {149.999,         -1                },
        {-1,              -1                },
        {-0.01,           -1                },
        {-149.99,         -1                },
        {9.1e13,          -1                },
        {1e300,           -1                },
 /* more than two decimals, however small the excess */
        {149.990000001,   -1                },
        {0.000000005,     -1                },
        {1.0000001,       -1                },
        {12345.6700001,   -1                },
        {999999.9900001,  -1                },
        {999999.99000001, -1                },
        {1000000.000001,  -1                },
    };
    long long c;

    for (apr_size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv;
        c = -42;
        rv = dp_money_from_double(cases[i].v, &c);
        if (cases[i].cents < 0) {
            CHECK_MSG(rv != 0, "dp_money_from_double(%.17g) accepted as %lld cents, want refused",
                      cases[i].v, c);
        }
        else {
            CHECK_MSG(rv == 0 && c == cases[i].cents,
                      "dp_money_from_double(%.17g): rv %d, %lld cents, want %lld", cases[i].v, rv,
                      c, cases[i].cents);
        }
    }
    c = -42;
    CHECK_NE(dp_money_from_double(NAN, &c), 0);
    CHECK_NE(dp_money_from_double(INFINITY, &c), 0);
    CHECK_NE(dp_money_from_double(-INFINITY, &c), 0);
    CHECK_EQ(c, -42); /* untouched when refused */
    CHECK_EQ(dp_money_from_double(-0.0, &c), 0);
    CHECK_EQ(c, 0);
}

static void test_json_money(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *F = "hourlyRate";
    long long c;
    int present;

#define MONEY(text, max) dp_json_money(p, obj(p, text), "r", F, (max), &c, &present)

    CHECK_NULL(MONEY("{\"r\":150}", MAX_CENTS));
    CHECK(c == 15000 && present == 1);
    CHECK_NULL(MONEY("{\"r\":149.99}", MAX_CENTS));
    CHECK(c == 14999 && present == 1);
    CHECK_NULL(MONEY("{\"r\":0}", MAX_CENTS));
    CHECK(c == 0 && present == 1);
    CHECK_NULL(MONEY("{\"r\":0.0}", MAX_CENTS));
    CHECK(c == 0 && present == 1);
    CHECK_NULL(MONEY("{\"r\":0.29}", MAX_CENTS));
    CHECK(c == 29 && present == 1);
    CHECK_NULL(MONEY("{\"r\":150.10}", MAX_CENTS));
    CHECK(c == 15010 && present == 1);
    CHECK_NULL(MONEY("{\"r\":1.5e2}", MAX_CENTS));
    CHECK(c == 15000 && present == 1);

    /* not given */
    CHECK_NULL(MONEY("{\"r\":null}", MAX_CENTS));
    CHECK(c == 0 && present == 0);
    CHECK_NULL(MONEY("{\"other\":1}", MAX_CENTS));
    CHECK(c == 0 && present == 0);

    /* limits: integer and real paths agree */
    CHECK_NULL(MONEY("{\"r\":1000000}", MAX_CENTS));
    CHECK(c == MAX_CENTS && present == 1);
    CHECK_NULL(MONEY("{\"r\":1000000.00}", MAX_CENTS));
    CHECK(c == MAX_CENTS && present == 1);
    CHECK_422(MONEY("{\"r\":1000001}", MAX_CENTS), F);
    CHECK(present == 0);
    CHECK_422(MONEY("{\"r\":1000000.01}", MAX_CENTS), F);
    CHECK(present == 0);
    CHECK_422(MONEY("{\"r\":9223372036854775807}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":-9223372036854775808}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":1e300}", MAX_CENTS), F);
    /* a limit that is not whole units */
    CHECK_NULL(MONEY("{\"r\":1}", 150));
    CHECK_NULL(MONEY("{\"r\":1.5}", 150));
    CHECK(c == 150);
    CHECK_422(MONEY("{\"r\":1.51}", 150), F);
    CHECK_422(MONEY("{\"r\":2}", 150), F);

    /* wrong values */
    CHECK_422(MONEY("{\"r\":-1}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":-0.01}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":1.234}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":1.005}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":149.990000001}", MAX_CENTS), F); /* a 9th decimal is a 3rd */
    CHECK_422(MONEY("{\"r\":999999.9900001}", MAX_CENTS), F);
    /* wrong types: a numeric string is refused */
    CHECK_422(MONEY("{\"r\":\"149.99\"}", MAX_CENTS), F);
    CHECK(present == 0);
    CHECK_422(MONEY("{\"r\":\"150\"}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":true}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":[150]}", MAX_CENTS), F);
    CHECK_422(MONEY("{\"r\":{\"amount\":150}}", MAX_CENTS), F);
#undef MONEY
}

static void test_json_string(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *F = "profile.name";
    const char *out;
    json_t *o;

#define STR(text, req, max) dp_json_string(p, (o = obj(p, text)), "name", F, (req), (max), &out)

    CHECK_NULL(STR("{\"name\":\"Ada\"}", 1, 10));
    CHECK_STR(out, "Ada");
    CHECK(out != json_string_value(json_object_get(o, "name"))); /* a pool copy */

    /* missing / null */
    out = "x";
    CHECK_422(STR("{}", 1, 10), F);
    CHECK_NULL(out);
    CHECK_422(STR("{\"name\":null}", 1, 10), F);
    CHECK_NULL(STR("{}", 0, 10));
    CHECK_NULL(out);
    CHECK_NULL(STR("{\"name\":null}", 0, 10));
    CHECK_NULL(out);

    /* wrong types */
    CHECK_422(STR("{\"name\":42}", 1, 10), F);
    CHECK_NULL(out);
    CHECK_422(STR("{\"name\":42}", 0, 10), F);
    CHECK_422(STR("{\"name\":true}", 0, 10), F);
    CHECK_422(STR("{\"name\":[\"Ada\"]}", 1, 10), F);
    CHECK_422(STR("{\"name\":{}}", 1, 10), F);

    /* empty */
    CHECK_422(STR("{\"name\":\"\"}", 1, 10), F);
    CHECK_NULL(STR("{\"name\":\"\"}", 0, 10));
    CHECK_STR(out, "");

    /* length in code points */
    CHECK_NULL(STR("{\"name\":\"abc\"}", 1, 3));
    CHECK_422(STR("{\"name\":\"abcd\"}", 1, 3), F);
    CHECK_NULL(STR("{\"name\":\"h\xc3\xa9\xc3\xa9\"}", 1, 3)); /* "héé": 3 chars, 5 bytes */
    CHECK_STR(out, "h\xc3\xa9\xc3\xa9");
    CHECK_NULL(STR("{\"name\":\"h\\u00e9\\u00e9\"}", 1, 3)); /* same, escaped */
    CHECK_422(STR("{\"name\":\"h\xc3\xa9\xc3\xa9\"}", 1, 2), F);
    CHECK_NULL(STR("{\"name\":\"\xf0\x9f\x98\x80\"}", 1, 1));           /* one emoji, 4 bytes */
    CHECK_NULL(STR("{\"name\":\"\\ud83d\\ude00x\"}", 1, 2));            /* surrogate pair = 1 */
    CHECK_422(STR("{\"name\":\"\xe2\x82\xac\xe2\x82\xac\"}", 1, 1), F); /* two euro signs */

    /* control characters: refused, except tab and line breaks */
    CHECK_422(STR("{\"name\":\"a\\u0001b\"}", 1, 10), F);
    CHECK_422(STR("{\"name\":\"a\\u001bb\"}", 1, 10), F);
    CHECK_422(STR("{\"name\":\"\\u001f\"}", 0, 10), F);
    CHECK_NULL(STR("{\"name\":\"a\\tb\\nc\\r\"}", 1, 10));
    CHECK_STR(out, "a\tb\nc\r");
    CHECK_NULL(STR("{\"name\":\"a\\u007fb\"}", 1, 10)); /* DEL is not below 0x20 */
#undef STR

    /* NUL inside the string (jansson's parser refuses \u0000 already, so build it). */
    o = dp_json_own(p, json_object());
    json_object_set_new(o, "name", json_stringn("a\0b", 3));
    out = "x";
    CHECK_422(dp_json_string(p, o, "name", F, 1, 10, &out), F);
    CHECK_NULL(out);
    json_object_set_new(o, "name", json_stringn("\0", 1));
    CHECK_422(dp_json_string(p, o, "name", F, 0, 10, &out), F);
}

static void test_errors(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_error *e = dp_error_field(p, "email", "email is not valid.");

    CHECK_EQ(e->status, 422);
    CHECK_STR(e->code, DP_E_VALIDATION);
    CHECK_STR(e->field, "email");
    CHECK_STR(e->detail, "email is not valid.");
    e = dp_error_field(p, "x", "100% sure"); /* the detail is not a format */
    CHECK_STR(e->detail, "100% sure");
    e = dp_error_internal(p);
    CHECK_EQ(e->status, 500);
    CHECK_STR(e->code, DP_E_INTERNAL);
    CHECK_NULL(e->field);
    CHECK(e->detail != NULL && e->detail[0] != '\0');
    e = dp_error_make(p, 409, DP_E_EMAIL_TAKEN, "email", "%s is taken (%d).", "a@b.co", 1);
    CHECK_EQ(e->status, 409);
    CHECK_STR(e->code, "email_taken");
    CHECK_STR(e->detail, "a@b.co is taken (1).");
}

const dp_test_case dp_suite_json[] = {
    {"parse_object",      test_parse_object     },
    {"own",               test_own              },
    {"dump",              test_dump             },
    {"money_exhaustive",  test_money_exhaustive },
    {"money_from_double", test_money_from_double},
    {"json_money",        test_json_money       },
    {"json_string",       test_json_string      },
    {"errors",            test_errors           },
    {NULL,                NULL                  },
};
