/* Resource handlers, one per endpoint; the route table in mod_docportal.c names their
 * roles and audit actions. */
#ifndef DP_HANDLERS_H
#define DP_HANDLERS_H

#include "dp_request.h"

/* health.c */
dp_error *dp_health_get(dp_ctx *c);

/* auth.c */
dp_error *dp_auth_register(dp_ctx *c);
dp_error *dp_auth_login(dp_ctx *c);
dp_error *dp_auth_me(dp_ctx *c);
dp_error *dp_auth_logout(dp_ctx *c);

#endif
