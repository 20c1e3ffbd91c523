#include "dp_video.h"

#include "core/dp_crypto.h"
#include "core/dp_google.h"

#include <apr_strings.h>
#include <http_log.h>

APLOG_USE_MODULE(docportal);

/* May the Calendar API act as this provider? */
static int google_may_act_as(const dp_config *cfg, const char *email, int verified)
{
    const char *at = email ? strrchr(email, '@') : NULL;
    if (!verified || at == NULL) {
        return 0;
    }
    return cfg->google_domain == NULL || strcasecmp(at + 1, cfg->google_domain) == 0;
}

dp_error *dp_video_room(dp_ctx *c, const char *appointment_id, const char *provider_email,
                        int provider_verified, const char *starts_at, const char *ends_at,
                        const char *summary, const char **link, const char **vendor,
                        const char **event_id)
{
    const dp_config *cfg = c->cfg;
    const char *room;

    *event_id = NULL;
    if (cfg->google.key_file_json != NULL
        && !google_may_act_as(cfg, provider_email, provider_verified)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r,
                      "DP05002: Google Meet not used for appointment %s: the provider's email "
                      "is unverified or outside %s; using Jitsi",
                      appointment_id, cfg->google_domain ? cfg->google_domain : "any domain");
    }
    else if (cfg->google.key_file_json != NULL) {
        dp_error *e = dp_google_meet_create(c->r->pool, &cfg->google, provider_email, starts_at,
                                            ends_at, summary, appointment_id, link, event_id);
        if (e == NULL) {
            *vendor = "google";
            return NULL;
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                      "DP05001: Google Meet room for appointment %s failed (%s); using Jitsi",
                      appointment_id, e->detail);
        if (*event_id != NULL) {
            /* an event without a usable link: it would sit in the calendar for nothing */
            dp_video_gone(c, appointment_id, provider_email, *event_id);
        }
    }
    /* 128 random bits: the room name is the only thing that keeps strangers out */
    room = dp_random_hex(c->r->pool, 16);
    if (room == NULL) {
        return dp_error_internal(c->r->pool);
    }
    *link = apr_pstrcat(c->r->pool, cfg->jitsi_base, "/DocPortal-", room, NULL);
    *vendor = "jitsi";
    *event_id = NULL;
    return NULL;
}

void dp_video_moved(dp_ctx *c, const char *appointment_id, const char *provider_email,
                    const char *event_id, const char *starts_at, const char *ends_at)
{
    dp_error *e = dp_google_event_move(c->r->pool, &c->cfg->google, provider_email, event_id,
                                       starts_at, ends_at);
    if (e != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                      "DP05003: Google event of appointment %s not moved (%s); the "
                      "provider's calendar shows the old time",
                      appointment_id, e->detail);
    }
}

void dp_video_gone(dp_ctx *c, const char *appointment_id, const char *provider_email,
                   const char *event_id)
{
    dp_error *e = dp_google_event_delete(c->r->pool, &c->cfg->google, provider_email, event_id);
    if (e != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->r,
                      "DP05004: Google event of appointment %s not deleted (%s); it stays in "
                      "the provider's calendar",
                      appointment_id, e->detail);
    }
}
