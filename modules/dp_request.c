#include "dp_request.h"
#include "dp_session.h"
#include "core/dp_crypto.h"
#include "core/dp_json.h"
#include "core/dp_jsonw.h"

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_ssl.h>
#include <util_filter.h>
#include <util_script.h>

APLOG_USE_MODULE(docportal);

dp_error *dp_ctx_db(dp_ctx *c, dp_db **db)
{
    dp_error *e = NULL;
    if (c->db == NULL) {
        e = dp_db_acquire(c->r, &c->db);
    }
    *db = c->db;
    if (e == NULL && c->who != NULL && c->who->pending != NULL) {
        e = dp_session_confirm(c);
    }
    return e;
}

const char *dp_query_arg(dp_ctx *c, const char *name)
{
    apr_table_t *args = NULL;
    const char *v;

    ap_args_to_table(c->r, &args); /* parsed once per request by httpd, then cached */
    v = args != NULL ? apr_table_get(args, name) : NULL;
    return (v != NULL && *v != '\0') ? v : NULL;
}

void dp_reply_bytes(request_rec *r, int status, const char *ctype, const void *body, apr_size_t len)
{
    r->status = status;
    ap_set_content_type(r, ctype);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
}

static void write_body(request_rec *r, int status, const char *body, apr_size_t len)
{
    dp_reply_bytes(r, status, "application/json", body, len);
}

void dp_reply_json(dp_ctx *c, int status, json_t *body)
{
    apr_size_t len;
    const char *s = dp_json_dump(c->r->pool, body, &len);
    write_body(c->r, status, s, len);
}

dp_error *dp_reply_jw(dp_ctx *c, int status, dp_jw *w)
{
    apr_size_t len;
    const char *s = dp_jw_finish(w, &len);

    if (s == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r,
                      "DP01004: an answer written by dp_jsonw is not well formed");
        return dp_error_make(c->r->pool, 500, DP_E_INTERNAL, NULL,
                             "The answer could not be written.");
    }
    write_body(c->r, status, s, len);
    return NULL;
}

void dp_reply_empty(dp_ctx *c)
{
    c->r->status = HTTP_NO_CONTENT;
}

int dp_reply_error(request_rec *r, const dp_error *e)
{
    json_t *j = dp_json_own(r->pool, json_object());
    apr_size_t len;
    const char *s;

    json_object_set_new(j, "detail", json_string(e->detail ? e->detail : ""));
    json_object_set_new(j, "code", json_string(e->code ? e->code : DP_E_INTERNAL));
    if (e->field != NULL) {
        json_object_set_new(j, "field", json_string(e->field));
    }
    s = dp_json_dump(r->pool, j, &len);
    write_body(r, e->status, s, len);
    return OK;
}

const char *dp_request_id(request_rec *r)
{
    const char *id = apr_table_get(r->notes, "dp-request-id");
    if (id == NULL) {
        /* mod_unique_id's value when it is loaded, else our own random id */
        id = apr_table_get(r->subprocess_env, "UNIQUE_ID");
        if (id == NULL) {
            id = dp_random_hex(r->pool, 12);
        }
        if (id == NULL) {
            id = apr_psprintf(r->pool, "%" APR_TIME_T_FMT "-%lx", r->request_time,
                              (unsigned long)r->connection->id);
        }
        apr_table_setn(r->notes, "dp-request-id", id);
    }
    return id;
}

int dp_is_tls(request_rec *r, const dp_config *cfg)
{
    const char *proto;

    if (ap_ssl_conn_is_ssl(r->connection)) {
        return 1;
    }
    if (!cfg->trust_forwarded_proto) {
        return 0;
    }
    /* Only a single "https" counts: the proxy in front sets (not appends) the header, and a
     * list would mean a hop we were not told to trust. */
    proto = apr_table_get(r->headers_in, "X-Forwarded-Proto");
    if (proto == NULL) {
        return 0;
    }
    while (*proto == ' ' || *proto == '\t') proto++;
    if (strncasecmp(proto, "https", 5) != 0) {
        return 0;
    }
    proto += 5;
    while (*proto == ' ' || *proto == '\t') proto++;
    return *proto == '\0';
}

void dp_common_headers(request_rec *r, const dp_config *cfg, const char *request_id)
{
    const char *origin;

    /* err_headers_out: kept on every answer, errors included */
    apr_table_setn(r->err_headers_out, "X-Request-Id", request_id);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    /* HSTS only means something on an answer the browser got over TLS (RFC 6797 8.1) */
    if (cfg->hsts[0] != '\0' && dp_is_tls(r, cfg)) {
        apr_table_setn(r->err_headers_out, "Strict-Transport-Security", cfg->hsts);
    }
    if (cfg->cors_origin != NULL) {
        apr_table_mergen(r->err_headers_out, "Vary", "Origin");
        origin = apr_table_get(r->headers_in, "Origin");
        if (origin != NULL && strcmp(origin, cfg->cors_origin) == 0) {
            apr_table_setn(r->err_headers_out, "Access-Control-Allow-Origin", cfg->cors_origin);
            apr_table_setn(r->err_headers_out, "Access-Control-Expose-Headers", "X-Request-Id");
        }
    }
}

static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    const apr_size_t n = sizeof(want) - 1;
    if (ct == NULL || strncasecmp(ct, want, n) != 0) {
        return 0;
    }
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static dp_error *too_large(request_rec *r, long max)
{
    /* the rest of the body is not read: close rather than drain megabytes */
    r->connection->keepalive = AP_CONN_CLOSE;
    return dp_error_make(r->pool, 413, DP_E_TOO_LARGE, NULL,
                         "The request body is larger than %ld bytes.", max);
}

dp_error *dp_read_body(request_rec *r, long max, const char **out, apr_size_t *out_len)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb;
    char *buf;
    apr_size_t used = 0, cap;
    int seen_eos = 0;

    *out = NULL;
    *out_len = 0;
    if (cl != NULL) {
        char *end;
        apr_off_t n;
        if (apr_strtoff(&n, cl, &end, 10) != APR_SUCCESS || *end != '\0' || n < 0) {
            return dp_error_make(r->pool, 400, DP_E_INVALID_JSON, NULL,
                                 "Content-Length is not a number.");
        }
        if (n > max) {
            return too_large(r, max);
        }
    }
    /* Read through the input filters into one buffer that never exceeds the cap; it grows
     * by doubling, so a small body costs a small buffer. */
    cap = 8192;
    buf = apr_palloc(r->pool, cap);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_status_t rv =
            ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ, 8192);
        if (rv != APR_SUCCESS) {
            apr_brigade_destroy(bb);
            if (rv == AP_FILTER_ERROR || APR_STATUS_IS_TIMEUP(rv)) {
                r->connection->keepalive = AP_CONN_CLOSE;
            }
            return dp_error_make(r->pool, 400, DP_E_INVALID_JSON, NULL,
                                 "The request body could not be read.");
        }
        for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
                apr_brigade_destroy(bb);
                return dp_error_make(r->pool, 400, DP_E_INVALID_JSON, NULL,
                                     "The request body could not be read.");
            }
            if ((apr_off_t)(used + len) > max) {
                apr_brigade_destroy(bb);
                return too_large(r, max);
            }
            if (used + len > cap) {
                char *bigger;
                while (used + len > cap) {
                    cap *= 2;
                }
                bigger = apr_palloc(r->pool, cap);
                memcpy(bigger, buf, used);
                buf = bigger;
            }
            memcpy(buf + used, data, len);
            used += len;
        }
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    *out = buf;
    *out_len = used;
    return NULL;
}

dp_error *dp_read_json_body(request_rec *r, long max, json_t **out)
{
    const char *buf;
    apr_size_t len;
    dp_error *e;

    *out = NULL;
    if (!is_json_type(apr_table_get(r->headers_in, "Content-Type"))) {
        return dp_error_make(r->pool, 400, DP_E_INVALID_JSON, NULL,
                             "The request body must be sent as application/json.");
    }
    if ((e = dp_read_body(r, max, &buf, &len))) return e;
    return dp_json_parse_object(r->pool, buf, len, out);
}

const char *dp_client_address(const dp_ctx *c)
{
    return c->r->useragent_ip != NULL ? c->r->useragent_ip : "";
}
