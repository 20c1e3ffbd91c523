/* A provider's private calendar feed: an iCalendar document (RFC 5545) of its
 * pending and confirmed appointments that a calendar application subscribes to, at a link
 * that is its only key (GET /api/calendar/<token>.ics, no session: a phone's calendar has
 * none). The token is 256 random bits, stored only as its SHA-256; a provider has one feed,
 * a new link replaces the old one and the feed can be turned off.
 *
 * A phone calendar is not a system for health information, so an event says the least a
 * provider needs to find its session: when, its status, the video link and the client's
 * initials. Never a name, an email, the type of session or the notes. */
#include "dp_audit.h"
#include "dp_handlers.h"
#include "dp_outbox.h"
#include "dp_sql.h"

#include "core/dp_crypto.h"
#include "core/dp_ics.h"
#include "core/dp_json.h"

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>

APLOG_USE_MODULE(docportal);

#define FEED_TOKEN_HEX 64 /* 32 random bytes */
#define FEED_SUFFIX    ".ics"
#define FEED_NAME      "DocPortal sessions"
#define FEED_PRODID    "-//DocPortal//mod_docportal calendar feed//EN"
#define FEED_REFRESH   "PT1H" /* how often a calendar application should fetch it again */

/* POST /api/provider/calendar-feed: provider. 201 {url}; a link it had before stops working
 * in the same transaction. */
dp_error *dp_calendar_feed_create(dp_ctx *c)
{
    apr_pool_t *p = c->r->pool;
    dp_audit_event ev = {.resource_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};
    const char *token, *hash;
    dp_rows *rows;
    dp_error *e;
    json_t *out;

    if ((token = dp_random_hex(p, FEED_TOKEN_HEX / 2)) == NULL) {
        return dp_error_internal(p);
    }
    hash = dp_sha256_hex(p, token, FEED_TOKEN_HEX);
    if ((e = dp_audited(c, &ev, DPQ_CALENDAR_FEED_SET, &rows, DP_ARGS(hash, c->who->user_id)))) {
        return e;
    }
    if (rows->nrows != 1) { /* the account was removed after the request was authenticated */
        return dp_error_make(p, 401, DP_E_UNAUTHORIZED, NULL, "The account no longer exists.");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                  "DP15101: calendar feed of provider %s has a new link; any earlier one is "
                  "revoked",
                  c->who->user_id);
    out = dp_json_own(p, json_object());
    json_object_set_new(out, "url",
                        json_string(apr_pstrcat(p, dp_outbox_public_base(c), "/api/calendar/",
                                                token, FEED_SUFFIX, NULL)));
    dp_reply_json(c, 201, out);
    return NULL;
}

/* DELETE /api/provider/calendar-feed: provider. 204, whether or not there was a feed; its
 * link answers 404 from then on. */
dp_error *dp_calendar_feed_delete(dp_ctx *c)
{
    dp_audit_event ev = {.resource_id = c->who->user_id, .outcome = DP_OUTCOME_SUCCESS};
    dp_rows *rows;
    dp_error *e;

    if ((e = dp_audited(c, &ev, DPQ_CALENDAR_FEED_DELETE, &rows, DP_ARGS(c->who->user_id)))) {
        return e;
    }
    if (rows->nrows > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                      "DP15102: calendar feed of provider %s turned off", c->who->user_id);
    }
    dp_reply_empty(c);
    return NULL;
}

/* The hash of the route's "<64 lower-case hex>.ics", or NULL when it is not that. */
static const char *token_hash_of(dp_ctx *c)
{
    const char *seg = c->params[0];

    if (seg == NULL || strlen(seg) != FEED_TOKEN_HEX + sizeof(FEED_SUFFIX) - 1
        || strspn(seg, "0123456789abcdef") != FEED_TOKEN_HEX
        || strcmp(seg + FEED_TOKEN_HEX, FEED_SUFFIX) != 0) {
        return NULL;
    }
    return dp_sha256_hex(c->r->pool, seg, FEED_TOKEN_HEX);
}

/* The domain of every UID: the host of DocPortalPublicURL (by default http://ServerName, never
 * a request's Host), so that an event keeps its UID from fetch to fetch; "docportal" when that
 * host is no plain name (an IPv6 literal). */
static const char *uid_domain(dp_ctx *c)
{
    const char *d = dp_ics_domain(c->r->pool, c->cfg->public_url);
    return d != NULL ? d : "docportal";
}

static long long num(const dp_rows *rows, int i, int col)
{
    const char *v = dp_rows_at(rows, i, col);
    return v != NULL ? apr_atoi64(v) : 0;
}

/* The document: the calendar and one VEVENT per appointment row. */
static const char *feed_document(dp_ctx *c, const dp_rows *rows, apr_size_t *len)
{
    apr_pool_t *p = c->r->pool;
    int c_id = dp_rows_col(rows, "id"), c_starts = dp_rows_col(rows, "starts"),
        c_ends = dp_rows_col(rows, "ends"), c_created = dp_rows_col(rows, "created"),
        c_modified = dp_rows_col(rows, "modified"), c_status = dp_rows_col(rows, "status"),
        c_seq = dp_rows_col(rows, "calendar_sequence"), c_link = dp_rows_col(rows, "video_link"),
        c_initials = dp_rows_col(rows, "initials");
    const char *domain = uid_domain(c);
    long long now = (long long)apr_time_sec(c->r->request_time);
    apr_size_t hint = 512;
    dp_ics *w;

    /* the buffer grows with the rows: each event is its fixed properties, the video link
     * twice (URL, LOCATION) and the UID's domain */
    for (int i = 0; i < rows->nrows; i++) {
        const char *link = dp_rows_at(rows, i, c_link);
        hint += 512 + strlen(domain) + 2 * (link ? strlen(link) : 0);
    }
    w = dp_ics_make(p, hint);
    dp_ics_prop(w, "BEGIN", "VCALENDAR");
    dp_ics_prop(w, "VERSION", "2.0");
    dp_ics_prop(w, "PRODID", FEED_PRODID);
    dp_ics_prop(w, "CALSCALE", "GREGORIAN");
    dp_ics_prop(w, "METHOD", "PUBLISH");
    dp_ics_text(w, "X-WR-CALNAME", FEED_NAME);
    dp_ics_prop(w, "REFRESH-INTERVAL;VALUE=DURATION", FEED_REFRESH); /* RFC 7986 */
    dp_ics_prop(w, "X-PUBLISHED-TTL", FEED_REFRESH);
    for (int i = 0; i < rows->nrows; i++) {
        const char *id = dp_rows_at(rows, i, c_id), *status = dp_rows_at(rows, i, c_status);
        const char *link = dp_rows_at(rows, i, c_link);
        const char *initials = dp_rows_at(rows, i, c_initials);

        if (id == NULL) {
            continue; /* the feed's row when it has no appointment */
        }
        dp_ics_prop(w, "BEGIN", "VEVENT");
        dp_ics_text(w, "UID", apr_pstrcat(p, id, "@", domain, NULL));
        dp_ics_time(w, "DTSTAMP", now);
        dp_ics_time(w, "DTSTART", num(rows, i, c_starts));
        dp_ics_time(w, "DTEND", num(rows, i, c_ends));
        dp_ics_int(w, "SEQUENCE", num(rows, i, c_seq));
        dp_ics_prop(w, "STATUS",
                    status != NULL && strcmp(status, "confirmed") == 0 ? "CONFIRMED" : "TENTATIVE");
        dp_ics_text(w, "SUMMARY",
                    initials != NULL ? apr_pstrcat(p, "Session: ", initials, NULL) : "Session");
        dp_ics_prop(w, "CLASS", "PRIVATE");
        dp_ics_prop(w, "TRANSP", "OPAQUE");
        if (dp_ics_uri(w, "URL", link) == 0) {
            dp_ics_text(w, "LOCATION", link);
        }
        dp_ics_time(w, "CREATED", num(rows, i, c_created));
        dp_ics_time(w, "LAST-MODIFIED", num(rows, i, c_modified));
        dp_ics_prop(w, "END", "VEVENT");
    }
    dp_ics_prop(w, "END", "VCALENDAR");
    return dp_ics_finish(w, len);
}

/* GET /api/calendar/:token: public, the link is the key. 200 text/calendar, and one event
 * with the feed's provider as its actor; a malformed, unknown or revoked link is the 404 of
 * any unknown path, recorded as denied. */
dp_error *dp_calendar_feed_get(dp_ctx *c)
{
    request_rec *r = c->r;
    dp_audit_event refused = {.outcome = DP_OUTCOME_DENIED};
    dp_audit_event ev = {.actor_type = "provider", .outcome = DP_OUTCOME_SUCCESS};
    const char *hash = token_hash_of(c), *body;
    apr_size_t len;
    dp_rows *rows = NULL;
    dp_db *db;
    dp_error *e;

    if ((e = dp_ctx_db(c, &db))) return e;
    if (hash != NULL && (e = dp_db_select(db, DPQ_CALENDAR_FEED_EVENTS, &rows, DP_ARGS(hash)))) {
        return e;
    }
    if (rows == NULL || rows->nrows == 0) {
        return (e = dp_audit(c, &refused)) != NULL
            ? e
            : dp_error_make(r->pool, 404, DP_E_NOT_FOUND, NULL,
                            "No such calendar feed: the link is unknown or was "
                            "replaced or turned off.");
    }
    ev.actor_id = ev.resource_id = dp_rows_get(rows, 0, "provider_id");
    if ((e = dp_audit(c, &ev))) return e;
    body = feed_document(c, rows, &len);
    r->status = HTTP_OK;
    ap_set_content_type(r, "text/calendar; charset=utf-8");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return NULL;
}
