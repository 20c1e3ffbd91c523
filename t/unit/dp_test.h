/* dp_test: the unit tests' own tiny harness.
 *
 * A suite is a NULL-terminated array of dp_test_case, exported by one t/unit/test_*.c file
 * and listed once in main.c. Each test runs with a fresh APR subpool (destroyed afterwards,
 * so valgrind sees whatever a test leaks outside pools) and the cases directory (argv[1]).
 *
 * CHECK* macros never abort a test: a failure prints file:line and the values involved,
 * counts, and the test goes on. */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <apr_pools.h>
#include <stdio.h>
#include <string.h>

typedef struct dp_test_env {
    apr_pool_t *pool;      /* fresh per test */
    const char *cases_dir; /* t/unit/cases, from argv[1] */
} dp_test_env;

typedef struct dp_test_case {
    const char *name;
    void (*fn)(dp_test_env *env);
} dp_test_case;

/* Suites (each defined in its test_*.c file). */
extern const dp_test_case dp_suite_jwt[];
extern const dp_test_case dp_suite_password[];
extern const dp_test_case dp_suite_route[];
extern const dp_test_case dp_suite_json[];
extern const dp_test_case dp_suite_validate[];
extern const dp_test_case dp_suite_google[];
extern const dp_test_case dp_suite_aead[];
extern const dp_test_case dp_suite_google_id[];
extern const dp_test_case dp_suite_stripe[];
extern const dp_test_case dp_suite_cookie[];     /* cookie sessions */
extern const dp_test_case dp_suite_auditchain[]; /* audit chain */
extern const dp_test_case dp_suite_export[];     /* audit report: CSV and Accept */
extern const dp_test_case dp_suite_jsonw[];      /* the list answers' JSON writer */
extern const dp_test_case dp_suite_mail[];
extern const dp_test_case dp_suite_ics[];     /* the calendar feed's writer */
extern const dp_test_case dp_suite_pgarray[]; /* array literals (audit batches) */
extern const dp_test_case dp_suite_epoch[];   /* timestamps formatted in C */
extern const dp_test_case dp_suite_pgbin[];   /* binary results rendered as text */
extern const dp_test_case dp_suite_base64[];  /* strict base64 decoding */

/* Record one check; returns ok so callers can chain diagnostics. */
int dp_t_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int dp_t_check_int(long long a, long long b, int want_equal, const char *file, int line,
                   const char *ea, const char *eb);
int dp_t_check_str(const char *a, const char *b, const char *file, int line, const char *ea,
                   const char *eb);
/* Extra context printed under the next failures (e.g. "validate.tsv:42"); NULL clears. */
void dp_t_context(const char *ctx);

#define CHECK(cond)          dp_t_check(!!(cond), __FILE__, __LINE__, "CHECK(%s)", #cond)
#define CHECK_MSG(cond, ...) dp_t_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ(a, b)       dp_t_check_int((long long)(a), (long long)(b), 1, __FILE__, __LINE__, #a, #b)
#define CHECK_NE(a, b)       dp_t_check_int((long long)(a), (long long)(b), 0, __FILE__, __LINE__, #a, #b)
/* NULL-safe: two NULLs are equal, NULL and a string are not. */
#define CHECK_STR(a, b)   dp_t_check_str((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_NULL(a)     CHECK((a) == NULL)
#define CHECK_NOT_NULL(a) CHECK((a) != NULL)

#endif
