/* dp_pgbin: values in PostgreSQL's binary format (the bytes its send functions write, as in
 * the protocol's DataRow) rendered as the handlers' text, and what it refuses. */
#include "dp_test.h"

#include "dp_pgbin.h"

#define BIN(s) (s), (int)(sizeof(s) - 1)

/* The rendering, "(none)" when there is none, "(null)" for a value rendered as SQL NULL. */
static const char *text(apr_pool_t *p, unsigned int oid, const char *v, int len)
{
    const char *out = "unset";
    if (!dp_pgbin_text(p, oid, v, len, &out)) {
        return out == NULL ? "(none)" : "(none, out set)";
    }
    return out != NULL ? out : "(null)";
}

static void test_integers(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    CHECK_STR(text(p, DP_PGBIN_INT2, BIN("\x00\x32")), "50");
    CHECK_STR(text(p, DP_PGBIN_INT2, BIN("\xff\xfe")), "-2");
    CHECK_STR(text(p, DP_PGBIN_INT4, BIN("\x00\x00\x30\x39")), "12345");
    CHECK_STR(text(p, DP_PGBIN_INT4, BIN("\x80\x00\x00\x00")), "-2147483648");
    CHECK_STR(text(p, DP_PGBIN_INT8, BIN("\x7f\xff\xff\xff\xff\xff\xff\xff")),
              "9223372036854775807");
    CHECK_STR(text(p, DP_PGBIN_INT8, BIN("\xff\xff\xff\xff\xff\xff\xff\xff")), "-1");
    CHECK_STR(text(p, DP_PGBIN_INT8, BIN("\x80\x00\x00\x00\x00\x00\x00\x00")),
              "-9223372036854775808");
    CHECK_STR(text(p, DP_PGBIN_INT8, BIN("\x00\x00\x00\x00\x00\x00\x00\x00")), "0");
    CHECK_STR(text(p, DP_PGBIN_INT8, BIN("\x00\x00\x00\x00\x00\x00\x27\x10")), "10000");
    CHECK_STR(text(p, DP_PGBIN_BOOL, BIN("\x01")), "t");
    CHECK_STR(text(p, DP_PGBIN_BOOL, BIN("\x00")), "f");
    /* a length that does not fit the type */
    CHECK_STR(text(p, DP_PGBIN_INT4, BIN("\x00\x32")), "(none)");
    CHECK_STR(text(p, DP_PGBIN_INT8, BIN("\x00\x00\x00\x32")), "(none)");
    CHECK_STR(text(p, DP_PGBIN_BOOL, BIN("")), "(none)");
}

static void test_text_uuid_bytea(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    CHECK_STR(text(p, DP_PGBIN_TEXT, BIN("Video Session")), "Video Session");
    CHECK_STR(text(p, DP_PGBIN_VARCHAR, BIN("")), "");
    CHECK_STR(text(p, DP_PGBIN_TEXT, "caf\xc3\xa9 and more", 5), "caf\xc3\xa9");
    CHECK_STR(text(p, DP_PGBIN_UUID,
                   BIN("\x4b\x05\x3f\x41\x9f\x38\x43\x9d\xb5\x58\x78\xd3\x26\x64\x39\x95")),
              "4b053f41-9f38-439d-b558-78d326643995");
    CHECK_STR(text(p, DP_PGBIN_UUID, BIN("\x4b\x05\x3f\x41")), "(none)");
    /* base64 as encode(x, 'base64') writes it, padding and all */
    CHECK_STR(text(p, DP_PGBIN_BYTEA, BIN("")), "");
    CHECK_STR(text(p, DP_PGBIN_BYTEA, BIN("\x00")), "AA==");
    CHECK_STR(text(p, DP_PGBIN_BYTEA, BIN("\xff\xfe")), "//4=");
    CHECK_STR(text(p, DP_PGBIN_BYTEA, BIN("any carnal pleas")), "YW55IGNhcm5hbCBwbGVhcw==");
}

static void test_timestamps(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    /* 2000-01-01 00:00 UTC, PostgreSQL's epoch */
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x00\x00\x00\x00\x00\x00\x00\x00")),
              "946684800000000");
    /* 2026-12-06 19:21:55.698640 UTC: 849900115698640 µs after it */
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x00\x03\x04\xfa\xca\x7d\xa3\xd0")),
              "1796584915698640");
    /* before 2000 and before 1970: negative counts */
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMP, BIN("\xff\xff\xff\xff\xff\xff\xff\xff")),
              "946684799999999");
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMP, BIN("\xff\xfc\xa2\xfe\xc4\xc8\x1f\xff")), "-1");
    /* infinity and -infinity have no instant */
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x7f\xff\xff\xff\xff\xff\xff\xff")), "(null)");
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x80\x00\x00\x00\x00\x00\x00\x00")), "(null)");
    /* 294247-01-10T04:00:54.775807Z, the last instant that fits once moved to 1970, and the
     * next one (PostgreSQL's timestamps go on to 294276) */
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x7f\xfc\xa2\xfe\xc4\xc8\x1f\xff")),
              "9223372036854775807");
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x7f\xfc\xa2\xfe\xc4\xc8\x20\x00")), "(null)");
    CHECK_STR(text(p, DP_PGBIN_TIMESTAMPTZ, BIN("\x00\x00\x00\x00")), "(none)");
}

static void test_refused(dp_test_env *env)
{
    /* numeric (1700), date (1082), json (114), "char" (18): not rendered */
    CHECK_STR(text(env->pool, 18, BIN("\xe9")), "(none)");
    CHECK_STR(text(env->pool, 1700, BIN("\x00\x01\x00\x00\x00\x00\x00\x00")), "(none)");
    CHECK_STR(text(env->pool, 1082, BIN("\x00\x00\x00\x00")), "(none)");
    CHECK_STR(text(env->pool, 114, BIN("{}")), "(none)");
    CHECK_STR(text(env->pool, DP_PGBIN_TEXT, NULL, 0), "(none)");
}

const dp_test_case dp_suite_pgbin[] = {
    {"integers",        test_integers       },
    {"text_uuid_bytea", test_text_uuid_bytea},
    {"timestamps",      test_timestamps     },
    {"refused",         test_refused        },
    {NULL,              NULL                }
};
