/* mod_docportal: the DocPortal API as an Apache httpd module.
 *
 * One handler ("docportal-api", set on <Location /api>) and one static route table. The
 * dispatcher does what every endpoint shares (request id, security and CORS headers, TLS,
 * routing with 404/405, authentication and role checks, the JSON body) so that a resource
 * handler only validates, runs its statements, writes its audit event and answers. */
#include <httpd.h>
#include <apr_optional.h>
#include <curl/curl.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#include "modules/core/dp_crypto.h"
#include "modules/core/dp_google.h"
#include "modules/core/dp_google_id.h"
#include "modules/core/dp_jwt.h"
#include "modules/core/dp_password.h"
#include "modules/core/dp_validate.h"
#include "modules/core/dp_uuid.h"
#include "modules/dp_audit.h"
#include "modules/dp_config.h"
#include "modules/dp_db.h"
#include "modules/dp_handlers.h"
#include "modules/dp_httpd_error.h"
#include "modules/dp_request.h"
#include "modules/dp_session.h"
#include "modules/dp_auditseal.h"
#include "modules/dp_mailer.h"
#include "dp_sql.h"

/* One route per line pair, aligned by hand: */
/* clang-format off */
/* method, path, roles allowed, flags; audit action, resource type, handler */
static const dp_route routes[] = {
    {"GET", "/api/health", DP_ROLE_PUBLIC, DP_ROUTE_PLAIN_HTTP | DP_ROUTE_NO_AUDIT,
     NULL, NULL, dp_health_get},
    {"GET", "/api/openapi.json", DP_ROLE_PUBLIC, DP_ROUTE_PLAIN_HTTP | DP_ROUTE_NO_AUDIT,
     NULL, NULL, dp_openapi_get},

    {"POST", "/api/auth/register", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_PROFILE_BODY,
     "auth.register", "user", dp_auth_register},
    {"POST", "/api/auth/login", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY,
     "auth.login", "user", dp_auth_login},
    {"POST", "/api/auth/google", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY,
     "auth.google", "user", dp_auth_google},
    {"GET", "/api/auth/config", DP_ROLE_PUBLIC, DP_ROUTE_NO_AUDIT,
     NULL, NULL, dp_auth_config},
    {"GET", "/api/auth/me", DP_ROLE_ANY, DP_ROUTE_UNVERIFIED | DP_ROUTE_FOLD_AUTH,
     "user.read", "user", dp_auth_me},
    {"POST", "/api/auth/logout", DP_ROLE_ANY, DP_ROUTE_UNVERIFIED,
     "auth.logout", "user", dp_auth_logout},
    {"PATCH", "/api/auth/me", DP_ROLE_ANY, DP_ROUTE_BODY | DP_ROUTE_UNVERIFIED,
     "user.update", "user", dp_auth_me_update},
    {"POST", "/api/auth/verify-email", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY,
     "auth.verify_email", "user", dp_account_verify_email},
    {"POST", "/api/auth/verify-email/resend", DP_ROLE_ANY, DP_ROUTE_UNVERIFIED,
     "auth.verify_resend", "user", dp_account_verify_resend},
    {"POST", "/api/auth/password-reset", DP_ROLE_PUBLIC, DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY,
     "auth.password_reset", "user", dp_account_reset_request},
    {"POST", "/api/auth/password-reset/confirm", DP_ROLE_PUBLIC,
     DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY,
     "auth.password_reset_confirm", "user", dp_account_reset_confirm},
    {"POST", "/api/auth/change-password", DP_ROLE_ANY,
     DP_ROUTE_BODY | DP_ROUTE_SMALL_BODY | DP_ROUTE_UNVERIFIED,
     "auth.change_password", "user", dp_account_change_password},

    {"GET", "/api/provider/dashboard", DP_ROLE_PROVIDER, 0,
     "dashboard.read", "dashboard", dp_dashboard_provider},
    {"GET", "/api/provider/clients", DP_ROLE_PROVIDER, 0,
     "client.list", "client", dp_clients_list},
    {"POST", "/api/provider/clients", DP_ROLE_PROVIDER, DP_ROUTE_BODY,
     "client.create", "client", dp_clients_create},
    {"GET", "/api/provider/appointments", DP_ROLE_PROVIDER, DP_ROUTE_FOLD_AUTH,
     "appointment.list", "appointment", dp_appointment_list_provider},
    {"POST", "/api/provider/appointments", DP_ROLE_PROVIDER, DP_ROUTE_BODY,
     "appointment.create", "appointment", dp_appointment_book_by_provider},
    {"GET", "/api/provider/working-hours", DP_ROLE_PROVIDER, 0,
     "working_hours.read", "working_hours", dp_avail_hours_get},
    {"PUT", "/api/provider/working-hours", DP_ROLE_PROVIDER, DP_ROUTE_BODY,
     "working_hours.update", "working_hours", dp_avail_hours_put},
    {"GET", "/api/provider/time-off", DP_ROLE_PROVIDER, 0,
     "time_off.list", "time_off", dp_avail_timeoff_list},
    {"POST", "/api/provider/time-off", DP_ROLE_PROVIDER, DP_ROUTE_BODY,
     "time_off.create", "time_off", dp_avail_timeoff_create},
    {"DELETE", "/api/provider/time-off/:id", DP_ROLE_PROVIDER, DP_ROUTE_UUID_PARAM,
     "time_off.delete", "time_off", dp_avail_timeoff_delete},
    {"GET", "/api/provider/available-slots/:date", DP_ROLE_PROVIDER, 0,
     "slots.read", "availability", dp_avail_slots_provider},

    {"GET", "/api/client/dashboard", DP_ROLE_CLIENT, 0,
     "dashboard.read", "dashboard", dp_dashboard_client},
    {"GET", "/api/client/provider", DP_ROLE_CLIENT, 0,
     "provider.read", "user", dp_client_provider},
    {"GET", "/api/client/provider/available-slots/:date", DP_ROLE_CLIENT, 0,
     "slots.read", "availability", dp_avail_slots_client},
    {"GET", "/api/client/appointments", DP_ROLE_CLIENT, DP_ROUTE_FOLD_AUTH,
     "appointment.list", "appointment", dp_appointment_list_client},
    {"POST", "/api/client/appointments", DP_ROLE_CLIENT, DP_ROUTE_BODY,
     "appointment.create", "appointment", dp_appointment_book},

    {"GET", "/api/appointments/:id", DP_ROLE_ANY, DP_ROUTE_UUID_PARAM,
     "appointment.read", "appointment", dp_appointment_get},
    {"PATCH", "/api/appointments/:id", DP_ROLE_ANY, DP_ROUTE_BODY | DP_ROUTE_UUID_PARAM,
     "appointment.update", "appointment", dp_appointment_update},
    {"DELETE", "/api/appointments/:id", DP_ROLE_ANY, DP_ROUTE_UUID_PARAM,
     "appointment.cancel", "appointment", dp_appointment_cancel},
    {"POST", "/api/appointments/:id/join", DP_ROLE_ANY, DP_ROUTE_UUID_PARAM,
     "appointment.join", "appointment", dp_appointment_join},

    {"POST", "/api/messages", DP_ROLE_ANY, DP_ROUTE_BODY,
     "message.create", "message", dp_messages_send},
    {"GET", "/api/messages", DP_ROLE_ANY, DP_ROUTE_FOLD_AUTH,
     "message.read", "message", dp_messages_list},
    {"PATCH", "/api/messages/:id/read", DP_ROLE_ANY, DP_ROUTE_UUID_PARAM,
     "message.update", "message", dp_messages_mark_read},

    {"POST", "/api/provider/clinical-notes", DP_ROLE_PROVIDER, DP_ROUTE_BODY,
     "note.create", "clinical_note", dp_notes_create},
    {"GET", "/api/provider/clinical-notes/:appointmentId", DP_ROLE_PROVIDER, DP_ROUTE_UUID_PARAM,
     "note.read", "clinical_note", dp_notes_get},
    {"PATCH", "/api/provider/clinical-notes/:appointmentId", DP_ROLE_PROVIDER,
     DP_ROUTE_BODY | DP_ROUTE_UUID_PARAM,
     "note.update", "clinical_note", dp_notes_update},
    {"POST", "/api/provider/clinical-notes/:appointmentId/sign", DP_ROLE_PROVIDER,
     DP_ROUTE_UUID_PARAM,
     "note.sign", "clinical_note", dp_notes_sign},
    {"POST", "/api/provider/clinical-notes/:appointmentId/addenda", DP_ROLE_PROVIDER,
     DP_ROUTE_BODY | DP_ROUTE_UUID_PARAM,
     "note.addendum", "clinical_note", dp_notes_addendum},

    {"GET", "/api/billing/invoices", DP_ROLE_ANY, 0,
     "invoice.list", "invoice", dp_billing_invoices},
    {"POST", "/api/billing/invoices", DP_ROLE_PROVIDER, DP_ROUTE_BODY,
     "invoice.create", "invoice", dp_billing_invoice_create},
    {"POST", "/api/billing/pay", DP_ROLE_CLIENT, DP_ROUTE_BODY,
     "invoice.pay", "invoice", dp_billing_pay},
    {"GET", "/api/billing/payment-intent", DP_ROLE_CLIENT, 0,
     "payment_intent.create", "payment_intent", dp_billing_intent},
    {"POST", "/api/billing/payment-intent", DP_ROLE_CLIENT, DP_ROUTE_BODY,
     "payment_intent.create", "payment_intent", dp_billing_intent},
    {"GET", "/api/billing/config", DP_ROLE_ANY, DP_ROUTE_NO_AUDIT,
     NULL, NULL, dp_billing_config},
    {"POST", "/api/billing/webhook", DP_ROLE_PUBLIC, DP_ROUTE_RAW_BODY | DP_ROUTE_EVENT_BODY,
     "billing.webhook", "invoice", dp_billing_webhook},

    {"GET", "/api/audit", DP_ROLE_PROVIDER, 0,
     "audit.read", "audit", dp_auditreport_get},

    /* the private calendar feed: its link is the key (no session), so the route is public */
    {"POST", "/api/provider/calendar-feed", DP_ROLE_PROVIDER, 0,
     "calendar_feed.create", "calendar_feed", dp_calendar_feed_create},
    {"DELETE", "/api/provider/calendar-feed", DP_ROLE_PROVIDER, 0,
     "calendar_feed.delete", "calendar_feed", dp_calendar_feed_delete},

    {"GET", "/api/calendar/:token", DP_ROLE_PUBLIC, 0,
     "calendar_feed.read", "calendar_feed", dp_calendar_feed_get},
};
/* clang-format on */
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static unsigned role_bit(const char *role)
{
    return strcmp(role, "provider") == 0 ? DP_ROLE_PROVIDER : DP_ROLE_CLIENT;
}

/* DP_ROUTE_UUID_PARAM: what an id that is no UUID answers, by the route's resource type: the
 * same 404 as an id that names no row of the caller's. A time-off delete records that refusal
 * as a denied attempt, as it does for an unknown id; the others answer without an audit event. */
static const struct {
    const char *resource_type;
    const char *detail;
    int audited;
} bad_ids[] = {
    {"appointment",   "No such appointment.",                   0},
    {"message",       "No such message.",                       0},
    {"time_off",      "No such time off.",                      1},
    {"clinical_note", "No clinical note for that appointment.", 0},
};

/* A UUID path parameter goes to the handler in its stored (lower-case) form; anything else
 * names no row and gets the resource's 404. */
static dp_error *uuid_param(dp_ctx *c)
{
    const char *detail = "Not found.";
    int audited = 0;
    dp_db *db;
    dp_error *e;

    if (dp_uuid_valid(c->params[0])) {
        c->params[0] = dp_lower(c->r->pool, c->params[0]);
        return NULL;
    }
    for (apr_size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        if (strcmp(bad_ids[i].resource_type, c->route->resource_type) == 0) {
            detail = bad_ids[i].detail;
            audited = bad_ids[i].audited;
        }
    }
    if (audited) {
        dp_audit_event ev = {.resource_id = c->params[0], .outcome = DP_OUTCOME_DENIED};
        if ((e = dp_ctx_db(c, &db)) || (e = dp_audit(c, &ev))) return e;
    }
    return dp_error_make(c->r->pool, 404, DP_E_NOT_FOUND, NULL, "%s", detail);
}

static dp_error *dispatch(dp_ctx *c)
{
    request_rec *r = c->r;
    dp_error *e;

    if (c->cfg->require_tls && !(c->route->flags & DP_ROUTE_PLAIN_HTTP) && !dp_is_tls(r, c->cfg)) {
        return dp_error_make(r->pool, 403, DP_E_TLS_REQUIRED, NULL,
                             "This API is served over HTTPS only.");
    }
    if (c->route->roles != DP_ROLE_PUBLIC) {
        if ((e = dp_session_authenticate(c))) return e;
        if (!(c->route->roles & role_bit(c->who->role))) {
            dp_audit_event ev = {.outcome = DP_OUTCOME_DENIED};
            /* a session still pending is checked first: a dead one is 401, not 403 */
            if (c->who->pending != NULL && (e = dp_session_check(c))) return e;
            if (!(c->route->flags & DP_ROUTE_NO_AUDIT) && (e = dp_audit(c, &ev))) return e;
            return dp_error_make(r->pool, 403, DP_E_FORBIDDEN, NULL,
                                 "Your role may not use this endpoint.");
        }
        /* a pending session meets this rule once the database has confirmed it */
        if (c->who->pending == NULL && (e = dp_session_unverified(c))) return e;
    }
    if (c->route->flags & DP_ROUTE_BODY) {
        if ((e = dp_read_json_body(r, dp_route_body_cap(c->route, c->cfg->max_body), &c->body))) {
            return e;
        }
    }
    else if (c->route->flags & DP_ROUTE_RAW_BODY) {
        if ((e = dp_read_body(r, dp_route_body_cap(c->route, c->cfg->max_body), &c->raw_body,
                              &c->raw_len))) {
            return e;
        }
    }
    if ((c->route->flags & DP_ROUTE_UUID_PARAM) && (e = uuid_param(c))) return e;
    e = c->route->handler(c);
    dp_audit_settled(c);
    /* A handler that refused before its first use of the database (a bad query argument)
     * left the session unchecked: a revoked or expired session is answered 401 first. */
    if (e != NULL && c->who != NULL && c->who->pending != NULL) {
        dp_error *se = dp_session_confirm(c);
        e = se != NULL ? se : e;
    }
    /* Every route that touches user data must leave an audit event; a handler that forgot
     * is a bug the error log (and the test suite's scan of it) must show. */
    if (e == NULL && !c->audited && !(c->route->flags & DP_ROUTE_NO_AUDIT)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "DP01003: %s %s answered without writing an audit event", c->route->method,
                      c->route->pattern);
    }
    return e;
}

/* OPTIONS: a CORS preflight or a plain capabilities question about a known path. */
static int answer_options(request_rec *r, const dp_config *cfg, const char *allow)
{
    apr_table_setn(r->headers_out, "Allow", allow);
    if (cfg->cors_origin != NULL
        && apr_table_get(r->headers_in, "Access-Control-Request-Method") != NULL
        && apr_table_get(r->err_headers_out, "Access-Control-Allow-Origin") != NULL) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Methods", allow);
        apr_table_setn(r->headers_out, "Access-Control-Allow-Headers",
                       "Authorization, Content-Type, X-CSRF-Token, X-Request-Id");
        apr_table_setn(r->headers_out, "Access-Control-Max-Age", "600");
    }
    r->status = HTTP_NO_CONTENT;
    return OK;
}

static int dp_handler_hook(request_rec *r)
{
    dp_config *cfg;
    dp_ctx *c;
    dp_match m;
    dp_match_status ms;
    dp_error *e;
    const char *method;
    int httpd_status;

    if (r->handler == NULL || strcmp(r->handler, "docportal-api") != 0) {
        return DECLINED;
    }
    cfg = dp_config_get(r->server);
    c = apr_pcalloc(r->pool, sizeof(*c));
    c->r = r;
    c->cfg = cfg;
    c->request_id = dp_request_id(r);
    dp_common_headers(r, cfg, c->request_id);
    if ((httpd_status = dp_httpd_error_status(r)) != 0) { /* ErrorDocument */
        return dp_httpd_error_reply(r, httpd_status);
    }

    method = r->header_only ? "GET" : r->method; /* HEAD is GET without the body */
    ms = dp_route_match(r->pool, routes, N_ROUTES, method, r->uri, &m);
    if (ms == DP_MATCH_METHOD && r->method_number == M_OPTIONS) {
        return answer_options(r, cfg, m.allow);
    }
    if (ms == DP_MATCH_NOT_FOUND) {
        return dp_reply_error(
            r, dp_error_make(r->pool, 404, DP_E_NOT_FOUND, NULL, "No such endpoint: %s", r->uri));
    }
    if (ms == DP_MATCH_METHOD) {
        apr_table_setn(r->err_headers_out, "Allow", m.allow);
        return dp_reply_error(r,
                              dp_error_make(r->pool, 405, DP_E_METHOD, NULL,
                                            "%s is not allowed here; use %s.", r->method, m.allow));
    }
    c->route = m.route;
    memcpy(c->params, m.params, sizeof(c->params));
    e = dispatch(c);
    if (c->mail_queued) {
        dp_mailer_kick(); /* a queued mail is committed unless the request failed */
    }
    if (e != NULL) {
        if (e->status >= 500) {
            /* 502/503 are the world's state (Stripe, Google or the database away), logged by
             * their own call sites; a 500 is ours */
            ap_log_rerror(APLOG_MARK, e->status == 500 ? APLOG_ERR : APLOG_WARNING, 0, r,
                          "DP01002: %s %s answered %d %s", r->method, r->uri, e->status, e->code);
        }
        return dp_reply_error(r, e);
    }
    return OK;
}

/* httpd answers a path it cannot decode (a bad %-escape, an encoded slash or NUL) with its
 * own HTML page before any handler runs. Under /api every answer is JSON, so such a path is
 * pointed at one that matches no route and gets the 404 JSON answer. */
static int dp_post_read_request(request_rec *r)
{
    const char *path = r->parsed_uri.path;
    char *copy;

    if (path == NULL || strncmp(path, "/api", 4) != 0 || (path[4] != '\0' && path[4] != '/')) {
        return DECLINED;
    }
    copy = apr_pstrdup(r->pool, path);
    if (ap_unescape_url(copy) != OK) {
        r->parsed_uri.path = apr_pstrdup(r->pool, "/api/.undecodable-path");
        r->uri = r->parsed_uri.path;
    }
    return DECLINED;
}

/* The API is virtual: no file under DocumentRoot backs /api. Skipping httpd's directory walk
 * keeps it from stat()ing (and, where the children cannot search DocumentRoot's parents,
 * refusing with 403) paths that do not exist on disk. */
static int dp_map_to_storage(request_rec *r)
{
    const char *path = r->uri;
    if (path != NULL && strncmp(path, "/api", 4) == 0 && (path[4] == '\0' || path[4] == '/')) {
        return OK;
    }
    return DECLINED;
}

static int dp_post_config_prepare(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                  server_rec *s)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    for (server_rec *v = s; v != NULL; v = v->next) {
        dp_db_prepare_all(v);
    }
    return OK;
}

static int dp_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    const char *err;
    (void)plog;

    if (APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare) == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "DP03002: mod_docportal needs mod_dbd: add LoadModule dbd_module");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (server_rec *v = s; v != NULL; v = v->next) {
        dp_config *cfg = dp_config_get(v);
        if ((err = dp_config_finish(ptemp, v, cfg)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "DP03003: mod_docportal: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* A hash at the configured cost for logins with an unknown email; vhosts that
         * share the main server's cost share its hash. */
        if (v != s && cfg->bcrypt_cost == dp_config_get(s)->bcrypt_cost) {
            cfg->dummy_hash = dp_config_get(s)->dummy_hash;
        }
        else {
            const char *pw = dp_random_hex(ptemp, 16);
            cfg->dummy_hash = pw ? dp_password_hash(pconf, pw, cfg->bcrypt_cost) : NULL;
            if (cfg->dummy_hash == NULL) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                             "DP03004: mod_docportal: no randomness for a password hash");
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    /* libcurl's global state must exist before the children (threads) do */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || dp_google_init(pconf) != APR_SUCCESS
        || dp_google_id_init(pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "DP03006: mod_docportal: could not initialise the HTTP client");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((err = dp_db_startup_check(ptemp, s)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "DP03005: mod_docportal: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void dp_register_hooks(apr_pool_t *p)
{
    /* statements must be handed to mod_dbd before its own post_config prepares them */
    static const char *const before_dbd[] = {"mod_dbd.c", NULL};
    (void)p;
    ap_hook_post_config(dp_post_config_prepare, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_post_config(dp_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(dp_post_read_request, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(dp_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(dp_handler_hook, NULL, NULL, APR_HOOK_MIDDLE);
    /* the background threads of each child (audit sealer, mail delivery) use mod_dbd's pool,
     * which its own child_init creates */
    ap_hook_child_init(dp_auditseal_child_init, before_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(dp_mailer_child_init, before_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(dp_audit_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* first: the statements' index, which every thread reads, is made before any starts */
    ap_hook_child_init(dp_pq_child_init, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(docportal) = {STANDARD20_MODULE_STUFF,
                                NULL, /* per-directory config */
                                NULL,
                                dp_config_create, /* per-server config */
                                dp_config_merge,
                                dp_config_cmds,
                                dp_register_hooks,
                                0};
