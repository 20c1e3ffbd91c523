/* dp_jsonw against jansson: the writer promises the bytes dp_json_dump prints for the same
 * values. The input is a program that builds one document both ways at once: a jansson tree
 * (printed by dp_json_dump) and the writer's calls; the two texts must be the same bytes.
 *
 * Program: the first byte picks the root (even: object, odd: array); then each item is an
 * operation byte (low 3 bits: 0 object, 1 array, 2 end, 3 string, 4 integer, 5 boolean,
 * 6 null, 7 money), inside an object followed by its key; strings and keys are a length byte
 * (low 6 bits) and that many bytes (up to a NUL); integers and money take 8 bytes. What the
 * input leaves open is closed at its end.
 *
 * Normalisation, the only places where the program differs from arbitrary calls:
 *   - a key already present in its object is skipped with its value (jansson keeps one value
 *     per key, the writer writes what it is given);
 *   - a key or string that is not UTF-8 (jansson refuses it) is checked on its own: the
 *     writer's text for it (invalid bytes as U+FFFD) must be JSON that jansson reads back;
 *     then the key is skipped with its value, the string is written as null on both sides;
 *   - money is cents in +-(10^15 - 1): dp_json_set_money's real prints with 15 significant
 *     digits, so larger amounts would be rounded there (the API's amounts have 8 digits);
 *   - nesting past DP_JW_DEPTH ends the program: dp_jw_finish must then answer NULL. */
#include "fuzz.h"

#include "dp_json.h"
#include "dp_jsonw.h"

#include <jansson.h>

#define MONEY_MAX 999999999999999LL

typedef struct reader {
    const uint8_t *d;
    size_t n;
} reader;

static int rd_byte(reader *r)
{
    int b;
    if (r->n == 0) {
        return -1;
    }
    b = r->d[0];
    r->d++;
    r->n--;
    return b;
}

static long long rd_ll(reader *r)
{
    unsigned long long v = 0;
    for (int i = 0; i < 8; i++) {
        int b = rd_byte(r);
        v = (v << 8) | (unsigned long long)(b < 0 ? 0 : b);
    }
    return (long long)v;
}

static const char *rd_str(apr_pool_t *p, reader *r)
{
    int b = rd_byte(r);
    size_t len = b < 0 ? 0 : (size_t)(b & 63);
    const char *s;

    if (len > r->n) {
        len = r->n;
    }
    s = apr_pstrmemdup(p, (const char *)r->d, len); /* a NUL inside ends the C string */
    r->d += len;
    r->n -= len;
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

/* A text that is not UTF-8, written alone: still JSON that jansson reads. */
static void check_not_utf8(apr_pool_t *p, const char *s)
{
    dp_jw *w = dp_jw_make(p, 16);
    const char *out;
    apr_size_t len;
    json_t *back;

    dp_jw_array(w);
    dp_jw_str(w, s);
    dp_jw_end(w);
    out = dp_jw_finish(w, &len);
    FZ_ASSERT(out != NULL);
    back = json_loadb(out, len, 0, NULL);
    FZ_ASSERT(json_is_array(back) && json_is_string(json_array_get(back, 0)));
    json_decref(back);
}

static int utf8_ok(apr_pool_t *p, const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL) {
        check_not_utf8(p, s);
        return 0;
    }
    json_decref(j);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    reader r = {data, size};
    json_t *stack[DP_JW_DEPTH + 1];
    int depth = 1, first, overdeep = 0;
    dp_jw *w;
    const char *got, *want;
    apr_size_t got_len = 0, want_len = 0;

    if ((first = rd_byte(&r)) < 0) {
        return 0;
    }
    p = fz_begin();
    w = dp_jw_make(p, (apr_size_t)(first & 15)); /* small hints make the buffer grow */
    stack[0] = dp_json_own(p, (first & 1) ? json_array() : json_object());
    if (first & 1) {
        dp_jw_array(w);
    }
    else {
        dp_jw_object(w);
    }
    while (depth > 0 && r.n > 0 && !overdeep) {
        json_t *top = stack[depth - 1], *v = NULL;
        int in_object = json_is_object(top), op = rd_byte(&r) & 7;
        const char *key = NULL, *s = NULL;
        long long num = 0;

        if (op == 2) {
            dp_jw_end(w);
            depth--;
            continue;
        }
        if (in_object) {
            key = rd_str(p, &r);
        }
        if (op == 3) {
            s = rd_str(p, &r);
        }
        else if (op == 4 || op == 7) {
            num = rd_ll(&r);
        }
        else if (op == 5) {
            num = rd_byte(&r) & 1;
        }
        if (key != NULL && (!utf8_ok(p, key) || json_object_get(top, key) != NULL)) {
            continue;
        }
        if (s != NULL && !utf8_ok(p, s)) {
            op = 6;
        }
        if (key != NULL && op != 3 && op != 4) {
            dp_jw_key(w, key);
        }
        switch (op) {
        case 0:
        case 1:
            if (depth == DP_JW_DEPTH) {
                overdeep = 1;
            }
            (op == 0 ? dp_jw_object : dp_jw_array)(w);
            v = op == 0 ? json_object() : json_array();
            break;
        case 3:
            if (key != NULL) {
                dp_jw_kstr(w, key, s);
            }
            else {
                dp_jw_str(w, s);
            }
            v = json_string(s);
            break;
        case 4:
            if (key != NULL) {
                dp_jw_kint(w, key, num);
            }
            else {
                dp_jw_int(w, num);
            }
            v = json_integer(num);
            break;
        case 5:
            dp_jw_bool(w, (int)num);
            v = json_boolean(num);
            break;
        case 6:
            dp_jw_null(w);
            v = json_null();
            break;
        case 7: {
            long long cents =
                (long long)((unsigned long long)num % (2ULL * MONEY_MAX + 1)) - MONEY_MAX;
            dp_jw_money(w, cents, 1);
            /* dp_json_set_money writes into an object: give it a scratch one for arrays */
            if (key != NULL) {
                dp_json_set_money(top, key, cents, 1);
            }
            else {
                json_t *tmp = json_object();
                dp_json_set_money(tmp, "m", cents, 1);
                json_array_append(top, json_object_get(tmp, "m"));
                json_decref(tmp);
            }
            continue;
        }
        }
        FZ_ASSERT(v != NULL);
        if (key != NULL) {
            json_object_set_new(top, key, v);
        }
        else {
            json_array_append_new(top, v);
        }
        if (op <= 1 && !overdeep) {
            stack[depth++] = v;
        }
    }
    if (overdeep) {
        FZ_ASSERT(dp_jw_finish(w, NULL) == NULL);
    }
    else {
        while (depth-- > 0) {
            dp_jw_end(w);
        }
        got = dp_jw_finish(w, &got_len);
        want = dp_json_dump(p, stack[0], &want_len);
        FZ_ASSERT(got != NULL && want_len > 0);
        if (got_len != want_len || memcmp(got, want, got_len) != 0) {
            fprintf(stderr, "writer: %s\njansson: %s\n", got, want);
            FZ_ASSERT(!"the writer and jansson differ");
        }
    }
    fz_end(p);
    return 0;
}
