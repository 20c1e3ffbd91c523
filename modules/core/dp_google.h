/* dp_google: a Google Meet link for an appointment, through Google Calendar, and the
 * calendar event kept in step with the appointment.
 *
 * The module holds a service-account key with domain-wide delegation. For each appointment it
 * acts as the provider (the JWT's sub): it trades a signed RS256 assertion for an access token
 * (OAuth 2.0 JWT bearer grant), then creates an event in the provider's primary calendar with
 * a conference create request, and takes the event's Meet link. Later it moves the event
 * (events.patch) when the appointment moves, and deletes it (events.delete) when the
 * appointment is cancelled or its booking failed.
 *
 * Access tokens are cached in process memory per (service account, provider) until 60 s
 * before they expire. The cache needs dp_google_init; without it every call fetches a token.
 *
 * Every failure is a 502 upstream_error whose detail is safe to log and to show: it never
 * holds a token, the key, the assertion or the provider's address. Without a Meet link the
 * caller is expected to fall back to another video provider; a failed move or deletion leaves
 * the appointment as it is (the calendar is a convenience, the database the record).
 *
 * Needs curl_global_init (see dp_http.h). Pure C, no httpd headers. */
#ifndef DP_GOOGLE_H
#define DP_GOOGLE_H

#include <apr_errno.h>
#include <apr_pools.h>

#include "dp_error.h"

#define DP_GOOGLE_API_BASE    "https://www.googleapis.com"
#define DP_GOOGLE_TOKEN_URL   "https://oauth2.googleapis.com/token"
#define DP_GOOGLE_SCOPE       "https://www.googleapis.com/auth/calendar.events"
#define DP_GOOGLE_MEET_PREFIX "https://meet.google.com/"
#define DP_GOOGLE_TIMEOUT_MS  10000L
#define DP_GOOGLE_CACHE_MAX   1000 /* token cache writes before it is dropped whole */

typedef struct dp_google_cfg {
    const char *key_file_json; /* contents of a service-account key file (JSON) */
    const char *api_base;      /* NULL: DP_GOOGLE_API_BASE */
    const char *token_url;     /* NULL: the key file's token_uri, else DP_GOOGLE_TOKEN_URL */
    long timeout_ms;           /* budget of one call below (token and API); <= 0: the default */
} dp_google_cfg;

/* Create the token cache and its mutex in a subpool of pconf. Call once per process before
 * any thread uses dp_google (post_config with pconf, or child_init with pchild); calling
 * again after pconf was cleared (a restart) starts a new cache. */
apr_status_t dp_google_init(apr_pool_t *pconf);

/* Forget every cached token (tests, key rotation). */
void dp_google_cache_clear(void);

/* Create an event from start to end (RFC 3339) in subject_email's primary calendar with a
 * Google Meet conference. request_id makes the conference request idempotent: use one per
 * appointment. summary may be NULL.
 * On success returns NULL with *meet_link (an https://meet.google.com/ URL) and *event_id in
 * p. On failure returns a 502 upstream_error; *meet_link is NULL, and *event_id is NULL unless
 * an event was created but gave no usable link (the caller may delete it). */
dp_error *dp_google_meet_create(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject_email,
                                const char *start_rfc3339, const char *end_rfc3339,
                                const char *summary, const char *request_id, const char **meet_link,
                                const char **event_id);

/* Move event_id (an id dp_google_meet_create gave) in subject_email's primary calendar to
 * start .. end (RFC 3339): PATCH .../calendars/primary/events/<id> with {start, end} only,
 * so the conference and the rest of the event stay. Returns NULL on a 2xx answer, else a 502
 * upstream_error (an event Google no longer has is one: HTTP 404). */
dp_error *dp_google_event_move(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject_email,
                               const char *event_id, const char *start_rfc3339,
                               const char *end_rfc3339);

/* Delete event_id from subject_email's primary calendar: DELETE .../events/<id>. Returns NULL
 * when it is gone: deleted now (2xx), or already (Google's 404 and 410); else a 502
 * upstream_error. */
dp_error *dp_google_event_delete(apr_pool_t *p, const dp_google_cfg *cfg, const char *subject_email,
                                 const char *event_id);

#endif
