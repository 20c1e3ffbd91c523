/* dp_profile: the profile fields of a user (docs/api.md, "User"), read and validated from
 * a request body once, for register, PATCH /api/auth/me and a provider's new client. */
#ifndef DP_PROFILE_H
#define DP_PROFILE_H

#include <jansson.h>

#include "dp_db.h"

typedef enum {
    DP_PF_NAME,
    DP_PF_PHONE,
    DP_PF_AVATAR,
    DP_PF_SPECIALTY,
    DP_PF_LICENSE,
    DP_PF_BIO,
    DP_PF_HOURLY_RATE,
    DP_PF_TIME_ZONE, /* provider */
    DP_PF_DATE_OF_BIRTH,
    DP_PF_ADDRESS,
    DP_PF_INSURANCE,
    DP_PF_EMERGENCY, /* client */
    DP_PF_COUNT
} dp_profile_field;

typedef struct dp_profile {
    int given[DP_PF_COUNT];         /* present in the body (a JSON null clears) */
    const char *value[DP_PF_COUNT]; /* as bound to SQL: text, cents, date, jsonb text */
} dp_profile;

/* Read every field of user_type's profile that the body carries; other fields are ignored.
 * Returns a 422 naming the first bad field. */
dp_error *dp_profile_read(apr_pool_t *p, json_t *body, const char *user_type, dp_profile *out);

/* Checks that need the database (a named time zone exists). */
dp_error *dp_profile_check(dp_db *db, apr_pool_t *p, const dp_profile *pr);

/* The user_update statement's arguments: a flag and a value per field, then the user id. */
const char **dp_profile_update_args(apr_pool_t *p, const dp_profile *pr, const char *user_id,
                                    int *nargs);

#endif
