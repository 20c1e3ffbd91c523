#include "dp_jwt.h"
#include "dp_uuid.h"

#include <apr_strings.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

unsigned char *dp_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen, apr_size_t *outlen)
{
    unsigned char *out;
    apr_size_t o = 0;
    unsigned int acc = 0;
    int bits = 0;

    if (inlen % 4 == 1) {
        return NULL;
    }
    out = apr_palloc(p, inlen * 3 / 4 + 1);
    for (apr_size_t i = 0; i < inlen; i++) {
        int v = b64url_value(in[i]);
        if (v < 0) {
            return NULL;
        }
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* leftover bits must be zero padding, else the encoding is not canonical */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return NULL;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

const char *dp_jwt_status_name(dp_jwt_status s)
{
    switch (s) {
    case DP_JWT_OK: return "ok";
    case DP_JWT_MALFORMED: return "malformed";
    case DP_JWT_BAD_ALG: return "bad_alg";
    case DP_JWT_BAD_SIGNATURE: return "bad_signature";
    case DP_JWT_EXPIRED: return "expired";
    case DP_JWT_BAD_CLAIMS: return "bad_claims";
    case DP_JWT_INTERNAL: return "internal";
    }
    return "unknown";
}

dp_jwt_status dp_jwt_issue(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                           const char *sub, const char *role, long long now, long long ttl,
                           const char **token, dp_claims *claims)
{
    return dp_jwt_issue_sv(p, key, keylen, sub, role, 0, now, ttl, token, claims);
}

dp_jwt_status dp_jwt_issue_sv(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                              const char *sub, const char *role, long long sv, long long now,
                              long long ttl, const char **token, dp_claims *claims)
{
    jwt_t *j = NULL;
    char *enc = NULL;
    const char *jti = dp_uuid_new(p);
    dp_jwt_status rv = DP_JWT_INTERNAL;

    *token = NULL;
    if (jti == NULL || keylen < DP_JWT_MIN_KEY || sv < 0 || sv > INT_MAX || jwt_new(&j) != 0) {
        return DP_JWT_INTERNAL;
    }
    if (jwt_add_grant(j, "sub", sub) == 0 && jwt_add_grant(j, "role", role) == 0
        && jwt_add_grant(j, "jti", jti) == 0 && jwt_add_grant_int(j, "iat", (long)now) == 0
        && jwt_add_grant_int(j, "exp", (long)(now + ttl)) == 0
        && (sv == 0 || jwt_add_grant_int(j, "sv", (long)sv) == 0)
        && jwt_set_alg(j, JWT_ALG_HS256, key, (int)keylen) == 0
        && (enc = jwt_encode_str(j)) != NULL) {
        *token = apr_pstrdup(p, enc);
        free(enc); /* libjwt allocates with malloc; the pool keeps the copy */
        claims->sub = apr_pstrdup(p, sub);
        claims->role = apr_pstrdup(p, role);
        claims->jti = jti;
        claims->iat = now;
        claims->exp = now + ttl;
        claims->sv = sv;
        rv = DP_JWT_OK;
    }
    jwt_free(j);
    return rv;
}

/* Read the header without trusting libjwt: the algorithm must be exactly HS256, so that
 * "none" and the HS/RS confusion never reach signature checking. */
static dp_jwt_status check_header(apr_pool_t *p, const char *token, apr_size_t len)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2, *alg;
    unsigned char *hdr;
    apr_size_t hlen;
    json_t *h;
    dp_jwt_status rv;

    if (dot1 == NULL) {
        return DP_JWT_MALFORMED;
    }
    dot2 = memchr(dot1 + 1, '.', len - (apr_size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (apr_size_t)(dot2 + 1 - token)) != NULL
        || dot2 + 1 == token + len) {
        return DP_JWT_MALFORMED; /* exactly three parts, signature not empty */
    }
    /* Payload and signature must be non-empty base64url before libjwt sees them: libjwt
     * 1.10 writes past a zero-length buffer on an empty payload. */
    {
        apr_size_t plen = (apr_size_t)(dot2 - dot1 - 1),
                   slen = len - (apr_size_t)(dot2 + 1 - token);
        apr_size_t n;
        if (plen == 0 || dp_b64url_decode(p, dot1 + 1, plen, &n) == NULL || n == 0
            || dp_b64url_decode(p, dot2 + 1, slen, &n) == NULL || n == 0) {
            return DP_JWT_MALFORMED;
        }
    }
    hdr = dp_b64url_decode(p, token, (apr_size_t)(dot1 - token), &hlen);
    if (hdr == NULL) {
        return DP_JWT_MALFORMED;
    }
    h = json_loadb((const char *)hdr, hlen, 0, NULL);
    if (h == NULL || !json_is_object(h)) {
        json_decref(h);
        return DP_JWT_MALFORMED;
    }
    alg = json_string_value(json_object_get(h, "alg"));
    rv = (alg != NULL && strcmp(alg, "HS256") == 0) ? DP_JWT_OK : DP_JWT_BAD_ALG;
    json_decref(h);
    return rv;
}

/* Read the claims from the verified token's JSON ourselves: libjwt's integer getter answers
 * 0 for a string or a real, which would let "iat": "x" through. */
static dp_jwt_status read_claims(apr_pool_t *p, jwt_t *j, dp_claims *claims)
{
    char *text = jwt_get_grants_json(j, NULL);
    json_t *g, *sub, *role, *jti, *iat, *exp, *sv;
    dp_jwt_status rv = DP_JWT_BAD_CLAIMS;

    if (text == NULL) {
        return DP_JWT_BAD_CLAIMS;
    }
    g = json_loads(text, 0, NULL);
    free(text); /* malloc'd by libjwt */
    if (g == NULL
        || json_unpack(g, "{s:o, s:o, s:o, s:o, s:o}", "sub", &sub, "role", &role, "jti", &jti,
                       "iat", &iat, "exp", &exp)
            != 0) {
        json_decref(g);
        return DP_JWT_BAD_CLAIMS;
    }
    sv = json_object_get(g, "sv"); /* optional: absent is version 0 */
    if (json_is_string(sub) && json_is_string(role) && json_is_string(jti) && json_is_integer(iat)
        && json_is_integer(exp)
        && (sv == NULL
            || (json_is_integer(sv) && json_integer_value(sv) >= 0
                && json_integer_value(sv) <= INT_MAX))) {
        claims->sub = apr_pstrdup(p, json_string_value(sub));
        claims->role = apr_pstrdup(p, json_string_value(role));
        claims->jti = apr_pstrdup(p, json_string_value(jti));
        claims->iat = (long long)json_integer_value(iat);
        claims->exp = (long long)json_integer_value(exp);
        claims->sv = sv ? (long long)json_integer_value(sv) : 0;
        rv = DP_JWT_OK;
    }
    json_decref(g);
    return rv;
}

dp_jwt_status dp_jwt_verify(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                            const char *token, long long now, dp_claims *claims)
{
    apr_size_t len;
    jwt_t *j = NULL;
    dp_jwt_status rv;

    memset(claims, 0, sizeof(*claims));
    if (token == NULL || keylen < DP_JWT_MIN_KEY) {
        return DP_JWT_MALFORMED;
    }
    len = strlen(token);
    if (len == 0 || len > DP_JWT_MAX_LEN) {
        return DP_JWT_MALFORMED;
    }
    rv = check_header(p, token, len);
    if (rv != DP_JWT_OK) {
        return rv;
    }
    if (jwt_decode(&j, token, key, (int)keylen) != 0 || j == NULL) {
        return DP_JWT_BAD_SIGNATURE;
    }
    if (jwt_get_alg(j) != JWT_ALG_HS256) { /* belt and braces after check_header */
        jwt_free(j);
        return DP_JWT_BAD_ALG;
    }
    rv = read_claims(p, j, claims);
    jwt_free(j);
    if (rv != DP_JWT_OK) {
        return rv;
    }
    if (!dp_uuid_valid(claims->sub) || !dp_uuid_valid(claims->jti) || claims->role == NULL
        || (strcmp(claims->role, "provider") != 0 && strcmp(claims->role, "client") != 0)
        || claims->iat < 0 || claims->exp <= 0) {
        return DP_JWT_BAD_CLAIMS;
    }
    if (claims->exp <= now) {
        return DP_JWT_EXPIRED;
    }
    if (claims->iat > now + 300) { /* issued in the future beyond clock skew */
        return DP_JWT_BAD_CLAIMS;
    }
    return DP_JWT_OK;
}
