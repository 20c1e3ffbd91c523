/* dp_config: the module's directives and its per-server configuration.
 * Directive names are macros so that a typo fails the build, not a config file. */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <httpd.h>
#include <http_config.h>

#include "core/dp_keyring.h"
#include "core/dp_google.h"
#include "core/dp_google_id.h"
#include "core/dp_stripe.h"

#define DP_DIR_JWT_SECRET       "DocPortalJWTSecret"
#define DP_DIR_JWT_SECRET_FILE  "DocPortalJWTSecretFile"
#define DP_DIR_TOKEN_LIFETIME   "DocPortalTokenLifetime"
#define DP_DIR_BCRYPT_COST      "DocPortalBcryptCost"
#define DP_DIR_CORS_ORIGIN      "DocPortalCORSOrigin"
#define DP_DIR_MAX_BODY         "DocPortalMaxBody"
#define DP_DIR_REQUIRE_TLS      "DocPortalRequireTLS"
#define DP_DIR_JITSI_BASE       "DocPortalJitsiBase"
#define DP_DIR_GOOGLE_KEY_FILE  "DocPortalGoogleKeyFile"
#define DP_DIR_GOOGLE_API_BASE  "DocPortalGoogleAPIBase"
#define DP_DIR_GOOGLE_TOKEN     "DocPortalGoogleTokenURL"
#define DP_DIR_MESSAGE_KEY      "DocPortalMessageKey"
#define DP_DIR_GOOGLE_CLIENT    "DocPortalGoogleClientID"
#define DP_DIR_GOOGLE_CERTS     "DocPortalGoogleCertsURL"
#define DP_DIR_GOOGLE_GSI_URL   "DocPortalGoogleGsiURL"
#define DP_DIR_CURRENCY         "DocPortalCurrency"
#define DP_DIR_STRIPE_KEY_FILE  "DocPortalStripeSecretKeyFile"
#define DP_DIR_STRIPE_PUBLIC    "DocPortalStripePublishableKey"
#define DP_DIR_STRIPE_API_BASE  "DocPortalStripeAPIBase"
#define DP_DIR_STRIPE_HOOK_FILE "DocPortalStripeWebhookSecretFile"
#define DP_DIR_STRIPE_JS_URL    "DocPortalStripeJsURL"
/* transport */
#define DP_DIR_TRUST_FWD_PROTO "DocPortalTrustForwardedProto"
#define DP_DIR_HSTS            "DocPortalHSTS"
/* sessions and lockout */
#define DP_DIR_COOKIE_SESSIONS "DocPortalCookieSessions"
#define DP_DIR_LOCKOUT         "DocPortalLockout"
#define DP_DIR_LOCKOUT_IP      "DocPortalLockoutIP"
#define DP_DIR_IDLE_TIMEOUT    "DocPortalIdleTimeout"
/* audit chain (tamper evidence) */
#define DP_DIR_AUDIT_KEY_FILE    "DocPortalAuditKeyFile"
#define DP_DIR_AUDIT_SEAL_EVERY  "DocPortalAuditSealInterval"
#define DP_DIR_AUDIT_SWEEP_EVERY "DocPortalAuditSweepInterval"
#define DP_DIR_ANON_AUDIT_LIMIT  "DocPortalAnonymousAuditLimit"
#define DP_DIR_AUDIT_BATCH_MAX   "DocPortalAuditBatchMax"
#define DP_DIR_AUDIT_BATCH_WAIT  "DocPortalAuditBatchWaitMs"
#define DP_DIR_READ_PIPELINES    "DocPortalReadPipelines"
/* accounts and mail */
#define DP_DIR_PUBLIC_URL       "DocPortalPublicURL"
#define DP_DIR_SMTP_URL         "DocPortalSMTPURL"
#define DP_DIR_SMTP_USER_FILE   "DocPortalSMTPUserFile"
#define DP_DIR_SMTP_PASS_FILE   "DocPortalSMTPPasswordFile"
#define DP_DIR_MAIL_FROM        "DocPortalMailFrom"
#define DP_DIR_MAIL_DIR         "DocPortalMailDir"
#define DP_DIR_MAIL_INTERVAL    "DocPortalMailInterval"
#define DP_DIR_MAIL_RETRY       "DocPortalMailRetry"
#define DP_DIR_REQUIRE_VERIFIED "DocPortalRequireVerifiedEmail"
#define DP_DIR_REGISTER_LIMIT   "DocPortalRegisterLimit"
#define DP_DIR_RESET_LIMIT      "DocPortalPasswordResetLimit"
#define DP_DIR_GOOGLE_DOMAIN    "DocPortalGoogleDomain"
/* scheduling */
#define DP_DIR_MIN_NOTICE    "DocPortalMinNotice"
#define DP_DIR_MAX_PENDING   "DocPortalMaxPendingPerClient"
#define DP_DIR_HORIZON_DAYS  "DocPortalBookingHorizonDays"
#define DP_DIR_REMINDER_LEAD "DocPortalReminderLead"

#define DP_DEFAULT_TOKEN_HOURS 24
#define DP_DEFAULT_MAX_BODY    (1024 * 1024)
#define DP_DEFAULT_JITSI_BASE  "https://meet.jit.si"
#define DP_DEFAULT_GOOGLE_API  "https://www.googleapis.com"
#define DP_DEFAULT_STRIPE_API  "https://api.stripe.com"
#define DP_DEFAULT_STRIPE_JS   "https://js.stripe.com/v3/"
#define DP_DEFAULT_GOOGLE_GSI  "https://accounts.google.com/gsi/client"
#define DP_DEFAULT_CURRENCY    "usd"
#define DP_DEFAULT_HSTS        "max-age=31536000"
#define DP_STRIPE_VERSION      "2024-06-20" /* the API version the module was written for */
/* sessions and lockout: failures, window and lock seconds; the idle timeout's floor */
#define DP_DEFAULT_LOCKOUT                                                                         \
    {                                                                                              \
        5, 900, 900                                                                                \
    }
#define DP_DEFAULT_LOCKOUT_IP                                                                      \
    {                                                                                              \
        50, 900, 900                                                                               \
    }
#define DP_IDLE_TIMEOUT_MIN 60

/* DocPortalLockout, DocPortalLockoutIP: `failures` failed sign-ins within window_s seconds
 * lock the account (or address) for lock_s seconds. */
typedef struct dp_lockout_rule {
    int failures; /* -1: unset */
    int window_s;
    int lock_s;
} dp_lockout_rule;
#define DP_DEFAULT_SEAL_EVERY     5           /* seconds between two runs of the audit sealer */
#define DP_DEFAULT_SWEEP_EVERY    300         /* seconds between two searches of the whole window */
#define DP_DEFAULT_ANON_AUDIT     20          /* anonymous refusals audited per address a minute */
#define DP_DEFAULT_AUDIT_BATCH    64          /* read events written by one INSERT and COMMIT */
#define DP_DEFAULT_AUDIT_WAIT_MS  3000        /* a read waits this long for its event's batch */
#define DP_DEFAULT_READ_PIPELINES 2           /* shared read round trips in flight per child */
#define DP_DEFAULT_MAIL_EVERY     5           /* seconds between two delivery passes */
#define DP_DEFAULT_MAIL_TRIES     10          /* attempts before a mail is given up */
#define DP_DEFAULT_MAIL_MAX_AGE   (2 * 86400) /* seconds after which a mail is given up */
#define DP_DEFAULT_REGISTER_LIMIT 10          /* accounts created per client address per hour */
#define DP_DEFAULT_RESET_LIMIT    10          /* reset requests per client address per hour */
#define DP_DEFAULT_MAX_PENDING    3           /* a client's pending appointments at once */
#define DP_DEFAULT_HORIZON_DAYS   180         /* how far ahead a client may book */
#define DP_DEFAULT_REMINDER_LEAD  24          /* hours before a session its reminder goes */

typedef struct dp_config {
    const unsigned char *jwt_secret; /* raw bytes, as given or read from the file */
    apr_size_t jwt_secret_len;
    const char *jwt_secret_origin; /* "DocPortalJWTSecretFile /path" for messages */
    int token_hours;               /* -1: unset */
    int bcrypt_cost;               /* -1: unset */
    const char *cors_origin;       /* NULL: no CORS headers at all */
    int max_body;                  /* bytes; -1: unset */
    int require_tls;               /* -1: unset */
    const char *jitsi_base;        /* video rooms without Google, no trailing slash */
    dp_google_cfg google;          /* key_file_json NULL: Google Meet is off */
    dp_keyring *message_keys;      /* AES-256-GCM keys for PHI at rest, one current */
    dp_google_id_cfg google_id;    /* client_id NULL: Google sign-in is off */
    const char *google_gsi_url;    /* where the portal loads Google Identity Services from */
    const char *currency;          /* ISO 4217, lower case */
    dp_stripe_cfg stripe;          /* secret_key NULL: payments are off */
    const char *stripe_publishable;
    const char *stripe_webhook_secret;
    const char *stripe_js_url; /* where the portal loads Stripe.js from, kept as given */
    const char *dummy_hash;    /* bcrypt hash at this cost, for unknown-email logins */
    /* transport */
    int trust_forwarded_proto; /* -1: unset; On: X-Forwarded-Proto https counts as TLS */
    const char *hsts;          /* Strict-Transport-Security value; "" (Off): not sent */
    /* sessions and lockout */
    int cookie_sessions;        /* -1: unset */
    int idle_timeout;           /* seconds, 0: off; -1: unset */
    dp_lockout_rule lockout;    /* per account (email) */
    dp_lockout_rule lockout_ip; /* per client address */
    /* audit chain: the HMAC key of the audit chain, and the sealer's period */
    const unsigned char *audit_key; /* raw bytes of DocPortalAuditKeyFile */
    apr_size_t audit_key_len;
    const char *audit_key_origin; /* "DocPortalAuditKeyFile /path" for messages */
    int audit_seal_interval;      /* seconds; -1: unset */
    int audit_sweep_interval;     /* seconds; -1: unset */
    int anon_audit_limit;         /* per client address a minute, 0: no limit; -1: unset */
    int audit_batch_max;          /* read events per batch; -1: unset */
    int audit_batch_wait_ms;      /* a read's longest wait for its batch; -1: unset */
    int read_pipelines;           /* shared read round trips in flight per child; -1: unset */
    /* accounts and mail; the mail transport is the main server's (one delivery thread) */
    const char *public_url; /* the portal's base URL for links; NULL: this server */
    const char *smtp_url;   /* NULL: mail is written to mail_dir */
    const char *smtp_user;
    const char *smtp_password;
    const char *mail_from;     /* From header; NULL: no-reply@ServerName */
    const char *mail_dir;      /* files instead of SMTP (development) */
    int mail_interval;         /* seconds; -1: unset */
    int mail_tries;            /* -1: unset */
    int mail_max_age;          /* seconds */
    int require_verified;      /* -1: unset */
    int register_limit;        /* per client address per hour; -1: unset */
    int reset_limit;           /* per client address per hour; -1: unset */
    const char *google_domain; /* Google Calendar only for this Workspace domain */
    /* scheduling */
    int min_notice;    /* minutes between now and the earliest bookable start */
    int max_pending;   /* a client's pending appointments at once */
    int horizon_days;  /* how far ahead a client may book */
    int reminder_lead; /* hours before a confirmed session its reminder goes */
} dp_config;

extern module AP_MODULE_DECLARE_DATA docportal_module;
extern const command_rec dp_config_cmds[];

void *dp_config_create(apr_pool_t *p, server_rec *s);
void *dp_config_merge(apr_pool_t *p, void *base, void *add);

/* Fill unset values with their defaults and check what must hold (secret present and long
 * enough). Returns NULL, or a message saying what is wrong and how to fix it. */
const char *dp_config_finish(apr_pool_t *p, server_rec *s, dp_config *cfg);

static inline dp_config *dp_config_get(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &docportal_module);
}

#endif
