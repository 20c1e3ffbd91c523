/* dp_accept_quality, on the Accept header of the export endpoints. Input: "header" NUL
 * "media type"; the types the module negotiates are asked too. */
#include "fuzz.h"

#include "dp_accept.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {"text/csv", "application/json", "text/calendar", NULL};
    apr_pool_t *p = fz_begin();
    const char *parts[2];
    int q;

    fz_split(p, data, size, 2, parts, NULL);
    q = dp_accept_quality(parts[0], parts[1]);
    FZ_ASSERT(q >= 0 && q <= 1000);
    for (int i = 0; types[i] != NULL; i++) {
        q = dp_accept_quality(parts[0], types[i]);
        FZ_ASSERT(q >= 0 && q <= 1000);
    }
    fz_end(p);
    return 0;
}
