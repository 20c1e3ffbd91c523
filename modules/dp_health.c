/* GET /api/health: public, also over plain HTTP, for load balancers. Touches no user data. */
#include "dp_handlers.h"
#include "dp_sql.h"

#include "core/dp_json.h"

dp_error *dp_health_get(dp_ctx *c)
{
    json_t *out = dp_json_own(c->r->pool, json_object());
    dp_rows *rows = NULL;
    dp_db *db;
    dp_error *e = dp_ctx_db(c, &db);

    if (e == NULL) {
        e = dp_db_select(db, DPQ_HEALTH, &rows, DP_NOARGS);
    }
    if (e != NULL || rows->nrows != 1) {
        json_object_set_new(out, "status", json_string("error"));
        json_object_set_new(out, "database", json_string("down"));
        json_object_set_new(out, "detail", json_string("The database is unavailable."));
        json_object_set_new(out, "code", json_string(DP_E_UNAVAILABLE));
        dp_reply_json(c, 503, out);
        return NULL;
    }
    json_object_set_new(out, "status", json_string("ok"));
    json_object_set_new(out, "database", json_string("ok"));
    dp_reply_json(c, 200, out);
    return NULL;
}
