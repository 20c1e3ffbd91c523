#include "dp_password.h"
#include "dp_crypto.h"

#include <apr_md5.h>
#include <apr_strings.h>
#include <string.h>

const char *dp_password_hash(apr_pool_t *p, const char *password, int cost)
{
    unsigned char salt[16];
    char out[64];

    if (dp_random_bytes(salt, sizeof(salt)) != 0) {
        return NULL;
    }
    if (apr_bcrypt_encode(password, (unsigned int)cost, salt, sizeof(salt), out, sizeof(out))
        != APR_SUCCESS) {
        return NULL;
    }
    return apr_pstrdup(p, out);
}

int dp_password_verify(const char *password, const char *hash, const char *dummy)
{
    /* Only bcrypt is ever stored; anything else would reach crypt() in APR. */
    if (hash == NULL || strncmp(hash, "$2y$", 4) != 0) {
        if (dummy != NULL) {
            (void)apr_password_validate(password, dummy);
        }
        return 0;
    }
    return apr_password_validate(password, hash) == APR_SUCCESS;
}
