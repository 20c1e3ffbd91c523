/* dp-test-seal-v1: seals stdin in row format version 1 (dp_aead_message_aad(row id, owner id)),
 * as rows were written before format version 2, so that the API suite can put such rows in
 * its database and check that they still open and that dp-rekey moves them on. Test use only:
 * nothing in the module or its tools writes version 1.
 *
 *   dp-test-seal-v1 KEYSPEC ROW_ID OWNER_ID < plaintext   ->   "NONCE_B64 CIPHERTEXT_B64\n"
 *
 * KEYSPEC as DocPortalMessageKey takes it (64 hex digits, base64, file:PATH). Exit 0, or 2. */
#include "dp_aead.h"
#include "dp_keyring.h"

#include <apr_general.h>
#include <stdio.h>

int main(int argc, const char *const *argv)
{
    static char plain[1 << 20];
    unsigned char aad[DP_AEAD_MESSAGE_AAD_LEN];
    apr_pool_t *p;
    dp_keyring *kr;
    dp_sealed s;
    const char *err;
    size_t len;
    int rc = 2;

    if (argc != 4) {
        fputs("usage: dp-test-seal-v1 KEYSPEC ROW_ID OWNER_ID < plaintext\n", stderr);
        return 2;
    }
    apr_app_initialize(NULL, NULL, NULL);
    apr_pool_create(&p, NULL);
    kr = dp_keyring_make(p);
    len = fread(plain, 1, sizeof(plain), stdin);
    if ((err = dp_keyring_add(kr, p, "v1", argv[1], 1)) != NULL) {
        fprintf(stderr, "dp-test-seal-v1: %s\n", err);
    }
    else if (dp_aead_message_aad(argv[2], argv[3], aad) != sizeof(aad)) {
        fputs("dp-test-seal-v1: the ids must be UUIDs\n", stderr);
    }
    else if (len == sizeof(plain) || dp_aead_seal(p, kr, aad, sizeof(aad), plain, len, &s)) {
        fputs("dp-test-seal-v1: cannot seal that\n", stderr);
    }
    else {
        printf("%s %s\n", s.nonce_b64, s.ct_b64);
        rc = 0;
    }
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
