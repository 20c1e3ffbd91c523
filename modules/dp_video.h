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
                        int provider_verified,
                        const char *starts_at, const char *ends_at, const char *summary,
                        const char **link, const char **vendor, const char **event_id);

#endif
