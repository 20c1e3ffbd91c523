/* dp_video: the video room of an appointment. Google Meet (through the Calendar API) when a
 * service-account key is configured, else a room on the configured Jitsi Meet server; a
 * Google failure falls back to Jitsi and is logged, so an appointment never has a broken
 * link. */
#ifndef DP_VIDEO_H
#define DP_VIDEO_H

#include "dp_request.h"

/* link: the room's URL; vendor: "google" | "jitsi"; event_id: Google's event id or NULL.
 * Google acts in the provider's name (domain-wide delegation to provider_email) only when
 * the provider proved that address (provider_verified) and, with DocPortalGoogleDomain, the
 * address is in that Workspace domain; otherwise the room is a Jitsi one. */
dp_error *dp_video_room(dp_ctx *c, const char *appointment_id, const char *provider_email,
                        int provider_verified, const char *starts_at, const char *ends_at,
                        const char *summary, const char **link, const char **vendor,
                        const char **event_id);

/* The Google event of an appointment kept in step with it, once the database said so (after
 * the commit, or after the rollback of a booking that failed). The event lives in the
 * provider's calendar (provider_email, as when it was made). A failure is logged with the
 * appointment's id and Google's short reason, never returned: the appointment stands as the
 * database has it, whatever Google says. */

/* The appointment moved: its event follows to starts_at .. ends_at (RFC 3339). */
void dp_video_moved(dp_ctx *c, const char *appointment_id, const char *provider_email,
                    const char *event_id, const char *starts_at, const char *ends_at);

/* The appointment was cancelled, or its booking failed after the event was made: the event
 * goes (one Google no longer has counts as gone). */
void dp_video_gone(dp_ctx *c, const char *appointment_id, const char *provider_email,
                   const char *event_id);

#endif
