#include "dp_json.h"
#include "dp_jsonw.h"

#include <apr_strings.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *dp_json_own(apr_pool_t *p, json_t *j)
{
    if (j != NULL) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

dp_error *dp_json_parse_object(apr_pool_t *p, const char *buf, apr_size_t len, json_t **out)
{
    json_error_t jerr;
    json_t *j;

    *out = NULL;
    if (buf == NULL || len == 0) {
        return dp_error_make(p, 400, DP_E_INVALID_JSON, NULL, "The request body is empty.");
    }
    j = dp_json_own(p, json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr));
    if (j == NULL) {
        return dp_error_make(p, 400, DP_E_INVALID_JSON, NULL,
                             "The request body is not valid JSON (line %d, column %d).", jerr.line,
                             jerr.column);
    }
    if (!json_is_object(j)) {
        return dp_error_make(p, 400, DP_E_INVALID_JSON, NULL,
                             "The request body must be a JSON object.");
    }
    *out = j;
    return NULL;
}

/* The dump target: a dp_jw used as a plain pool buffer that doubles as it fills. */
static int dump_append(const char *chunk, size_t size, void *data)
{
    dp_jw_raw(data, chunk, size);
    return 0;
}

const char *dp_json_dump(apr_pool_t *p, const json_t *j, apr_size_t *len)
{
    /* Money is printed from cents with 2 decimals at most; 15 significant digits keeps
     * 149.99 from printing as 149.99000000000001. One pass: serialising costs more than the
     * copies of a growing buffer (json_dumpb(NULL, 0) to learn the size first doubled it). */
    const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(15);
    dp_jw *w = dp_jw_make(p, 1024);
    const char *out;

    out = json_dump_callback(j, dump_append, w, flags) == 0 ? dp_jw_finish(w, len) : NULL;
    if (out == NULL) {
        out = "";
        if (len != NULL) {
            *len = 0;
        }
    }
    return out;
}

void dp_json_set_str(json_t *obj, const char *key, const char *s)
{
    json_object_set_new(obj, key, s != NULL ? json_string(s) : json_null());
}

void dp_json_set_money(json_t *obj, const char *key, long long cents, int present)
{
    if (!present) {
        json_object_set_new(obj, key, json_null());
    }
    else if (cents % 100 == 0) {
        json_object_set_new(obj, key, json_integer(cents / 100));
    }
    else {
        json_object_set_new(obj, key, json_real((double)cents / 100.0));
    }
}

dp_error *dp_json_string(apr_pool_t *p, json_t *obj, const char *key, const char *field,
                         int required, apr_size_t max_chars, const char **out)
{
    json_t *v = json_object_get(obj, key);
    const char *s;
    apr_size_t chars = 0;

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return required ? dp_error_field(p, field, apr_psprintf(p, "%s is required.", key)) : NULL;
    }
    if (!json_is_string(v)) {
        return dp_error_field(p, field, apr_psprintf(p, "%s must be a string.", key));
    }
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        return dp_error_field(p, field, apr_psprintf(p, "%s must not contain NUL.", key));
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c & 0xC0) != 0x80) {
            chars++; /* count code points, not bytes (jansson guarantees valid UTF-8) */
        }
        if (*c < 0x20 && *c != '\n' && *c != '\t' && *c != '\r') {
            return dp_error_field(p, field,
                                  apr_psprintf(p, "%s contains a control character.", key));
        }
    }
    if (required && chars == 0) {
        return dp_error_field(p, field, apr_psprintf(p, "%s must not be empty.", key));
    }
    if (chars > max_chars) {
        return dp_error_field(
            p, field,
            apr_psprintf(p, "%s is longer than %lu characters.", key, (unsigned long)max_chars));
    }
    *out = apr_pstrdup(p, s);
    return NULL;
}

int dp_money_from_double(double v, long long *cents)
{
    double scaled, rounded;

    if (!isfinite(v) || v < 0 || v > 9.0e13) {
        return -1;
    }
    scaled = v * 100.0;
    rounded = nearbyint(scaled);
    /* Two decimals exactly: the number parsed is the very double that cents / 100 gives
     * (both are the nearest double to the decimal text), anything else had more digits. */
    if (rounded / 100.0 != v) {
        return -1;
    }
    *cents = (long long)rounded;
    return 0;
}

dp_error *dp_json_money(apr_pool_t *p, json_t *obj, const char *key, const char *field,
                        long long max_cents, long long *cents, int *present)
{
    json_t *v = json_object_get(obj, key);

    *present = 0;
    *cents = 0;
    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > max_cents / 100) {
            return dp_error_field(p, field, apr_psprintf(p, "%s is out of range.", key));
        }
        *cents = (long long)i * 100;
    }
    else if (json_is_real(v)) {
        if (dp_money_from_double(json_real_value(v), cents) != 0) {
            return dp_error_field(
                p, field,
                apr_psprintf(p, "%s must be a non-negative amount with at most 2 decimals.", key));
        }
        if (*cents > max_cents) {
            return dp_error_field(p, field, apr_psprintf(p, "%s is out of range.", key));
        }
    }
    else {
        return dp_error_field(p, field, apr_psprintf(p, "%s must be a number.", key));
    }
    *present = 1;
    return NULL;
}
