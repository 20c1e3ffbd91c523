/* dp_jwt_verify, the session token of every request (cookie or Authorization header).
 * First byte even: the rest is a token, verified as it is (the seeds are tokens signed with
 * KEY). Odd: the rest is "header JSON" NUL "claims JSON", made into a token signed with KEY
 * here, so the claim checks behind the signature get fuzzed too. */
#include "fuzz.h"

#include "dp_jwt.h"
#include "dp_uuid.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NOW 1700000000LL

static const unsigned char KEY[] = "fuzz-jwt-secret-0123456789abcdef-XYZ!";
#define KEYLEN (sizeof(KEY) - 1)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

static const char *signed_token(apr_pool_t *p, const char *hdr, const char *claims)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    const char *input = apr_pstrcat(p, fz_b64url(p, hdr, strlen(hdr)), ".",
                                    fz_b64url(p, claims, strlen(claims)), NULL);

    if (HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const unsigned char *)input, strlen(input), mac,
             &maclen)
        == NULL) {
        abort();
    }
    return apr_pstrcat(p, input, ".", fz_b64url(p, mac, maclen), NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *parts[2], *token;
    dp_claims c;
    dp_jwt_status st;
    apr_size_t n;

    if (size < 1) {
        return 0;
    }
    p = fz_begin();
    if (data[0] & 1) {
        fz_split(p, data + 1, size - 1, 2, parts, NULL);
        token = signed_token(p, parts[0], parts[1]);
    }
    else {
        fz_split(p, data + 1, size - 1, 1, parts, NULL);
        token = parts[0];
        /* the base64url decoder the token checks rely on, on the raw text */
        dp_b64url_decode(p, token, strlen(token), &n);
    }
    st = dp_jwt_verify(p, KEY, KEYLEN, token, NOW, &c);
    FZ_ASSERT(strcmp(dp_jwt_status_name(st), "unknown") != 0);
    if (st == DP_JWT_OK) {
        FZ_ASSERT(dp_uuid_valid(c.sub) && dp_uuid_valid(c.jti));
        FZ_ASSERT(strcmp(c.role, "provider") == 0 || strcmp(c.role, "client") == 0);
        FZ_ASSERT(c.exp > NOW && c.iat <= NOW + 300 && c.sv >= 0);
    }
    fz_end(p);
    return 0;
}
