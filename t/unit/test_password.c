/* dp_password: bcrypt hashing and verification (cost 4 keeps the suite fast). */
#include "dp_test.h"

#include "dp_password.h"
#include "dp_validate.h"

#include <apr_md5.h>
#include <apr_sha1.h>
#include <apr_strings.h>

#define PW "correct horse battery staple"

static void test_hash_verify(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *h = dp_password_hash(p, PW, 4);

    if (!CHECK_NOT_NULL(h)) {
        return;
    }
    CHECK(strncmp(h, "$2y$04$", 7) == 0);
    CHECK_EQ(strlen(h), 60); /* $2y$04$ + 22 salt + 31 hash characters */
    CHECK_EQ(dp_password_verify(PW, h, NULL), 1);
    CHECK_EQ(dp_password_verify(PW, h, h), 1);
    CHECK_EQ(dp_password_verify("correct horse battery stapl", h, NULL), 0);
    CHECK_EQ(dp_password_verify("Correct horse battery staple", h, NULL), 0);
    CHECK_EQ(dp_password_verify(PW " ", h, NULL), 0);
    CHECK_EQ(dp_password_verify("", h, NULL), 0);

    /* Another cost is written into the hash. */
    h = dp_password_hash(p, PW, 5);
    CHECK(h != NULL && strncmp(h, "$2y$05$", 7) == 0);
    CHECK_EQ(dp_password_verify(PW, h, NULL), 1);

    /* Multibyte passwords are bytes to bcrypt. */
    h = dp_password_hash(p, "pässwörd-ünicode", 4);
    CHECK_EQ(dp_password_verify("pässwörd-ünicode", h, NULL), 1);
    CHECK_EQ(dp_password_verify("passwort-unicode", h, NULL), 0);
}

static void test_salt(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *a = dp_password_hash(p, PW, 4);
    const char *b = dp_password_hash(p, PW, 4);

    CHECK(a != NULL && b != NULL && strcmp(a, b) != 0);
    CHECK(a != NULL && b != NULL && strncmp(a, b, 29) != 0); /* the salt part differs */
    CHECK_EQ(dp_password_verify(PW, a, NULL), 1);
    CHECK_EQ(dp_password_verify(PW, b, NULL), 1);
}

static void test_missing_or_foreign_hash(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    const char *dummy = dp_password_hash(p, "dummy-password-nobody-has", 4);
    const char *good = dp_password_hash(p, PW, 4);
    char md5[120], sha1[120];
    char *h2a;

    CHECK_NOT_NULL(dummy);
    /* No account: the dummy is spent, the answer is no. */
    CHECK_EQ(dp_password_verify(PW, NULL, dummy), 0);
    CHECK_EQ(dp_password_verify(PW, NULL, NULL), 0);
    /* Even when the password happens to be the dummy's. */
    CHECK_EQ(dp_password_verify("dummy-password-nobody-has", NULL, dummy), 0);

    /* Plain text stored as "hash" is never compared. */
    CHECK_EQ(dp_password_verify("plain", "plain", dummy), 0);
    CHECK_EQ(dp_password_verify(PW, PW, dummy), 0);
    CHECK_EQ(dp_password_verify("", "", dummy), 0);

    /* Other APR formats of the right password are refused (only bcrypt is stored). */
    CHECK_EQ(apr_md5_encode(PW, "saltsalt", md5, sizeof(md5)), APR_SUCCESS);
    CHECK(strncmp(md5, "$apr1$", 6) == 0);
    CHECK_EQ(apr_password_validate(PW, md5), APR_SUCCESS); /* APR itself would accept it */
    CHECK_EQ(dp_password_verify(PW, md5, dummy), 0);
    apr_sha1_base64(PW, (int)strlen(PW), sha1);
    CHECK(strncmp(sha1, "{SHA}", 5) == 0);
    CHECK_EQ(apr_password_validate(PW, sha1), APR_SUCCESS);
    CHECK_EQ(dp_password_verify(PW, sha1, dummy), 0);

    /* Same bcrypt hash under the $2a$ / $2b$ prefixes: not what we store. */
    if (CHECK_NOT_NULL(good)) {
        h2a = apr_pstrdup(p, good);
        h2a[2] = 'a';
        CHECK_EQ(dp_password_verify(PW, h2a, dummy), 0);
        h2a[2] = 'b';
        CHECK_EQ(dp_password_verify(PW, h2a, dummy), 0);
        /* Truncated or damaged bcrypt strings. */
        CHECK_EQ(dp_password_verify(PW, apr_pstrmemdup(p, good, 29), dummy), 0);
        CHECK_EQ(dp_password_verify(PW, "$2y$", dummy), 0);
        CHECK_EQ(dp_password_verify(PW, "$2y$04$", dummy), 0);
        h2a = apr_pstrdup(p, good);
        h2a[40] = h2a[40] == 'e' ? 'O' : 'e';
        CHECK_EQ(dp_password_verify(PW, h2a, dummy), 0);
    }
}

/* bcrypt reads 72 bytes: a 73rd byte would be silently ignored, which is why
 * dp_valid_password stops at DP_PASSWORD_MAX. */
static void test_72_bytes(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    char b72[73], b73[74];
    const char *h;

    memset(b72, 'a', 72);
    b72[72] = '\0';
    memcpy(b73, b72, 72);
    b73[72] = 'b';
    b73[73] = '\0';

    CHECK_EQ(DP_PASSWORD_MAX, 72);
    CHECK_EQ(dp_valid_password(b72), 1);
    CHECK_EQ(dp_valid_password(b73), 0);

    /* The reason: a hash of the 73-byte string verifies its 72-byte prefix. */
    h = dp_password_hash(p, b73, 4);
    CHECK_EQ(dp_password_verify(b73, h, NULL), 1);
    CHECK_EQ(dp_password_verify(b72, h, NULL), 1);
    /* Within 72 bytes every byte counts. */
    h = dp_password_hash(p, b72, 4);
    b72[71] = 'b';
    CHECK_EQ(dp_password_verify(b72, h, NULL), 0);
}

const dp_test_case dp_suite_password[] = {
    {"hash_verify",             test_hash_verify            },
    {"salt",                    test_salt                   },
    {"missing_or_foreign_hash", test_missing_or_foreign_hash},
    {"72_bytes",                test_72_bytes               },
    {NULL,                      NULL                        },
};
