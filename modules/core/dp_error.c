#include "dp_error.h"

#include <apr_strings.h>
#include <stdarg.h>

dp_error *dp_error_make(apr_pool_t *p, int status, const char *code, const char *field,
                        const char *fmt, ...)
{
    dp_error *e = apr_pcalloc(p, sizeof(*e));
    va_list ap;

    va_start(ap, fmt);
    e->detail = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    e->status = status;
    e->code = code;
    e->field = field;
    return e;
}

dp_error *dp_error_field(apr_pool_t *p, const char *field, const char *detail)
{
    return dp_error_make(p, 422, DP_E_VALIDATION, field, "%s", detail);
}

dp_error *dp_error_internal(apr_pool_t *p)
{
    return dp_error_make(p, 500, DP_E_INTERNAL, NULL, "The server could not complete the request.");
}

dp_error *dp_error_email_taken(apr_pool_t *p)
{
    return dp_error_make(p, 409, DP_E_EMAIL_TAKEN, "email",
                         "An account with this email already exists.");
}
