/* dp_jwt: the module's own session tokens, HS256 only (libjwt v1 API).
 * libjwt checks neither exp nor the algorithm a caller expects: both are checked here.
 * Pure C, no httpd headers. */
#ifndef DP_JWT_H
#define DP_JWT_H

#include <apr_pools.h>

typedef struct dp_claims {
    const char *sub;  /* user id (UUID) */
    const char *role; /* "provider" | "client" */
    const char *jti;  /* token id (UUID), the handle for revocation */
    long long iat;
    long long exp;
    long long sv; /* session version: the user's sessions issued under it (absent: 0) */
} dp_claims;

typedef enum dp_jwt_status {
    DP_JWT_OK = 0,
    DP_JWT_MALFORMED,     /* not three base64url parts, bad JSON, too long */
    DP_JWT_BAD_ALG,       /* header names anything but HS256 (none, RS256, HS384, ...) */
    DP_JWT_BAD_SIGNATURE, /* the HMAC does not verify under our key */
    DP_JWT_EXPIRED,       /* exp <= now */
    DP_JWT_BAD_CLAIMS,    /* a required claim is missing or of the wrong form */
    DP_JWT_INTERNAL       /* allocation or RNG failure */
} dp_jwt_status;

#define DP_JWT_MAX_LEN 4096
#define DP_JWT_MIN_KEY 32

/* Issue a token for sub/role valid from now for ttl seconds. *claims receives what was
 * signed (jti included). Returns DP_JWT_OK or DP_JWT_INTERNAL. */
dp_jwt_status dp_jwt_issue(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                           const char *sub, const char *role, long long now, long long ttl,
                           const char **token, dp_claims *claims);

/* The same, under the user's session version sv (a token carries it as "sv" when it is not
 * 0; bumping the user's version revokes every token issued under an older one). */
dp_jwt_status dp_jwt_issue_sv(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                              const char *sub, const char *role, long long sv, long long now,
                              long long ttl, const char **token, dp_claims *claims);

/* Verify signature, algorithm, expiry and claim shapes. On DP_JWT_OK *claims is filled. */
dp_jwt_status dp_jwt_verify(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                            const char *token, long long now, dp_claims *claims);

/* Decode base64url (no padding) into pool memory; NULL on bad input. Exposed for tests. */
unsigned char *dp_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                                apr_size_t *outlen);

/* "ok", "malformed", "bad_alg", ... as the constants read (for logs); "unknown" for no
 * status. */
const char *dp_jwt_status_name(dp_jwt_status s);

#endif
