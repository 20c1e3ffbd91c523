/* dp_cookie_get, on the Cookie header of every browser request. Input: "header" NUL "name";
 * the session and CSRF cookie names are looked up in the header too. */
#include "fuzz.h"

#include "dp_cookie.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

/* A value is a non-empty part of the header without separators. */
static void check_value(const char *header, const char *v)
{
    if (v != NULL) {
        FZ_ASSERT(v[0] != '\0' && strlen(v) <= strlen(header));
        FZ_ASSERT(strpbrk(v, ";,") == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"dp_session", "dp_csrf", NULL};
    apr_pool_t *p = fz_begin();
    const char *parts[2];

    fz_split(p, data, size, 2, parts, NULL);
    check_value(parts[0], dp_cookie_get(p, parts[0], parts[1]));
    for (int i = 0; names[i] != NULL; i++) {
        check_value(parts[0], dp_cookie_get(p, parts[0], names[i]));
    }
    fz_end(p);
    return 0;
}
