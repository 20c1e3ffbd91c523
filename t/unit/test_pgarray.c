/* dp_pgarray: array literals that PostgreSQL reads back as the same values. */
#include "dp_test.h"

#include "dp_pgarray.h"

static void test_literals(dp_test_env *env)
{
    const char *none[] = {NULL};
    const char *plain[] = {"a", "b c", ""};
    const char *nulls[] = {NULL, "NULL", NULL};
    const char *special[] = {"x,y", "{z}", "q\"uote", "back\\slash", "\\\"", " lead"};
    const char *utf8[] = {"caf\xc3\xa9", "\t\n"};

    CHECK_STR(dp_pgarray_text(env->pool, none, 0), "{}");
    CHECK_STR(dp_pgarray_text(env->pool, none, 1), "{NULL}");
    CHECK_STR(dp_pgarray_text(env->pool, plain, 3), "{\"a\",\"b c\",\"\"}");
    /* the text NULL is quoted, so it stays text */
    CHECK_STR(dp_pgarray_text(env->pool, nulls, 3), "{NULL,\"NULL\",NULL}");
    CHECK_STR(dp_pgarray_text(env->pool, special, 6),
              "{\"x,y\",\"{z}\",\"q\\\"uote\",\"back\\\\slash\",\"\\\\\\\"\",\" lead\"}");
    CHECK_STR(dp_pgarray_text(env->pool, utf8, 2), "{\"caf\xc3\xa9\",\"\t\n\"}");
}

/* Reading a literal back as PostgreSQL's array_in does for a quoted element gives the
 * values again, for every byte that a C string can hold. */
static int unquote_all(const char *lit, char out[][8], int max)
{
    int n = 0;
    const char *s = lit;
    if (*s++ != '{') return -1;
    while (*s && *s != '}') {
        int k = 0;
        if (n == max || *s++ != '"') return -1;
        while (*s && *s != '"') {
            if (*s == '\\') s++;
            if (!*s || k == 7) return -1;
            out[n][k++] = *s++;
        }
        if (*s++ != '"') return -1;
        out[n++][k] = '\0';
        if (*s == ',') s++;
    }
    return (*s == '}' && s[1] == '\0') ? n : -1;
}

static void test_round_trip(dp_test_env *env)
{
    char vals[255][3], back[255][8];
    const char *ptrs[255];
    int n;

    for (int b = 1; b < 256; b++) {
        vals[b - 1][0] = (char)b;
        vals[b - 1][1] = (char)(b % 2 ? '"' : '\\');
        vals[b - 1][2] = '\0';
        ptrs[b - 1] = vals[b - 1];
    }
    n = unquote_all(dp_pgarray_text(env->pool, ptrs, 255), back, 255);
    CHECK_EQ(n, 255);
    for (int i = 0; i < n && i < 255; i++) {
        CHECK_STR(back[i], vals[i]);
    }
}

const dp_test_case dp_suite_pgarray[] = {
    {"literals",   test_literals  },
    {"round_trip", test_round_trip},
    {NULL,         NULL           }
};
