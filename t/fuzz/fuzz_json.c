/* The request body readers: dp_json_parse_object on the body of every JSON route, then the
 * typed field readers on each of its keys (dp_json_string with and without a requirement,
 * dp_json_money). Input: the body. Properties: a string read is the field's text (no NUL, at
 * most the limit in characters); money read is within its bounds and exact to the cent. */
#include "fuzz.h"

#include "dp_json.h"

#include <math.h>

#define MAX_CENTS 9999999999LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    json_t *body, *v;
    const char *key;
    dp_error *e;

    e = dp_json_parse_object(p, (const char *)data, size, &body);
    if (e != NULL) {
        FZ_ASSERT(e->status == 400 && body == NULL);
        fz_end(p);
        return 0;
    }
    FZ_ASSERT(json_is_object(body));
    json_object_foreach(body, key, v)
    {
        const char *s = NULL;
        long long cents = -1;
        int present = -1;

        if (dp_json_string(p, body, key, key, 1, 16, &s) == NULL) {
            FZ_ASSERT(s != NULL && json_is_string(v) && strlen(s) == json_string_length(v));
        }
        else {
            FZ_ASSERT(s == NULL);
        }
        dp_json_string(p, body, key, key, 0, 1000, &s);
        if (dp_json_money(p, body, key, key, MAX_CENTS, &cents, &present) == NULL && present) {
            FZ_ASSERT(cents >= 0 && cents <= MAX_CENTS);
            FZ_ASSERT(json_is_integer(v) || fabs(json_real_value(v) * 100.0 - (double)cents) < 0.5);
        }
    }
    fz_end(p);
    return 0;
}
