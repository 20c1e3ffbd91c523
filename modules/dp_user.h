/* dp_user: the public JSON shape of a user (docs/api.md, "User"), from a users_api row.
 * The one place that decides which fields a user object carries. */
#ifndef DP_USER_H
#define DP_USER_H

#include <apr_pools.h>
#include <jansson.h>

#include "dp_db.h"

/* Every model field of the user's type, null when unset; never the password hash.
 * The returned object belongs to the pool. */
json_t *dp_user_json(apr_pool_t *p, const dp_rows *rows, int i);

/* The user's id when the row is a client's (the audit event's client), else NULL. */
const char *dp_user_client_id(const dp_rows *rows);

#endif
