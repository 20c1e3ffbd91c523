/* The field rules of dp_validate, on request fields. Input: the field's text. Properties:
 * normalising keeps what the rule accepted valid (an email lower-cased stays an email, a
 * time normalised is a strict HH:MM), lower-casing keeps the length, and a valid instant
 * starts with a valid date. */
#include "fuzz.h"

#include "dp_validate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    const char *s = apr_pstrmemdup(p, (const char *)data, size), *t;

    if (dp_valid_email(s)) {
        FZ_ASSERT(strlen(s) <= 254);
        FZ_ASSERT(dp_valid_email(dp_email_normalize(p, s)));
    }
    FZ_ASSERT(strlen(dp_lower(p, s)) == strlen(s));
    dp_valid_password(s);
    dp_valid_user_type(s);
    if (dp_valid_time(s)) {
        FZ_ASSERT(strlen(s) == 5);
        t = dp_time_normalize(p, s);
        FZ_ASSERT(t != NULL && strcmp(t, s) == 0);
    }
    t = dp_time_normalize(p, s);
    FZ_ASSERT(t == NULL || dp_valid_time(t));
    if (dp_valid_date(s)) {
        FZ_ASSERT(strlen(s) == 10);
    }
    dp_valid_zone_name(s);
    if (dp_valid_url(s)) {
        FZ_ASSERT(strlen(s) <= 2048);
    }
    dp_valid_phone(s);
    if (dp_valid_instant(s)) {
        FZ_ASSERT(dp_valid_date(apr_pstrndup(p, s, 10)));
    }
    fz_end(p);
    return 0;
}
