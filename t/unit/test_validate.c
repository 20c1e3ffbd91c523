/* dp_validate as data (cases/validate.tsv), plus the helpers around it in dp_crypto. */
#include "dp_test.h"

#include "dp_crypto.h"
#include "dp_uuid.h"
#include "dp_validate.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static int v_uuid(const char *s)
{
    return dp_uuid_valid(s);
}

static int v_time_input(const char *s)
{
    apr_pool_t *p;
    int ok;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 0;
    }
    ok = dp_time_normalize(p, s) != NULL;
    apr_pool_destroy(p);
    return ok;
}

static const struct {
    const char *name;
    int (*fn)(const char *);
    int min_cases; /* guards against a truncated or mistyped case file */
} validators[] = {
    {"email",      dp_valid_email,     25},
    {"password",   dp_valid_password,  8 },
    {"user_type",  dp_valid_user_type, 5 },
    {"date",       dp_valid_date,      12},
    {"time",       dp_valid_time,      6 },
    {"time_input", v_time_input,       12},
    {"zone_name",  dp_valid_zone_name, 6 },
    {"url",        dp_valid_url,       8 },
    {"phone",      dp_valid_phone,     6 },
    {"uuid",       v_uuid,             6 },
    {"instant",    dp_valid_instant,   12},
};
#define NVALIDATORS (sizeof(validators) / sizeof(validators[0]))

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Expand the shorthands described at the top of validate.tsv; NULL if one is broken. */
static const char *expand(apr_pool_t *p, const char *in)
{
    apr_array_header_t *out;

    if (strcmp(in, "<empty>") == 0) {
        return "";
    }
    out = apr_array_make(p, 64, 1);
    for (const char *c = in; *c; c++) {
        if (*c == '<' && c[1] == 'x' && hexval(c[2]) >= 0 && hexval(c[3]) >= 0 && c[4] == '>') {
            char b = (char)(hexval(c[2]) * 16 + hexval(c[3]));
            if (b == '\0') {
                return NULL;
            }
            APR_ARRAY_PUSH(out, char) = b;
            c += 4;
            continue;
        }
        if (*c == '<' && isdigit((unsigned char)c[1])) {
            char *end;
            long n = strtol(c + 1, &end, 10);
            const char *close = *end == '*' ? strchr(end + 1, '>') : NULL;
            if (close != NULL && close > end + 1 && n > 0 && n <= 100000) {
                for (long i = 0; i < n; i++) {
                    for (const char *t = end + 1; t < close; t++) {
                        APR_ARRAY_PUSH(out, char) = *t;
                    }
                }
                c = close;
                continue;
            }
        }
        APR_ARRAY_PUSH(out, char) = *c;
    }
    APR_ARRAY_PUSH(out, char) = '\0';
    return out->elts;
}

static void test_expand(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    CHECK_STR(expand(p, "<empty>"), "");
    CHECK_STR(expand(p, "<3*ab>c"), "abababc");
    CHECK_EQ(strlen(expand(p, "<64*a>@x")), 66);
    CHECK_EQ(strlen(expand(p, "<4*é>")), 8);
    CHECK_STR(expand(p, "a<x41>b<x0a>"), "aAb\n");
    CHECK_STR(expand(p, "user<x>@a.b"), "user<x>@a.b");
    CHECK_STR(expand(p, "<user@a.b>"), "<user@a.b>");
    CHECK_STR(expand(p, "<3*>"), "<3*>");
    CHECK_NULL(expand(p, "<x00>"));
}

static void test_table(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *path = apr_pstrcat(p, env->cases_dir, "/validate.tsv", NULL);
    FILE *f = fopen(path, "r");
    char line[8192];
    int lineno = 0, counts[NVALIDATORS] = {0};

    if (!CHECK_MSG(f != NULL, "cannot open %s", path)) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *fields[3], *save = NULL, *tok, *nl;
        const char *input;
        const char *ctx;
        int nf = 0, want, got;
        apr_size_t v;

        lineno++;
        ctx = apr_psprintf(p, "validate.tsv:%d", lineno);
        dp_t_context(ctx);
        if (!CHECK_MSG(strchr(line, '\n') != NULL || feof(f), "line too long")) {
            break;
        }
        if ((nl = strpbrk(line, "\r\n")) != NULL) {
            *nl = '\0';
        }
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        /* strtok_r would merge empty fields: split by hand */
        tok = line;
        while (nf < 3 && tok != NULL) {
            fields[nf++] = tok;
            save = strchr(tok, '\t');
            if (save != NULL) {
                *save = '\0';
                tok = save + 1;
            }
            else {
                tok = NULL;
            }
        }
        if (!CHECK_MSG(nf == 3 && tok == NULL, "want 3 tab-separated fields")) {
            continue;
        }
        if (!CHECK_MSG(strcmp(fields[2], "0") == 0 || strcmp(fields[2], "1") == 0,
                       "expectation \"%s\" is not 0 or 1", fields[2])) {
            continue;
        }
        want = fields[2][0] - '0';
        input = expand(p, fields[1]);
        if (!CHECK_MSG(input != NULL, "bad shorthand in \"%s\"", fields[1])) {
            continue;
        }
        for (v = 0; v < NVALIDATORS; v++) {
            if (strcmp(validators[v].name, fields[0]) == 0) {
                break;
            }
        }
        if (!CHECK_MSG(v < NVALIDATORS, "unknown validator \"%s\"", fields[0])) {
            continue;
        }
        counts[v]++;
        got = validators[v].fn(input) ? 1 : 0;
        CHECK_MSG(got == want, "%s(\"%s\") [%zu bytes] = %d, want %d", fields[0], fields[1],
                  strlen(input), got, want);
    }
    fclose(f);
    dp_t_context(NULL);
    for (apr_size_t v = 0; v < NVALIDATORS; v++) {
        CHECK_MSG(counts[v] >= validators[v].min_cases, "validate.tsv has %d %s cases, want >= %d",
                  counts[v], validators[v].name, validators[v].min_cases);
    }
}

static void test_null_inputs(dp_test_env *env)
{
    (void)env;
    for (apr_size_t v = 0; v < NVALIDATORS; v++) {
        CHECK_MSG(validators[v].fn(NULL) == 0, "%s(NULL) is not 0", validators[v].name);
    }
}

static void test_email_normalize(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *in = "First.Last+TAG@Example.COM";

    CHECK_STR(dp_email_normalize(p, in), "first.last+tag@example.com");
    CHECK_STR(in, "First.Last+TAG@Example.COM"); /* a copy, the input is untouched */
    CHECK(dp_email_normalize(p, in) != in);
    CHECK_STR(dp_email_normalize(p, "user@example.com"), "user@example.com");
    CHECK_STR(dp_email_normalize(p, ""), "");
    /* ASCII only: other bytes pass through unchanged */
    CHECK_STR(dp_email_normalize(p, "\xc3\x9c@X.CO"), "\xc3\x9c@x.co");
    /* Normalising a valid address keeps it valid, and is idempotent. */
    {
        const char *n = dp_email_normalize(p, "User@Example.COM");
        CHECK(dp_valid_email(n));
        CHECK_STR(dp_email_normalize(p, n), n);
    }
}

static void test_uuid_new(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    apr_hash_t *seen = apr_hash_make(p);
    int bad_form = 0, bad_version = 0, bad_variant = 0, upper = 0, dups = 0;

    for (int i = 0; i < 1000; i++) {
        const char *u = dp_uuid_new(p);
        if (u == NULL || !dp_uuid_valid(u)) {
            bad_form++;
            continue;
        }
        if (u[14] != '4') {
            bad_version++;
        }
        if (strchr("89ab", u[19]) == NULL) {
            bad_variant++;
        }
        for (const char *c = u; *c; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                upper++;
            }
        }
        if (apr_hash_get(seen, u, APR_HASH_KEY_STRING) != NULL) {
            dups++;
        }
        apr_hash_set(seen, u, APR_HASH_KEY_STRING, u);
    }
    CHECK_EQ(bad_form, 0);
    CHECK_EQ(bad_version, 0);
    CHECK_EQ(bad_variant, 0);
    CHECK_EQ(upper, 0); /* canonical lower case */
    CHECK_EQ(dups, 0);
    CHECK_EQ(apr_hash_count(seen), 1000);
}

static void test_ct_equal(dp_test_env *env)
{
    (void)env;
    CHECK_EQ(dp_ct_equal("abcdef", 6, "abcdef", 6), 1);
    CHECK_EQ(dp_ct_equal("abcdef", 6, "abcdeg", 6), 0);
    CHECK_EQ(dp_ct_equal("abcdef", 6, "bbcdef", 6), 0);
    CHECK_EQ(dp_ct_equal("abcdef", 6, "abcde", 5), 0); /* prefix */
    CHECK_EQ(dp_ct_equal("abcde", 5, "abcdef", 6), 0);
    CHECK_EQ(dp_ct_equal("", 0, "", 0), 1);
    CHECK_EQ(dp_ct_equal("", 0, "a", 1), 0);
    CHECK_EQ(dp_ct_equal("a\0b", 3, "a\0c", 3), 0); /* bytes, not C strings */
    CHECK_EQ(dp_ct_equal("a\0b", 3, "a\0b", 3), 1);
    CHECK_EQ(dp_ct_equal("\x80", 1, "\x00", 1), 0);
}

static void test_random_hex(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const apr_size_t sizes[] = {0, 1, 16, 32, 100};

    for (apr_size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        const char *h = dp_random_hex(p, sizes[i]);
        if (!CHECK_NOT_NULL(h)) {
            continue;
        }
        CHECK_EQ(strlen(h), 2 * sizes[i]);
        CHECK_MSG(strspn(h, "0123456789abcdef") == strlen(h), "not lower-case hex: %s", h);
    }
    {
        const char *a = dp_random_hex(p, 16), *b = dp_random_hex(p, 16);
        CHECK(a != NULL && b != NULL && strcmp(a, b) != 0);
    }
    /* every hex digit turns up in 1000 random bytes */
    {
        const char *h = dp_random_hex(p, 1000);
        int missing = 0;
        for (const char *d = "0123456789abcdef"; *d; d++) {
            if (h == NULL || strchr(h, *d) == NULL) {
                missing++;
            }
        }
        CHECK_EQ(missing, 0);
    }
    {
        unsigned char a[32], b[32];
        CHECK_EQ(dp_random_bytes(a, sizeof(a)), 0);
        CHECK_EQ(dp_random_bytes(b, sizeof(b)), 0);
        CHECK(memcmp(a, b, sizeof(a)) != 0);
    }
}

/* What each accepted time of day becomes. */
static void test_time_normalize(dp_test_env *env)
{
    static const char *const pairs[][2] = {
        {"09:30",    "09:30"},
        {"00:00",    "00:00"},
        {"9:00 AM",  "09:00"},
        {"10:00 AM", "10:00"},
        {"12:00 AM", "00:00"},
        {"12:30 PM", "12:30"},
        {"1:05 pm",  "13:05"},
        {"11:59PM",  "23:59"},
        {"12:00 pm", "12:00"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        CHECK_STR(dp_time_normalize(env->pool, pairs[i][0]), pairs[i][1]);
    }
}

const dp_test_case dp_suite_validate[] = {
    {"time_normalize",  test_time_normalize },
    {"expand",          test_expand         },
    {"table",           test_table          },
    {"null_inputs",     test_null_inputs    },
    {"email_normalize", test_email_normalize},
    {"uuid_new",        test_uuid_new       },
    {"ct_equal",        test_ct_equal       },
    {"random_hex",      test_random_hex     },
    {NULL,              NULL                },
};
