/* dp_google_id: verify a Google ID token ("Sign in with Google").
 *
 * The token must be an RS256 JWT signed by one of Google's published keys. The header is read
 * here before any signature work: anything but exactly "alg":"RS256" with a "kid" is refused,
 * so "none", HS256 (with the PEM text of Google's key as the HMAC secret: the algorithm
 * confusion) and every other algorithm never reach libjwt. After libjwt verified the
 * signature, the algorithm is checked again, then the claims: iss, aud, exp, iat (nbf when
 * present), sub, email, email_verified.
 *
 * Keys come from cfg->certs_url with dp_http_do. Both of Google's formats are understood:
 * the v1 map {"kid": "-----BEGIN CERTIFICATE-----..."} and a JWKS {"keys":[{kid, kty "RSA",
 * n, e, alg, use}]}. Only RSA keys of 2048 to 8192 bits are kept. The set is cached per
 * process for the response's Cache-Control max-age (clamped to 1 s .. 24 h; without one,
 * DP_GOOGLE_ID_DEFAULT_TTL). One fetch at a time per process (single flight): a thread that
 * needs the keys while another fetches them waits for that fetch and uses its result (a
 * thread holding a stale key for its kid goes on with it instead). An unknown kid refetches
 * the set at most once per DP_GOOGLE_ID_REFETCH_MIN seconds per process, so random kids
 * cannot turn sign-in attempts into traffic to Google. When the endpoint fails, nobody fetches
 * again for DP_GOOGLE_ID_BACKOFF_MIN seconds, doubling with each failure in a row up to
 * DP_GOOGLE_ID_REFETCH_MIN, whether or not a set is cached: a failing endpoint sees one
 * request per back-off from each process, not one per sign-in. An expired set keeps being
 * used meanwhile. All cache timing uses the caller's `now`; a wait for another thread's fetch
 * lasts at most the fetch's timeout and a second.
 *
 * Errors: Google unreachable (or answering no usable key set) with nothing cached is a 502
 * upstream_error; every other failure is a 401 unauthorized whose detail is always the same
 * generic sentence. The specific reason goes to *reason, for the log only: it never holds the
 * token, a claim value or a key.
 *
 * Needs curl_global_init (see dp_http.h). Pure C, no httpd headers. */
#ifndef DP_GOOGLE_ID_H
#define DP_GOOGLE_ID_H

#include <apr_errno.h>
#include <apr_pools.h>

#include "dp_error.h"

#define DP_GOOGLE_ID_CERTS_URL    "https://www.googleapis.com/oauth2/v1/certs"
#define DP_GOOGLE_ID_MAX_TOKEN    8192  /* longer tokens are refused unread */
#define DP_GOOGLE_ID_LEEWAY       60    /* default clock skew, seconds */
#define DP_GOOGLE_ID_MAX_LEEWAY   600   /* a larger leeway_s is cut to this */
#define DP_GOOGLE_ID_DEFAULT_TTL  3600  /* key set lifetime without a max-age */
#define DP_GOOGLE_ID_MAX_TTL      86400 /* a larger max-age is cut to this */
#define DP_GOOGLE_ID_REFETCH_MIN  60    /* at most one fetch a minute for unknown kids */
#define DP_GOOGLE_ID_BACKOFF_MIN  5     /* after a failed fetch, doubling up to REFETCH_MIN */
#define DP_GOOGLE_ID_MAX_KEYS     32    /* keys kept from one answer */
#define DP_GOOGLE_ID_MAX_RESPONSE (256 * 1024)
#define DP_GOOGLE_ID_DETAIL       "The Google sign-in could not be verified."

typedef struct dp_google_id_cfg {
    const char *certs_url; /* NULL: DP_GOOGLE_ID_CERTS_URL (v1 PEM map; a JWKS URL works too) */
    const char *client_id; /* the OAuth client id the token's aud must name; required */
    long timeout_ms;       /* one fetch of the keys; <= 0: dp_http's default */
    long long leeway_s;    /* clock skew for exp, iat, nbf; <= 0: DP_GOOGLE_ID_LEEWAY */
} dp_google_id_cfg;

typedef struct dp_google_identity {
    const char *sub;     /* Google's stable account id; always set on success */
    const char *email;   /* always set on success, and verified by Google */
    const char *name;    /* NULL when the token has none */
    const char *picture; /* NULL when the token has none */
    int email_verified;  /* 1 on success */
} dp_google_identity;

/* Create the key cache and its mutex in a subpool of pconf. Call once per process before any
 * thread verifies (post_config with pconf, or child_init with pchild); calling it again after
 * pconf was cleared (a restart) starts a new cache. Without it every verification fetches the
 * keys (no cache, no rate limit). */
apr_status_t dp_google_id_init(apr_pool_t *pconf);

/* Forget the cached key set and the rate limit (tests, an operator's key revocation). */
void dp_google_id_cache_clear(void);

/* Verify id_token at Unix time now. On success returns NULL and fills *out (strings in p).
 * On failure returns a 401 unauthorized (detail DP_GOOGLE_ID_DETAIL) or a 502 upstream_error
 * (no keys could be had), or a 500 internal_error (no client_id configured, allocation);
 * *out is zeroed. reason may be NULL; otherwise it receives a short sentence for the log in
 * every case (static or in p). */
dp_error *dp_google_id_verify(apr_pool_t *p, const dp_google_id_cfg *cfg, const char *id_token,
                              long long now, dp_google_identity *out, const char **reason);

/* The max-age of a Cache-Control value in seconds, or -1 when it has none (or a bad one).
 * "no-store" or "no-cache" count as 0. Exposed for tests. */
long long dp_google_id_max_age(const char *cache_control);

#endif
